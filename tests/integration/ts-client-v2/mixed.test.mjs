// Both protocol generations against ONE running server at the same time:
//   - a 2025-11-25 session (v1 SDK client, StreamableHTTPClientTransport: initialize,
//     Mcp-Session-Id, GET stream, server-to-client elicitation requests), and
//   - 2026-07-28 stateless requests (v2 client pinned to 2026-07-28: server/discover,
//     per-request _meta, input_required results, subscriptions/listen).
// Concurrent calls on both sides must all get correct answers; a tools list change
// triggered from either side reaches the v1 session and the v2 listen stream; a v2
// request never gets an Mcp-Session-Id; the v1 session keeps working afterwards.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import {
    startServer,
    stopServer,
    connectV1,
    connectV2,
    post,
    modernRequest,
    firstText,
    within,
    sleep,
    waitForLength,
    assertNoSessionId,
    ToolListChangedNotificationSchema,
    ElicitRequestSchema,
    MODERN,
    LEGACY,
    SUBSCRIPTION_ID,
    SIMPLE_TEXT
} from './lib.mjs';

const STATIC_TEXT = 'This is the content of the static text resource.';

describe('session (2025-11-25) and stateless (2026-07-28) clients on one server', () => {
    let server;
    let v1;
    let v2;
    const v1Changes = [];
    const v2Changes = [];
    const v1Elicits = [];
    const v2Elicits = [];
    let sessionId;

    before(async () => {
        server = await startServer();
        v1 = await connectV1(server.url, {
            name: 'mixed-v1',
            capabilities: { elicitation: {} },
            setup(c) {
                c.setNotificationHandler(ToolListChangedNotificationSchema, n => {
                    v1Changes.push(n);
                });
                c.setRequestHandler(ElicitRequestSchema, async req => {
                    v1Elicits.push(req);
                    const props = Object.keys(req.params?.requestedSchema?.properties ?? {});
                    if (props.includes('name')) return { action: 'accept', content: { name: 'Session Sam' } };
                    if (props.includes('color')) return { action: 'accept', content: { color: 'amber' } };
                    return { action: 'decline' };
                });
            }
        });
        v2 = await connectV2(server.url, {
            name: 'mixed-v2',
            capabilities: { elicitation: { form: {} } },
            setup(c) {
                c.setNotificationHandler('notifications/tools/list_changed', async n => {
                    v2Changes.push(n);
                });
                c.setRequestHandler('elicitation/create', async (req, ctx) => {
                    v2Elicits.push({ key: ctx?.mcpReq?.id, params: req.params });
                    const props = Object.keys(req.params?.requestedSchema?.properties ?? {});
                    if (props.includes('name')) return { action: 'accept', content: { name: 'Stateless Stella' } };
                    if (props.includes('color')) return { action: 'accept', content: { color: 'violet' } };
                    return { action: 'decline' };
                });
            }
        });
        // the v1 transport opens its standalone GET stream after notifications/initialized;
        // wait for it so list changes are not lost for want of a stream
        await waitForLength(
            { get length() { return v1.fetch.exchanges.filter(e => e.method === 'GET' && e.status === 200).length; } },
            1,
            3000,
            'the v1 session GET stream'
        );
    });

    after(async () => {
        await v2?.close();
        await v1?.close();
        await stopServer(server);
    });

    it('the v1 client negotiated a 2025-11-25 session; the v2 client is modern', () => {
        assert.equal(v1.transport.protocolVersion, LEGACY, `v1 protocol ${v1.transport.protocolVersion}`);
        sessionId = v1.transport.sessionId;
        assert.ok(typeof sessionId === 'string' && sessionId.length > 0, `no session id: ${sessionId}`);
        assert.equal(v1.client.getServerVersion()?.name, 'jitgate-conformance-server');
        assert.equal(v2.client.getProtocolEra(), 'modern');
        assert.equal(v2.client.getNegotiatedProtocolVersion(), MODERN);
        assertNoSessionId(v2.fetch, 'v2 connect');
    });

    it('concurrent, interleaved calls from both generations all get correct answers', async () => {
        const v1c = v1.client;
        const v2c = v2.client;
        const tasks = {
            // v1 (session)
            v1_simple_a: v1c.callTool({ name: 'test_simple_text', arguments: {} }),
            v1_simple_b: v1c.callTool({ name: 'test_simple_text', arguments: {} }),
            v1_slow: v1c.callTool({ name: 'test_slow', arguments: { durationMs: 300 } }),
            v1_elicit: v1c.callTool({ name: 'test_input_required_result_elicitation', arguments: {} }),
            v1_multi: v1c.callTool({ name: 'test_input_required_result_multi_round', arguments: {} }),
            v1_tools: v1c.listTools(),
            v1_read: v1c.readResource({ uri: 'test://static-text' }),
            v1_prompt: v1c.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: 'one', arg2: 'two' } }),
            // v2 (stateless)
            v2_simple_a: v2c.callTool({ name: 'test_simple_text', arguments: {} }),
            v2_simple_b: v2c.callTool({ name: 'test_simple_text', arguments: {} }),
            v2_slow: v2c.callTool({ name: 'test_slow', arguments: { durationMs: 300 } }),
            v2_elicit: v2c.callTool({ name: 'test_input_required_result_elicitation', arguments: {} }),
            v2_multi: v2c.callTool({ name: 'test_input_required_result_multi_round', arguments: {} }),
            v2_tools: v2c.listTools(undefined, { cacheMode: 'bypass' }),
            v2_read: v2c.readResource({ uri: 'test://static-text' }, { cacheMode: 'bypass' }),
            v2_prompt: v2c.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: 'three', arg2: 'four' } })
        };
        const keys = Object.keys(tasks);
        const settled = await within(Promise.allSettled(Object.values(tasks)), 15_000, 'the concurrent batch');
        const r = {};
        const failures = [];
        settled.forEach((s, i) => {
            if (s.status === 'fulfilled') r[keys[i]] = s.value;
            else failures.push(`${keys[i]}: ${s.reason?.stack ?? s.reason}`);
        });
        assert.deepEqual(failures, [], `calls failed:\n${failures.join('\n')}`);

        for (const k of ['v1_simple_a', 'v1_simple_b', 'v2_simple_a', 'v2_simple_b']) assert.equal(firstText(r[k]), SIMPLE_TEXT, k);
        for (const k of ['v1_slow', 'v2_slow']) assert.equal(firstText(r[k]), 'slept 300 ms', `${k}: ${JSON.stringify(r[k])}`);
        assert.equal(firstText(r.v1_elicit), 'Hello, Session Sam!', JSON.stringify(r.v1_elicit));
        assert.equal(firstText(r.v2_elicit), 'Hello, Stateless Stella!', JSON.stringify(r.v2_elicit));
        assert.equal(firstText(r.v1_multi), 'Session Sam likes amber', JSON.stringify(r.v1_multi));
        assert.equal(firstText(r.v2_multi), 'Stateless Stella likes violet', JSON.stringify(r.v2_multi));
        const n1 = r.v1_tools.tools.map(t => t.name);
        const n2 = r.v2_tools.tools.map(t => t.name);
        assert.ok(n1.includes('test_input_required_result_elicitation'), n1.join(','));
        assert.deepEqual(n2, n1, 'the two generations see different tool lists');
        assert.equal(r.v1_read.contents?.[0]?.text, STATIC_TEXT);
        assert.equal(r.v2_read.contents?.[0]?.text, STATIC_TEXT);
        assert.equal(r.v1_prompt.messages?.[0]?.content?.text, "Prompt with arguments: arg1='one', arg2='two'");
        assert.equal(r.v2_prompt.messages?.[0]?.content?.text, "Prompt with arguments: arg1='three', arg2='four'");

        // each side answered its own questions only: 1 + 2 elicitations each, no cross-talk
        assert.equal(v1Elicits.length, 3, `v1 elicitations: ${JSON.stringify(v1Elicits.map(e => e.params?.message))}`);
        assert.deepEqual(v2Elicits.map(e => e.key).sort(), ['step1', 'step2', 'user_name'], JSON.stringify(v2Elicits));

        // the v1 session's requests all carried its session id; the v2 ones none
        const v1Posts = v1.fetch.exchanges.filter(e => e.method === 'POST' && e.body?.method !== 'initialize');
        assert.ok(v1Posts.length >= 8, `v1 POSTs: ${v1Posts.length}`);
        for (const e of v1Posts) assert.equal(e.requestHeaders['mcp-session-id'], sessionId, `v1 POST without session: ${JSON.stringify(e.body)}`);
        assertNoSessionId(v2.fetch, 'v2 concurrent batch');
    });

    it('a tools list change from either side reaches the v1 session and the v2 listen stream', async () => {
        const sub = await within(v2.client.listen({ toolsListChanged: true }), 5000, 'listen acknowledgement');
        try {
            assert.deepEqual(sub.honoredFilter, { toolsListChanged: true });
            const listenId = v2.fetch.exchanges.filter(e => e.body?.method === 'subscriptions/listen').at(-1)?.body?.id;

            // triggered from the v1 session
            let a1 = v1Changes.length;
            let a2 = v2Changes.length;
            const t1 = await v1.client.callTool({ name: 'test_trigger_tool_change', arguments: {} });
            assert.equal(firstText(t1), 'Tool list change announced');
            await waitForLength(v1Changes, a1 + 1, 5000, 'tools/list_changed on the v1 session (trigger from v1)');
            await waitForLength(v2Changes, a2 + 1, 5000, 'tools/list_changed on the v2 listen stream (trigger from v1)');
            assert.equal(v2Changes.at(-1).params?._meta?.[SUBSCRIPTION_ID], listenId, JSON.stringify(v2Changes.at(-1)));
            assert.equal(v1Changes.at(-1).method, 'notifications/tools/list_changed');
            // a session notification must not carry a 2026 subscription id
            assert.equal(v1Changes.at(-1).params?._meta?.[SUBSCRIPTION_ID], undefined, JSON.stringify(v1Changes.at(-1)));

            // triggered from the stateless side, with several v1 calls in flight at the same time
            a1 = v1Changes.length;
            a2 = v2Changes.length;
            const [t2, ...others] = await Promise.all([
                v2.client.callTool({ name: 'test_trigger_tool_change', arguments: {} }),
                v1.client.callTool({ name: 'test_simple_text', arguments: {} }),
                v1.client.callTool({ name: 'test_slow', arguments: { durationMs: 100 } })
            ]);
            assert.equal(firstText(t2), 'Tool list change announced');
            assert.equal(firstText(others[0]), SIMPLE_TEXT);
            assert.equal(firstText(others[1]), 'slept 100 ms');
            await waitForLength(v1Changes, a1 + 1, 5000, 'tools/list_changed on the v1 session (trigger from v2)');
            await waitForLength(v2Changes, a2 + 1, 5000, 'tools/list_changed on the v2 listen stream (trigger from v2)');

            // exactly one notification per trigger on each side
            await sleep(150);
            assert.equal(v1Changes.length, a1 + 1, `v1 got ${v1Changes.length - a1} notifications for one trigger`);
            assert.equal(v2Changes.length, a2 + 1, `v2 got ${v2Changes.length - a2} notifications for one trigger`);
        } finally {
            await sub.close();
        }
        assert.equal(await within(sub.closed, 5000, 'listen close'), 'local');
    });

    it('a raw 2026 request with the v1 session id attached is served statelessly, without a session id', async () => {
        const body = modernRequest('tools/call', { name: 'test_simple_text', arguments: {} });
        const r = await post(server.url, body, { extraHeaders: { 'Mcp-Session-Id': sessionId } });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.response?.result?.resultType, 'complete', r.text);
        assert.equal(firstText(r.response.result), SIMPLE_TEXT);
        assert.equal(r.headers['mcp-session-id'], undefined, 'a 2026 answer carried Mcp-Session-Id');
    });

    it('the v1 session keeps working afterwards; no v2 exchange ever got a session id', async () => {
        const [a, b, tools] = await Promise.all([
            v1.client.callTool({ name: 'test_simple_text', arguments: {} }),
            v1.client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} }),
            v1.client.listTools()
        ]);
        assert.equal(firstText(a), SIMPLE_TEXT);
        assert.equal(firstText(b), 'Hello, Session Sam!');
        assert.ok(tools.tools.length > 10);
        assert.equal(v1.transport.sessionId, sessionId, 'the v1 session id changed');
        // still the v2 client works too, and no session id appeared on any of its answers
        const c = await v2.client.callTool({ name: 'test_simple_text', arguments: {} });
        assert.equal(firstText(c), SIMPLE_TEXT);
        assertNoSessionId(v2.fetch, 'v2 whole run');
        assert.equal(v1.errors.length, 0, `v1 client errors: ${v1.errors.map(e => e.message).join('; ')}`);
    });
});
