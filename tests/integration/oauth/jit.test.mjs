// Just-in-time authorization end to end: the real authorization server (as.mjs, oidc-provider)
// and the official MCP TypeScript SDK client (1.32.2, tools/node_modules) against
// conformance-server --auth-config --policy --audit. One story on ONE MCP session:
//
//   anonymous: only public tools -> a signed-in tool: 401 naming its scope -> authorize (code +
//   PKCE) -> the same Mcp-Session-Id is upgraded in place, tools/list_changed, more tools -> an
//   elevated tool: 403 naming exactly the missing scope -> step up -> it works -> the (short-lived)
//   token expires: list_changed, the tools are gone -> policy file rewritten: list_changed for the
//   signed-in session only (a second, anonymous session hears nothing) -> another subject's token
//   on the session: 403 -> audit file (a line per decision, no token) and /metrics.
//
// The cases below run in order and share state: each is one chapter of the story.
// Exact statuses and header values are also checked with plain fetch() on the same session.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { Client } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js';
import {
  discoverAuthorizationServerMetadata, registerClient, UnauthorizedError,
} from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/client/auth.js';
import { ToolListChangedNotificationSchema } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';

import { decodeJwt, mintToken, parseChallenge, rpc, sleep, startAS, startJitgate } from './lib.mjs';

// ---------------------------------------------------------------------------
// The policy: notes:admin implies notes:read, so the elevated rule needs exactly notes:admin.
const PUBLIC = 'test_simple_text';
const SIGNED_IN = ['test_image_content', 'test_audio_content'];
const ELEVATED = 'test_embedded_resource';
// The reload moves this one from the signed-in tier to the elevated one: only signed-in views change.
const MOVED = 'test_audio_content';

function policyYaml({ moved = false } = {}) {
  const signedIn = moved ? SIGNED_IN.filter((t) => t !== MOVED) : SIGNED_IN;
  const elevated = moved ? [ELEVATED, MOVED] : [ELEVATED];
  return `version: 1
scope_hierarchy:
  notes:admin: [notes:read]
tiers:
  public: {}
  signed_in: {scopes: [notes:read]}
  elevated: {scopes: [notes:admin]}
rules:
  - id: public
    tier: public
    tools: [${PUBLIC}]
  - id: signed-in
    tier: signed_in
    tools: [${signedIn.join(', ')}]
  - id: elevated
    tier: elevated
    tools: [${elevated.join(', ')}]
`;
}

const TOKEN_TTL = 6; // seconds, for the step-up token (set per resource on the AS just before it)
const sorted = (a) => [...a].sort();

// ---------------------------------------------------------------------------
class AuthorizationError extends Error {
  constructor(code, description) {
    super(`authorization failed: ${code} ${description ?? ''}`);
    this.code = code;
  }
}

// In-memory OAuthClientProvider (as in sdk-oauth.test.mjs); redirectToAuthorization() plays the
// user agent: it follows the AS redirects (auto-login alice, auto-consent) until redirectUrl and
// keeps the code for finishAuth().
class TestProvider {
  constructor() {
    this.redirect = `http://127.0.0.1:${40000 + crypto.randomInt(20000)}/callback`;
    this._client = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this._state = undefined;
    this.pendingCode = undefined;
    this.authorizationUrls = [];
    this.savedTokens = [];
    this.discovery = undefined;
  }

  get redirectUrl() { return this.redirect; }

  // Every scope this client may ever ask for. The SDK's own DCR would register only the scope of
  // the first challenge (and oidc-provider then refuses the step-up with invalid_scope, see
  // sdk-oauth.test.mjs), so the app registers up front with this metadata (registerClient without
  // `scope`). authorization_code only: no refresh token, so the SDK steps up instead of refreshing.
  get clientMetadata() {
    return {
      client_name: 'jitgate-jit-e2e',
      redirect_uris: [this.redirect],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      application_type: 'native',
      scope: 'notes:read notes:admin',
    };
  }

