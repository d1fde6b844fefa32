// jitgate with opaque access tokens checked by RFC 7662 introspection at a real
// authorization server (client_secret_basic and client_secret_post), and JWT validation
// while the authorization server's JWKS endpoint is down.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  decodeJwt, initSession, isJwt, mintToken, parseChallenge, rpc, sleep, startAS, startJitgate,
} from './lib.mjs';

let as;
let jgBasic; // introspection with client_secret_basic (jitgate-rs)
let jgPost; // introspection with client_secret_post (jitgate-rs-post)
let jgWrong; // jitgate-rs-post credentials sent with basic: the (strict) AS refuses the introspection call
const started = [];

async function jitgate(opts) {
  const j = await startJitgate({ issuer: as.issuer, ...opts });
  started.push(j);
  return j;
}

const opaqueFor = (j) => as.admin(`/admin/resource?resource=${encodeURIComponent(j.resource)}&format=opaque`);

before(async () => {
  as = await startAS();
  jgBasic = await jitgate({
    introspection: { client_id: 'jitgate-rs', client_secret: 'jitgate-rs-secret', client_auth: 'client_secret_basic' },
  });
  jgPost = await jitgate({
    introspection: { client_id: 'jitgate-rs-post', client_secret: 'jitgate-rs-post-secret', client_auth: 'client_secret_post' },
  });
  jgWrong = await jitgate({
    introspection: { client_id: 'jitgate-rs-post', client_secret: 'jitgate-rs-post-secret', client_auth: 'client_secret_basic' },
  });
  for (const j of [jgBasic, jgPost, jgWrong]) await opaqueFor(j);
});

after(async () => {
  for (const j of started) await j.stop();
  await as?.stop();
});

function assertInvalidToken(j, r, descriptionRe) {
  assert.equal(r.status, 401, JSON.stringify(r.body));
  const c = parseChallenge(r.wwwAuthenticate);
  assert.equal(c?.scheme, 'Bearer', r.wwwAuthenticate);
  assert.equal(c.params.error, 'invalid_token', r.wwwAuthenticate);
  assert.equal(c.params.resource_metadata, j.prmUrl, r.wwwAuthenticate);
  if (descriptionRe) assert.match(c.params.error_description ?? '', descriptionRe, r.wwwAuthenticate);
}

async function introspect(token, clientId = 'jitgate-rs', secret = 'jitgate-rs-secret') {
  const r = await fetch(`${as.issuer}/token/introspection`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
    body: new URLSearchParams({ token }),
  });
  return r.json();
}

for (const [label, get] of [['client_secret_basic', () => jgBasic], ['client_secret_post', () => jgPost]]) {
  test(`opaque token accepted via introspection (${label}); the AS is really asked`, async () => {
    const j = get();
    const token = await mintToken(as.issuer, { resource: j.resource, scope: 'notes:read' });
    assert.ok(!isJwt(token), 'expected an opaque token');
    const info = await introspect(token);
    assert.equal(info.active, true);
    assert.equal(info.aud, j.resource);

    const session = await initSession(j.url);
    const list = await rpc(j.url, 'tools/list', {}, { token, session });
    assert.equal(list.status, 200, `${list.wwwAuthenticate} ${JSON.stringify(list.body)}`);
    assert.ok(list.body.result.tools.some((t) => t.name === 'test_simple_text'));
    const call = await rpc(j.url, 'tools/call', { name: 'test_simple_text', arguments: {} }, { token, session });
    assert.equal(call.status, 200);
    assert.equal(call.body.result.content[0].text, 'This is a simple text response for testing.');
    // Scopes from the introspection response are enforced.
    const step = await rpc(j.url, 'tools/call', { name: 'test_error_handling', arguments: {} }, { token, session });
    assert.equal(step.status, 403);
    assert.equal(parseChallenge(step.wwwAuthenticate).params.scope, 'notes:read notes:write');

    // Proof that jitgate asks the AS: a NEW token is refused while introspection is down...
    const fresh = await mintToken(as.issuer, { resource: j.resource, scope: 'notes:read' });
    await as.admin('/admin/introspection?down=1');
    try {
      assertInvalidToken(j, await rpc(j.url, 'tools/list', {}, { token: fresh, session }), /introspection/);
      // ...while the token verified before is served from jitgate's verified-token cache.
      assert.equal((await rpc(j.url, 'tools/list', {}, { token, session })).status, 200,
        'a token introspected before the outage should still be accepted from the cache');
    } finally {
      await as.admin('/admin/introspection?down=0');
    }
    // ...and accepted once it is back (failures are not cached).
    const back = await rpc(j.url, 'tools/list', {}, { token: fresh, session });
    assert.equal(back.status, 200, back.wwwAuthenticate);
  });
}

