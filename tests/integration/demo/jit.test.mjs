// The just-in-time story against `jitgate demo`, with the official MCP TypeScript SDK client
// (1.32.2, tools/node_modules) and its own OAuth flow: discovery from the 401, dynamic client
// registration at the development authorization server, code + PKCE, finishAuth, and the 403
// step-up. The OAuth client's redirect handler plays the user on the devauth login and consent
// pages over HTTP (lib.mjs DevAuthUserAgent). One MCP session from start to end:
//
//   anonymous: only search_docs is unlocked -> list_my_notes: 401 naming notes:read -> register,
//   sign in as alice, consent -> the same session is upgraded, tools/list_changed, list_my_notes
//   unlocked -> add_note: 403 insufficient_scope naming exactly notes:write -> authorize again:
//   no sign-in, the consent page offers only notes:write -> add_note works, list_changed again.
//
// The cases run in order and share state: each is one chapter of the story.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import { Client } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/client/index.js';
import { StreamableHTTPClientTransport } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js';
import { UnauthorizedError } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/client/auth.js';
import { ToolListChangedNotificationSchema } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';

import { parseChallenge, rpc, sleep } from '../oauth/lib.mjs';
import { decodeJwtPayload, DevAuthUserAgent, startDemo } from './lib.mjs';

const ALICE = { username: 'alice', password: 'alice-demo' };
const sorted = (a) => [...a].sort();

// An in-memory OAuthClientProvider. Nothing is registered up front: the SDK's auth() registers
// the client (RFC 7591) on the first challenge. authorization_code only: with a refresh token the
// SDK 1.32.2 answers a 403 insufficient_scope by refreshing (same scopes) instead of stepping up.
class DemoProvider {
  constructor(user) {
    this.redirect = `http://127.0.0.1:${40000 + crypto.randomInt(20000)}/callback`;
    this.agent = new DevAuthUserAgent({ redirectUri: this.redirect });
    this.user = user;
    this.authorizations = []; // { url, pages } per redirectToAuthorization
    this.pendingCode = undefined;
  }

  get redirectUrl() { return this.redirect; }
  get clientMetadata() {
    return {
      client_name: 'jitgate demo SDK story',
      redirect_uris: [this.redirect],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    };
  }

  state() { this._state = crypto.randomBytes(12).toString('base64url'); return this._state; }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(t) { this._tokens = t; }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
  saveDiscoveryState(s) { this._discovery = s; }
  discoveryState() { return this._discovery; }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this._client = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this._discovery = undefined;
  }

  // The user agent: the devauth pages until the redirect URI, then the code waits for finishAuth.
  async redirectToAuthorization(url) {
    const entry = { url: new URL(url) };
    this.authorizations.push(entry);
    const got = await this.agent.authorize(url, this.user);
    entry.pages = got.pages;
    entry.iss = got.iss;
    if (got.state !== this._state) throw new Error('state mismatch');
    this.pendingCode = got.code;
  }

  takeCode() {
    const c = this.pendingCode;
    this.pendingCode = undefined;
    assert.ok(c, 'the redirect handler produced no code');
    return c;
  }

  get accessToken() { return this._tokens?.access_token; }
}

// Every HTTP exchange the SDK makes: method, URL, JSON-RPC method and tool, session, status.
function recordingFetch(log) {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const headers = new Headers(init?.headers);
    let msg;
    try { msg = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined; } catch { /* a form */ }
    const r = await fetch(input, init);
    log.push({
      method: init?.method ?? 'GET',
      url,
      rpc: msg?.method,
      tool: msg?.params?.name,
      session: headers.get('mcp-session-id'),
      bearer: headers.get('authorization')?.replace(/^Bearer /, ''),
      status: r.status,
      www: r.headers.get('www-authenticate'),
    });
    return r;
  };
}

// tools/list split into what the caller may call and what the policy advertises as locked.
async function view(client) {
  const { tools } = await client.listTools();
  const locked = {};
  const unlocked = [];
  for (const t of tools) {
    if (t._meta?.['io.jitgate/locked']) locked[t.name] = t._meta['io.jitgate/requiredScopes'];
    else unlocked.push(t.name);
  }
  return { unlocked: sorted(unlocked), locked };
}

async function waitFor(what, pred, timeoutMs) {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
  return Date.now() - t0;
}

let demo;
const log = [];
const provider = new DemoProvider(ALICE);
let client;
let transport;
let sid;
const changes = [];
const timings = {};