  state() {
    this._state = crypto.randomBytes(12).toString('base64url');
    return this._state;
  }

  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(t) { this.savedTokens.push(t); this._tokens = t; }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
  saveDiscoveryState(s) { this.discovery = s; }
  discoveryState() { return this.discovery; }

  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this._client = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }

  async redirectToAuthorization(url) {
    this.authorizationUrls.push(new URL(url));
    let next = new URL(url);
    for (let hop = 0; hop < 10; hop += 1) {
      if (next.href.startsWith(this.redirect)) {
        const err = next.searchParams.get('error');
        if (err) throw new AuthorizationError(err, next.searchParams.get('error_description'));
        if (next.searchParams.get('state') !== this._state) throw new Error('state mismatch');
        this.pendingCode = next.searchParams.get('code');
        if (!this.pendingCode) throw new Error(`no code in ${next}`);
        return;
      }
      const r = await fetch(next, { redirect: 'manual' });
      const loc = r.headers.get('location');
      if (!loc) throw new Error(`authorization chain stopped at ${next}: ${r.status} ${await r.text()}`);
      await r.body?.cancel();
      next = new URL(loc, next);
    }
    throw new Error('too many redirects');
  }

  takeCode() {
    const c = this.pendingCode;
    this.pendingCode = undefined;
    assert.ok(c, 'redirectToAuthorization produced no code');
    return c;
  }

  get accessToken() { return this._tokens?.access_token; }
}

// A provider that only presents a token it was given (another subject, no authorization flow).
class FixedTokenProvider extends TestProvider {
  constructor(token) {
    super();
    this._tokens = { access_token: token, token_type: 'Bearer' };
    this._client = { client_id: 'svc' };
  }

  async redirectToAuthorization(url) {
    this.authorizationUrls.push(new URL(url));
    throw new Error(`unexpected authorization: ${url}`);
  }
}

// Records every HTTP exchange the SDK makes: method, JSON-RPC method/tool, session header, status.
function recordingFetch(log) {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const headers = new Headers(init?.headers);
    let rpcMethod;
    let tool;
    if (typeof init?.body === 'string') {
      try {
        const m = JSON.parse(init.body);
        rpcMethod = m.method;
        tool = m.params?.name;
      } catch { /* not JSON */ }
    }
    const r = await fetch(input, init);
    const body = r.ok ? undefined : await r.clone().json().catch(() => undefined);
    log.push({
      t: Date.now(),
      method: init?.method ?? 'GET',
      url,
      rpc: rpcMethod,
      tool,
      session: headers.get('mcp-session-id'),
      authorization: headers.get('authorization'),
      status: r.status,
      www: r.headers.get('www-authenticate'),
      error: body?.error,
      description: body?.error_description,
    });
    return r;
  };
}

// Plain fetch() on the same server (lib.mjs rpc), recorded in the same log as the SDK exchanges.
async function plain(method, params, opts = {}) {
  const r = await rpc(jg.url, method, params, opts);
  log.push({
    t: Date.now(),
    method: 'POST',
    url: jg.url,
    rpc: method,
    tool: params?.name,
    session: opts.session ?? null,
    authorization: opts.token ? `Bearer ${opts.token}` : null,
    status: r.status,
    www: r.wwwAuthenticate,
    error: typeof r.body?.error === 'string' ? r.body.error : undefined,
    description: r.body?.error_description,
    raw: true,
  });
  return r;
}

// An SDK client that counts tools/list_changed notifications (with their arrival times).
async function connect(url, provider, log, { sessionId } = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: recordingFetch(log), sessionId });
  const client = new Client({ name: 'jitgate-jit-e2e', version: '0.0.0' }, { capabilities: {} });
  const changes = [];
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => { changes.push(Date.now()); });
  const errors = [];
  await client.connect(transport);
  transport.onerror = (e) => errors.push(e); // background errors (GET stream), kept for diagnostics
  return { client, transport, changes, errors };
}

async function waitFor(what, pred, timeoutMs) {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
  return Date.now() - t0;
}

const toolNames = async (client) => sorted((await client.listTools()).tools.map((t) => t.name));

// ---------------------------------------------------------------------------
let as;
let jg;
let dir;
let policyFile;
let auditFile;
const timings = {};

// Story state.
const provider = new TestProvider();
const log = [];
let A; // the story's SDK client
let sid; // its Mcp-Session-Id
let B; // a second, anonymous SDK session (reload chapter)
const otherTokens = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jitgate-jit-e2e-'));
  policyFile = join(dir, 'policy.yaml');
  auditFile = join(dir, 'audit.jsonl');
  writeFileSync(policyFile, policyYaml());
  as = await startAS();
  jg = await startJitgate({
    issuer: as.issuer,
    requiredScopes: null, // the policy decides
    extra: { clock_skew: 0 }, // expiry exactly at exp, as the session timer sees it
    args: ['--policy', policyFile, '--audit', auditFile],
  });
  // The app registers its client once, with every scope it may need (SDK's registerClient).
  const metadata = await discoverAuthorizationServerMetadata(as.issuer);
  const info = await registerClient(as.issuer, { metadata, clientMetadata: provider.clientMetadata });
  assert.equal(info.scope, 'notes:read notes:admin');
  provider.saveClientInformation(info);
});

