// 3. Server-to-client requests: sampling/createMessage and elicitation/create.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { TRANSPORTS, makeHarness, CreateMessageRequestSchema, ElicitRequestSchema, firstText, allText } from './lib.mjs';

function samplingClient(h, answerFor) {
    const requests = [];
    return h
        .connect({
            capabilities: { sampling: {} },
            setup(client) {
                client.setRequestHandler(CreateMessageRequestSchema, async req => {
                    requests.push(req.params);
                    const prompt = req.params.messages?.[0]?.content?.text;
                    return { model: 'it-model', role: 'assistant', content: { type: 'text', text: await answerFor(prompt) } };
                });
            }
        })
        .then(c => Object.assign(c, { requests }));
}

function elicitationClient(h, respond) {
    const requests = [];
    return h
        .connect({
            capabilities: { elicitation: {} },
            setup(client) {
                client.setRequestHandler(ElicitRequestSchema, async req => {
                    requests.push(req.params);
                    return respond(req.params);
                });
            }
        })
        .then(c => Object.assign(c, { requests }));
}

for (const kind of TRANSPORTS) {
    describe(`client requests over ${kind}`, () => {
        const h = makeHarness(kind);
        before(() => h.setup());
        after(() => h.teardown());

        test('sampling: the tool returns the client answer', async () => {
            const answer = `answer-${randomUUID()}`;
            const prompt = `prompt-${randomUUID()}`;
            const c = await samplingClient(h, () => answer);
            const r = await c.client.callTool({ name: 'test_sampling', arguments: { prompt } }, undefined, { timeout: 10_000 });
            assert.equal(c.requests.length, 1, `expected exactly one sampling/createMessage${c.diag()}`);
            const req = c.requests[0];
            assert.equal(req.messages.length, 1);
            assert.equal(req.messages[0].role, 'user');
            assert.deepEqual(req.messages[0].content, { type: 'text', text: prompt });
            assert.equal(typeof req.maxTokens, 'number', 'maxTokens is required');
            assert.ok(req.maxTokens > 0);
            assert.notEqual(r.isError, true, `tool failed: ${JSON.stringify(r)}`);
            assert.equal(firstText(r), `LLM response: ${answer}`);
            await c.close();
        });

        test('sampling: concurrent calls are correlated with their own answers', async () => {
            const c = await samplingClient(h, async prompt => {
                // answer in reverse order of arrival to shake out id mix-ups
                await new Promise(r => setTimeout(r, prompt.endsWith('-0') ? 150 : 10));
                return `echo:${prompt}`;
            });
            const prompts = [0, 1, 2].map(i => `concurrent-${randomUUID()}-${i}`);
            const results = await Promise.all(
                prompts.map(prompt => c.client.callTool({ name: 'test_sampling', arguments: { prompt } }, undefined, { timeout: 10_000 }))
            );
            results.forEach((r, i) => assert.equal(firstText(r), `LLM response: echo:${prompts[i]}`, `call ${i}${c.diag()}`));
            assert.equal(c.requests.length, 3);
            await c.close();
        });

        test('sampling: client error is surfaced as a tool error, server keeps working', async () => {
            const c = await samplingClient(h, () => {
                throw new Error('user rejected sampling');
            });
            let failed = false;
            try {
                const r = await c.client.callTool({ name: 'test_sampling', arguments: { prompt: 'x' } }, undefined, { timeout: 10_000 });
                failed = r.isError === true;
                assert.ok(failed, `expected isError when the client rejects sampling, got ${JSON.stringify(r)}`);
            } catch (e) {
                if (e.code === 'ERR_ASSERTION') throw e;
                failed = true; // a JSON-RPC error is acceptable too
            }
            assert.ok(failed);
            const r2 = await c.client.callTool({ name: 'test_simple_text', arguments: {} });
            assert.ok(firstText(r2));
            await c.close();
        });

        test('sampling: without the sampling capability the tool fails', async () => {
            const c = await h.connect({ capabilities: {} });
            let failed = false;
            try {
                const r = await c.client.callTool({ name: 'test_sampling', arguments: { prompt: 'x' } }, undefined, { timeout: 5_000 });
                failed = r.isError === true;
                assert.ok(failed, `server must not report success without sampling capability: ${JSON.stringify(r)}${c.diag()}`);
            } catch (e) {
                if (e.code === 'ERR_ASSERTION') throw e;
                assert.notEqual(e.code, -32001, `server hung (request timed out) instead of failing${c.diag()}`);
                failed = true;
            }
            assert.ok(failed);
            await c.close();
        });

        test('elicitation: accept with content', async () => {
            const username = `user-${randomUUID().slice(0, 8)}`;
            const email = `${username}@example.org`;
            const message = `Who are you? ${randomUUID()}`;
            const c = await elicitationClient(h, () => ({ action: 'accept', content: { username, email } }));
            const r = await c.client.callTool({ name: 'test_elicitation', arguments: { message } }, undefined, { timeout: 10_000 });
            assert.equal(c.requests.length, 1, `expected exactly one elicitation/create${c.diag()}`);
            const req = c.requests[0];
            assert.equal(req.message, message);
            assert.equal(req.requestedSchema?.type, 'object');
            assert.equal(req.requestedSchema.properties?.username?.type, 'string');
            assert.equal(req.requestedSchema.properties?.email?.type, 'string');
            assert.deepEqual([...(req.requestedSchema.required ?? [])].sort(), ['email', 'username']);
            assert.notEqual(r.isError, true, `tool failed: ${JSON.stringify(r)}`);
            const text = allText(r);
            assert.match(text, /accept/, `result must report the action: ${text}`);
            assert.ok(text.includes(username), `result must contain the username: ${text}`);
            assert.ok(text.includes(email), `result must contain the email: ${text}`);
            await c.close();
        });

        test('elicitation: decline is reported', async () => {
            const c = await elicitationClient(h, () => ({ action: 'decline' }));
            const r = await c.client.callTool({ name: 'test_elicitation', arguments: { message: 'please?' } }, undefined, { timeout: 10_000 });
            assert.equal(c.requests.length, 1);
            const text = allText(r);
            assert.match(text, /decline/, `result must report the decline: ${text}${c.diag()}`);
            assert.doesNotMatch(text, /accept/);
            await c.close();
        });

        test('elicitation: cancel is reported', async () => {
            const c = await elicitationClient(h, () => ({ action: 'cancel' }));
            const r = await c.client.callTool({ name: 'test_elicitation', arguments: { message: 'please?' } }, undefined, { timeout: 10_000 });
            assert.match(allText(r), /cancel/, `result must report the cancel: ${allText(r)}`);
            await c.close();
        });

        test('elicitation: without the elicitation capability the tool fails', async () => {
            const c = await h.connect({ capabilities: {} });
            let failed = false;
            try {
                const r = await c.client.callTool({ name: 'test_elicitation', arguments: { message: 'x' } }, undefined, { timeout: 5_000 });
                failed = r.isError === true;
                assert.ok(failed, `server must not report success without elicitation capability: ${JSON.stringify(r)}`);
            } catch (e) {
                if (e.code === 'ERR_ASSERTION') throw e;
                assert.notEqual(e.code, -32001, `server hung (request timed out) instead of failing${c.diag()}`);
                failed = true;
            }
            assert.ok(failed);
            await c.close();
        });
    });
}
