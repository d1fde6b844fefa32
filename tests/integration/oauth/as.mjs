#!/usr/bin/env node
// Test-only OAuth 2.1 authorization server for jitgate integration tests.
// Built on oidc-provider (pinned in package.json). NOT FOR PRODUCTION USE:
// plain-http issuer, no real login, auto-consent, unauthenticated /admin routes.
//
// Usage: node as.mjs [port]        (port 0 / omitted = ephemeral)
// First stdout line: {"issuer":"http://127.0.0.1:<port>"}; runs until SIGTERM/SIGINT.
// See README.md for routes.

import crypto from 'node:crypto';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

// ---------------------------------------------------------------------------
// stdout must carry exactly one line (the issuer JSON). oidc-provider prints
// NOTICEs via console.info, so route every console method to stderr.
for (const m of ['log', 'info', 'debug', 'warn']) {
  console[m] = (...args) => process.stderr.write(`${args.map(String).join(' ')}\n`);
}

const HOST = '127.0.0.1';
const portArg = process.argv[2] ?? process.env.AS_PORT ?? '0';
const PORT = Number.parseInt(portArg, 10);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  process.stderr.write(`as.mjs: invalid port ${JSON.stringify(portArg)}\n`);
  process.exit(2);
}

const ACCOUNT = 'alice';
const RS_SCOPES = ['notes:read', 'notes:write', 'notes:admin',
  ...(process.env.AS_EXTRA_SCOPES ?? '').split(/\s+/).filter(Boolean)];
const OIDC_SCOPES = ['openid', 'offline_access'];
const DEFAULT_AT_ALG = process.env.AS_AT_ALG ?? 'ES256'; // ES256 | RS256
const DEFAULT_AT_TTL = Number.parseInt(process.env.AS_AT_TTL ?? '3600', 10);
const COOKIELESS = process.env.AS_COOKIELESS !== '0';
// oidc-provider accepts client_secret_basic and client_secret_post
// interchangeably; by default we enforce the registered method (so tests can
// tell which one jitgate used). AS_STRICT_CLIENT_AUTH=0 restores leniency.
const STRICT_CLIENT_AUTH = process.env.AS_STRICT_CLIENT_AUTH !== '0';
// RFC 6749 3.3 default scope for GET /auth requests that carry no `scope` at all
// (oidc-provider would otherwise answer access_denied). Empty string disables.
const DEFAULT_SCOPE = process.env.AS_DEFAULT_SCOPE ?? 'notes:read';

// ---------------------------------------------------------------------------
// Mutable test state (changed through /admin routes).
const state = {
  jwksDown: false,
  introspectionDown: false,
  // resource URI -> { format: 'jwt'|'opaque', alg, ttl }; '*' = default for loopback resources
  resources: new Map([
    ['*', { format: 'jwt', alg: DEFAULT_AT_ALG, ttl: DEFAULT_AT_TTL }],
    // Fixed opaque-token resource server (introspection-only audience).
    ['http://opaque.test/mcp', { format: 'opaque', alg: DEFAULT_AT_ALG, ttl: DEFAULT_AT_TTL }],
  ]),
  keys: [], // private JWKs, first key per alg signs
  generation: 0,
};

function newKeys() {
  state.generation += 1;
  const stamp = `${Date.now().toString(36)}-${state.generation}`;
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return [
    { ...ec, kid: `es256-${stamp}`, alg: 'ES256', use: 'sig' },
    { ...rsa, kid: `rs256-${stamp}`, alg: 'RS256', use: 'sig' },
  ];
}

// ---------------------------------------------------------------------------
// In-memory adapter shared by every Provider instance (so that tokens, grants,
// sessions, interactions and dynamically registered clients survive a key
// rotation, which swaps the Provider). No LRU eviction (oidc-provider's
// built-in MemoryAdapter caps at 1000 entries).
const store = new Map(); // "Model:id" -> { payload, exp }
const grantIndex = new Map(); // grantId -> Set("Model:id")
const uidIndex = new Map(); // "Model:uid" -> id
const userCodeIndex = new Map(); // "Model:userCode" -> id

class SharedMemoryAdapter {
  constructor(name) { this.name = name; }

