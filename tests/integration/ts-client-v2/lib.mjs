// Shared helpers for the jitgate integration tests against protocol revision
// 2026-07-28 (stateless) and the mixed-era endpoint.
//
// The clients are loaded from the pinned copies in <repo>/tools/node_modules
// (tools/package.json) by relative path, because tests/ has no node_modules:
//   @modelcontextprotocol/client 2.4.0  — the v2 client (2026-07-28, pinned below)
//   @modelcontextprotocol/sdk    1.32.2 — the v1 client (session revisions up to 2025-11-25)
//
// Environment:
//   CONFORMANCE_SERVER  path of the server binary (default <repo>/build/bin/conformance-server)
//   JITGATE_TRACE=1     print server stderr and every HTTP exchange of the v2 client to stderr

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';

import {
    Client as ClientV2,
    StreamableHTTPClientTransport as StreamableHTTPClientTransportV2
} from '../../../tools/node_modules/@modelcontextprotocol/client/dist/index.mjs';
import { Client as ClientV1 } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/client/index.js';
import { StreamableHTTPClientTransport as StreamableHTTPClientTransportV1 } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js';
import {
    ToolListChangedNotificationSchema,
    PromptListChangedNotificationSchema,
    CallToolResultSchema,
    ElicitRequestSchema,
    McpError
} from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';

export {
    ClientV2,
    StreamableHTTPClientTransportV2,
    ClientV1,
    StreamableHTTPClientTransportV1,
    ToolListChangedNotificationSchema,
    PromptListChangedNotificationSchema,
    CallToolResultSchema,
    ElicitRequestSchema,
    McpError,
    sleep
};

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SERVER = process.env.CONFORMANCE_SERVER || join(REPO, 'build/bin/conformance-server');
export const TRACE = process.env.JITGATE_TRACE === '1';

export const MODERN = '2026-07-28';
export const LEGACY = '2025-11-25';
export const PV = 'io.modelcontextprotocol/protocolVersion';
export const CC = 'io.modelcontextprotocol/clientCapabilities';
export const CI = 'io.modelcontextprotocol/clientInfo';
export const SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
export const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';

export const SIMPLE_TEXT = 'This is a simple text response for testing.';

/** Tools every run of the conformance server must list (subset; the full list is longer). */
export const CORE_TOOLS = [
    'test_simple_text',
    'test_tool_with_progress',
    'test_slow',
    'test_cancelled_count',
    'test_trigger_tool_change',
    'test_trigger_prompt_change',
    'test_input_required_result_elicitation',
    'test_input_required_result_sampling',
    'test_input_required_result_list_roots',
    'test_input_required_result_multi_round',
    'test_input_required_result_multiple_inputs',
    'test_input_required_result_request_state',
    'test_input_required_result_tampered_state'
];

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

/**
 * Starts `conformance-server --port 0 [extraArgs]`, waits for the URL line on stdout.
 * Returns { url, proc, stderr(), stop() }; stop() sends SIGTERM (SIGKILL after
 * timeoutMs) and resolves to { code, signal, timedOut? }.
 */
