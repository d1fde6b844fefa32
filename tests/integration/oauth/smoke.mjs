#!/usr/bin/env node
// Self-check for as.mjs: starts it, exercises every feature, exits non-zero on failure.
// Usage: node smoke.mjs            (uses only built-in fetch; no cookie jar on purpose)
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const asPath = fileURLToPath(new URL('./as.mjs', import.meta.url));
const child = spawn(process.execPath, [asPath, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const [firstLine] = await once(createInterface({ input: child.stdout }), 'line');
const { issuer } = JSON.parse(firstLine);
console.log('issuer', issuer);

let failures = 0;
function check(name, cond, extra) {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${name}${extra !== undefined ? ` ${JSON.stringify(extra)}` : ''}`);
  if (!cond) failures += 1;
}
const b64url = (b) => Buffer.from(b).toString('base64url');
const decodeJwt = (t) => {
  const [h, p] = t.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
};
const form = (o) => new URLSearchParams(o);
const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function verifyJwt(token) {
  const { header } = decodeJwt(token);
  const jwks = await (await fetch(`${issuer}/jwks`)).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) return false;
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const [h, p, s] = token.split('.');
  const alg = header.alg === 'ES256' ? 'sha256' : 'RSA-SHA256';
  return crypto.verify(alg, Buffer.from(`${h}.${p}`), header.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key, Buffer.from(s, 'base64url'));
}

try {
  // --- discovery
  for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
    const md = await (await fetch(issuer + path)).json();
    check(`discovery ${path}`, md.issuer === issuer
      && JSON.stringify(md.code_challenge_methods_supported) === '["S256"]'
      && md.registration_endpoint && md.introspection_endpoint && md.jwks_uri
      && ['notes:read', 'notes:write', 'notes:admin', 'openid', 'offline_access'].every((s) => md.scopes_supported.includes(s)));
  }

  // --- DCR (open registration), public client
  const rsPort = 45678; // pretend resource server (jitgate) port
  const resource = `http://127.0.0.1:${rsPort}/mcp`;
  const redirectUri = 'http://127.0.0.1:9/callback';
  const regRes = await fetch(`${issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'smoke', redirect_uris: [redirectUri], token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    }),
  });
  const reg = await regRes.json();
  check('DCR 201', regRes.status === 201 && !!reg.client_id, { status: regRes.status, reg });

  // --- authorize + PKCE, following redirects by hand, no cookie jar
  async function authorize(clientId, redirect, extra) {
    const verifier = b64url(crypto.randomBytes(32));
    const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
    const q = new URLSearchParams({
      response_type: 'code', client_id: clientId, redirect_uri: redirect,
      code_challenge: challenge, code_challenge_method: 'S256', state: 'st8', ...extra,
    });
    let url = `${issuer}/auth?${q}`;
    for (let i = 0; i < 10; i += 1) {
      const r = await fetch(url, { redirect: 'manual' });
      const loc = r.headers.get('location');
      if (!loc) throw new Error(`no redirect from ${url}: ${r.status} ${await r.text()}`);
      const next = new URL(loc, url);
      const want = new URL(redirect);
      if (next.origin === want.origin && next.pathname === want.pathname) {
        return { params: next.searchParams, verifier };
      }
      url = next.href;
    }
    throw new Error('too many redirects');
  }

  const { params: cb, verifier } = await authorize(reg.client_id, redirectUri, { scope: 'notes:read notes:write offline_access', resource });
  check('authorize -> code', !!cb.get('code') && cb.get('state') === 'st8' && cb.get('iss') === issuer, Object.fromEntries(cb));

  const tokRes = await fetch(`${issuer}/token`, {
    method: 'POST',
    body: form({ grant_type: 'authorization_code', code: cb.get('code'), redirect_uri: redirectUri, client_id: reg.client_id, code_verifier: verifier, resource }),
  });
  const tok = await tokRes.json();
  check('token exchange 200', tokRes.status === 200 && tok.access_token, tok);
  const { header, payload } = decodeJwt(tok.access_token);
  check('JWT typ at+jwt', header.typ === 'at+jwt', header);
  check('JWT alg/kid', ['ES256', 'RS256'].includes(header.alg) && !!header.kid, header);
  check('JWT aud = resource', payload.aud === resource, payload);
  check('JWT scope', payload.scope === 'notes:read notes:write', payload);
  check('JWT iss/sub/client_id', payload.iss === issuer && payload.sub === 'alice' && payload.client_id === reg.client_id, payload);
  check('JWT signature verifies against jwks_uri', await verifyJwt(tok.access_token));
  check('refresh token issued', !!tok.refresh_token);

  // refresh keeps resource
  const rtRes = await fetch(`${issuer}/token`, { method: 'POST', body: form({ grant_type: 'refresh_token', refresh_token: tok.refresh_token, client_id: reg.client_id, resource }) });
  const rt = await rtRes.json();
  check('refresh -> JWT for resource', rtRes.status === 200 && decodeJwt(rt.access_token).payload.aud === resource, rt);

  // --- pre-registered public client, no resource -> opaque token
  const { params: cb2, verifier: v2 } = await authorize('test-public', 'http://127.0.0.1:5555/callback', { scope: 'openid notes:read' });
  const tok2 = await (await fetch(`${issuer}/token`, {
    method: 'POST',
    body: form({ grant_type: 'authorization_code', code: cb2.get('code'), redirect_uri: 'http://127.0.0.1:5555/callback', client_id: 'test-public', code_verifier: v2 }),
  })).json();
  check('no resource -> opaque AT', tok2.access_token && tok2.access_token.split('.').length !== 3, tok2);

  // --- introspection (basic + post)
  const introBasic = await (await fetch(`${issuer}/token/introspection`, {
    method: 'POST', headers: { authorization: basic('jitgate-rs', 'jitgate-rs-secret') }, body: form({ token: tok2.access_token }),
  })).json();
  check('introspect opaque (basic)', introBasic.active === true && introBasic.sub === 'alice' && introBasic.scope.includes('notes:read'), introBasic);
  const introPost = await (await fetch(`${issuer}/token/introspection`, {
    method: 'POST', body: form({ token: tok2.access_token, client_id: 'jitgate-rs-post', client_secret: 'jitgate-rs-post-secret' }),
  })).json();
  check('introspect opaque (post)', introPost.active === true, introPost);
  const introBad = await fetch(`${issuer}/token/introspection`, {
    method: 'POST', headers: { authorization: basic('jitgate-rs', 'wrong') }, body: form({ token: tok2.access_token }),
  });
  const introWrongMethod = await fetch(`${issuer}/token/introspection`, {
    method: 'POST', body: form({ token: tok2.access_token, client_id: 'jitgate-rs', client_secret: 'jitgate-rs-secret' }),
  });
  check('strict client auth: basic-registered client using post -> 401', introWrongMethod.status === 401, introWrongMethod.status);
  check('opaque AT without resource has no aud', introBasic.aud === undefined, introBasic);
  const introJwt = await fetch(`${issuer}/token/introspection`, {
    method: 'POST', headers: { authorization: basic('jitgate-rs', 'jitgate-rs-secret') }, body: form({ token: tok.access_token }),
  });
  check('introspecting a JWT -> 400 unsupported_token_type', introJwt.status === 400 && (await introJwt.json()).error === 'unsupported_token_type');
  check('introspect with bad secret -> 401', introBad.status === 401, introBad.status);

  // --- client_credentials with resource
  async function cc(extra) {
    const r = await fetch(`${issuer}/token`, {
      method: 'POST', headers: { authorization: basic('svc', 'svc-secret') }, body: form({ grant_type: 'client_credentials', ...extra }),
    });
    return { status: r.status, body: await r.json() };
  }
  const c1 = await cc({ resource, scope: 'notes:read notes:admin' });
  const c1p = decodeJwt(c1.body.access_token).payload;
  check('client_credentials -> JWT', c1.status === 200 && c1p.aud === resource && c1p.scope === 'notes:read notes:admin' && c1p.client_id === 'svc', c1p);

  // opaque token for a resource (fixed opaque RS)
  const c2 = await cc({ resource: 'http://opaque.test/mcp', scope: 'notes:read' });
  const intro2 = await (await fetch(`${issuer}/token/introspection`, {
    method: 'POST', headers: { authorization: basic('jitgate-rs', 'jitgate-rs-secret') }, body: form({ token: c2.body.access_token }),
  })).json();
  check('opaque AT for http://opaque.test/mcp', c2.body.access_token.split('.').length !== 3 && intro2.active && intro2.aud === 'http://opaque.test/mcp' && intro2.scope === 'notes:read', intro2);

  // per-resource override -> opaque for a loopback resource
  const rsOpaque = 'http://127.0.0.1:45679/mcp';
  await fetch(`${issuer}/admin/resource?${form({ resource: rsOpaque, format: 'opaque' })}`, { method: 'POST' });
  const c3 = await cc({ resource: rsOpaque, scope: 'notes:write' });
  const intro3 = await (await fetch(`${issuer}/token/introspection`, {
    method: 'POST', headers: { authorization: basic('jitgate-rs', 'jitgate-rs-secret') }, body: form({ token: c3.body.access_token }),
  })).json();
  check('admin/resource format=opaque', intro3.active && intro3.aud === rsOpaque, intro3);

  // unknown resource rejected
  const c4 = await cc({ resource: 'https://evil.example/mcp', scope: 'notes:read' });
  check('non-loopback resource -> invalid_target', c4.status === 400 && c4.body.error === 'invalid_target', c4);

  // --- rotation
  const kid0 = decodeJwt(c1.body.access_token).header.kid;
  const rot = await (await fetch(`${issuer}/admin/rotate?keepOld=1`, { method: 'POST' })).json();
  const c5 = await cc({ resource, scope: 'notes:read' });
  const kid1 = decodeJwt(c5.body.access_token).header.kid;
  const jwksKids = (await (await fetch(`${issuer}/jwks`)).json()).keys.map((k) => k.kid);
  check('rotate keepOld=1: new kid, both published', kid1 !== kid0 && jwksKids.includes(kid0) && jwksKids.includes(kid1), { kid0, kid1, jwksKids, rot: rot.signingKids });
  check('old token still verifies (keepOld=1)', await verifyJwt(c1.body.access_token));
  check('new token verifies', await verifyJwt(c5.body.access_token));
  // state survives rotation: DCR client + opaque token
  const intro4 = await (await fetch(`${issuer}/token/introspection`, {
    method: 'POST', headers: { authorization: basic('jitgate-rs', 'jitgate-rs-secret') }, body: form({ token: tok2.access_token }),
  })).json();
  check('opaque token still active after rotation', intro4.active === true);
  const { params: cb6 } = await authorize(reg.client_id, redirectUri, { scope: 'notes:read', resource });
  check('DCR client survives rotation', !!cb6.get('code'));

  await fetch(`${issuer}/admin/rotate?keepOld=0`, { method: 'POST' });
  const c6 = await cc({ resource, scope: 'notes:read' });
  const kid2 = decodeJwt(c6.body.access_token).header.kid;
  const jwksKids2 = (await (await fetch(`${issuer}/jwks`)).json()).keys.map((k) => k.kid);
  check('rotate keepOld=0: only new keys', kid2 !== kid1 && !jwksKids2.includes(kid1) && !jwksKids2.includes(kid0) && jwksKids2.includes(kid2), { kid2, jwksKids2 });

  // --- RS256 via admin/resource
  await fetch(`${issuer}/admin/resource?resource=*&alg=RS256`, { method: 'POST' });
  const c7 = await cc({ resource, scope: 'notes:read' });
  check('alg=RS256 override', decodeJwt(c7.body.access_token).header.alg === 'RS256' && await verifyJwt(c7.body.access_token));
  await fetch(`${issuer}/admin/resource?resource=*&alg=ES256`, { method: 'POST' });

  // --- faults
  await fetch(`${issuer}/admin/jwks?down=1`, { method: 'POST' });
  check('jwks down -> 503', (await fetch(`${issuer}/jwks`)).status === 503);
  await fetch(`${issuer}/admin/jwks?down=0`, { method: 'POST' });
  check('jwks up -> 200', (await fetch(`${issuer}/jwks`)).status === 200);
  await fetch(`${issuer}/admin/introspection?down=1`, { method: 'POST' });
  const idown = await fetch(`${issuer}/token/introspection`, { method: 'POST', headers: { authorization: basic('jitgate-rs', 'jitgate-rs-secret') }, body: form({ token: 'x' }) });
  check('introspection down -> 503', idown.status === 503);
  await fetch(`${issuer}/admin/introspection?down=0`, { method: 'POST' });
  const iup = await fetch(`${issuer}/token/introspection`, { method: 'POST', headers: { authorization: basic('jitgate-rs', 'jitgate-rs-secret') }, body: form({ token: 'x' }) });
  check('introspection up -> 200 active:false', iup.status === 200 && (await iup.json()).active === false);
} catch (err) {
  console.log('FAIL exception', err);
  failures += 1;
} finally {
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  check('AS exits on SIGTERM', code === 0 || code === null, code);
}
console.log(failures ? `${failures} FAILURE(S)` : 'ALL OK');
process.exit(failures ? 1 : 0);