test('introspection: inactive (revoked), foreign-audience and unknown tokens are refused', async () => {
  const session = await initSession(jgBasic.url);
  // Token for the post jitgate's resource, shown to the basic one: active, wrong aud.
  const forPost = await mintToken(as.issuer, { resource: jgPost.resource, scope: 'notes:read' });
  assertInvalidToken(jgBasic, await rpc(jgBasic.url, 'tools/list', {}, { token: forPost, session }), /another resource/);
  // The fixed opaque resource.
  const opaqueTest = await mintToken(as.issuer, { resource: 'http://opaque.test/mcp', scope: 'notes:read' });
  assertInvalidToken(jgBasic, await rpc(jgBasic.url, 'tools/list', {}, { token: opaqueTest, session }), /another resource/);
  // Made-up token.
  assertInvalidToken(jgBasic, await rpc(jgBasic.url, 'tools/list', {}, { token: 'not-a-real-token-0123456789', session }), /not active/);
  // Revoked before first use.
  const revoked = await mintToken(as.issuer, { resource: jgBasic.resource, scope: 'notes:read' });
  const rv = await fetch(`${as.issuer}/token/revocation`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('svc:svc-secret').toString('base64')}` },
    body: new URLSearchParams({ token: revoked }),
  });
  assert.equal(rv.status, 200);
  assertInvalidToken(jgBasic, await rpc(jgBasic.url, 'tools/list', {}, { token: revoked, session }), /not active/);
});

test('introspection with the wrong client authentication method is refused by the AS, so jitgate denies', async () => {
  const token = await mintToken(as.issuer, { resource: jgWrong.resource, scope: 'notes:read' });
  const session = await initSession(jgWrong.url);
  assertInvalidToken(jgWrong, await rpc(jgWrong.url, 'tools/list', {}, { token, session }), /introspection failed \(401\)/);
});

test('jitgate with introspection and jwt still takes JWTs of the same issuer', async () => {
  // The basic jitgate's config lists `jwt:` too; a JWT for a loopback resource without override.
  await as.admin(`/admin/resource?resource=${encodeURIComponent(jgBasic.resource)}&reset=1`);
  try {
    const token = await mintToken(as.issuer, { resource: jgBasic.resource, scope: 'notes:read' });
    assert.ok(isJwt(token));
    const session = await initSession(jgBasic.url);
    const r = await rpc(jgBasic.url, 'tools/list', {}, { token, session });
    assert.equal(r.status, 200, r.wwwAuthenticate);
  } finally {
    await opaqueFor(jgBasic);
  }
});

test('JWKS down: a running jitgate with keys keeps accepting new tokens signed with the same key', async () => {
  // max_ttl 1: the keys are stale after a second, so the outage is really hit (refetch fails, stale keys served).
  const j = await jitgate({ jwks: { min_ttl: 1, max_ttl: 1 } });
  const session = await initSession(j.url);
  const t1 = await mintToken(as.issuer, { resource: j.resource, scope: 'notes:read' });
  assert.equal((await rpc(j.url, 'tools/list', {}, { token: t1, session })).status, 200);

  await as.admin('/admin/jwks?down=1');
  try {
    const down = await fetch(`${as.issuer}/jwks`);
    assert.equal(down.status, 503);
    await sleep(2100); // past the JWKS TTL
    const t2 = await mintToken(as.issuer, { resource: j.resource, scope: 'notes:read' });
    assert.equal(decodeJwt(t2).header.kid, decodeJwt(t1).header.kid);
    const r = await rpc(j.url, 'tools/list', {}, { token: t2, session });
    assert.equal(r.status, 200, `stale keys not served during the outage: ${r.wwwAuthenticate}`);
  } finally {
    await as.admin('/admin/jwks?down=0');
  }
});

test('JWKS down: a freshly started jitgate refuses (401) and accepts once the JWKS is back', async () => {
  await as.admin('/admin/jwks?down=1');
  let j;
  let token;
  try {
    j = await jitgate({});
    token = await mintToken(as.issuer, { resource: j.resource, scope: 'notes:read' });
    const session = await initSession(j.url);
    const r = await rpc(j.url, 'tools/list', {}, { token, session });
    assertInvalidToken(j, r);
    // Fail closed on every attempt while down (refetch_interval 0: each one tries again).
    assertInvalidToken(j, await rpc(j.url, 'tools/list', {}, { token, session }));
  } finally {
    await as.admin('/admin/jwks?down=0');
  }
  const session = await initSession(j.url);
  const ok = await rpc(j.url, 'tools/list', {}, { token, session });
  assert.equal(ok.status, 200, ok.wwwAuthenticate);
});