after(async () => {
  for (const c of [A, B]) await c?.client.close().catch(() => {});
  await jg?.stop();
  await as?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  process.stderr.write(`jit.test.mjs timings (ms): ${JSON.stringify(timings)}\n`);
});

const own = () => ({ session: sid, token: provider.accessToken });

test('anonymous: the session lists only public tools, and they work', async () => {
  A = await connect(jg.url, provider, log);
  sid = A.transport.sessionId;
  assert.ok(sid, 'no Mcp-Session-Id');
  assert.deepEqual(await toolNames(A.client), [PUBLIC]);
  const r = await A.client.callTool({ name: PUBLIC, arguments: {} });
  assert.equal(r.content[0].text, 'This is a simple text response for testing.');
  assert.ok(log.every((e) => !e.authorization), 'no token was sent yet');
});

test('a signed-in tool without a token: 401 naming its scope; the SDK starts code + PKCE', async () => {
  const mark = log.length;
  await assert.rejects(A.client.callTool({ name: SIGNED_IN[0], arguments: {} }), (e) => e instanceof UnauthorizedError);
  const challenge = log.slice(mark).find((e) => e.status === 401 && e.url === jg.url);
  assert.ok(challenge, 'no 401 from jitgate');
  assert.equal(challenge.www, `Bearer resource_metadata="${jg.prmUrl}", scope="notes:read"`);
  assert.equal(challenge.session, sid);
  // The same with plain fetch on the same session: exact status and header.
  const raw = await plain('tools/call', { name: SIGNED_IN[1], arguments: {} }, { session: sid });
  assert.equal(raw.status, 401);
  assert.equal(raw.wwwAuthenticate, `Bearer resource_metadata="${jg.prmUrl}", scope="notes:read"`);
  // Discovery went PRM -> AS; the authorization request: PKCE S256, resource = jitgate, the challenged scope.
  assert.ok(log.some((e) => e.url === jg.prmUrl && e.status === 200), 'PRM not fetched');
  assert.equal(provider.authorizationUrls.length, 1);
  const u = provider.authorizationUrls[0];
  assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(u.searchParams.get('code_challenge'));
  assert.equal(u.searchParams.get('resource'), jg.resource);
  assert.equal(u.searchParams.get('scope'), 'notes:read');
  assert.equal(u.searchParams.get('client_id'), provider.clientInformation().client_id);
});

test('authorized: the SAME session is upgraded in place, list_changed, the signed-in tools appear', async () => {
  const before = A.changes.length;
  await A.transport.finishAuth(provider.takeCode());
  const claims = decodeJwt(provider.accessToken).payload;
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.scope, 'notes:read');
  assert.equal(claims.aud, jg.resource);
  const mark = log.length;
  const t0 = Date.now();
  const r = await A.client.callTool({ name: SIGNED_IN[0], arguments: {} });
  assert.equal(r.content[0].type, 'image');
  assert.equal(A.transport.sessionId, sid, 'the SDK changed sessions');
  await waitFor('tools/list_changed after sign-in', () => A.changes.length > before, 5000);
  timings.upgradeNotifiedMs = A.changes[before] - t0;
  assert.deepEqual(await toolNames(A.client), sorted([PUBLIC, ...SIGNED_IN]));
  // Every request since carried the token and the same session; no second initialize ever.
  const since = log.slice(mark).filter((e) => e.url === jg.url);
  assert.ok(since.length >= 2);
  for (const e of since) {
    assert.equal(e.session, sid);
    assert.equal(e.authorization, `Bearer ${provider.accessToken}`);
  }
  assert.equal(log.filter((e) => e.rpc === 'initialize').length, 1);
});