  key(id) { return `${this.name}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const exp = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    store.set(key, { payload: structuredClone(payload), exp });
    if (payload.grantId) {
      if (!grantIndex.has(payload.grantId)) grantIndex.set(payload.grantId, new Set());
      grantIndex.get(payload.grantId).add(key);
    }
    if (payload.uid) uidIndex.set(this.key(payload.uid), id);
    if (payload.userCode) userCodeIndex.set(this.key(payload.userCode), id);
  }

  async find(id) {
    const key = this.key(id);
    const e = store.get(key);
    if (!e) return undefined;
    if (e.exp !== undefined && e.exp <= Date.now()) { store.delete(key); return undefined; }
    return structuredClone(e.payload);
  }

  async findByUid(uid) {
    const id = uidIndex.get(this.key(uid));
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = userCodeIndex.get(this.key(userCode));
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const e = store.get(this.key(id));
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const key of grantIndex.get(grantId) ?? []) store.delete(key);
    grantIndex.delete(grantId);
  }
}

// ---------------------------------------------------------------------------
function isLoopbackResource(uri) {
  let u;
  try { u = new URL(uri); } catch { return false; }
  return (u.protocol === 'http:' || u.protocol === 'https:')
    && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) && !u.hash;
}

function resourceConfig(uri) {
  if (state.resources.has(uri)) return { ...state.resources.get('*'), ...state.resources.get(uri) };
  if (isLoopbackResource(uri)) return state.resources.get('*');
  return undefined;
}

function makeConfiguration() {
  return {
    adapter: SharedMemoryAdapter,
    clients: [
      // Resource-server clients for token introspection (jitgate).
      {
        client_id: 'jitgate-rs', client_secret: 'jitgate-rs-secret',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: [], response_types: [], redirect_uris: [],
      },
      {
        client_id: 'jitgate-rs-post', client_secret: 'jitgate-rs-post-secret',
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: [], response_types: [], redirect_uris: [],
      },
      // Machine client: mint tokens without a browser.
      {
        client_id: 'svc', client_secret: 'svc-secret',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
      },
      // Convenience public client (no DCR needed). Native + 127.0.0.1 loopback
      // redirect => any port is accepted (RFC 8252 7.3).
      {
        client_id: 'test-public', application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/callback', 'http://localhost/callback'],
      },
    ],
    responseTypes: ['code'], // OAuth 2.1: no implicit / hybrid
    scopes: [...OIDC_SCOPES, ...RS_SCOPES],
    claims: { openid: ['sub'] },
    jwks: { keys: state.keys },
    cookies: { keys: ['jitgate-test-as-cookie-key'] },
    findAccount: async (_ctx, sub) => ({ accountId: sub, async claims() { return { sub }; } }),
    pkce: { required: () => true }, // OAuth 2.1: PKCE for every code flow (S256 only in oidc-provider 9)
    // Refresh tokens whenever the client is allowed the refresh_token grant
    // (oidc-provider drops offline_access unless prompt=consent).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true, initialAccessToken: false },
      introspection: {
        enabled: true,
        // Any confidential client may introspect any token; public clients only their own.
        allowedPolicy: async (ctx, client, token) => !(client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client.clientId),
      },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        // Token request without `resource` after an authorization request with
        // exactly one `resource` => token for that resource.
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          const cfg = resourceConfig(resourceIndicator);
          if (!cfg) throw new errors.InvalidTarget(`resource ${resourceIndicator} is not known to this test AS`);
          const info = {
            scope: RS_SCOPES.join(' '),
            audience: resourceIndicator,
            accessTokenTTL: cfg.ttl,
            accessTokenFormat: cfg.format,
          };
          if (cfg.format === 'jwt') info.jwt = { sign: { alg: cfg.alg } };
          return info;
        },
      },
    },
    ttl: {
      // Functions, not numbers: a number would override the per-resource
      // accessTokenTTL (getResourceServerInfo, /admin/resource?ttl=).
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL || DEFAULT_AT_TTL,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL || DEFAULT_AT_TTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 24 * 3600,
      Interaction: 600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

let issuer;
let provider; // current Provider; replaced on key rotation
let providerHandler;

function buildProvider() {
  const p = new Provider(issuer, makeConfiguration());
  if (STRICT_CLIENT_AUTH) {
    p.use(async (ctx, next) => {
      await next();
      const client = ctx.oidc?.client;
      const registered = client?.clientAuthMethod;
      if (!['client_secret_basic', 'client_secret_post'].includes(registered)) return;
      if (!['introspection', 'token', 'revocation'].includes(ctx.oidc?.route)) return;
      const used = /^basic /i.test(ctx.get('authorization')) ? 'client_secret_basic' : 'client_secret_post';
      if (used !== registered) {
        ctx.status = 401;
        ctx.set('www-authenticate', 'Basic realm="test-as"');
        ctx.body = {
          error: 'invalid_client',
          error_description: `client ${client.clientId} is registered with ${registered} but authenticated with ${used}`,
        };
      }
    });
  }
  p.on('server_error', (_ctx, err) => process.stderr.write(`as.mjs server_error: ${err?.stack ?? err}\n`));
  provider = p;
  providerHandler = p.callback();
}

// ---------------------------------------------------------------------------
// Cookie-less interaction support: oidc-provider ties the /interaction/<uid>
// and /auth/<uid> (resume) steps to cookies. Test clients that follow
// redirects with plain fetch() have no cookie jar, so we remember the cookies
// the provider set for each interaction uid and inject them when the client
// does not send them. Disable with AS_COOKIELESS=0.
const cookieJar = new Map(); // uid -> { t, cookies: Map(name -> value) }
const UID_RE = /\/(?:interaction|auth)\/([A-Za-z0-9_-]+)(?:[/?#]|$)/;

function captureCookies(res) {
  const origEnd = res.end;
  res.end = function end(...args) {
    try {
      const loc = res.getHeader('location');
      let setCookie = res.getHeader('set-cookie');
      const m = typeof loc === 'string' ? UID_RE.exec(loc) : null;
      if (m && setCookie) {
        if (!Array.isArray(setCookie)) setCookie = [setCookie];
        const entry = cookieJar.get(m[1]) ?? { cookies: new Map() };
        entry.t = Date.now();
        for (const c of setCookie) {
          const pair = String(c).split(';', 1)[0];
          const i = pair.indexOf('=');
          if (i <= 0) continue;
          const name = pair.slice(0, i).trim();
          const value = pair.slice(i + 1).trim();
          if (!value || /expires=Thu, 01 Jan 1970/i.test(c)) entry.cookies.delete(name);
          else entry.cookies.set(name, value);
        }
        cookieJar.set(m[1], entry);
      }
      const cutoff = Date.now() - 15 * 60 * 1000;
      for (const [k, v] of cookieJar) if (v.t < cutoff) cookieJar.delete(k);
    } catch { /* best effort */ }
    return origEnd.apply(this, args);
  };
}

function injectCookies(req, pathname) {
  const m = UID_RE.exec(pathname);
  if (!m) return;
  const entry = cookieJar.get(m[1]);
  if (!entry) return;
  const have = new Set((req.headers.cookie ?? '').split(';').map((s) => s.split('=', 1)[0].trim()).filter(Boolean));
  const add = [...entry.cookies].filter(([n]) => !have.has(n)).map(([n, v]) => `${n}=${v}`);
  if (add.length) req.headers.cookie = [req.headers.cookie, ...add].filter(Boolean).join('; ');
}

// ---------------------------------------------------------------------------
// Interaction endpoint: auto-login `alice` and auto-consent to exactly what
// was requested (scopes + resource indicators).
function asList(v) {
  if (v === undefined || v === null || v === '') return [];
  return Array.isArray(v) ? v : [v];
}

async function handleInteraction(req, res) {
  const p = provider;
  let details;
  try {
    details = await p.interactionDetails(req, res);
  } catch (err) {
    return sendJson(res, 400, { error: 'interaction_failed', error_description: String(err?.error_description ?? err?.message ?? err) });
  }
  const { prompt, params } = details;
  const clientId = params.client_id;

  let grant = details.grantId ? await p.Grant.find(details.grantId) : undefined;
  if (!grant) grant = new p.Grant({ accountId: ACCOUNT, clientId });

  const requested = (params.scope ?? '').split(' ').filter(Boolean);
  const oidcScopes = requested.filter((s) => OIDC_SCOPES.includes(s) || RS_SCOPES.includes(s));
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
  const rsScopes = requested.filter((s) => RS_SCOPES.includes(s));
  for (const r of asList(params.resource)) grant.addResourceScope(r, rsScopes.join(' '));

  // Whatever the consent prompt still reports missing (e.g. claims) is granted too.
  const d = prompt?.details ?? {};
  if (d.missingOIDCScope?.length) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims?.length) grant.addOIDCClaims(d.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();

  const result = { consent: { grantId } };
  if (prompt?.name === 'login' || !details.session) result.login = { accountId: ACCOUNT };
  try {
    await p.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  } catch (err) {
    if (!res.headersSent) sendJson(res, 400, { error: 'interaction_failed', error_description: String(err?.message ?? err) });
  }
  return undefined;
}

// ---------------------------------------------------------------------------
function sendJson(res, status, body) {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

function flag(v) { return v === '1' || v === 'true' || v === 'yes'; }

function adminState() {
  return {
    issuer,
    ready: !!provider,
    jwksDown: state.jwksDown,
    introspectionDown: state.introspectionDown,
    signingKids: Object.fromEntries(['ES256', 'RS256'].map((alg) => [alg, state.keys.find((k) => k.alg === alg)?.kid])),
    jwksKids: state.keys.map((k) => k.kid),
    resources: Object.fromEntries(state.resources),
  };
}

function handleAdmin(req, res, url) {
  const q = url.searchParams;
  switch (url.pathname) {
    case '/admin/state':
      return sendJson(res, 200, adminState());
    case '/admin/rotate': {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
      const keepOld = q.has('keepOld') ? flag(q.get('keepOld')) : true;
      const fresh = newKeys();
      // New keys first: oidc-provider signs with the first matching key per alg.
      state.keys = keepOld ? [...fresh, ...state.keys] : fresh;
      buildProvider();
      return sendJson(res, 200, { rotated: true, keepOld, ...adminState() });
    }
    case '/admin/jwks':
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
      state.jwksDown = flag(q.get('down') ?? '1');
      return sendJson(res, 200, adminState());
    case '/admin/introspection':
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
      state.introspectionDown = flag(q.get('down') ?? '1');
      return sendJson(res, 200, adminState());
    case '/admin/resource': {
      // POST /admin/resource?resource=<uri|*>&format=jwt|opaque&alg=ES256|RS256&ttl=<sec>
      // POST /admin/resource?resource=<uri>&reset=1  (drop override)
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
      const resource = q.get('resource') ?? '*';
      if (flag(q.get('reset') ?? '0') && resource !== '*') {
        state.resources.delete(resource);
        return sendJson(res, 200, adminState());
      }
      const cur = { ...(state.resources.get(resource) ?? {}) };
      if (q.has('format')) {
        if (!['jwt', 'opaque'].includes(q.get('format'))) return sendJson(res, 400, { error: 'format must be jwt or opaque' });
        cur.format = q.get('format');
      }
      if (q.has('alg')) {
        if (!['ES256', 'RS256'].includes(q.get('alg'))) return sendJson(res, 400, { error: 'alg must be ES256 or RS256' });
        cur.alg = q.get('alg');
      }
      if (q.has('ttl')) {
        const ttl = Number.parseInt(q.get('ttl'), 10);
        if (!(ttl > 0)) return sendJson(res, 400, { error: 'ttl must be a positive integer' });
        cur.ttl = ttl;
      }
      state.resources.set(resource, cur);
      return sendJson(res, 200, adminState());
    }
    default:
      return sendJson(res, 404, { error: 'unknown admin route' });
  }
}

function faultPath(pathname) {
  if (state.jwksDown && pathname === '/jwks') return true;
  if (state.introspectionDown && pathname === '/token/introspection') return true;
  return false;
}

async function onRequest(req, res) {
  let url;
  try { url = new URL(req.url, issuer); } catch { return sendJson(res, 400, { error: 'bad url' }); }
  const { pathname } = url;

  if (pathname.startsWith('/admin/')) return handleAdmin(req, res, url);
  if (!provider) return sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'starting' });
  if (faultPath(pathname)) {
    return sendJson(res, 503, { error: 'temporarily_unavailable', error_description: `${pathname} is down (test fault injection)` });
  }

  if (COOKIELESS) {
    injectCookies(req, pathname);
    captureCookies(res);
  }

  if (DEFAULT_SCOPE && pathname === '/auth' && req.method === 'GET' && !url.searchParams.has('scope')) {
    url.searchParams.set('scope', DEFAULT_SCOPE);
    req.url = url.pathname + url.search;
  }

  if (/^\/interaction\/[A-Za-z0-9_-]+\/?$/.test(pathname) && (req.method === 'GET' || req.method === 'POST')) {
    return handleInteraction(req, res);
  }
  return providerHandler(req, res);
}

// ---------------------------------------------------------------------------
const server = http.createServer((req, res) => {
  onRequest(req, res).catch((err) => {
    process.stderr.write(`as.mjs: unhandled ${err?.stack ?? err}\n`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    else res.destroy();
  });
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  issuer = `http://${HOST}:${port}`;
  state.keys = newKeys();
  buildProvider();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

server.on('error', (err) => {
  process.stderr.write(`as.mjs: ${err.message}\n`);
  process.exit(1);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
