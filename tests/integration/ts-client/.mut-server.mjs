// Reference implementation of the conformance-server contract, built on the
// TypeScript SDK. It exists only to check the test suite itself (that the tests
// pass against a correct server and are not accidentally vacuous):
//
//   CONFORMANCE_SERVER=tests/integration/ts-client/reference-server.sh tests/integration/ts-client/run.sh
//
// It is NOT the server under test; jitgate's C++ build/bin/conformance-server is.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { Server } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/server/index.js';
import { StdioServerTransport } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/server/stdio.js';
import { StreamableHTTPServerTransport } from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/server/streamableHttp.js';
import {
    CallToolRequestSchema,
    ListToolsRequestSchema,
    ListResourcesRequestSchema,
    ListResourceTemplatesRequestSchema,
    ReadResourceRequestSchema,
    ListPromptsRequestSchema,
    GetPromptRequestSchema,
    CompleteRequestSchema,
    SubscribeRequestSchema,
    UnsubscribeRequestSchema,
    LoggingLevelSchema,
    McpError,
    ErrorCode
} from '../../../tools/node_modules/@modelcontextprotocol/sdk/dist/esm/types.js';

// 1x1 red PNG and a tiny silent WAV
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = Buffer.concat([
    Buffer.from('RIFF'), Buffer.from([0x28, 0, 0, 0]), Buffer.from('WAVEfmt '),
    Buffer.from([16, 0, 0, 0, 1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x40, 0x1f, 0, 0, 1, 0, 8, 0]),
    Buffer.from('data'), Buffer.from([4, 0, 0, 0, 128, 128, 128, 128])
]).toString('base64');

let cancelledCount = 0; // process-wide, like the C++ server
const obj = (properties = {}, required = []) => ({ type: 'object', properties, required });
const TOOLS = [
    { name: 'test_simple_text', description: 'simple text', inputSchema: obj() },
    { name: 'test_image_content', description: 'image', inputSchema: obj() },
    { name: 'test_audio_content', description: 'audio', inputSchema: obj() },
    { name: 'test_embedded_resource', description: 'embedded', inputSchema: obj() },
    { name: 'test_multiple_content_types', description: 'mixed', inputSchema: obj() },
    { name: 'test_tool_with_logging', description: 'logging', inputSchema: obj() },
    { name: 'test_tool_with_progress', description: 'progress', inputSchema: obj() },
    { name: 'test_error_handling', description: 'error', inputSchema: obj() },
    { name: 'test_sampling', description: 'sampling', inputSchema: obj({ prompt: { type: 'string' } }, ['prompt']) },
    { name: 'test_elicitation', description: 'elicitation', inputSchema: obj({ message: { type: 'string' } }, ['message']) },
    { name: 'test_slow', description: 'slow', inputSchema: obj({ durationMs: { type: 'number', default: 10000 } }) },
    { name: 'test_cancelled_count', description: 'cancelled count', inputSchema: obj() },
    {
        name: 'json_schema_2020_12_tool',
        description: 'Tool with JSON Schema 2020-12 features',
        inputSchema: {
            $schema: 'https://json-schema.org/draft/2020-12/schema',
            type: 'object',
            $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
            properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
            additionalProperties: false
        }
    },
    { name: 'test_reconnection', description: 'reconnection', inputSchema: obj() }
];
const argv = process.argv.slice(2);
const PAGE = argv.includes('--page-size') ? Number(argv[argv.indexOf('--page-size') + 1]) : 100;
function paginate(all, key, cursor) {
    let off = 0;
    if (cursor !== undefined) {
        off = Number(Buffer.from(cursor, 'base64url').toString());
        if (!/^[A-Za-z0-9_-]+$/.test(cursor) || !Number.isInteger(off) || off <= 0 || off >= all.length) {
            throw new McpError(ErrorCode.InvalidParams, 'bad cursor');
        }
    }
    const next = off + PAGE < all.length ? Buffer.from(String(off + PAGE)).toString('base64url') : undefined;
    return { [key]: all.slice(off, off + PAGE), ...(next ? { nextCursor: next } : {}) };
}
const text = t => ({ content: [{ type: 'text', text: t }] });
const SEVERITY = LoggingLevelSchema.options;

