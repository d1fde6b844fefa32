// 5. ping, completion/complete, resources subscribe/unsubscribe, pagination
//    (tools/list, resources/list, prompts/list with nextCursor), plus a few
//    transport-level checks (HTTP sessions / version negotiation / SIGTERM,
//    stdio framing / EOF).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import {
    TRANSPORTS,
    SERVER,
    makeHarness,
    collectPages,
    expectMcpError,
    ErrorCode,
    EXPECTED_TOOLS,
    EXPECTED_PROMPTS,
    EXPECTED_RESOURCES,
    ResourceUpdatedNotificationSchema,
    LATEST_PROTOCOL_VERSION,
    sleep
} from './lib.mjs';

for (const kind of TRANSPORTS) {
    describe(`misc over ${kind}`, () => {
        const h = makeHarness(kind);
        let c;
        before(async () => {
            await h.setup();
            c = await h.connect();
        });
        after(() => h.teardown());

        test('ping returns an empty result, repeatedly', async () => {
            for (let i = 0; i < 5; i++) {
                const r = await c.client.ping({ timeout: 3_000 });
                assert.deepEqual(r, {}, `ping result must be {}${c.diag()}`);
            }
            const pingMsgs = c.transport.sent().filter(m => m.method === 'ping');
            const ids = new Set(pingMsgs.map(m => m.id));
            const replies = c.transport.received().filter(m => ids.has(m.id));
            assert.equal(replies.length, 5);
            for (const rep of replies) assert.deepEqual(rep.result, {}, `raw ping reply: ${JSON.stringify(rep)}`);
        });

        test('completion/complete for ref/prompt test_prompt_with_arguments', async () => {
            for (const value of ['', 'par', 'zzzz-no-match']) {
                const r = await c.client.complete({
                    ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' },
                    argument: { name: 'arg1', value }
                });
                assert.ok(r.completion, `missing completion field: ${JSON.stringify(r)}`);
                const { values, total, hasMore } = r.completion;
                assert.ok(Array.isArray(values), 'completion.values must be an array');
                assert.ok(values.length <= 100, `at most 100 values allowed, got ${values.length}`);
                for (const v of values) assert.equal(typeof v, 'string');
                if (total !== undefined) {
                    assert.ok(Number.isInteger(total) && total >= values.length, `total ${total} < values ${values.length}`);
                }
                if (hasMore !== undefined) assert.equal(typeof hasMore, 'boolean');
            }
            // with context arguments (2025-06-18+)
            const r2 = await c.client.complete({
                ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' },
                argument: { name: 'arg2', value: 'b' },
                context: { arguments: { arg1: 'a' } }
            });
            assert.ok(Array.isArray(r2.completion?.values));
        });

        test('completion/complete for an unknown prompt is an error', async () => {
            await expectMcpError(
                c.client.complete({ ref: { type: 'ref/prompt', name: 'no_such_prompt_xyz' }, argument: { name: 'arg1', value: 'x' } }),
                { code: ErrorCode.InvalidParams, what: 'complete unknown prompt' }
            );
        });

        test('resources subscribe / unsubscribe', async t => {
            const updates = [];
            c.client.setNotificationHandler(ResourceUpdatedNotificationSchema, n => updates.push({ uri: n.params.uri, at: Date.now() }));
            const s = await c.client.subscribeResource({ uri: 'test://watched-resource' });
            assert.deepEqual(s, {}, `subscribe must return {}: ${JSON.stringify(s)}`);
            // re-reading the watched resource works while subscribed
            const rr = await c.client.readResource({ uri: 'test://watched-resource' });
            assert.ok(rr.contents?.length > 0, 'watched resource has no contents');
            await sleep(300);
            for (const u of updates) assert.equal(u.uri, 'test://watched-resource', `update for a resource we did not subscribe: ${u.uri}`);
            const un = await c.client.unsubscribeResource({ uri: 'test://watched-resource' });
            assert.deepEqual(un, {}, `unsubscribe must return {}: ${JSON.stringify(un)}`);
            await sleep(200); // let anything in flight drain
            const mark = Date.now();
            await sleep(500);
            const afterUnsub = updates.filter(u => u.at > mark);
            assert.deepEqual(afterUnsub, [], 'updates kept arriving after unsubscribe');
            // subscribe again, server must still accept it
            assert.deepEqual(await c.client.subscribeResource({ uri: 'test://watched-resource' }), {});
            assert.deepEqual(await c.client.unsubscribeResource({ uri: 'test://watched-resource' }), {});
            t.diagnostic(`resource updates received while subscribed: ${updates.length}`);
        });

        test('pagination: tools/list, resources/list, prompts/list collect all pages', async t => {
            const tools = await collectPages(p => c.client.listTools(p), 'tools');
            const names = tools.items.map(x => x.name);
            t.diagnostic(`tools/list: ${names.length} tools over ${tools.pages} page(s)`);
            assert.equal(new Set(names).size, names.length, `a tool appears on two pages: ${names}`);
            for (const n of EXPECTED_TOOLS) assert.ok(names.includes(n), `tool ${n} missing from the paged listing`);

            // a second traversal must give the same sequence (cursors are stable)
            const again = await collectPages(p => c.client.listTools(p), 'tools');
            assert.deepEqual(again.items.map(x => x.name), names, 'tools/list order differs between traversals');

            const res = await collectPages(p => c.client.listResources(p), 'resources');
            t.diagnostic(`resources/list: ${res.items.length} over ${res.pages} page(s)`);
            for (const u of EXPECTED_RESOURCES) assert.ok(res.items.some(r => r.uri === u), `resource ${u} missing`);
            const pr = await collectPages(p => c.client.listPrompts(p), 'prompts');
            t.diagnostic(`prompts/list: ${pr.items.length} over ${pr.pages} page(s)`);
            for (const n of EXPECTED_PROMPTS) assert.ok(pr.items.some(p => p.name === n), `prompt ${n} missing`);
            const tpl = await collectPages(p => c.client.listResourceTemplates(p), 'resourceTemplates');
            assert.ok(tpl.items.length >= 1);
        });

        test('pagination: an invalid cursor is rejected with -32602', async () => {
            await expectMcpError(c.client.listTools({ cursor: '!!not-a-cursor!!' }), {
                code: ErrorCode.InvalidParams,
                what: 'tools/list bad cursor'
            });
            // and the server is fine afterwards
            assert.deepEqual(await c.client.ping(), {});
        });

        test('unknown method -> -32601', async () => {
            const { EmptyResultSchema } = await import('../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js');
            await expectMcpError(c.client.request({ method: 'jitgate/no_such_method', params: {} }, EmptyResultSchema), {
                code: ErrorCode.MethodNotFound,
                what: 'unknown method'
            });
        });

        if (kind === 'http') {
            describe('HTTP transport specifics', () => {
                test('every protocol revision 2024-11-05..2025-11-25 is negotiated', async () => {
                    for (const v of ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25']) {
                        const s = await rawInitialize(h.server.url, v);
                        assert.equal(s.status, 200, `initialize(${v}) HTTP ${s.status}: ${s.text}`);
                        assert.equal(s.msg?.result?.protocolVersion, v, `initialize(${v}) -> ${JSON.stringify(s.msg)}`);
                        assert.ok(s.sessionId, `no Mcp-Session-Id header for ${v}`);
                        const init = await rawPost(h.server.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, s.sessionId, v);
                        assert.equal(init.status, 202, `notifications/initialized must get 202, got ${init.status}`);
                        const list = await rawPost(h.server.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, s.sessionId, v);
                        assert.equal(list.status, 200, `tools/list(${v}) HTTP ${list.status}: ${list.text}`);
                        assert.ok(Array.isArray(list.msg?.result?.tools), `tools/list(${v}): ${list.text.slice(0, 300)}`);
                        await fetch(h.server.url, { method: 'DELETE', headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': v } });
                    }
                });

                test('an unsupported protocol version gets a supported one back', async () => {
                    const s = await rawInitialize(h.server.url, '1999-01-01');
                    assert.equal(s.status, 200, `HTTP ${s.status}: ${s.text}`);
                    assert.equal(s.msg?.result?.protocolVersion, LATEST_PROTOCOL_VERSION, JSON.stringify(s.msg));
                });

                test('requests without / with an unknown session id are refused', async () => {
                    const noSession = await rawPost(h.server.url, { jsonrpc: '2.0', id: 5, method: 'tools/list' }, undefined, '2025-11-25');
                    assert.equal(noSession.status, 400, `missing Mcp-Session-Id should be 400, got ${noSession.status}`);
                    const bogus = await rawPost(h.server.url, { jsonrpc: '2.0', id: 6, method: 'tools/list' }, 'no-such-session-0000', '2025-11-25');
                    assert.equal(bogus.status, 404, `unknown Mcp-Session-Id should be 404, got ${bogus.status}`);
                });

                test('DELETE terminates the session; later requests get 404', async () => {
                    const s = await rawInitialize(h.server.url, '2025-11-25');
                    const del = await fetch(h.server.url, { method: 'DELETE', headers: { 'mcp-session-id': s.sessionId, 'mcp-protocol-version': '2025-11-25' } });
                    await del.arrayBuffer();
                    assert.ok([200, 202, 204, 405].includes(del.status), `DELETE returned ${del.status}`);
                    if (del.status !== 405) {
                        const after = await rawPost(h.server.url, { jsonrpc: '2.0', id: 9, method: 'ping' }, s.sessionId, '2025-11-25');
                        assert.equal(after.status, 404, `request on a deleted session should be 404, got ${after.status}`);
                    }
                });

                test('server printed nothing else on stdout', () => {
                    assert.equal(h.server.stdoutAfterUrl(), '', 'stdout must carry exactly one line');
                });

                test('SIGTERM with live sessions -> exit code 0', { timeout: 10_000 }, async () => {
                    const r = await h.server.stop({ timeoutMs: 5_000 });
                    assert.ok(!r.timedOut, 'server did not exit within 5 s of SIGTERM');
                    assert.equal(r.signal, null, `server died from signal ${r.signal}`);
                    assert.equal(r.code, 0, `exit code ${r.code}; stderr tail:\n${h.server.stderr().slice(-1500)}`);
                });
            });
        } else {
            describe('stdio transport specifics', () => {
                test('stdout carries only JSON-RPC lines; bad JSON gets -32700; EOF -> exit 0', { timeout: 10_000 }, async () => {
                    const proc = spawn(SERVER, ['--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
                    let stderr = '';
                    proc.stderr.on('data', d => (stderr += d));
                    const exited = new Promise(res => proc.once('exit', (code, signal) => res({ code, signal })));
                    const lines = [];
                    const waiters = [];
                    createInterface({ input: proc.stdout }).on('line', l => {
                        lines.push(l);
                        waiters.splice(0).forEach(w => w());
                    });
                    const nextLine = async (timeoutMs = 3000) => {
                        const deadline = Date.now() + timeoutMs;
                        while (lines.length === 0) {
                            if (Date.now() > deadline) throw new Error(`no stdout line within ${timeoutMs} ms; stderr:\n${stderr}`);
                            await Promise.race([new Promise(r => waiters.push(r)), sleep(50)]);
                        }
                        return lines.shift();
                    };
                    const send = m => proc.stdin.write(JSON.stringify(m) + '\n');
                    try {
                        send({
                            jsonrpc: '2.0',
                            id: 1,
                            method: 'initialize',
                            params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '0' } }
                        });
                        const initLine = await nextLine();
                        const init = JSON.parse(initLine);
                        assert.equal(init.id, 1);
                        assert.equal(init.result?.protocolVersion, '2025-11-25');
                        send({ jsonrpc: '2.0', method: 'notifications/initialized' });
                        proc.stdin.write('{this is not json\n');
                        const errLine = await nextLine();
                        const err = JSON.parse(errLine);
                        assert.equal(err.error?.code, -32700, `expected parse error, got ${errLine}`);
                        assert.equal(err.id, null, 'parse error response must have id null');
                        send({ jsonrpc: '2.0', id: 'abc', method: 'ping' });
                        const ping = JSON.parse(await nextLine());
                        assert.deepEqual(ping, { jsonrpc: '2.0', id: 'abc', result: {} });
                        proc.stdin.end();
                        const r = await Promise.race([exited, sleep(3000).then(() => 'timeout')]);
                        if (r === 'timeout') proc.kill('SIGKILL');
                        assert.notEqual(r, 'timeout', 'server did not exit within 3 s of stdin EOF');
                        assert.deepEqual(r, { code: 0, signal: null }, `stderr:\n${stderr.slice(-1500)}`);
                        assert.deepEqual(lines, [], `unexpected extra stdout lines: ${lines}`);
                    } finally {
                        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
                    }
                });
            });
        }
    });
}

// ---- raw HTTP helpers (used for transport-level checks only) -------------

async function rawPost(url, body, sessionId, protocolVersion) {
    const headers = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream'
    };
    if (sessionId) headers['mcp-session-id'] = sessionId;
    if (protocolVersion && body.method !== 'initialize') headers['mcp-protocol-version'] = protocolVersion;
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
    const ct = res.headers.get('content-type') ?? '';
    let text = '';
    let msg;
    if (ct.includes('text/event-stream')) {
        // read SSE events until we see the response to our id
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        const deadline = Date.now() + 5000;
        outer: while (Date.now() < deadline) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += dec.decode(value, { stream: true });
            text = buf;
            let idx;
            while ((idx = buf.search(/\r?\n\r?\n/)) >= 0) {
                const ev = buf.slice(0, idx);
                buf = buf.slice(idx).replace(/^\r?\n\r?\n/, '');
                const data = ev
                    .split(/\r?\n/)
                    .filter(l => l.startsWith('data:'))
                    .map(l => l.slice(5).replace(/^ /, ''))
                    .join('\n');
                if (!data) continue;
                const m = JSON.parse(data);
                if (m.id === body.id && ('result' in m || 'error' in m)) {
                    msg = m;
                    break outer;
                }
            }
        }
        await reader.cancel().catch(() => {});
    } else {
        text = await res.text();
        if (text && ct.includes('application/json')) msg = JSON.parse(text);
    }
    return { status: res.status, sessionId: res.headers.get('mcp-session-id'), msg, text };
}

