// jitgate as an OAuth resource server with JWT access tokens (RFC 9068) from a real
// authorization server (oidc-provider, as.mjs): bearer checks on raw HTTP, challenges,
// Protected Resource Metadata (RFC 9728), and key rotation without a restart.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  decodeJwt, initSession, mintToken, parseChallenge, rpc, sleep, startAS, startJitgate,
} from './lib.mjs';

let as;
let jg;

before(async () => {
  as = await startAS();
  // clock_skew 0 so that an expired token is refused within seconds, not a minute.
  jg = await startJitgate({ issuer: as.issuer, extra: { clock_skew: 0 } });
});

after(async () => {
  await jg?.stop();
  await as?.stop();
});

function assertInvalidToken(r, descriptionRe) {
  assert.equal(r.status, 401, JSON.stringify(r.body));
  const c = parseChallenge(r.wwwAuthenticate);
  assert.equal(c?.scheme, 'Bearer', r.wwwAuthenticate);
  assert.equal(c.params.error, 'invalid_token', r.wwwAuthenticate);
  assert.equal(c.params.resource_metadata, jg.prmUrl, r.wwwAuthenticate);
  assert.ok(c.params.error_description, `no error_description in ${r.wwwAuthenticate}`);
  if (descriptionRe) assert.match(c.params.error_description, descriptionRe);
  assert.equal(r.body?.error, 'invalid_token');
  return c;
}

test('client_credentials JWT for jitgate: tools/list and tools/call succeed', async () => {
  const token = await mintToken(as.issuer, { resource: jg.resource, scope: 'notes:read' });
  const { header, payload } = decodeJwt(token);
  assert.equal(header.typ, 'at+jwt');
  assert.equal(payload.aud, jg.resource);
  assert.equal(payload.scope, 'notes:read');

  const session = await initSession(jg.url, token);
  const list = await rpc(jg.url, 'tools/list', {}, { token, session });
  assert.equal(list.status, 200, JSON.stringify(list.body));
  const names = list.body.result.tools.map((t) => t.name);
  assert.ok(names.includes('test_simple_text') && names.includes('test_error_handling'), names.join(','));

  const call = await rpc(jg.url, 'tools/call', { name: 'test_simple_text', arguments: {} }, { token, session });
  assert.equal(call.status, 200, JSON.stringify(call.body));
  assert.equal(call.body.result.content[0].text, 'This is a simple text response for testing.');

  // Public methods stay public with a valid token too.
  const ping = await rpc(jg.url, 'ping', {}, { token, session });
  assert.equal(ping.status, 200);
  assert.deepEqual(ping.body.result, {});
});

test('no token on a gated method: 401 with the exact discovery challenge; public methods need none', async () => {
  const session = await initSession(jg.url); // initialize is public
  const ping = await rpc(jg.url, 'ping', {}, { session });
  assert.equal(ping.status, 200);

  for (const [method, params] of [['tools/list', {}], ['tools/call', { name: 'test_simple_text', arguments: {} }]]) {
    const r = await rpc(jg.url, method, params, { session });
    assert.equal(r.status, 401, `${method}: ${JSON.stringify(r.body)}`);
    assert.equal(
      r.wwwAuthenticate,
      `Bearer resource_metadata="${jg.prmUrl}", scope="notes:read"`,
    );
  }
  // The per-tool requirement is the one named when there is no token at all.
  const r = await rpc(jg.url, 'tools/call', { name: 'test_error_handling', arguments: {} }, { session });
  assert.equal(r.status, 401);
  assert.equal(r.wwwAuthenticate, `Bearer resource_metadata="${jg.prmUrl}", scope="notes:read notes:write"`);
});

test('tokens for another resource, from another issuer, malformed or expired: 401 invalid_token', async () => {
  const session = await initSession(jg.url);
  // JWT whose audience is another resource server.
  const other = await mintToken(as.issuer, { resource: 'http://127.0.0.1:1/mcp', scope: 'notes:read' });
  assert.equal(decodeJwt(other).payload.aud, 'http://127.0.0.1:1/mcp');
  assertInvalidToken(await rpc(jg.url, 'tools/list', {}, { token: other, session }), /another resource/);

  // Opaque token for the introspection-only resource (jitgate has no introspection here).
  const opaque = await mintToken(as.issuer, { resource: 'http://opaque.test/mcp', scope: 'notes:read' });
  assertInvalidToken(await rpc(jg.url, 'tools/list', {}, { token: opaque, session }));

  // A token from another (real, running) authorization server, for jitgate's resource.
  const as2 = await startAS();
  try {
    const foreign = await mintToken(as2.issuer, { resource: jg.resource, scope: 'notes:read' });
    assertInvalidToken(await rpc(jg.url, 'tools/list', {}, { token: foreign, session }), /another issuer/);
  } finally {
    await as2.stop();
  }

  // Tampered signature.
  const good = await mintToken(as.issuer, { resource: jg.resource, scope: 'notes:read' });
  const [h, p, s] = good.split('.');
  const bad = `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
  assertInvalidToken(await rpc(jg.url, 'tools/list', {}, { token: bad, session }));
  // Not a Bearer header.
  assertInvalidToken(await rpc(jg.url, 'tools/list', {}, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}`, session }));

  // Expired (1 s lifetime, jitgate configured with clock_skew 0).
  await as.admin(`/admin/resource?resource=${encodeURIComponent(jg.resource)}&ttl=1`);
  let short;
  try {
    short = await mintToken(as.issuer, { resource: jg.resource, scope: 'notes:read' });
  } finally {
    await as.admin(`/admin/resource?resource=${encodeURIComponent(jg.resource)}&reset=1`);
  }
  const { exp, iat } = decodeJwt(short).payload;
  assert.ok(exp - iat <= 2, `the AS ignored ttl=1 (exp - iat = ${exp - iat})`);
  while (Date.now() / 1000 <= exp + 1) await sleep(200);
  assertInvalidToken(await rpc(jg.url, 'tools/list', {}, { token: short, session }), /expired/);
});

