// Shared helpers for the jitgate TypeScript-SDK integration tests.
//
// Every test file imports from here. The MCP TypeScript SDK is loaded from the
// pinned copy in <repo>/tools/node_modules (tools/package.json), by relative
// path, because tests/ has no node_modules of its own.
//
// Environment:
//   CONFORMANCE_SERVER  path of the server binary (default <repo>/build/bin/conformance-server)
//   JITGATE_TRACE=1     print every JSON-RPC message sent/received to stderr

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';

import { Client } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/client/index.js';
import { StdioClientTransport } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/client/stdio.js';
import { StreamableHTTPClientTransport } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js';
import {
    CreateMessageRequestSchema,
    ElicitRequestSchema,
    ListRootsRequestSchema,
    LoggingMessageNotificationSchema,
    ResourceUpdatedNotificationSchema,
    McpError,
    ErrorCode,
    LATEST_PROTOCOL_VERSION
} from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';

export {
    Client,
    StdioClientTransport,
    StreamableHTTPClientTransport,
    CreateMessageRequestSchema,
    ElicitRequestSchema,
    ListRootsRequestSchema,
    LoggingMessageNotificationSchema,
    ResourceUpdatedNotificationSchema,
    McpError,
    ErrorCode,
    LATEST_PROTOCOL_VERSION,
    sleep
};

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SERVER = process.env.CONFORMANCE_SERVER || join(REPO, 'build/bin/conformance-server');
export const TRACE = process.env.JITGATE_TRACE === '1';
export const TRANSPORTS = ['http', 'stdio'];

export const EXPECTED_TOOLS = [
    'test_simple_text',
    'test_image_content',
    'test_audio_content',
    'test_embedded_resource',
    'test_multiple_content_types',
    'test_tool_with_logging',
    'test_tool_with_progress',
    'test_error_handling',
    'test_sampling',
    'test_elicitation',
    'test_slow',
    'test_cancelled_count',
    'json_schema_2020_12_tool',
    'test_reconnection'
];
export const EXPECTED_RESOURCES = ['test://static-text', 'test://static-binary', 'test://watched-resource'];
export const EXPECTED_TEMPLATE = 'test://template/{id}/data';
export const EXPECTED_PROMPTS = [
    'test_simple_prompt',
    'test_prompt_with_arguments',
    'test_prompt_with_embedded_resource',
    'test_prompt_with_image'
];
export const SIMPLE_TEXT = 'This is a simple text response for testing.';
export const STATIC_TEXT = 'This is the content of the static text resource.';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// ---------------------------------------------------------------------------
// Server process management (HTTP mode)
// ---------------------------------------------------------------------------

function assertServerBinary() {
    assert.ok(
        existsSync(SERVER),
        `server binary not found at ${SERVER} (build it, or set CONFORMANCE_SERVER)`
    );
}

/**
 * Starts `conformance-server --port 0`, waits for the single URL line on stdout.
 * Returns { url, proc, stderr(), stop() }; stop() sends SIGTERM and resolves to
 * { code, signal } of the exit.
 */
