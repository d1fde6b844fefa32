// The development authorization server's pages in a real browser: headless Chromium (Debian's
// chromium package) driven by playwright-core, against `jitgate demo`.
//
//   register a client (RFC 7591) -> open the authorization URL (code + PKCE, two scopes) -> sign in
//   as alice on the login page -> untick one scope on the consent page -> the browser lands on the
//   client's redirect URI (a local listener keeps the code) -> exchange it with the verifier -> the
//   token holds exactly the ticked scope, and jitgate agrees: the tool that needs it works, the one
//   that needs the unticked scope is refused with 403 insufficient_scope naming that scope.
//
// Screenshots of the login and consent pages are kept in $JITGATE_ARTIFACTS (default
// build/test-artifacts/browser).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { initSession, parseChallenge, rpc } from '../integration/oauth/lib.mjs';
import { decodeJwtPayload, pkce, REPO, startDemo } from '../integration/demo/lib.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.JITGATE_ARTIFACTS || join(REPO, 'build/test-artifacts/browser');
const ASKED = ['notes:read', 'notes:write'];
const UNTICKED = 'notes:write';

let demo;
let browser;
let callback; // the client's redirect URI listener
const landed = []; // what reached it: { code, state, iss, error }

before(async () => {
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  demo = await startDemo();
  callback = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    if (u.pathname !== '/callback') { res.writeHead(404).end(); return; }
    landed.push(Object.fromEntries(['code', 'state', 'iss', 'error'].map((k) => [k, u.searchParams.get(k)])));
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Signed in</title><p id="done">You can close this window.</p>');
  });
  callback.listen(0, '127.0.0.1');
  await once(callback, 'listening');
  // Chromium refuses to run as root inside its sandbox.
  const root = process.getuid?.() === 0;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: root ? ['--no-sandbox'] : [] });
});

after(async () => {
  await browser?.close();
  callback?.close();
  await demo?.stop();
});

test('a subset of the scopes granted on the consent page: the token holds exactly that subset', async () => {
  const redirectUri = `http://127.0.0.1:${callback.address().port}/callback`;
  const meta = await (await fetch(`${demo.issuer}/.well-known/oauth-authorization-server`)).json();
  assert.equal(meta.issuer, demo.issuer);
  const reg = await fetch(meta.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'jitgate browser test',
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }),
  });
  assert.equal(reg.status, 201);
  const { client_id: clientId } = await reg.json();
  assert.ok(clientId);

  const { verifier, challenge } = pkce();
  const state = crypto.randomBytes(12).toString('base64url');
  const authorize = new URL(meta.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge,
    code_challenge_method: 'S256', state, scope: ASKED.join(' '), resource: demo.url,
  })) authorize.searchParams.set(k, v);

  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  const response = await page.goto(authorize.href);
  assert.equal(response.status(), 200);
  // The login page.
  await page.locator('#login-form').waitFor();
  assert.match(await page.locator('#development-banner').innerText(), /Development authorization server/);
  await page.fill('#username', 'alice');
  await page.fill('#password', 'alice-demo');
  await page.screenshot({ path: join(ARTIFACTS, 'login.png'), fullPage: true });
  await page.click('#sign-in');
  // The consent page: one ticked box per asked scope; untick one.
  await page.locator('#consent-form').waitFor();
  assert.equal(await page.locator('#user').innerText(), 'Alice (member)');
  const boxes = page.locator('#consent-form input[type=checkbox][name=scope]');
  assert.deepEqual(await boxes.evaluateAll((els) => els.map((e) => [e.value, e.checked])), ASKED.map((s) => [s, true]));
  await page.locator(`[id="scope-${encodeURIComponent(UNTICKED)}"]`).uncheck();
  assert.deepEqual(await boxes.evaluateAll((els) => els.map((e) => [e.value, e.checked])), ASKED.map((s) => [s, s !== UNTICKED]));
  await page.screenshot({ path: join(ARTIFACTS, 'consent.png'), fullPage: true });
  await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri)), page.click('#allow')]);
  await page.locator('#done').waitFor();
  await context.close();

  // The redirect: a code, our state, the issuer (RFC 9207).
  assert.equal(landed.length, 1);
  const [{ code, state: gotState, iss, error }] = landed;
  assert.equal(error, null);
  assert.ok(code);
  assert.equal(gotState, state);
  assert.equal(iss, demo.issuer);

  // The code exchange with the PKCE verifier.
  const tokenResponse = await fetch(meta.token_endpoint, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier, resource: demo.url,
    }),
  });
  assert.equal(tokenResponse.status, 200);
  const tokens = await tokenResponse.json();
  const granted = ASKED.filter((s) => s !== UNTICKED);
  assert.equal(tokens.scope, granted.join(' '));
  const claims = decodeJwtPayload(tokens.access_token);
  assert.deepEqual(claims.scope.split(' '), granted);
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.aud, demo.url);
  assert.equal(claims.client_id, clientId);
  // The same code twice is refused.
  const replay = await fetch(meta.token_endpoint, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier }),
  });
  assert.equal(replay.status, 400);
  assert.equal((await replay.json()).error, 'invalid_grant');

  // jitgate accepts the token for what was granted and names exactly what was not.
  const token = tokens.access_token;
  const session = await initSession(demo.url, token);
  const read = await rpc(demo.url, 'tools/call', { name: 'list_my_notes', arguments: {} }, { token, session });
  assert.equal(read.status, 200);
  assert.equal(read.body.result.content[0].text, 'Notes of alice:\n- Buy milk\n');
  const write = await rpc(demo.url, 'tools/call', { name: 'add_note', arguments: { text: 'x' } }, { token, session });
  assert.equal(write.status, 403);
  const { params } = parseChallenge(write.wwwAuthenticate);
  assert.equal(params.error, 'insufficient_scope');
  assert.equal(params.scope, UNTICKED);
  assert.equal(params.resource_metadata, demo.prmUrl);
});

test('the screenshots of the login and consent pages are kept as non-empty PNGs', () => {
  for (const name of ['login.png', 'consent.png']) {
    const file = join(ARTIFACTS, name);
    assert.ok(statSync(file).size > 1000, `${file} is too small`);
    assert.deepEqual([...readFileSync(file).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file} is no PNG`);
  }
});
