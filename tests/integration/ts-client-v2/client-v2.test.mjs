// The official TypeScript client v2 (@modelcontextprotocol/client 2.4.0), pinned
// to protocol revision 2026-07-28, drives the conformance server: server/discover,
// paginated tools/list, tools/call, input-required results (elicitation, sampling,
// roots, multi-round, several inputs at once), prompts/get with an input-required
// result, progress, and subscriptions/listen with a tools list change.
//
// The server runs with `--page-size 5` so every list is paginated.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import {
    startServer,
    stopServer,
    connectV2,
    post,
    modernRequest,
    firstText,
    within,
    signal,
    sleep,
    waitForLength,
    assertNoSessionId,
    MODERN,
    SERVER_INFO,
    SUBSCRIPTION_ID,
    SIMPLE_TEXT,
    CORE_TOOLS
} from './lib.mjs';

const PAGE_SIZE = 5;

describe('TS client v2 at 2026-07-28', () => {
    let server;
    let conn;
    let client;
    // What the handlers saw: { key, method, params } per fulfilled input request.
    const inputs = [];
    const toolChanges = [];
    const promptChanges = [];
    let onToolChange = () => {};

    before(async () => {
        server = await startServer({ extraArgs: ['--page-size', String(PAGE_SIZE)] });
        conn = await connectV2(server.url, {
            capabilities: { elicitation: { form: {} }, sampling: {}, roots: {} },
            setup(c) {
                c.setRequestHandler('elicitation/create', async (req, ctx) => {
                    inputs.push({ key: ctx?.mcpReq?.id, method: req.method, params: req.params });
                    const props = Object.keys(req.params?.requestedSchema?.properties ?? {});
                    if (props.includes('name')) return { action: 'accept', content: { name: 'Ada Lovelace' } };
                    if (props.includes('color')) return { action: 'accept', content: { color: 'teal' } };
                    if (props.includes('context')) return { action: 'accept', content: { context: 'integration-ctx-42' } };
                    if (props.includes('ok')) return { action: 'accept', content: { ok: true } };
                    return { action: 'decline' };
                });
                c.setRequestHandler('sampling/createMessage', async (req, ctx) => {
                    inputs.push({ key: ctx?.mcpReq?.id, method: req.method, params: req.params });
                    const q = req.params.messages?.at(-1)?.content?.text ?? '';
                    return {
                        role: 'assistant',
                        model: 'fake-model-1',
                        stopReason: 'endTurn',
                        content: { type: 'text', text: /capital of France/.test(q) ? 'Paris-from-sampler' : 'hello-from-sampler' }
                    };
                });
                c.setRequestHandler('roots/list', async (req, ctx) => {
                    inputs.push({ key: ctx?.mcpReq?.id, method: req.method, params: req.params });
                    return { roots: [{ uri: 'file:///work/it-root', name: 'it-root' }] };
                });
                c.setNotificationHandler('notifications/tools/list_changed', async n => {
                    toolChanges.push(n);
                    onToolChange(n);
                });
                c.setNotificationHandler('notifications/prompts/list_changed', async n => {
                    promptChanges.push(n);
                });
            }
        });
        client = conn.client;
    });

    after(async () => {
        await conn?.close();
        await stopServer(server);
    });

    it('connects with server/discover: modern era, 2026-07-28 supported, capabilities', async () => {
        assert.equal(client.getProtocolEra(), 'modern', `era: ${client.getProtocolEra()}`);
        assert.equal(client.getNegotiatedProtocolVersion(), MODERN);
        const d = client.getDiscoverResult();
        assert.ok(d, 'no DiscoverResult kept by the client');
        assert.ok(Array.isArray(d.supportedVersions), `supportedVersions: ${JSON.stringify(d.supportedVersions)}`);
        assert.ok(d.supportedVersions.includes(MODERN), `supportedVersions lacks ${MODERN}: ${JSON.stringify(d.supportedVersions)}`);
        // dual-era server: the session revisions are served on the same endpoint
        assert.ok(d.supportedVersions.includes('2025-11-25'), `supportedVersions lacks 2025-11-25: ${JSON.stringify(d.supportedVersions)}`);
        assert.deepEqual(d.capabilities.tools, { listChanged: true }, `tools capability: ${JSON.stringify(d.capabilities)}`);
        assert.equal(d.capabilities.prompts?.listChanged, true, `prompts capability: ${JSON.stringify(d.capabilities)}`);
        assert.ok(d.capabilities.resources, `resources capability missing: ${JSON.stringify(d.capabilities)}`);
        assert.ok(Number.isInteger(d.ttlMs) && d.ttlMs >= 0, `discover ttlMs: ${d.ttlMs}`);
        assert.ok(['public', 'private'].includes(d.cacheScope), `discover cacheScope: ${d.cacheScope}`);
        assert.equal(d._meta?.[SERVER_INFO]?.name, 'jitgate-conformance-server', `serverInfo: ${JSON.stringify(d._meta)}`);

        // the probe really was server/discover with the 2026 headers, and no session was minted
        const probe = conn.fetch.exchanges[0];
        assert.equal(probe.body?.method, 'server/discover', `first request: ${JSON.stringify(probe.body)}`);
        assert.equal(probe.requestHeaders['mcp-protocol-version'], MODERN);
        assert.equal(probe.status, 200);
        assertNoSessionId(conn.fetch, 'connect');

        // an explicit discover() gives the same answer
        const again = await client.discover();
        assert.deepEqual(again.supportedVersions, d.supportedVersions);
    });

    it('lists tools page by page (page size 5) and the pages add up to the unpaginated list', async () => {
        const pages = [];
        let page = await client.request({ method: 'tools/list', params: {} });
        pages.push(page);
        while (page.nextCursor !== undefined) {
            assert.equal(typeof page.nextCursor, 'string', `nextCursor: ${JSON.stringify(page.nextCursor)}`);
            assert.ok(pages.length < 50, 'pagination does not terminate');
            page = await client.listTools({ cursor: page.nextCursor });
            pages.push(page);
        }
        const names = pages.flatMap(p => p.tools.map(t => t.name));
        assert.ok(pages.length >= 2, `expected several pages at page size ${PAGE_SIZE}, got ${pages.length}`);
        for (const [i, p] of pages.entries()) {
            assert.ok(p.tools.length <= PAGE_SIZE, `page ${i} has ${p.tools.length} tools (> ${PAGE_SIZE})`);
            if (i < pages.length - 1) assert.equal(p.tools.length, PAGE_SIZE, `non-final page ${i} is short: ${p.tools.length}`);
            assert.ok(Number.isInteger(p.ttlMs) && p.ttlMs >= 0, `page ${i} ttlMs: ${JSON.stringify(p.ttlMs)}`);
            assert.ok(['public', 'private'].includes(p.cacheScope), `page ${i} cacheScope: ${JSON.stringify(p.cacheScope)}`);
            assert.equal(p.cacheScope, pages[0].cacheScope, 'all pages must carry the same cacheScope');
        }
        assert.equal(new Set(names).size, names.length, `duplicate tools across pages: ${names.join(', ')}`);
        for (const t of CORE_TOOLS) assert.ok(names.includes(t), `tool ${t} missing from the paginated list`);

        // the client's own aggregation agrees
        const agg = await client.listTools(undefined, { cacheMode: 'bypass' });
        assert.deepEqual(
            agg.tools.map(t => t.name),
            names,
            'client aggregate differs from the manual page walk'
        );

        // an unpaginated server (no --page-size) lists the same tools in the same order, in one page
        const plain = await startServer();
        try {
            const r = await post(plain.url, modernRequest('tools/list', {}));
            assert.equal(r.status, 200, r.text);
            const res = r.response?.result;
            assert.ok(res, `no result: ${r.text}`);
            assert.equal(res.nextCursor, undefined, `unpaginated server returned nextCursor ${res.nextCursor}`);
            assert.deepEqual(
                res.tools.map(t => t.name),
                names,
                'paginated walk differs from the unpaginated list'
            );
        } finally {
            await stopServer(plain);
        }
    });

    it('calls test_simple_text', async () => {
        const r = await client.callTool({ name: 'test_simple_text', arguments: {} });
        assert.equal(r.isError ?? false, false, JSON.stringify(r));
        assert.equal(firstText(r), SIMPLE_TEXT);
        const last = conn.fetch.exchanges.at(-1);
        assert.equal(last.requestHeaders['mcp-name'], 'test_simple_text');
        assert.equal(last.status, 200);
    });

    it('answers an elicitation input request (user_name) and gets the greeting', async () => {
        const before = inputs.length;
        const r = await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} });
        const seen = inputs.slice(before);
        assert.equal(seen.length, 1, `handler calls: ${JSON.stringify(seen)}`);
        assert.equal(seen[0].key, 'user_name', `input request key: ${seen[0].key}`);
        assert.equal(seen[0].method, 'elicitation/create');
        assert.equal(seen[0].params.mode ?? 'form', 'form');
        assert.ok(seen[0].params.requestedSchema?.properties?.name, `requestedSchema: ${JSON.stringify(seen[0].params)}`);
        assert.equal(firstText(r), 'Hello, Ada Lovelace!', JSON.stringify(r));

        // the wire: first call -> input_required, retry with a new id carrying inputResponses + requestState
        const calls = conn.fetch.exchanges.filter(e => e.body?.params?.name === 'test_input_required_result_elicitation');
        assert.equal(calls.length, 2, `expected 2 tools/call POSTs, got ${calls.length}`);
        assert.notEqual(calls[0].body.id, calls[1].body.id, 'retry reused the request id');
        assert.deepEqual(calls[1].body.params.inputResponses?.user_name, { action: 'accept', content: { name: 'Ada Lovelace' } });
        assert.equal(typeof calls[1].body.params.requestState, 'string', 'retry carried no requestState');
    });

    it('multi-round tool: two rounds, then "<name> likes <color>"', async () => {
        const before = inputs.length;
        const r = await client.callTool({ name: 'test_input_required_result_multi_round', arguments: {} });
        const seen = inputs.slice(before);
        assert.deepEqual(
            seen.map(s => s.key),
            ['step1', 'step2'],
            `input request keys: ${JSON.stringify(seen.map(s => s.key))}`
        );
        assert.equal(firstText(r), 'Ada Lovelace likes teal', JSON.stringify(r));
        const calls = conn.fetch.exchanges.filter(e => e.body?.params?.name === 'test_input_required_result_multi_round');
        assert.equal(calls.length, 3, `expected 3 tools/call POSTs (2 rounds), got ${calls.length}`);
        assert.equal(new Set(calls.map(c => c.body.id)).size, 3, 'request ids repeated across rounds');
    });

    it('sampling input request (capital_question)', async () => {
        const before = inputs.length;
        const r = await client.callTool({ name: 'test_input_required_result_sampling', arguments: {} });
        const seen = inputs.slice(before);
        assert.deepEqual(seen.map(s => [s.key, s.method]), [['capital_question', 'sampling/createMessage']]);
        assert.ok(seen[0].params.maxTokens > 0, `maxTokens: ${seen[0].params.maxTokens}`);
        assert.equal(firstText(r), 'The model answered: Paris-from-sampler', JSON.stringify(r));
    });

    it('roots input request (client_roots)', async () => {
        const before = inputs.length;
        const r = await client.callTool({ name: 'test_input_required_result_list_roots', arguments: {} });
        const seen = inputs.slice(before);
        assert.deepEqual(seen.map(s => [s.key, s.method]), [['client_roots', 'roots/list']]);
        const text = firstText(r);
        assert.ok(text?.startsWith('Client roots: '), text);
        assert.deepEqual(JSON.parse(text.slice('Client roots: '.length)), [{ uri: 'file:///work/it-root', name: 'it-root' }]);
    });

    it('several inputs in one round (user_name, greeting, client_roots)', async () => {
        const before = inputs.length;
        const r = await client.callTool({ name: 'test_input_required_result_multiple_inputs', arguments: {} });
        const seen = inputs.slice(before);
        assert.deepEqual(
            seen.map(s => s.key).sort(),
            ['client_roots', 'greeting', 'user_name'],
            JSON.stringify(seen)
        );
        assert.equal(firstText(r), 'Name Ada Lovelace, greeting hello-from-sampler', JSON.stringify(r));
        const calls = conn.fetch.exchanges.filter(e => e.body?.params?.name === 'test_input_required_result_multiple_inputs');
        assert.equal(calls.length, 2, `all three inputs must come in one round; POSTs: ${calls.length}`);
    });

    it('request-state tool round-trips its sealed state', async () => {
        const r = await client.callTool({ name: 'test_input_required_result_request_state', arguments: {} });
        assert.match(firstText(r) ?? '', /state-ok/, JSON.stringify(r));
    });

    it('prompt with an input-required result (user_context)', async () => {
        const before = inputs.length;
        const r = await client.getPrompt({ name: 'test_input_required_result_prompt' });
        const seen = inputs.slice(before);
        assert.deepEqual(seen.map(s => s.key), ['user_context'], JSON.stringify(seen));
        assert.equal(r.messages?.length, 1, JSON.stringify(r));
        assert.equal(r.messages[0].content?.text, 'Use this context: integration-ctx-42');
        const gets = conn.fetch.exchanges.filter(e => e.body?.method === 'prompts/get');
        assert.equal(gets.at(-1).requestHeaders['mcp-name'], 'test_input_required_result_prompt');
    });

    it('progress notifications for test_tool_with_progress (onprogress)', async () => {
        const progress = [];
        const r = await client.callTool(
            { name: 'test_tool_with_progress', arguments: {} },
            { onprogress: p => progress.push(p) }
        );
        assert.equal(r.isError ?? false, false, JSON.stringify(r));
        const call = conn.fetch.exchanges.filter(e => e.body?.params?.name === 'test_tool_with_progress').at(-1);
        assert.ok(call.body.params._meta?.progressToken !== undefined, 'client sent no progressToken');
        assert.match(call.responseHeaders['content-type'] ?? '', /text\/event-stream/, 'progress needs an SSE answer');
        assert.deepEqual(
            progress.map(p => p.progress),
            [0, 50, 100],
            `progress: ${JSON.stringify(progress)}`
        );
        for (const p of progress) assert.equal(p.total, 100, JSON.stringify(p));
    });

    it('listen({toolsListChanged}) receives tools/list_changed after test_trigger_tool_change, not prompt changes', async () => {
        const sub = await within(client.listen({ toolsListChanged: true }), 5000, 'listen acknowledgement');
        let listenId;
        try {
            assert.deepEqual(sub.honoredFilter, { toolsListChanged: true }, `honoredFilter: ${JSON.stringify(sub.honoredFilter)}`);
            const listenPost = conn.fetch.exchanges.find(e => e.body?.method === 'subscriptions/listen');
            assert.ok(listenPost, 'no subscriptions/listen POST recorded');
            listenId = listenPost.body.id;
            assert.equal(listenPost.status, 200);
            assert.match(listenPost.responseHeaders['content-type'] ?? '', /text\/event-stream/);

            const toolsBefore = toolChanges.length;
            const promptsBefore = promptChanges.length;
            const got = signal();
            onToolChange = n => got.fire(n);
            // a prompt change first: not subscribed, so it must not reach this stream
            const pr = await client.callTool({ name: 'test_trigger_prompt_change', arguments: {} });
            assert.equal(firstText(pr), 'Prompt list change announced');
            const tr = await client.callTool({ name: 'test_trigger_tool_change', arguments: {} });
            assert.equal(firstText(tr), 'Tool list change announced');
            const n = await within(got.promise, 5000, 'notifications/tools/list_changed on the listen stream');
            assert.equal(n.method, 'notifications/tools/list_changed');
            assert.equal(
                n.params?._meta?.[SUBSCRIPTION_ID],
                listenPost.body.id,
                `subscriptionId ${JSON.stringify(n.params?._meta)} != listen id ${JSON.stringify(listenPost.body.id)}`
            );
            assert.equal(toolChanges.length, toolsBefore + 1, 'more than one tools/list_changed for one trigger');
            // the prompt change was triggered before the tool change on the same server; had it been
            // (wrongly) sent to this stream it would have arrived first
            await sleep(100);
            assert.equal(promptChanges.length, promptsBefore, `un-requested prompts/list_changed delivered: ${JSON.stringify(promptChanges)}`);
        } finally {
            onToolChange = () => {};
            await sub.close();
        }
        assert.equal(await within(sub.closed, 5000, 'listen close'), 'local');
        // the cancel notification POSTed by close() is accepted with 202
        const isCancel = x => x.body?.method === 'notifications/cancelled' && x.status !== undefined;
        await waitForLength(
            { get length() { return conn.fetch.exchanges.filter(isCancel).length; } },
            1,
            3000,
            'the notifications/cancelled POST'
        );
        const cancel = conn.fetch.exchanges.find(isCancel);
        assert.equal(cancel.body.params?.requestId, listenId, `cancelled ${JSON.stringify(cancel.body.params)}`);
        assert.equal(cancel.status, 202, `notifications/cancelled answered ${cancel.status}`);

        // after close, a further change is not delivered anywhere
        const after = toolChanges.length;
        await client.callTool({ name: 'test_trigger_tool_change', arguments: {} });
        await sleep(200);
        assert.equal(toolChanges.length, after, 'tools/list_changed delivered after the listen was closed');
    });

    it('server shutdown (SIGTERM) ends an open listen gracefully', async () => {
        const own = await startServer();
        let c;
        try {
            c = await connectV2(own.url, { name: 'shutdown-probe' });
            const sub = await within(c.client.listen({ toolsListChanged: true }), 5000, 'listen acknowledgement');
            const stopped = own.stop();
            assert.equal(await within(sub.closed, 5000, 'listen end on shutdown'), 'graceful', 'expected the listen completion result before the stream closed');
            const r = await stopped;
            assert.ok(!r.timedOut, 'server needed SIGKILL with a listen stream open');
            assert.equal(r.code, 0, `exit ${JSON.stringify(r)}`);
        } finally {
            await c?.close();
            await own.stop();
        }
    });

    it('no 2026 response carried Mcp-Session-Id', () => {
        assertNoSessionId(conn.fetch, 'client-v2 run');
        for (const e of conn.fetch.exchanges) {
            assert.equal(e.method, 'POST', `the v2 client used ${e.method}`);
        }
    });
});
