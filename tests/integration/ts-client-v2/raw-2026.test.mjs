// Raw HTTP at protocol revision 2026-07-28, for what the client library hides:
// the input_required result shape and requestState integrity, resultType and
// caching hints on the wire, GET/DELETE -> 405, no Mcp-Session-Id ever, per-request
// log opt-in, and cancellation by closing the response stream.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import {
    startServer,
    stopServer,
    post,
    modernRequest,
    modernHeaders,
    nextId,
    firstText,
    pollUntil,
    sleep,
    MODERN,
    SERVER_INFO
} from './lib.mjs';

const ELICIT_CAPS = { elicitation: { form: {} } };

/** Changes one character of `s` at `index` (to a different character of the same alphabet). */
function flipChar(s, index) {
    const c = s[index];
    const r = c === 'A' ? 'B' : 'A';
    return s.slice(0, index) + r + s.slice(index + 1);
}

describe('raw HTTP at 2026-07-28', () => {
    let server;
    let url;
    // every HTTP answer seen in this file, for the session-id check
    const answers = [];

    async function send(body, opts) {
        const r = await post(url, body, opts);
        answers.push({ what: body?.method ?? String(body).slice(0, 40), headers: r.headers });
        return r;
    }

    async function callTool(name, args = {}, { capabilities = ELICIT_CAPS, extraParams = {}, meta = {} } = {}) {
        const body = modernRequest('tools/call', { name, arguments: args, ...extraParams }, { capabilities, meta });
        const r = await send(body);
        return { body, ...r };
    }

    async function cancelledCount() {
        const r = await callTool('test_cancelled_count');
        assert.equal(r.status, 200, r.text);
        const n = Number(firstText(r.response?.result));
        assert.ok(Number.isInteger(n), `test_cancelled_count answered ${r.text}`);
        return n;
    }

    before(async () => {
        server = await startServer();
        url = server.url;
    });

    after(async () => {
        await stopServer(server);
    });

    it('complete results carry resultType and serverInfo; lists carry ttlMs/cacheScope', async () => {
        const d = await send(modernRequest('server/discover', {}));
        assert.equal(d.status, 200, d.text);
        const dr = d.response?.result;
        assert.equal(dr?.resultType, 'complete', d.text);
        assert.ok(dr.supportedVersions.includes(MODERN), d.text);
        assert.ok(Number.isInteger(dr.ttlMs) && dr.ttlMs >= 0, `discover ttlMs ${dr.ttlMs}`);
        assert.ok(['public', 'private'].includes(dr.cacheScope), `discover cacheScope ${dr.cacheScope}`);

        const l = await send(modernRequest('tools/list', {}));
        const lr = l.response?.result;
        assert.equal(lr?.resultType, 'complete', l.text);
        assert.ok(Number.isInteger(lr.ttlMs) && lr.ttlMs >= 0, `tools/list ttlMs ${lr.ttlMs}`);
        assert.ok(['public', 'private'].includes(lr.cacheScope), `tools/list cacheScope ${lr.cacheScope}`);
        assert.ok(lr.tools.some(t => t.name === 'test_simple_text'));

        const c = await callTool('test_simple_text');
        const cr = c.response?.result;
        assert.equal(cr?.resultType, 'complete', c.text);
        assert.equal(cr._meta?.[SERVER_INFO]?.name, 'jitgate-conformance-server', c.text);
        assert.equal(cr.ttlMs, undefined, 'tools/call results carry no caching hints');
    });

    it('input_required result shape (elicitation) and a correct retry', async () => {
        const first = await callTool('test_input_required_result_elicitation');
        assert.equal(first.status, 200, first.text);
        const res = first.response?.result;
        assert.ok(res, `no result: ${first.text}`);
        assert.equal(res.resultType, 'input_required', first.text);
        assert.equal(typeof res.requestState, 'string', `requestState: ${JSON.stringify(res.requestState)}`);
        assert.ok(res.requestState.length > 0);
        assert.deepEqual(Object.keys(res.inputRequests ?? {}), ['user_name'], first.text);
        const ir = res.inputRequests.user_name;
        assert.equal(ir.method, 'elicitation/create');
        assert.equal(ir.params?.mode, 'form');
        assert.equal(ir.params?.requestedSchema?.type, 'object');
        assert.equal(ir.params.requestedSchema.properties?.name?.type, 'string');
        assert.equal(typeof ir.params.message, 'string');
        assert.equal(res.content, undefined, 'input_required result must not carry tool content');
        assert.equal(res.ttlMs, undefined, 'input_required results carry no ttlMs');
        assert.equal(res.cacheScope, undefined, 'input_required results carry no cacheScope');

        const retry = await callTool('test_input_required_result_elicitation', {}, {
            extraParams: {
                inputResponses: { user_name: { action: 'accept', content: { name: 'Grace Hopper' } } },
                requestState: res.requestState
            }
        });
        assert.notEqual(retry.body.id, first.body.id);
        assert.equal(retry.status, 200, retry.text);
        assert.equal(retry.response?.result?.resultType, 'complete', retry.text);
        assert.equal(firstText(retry.response.result), 'Hello, Grace Hopper!', retry.text);
    });

    it('input_required without the capability: elicitation not declared -> 400 / -32021', async () => {
        const r = await callTool('test_input_required_result_elicitation', {}, { capabilities: {} });
        assert.equal(r.status, 400, r.text);
        assert.equal(r.response?.error?.code, -32021, r.text);
        assert.deepEqual(r.response.error.data?.requiredCapabilities, { elicitation: {} }, r.text);
    });

    it('input requests follow the capabilities declared on each request (never inferred)', async () => {
        const cases = [
            [{ elicitation: {}, sampling: {}, roots: {} }, ['capital_question', 'client_roots', 'user_name']],
            [{ roots: {} }, ['client_roots']],
            [{ elicitation: {} }, ['user_name']],
            [{}, null]
        ];
        for (const [capabilities, keys] of cases) {
            const r = await callTool('test_input_required_result_capabilities', {}, { capabilities });
            assert.equal(r.status, 200, r.text);
            const res = r.response?.result;
            if (keys === null) {
                assert.equal(res?.resultType, 'complete', r.text);
                assert.equal(firstText(res), 'The client declared no way to answer questions', r.text);
            } else {
                assert.equal(res?.resultType, 'input_required', `${JSON.stringify(capabilities)}: ${r.text}`);
                assert.deepEqual(Object.keys(res.inputRequests).sort(), keys, `${JSON.stringify(capabilities)}: ${r.text}`);
            }
        }
    });

    it('a tampered requestState is refused with a JSON-RPC error', async () => {
        const first = await callTool('test_input_required_result_tampered_state');
        const res = first.response?.result;
        assert.equal(res?.resultType, 'input_required', first.text);
        assert.ok(res.inputRequests?.confirm, first.text);
        const state = res.requestState;
        assert.equal(typeof state, 'string');
        const inputResponses = { confirm: { action: 'accept', content: { ok: true } } };

        // one character changed: in the first third (payload) and in the last character (signature)
        const variants = [flipChar(state, Math.floor(state.length / 3)), flipChar(state, state.length - 2), state + 'x', ''];
        for (const bad of variants) {
            const r = await callTool('test_input_required_result_tampered_state', {}, {
                extraParams: { inputResponses, requestState: bad }
            });
            assert.ok(r.response, `no JSON-RPC response for tampered state ${JSON.stringify(bad)}: ${r.status} ${r.text}`);
            assert.equal(r.response.id, r.body.id, 'error must carry the request id');
            assert.ok(r.response.error, `tampered state ${JSON.stringify(bad.slice(0, 30))}… was accepted: ${r.text}`);
            assert.equal(r.response.error.code, -32602, r.text);
            assert.ok(!/state-ok/.test(r.text), r.text);
        }

        // the state is bound to its request: the same state on another tool is refused
        const other = await callTool('test_input_required_result_request_state', {}, {
            extraParams: { inputResponses, requestState: state }
        });
        assert.ok(other.response?.error, `state of tampered_state accepted by request_state: ${other.text}`);
        assert.equal(other.response.error.code, -32602, other.text);

        // the untouched state still works
        const good = await callTool('test_input_required_result_tampered_state', {}, {
            extraParams: { inputResponses, requestState: state }
        });
        assert.equal(good.response?.result?.resultType, 'complete', good.text);
        assert.match(firstText(good.response.result) ?? '', /state-ok/, good.text);
    });

    it('GET and DELETE on the endpoint are answered 405', async () => {
        for (const method of ['GET', 'DELETE']) {
            const res = await fetch(url, {
                method,
                headers: { Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': MODERN }
            });
            const text = await res.text();
            answers.push({ what: method, headers: Object.fromEntries(res.headers) });
            assert.equal(res.status, 405, `${method}: ${res.status} ${text}`);
            assert.match(res.headers.get('allow') ?? '', /POST/, `${method}: Allow header ${res.headers.get('allow')}`);
        }
    });

    it('an Mcp-Session-Id on a 2026 request is ignored, never echoed', async () => {
        const body = modernRequest('tools/call', { name: 'test_simple_text', arguments: {} });
        const r = await send(body, { extraHeaders: { 'Mcp-Session-Id': 'not-a-session-4711' } });
        assert.equal(r.status, 200, r.text);
        assert.equal(firstText(r.response?.result), 'This is a simple text response for testing.', r.text);
        assert.equal(r.headers['mcp-session-id'], undefined, 'session id echoed');
    });

    it('logs only when the request asks for a log level', async () => {
        const quiet = await callTool('test_logging_tool', {}, { capabilities: {} });
        assert.equal(quiet.status, 200, quiet.text);
        assert.equal(firstText(quiet.response?.result), 'Logging tool completed', quiet.text);
        assert.equal(quiet.messages.filter(m => m.method === 'notifications/message').length, 0, `log without opt-in: ${quiet.text}`);

        const loud = await callTool('test_logging_tool', {}, { capabilities: {}, meta: { 'io.modelcontextprotocol/logLevel': 'debug' } });
        assert.equal(loud.status, 200, loud.text);
        assert.match(loud.contentType, /text\/event-stream/, 'log messages need an SSE answer');
        const logs = loud.messages.filter(m => m.method === 'notifications/message');
        assert.deepEqual(logs.map(m => m.params?.data), ['Logging tool started', 'Logging tool finished'], loud.text);
        assert.equal(loud.messages.at(-1)?.id, loud.body.id, 'the response must come last');
        assert.equal(firstText(loud.response?.result), 'Logging tool completed');
    });

    it('closing the response stream cancels the request (test_slow)', async () => {
        const before = await cancelledCount();
        const body = modernRequest('tools/call', { name: 'test_slow', arguments: { durationMs: 8000 } }, {
            meta: { progressToken: `slow-${nextId()}` }
        });
        const ac = new AbortController();
        const started = Date.now();
        const pending = fetch(url, { method: 'POST', headers: modernHeaders(body), body: JSON.stringify(body), signal: ac.signal })
            .then(async res => {
                answers.push({ what: 'test_slow', headers: Object.fromEntries(res.headers) });
                // headers may come early (SSE) or only with the final answer; read until aborted
                const reader = res.body.getReader();
                for (;;) {
                    const { done } = await reader.read();
                    if (done) return { finished: true, contentType: res.headers.get('content-type') };
                }
            })
            .catch(e => ({ aborted: e.name === 'AbortError', error: e }));
        await sleep(300);
        ac.abort();
        const outcome = await pending;
        assert.ok(outcome.aborted, `test_slow was not aborted by the client: ${JSON.stringify(outcome)}`);
        assert.ok(Date.now() - started < 3000, 'abort took too long');

        const r = await pollUntil(async () => {
            const n = await cancelledCount();
            return { done: n > before, n };
        }, { timeoutMs: 5000, intervalMs: 100 });
        assert.ok(r.n > before, `test_cancelled_count stayed at ${r.n} (before ${before}): closing the stream did not cancel test_slow`);
        assert.equal(r.n, before + 1, `one aborted call, count went ${before} -> ${r.n}`);
    });

    it('an envelope naming a session revision is refused with -32022', async () => {
        const body = modernRequest('tools/list', {}, { meta: { 'io.modelcontextprotocol/protocolVersion': '2025-11-25' } });
        const r = await send(body, { headers: { ...modernHeaders(body), 'MCP-Protocol-Version': '2025-11-25' } });
        assert.equal(r.status, 400, r.text);
        assert.equal(r.response?.error?.code, -32022, r.text);
        assert.equal(r.response.error.data?.requested, '2025-11-25', r.text);
        assert.ok(r.response.error.data?.supported?.includes(MODERN), r.text);
    });

    // Known server issue (reported): the -32022 above lists the rejected version itself as
    // supported ({"supported":[...,"2025-11-25",...],"requested":"2025-11-25"}). A client that
    // retries with a mutual version from `supported` would pick the same version again.
    it('-32022 does not list the rejected version as supported', async () => {
        const body = modernRequest('tools/list', {}, { meta: { 'io.modelcontextprotocol/protocolVersion': '2025-11-25' } });
        const r = await send(body, { headers: { ...modernHeaders(body), 'MCP-Protocol-Version': '2025-11-25' } });
        assert.ok(!r.response?.error?.data?.supported?.includes('2025-11-25'), r.text);
    });

    it('no 2026 answer carried an Mcp-Session-Id header', () => {
        assert.ok(answers.length >= 10, `only ${answers.length} answers recorded`);
        const bad = answers.filter(a => a.headers && Object.keys(a.headers).some(k => k.toLowerCase() === 'mcp-session-id'));
        assert.deepEqual(bad, [], `Mcp-Session-Id in 2026 answers: ${JSON.stringify(bad)}`);
    });
});