function makeServer() {
    const server = new Server(
        { name: 'reference-conformance-server', version: '0.0.0' },
        {
            capabilities: {
                tools: { listChanged: true },
                resources: { listChanged: true, subscribe: true },
                prompts: { listChanged: true },
                logging: {},
                completions: {}
            }
        }
    );
    let level;
    const subs = new Set();
    // handled via the fallback so an invalid level yields -32602 (the SDK's
    // schema-validated handler would answer -32603)
    server.removeRequestHandler('logging/setLevel');
    server.fallbackRequestHandler = async req => {
        if (req.method !== 'logging/setLevel') throw new McpError(ErrorCode.MethodNotFound, `Method not found: ${req.method}`);
        if (!SEVERITY.includes(req.params?.level)) throw new McpError(ErrorCode.InvalidParams, 'invalid level');
        level = req.params.level;
        return {};
    };
    const log = async (extra, lvl, data) => {
        if (level && SEVERITY.indexOf(lvl) < SEVERITY.indexOf(level)) return;
        await extra.sendNotification({ method: 'notifications/message', params: { level: lvl, data } });
    };
    server.setRequestHandler(ListToolsRequestSchema, async req => paginate(TOOLS, 'tools', req.params?.cursor));
    server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
        const a = req.params.arguments ?? {};
        switch (req.params.name) {
            case 'test_simple_text':
                return text('This is a simple text response for testing.');
            case 'test_image_content':
                return { content: [{ type: 'image', data: WAV, mimeType: 'image/png' }] };
            case 'test_audio_content':
                return { content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] };
            case 'test_embedded_resource':
                return { content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }] };
            case 'test_multiple_content_types':
                return {
                    content: [
                        { type: 'text', text: 'Multiple content types test:' },
                        { type: 'image', data: PNG, mimeType: 'image/png' },
                        { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: '{"test":"data","value":123}' } }
                    ]
                };
            case 'test_tool_with_logging':
                await log(extra, 'info', 'Tool execution started');
                await sleep(50);
                await log(extra, 'info', 'Tool processing data');
                await sleep(50);
                await log(extra, 'info', 'Tool execution completed');
                return text('Logging tool done');
            case 'test_tool_with_progress': {
                const token = req.params._meta?.progressToken;
                for (const p of [0, 50, 100]) {
                    if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: p, total: 100 } });
                    if (p < 100) await sleep(50);
                }
                return text('Progress tool done');
            }
            case 'test_error_handling':
                return { isError: true, content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }] };
            case 'test_sampling': {
                if (!server.getClientCapabilities()?.sampling) return { isError: true, content: [{ type: 'text', text: 'no sampling' }] };
                try {
                    const r = await server.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: a.prompt } }], maxTokens: 100 }, { relatedRequestId: extra.requestId });
                    return text(`LLM response: ${r.content.text}`);
                } catch (e) {
                    return { isError: true, content: [{ type: 'text', text: `sampling failed: ${e.message}` }] };
                }
            }
            case 'test_elicitation': {
                if (!server.getClientCapabilities()?.elicitation) return { isError: true, content: [{ type: 'text', text: 'no elicitation' }] };
                const r = await server.elicitInput(
                    {
                        message: a.message,
                        requestedSchema: {
                            type: 'object',
                            properties: { username: { type: 'string', description: "User's response" }, email: { type: 'string', description: "User's email address" } },
                            required: ['username', 'email']
                        }
                    },
                    { relatedRequestId: extra.requestId }
                );
                return text(`User response: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
            }
            case 'test_slow': {
                const end = Date.now() + (a.durationMs ?? 10000);
                while (Date.now() < end) {
                    if (extra.signal.aborted) {
                        cancelledCount++;
                        throw new McpError(ErrorCode.InternalError, 'cancelled');
                    }
                    await sleep(Math.min(20, Math.max(0, end - Date.now())));
                }
                return text(`slept ${a.durationMs ?? 10000} ms`);
            }
            case 'test_cancelled_count':
                return text(String(cancelledCount));
            case 'json_schema_2020_12_tool':
                return text(`hello ${a.name ?? ''}`);
            case 'test_reconnection':
                return text('reconnection ok');
            default:
                throw new McpError(ErrorCode.InvalidParams, `unknown tool ${req.params.name}`);
        }
    });
    const RES = [
        { uri: 'test://static-text', name: 'static-text', description: 'd', mimeType: 'text/plain' },
        { uri: 'test://static-binary', name: 'static-binary', description: 'd', mimeType: 'image/png' },
        { uri: 'test://watched-resource', name: 'watched', description: 'd', mimeType: 'text/plain' }
    ];
    server.setRequestHandler(ListResourcesRequestSchema, async req => paginate(RES, 'resources', req.params?.cursor));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
        resourceTemplates: [{ uriTemplate: 'test://template/{id}/data', name: 'template', description: 'd', mimeType: 'application/json' }]
    }));
    server.setRequestHandler(ReadResourceRequestSchema, async req => {
        const uri = req.params.uri;
        if (uri === 'test://static-text') return { contents: [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }] };
        if (uri === 'test://static-binary') return { contents: [{ uri, mimeType: 'image/png', blob: PNG }] };
        if (uri === 'test://watched-resource') return { contents: [{ uri, mimeType: 'text/plain', text: 'watched' }] };
        const m = /^test:\/\/template\/([^/]+)\/data$/.exec(uri);
        if (m) return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify({ id: m[1], templateTest: true, data: `Data for ID: ${m[1]}` }) }] };
        throw new McpError(-32002, 'Resource not found', { uri });
    });
    server.setRequestHandler(SubscribeRequestSchema, async req => (subs.add(req.params.uri), {}));
    server.setRequestHandler(UnsubscribeRequestSchema, async req => (subs.delete(req.params.uri), {}));
    const PROMPTS = [
        { name: 'test_simple_prompt', description: 'd' },
        { name: 'test_prompt_with_arguments', description: 'd', arguments: [{ name: 'arg1', required: true }, { name: 'arg2', required: true }] },
        { name: 'test_prompt_with_embedded_resource', description: 'd', arguments: [{ name: 'resourceUri', required: true }] },
        { name: 'test_prompt_with_image', description: 'd' }
    ];
    server.setRequestHandler(ListPromptsRequestSchema, async req => paginate(PROMPTS, 'prompts', req.params?.cursor));
    server.setRequestHandler(GetPromptRequestSchema, async req => {
        const a = req.params.arguments ?? {};
        const user = content => ({ role: 'user', content });
        switch (req.params.name) {
            case 'test_simple_prompt':
                return { messages: [user({ type: 'text', text: 'This is a simple prompt for testing.' })] };
            case 'test_prompt_with_arguments':
                if (a.arg1 === undefined || a.arg2 === undefined) throw new McpError(ErrorCode.InvalidParams, 'missing args');
                return { messages: [user({ type: 'text', text: `Prompt with arguments: arg1='${a.arg1}', arg2='${a.arg2}'` })] };
            case 'test_prompt_with_embedded_resource':
                return {
                    messages: [
                        user({ type: 'resource', resource: { uri: a.resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } }),
                        user({ type: 'text', text: 'Please process the embedded resource above.' })
                    ]
                };
            case 'test_prompt_with_image':
                return { messages: [user({ type: 'image', data: PNG, mimeType: 'image/png' }), user({ type: 'text', text: 'Please analyze the image above.' })] };
            default:
                throw new McpError(ErrorCode.InvalidParams, 'unknown prompt');
        }
    });
    server.setRequestHandler(CompleteRequestSchema, async req => {
        if (req.params.ref.type === 'ref/prompt' && !PROMPTS.some(p => p.name === req.params.ref.name)) throw new McpError(ErrorCode.InvalidParams, 'unknown prompt');
        const values = ['paris', 'park', 'party'].filter(v => v.startsWith(req.params.argument.value));
        return { completion: { values, total: values.length, hasMore: false } };
    });
    return server;
}

if (argv.includes('--stdio')) {
    // The SDK's stdio transport silently drops unparsable lines; answer them
    // with a JSON-RPC parse error as the C++ server is expected to.
    const input = new PassThrough();
    createInterface({ input: process.stdin }).on('line', line => {
        try {
            JSON.parse(line);
            input.write(line + '\n');
        } catch {
            process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }) + '\n');
        }
    }).on('close', () => process.exit(0));
    await makeServer().connect(new StdioServerTransport(input, process.stdout));
} else {
    const sessions = new Map();
    const httpServer = http.createServer(async (req, res) => {
        if (!req.url.startsWith('/mcp')) return res.writeHead(404).end();
        const sid = req.headers['mcp-session-id'];
        if (sid) {
            const t = sessions.get(sid);
            if (!t) return res.writeHead(404).end();
            return t.handleRequest(req, res);
        }
        if (req.method !== 'POST') return res.writeHead(400).end();
        const chunks = [];
        for await (const ch of req) chunks.push(ch);
        let body;
        try {
            body = JSON.parse(Buffer.concat(chunks).toString());
        } catch {
            return res.writeHead(400).end();
        }
        if (body?.method !== 'initialize') return res.writeHead(400).end();
        const transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            onsessioninitialized: id => sessions.set(id, transport),
            onsessionclosed: id => sessions.delete(id)
        });
        await makeServer().connect(transport);
        await transport.handleRequest(req, res, body);
    });
    const port = Number(argv[argv.indexOf('--port') + 1] ?? 0);
    httpServer.listen(port, '127.0.0.1', () => {
        process.stdout.write(`http://127.0.0.1:${httpServer.address().port}/mcp\n`);
    });
    process.on('SIGTERM', () => {
        httpServer.closeAllConnections();
        httpServer.close(() => process.exit(0));
    });
}
