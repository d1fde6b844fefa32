// 1. List every primitive (tools, resources, resource templates, prompts) and
//    call / read / get every one of them, asserting real content.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    TRANSPORTS,
    makeHarness,
    collectPages,
    CreateMessageRequestSchema,
    ElicitRequestSchema,
    ListRootsRequestSchema,
    EXPECTED_TOOLS,
    EXPECTED_RESOURCES,
    EXPECTED_TEMPLATE,
    EXPECTED_PROMPTS,
    SIMPLE_TEXT,
    STATIC_TEXT,
    firstText,
    allText,
    assertPng,
    assertWav,
    assertContentBlock,
    argsFromSchema,
    elicitContentFromSchema,
    expectMcpError,
    ErrorCode
} from './lib.mjs';

const SAMPLING_ANSWER = 'sampled-answer-7f3a';

/** Per-tool expectations; tools not listed here get the generic checks only. */
const TOOL_CHECKS = {
    test_simple_text: {
        check(r) {
            assert.deepEqual(r.content, [{ type: 'text', text: SIMPLE_TEXT }]);
        }
    },
    test_image_content: {
        check(r) {
            const img = r.content.find(c => c.type === 'image');
            assert.ok(img, 'no image content block');
            assert.equal(img.mimeType, 'image/png');
            assertPng(img.data, 'test_image_content');
        }
    },
    test_audio_content: {
        check(r) {
            const a = r.content.find(c => c.type === 'audio');
            assert.ok(a, 'no audio content block');
            assert.equal(a.mimeType, 'audio/wav');
            assertWav(a.data, 'test_audio_content');
        }
    },
    test_embedded_resource: {
        check(r) {
            const res = r.content.find(c => c.type === 'resource');
            assert.ok(res, 'no embedded resource content block');
            assert.match(res.resource.uri, /^test:\/\//);
            assert.equal(res.resource.mimeType, 'text/plain');
            assert.equal(typeof res.resource.text, 'string');
            assert.ok(res.resource.text.length > 0);
        }
    },
    test_multiple_content_types: {
        check(r) {
            const types = r.content.map(c => c.type);
            assert.ok(r.content.length >= 3, `expected >= 3 content blocks, got ${types}`);
            for (const t of ['text', 'image', 'resource']) assert.ok(types.includes(t), `missing ${t} block in ${types}`);
            assertPng(r.content.find(c => c.type === 'image').data, 'mixed image');
            const res = r.content.find(c => c.type === 'resource').resource;
            if (res.mimeType === 'application/json') JSON.parse(res.text); // must be valid JSON
        }
    },
    test_tool_with_logging: { check: r => assert.ok(firstText(r)) },
    test_tool_with_progress: { check: r => assert.ok(firstText(r)) },
    test_error_handling: {
        expectError: true,
        check(r) {
            assert.equal(r.isError, true, 'isError must be true');
            assert.ok(firstText(r), 'error result should carry an explanatory text block');
        }
    },
    test_sampling: {
        args: { prompt: 'primitive-sweep prompt' },
        check(r) {
            assert.equal(firstText(r), `LLM response: ${SAMPLING_ANSWER}`);
        }
    },
    test_elicitation: {
        args: { message: 'primitive-sweep: who are you?' },
        check(r) {
            const t = allText(r);
            assert.match(t, /accept/, `elicitation result should mention the action: ${t}`);
            assert.ok(t.includes('sweep-user'), `elicitation result should contain the username: ${t}`);
            assert.ok(t.includes('sweep@example.com'), `elicitation result should contain the email: ${t}`);
        }
    },
    test_slow: {
        args: { durationMs: 60 },
        check(r, elapsed) {
            assert.ok(firstText(r), 'no text');
            assert.ok(elapsed >= 50, `test_slow(60ms) returned after only ${elapsed} ms`);
        }
    },
    test_cancelled_count: {
        check(r) {
            assert.match(firstText(r) ?? '', /^\d+$/, `not a decimal number: ${JSON.stringify(r.content)}`);
        }
    },
    test_reconnection: {
        timeout: 15_000,
        check: r => assert.ok(r.content.length > 0)
    }
};

for (const kind of TRANSPORTS) {
    describe(`primitives over ${kind}`, () => {
        const h = makeHarness(kind);
        let c; // connected client entry
        const elicitations = [];
        const samplings = [];

        before(async () => {
            await h.setup();
            c = await h.connect({
                capabilities: { sampling: {}, elicitation: {}, roots: {} },
                setup(client) {
                    client.setRequestHandler(ListRootsRequestSchema, async () => ({
                        roots: [{ uri: 'file:///tmp/jitgate-it', name: 'it root' }]
                    }));
                    client.setRequestHandler(CreateMessageRequestSchema, async req => {
                        samplings.push(req.params);
                        return { model: 'it-model', role: 'assistant', content: { type: 'text', text: SAMPLING_ANSWER } };
                    });
                    client.setRequestHandler(ElicitRequestSchema, async req => {
                        elicitations.push(req.params);
                        const content = elicitContentFromSchema(req.params.requestedSchema);
                        if ('username' in content) content.username = 'sweep-user';
                        if ('email' in content) content.email = 'sweep@example.com';
                        return { action: 'accept', content };
                    });
                }
            });
        });
        after(() => h.teardown());

        test('initialize: server info and capabilities', () => {
            const info = c.client.getServerVersion();
            assert.equal(typeof info?.name, 'string');
            assert.equal(typeof info?.version, 'string');
            const caps = c.client.getServerCapabilities();
            assert.equal(caps?.tools?.listChanged, true, `tools.listChanged: ${JSON.stringify(caps)}`);
            assert.equal(caps?.resources?.listChanged, true, `resources.listChanged: ${JSON.stringify(caps)}`);
            assert.equal(caps?.resources?.subscribe, true, `resources.subscribe: ${JSON.stringify(caps)}`);
            assert.equal(caps?.prompts?.listChanged, true, `prompts.listChanged: ${JSON.stringify(caps)}`);
            assert.ok(caps?.logging, `logging capability missing: ${JSON.stringify(caps)}`);
            assert.ok(caps?.completions, `completions capability missing: ${JSON.stringify(caps)}`);
        });

        test('tools: list all and call every one', { timeout: 40_000 }, async t => {
            const { items: tools } = await collectPages(p => c.client.listTools(p), 'tools');
            const names = tools.map(x => x.name);
            assert.equal(new Set(names).size, names.length, `duplicate tool names: ${names}`);
            for (const n of EXPECTED_TOOLS) assert.ok(names.includes(n), `tool ${n} not listed; got ${names}`);
            for (const tool of tools) {
                assert.equal(typeof tool.name, 'string');
                assert.equal(typeof tool.description, 'string', `${tool.name}: description missing`);
                assert.equal(tool.inputSchema?.type, 'object', `${tool.name}: inputSchema.type must be "object"`);
            }
            // JSON Schema 2020-12 keywords must survive the listing unchanged.
            const js = tools.find(x => x.name === 'json_schema_2020_12_tool');
            assert.equal(js.inputSchema.$schema, 'https://json-schema.org/draft/2020-12/schema');
            assert.ok(js.inputSchema.$defs && typeof js.inputSchema.$defs === 'object', '$defs dropped');
            assert.equal(js.inputSchema.additionalProperties, false, 'additionalProperties dropped');
            // test_sampling / test_elicitation / test_slow must declare their arguments
            const byName = Object.fromEntries(tools.map(x => [x.name, x]));
            assert.ok(byName.test_sampling.inputSchema.properties?.prompt, 'test_sampling: no prompt property');
            assert.ok(byName.test_elicitation.inputSchema.properties?.message, 'test_elicitation: no message property');
            assert.ok(byName.test_slow.inputSchema.properties?.durationMs, 'test_slow: no durationMs property');

            for (const tool of tools) {
                await t.test(`call ${tool.name}`, async () => {
                    const spec = TOOL_CHECKS[tool.name] ?? {};
                    const args = spec.args ?? argsFromSchema(tool.inputSchema);
                    const before = elicitations.length;
                    const t0 = Date.now();
                    const r = await c.client.callTool({ name: tool.name, arguments: args }, undefined, {
                        timeout: spec.timeout ?? 10_000
                    });
                    const elapsed = Date.now() - t0;
                    assert.ok(Array.isArray(r.content), `${tool.name}: no content array${c.diag()}`);
                    assert.ok(r.content.length > 0 || r.structuredContent, `${tool.name}: empty result${c.diag()}`);
                    r.content.forEach((b, i) => assertContentBlock(b, `${tool.name} content[${i}]`));
                    if (!spec.expectError) {
                        assert.notEqual(r.isError, true, `${tool.name}: unexpected isError result: ${JSON.stringify(r.content)}`);
                    }
                    if (tool.outputSchema) {
                        assert.ok(r.structuredContent, `${tool.name} declares outputSchema but returned no structuredContent`);
                    }
                    if (spec.check) spec.check(r, elapsed);
                    if (tool.name === 'test_elicitation') {
                        assert.equal(elicitations.length, before + 1, 'server did not send exactly one elicitation/create');
                        const req = elicitations.at(-1);
                        assert.equal(req.message, args.message);
                        assert.ok(req.requestedSchema?.properties?.username, 'requestedSchema lacks username');
                        assert.ok(req.requestedSchema?.properties?.email, 'requestedSchema lacks email');
                    }
                });
            }
            assert.ok(samplings.some(s => s.messages?.[0]?.content?.text === 'primitive-sweep prompt'), 'sampling request not observed');
        });

        test('tools: unknown tool is an error', async () => {
            // Spec: unknown tool -> JSON-RPC error (-32602); an isError result is tolerated.
            try {
                const r = await c.client.callTool({ name: 'no_such_tool_xyz', arguments: {} });
                assert.equal(r.isError, true, `unknown tool returned a non-error result: ${JSON.stringify(r)}`);
            } catch (e) {
                if (e.code === 'ERR_ASSERTION') throw e;
                assert.equal(e.code, ErrorCode.InvalidParams, `unknown tool: expected -32602, got ${e.code} ${e.message}`);
            }
        });

        test('resources: list all and read every one', async t => {
            const { items: resources } = await collectPages(p => c.client.listResources(p), 'resources');
            const uris = resources.map(r => r.uri);
            assert.equal(new Set(uris).size, uris.length, `duplicate resource uris: ${uris}`);
            for (const u of EXPECTED_RESOURCES) assert.ok(uris.includes(u), `resource ${u} not listed; got ${uris}`);
            for (const r of resources) {
                assert.equal(typeof r.name, 'string', `${r.uri}: name missing`);
            }
            for (const res of resources) {
                await t.test(`read ${res.uri}`, async () => {
                    const r = await c.client.readResource({ uri: res.uri });
                    assert.ok(Array.isArray(r.contents) && r.contents.length > 0, `${res.uri}: no contents${c.diag()}`);
                    const first = r.contents[0];
                    assert.equal(first.uri, res.uri, `${res.uri}: contents[0].uri differs`);
                    const hasText = typeof first.text === 'string';
                    const hasBlob = typeof first.blob === 'string';
                    assert.ok(hasText !== hasBlob, `${res.uri}: must have exactly one of text/blob`);
                    if (res.mimeType) assert.equal(first.mimeType ?? res.mimeType, res.mimeType, `${res.uri}: mimeType differs from listing`);
                    if (res.uri === 'test://static-text') {
                        assert.equal(first.mimeType, 'text/plain');
                        assert.equal(first.text, STATIC_TEXT);
                    } else if (res.uri === 'test://static-binary') {
                        assert.equal(first.mimeType, 'image/png');
                        assertPng(first.blob, 'test://static-binary');
                    } else if (hasText) {
                        assert.ok(first.text.length > 0, `${res.uri}: empty text`);
                    }
                });
            }
        });

        test('resources: reading an unknown uri is an error', async () => {
            // -32002 is the spec's "resource not found"; -32602 is accepted too.
            await expectMcpError(c.client.readResource({ uri: 'test://definitely-not-there' }), {
                code: [-32002, ErrorCode.InvalidParams],
                what: 'resources/read unknown'
            });
        });

        test('resource templates: list all and read an instance of each', async t => {
            const { items: templates } = await collectPages(p => c.client.listResourceTemplates(p), 'resourceTemplates');
            const tpls = templates.map(x => x.uriTemplate);
            assert.ok(tpls.includes(EXPECTED_TEMPLATE), `template ${EXPECTED_TEMPLATE} not listed; got ${tpls}`);
            for (const tpl of templates) {
                assert.equal(typeof tpl.name, 'string', `${tpl.uriTemplate}: name missing`);
                for (const id of ['9731', 'abc']) {
                    const uri = tpl.uriTemplate.replace(/\{[^}]+\}/g, id);
                    await t.test(`read ${uri}`, async () => {
                        const r = await c.client.readResource({ uri });
                        assert.ok(r.contents?.length > 0, `${uri}: no contents${c.diag()}`);
                        const first = r.contents[0];
                        assert.equal(first.uri, uri);
                        if (tpl.uriTemplate === EXPECTED_TEMPLATE) {
                            assert.equal(first.mimeType, 'application/json');
                            let parsed;
                            assert.doesNotThrow(() => (parsed = JSON.parse(first.text)), `not JSON: ${first.text}`);
                            assert.equal(String(parsed.id), id, `JSON does not carry id ${id}: ${first.text}`);
                        } else {
                            assert.ok(first.text?.length > 0 || first.blob?.length > 0);
                        }
                    });
                }
            }
        });

        test('prompts: list all and get every one', async t => {
            const { items: prompts } = await collectPages(p => c.client.listPrompts(p), 'prompts');
            const names = prompts.map(p => p.name);
            assert.equal(new Set(names).size, names.length, `duplicate prompt names: ${names}`);
            for (const n of EXPECTED_PROMPTS) assert.ok(names.includes(n), `prompt ${n} not listed; got ${names}`);
            const byName = Object.fromEntries(prompts.map(p => [p.name, p]));
            const argNames = p => (p.arguments ?? []).map(a => a.name).sort();
            assert.deepEqual(argNames(byName.test_prompt_with_arguments), ['arg1', 'arg2']);
            assert.deepEqual(argNames(byName.test_prompt_with_embedded_resource), ['resourceUri']);
            assert.deepEqual(argNames(byName.test_simple_prompt), []);
            for (const a of byName.test_prompt_with_arguments.arguments) assert.equal(a.required, true, `${a.name} should be required`);

            for (const p of prompts) {
                await t.test(`get ${p.name}`, async () => {
                    let args;
                    if (p.name === 'test_prompt_with_arguments') args = { arg1: 'alpha-71', arg2: 'beta-92' };
                    else if (p.name === 'test_prompt_with_embedded_resource') args = { resourceUri: 'test://static-text' };
                    else args = Object.fromEntries((p.arguments ?? []).filter(a => a.required).map(a => [a.name, `v-${a.name}`]));
                    const r = await c.client.getPrompt({ name: p.name, arguments: args });
                    assert.ok(Array.isArray(r.messages) && r.messages.length > 0, `${p.name}: no messages${c.diag()}`);
                    r.messages.forEach((m, i) => {
                        assert.ok(['user', 'assistant'].includes(m.role), `${p.name} message ${i}: bad role ${m.role}`);
                        assertContentBlock(m.content, `${p.name} message ${i}`);
                    });
                    const texts = r.messages.filter(m => m.content.type === 'text').map(m => m.content.text).join('\n');
                    if (p.name === 'test_simple_prompt') {
                        assert.equal(r.messages.length, 1);
                        assert.equal(r.messages[0].role, 'user');
                        assert.equal(r.messages[0].content.type, 'text');
                    } else if (p.name === 'test_prompt_with_arguments') {
                        assert.ok(texts.includes('alpha-71'), `arg1 not substituted: ${texts}`);
                        assert.ok(texts.includes('beta-92'), `arg2 not substituted: ${texts}`);
                    } else if (p.name === 'test_prompt_with_embedded_resource') {
                        const emb = r.messages.find(m => m.content.type === 'resource');
                        assert.ok(emb, `no embedded resource message: ${JSON.stringify(r.messages)}`);
                        assert.equal(emb.content.resource.uri, 'test://static-text');
                    } else if (p.name === 'test_prompt_with_image') {
                        const img = r.messages.find(m => m.content.type === 'image');
                        assert.ok(img, 'no image message');
                        assert.equal(img.content.mimeType, 'image/png');
                        assertPng(img.content.data, 'test_prompt_with_image');
                    }
                });
            }
        });

        test('prompts: unknown prompt and missing required argument are errors', async () => {
            await expectMcpError(c.client.getPrompt({ name: 'no_such_prompt_xyz' }), {
                code: ErrorCode.InvalidParams,
                what: 'prompts/get unknown'
            });
            await expectMcpError(c.client.getPrompt({ name: 'test_prompt_with_arguments', arguments: { arg1: 'only-one' } }), {
                code: ErrorCode.InvalidParams,
                what: 'prompts/get missing arg2'
            });
        });

        test('no transport/protocol errors were reported to the client', () => {
            assert.deepEqual(c.errors.map(e => e.message), []);
        });
    });
}
