// Helpers for the tests that run against `jitgate demo` (tests/integration/demo, tests/browser):
// start the demo on free ports and read its printed URLs, and play the user agent on the
// development authorization server's login and consent pages over plain HTTP
// (src/devauth/README.md, "Driving the login and consent pages").
//
// Environment:
//   JITGATE          the jitgate binary (default <repo>/build/bin/jitgate)
//   JITGATE_TRACE=1  copy the demo's stderr to this process's stderr
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, '../../..');
export const JITGATE = process.env.JITGATE || join(REPO, 'build/bin/jitgate');
const TRACE = process.env.JITGATE_TRACE === '1';
// The demo gets SIGTERM if the test process dies without running its hooks (PR_SET_PDEATHSIG).
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

// Starts `jitgate demo --port 0 --auth-port 0` and resolves once it printed its walkthrough.
// Returns { url, issuer, base, prmUrl, printed, stderr(), stop() }.
export async function startDemo({ args = [], timeoutMs = 15000 } = {}) {
  let [cmd, argv] = [JITGATE, ['demo', '--port', '0', '--auth-port', '0', ...args]];
  if (SETPRIV) [cmd, argv] = [SETPRIV, ['--pdeathsig', 'TERM', '--', cmd, ...argv]];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (TRACE) process.stderr.write(`[demo] ${d}`);
  });
  const exited = new Promise((res) => child.once('exit', (code, sig) => res(code ?? sig)));
  const lines = [];
  const ready = new Promise((res) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(l);
      if (l.includes('Ctrl-C')) res();
    });
  });
  let timer;
  try {
    await Promise.race([
      ready,
      exited.then((c) => { throw new Error(`jitgate demo exited (${c}) before it was ready; stderr:\n${stderr}`); }),
      new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`jitgate demo: not ready within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs); }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  const printed = lines.join('\n');
  const url = /^ {2}MCP server +(http\S+)/m.exec(printed)?.[1];
  const issuer = /^ {2}Authorization +(http\S+)/m.exec(printed)?.[1];
  if (!url || !issuer) throw new Error(`jitgate demo printed no URLs:\n${printed}`);
  const base = new URL(url).origin;
  return {
    url,
    issuer,
    base,
    prmUrl: `${base}/.well-known/oauth-protected-resource${new URL(url).pathname}`,
    printed,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

// PKCE S256 (RFC 7636).
export function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

export function decodeJwtPayload(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));
}

// What a page's HTML says, by the ids and names of src/devauth/README.md.
export function parsePage(html) {
  const attr = (tag, name) => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1];
  const unescape = (s) => s?.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const form = /<form\b[^>]*\bid="([^"]+)"/.exec(html)?.[1];
  const request = unescape(attr(/<input type="hidden" name="request"[^>]*>/.exec(html)?.[0] ?? '', 'value'));
  const checkboxes = [...html.matchAll(/<input type="checkbox"[^>]*>/g)].map((m) => unescape(attr(m[0], 'value')));
  const grantedList = /<ul id="granted">(.*?)<\/ul>/s.exec(html)?.[1] ?? '';
  const granted = [...grantedList.matchAll(/<code>([^<]*)<\/code>/g)].map((m) => unescape(m[1]));
  const error = /id="login-error">([^<]*)</.exec(html)?.[1];
  return { form, request, checkboxes, granted, error };
}

// A user agent for the devauth pages: one cookie jar (the sign-in cookie), redirects followed
// by hand until the client's redirect URI. `authorize(url, {username, password, grant})` signs in
// when asked, ticks the `grant` scopes (default: every new one) and resolves with
// { code, state, iss, pages } where pages lists what it saw: { kind: 'login'|'consent', ... }.
export class DevAuthUserAgent {
  constructor({ redirectUri }) {
    this.redirectUri = redirectUri;
    this.cookie = undefined;
  }

  async #fetch(url, init = {}) {
    const headers = new Headers(init.headers);
    if (this.cookie) headers.set('cookie', this.cookie);
    const r = await fetch(url, { ...init, headers, redirect: 'manual' });
    const set = r.headers.get('set-cookie');
    if (set) this.cookie = set.split(';')[0];
    return r;
  }

  async #post(url, fields) {
    const body = new URLSearchParams();
    for (const [k, v] of fields) body.append(k, v);
    return this.#fetch(url, { method: 'POST', body });
  }

  async authorize(authorizationUrl, { username, password, grant } = {}) {
    const pages = [];
    let r = await this.#fetch(authorizationUrl);
    let at = new URL(authorizationUrl);
    for (let step = 0; step < 6; step += 1) {
      if (r.status === 302 || r.status === 303) {
        const next = new URL(r.headers.get('location'), at);
        await r.body?.cancel();
        if (next.href.startsWith(this.redirectUri)) {
          const q = next.searchParams;
          if (q.get('error')) throw Object.assign(new Error(`authorization refused: ${q.get('error')}`), { code: q.get('error'), pages });
          return { code: q.get('code'), state: q.get('state'), iss: q.get('iss'), pages };
        }
        at = next;
        r = await this.#fetch(next);
        continue;
      }
      const html = await r.text();
      const page = { status: r.status, ...parsePage(html) };
      if (page.form === 'login-form') {
        pages.push({ kind: 'login', ...page });
        if (page.error) throw new Error(`sign-in refused (${r.status}): ${page.error}`);
        r = await this.#post(new URL('/login', at), [['request', page.request], ['username', username], ['password', password]]);
      } else if (page.form === 'consent-form') {
        pages.push({ kind: 'consent', ...page });
        const ticked = grant ?? page.checkboxes;
        r = await this.#post(new URL('/consent', at), [['request', page.request], ...ticked.map((s) => ['scope', s]), ['decision', 'allow']]);
      } else {
        throw new Error(`unexpected page (${r.status}) at ${at.pathname}: ${html.slice(0, 300)}`);
      }
    }
    throw new Error('the authorization did not reach the redirect URI');
  }
}