test('insufficient scope: 403 naming every scope the tool needs', async () => {
  const token = await mintToken(as.issuer, { resource: jg.resource, scope: 'notes:read' });
  const session = await initSession(jg.url, token);
  const r = await rpc(jg.url, 'tools/call', { name: 'test_error_handling', arguments: {} }, { token, session });
  assert.equal(r.status, 403, JSON.stringify(r.body));
  const c = parseChallenge(r.wwwAuthenticate);
  assert.equal(c.scheme, 'Bearer');
  assert.equal(c.params.error, 'insufficient_scope');
  assert.equal(c.params.scope, 'notes:read notes:write');
  assert.equal(c.params.resource_metadata, jg.prmUrl);
  assert.equal(r.body?.error, 'insufficient_scope');

  // A token with both scopes gets through (the tool itself answers with isError).
  const both = await mintToken(as.issuer, { resource: jg.resource, scope: 'notes:read notes:write' });
  const ok = await rpc(jg.url, 'tools/call', { name: 'test_error_handling', arguments: {} }, { token: both, session });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.result.isError, true);

  // notes:write alone is not enough for tools/list (needs notes:read).
  const writeOnly = await mintToken(as.issuer, { resource: jg.resource, scope: 'notes:write' });
  const wl = await rpc(jg.url, 'tools/list', {}, { token: writeOnly, session });
  assert.equal(wl.status, 403);
  assert.equal(parseChallenge(wl.wwwAuthenticate).params.scope, 'notes:read');
});

test('Protected Resource Metadata at both well-known URLs matches the config', async () => {
  const expected = {
    resource: jg.resource,
    authorization_servers: [as.issuer],
    scopes_supported: ['notes:read'],
    resource_name: 'Conformance',
  };
  const docs = [];
  for (const url of [jg.prmUrl, `${jg.base}/.well-known/oauth-protected-resource`]) {
    const r = await fetch(url, { headers: { origin: 'https://elsewhere.example' } });
    assert.equal(r.status, 200, url);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.equal(r.headers.get('access-control-allow-origin'), '*', url);
    const doc = await r.json();
    for (const [k, v] of Object.entries(expected)) assert.deepEqual(doc[k], v, `${url} ${k}`);
    if (doc.bearer_methods_supported) assert.deepEqual(doc.bearer_methods_supported, ['header']);
    docs.push(doc);
  }
  assert.deepEqual(docs[0], docs[1]);
  // CORS preflight.
  const pre = await fetch(jg.prmUrl, { method: 'OPTIONS', headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'GET' } });
  assert.ok(pre.status === 204 || pre.status === 200, String(pre.status));
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
});

test('key rotation without restart: new kid accepted, old key refused once gone (cache until expiry)', async () => {
  const session = await initSession(jg.url);
  const list = (token) => rpc(jg.url, 'tools/list', {}, { token, session });

  // Old-key tokens: one used before the rotation (so it sits in the verified-token cache),
  // one short-lived and used, one never shown to jitgate.
  const oldUsed = await mintToken(as.issuer, { resource: jg.resource, scope: 'notes:read' });
  await as.admin(`/admin/resource?resource=${encodeURIComponent(jg.resource)}&ttl=3`);
  let oldShort;
  try {
    oldShort = await mintToken(as.issuer, { resource: jg.resource, scope: 'notes:read' });
  } finally {
    await as.admin(`/admin/resource?resource=${encodeURIComponent(jg.resource)}&reset=1`);
  }
  const oldUnused = await mintToken(as.issuer, { resource: jg.resource, scope: 'notes:read' });
  const oldKid = decodeJwt(oldUsed).header.kid;
  assert.equal(decodeJwt(oldUnused).header.kid, oldKid);
  assert.equal((await list(oldUsed)).status, 200);
  assert.equal((await list(oldShort)).status, 200);

  const rotated = await as.admin('/admin/rotate?keepOld=0');
  assert.ok(!rotated.jwksKids.includes(oldKid), 'old kid still published');

  const fresh = await mintToken(as.issuer, { resource: jg.resource, scope: 'notes:read' });
  const newKid = decodeJwt(fresh).header.kid;
  assert.notEqual(newKid, oldKid);
  // Unknown kid => jitgate refetches the JWKS (refetch_interval 0) and accepts.
  const r = await list(fresh);
  assert.equal(r.status, 200, `new-kid token refused: ${r.wwwAuthenticate}`);

  // An old-key token jitgate never verified: refused, its key is gone.
  assertInvalidToken(await list(oldUnused), /unknown signing key/);

  // An old-key token jitgate verified before the rotation is still served from the
  // verified-token cache (until its exp, capped at 300 s) — observed behaviour.
  const cached = await list(oldUsed);
  assert.equal(cached.status, 200, 'expected the cached old-key token to be accepted until it expires');

  // Once the cache entry lapses (its exp), the token is verified again and the missing key
  // is what refuses it (the key check comes before the expiry check).
  const { exp, iat } = decodeJwt(oldShort).payload;
  assert.ok(exp - iat <= 4, `the AS ignored ttl=3 (exp - iat = ${exp - iat})`);
  assert.equal((await list(oldShort)).status, 200, 'short old-key token should still be cached');
  while (Date.now() / 1000 <= exp + 1) await sleep(200);
  assertInvalidToken(await list(oldShort), /unknown signing key/);
});