export async function startHttpServer({ startupTimeoutMs = 10_000, extraArgs = [] } = {}) {
    assertServerBinary();
    const proc = spawn(SERVER, ['--port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', d => {
        stderr += d;
        if (TRACE) process.stderr.write(`[server stderr] ${d}`);
    });
    proc.stdout.setEncoding('utf8');
    const exited = new Promise(res => proc.once('exit', (code, signal) => res({ code, signal })));

    const firstLine = await new Promise((res, rej) => {
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
                // keep draining stdout so the server can never block on a full pipe
                proc.stdout.on('data', more => (stdout += more));
                res(stdout.slice(0, nl));
            }
        };
        proc.stdout.on('data', onData);
        proc.once('error', e => {
            clearTimeout(timer);
            rej(e);
        });
        exited.then(({ code, signal }) => {
            clearTimeout(timer);
            rej(new Error(`server exited before printing its URL (code=${code}, signal=${signal}); stderr:\n${stderr}`));
        });
    });

    const line = firstLine.replace(/\r$/, '');
    assert.match(line, /^http:\/\/127\.0\.0\.1:\d{1,5}\/mcp$/, `unexpected first stdout line: ${JSON.stringify(firstLine)}`);
    const port = Number(new URL(line).port);
    assert.ok(port > 0 && port < 65536, `bad port in ${line}`);

    let stopped;
    return {
        url: new URL(line),
        proc,
        stderr: () => stderr,
        stdoutAfterUrl: () => stdout.slice(firstLine.length + 1),
        exited,
        async stop({ timeoutMs = 5000 } = {}) {
            if (stopped) return stopped;
            stopped = (async () => {
                if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
                const timer = sleep(timeoutMs).then(() => 'timeout');
                const r = await Promise.race([exited, timer]);
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

// ---------------------------------------------------------------------------
// Tracing transport wrapper
// ---------------------------------------------------------------------------

/** Wraps an SDK transport; keeps the last messages in both directions for diagnostics. */
export class TracingTransport {
    constructor(inner, label) {
        this.inner = inner;
        this.label = label;
        this.log = [];
        // Incoming messages are recorded immediately (true wire order) but handed
        // to the SDK one per macrotask. Reason: the SDK (1.32.2) dispatches
        // notifications in a microtask but responses synchronously, so a final
        // notifications/progress that arrives in the same read chunk as the
        // response is dropped as "unknown token" (typescript-sdk issue #2580).
        // Delivering each message in its own task lets the notification handlers
        // run before the next message, i.e. in wire order.
        this._queue = [];
        inner.onmessage = (msg, extra) => {
            this._record('<-', msg);
            this._queue.push([msg, extra]);
            if (this._queue.length === 1) setImmediate(() => this._drain());
        };
        inner.onerror = err => this.onerror?.(err);
        inner.onclose = () => this.onclose?.();
    }
    _drain() {
        const [msg, extra] = this._queue.shift();
        try {
            this.onmessage?.(msg, extra);
        } finally {
            if (this._queue.length > 0) setImmediate(() => this._drain());
        }
    }
    _record(dir, msg) {
        this.log.push({ dir, msg, at: Date.now() });
        if (this.log.length > 500) this.log.shift();
        if (TRACE) {
            const line = `${dir} ${JSON.stringify(msg)}`;
            process.stderr.write(`[${this.label}] ${line.length > 2000 ? line.slice(0, 2000) + '…' : line}\n`);
        }
    }
    /** messages received from the server */
    received() {
        return this.log.filter(e => e.dir === '<-').map(e => e.msg);
    }
    /** messages sent to the server */
    sent() {
        return this.log.filter(e => e.dir === '->').map(e => e.msg);
    }
    start() {
        return this.inner.start();
    }
    send(msg, opts) {
        this._record('->', msg);
        return this.inner.send(msg, opts);
    }
    close() {
        return this.inner.close();
    }
    get sessionId() {
        return this.inner.sessionId;
    }
    setProtocolVersion(v) {
        this.inner.setProtocolVersion?.(v);
    }
    /** Recent wire traffic, for assertion messages. */
    dump(n = 30) {
        return this.log
            .slice(-n)
            .map(e => {
                const l = `${e.dir} ${JSON.stringify(e.msg)}`;
                return l.length > 600 ? l.slice(0, 600) + '…' : l;
            })
            .join('\n');
    }
}

// ---------------------------------------------------------------------------
// Per-transport harness: one per describe() block
// ---------------------------------------------------------------------------

/**
 * Creates a harness for `kind` ('http' | 'stdio').
 *   await h.setup()            start the HTTP server (no-op for stdio)
 *   const c = await h.connect({capabilities, handlers})
 *   await h.teardown()         close all clients, stop the server
 * For stdio each connect() spawns a fresh `conformance-server --stdio`.
 * `serverArgs` are appended to the server command line in both modes.
 */
export function makeHarness(kind, { serverArgs = [] } = {}) {
    const clients = [];
    const h = {
        kind,
        server: undefined,
        async setup() {
            if (kind === 'http') h.server = await startHttpServer({ extraArgs: serverArgs });
            else assertServerBinary();
        },
        /**
         * @param {object} opts
         * @param {object} [opts.capabilities] client capabilities
         * @param {string} [opts.name] client name
         * @returns {Promise<{client: Client, transport: TracingTransport, errors: Error[], stderr: () => string, close: () => Promise<void>}>}
         */
        async connect({ capabilities = {}, name = 'jitgate-ts-it', setup } = {}) {
            let inner;
            let stderrBuf = '';
            if (kind === 'http') {
                assert.ok(h.server, 'setup() not called');
                inner = new StreamableHTTPClientTransport(h.server.url, {
                    reconnectionOptions: {
                        initialReconnectionDelay: 100,
                        maxReconnectionDelay: 1000,
                        reconnectionDelayGrowFactor: 1.5,
                        maxRetries: 5
                    }
                });
            } else {
                inner = new StdioClientTransport({ command: SERVER, args: ['--stdio', ...serverArgs], stderr: 'pipe' });
                inner.stderr?.setEncoding?.('utf8');
                inner.stderr?.on('data', d => {
                    stderrBuf += d;
                    if (TRACE) process.stderr.write(`[stdio server stderr] ${d}`);
                });
            }
            const transport = new TracingTransport(inner, `${kind}:${name}`);
            const client = new Client({ name, version: '0.0.1' }, { capabilities });
            const errors = [];
            client.onerror = e => errors.push(e);
            if (setup) setup(client);
            await client.connect(transport, { timeout: 10_000 });
            let closed = false;
            const entry = {
                client,
                transport,
                errors,
                stderr: () => (kind === 'http' ? h.server.stderr() : stderrBuf),
                async close() {
                    if (closed) return;
                    closed = true;
                    if (kind === 'http') {
                        try {
                            await inner.terminateSession();
                        } catch {
                            /* reported by the dedicated session test, not here */
                        }
                    }
                    await client.close();
                },
                /** wire dump + server stderr tail, for assertion messages */
                diag() {
                    const se = entry.stderr();
                    return `\n--- recent wire traffic (${kind}) ---\n${transport.dump()}\n--- server stderr (tail) ---\n${se.slice(-1500)}`;
                }
            };
            clients.push(entry);
            return entry;
        },
        async teardown() {
            await Promise.allSettled(clients.map(c => c.close()));
            clients.length = 0;
            if (h.server) {
                await h.server.stop();
            }
        }
    };
    return h;
}

// ---------------------------------------------------------------------------
// Generic helpers
// ---------------------------------------------------------------------------

/** Collects all pages of a paginated list call. `call(cursor)` returns the page. */
export async function collectPages(call, key, { maxPages = 200 } = {}) {
    const items = [];
    const sizes = [];
    const cursors = [];
    let cursor;
    let pages = 0;
    for (;;) {
        const page = await call(cursor === undefined ? undefined : { cursor });
        pages++;
        assert.ok(Array.isArray(page[key]), `page ${pages}: '${key}' is not an array: ${JSON.stringify(page)}`);
        items.push(...page[key]);
        sizes.push(page[key].length);
        if (page.nextCursor === undefined || page.nextCursor === null) break;
        assert.equal(typeof page.nextCursor, 'string', `nextCursor must be a string, got ${JSON.stringify(page.nextCursor)}`);
        assert.ok(!cursors.includes(page.nextCursor), `nextCursor ${JSON.stringify(page.nextCursor)} repeated: pagination loops`);
        cursors.push(page.nextCursor);
        assert.ok(pages < maxPages, `more than ${maxPages} pages: pagination does not terminate`);
        cursor = page.nextCursor;
    }
    return { items, pages, sizes };
}

export function firstText(result) {
    const t = result?.content?.find(c => c.type === 'text');
    return t?.text;
}

export function allText(result) {
    return (result?.content ?? [])
        .filter(c => c.type === 'text')
        .map(c => c.text)
        .join('\n');
}

export function isBase64(s) {
    return typeof s === 'string' && s.length > 0 && s.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(s);
}

export function assertPng(b64, what) {
    assert.ok(isBase64(b64), `${what}: not valid base64: ${String(b64).slice(0, 80)}`);
    const buf = Buffer.from(b64, 'base64');
    assert.ok(buf.length > PNG_SIGNATURE.length + 12, `${what}: PNG too short (${buf.length} bytes)`);
    assert.deepEqual(buf.subarray(0, 8), PNG_SIGNATURE, `${what}: data is not a PNG (bad signature)`);
    assert.equal(buf.subarray(12, 16).toString('latin1'), 'IHDR', `${what}: PNG first chunk is not IHDR`);
}

export function assertWav(b64, what) {
    assert.ok(isBase64(b64), `${what}: not valid base64: ${String(b64).slice(0, 80)}`);
    const buf = Buffer.from(b64, 'base64');
    assert.ok(buf.length >= 44, `${what}: WAV too short (${buf.length} bytes)`);
    assert.equal(buf.subarray(0, 4).toString('latin1'), 'RIFF', `${what}: not a RIFF file`);
    assert.equal(buf.subarray(8, 12).toString('latin1'), 'WAVE', `${what}: RIFF type is not WAVE`);
}

/** Structural validation of one ContentBlock (tool results, prompt messages). */
export function assertContentBlock(block, what) {
    assert.ok(block && typeof block === 'object', `${what}: content block is not an object`);
    switch (block.type) {
        case 'text':
            assert.equal(typeof block.text, 'string', `${what}: text block without text`);
            assert.ok(block.text.length > 0, `${what}: empty text`);
            break;
        case 'image':
            assert.match(String(block.mimeType), /^image\//, `${what}: image mimeType ${block.mimeType}`);
            if (block.mimeType === 'image/png') assertPng(block.data, what);
            else assert.ok(isBase64(block.data), `${what}: image data not base64`);
            break;
        case 'audio':
            assert.match(String(block.mimeType), /^audio\//, `${what}: audio mimeType ${block.mimeType}`);
            if (/wav/.test(block.mimeType)) assertWav(block.data, what);
            else assert.ok(isBase64(block.data), `${what}: audio data not base64`);
            break;
        case 'resource': {
            const r = block.resource;
            assert.ok(r && typeof r.uri === 'string' && r.uri.length > 0, `${what}: embedded resource without uri`);
            const hasText = typeof r.text === 'string';
            const hasBlob = typeof r.blob === 'string';
            assert.ok(hasText !== hasBlob, `${what}: embedded resource must have exactly one of text/blob`);
            if (hasBlob) assert.ok(isBase64(r.blob), `${what}: blob not base64`);
            break;
        }
        case 'resource_link':
            assert.equal(typeof block.uri, 'string', `${what}: resource_link without uri`);
            assert.equal(typeof block.name, 'string', `${what}: resource_link without name`);
            break;
        default:
            assert.fail(`${what}: unknown content type ${JSON.stringify(block.type)}`);
    }
}

/** Builds plausible arguments for a tool/prompt from its JSON schema (required props only). */
export function argsFromSchema(schema) {
    const out = {};
    const props = schema?.properties ?? {};
    for (const name of schema?.required ?? []) {
        out[name] = valueForSchema(props[name] ?? {}, name);
    }
    return out;
}

function valueForSchema(s, name) {
    if (s.default !== undefined) return s.default;
    if (s.const !== undefined) return s.const;
    if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
    if (Array.isArray(s.oneOf) && s.oneOf[0]?.const !== undefined) return s.oneOf[0].const;
    switch (s.type) {
        case 'integer':
        case 'number':
            return s.minimum ?? 1;
        case 'boolean':
            return true;
        case 'array': {
            const item = s.items ? valueForSchema(s.items, name) : 'x';
            return [item];
        }
        case 'object':
            return argsFromSchema(s);
        default:
            if (s.format === 'email' || /email/i.test(name)) return 'tester@example.com';
            if (s.format === 'uri') return 'test://static-text';
            return `value-for-${name}`;
    }
}

/** Elicitation answer built from a requestedSchema (all properties). */
export function elicitContentFromSchema(schema) {
    const out = {};
    for (const [name, s] of Object.entries(schema?.properties ?? {})) {
        if (s.type === 'array') {
            const item = s.items?.enum?.[0] ?? s.items?.anyOf?.[0]?.const ?? s.items?.oneOf?.[0]?.const ?? 'x';
            out[name] = [item];
        } else {
            out[name] = valueForSchema(s, name);
        }
    }
    return out;
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` elapses; returns the last value. */
export async function pollUntil(fn, { timeoutMs = 5000, intervalMs = 100 } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        last = await fn();
        if (last.done) return last;
        if (Date.now() >= deadline) return last;
        await sleep(intervalMs);
    }
}

/** Expects `p` to reject with an McpError (optionally with `code`), returns the error. */
export async function expectMcpError(p, { code, what } = {}) {
    let err;
    try {
        const r = await p;
        assert.fail(`${what ?? 'request'}: expected a JSON-RPC error, got result ${JSON.stringify(r).slice(0, 500)}`);
    } catch (e) {
        if (e?.code === 'ERR_ASSERTION') throw e;
        err = e;
    }
    assert.ok(err instanceof McpError, `${what ?? 'request'}: expected McpError, got ${err?.constructor?.name}: ${err?.message}`);
    if (code !== undefined) {
        const codes = Array.isArray(code) ? code : [code];
        assert.ok(codes.includes(err.code), `${what ?? 'request'}: expected error code ${codes.join(' or ')}, got ${err.code} (${err.message})`);
    }
    return err;
}
