// Shared helpers for jitgate's OAuth resource-server integration tests (node:test, Node 22).
//
// Each test file starts its own test authorization server (as.mjs) and its own
// conformance-server(s) with --auth-config, and stops them in an after() hook.
//
// Environment:
//   CONFORMANCE_SERVER  server binary (default <repo>/build/bin/conformance-server)
//   JITGATE_TRACE=1     copy the servers' stderr to this process's stderr

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, '../../..');
export const SERVER = process.env.CONFORMANCE_SERVER || join(REPO, 'build/bin/conformance-server');
export const TRACE = process.env.JITGATE_TRACE === '1';
export const PROTOCOL_VERSION = '2025-11-25';

const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

// Children also get SIGTERM if this test process dies without running its hooks
// (util-linux setpriv sets PR_SET_PDEATHSIG, kept across exec).
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

// Spawns a process and resolves with its first stdout line (or rejects on early exit / timeout).
export async function spawnUntilFirstLine(cmd, args, { env, name, timeoutMs = 15000 } = {}) {
  if (SETPRIV) [cmd, args] = [SETPRIV, ['--pdeathsig', 'TERM', '--', cmd, ...args]];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
    if (TRACE) process.stderr.write(`[${name}] ${d}`);
  });
  const exited = new Promise((res) => child.once('exit', (code, sig) => { children.delete(child); res({ code, sig }); }));
  const lines = createInterface({ input: child.stdout });
  const first = once(lines, 'line').then(([l]) => l);
  let timer;
  const timeout = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${name}: no output within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs); });
  try {
    const line = await Promise.race([
      first,
      exited.then(({ code, sig }) => { throw new Error(`${name} exited (${code ?? sig}) before it was ready; stderr:\n${stderr}`); }),
      timeout,
    ]);
    return {
      child,
      line,
      exited,
      stderr: () => stderr,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      },
    };
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// Test authorization server.
export async function startAS(env = {}) {
  const p = await spawnUntilFirstLine(process.execPath, [join(HERE, 'as.mjs'), '0'], { env, name: 'as' });
  const { issuer } = JSON.parse(p.line);
  const admin = async (path, method = 'POST') => {
    const r = await fetch(`${issuer}${path}`, { method });
    if (r.status !== 200) throw new Error(`admin ${path}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  return { ...p, issuer, admin, state: () => admin('/admin/state', 'GET') };
}

// client_credentials token from the `svc` client.
export async function mintToken(issuer, { resource, scope } = {}) {
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  if (resource) body.set('resource', resource);
  if (scope) body.set('scope', scope);
  const r = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('svc:svc-secret').toString('base64')}` },
    body,
  });
  const j = await r.json();
  if (r.status !== 200 || !j.access_token) throw new Error(`token request failed: ${r.status} ${JSON.stringify(j)}`);
  return j.access_token;
}

export function decodeJwt(token) {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
}

export const isJwt = (t) => t.split('.').length === 3;

// ---------------------------------------------------------------------------
// jitgate (conformance-server with --auth-config).

// A free TCP port: listen on 0, read the number, close. The config must name the
// resource URI (with the port) before the server starts.
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

export const RS_SCOPES = {
  'tools/list': ['notes:read'],
  'tools/call': ['notes:read'],
  'tools/call:test_error_handling': ['notes:read', 'notes:write'],
};