test('an elevated tool: 403 naming exactly the missing scope (notes:admin implies notes:read)', async () => {
  const readToken = provider.accessToken;
  // The step-up token is short-lived (the expiry chapter waits for it).
  await as.admin(`/admin/resource?resource=${encodeURIComponent(jg.resource)}&ttl=${TOKEN_TTL}`);
  const mark = log.length;
  await assert.rejects(A.client.callTool({ name: ELEVATED, arguments: {} }), (e) => e instanceof UnauthorizedError);
  const forbidden = log.slice(mark).find((e) => e.status === 403 && e.url === jg.url);
  assert.ok(forbidden, 'no 403 from jitgate');
  const c = parseChallenge(forbidden.www);
  assert.equal(c.scheme, 'Bearer');
  assert.equal(c.params.error, 'insufficient_scope');
  assert.equal(c.params.scope, 'notes:admin');
  assert.equal(c.params.resource_metadata, jg.prmUrl);
  // Plain fetch, same session, same token: exact status and parameters.
  const raw = await plain('tools/call', { name: ELEVATED, arguments: {} }, { session: sid, token: readToken });
  assert.equal(raw.status, 403);
  assert.equal(raw.wwwAuthenticate, forbidden.www);
  const { error_description: _desc, ...params } = parseChallenge(raw.wwwAuthenticate).params;
  assert.deepEqual(params, { error: 'insufficient_scope', scope: 'notes:admin', resource_metadata: jg.prmUrl });
  // The SDK asked for the challenged scope (1.32.2 replaces its scope, no union) for the same client.
  const u = provider.authorizationUrls.at(-1);
  assert.equal(provider.authorizationUrls.length, 2);
  assert.equal(u.searchParams.get('scope'), 'notes:admin');
  assert.equal(u.searchParams.get('resource'), jg.resource);
});

let stepUpExp;

test('step up: the elevated tool works, on the same session, with another list_changed', async () => {
  const before = A.changes.length;
  await A.transport.finishAuth(provider.takeCode());
  const claims = decodeJwt(provider.accessToken).payload;
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.scope, 'notes:admin');
  assert.equal(claims.exp - claims.iat, TOKEN_TTL);
  stepUpExp = claims.exp;
  const r = await A.client.callTool({ name: ELEVATED, arguments: {} });
  assert.notEqual(r.isError, true);
  assert.equal(r.content[0].type, 'resource');
  assert.equal(r.content[0].resource.text, 'This is an embedded resource content.');
  assert.equal(A.transport.sessionId, sid);
  await waitFor('tools/list_changed after step-up', () => A.changes.length > before, 5000);
  assert.deepEqual(await toolNames(A.client), sorted([PUBLIC, ...SIGNED_IN, ELEVATED]));
  // The signed-in tools still work with the notes:admin-only token (the hierarchy).
  assert.equal((await A.client.callTool({ name: SIGNED_IN[0], arguments: {} })).content[0].type, 'image');
  assert.ok(Date.now() / 1000 < stepUpExp - 1, `the story was too slow for a ${TOKEN_TTL} s token`);
});

test('the token expires: list_changed at expiry, the tools are gone', async () => {
  const expiredToken = provider.accessToken;
  const before = A.changes.length;
  await as.admin(`/admin/resource?resource=${encodeURIComponent(jg.resource)}&reset=1`); // later tokens: 3600 s
  // Exact statuses with plain fetch. Failures are collected and reported at the end of this
  // chapter, so that the story goes on. First, within the very second of exp (exp is exclusive,
  // RFC 7519, and the verifier says so): the expired token, used before, must be refused.
  const problems = [];
  const expect = (what, got, want) => { if (got !== want) problems.push(`${what}: got ${got}, expected ${want}`); };
  await sleep(Math.max(0, stepUpExp * 1000 + 50 - Date.now()));
  const sentAt = Date.now();
  let raw = await plain('tools/call', { name: ELEVATED, arguments: {} }, { session: sid, token: expiredToken });
  expect(`tools/call with the token ${sentAt - stepUpExp * 1000} ms after its exp`, raw.status, 401);
  if (raw.status === 401) expect('its challenge error', parseChallenge(raw.wwwAuthenticate).params.error, 'invalid_token');
  // The session timer notices the expiry (1 s tick) and sends list_changed on the GET stream.
  await waitFor('tools/list_changed at token expiry', () => A.changes.length > before, (stepUpExp + 4) * 1000 - Date.now());
  const at = A.changes[before];
  timings.expiryNoticedAfterExpMs = at - stepUpExp * 1000;
  assert.ok(at >= stepUpExp * 1000, `list_changed ${stepUpExp * 1000 - at} ms before exp`);
  raw = await plain('tools/call', { name: PUBLIC, arguments: {} }, { session: sid });
  expect('tools/call without a token on the bound session', raw.status, 401);
  // The SDK: listing with the expired token -> 401 -> it re-authorizes (code + PKCE again).
  // (Past the second of exp, so that this part does not depend on the problem above.)
  await sleep(Math.max(0, (stepUpExp + 1) * 1000 + 100 - Date.now()));
  raw = await plain('tools/list', {}, { session: sid, token: expiredToken });
  expect('tools/list with the expired token', raw.status, 401);
  const n = provider.authorizationUrls.length;
  const mark = log.length;
  await assert.rejects(A.client.listTools(), (e) => e instanceof UnauthorizedError);
  const refused = log.slice(mark).find((e) => e.url === jg.url && e.rpc === 'tools/list');
  assert.equal(refused?.status, 401);
  assert.equal(parseChallenge(refused.www).params.error, 'invalid_token');
  assert.equal(provider.authorizationUrls.length, n + 1);
  await A.transport.finishAuth(provider.takeCode());
  const claims = decodeJwt(provider.accessToken).payload;
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.scope, 'notes:read'); // no scope in the expiry challenge: PRM scopes_supported
  // Same session; the elevated tool is gone from the list.
  assert.deepEqual(await toolNames(A.client), sorted([PUBLIC, ...SIGNED_IN]));
  assert.equal(A.transport.sessionId, sid);
  assert.deepEqual(problems, []);
});

