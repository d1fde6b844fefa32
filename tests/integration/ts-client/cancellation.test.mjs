// 4. Cancellation: abort a running test_slow, prove the server-side handler
//    stopped (test_cancelled_count increases), and that the server keeps serving.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TRANSPORTS, makeHarness, firstText, pollUntil, SIMPLE_TEXT, sleep } from './lib.mjs';

async function cancelledCount(client) {
    const r = await client.callTool({ name: 'test_cancelled_count', arguments: {} }, undefined, { timeout: 5_000 });
    const t = firstText(r);
    assert.match(t ?? '', /^\d+$/, `test_cancelled_count did not return a decimal number: ${JSON.stringify(r)}`);
    return Number(t);
}

for (const kind of TRANSPORTS) {
    describe(`cancellation over ${kind}`, () => {
        const h = makeHarness(kind);
        before(() => h.setup());
        after(() => h.teardown());

        test('abort test_slow -> rejects, handler stops, server still serves', { timeout: 20_000 }, async () => {
            const c = await h.connect();
            const baseline = await cancelledCount(c.client);

            const ac = new AbortController();
            const t0 = Date.now();
            const call = c.client.callTool({ name: 'test_slow', arguments: { durationMs: 10_000 } }, undefined, {
                signal: ac.signal,
                timeout: 30_000
            });
            // make sure the call is not resolved/rejected early (the server must really be sleeping)
            const early = await Promise.race([call.then(() => 'resolved', () => 'rejected'), sleep(300).then(() => 'pending')]);
            assert.equal(early, 'pending', `test_slow(10s) finished within 300 ms (${early})${c.diag()}`);
            ac.abort(new Error('integration test cancels test_slow'));
            await assert.rejects(call, 'aborted call must reject');
            const rejectedAfter = Date.now() - t0;
            assert.ok(rejectedAfter < 3_000, `rejection took ${rejectedAfter} ms`);

            // the notifications/cancelled must have gone out on the wire
            const callMsg = c.transport.sent().find(m => m.method === 'tools/call' && m.params?.name === 'test_slow');
            const sentCancel = c.transport.sent().find(m => m.method === 'notifications/cancelled');
            assert.ok(sentCancel, 'client did not send notifications/cancelled');
            assert.equal(sentCancel.params.requestId, callMsg.id);

            const polled = await pollUntil(
                async () => {
                    const n = await cancelledCount(c.client);
                    return { done: n > baseline, n };
                },
                { timeoutMs: 5_000, intervalMs: 100 }
            );
            assert.ok(
                polled.done,
                `test_cancelled_count stayed at ${polled.n} (baseline ${baseline}) for 5 s after cancelling: the server did not stop the handler${c.diag()}`
            );
            assert.equal(polled.n, baseline + 1, `exactly one call was cancelled, count went ${baseline} -> ${polled.n}`);
            const stoppedAfter = Date.now() - t0;
            assert.ok(stoppedAfter < 9_000, `handler stop observed only after ${stoppedAfter} ms (not earlier than natural completion)`);

            // the server still serves on the same connection/session
            const r = await c.client.callTool({ name: 'test_simple_text', arguments: {} }, undefined, { timeout: 5_000 });
            assert.equal(firstText(r), SIMPLE_TEXT);
            const t1 = Date.now();
            const r2 = await c.client.callTool({ name: 'test_slow', arguments: { durationMs: 100 } }, undefined, { timeout: 5_000 });
            assert.ok(firstText(r2), 'short test_slow after cancellation returned no text');
            assert.ok(Date.now() - t1 >= 90, 'short test_slow returned too early');
            assert.equal(await cancelledCount(c.client), baseline + 1, 'a completed test_slow must not count as cancelled');
            // Spec: the receiver SHOULD NOT send a response for a cancelled request.
            const late = c.transport.received().filter(m => m.id === callMsg.id && ('result' in m || 'error' in m));
            assert.deepEqual(late, [], `server answered the cancelled request id ${callMsg.id} (SHOULD NOT)`);
            await c.close();
        });

        test('cancelling one of two concurrent slow calls leaves the other running', { timeout: 20_000 }, async () => {
            const c = await h.connect();
            const baseline = await cancelledCount(c.client);
            const ac = new AbortController();
            const victim = c.client.callTool({ name: 'test_slow', arguments: { durationMs: 10_000 } }, undefined, { signal: ac.signal });
            const survivor = c.client.callTool({ name: 'test_slow', arguments: { durationMs: 800 } }, undefined, { timeout: 10_000 });
            await sleep(300);
            ac.abort();
            await assert.rejects(victim);
            const r = await survivor;
            assert.ok(firstText(r), `surviving call returned no text${c.diag()}`);
            assert.notEqual(r.isError, true, 'surviving call reported an error');
            const polled = await pollUntil(async () => {
                const n = await cancelledCount(c.client);
                return { done: n > baseline, n };
            });
            assert.equal(polled.n, baseline + 1, `expected count ${baseline + 1}, got ${polled.n}`);
            await c.close();
        });

        test('cancelling an unknown request id is ignored', async () => {
            const c = await h.connect();
            await c.client.notification({ method: 'notifications/cancelled', params: { requestId: 987654, reason: 'nothing' } });
            const r = await c.client.callTool({ name: 'test_simple_text', arguments: {} }, undefined, { timeout: 5_000 });
            assert.equal(firstText(r), SIMPLE_TEXT);
            await c.close();
        });

        test('request timeout on the client side also cancels the server handler', { timeout: 20_000 }, async () => {
            const c = await h.connect();
            const baseline = await cancelledCount(c.client);
            await assert.rejects(
                c.client.callTool({ name: 'test_slow', arguments: { durationMs: 10_000 } }, undefined, { timeout: 300 }),
                e => e.code === -32001
            );
            const polled = await pollUntil(async () => {
                const n = await cancelledCount(c.client);
                return { done: n > baseline, n };
            });
            assert.ok(polled.done, `count stayed ${polled.n} after a client-side timeout cancellation${c.diag()}`);
            await c.close();
        });
    });
}