export async function startServer({ extraArgs = [], startupTimeoutMs = 10_000 } = {}) {
    assert.ok(existsSync(SERVER), `server binary not found at ${SERVER} (build it, or set CONFORMANCE_SERVER)`);
    const proc = spawn(SERVER, ['--port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', d => {
        stderr += d;
        if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
        if (TRACE) process.stderr.write(`[server stderr] ${d}`);
    });
    proc.stdout.setEncoding('utf8');
    const exited = new Promise(res => proc.once('exit', (code, signal) => res({ code, signal })));
    const line = await new Promise((res, rej) => {
        const timer = setTimeout(
            () => rej(new Error(`server printed no URL line within ${startupTimeoutMs} ms; stderr:\n${stderr}`)),
            startupTimeoutMs
        );
        const onData = d => {
            stdout += d;
            const nl = stdout.indexOf('\n');
            if (nl >= 0) {
                clearTimeout(timer);
                proc.stdout.off('data', onData);
                proc.stdout.on('data', () => {}); // keep draining
                res(stdout.slice(0, nl).trim());
            }
        };
        proc.stdout.on('data', onData);
        exited.then(({ code, signal }) => {
            clearTimeout(timer);
            rej(new Error(`server exited before printing its URL (code ${code}, signal ${signal}); stderr:\n${stderr}`));
        });
    });
    assert.match(line, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/, `unexpected first stdout line: ${JSON.stringify(line)}`);
    let stopped;
    return {
        url: line,
        proc,
        stderr: () => stderr,
        exited,
        stop({ timeoutMs = 5000 } = {}) {
            if (stopped) return stopped;
            stopped = (async () => {
                if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
                let timer;
                const timeout = new Promise(res => (timer = setTimeout(() => res('timeout'), timeoutMs)));
                const r = await Promise.race([exited, timeout]);
                clearTimeout(timer);
                if (r === 'timeout') {
                    proc.kill('SIGKILL');
                    await exited;
                    return { code: null, signal: 'SIGKILL', timedOut: true };
                }
                return r;
            })();
            return stopped;
        }
    };
}

/** Asserts the server stopped by itself after SIGTERM (no SIGKILL needed). */
export async function stopServer(server) {
    if (!server) return;
    const r = await server.stop();
    assert.ok(!r.timedOut, `server did not exit within 5 s of SIGTERM; stderr tail:\n${server.stderr().slice(-1500)}`);
}

// ---------------------------------------------------------------------------
// Recording fetch (for the v2 and v1 client transports)
// ---------------------------------------------------------------------------

function headersToObject(h) {
    if (!h) return {};
    if (h instanceof Headers) return Object.fromEntries([...h.entries()].map(([k, v]) => [k.toLowerCase(), v]));
    if (Array.isArray(h)) return Object.fromEntries(h.map(([k, v]) => [k.toLowerCase(), v]));
    return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

/**
 * A fetch wrapper that records every exchange: request method, headers and
 * parsed JSON-RPC body; response status and headers. `rec.exchanges` holds them.
 */
export function recordingFetch(label = 'fetch') {
    const exchanges = [];
    const f = async (input, init = {}) => {
        const entry = {
            method: init.method ?? 'GET',
            requestHeaders: headersToObject(init.headers),
            body: undefined,
            status: undefined,
            responseHeaders: undefined
        };
        if (typeof init.body === 'string') {
            try {
                entry.body = JSON.parse(init.body);
            } catch {
                entry.body = init.body;
            }
        }
        exchanges.push(entry);
        const res = await fetch(input, init);
        entry.status = res.status;
        entry.responseHeaders = headersToObject(res.headers);
        if (TRACE) {
            process.stderr.write(
                `[${label}] ${entry.method} ${JSON.stringify(entry.body)?.slice(0, 300)} -> ${res.status} ${entry.responseHeaders['content-type'] ?? ''}\n`
            );
        }
        return res;
    };
    f.exchanges = exchanges;
    f.dump = (n = 20) =>
        exchanges
            .slice(-n)
            .map(
                e =>
                    `${e.method} ${JSON.stringify(e.body)?.slice(0, 200)} [${JSON.stringify(e.requestHeaders)}] -> ${e.status} [${JSON.stringify(e.responseHeaders)}]`
            )
            .join('\n');
    return f;
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

/**
 * Connects the v2 client pinned to 2026-07-28. `setup(client)` runs before
 * connect (register handlers there). Returns { client, fetch (recording), close }.
 */
export async function connectV2(url, { capabilities = {}, name = 'jitgate-it-v2', setup, clientOptions = {} } = {}) {
    const rec = recordingFetch(`v2:${name}`);
    const client = new ClientV2(
        { name, version: '0.0.1' },
        { capabilities, versionNegotiation: { mode: { pin: MODERN } }, ...clientOptions }
    );
    const errors = [];
    client.onerror = e => errors.push(e);
    if (setup) setup(client);
    const transport = new StreamableHTTPClientTransportV2(new URL(url), { fetch: rec });
    await client.connect(transport, { timeout: 10_000 });
    let closed = false;
    return {
        client,
        fetch: rec,
        errors,
        async close() {
            if (closed) return;
            closed = true;
            await client.close();
        }
    };
}

/**
 * Connects the v1 SDK client (session revision, 2025-11-25 by default).
 * Returns { client, transport, fetch (recording), close } — close() DELETEs the session.
 */
export async function connectV1(url, { capabilities = {}, name = 'jitgate-it-v1', setup } = {}) {
    const rec = recordingFetch(`v1:${name}`);
    const transport = new StreamableHTTPClientTransportV1(new URL(url), {
        fetch: rec,
        reconnectionOptions: { initialReconnectionDelay: 100, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1.5, maxRetries: 5 }
    });
    const client = new ClientV1({ name, version: '0.0.1' }, { capabilities });
    const errors = [];
    client.onerror = e => errors.push(e);
    if (setup) setup(client);
    await client.connect(transport, { timeout: 10_000 });
    let closed = false;
    return {
        client,
        transport,
        fetch: rec,
        errors,
        async close() {
            if (closed) return;
            closed = true;
            try {
                await transport.terminateSession();
            } catch {
                /* not what these tests check */
            }
            await client.close();
        }
    };
}

// ---------------------------------------------------------------------------
// Raw 2026-07-28 requests
// ---------------------------------------------------------------------------

let rawId = 1000;
export function nextId() {
    return rawId++;
}

/** The per-request `_meta` envelope. */
export function envelope({ capabilities = {}, clientInfo = { name: 'jitgate-it-raw', version: '0.0.1' }, extra = {} } = {}) {
    const m = { [PV]: MODERN, [CC]: capabilities };
    if (clientInfo) m[CI] = clientInfo;
    return { ...m, ...extra };
}

/** A complete 2026-07-28 request body: params get the `_meta` envelope. */
export function modernRequest(method, params = {}, { id = nextId(), capabilities, meta = {} } = {}) {
    return { jsonrpc: '2.0', id, method, params: { ...params, _meta: { ...envelope({ capabilities }), ...meta } } };
}

/** The standard 2026-07-28 headers for `body` (MCP-Protocol-Version, Mcp-Method, Mcp-Name). */
export function modernHeaders(body) {
    const h = {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        'MCP-Protocol-Version': MODERN
    };
    if (body?.method && body.id !== undefined) h['Mcp-Method'] = body.method;
    const name = body?.params?.name ?? body?.params?.uri;
    if (typeof name === 'string' && ['tools/call', 'prompts/get', 'resources/read'].includes(body.method)) h['Mcp-Name'] = name;
    return h;
}

/** Parses a complete SSE body into the JSON payloads of its `data:` events. */
export function parseSse(text) {
    const out = [];
    for (const block of text.split(/\r?\n\r?\n/)) {
        const data = block
            .split(/\r?\n/)
            .filter(l => l.startsWith('data:'))
            .map(l => l.slice(5).replace(/^ /, ''))
            .join('\n');
        if (data) out.push(JSON.parse(data));
    }
    return out;
}

/**
 * POSTs `body` (headers default to modernHeaders(body)) and reads the whole
 * answer. Returns { status, headers (lower-case object), contentType,
 * messages (all JSON-RPC messages, SSE or JSON), response (the one carrying
 * body.id), text }.
 */
export async function post(url, body, { headers, extraHeaders = {}, signal } = {}) {
    const res = await fetch(url, {
        method: 'POST',
        headers: { ...(headers ?? modernHeaders(body)), ...extraHeaders },
        body: typeof body === 'string' ? body : JSON.stringify(body),
        signal
    });
    const text = await res.text();
    const contentType = res.headers.get('content-type') ?? '';
    let messages = [];
    if (contentType.startsWith('text/event-stream')) messages = parseSse(text);
    else if (text.length > 0) {
        try {
            messages = [JSON.parse(text)];
        } catch {
            messages = [];
        }
    }
    const response = messages.find(m => m && m.id !== undefined && m.id === body?.id && ('result' in m || 'error' in m));
    return { status: res.status, headers: headersToObject(res.headers), contentType, messages, response, text };
}

// ---------------------------------------------------------------------------
// Generic helpers
// ---------------------------------------------------------------------------

export function firstText(result) {
    return result?.content?.find(c => c.type === 'text')?.text;
}

/** Resolves with the value of `p`, or rejects after `ms` with `what` in the message. */
export async function within(p, ms, what) {
    let timer;
    const t = new Promise((_, rej) => {
        timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    try {
        return await Promise.race([p, t]);
    } finally {
        clearTimeout(timer);
    }
}

/** A promise plus its resolve function, with a record of every value seen. */
export function signal() {
    let resolve;
    const seen = [];
    const promise = new Promise(r => (resolve = r));
    return {
        promise,
        seen,
        fire(v) {
            seen.push(v);
            resolve(v);
        }
    };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` elapses; returns the last value. */
export async function pollUntil(fn, { timeoutMs = 5000, intervalMs = 100 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = await fn();
        if (v.done || Date.now() >= deadline) return v;
        await sleep(intervalMs);
    }
}

/** Asserts that none of the recorded exchanges carries an Mcp-Session-Id response header. */
export function assertNoSessionId(rec, what) {
    assert.ok(rec.exchanges.length > 0, `${what}: no HTTP exchange recorded`);
    const bad = rec.exchanges.filter(e => e.responseHeaders && 'mcp-session-id' in e.responseHeaders);
    assert.equal(
        bad.length,
        0,
        `${what}: a 2026-07-28 response carried Mcp-Session-Id:\n${bad.map(e => `${JSON.stringify(e.body)} -> ${e.responseHeaders['mcp-session-id']}`).join('\n')}`
    );
    const sent = rec.exchanges.filter(e => 'mcp-session-id' in e.requestHeaders);
    assert.equal(sent.length, 0, `${what}: the v2 client sent Mcp-Session-Id (test setup broken)`);
}

/** Resolves when `arr.length >= n` (polled every 10 ms); throws after `ms` naming `what`. */
export async function waitForLength(arr, n, ms, what) {
    const deadline = Date.now() + ms;
    while (arr.length < n) {
        if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (have ${arr.length}, want ${n})`);
        await sleep(10);
    }
    return arr;
}