// Builds the YAML config. JSON is YAML, so every value is emitted with JSON.stringify.
// `requiredScopes: null` leaves required_scopes out (a --policy decides instead).
export function authConfigYaml({ resource, issuer, introspection, jwt = { algorithms: ['ES256', 'RS256'] }, jwks, extra = {}, requiredScopes = RS_SCOPES }) {
  const j = JSON.stringify;
  const lines = [
    `resource: ${j(resource)}`,
    'resource_name: Conformance',
    'scopes_supported: [notes:read]',
    'authorization_servers:',
    `  - issuer: ${j(issuer)}`,
  ];
  if (jwt) lines.push(`    jwt: ${j(jwt)}`);
  if (introspection) {
    lines.push('    introspection:');
    for (const [k, v] of Object.entries(introspection)) lines.push(`      ${k}: ${j(v)}`);
  }
  const jw = { min_ttl: 1, max_ttl: 60, refetch_interval: 0, max_stale: 3600, ...jwks };
  lines.push(`jwks: ${j(jw)}`);
  for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${j(v)}`);
  if (requiredScopes) {
    lines.push('required_scopes:');
    for (const [k, v] of Object.entries(requiredScopes)) lines.push(`  ${j(k)}: ${j(v)}`);
  }
  return `${lines.join('\n')}\n`;
}

// Starts jitgate on a pre-picked port with the config built from `opts` (see authConfigYaml).
// `args`: extra command-line arguments (e.g. --policy FILE --audit FILE).
// Returns { url, base, resource, prmUrl, stop, stderr }.
export async function startJitgate({ args = [], ...opts } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'jitgate-oauth-'));
  // The port may be taken between close and bind by someone else: retry a few times.
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const resource = `${base}/mcp`;
    const file = join(dir, 'auth.yaml');
    writeFileSync(file, authConfigYaml({ resource, ...opts }));
    try {
      const p = await spawnUntilFirstLine(SERVER, ['--port', String(port), '--auth-config', file, ...args], { name: `jitgate:${port}` });
      if (p.line.trim() !== resource) {
        await p.stop();
        throw new Error(`jitgate printed ${JSON.stringify(p.line)}, expected ${resource}`);
      }
      return {
        ...p,
        port,
        base,
        url: resource,
        resource,
        prmUrl: `${base}/.well-known/oauth-protected-resource/mcp`,
        async stop() { await p.stop(); rmSync(dir, { recursive: true, force: true }); },
      };
    } catch (e) {
      lastErr = e;
      if (!/address already in use|bind/i.test(String(e.message))) break;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastErr;
}

// ---------------------------------------------------------------------------
// Raw MCP over Streamable HTTP.

async function readRpcBody(r) {
  const text = await r.text();
  const ct = r.headers.get('content-type') ?? '';
  if (!text) return undefined;
  if (ct.startsWith('text/event-stream')) {
    // The last `data:` event that is a JSON-RPC response.
    let found;
    for (const block of text.split(/\r?\n\r?\n/)) {
      const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (!data) continue;
      try {
        const m = JSON.parse(data);
        if (m && ('result' in m || 'error' in m)) found = m;
      } catch { /* ignore */ }
    }
    return found;
  }
  try { return JSON.parse(text); } catch { return text; }
}

let nextId = 1;

// One JSON-RPC request; returns { status, headers, wwwAuthenticate, body }.
export async function rpc(url, method, params, { token, session, notification = false, authorization } = {}) {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': PROTOCOL_VERSION,
  };
  if (authorization !== undefined) headers.authorization = authorization;
  else if (token) headers.authorization = `Bearer ${token}`;
  if (session) headers['mcp-session-id'] = session;
  const msg = { jsonrpc: '2.0', method };
  if (params !== undefined) msg.params = params;
  if (!notification) msg.id = nextId++;
  const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify(msg) });
  const body = await readRpcBody(r);
  return { status: r.status, headers: r.headers, wwwAuthenticate: r.headers.get('www-authenticate'), body };
}

// initialize + notifications/initialized; returns the session id. `token` optional (initialize is public).
export async function initSession(url, token) {
  const r = await rpc(url, 'initialize', {
    protocolVersion: PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'jitgate-oauth-it', version: '0.0.0' },
  }, { token });
  if (r.status !== 200 || !r.body?.result) throw new Error(`initialize: ${r.status} ${JSON.stringify(r.body)}`);
  const session = r.headers.get('mcp-session-id');
  if (!session) throw new Error('initialize: no Mcp-Session-Id');
  const n = await rpc(url, 'notifications/initialized', undefined, { token, session, notification: true });
  if (n.status !== 202) throw new Error(`notifications/initialized: ${n.status}`);
  return session;
}

// Parses `Bearer k="v", k2="v2"` into { scheme, params }.
export function parseChallenge(h) {
  if (!h) return undefined;
  const m = /^(\S+)\s*(.*)$/s.exec(h);
  const params = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?\s*/gy;
  re.lastIndex = 0;
  const rest = m[2];
  let mm;
  while ((mm = re.exec(rest))) params[mm[1]] = mm[2] !== undefined ? mm[2].replace(/\\(.)/g, '$1') : mm[3];
  return { scheme: m[1], params };
}
