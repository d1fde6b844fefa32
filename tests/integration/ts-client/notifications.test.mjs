// 2. Progress notifications (onprogress) and logging notifications
//    (logging/setLevel + test_tool_with_logging): count and order.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TRANSPORTS, makeHarness, LoggingMessageNotificationSchema, firstText, sleep } from './lib.mjs';

for (const kind of TRANSPORTS) {
    describe(`notifications over ${kind}`, () => {
        const h = makeHarness(kind);
        before(() => h.setup());
        after(() => h.teardown());

        test('progress: 0, 50, 100 of 100, all before the result', async () => {
            const c = await h.connect();
            const seen = [];
            let resolvedAt = -1;
            const r = await c.client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, {
                onprogress: p => seen.push({ ...p }),
                timeout: 10_000
            });
            resolvedAt = seen.length;
            assert.ok(firstText(r), `no text in result: ${JSON.stringify(r)}`);
            assert.deepEqual(
                seen.map(p => p.progress),
                [0, 50, 100],
                `progress sequence${c.diag()}`
            );
            for (const p of seen) assert.equal(p.total, 100, `total must be 100: ${JSON.stringify(p)}`);
            assert.equal(resolvedAt, 3, 'all progress notifications must arrive before the response');
            // progress must be strictly increasing (spec MUST)
            for (let i = 1; i < seen.length; i++) assert.ok(seen[i].progress > seen[i - 1].progress);
            await sleep(100);
            assert.equal(seen.length, 3, 'progress notifications arrived after the response');
            // wire level: same token as the request's _meta.progressToken, all before the response
            const req = c.transport.sent().find(m => m.method === 'tools/call');
            const token = req.params._meta.progressToken;
            const rx = c.transport.received();
            const respIdx = rx.findIndex(m => m.id === req.id);
            const progIdx = rx.map((m, i) => (m.method === 'notifications/progress' ? i : -1)).filter(i => i >= 0);
            assert.equal(progIdx.length, 3);
            for (const i of progIdx) {
                assert.equal(rx[i].params.progressToken, token, 'progressToken must echo the request token');
                assert.ok(i < respIdx, 'progress notification after the response on the wire');
            }
            assert.deepEqual(c.errors.map(e => e.message), [], 'client reported errors');
            await c.close();
        });

        test('progress: none sent when no progressToken is given', async () => {
            const c = await h.connect();
            const r = await c.client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { timeout: 10_000 });
            assert.ok(firstText(r));
            await sleep(150);
            // The SDK reports progress for unknown tokens through onerror.
            const progressErrors = c.errors.filter(e => /progress/i.test(e.message));
            assert.deepEqual(progressErrors.map(e => e.message), [], `server sent progress without a token${c.diag()}`);
            const wire = c.transport.received().filter(m => m.method === 'notifications/progress');
            assert.deepEqual(wire, []);
            await c.close();
        });

        test('progress: two concurrent calls get their own notifications', async () => {
            const c = await h.connect();
            const a = [];
            const b = [];
            const [ra, rb] = await Promise.all([
                c.client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { onprogress: p => a.push(p.progress) }),
                c.client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined, { onprogress: p => b.push(p.progress) })
            ]);
            assert.ok(firstText(ra) && firstText(rb));
            assert.deepEqual(a, [0, 50, 100], `first call${c.diag()}`);
            assert.deepEqual(b, [0, 50, 100], `second call${c.diag()}`);
            await c.close();
        });

        test('logging: setLevel debug, then 3 info messages in order, before the result', async () => {
            const c = await h.connect();
            const logs = [];
            c.client.setNotificationHandler(LoggingMessageNotificationSchema, n => {
                logs.push(n.params);
            });
            const setRes = await c.client.setLoggingLevel('debug');
            assert.deepEqual(setRes, {}, 'logging/setLevel must return an empty result');
            const r = await c.client.callTool({ name: 'test_tool_with_logging', arguments: {} }, undefined, { timeout: 10_000 });
            const atResolve = logs.length;
            assert.ok(firstText(r), 'no text in result');
            assert.equal(atResolve, 3, `expected 3 log notifications before the result, got ${atResolve}: ${JSON.stringify(logs)}${c.diag()}`);
            for (const l of logs) {
                assert.equal(l.level, 'info', `level must be info: ${JSON.stringify(l)}`);
                assert.ok(l.data !== undefined && l.data !== null, `data missing: ${JSON.stringify(l)}`);
            }
            // Order: started -> processing -> completed.
            const texts = logs.map(l => (typeof l.data === 'string' ? l.data : JSON.stringify(l.data)));
            assert.match(texts[0], /start/i, `first log should be "started": ${texts}`);
            assert.match(texts[1], /process/i, `second log should be "processing": ${texts}`);
            assert.match(texts[2], /complet/i, `third log should be "completed": ${texts}`);
            await sleep(100);
            assert.equal(logs.length, 3, 'extra log notifications after the result');
            await c.close();
        });

        test('logging: setLevel warning filters out info messages', async () => {
            const c = await h.connect();
            const logs = [];
            c.client.setNotificationHandler(LoggingMessageNotificationSchema, n => logs.push(n.params));
            try {
                await c.client.setLoggingLevel('warning');
                const r = await c.client.callTool({ name: 'test_tool_with_logging', arguments: {} }, undefined, { timeout: 10_000 });
                assert.ok(firstText(r));
                await sleep(100);
                assert.deepEqual(logs, [], `info messages sent although level is warning${c.diag()}`);
            } finally {
                // in case the server keeps the level globally rather than per session
                await c.client.setLoggingLevel('debug').catch(() => {});
            }
            await c.close();
        });

        test('logging: invalid level is rejected', async () => {
            const c = await h.connect();
            // bypass the SDK's typed helper to send an invalid level
            const { EmptyResultSchema } = await import('../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js');
            await assert.rejects(
                c.client.request({ method: 'logging/setLevel', params: { level: 'loud' } }, EmptyResultSchema),
                err => err.code === -32602,
                'logging/setLevel with an unknown level should fail with -32602'
            );
            await c.close();
        });
    });
}