test('policy reload: only the session whose view changed gets list_changed', async () => {
  B = await connect(jg.url, undefined, log);
  assert.notEqual(B.transport.sessionId, sid);
  assert.deepEqual(await toolNames(B.client), [PUBLIC]);
  await sleep(300); // let any notification for A's re-sign-in arrive before the baseline
  const beforeA = A.changes.length;
  const beforeB = B.changes.length;
  const t0 = Date.now();
  writeFileSync(policyFile, policyYaml({ moved: true }));
  await waitFor('tools/list_changed on the signed-in session after the reload', () => A.changes.length > beforeA, 5000);
  timings.reloadNotifiedMs = Date.now() - t0;
  await sleep(2000);
  assert.equal(B.changes.length, beforeB, 'the anonymous session, whose view did not change, was notified');
  assert.deepEqual(await toolNames(A.client), sorted([PUBLIC, ...SIGNED_IN.filter((t) => t !== MOVED)]));
  assert.deepEqual(await toolNames(B.client), [PUBLIC]);
  // The moved tool now needs notes:admin: exactly that scope is named.
  const raw = await plain('tools/call', { name: MOVED, arguments: {} }, own());
  assert.equal(raw.status, 403);
  assert.equal(parseChallenge(raw.wwwAuthenticate).params.scope, 'notes:admin');
  assert.equal(parseChallenge(raw.wwwAuthenticate).params.error, 'insufficient_scope');
  assert.equal(B.transport.sessionId === sid, false);
});

test("another subject's token on the bound session is refused (403)", async () => {
  const other = await mintToken(as.issuer, { resource: jg.resource, scope: 'notes:read notes:admin' });
  otherTokens.push(other);
  assert.notEqual(decodeJwt(other).payload.sub, 'alice');
  // Through the SDK: a client resuming the story's session id with its own token.
  const M = await connect(jg.url, new FixedTokenProvider(other), log, { sessionId: sid });
  const mark = log.length;
  await assert.rejects(M.client.callTool({ name: PUBLIC, arguments: {} }), (e) => e instanceof StreamableHTTPError && e.code === 403);
  const refused = log.slice(mark).find((e) => e.url === jg.url && e.rpc === 'tools/call');
  assert.equal(refused.status, 403);
  assert.equal(refused.session, sid);
  await M.client.close();
  // Plain fetch: exact status and body.
  const raw = await plain('tools/call', { name: PUBLIC, arguments: {} }, { session: sid, token: other });
  assert.equal(raw.status, 403);
  assert.match(JSON.stringify(raw.body), /another subject/);
  // The session is still its owner's.
  assert.equal((await A.client.callTool({ name: PUBLIC, arguments: {} })).content[0].text, 'This is a simple text response for testing.');
});