before(async () => {
  demo = await startDemo();
});

after(async () => {
  await client?.close().catch(() => {});
  await demo?.stop();
  process.stderr.write(`demo jit.test.mjs timings (ms): ${JSON.stringify(timings)}\n`);
});

const mcpExchanges = (from = 0) => log.slice(from).filter((e) => e.url === demo.url);

test('anonymous: only search_docs is unlocked; the tools a scope unlocks are advertised as locked', async () => {
  transport = new StreamableHTTPClientTransport(new URL(demo.url), { authProvider: provider, fetch: recordingFetch(log) });
  client = new Client({ name: 'jitgate-demo-sdk-story', version: '0.0.0' }, { capabilities: {} });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => { changes.push(Date.now()); });
  await client.connect(transport);
  sid = transport.sessionId;
  assert.ok(sid, 'no Mcp-Session-Id');
  const v = await view(client);
  assert.deepEqual(v.unlocked, ['search_docs']);
  // The admin tools need a role no scope can give: they are not advertised at all.
  assert.deepEqual(v.locked, { list_my_notes: ['notes:read'], add_note: ['notes:write'] });
  const r = await client.callTool({ name: 'search_docs', arguments: { query: 'step-up' } });
  assert.match(r.content[0].text, /^- Step-up: /);
  assert.ok(log.every((e) => !e.bearer), 'a token was sent before any authorization');
});

test('list_my_notes without a token: 401 naming notes:read; the SDK discovers, registers and authorizes', async () => {
  const mark = log.length;
  await assert.rejects(client.callTool({ name: 'list_my_notes', arguments: {} }), (e) => e instanceof UnauthorizedError);
  const challenge = mcpExchanges(mark).find((e) => e.status === 401);
  assert.ok(challenge, 'no 401 from the MCP server');
  assert.equal(challenge.session, sid);
  assert.equal(challenge.www, `Bearer resource_metadata="${demo.prmUrl}", scope="notes:read"`);
  // Discovery (PRM, then the authorization server's metadata) and one dynamic registration.
  const oauth = log.slice(mark).filter((e) => e.url !== demo.url);
  assert.ok(oauth.some((e) => e.url === demo.prmUrl && e.status === 200), 'PRM not fetched');
  assert.ok(oauth.some((e) => e.url.startsWith(`${demo.issuer}/.well-known/`) && e.status === 200), 'AS metadata not fetched');
  const registrations = oauth.filter((e) => e.url === `${demo.issuer}/register`);
  assert.deepEqual(registrations.map((e) => e.status), [201]);
  const { client_id: clientId } = provider.clientInformation();
  assert.ok(clientId);
  // The authorization request: PKCE S256, the demo's resource, the challenged scope.
  assert.equal(provider.authorizations.length, 1);
  const { url, pages, iss } = provider.authorizations[0];
  assert.equal(url.origin + url.pathname, `${demo.issuer}/authorize`);
  assert.equal(url.searchParams.get('client_id'), clientId);
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.match(url.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
  assert.equal(url.searchParams.get('resource'), demo.url);
  assert.equal(url.searchParams.get('scope'), 'notes:read');
  assert.equal(iss, demo.issuer);
  // The user saw the login page, then a consent page offering exactly notes:read.
  assert.deepEqual(pages.map((p) => p.kind), ['login', 'consent']);
  assert.deepEqual(pages[1].checkboxes, ['notes:read']);
  assert.deepEqual(pages[1].granted, []);
});

test('signed in: the SAME session is upgraded in place, list_changed, list_my_notes unlocked', async () => {
  const before = changes.length;
  await transport.finishAuth(provider.takeCode());
  const claims = decodeJwtPayload(provider.accessToken);
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.scope, 'notes:read');
  assert.equal(claims.aud, demo.url);
  assert.equal(claims.iss, demo.issuer);
  assert.equal(claims.client_id, provider.clientInformation().client_id);
  const mark = log.length;
  const t0 = Date.now();
  const r = await client.callTool({ name: 'list_my_notes', arguments: {} });
  assert.notEqual(r.isError, true);
  assert.equal(r.content[0].text, 'Notes of alice:\n- Buy milk\n');
  await waitFor('tools/list_changed after sign-in', () => changes.length > before, 5000);
  timings.signInNotifiedMs = changes[before] - t0;
  assert.equal(transport.sessionId, sid, 'the SDK changed sessions');
  const v = await view(client);
  assert.deepEqual(v.unlocked, ['list_my_notes', 'search_docs']);
  assert.deepEqual(v.locked, { add_note: ['notes:write'] });
  for (const e of mcpExchanges(mark)) {
    assert.equal(e.session, sid);
    assert.equal(e.bearer, provider.accessToken);
  }
  assert.equal(log.filter((e) => e.rpc === 'initialize').length, 1);
});