async function rawInitialize(url, protocolVersion) {
    return rawPost(
        url,
        {
            jsonrpc: '2.0',
            id: 1,
            method: 'initialize',
            params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw-it', version: '0' } }
        },
        undefined,
        protocolVersion
    );
}

// ---- pagination with a small page size ---------------------------------
// With the default page size every list fits on one page, so the cursor loop
// above is only trivially exercised. `--page-size N` makes the server split
// every list into pages of N entries.
const PAGE_SIZE = 2;
for (const kind of TRANSPORTS) {
    describe(`pagination with --page-size ${PAGE_SIZE} over ${kind}`, () => {
        const h = makeHarness(kind, { serverArgs: ['--page-size', String(PAGE_SIZE)] });
        const hAll = makeHarness(kind);
        let c;
        let cAll;
        before(async () => {
            await h.setup();
            await hAll.setup();
            c = await h.connect();
            cAll = await hAll.connect();
        });
        after(async () => {
            await h.teardown();
            await hAll.teardown();
        });

        const lists = [
            ['tools/list', cl => p => cl.listTools(p), 'tools', x => x.name],
            ['resources/list', cl => p => cl.listResources(p), 'resources', x => x.uri],
            ['resources/templates/list', cl => p => cl.listResourceTemplates(p), 'resourceTemplates', x => x.uriTemplate],
            ['prompts/list', cl => p => cl.listPrompts(p), 'prompts', x => x.name]
        ];
        for (const [method, call, key, id] of lists) {
            test(`${method}: pages of ${PAGE_SIZE}, union equals the unpaged list`, async t => {
                const all = await collectPages(call(cAll.client), key);
                const paged = await collectPages(call(c.client), key);
                t.diagnostic(`${method}: ${paged.items.length} entries over ${paged.pages} page(s): sizes ${paged.sizes}`);
                assert.deepEqual(paged.items.map(id), all.items.map(id), `${method}: paged union differs from the single-page list${c.diag()}`);
                const n = all.items.length;
                assert.equal(paged.pages, Math.max(1, Math.ceil(n / PAGE_SIZE)), `${method}: ${n} entries should take ${Math.ceil(n / PAGE_SIZE)} pages, got sizes ${paged.sizes}`);
                paged.sizes.slice(0, -1).forEach((sz, i) => assert.equal(sz, PAGE_SIZE, `${method}: page ${i + 1} has ${sz} entries`));
                assert.ok(paged.sizes.at(-1) >= 1 || n === 0, `${method}: empty last page`);
            });
        }

        test('tools/list: the cursor loop visits > 1 page and every expected tool', async () => {
            const { items, pages } = await collectPages(p => c.client.listTools(p), 'tools');
            assert.ok(pages > 1, `expected several pages with --page-size ${PAGE_SIZE}, got ${pages}`);
            for (const n of EXPECTED_TOOLS) assert.ok(items.some(x => x.name === n), `tool ${n} missing`);
        });

        test('tools/list: resuming from each cursor yields the same tail', async () => {
            const all = (await collectPages(p => c.client.listTools(p), 'tools')).items.map(x => x.name);
            let seen = [];
            let cursor;
            for (let guard = 0; guard < 100; guard++) {
                const page = await c.client.listTools(cursor ? { cursor } : undefined);
                seen = seen.concat(page.tools.map(x => x.name));
                if (!page.nextCursor) break;
                const tail = await collectPages(p => c.client.listTools(p ?? { cursor: page.nextCursor }), 'tools');
                assert.deepEqual([...seen, ...tail.items.map(x => x.name)], all, `resuming from cursor ${page.nextCursor} differs`);
                cursor = page.nextCursor;
            }
            assert.deepEqual(seen, all);
        });

        test('tools/list: a garbage cursor is rejected, a cursor can be reused', async () => {
            await expectMcpError(c.client.listTools({ cursor: 'garbage!!' }), { code: ErrorCode.InvalidParams, what: 'garbage cursor' });
            // the SDK client has no way to forge cursors, but reusing a valid one must still work
            const first = await c.client.listTools();
            assert.ok(first.nextCursor, 'first page must have a nextCursor');
            const a = await c.client.listTools({ cursor: first.nextCursor });
            const b = await c.client.listTools({ cursor: first.nextCursor });
            assert.deepEqual(a.tools.map(x => x.name), b.tools.map(x => x.name), 'same cursor, different page');
        });
    });
}