test('/metrics shows the challenges; the audit file has a line per decision and no token', async () => {
  const m = await (await fetch(`${jg.base}/metrics`)).text();
  const metrics = (name) => {
    const out = {};
    for (const [, labels, v] of m.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) out[labels] = Number(v);
    return out;
  };
  // Every refusal the clients saw, by status and kind: policy challenges (authenticate,
  // insufficient_scope), invalid tokens, refusals on the bound session (forbidden / invalid_token).
  const refusals = {};
  for (const e of log) {
    if (e.url !== jg.url || e.status < 400) continue;
    const c = parseChallenge(e.www)?.params ?? {};
    let kind;
    if (/^this session /.test(e.description ?? '')) kind = e.error ?? 'authenticate';
    else if (e.status === 401) kind = c.error ?? 'authenticate';
    else kind = c.error ?? e.error;
    const k = `status="${e.status}",kind="${kind}"`;
    refusals[k] = (refusals[k] ?? 0) + 1;
  }
  assert.deepEqual(metrics('jitgate_challenges_total'), refusals);
  assert.ok(refusals['status="401",kind="authenticate"'] >= 2);
  assert.ok(refusals['status="403",kind="insufficient_scope"'] >= 3);
  assert.ok(refusals['status="403",kind="forbidden"'] >= 2);
  assert.deepEqual(metrics('jitgate_session_refusals_total'),
    { 'reason="session-bound-to-another-subject"': 2, 'reason="session-needs-its-token"': 1 });
  const decisionsMetric = metrics('jitgate_policy_decisions_total');

  await jg.stop(); // flushes the audit writer
  const text = readFileSync(auditFile, 'utf8');
  const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const secrets = [...provider.savedTokens.map((t) => t.access_token), ...otherTokens];
  for (const s of secrets) assert.ok(!text.includes(s), 'an access token in the audit log');
  assert.ok(!text.includes(sid), 'a raw session id in the audit log');
  // A line per decision, in order: what the server must have decided for every tools/list and
  // tools/call the clients sent (SDK and plain fetch), derived from what they got back. A token
  // refused as invalid (401 invalid_token) is no policy decision; a refusal on a bound session
  // is one (method "session").
  const subjectOf = (authz) => (authz ? decodeJwt(authz.replace(/^Bearer /, '')).payload.sub : null);
  const expected = [];
  for (const e of log) {
    if (e.url !== jg.url || !['tools/list', 'tools/call'].includes(e.rpc)) continue;
    if (e.status === 401 && parseChallenge(e.www)?.params.error === 'invalid_token') continue;
    const subject = subjectOf(e.authorization);
    if (/^this session /.test(e.description ?? '')) {
      expected.push({ method: 'session', decision: 'deny', subject });
    } else if (e.rpc === 'tools/list') {
      expected.push({ method: 'tools/list', decision: 'filtered', subject });
    } else {
      expected.push({ method: 'tools/call', decision: e.status === 200 ? 'allow' : 'deny', primitive: e.tool, subject });
    }
  }
  const got = lines.map((l) => ({ method: l.method, decision: l.decision, ...(l.method === 'tools/call' ? { primitive: l.primitive } : {}), subject: l.subject }));
  assert.deepEqual(got, expected);
  for (const l of lines) {
    assert.equal(l.session.length, 12, 'session ids are hashed');
    if (l.subject) assert.match(l.token_hash, /^[0-9a-f]{12}$/);
    if (l.decision === 'deny' && l.method === 'tools/call') assert.ok(l.missing_scopes.length === 1, JSON.stringify(l));
  }
  // The metrics count the same decisions as the audit file.
  const decisions = {};
  for (const l of lines.filter((x) => x.method === 'tools/call')) {
    const k = `rule="${l.rule}",outcome="${l.decision}"`;
    decisions[k] = (decisions[k] ?? 0) + 1;
  }
  assert.deepEqual(decisionsMetric, decisions);
  const has = (pred, what) => assert.ok(lines.some(pred), `no audit line for ${what}`);
  has((l) => l.decision === 'allow' && l.rule === 'public' && l.primitive === PUBLIC && l.subject === null, 'anonymous public call');
  has((l) => l.decision === 'deny' && l.primitive === SIGNED_IN[0] && l.subject === null && l.missing_scopes.includes('notes:read'), 'the 401');
  has((l) => l.decision === 'allow' && l.rule === 'signed-in' && l.subject === 'alice', 'the signed-in call');
  has((l) => l.decision === 'deny' && l.primitive === ELEVATED && l.subject === 'alice' && l.missing_scopes.join(' ') === 'notes:admin', 'the 403');
  has((l) => l.decision === 'allow' && l.rule === 'elevated' && l.subject === 'alice', 'the elevated call');
  has((l) => l.rule === 'session-bound-to-another-subject', 'the other subject');
  has((l) => l.decision === 'filtered' && l.method === 'tools/list', 'a filtered list');
});