let readToken;

test('add_note: 403 insufficient_scope naming exactly notes:write; the SDK steps up for it', async () => {
  readToken = provider.accessToken;
  const mark = log.length;
  await assert.rejects(client.callTool({ name: 'add_note', arguments: { text: 'jit' } }), (e) => e instanceof UnauthorizedError);
  const forbidden = mcpExchanges(mark).find((e) => e.status === 403);
  assert.ok(forbidden, 'no 403 from the MCP server');
  assert.equal(forbidden.bearer, readToken);
  assert.equal(forbidden.session, sid);
  const { scheme, params } = parseChallenge(forbidden.www);
  assert.equal(scheme, 'Bearer');
  assert.deepEqual({ ...params, error_description: undefined },
    { error: 'insufficient_scope', scope: 'notes:write', resource_metadata: demo.prmUrl, error_description: undefined });
  // The same with plain fetch on the same session and token: the exact status.
  const raw = await rpc(demo.url, 'tools/call', { name: 'add_note', arguments: { text: 'jit' } }, { session: sid, token: readToken });
  assert.equal(raw.status, 403);
  assert.equal(raw.wwwAuthenticate, forbidden.www);
  // No second registration; the authorization asks for the challenged scope only.
  assert.equal(log.filter((e) => e.url === `${demo.issuer}/register`).length, 1);
  assert.equal(provider.authorizations.length, 2);
  const { url, pages } = provider.authorizations[1];
  assert.equal(url.searchParams.get('scope'), 'notes:write');
  assert.equal(url.searchParams.get('client_id'), provider.clientInformation().client_id);
  // Still signed in (cookie): no login page; the consent page offers only what is new.
  assert.deepEqual(pages.map((p) => p.kind), ['consent']);
  assert.deepEqual(pages[0].checkboxes, ['notes:write']);
  assert.deepEqual(pages[0].granted, ['notes:read']);
});

test('stepped up: the token keeps notes:read, add_note works on the same session, list_changed again', async () => {
  const before = changes.length;
  await transport.finishAuth(provider.takeCode());
  assert.notEqual(provider.accessToken, readToken);
  const claims = decodeJwtPayload(provider.accessToken);
  assert.equal(claims.sub, 'alice');
  assert.deepEqual(sorted(claims.scope.split(' ')), ['notes:read', 'notes:write']);
  const t0 = Date.now();
  const r = await client.callTool({ name: 'add_note', arguments: { text: 'jit' } });
  assert.notEqual(r.isError, true);
  assert.equal(r.content[0].text, 'Added a note for alice.');
  await waitFor('tools/list_changed after step-up', () => changes.length > before, 5000);
  timings.stepUpNotifiedMs = changes[before] - t0;
  assert.equal(transport.sessionId, sid);
  const v = await view(client);
  assert.deepEqual(v.unlocked, ['add_note', 'list_my_notes', 'search_docs']);
  assert.deepEqual(v.locked, {});
  assert.equal((await client.callTool({ name: 'list_my_notes', arguments: {} })).content[0].text, 'Notes of alice:\n- Buy milk\n- jit\n');
  // alice has no admin role: admin:write would not help, and she cannot see the admin tools, so
  // calling one answers exactly as a tool that does not exist (no step-up, no hint it is there).
  const admin = await rpc(demo.url, 'tools/call', { name: 'admin_announce', arguments: { message: 'hi' } },
    { session: sid, token: provider.accessToken });
  const unknown = await rpc(demo.url, 'tools/call', { name: 'admin_nothing', arguments: { message: 'hi' } },
    { session: sid, token: provider.accessToken });
  assert.equal(admin.status, 200);
  assert.equal(admin.status, unknown.status);
  assert.equal(admin.wwwAuthenticate, null);
  assert.equal(admin.body.error.code, -32602);
  assert.equal(admin.body.error.code, unknown.body.error.code);
  assert.equal(admin.body.error.message.replace('admin_announce', 'admin_nothing'), unknown.body.error.message);
  assert.equal(log.filter((e) => e.rpc === 'initialize').length, 1);
  assert.equal(provider.authorizations.length, 2);
});
