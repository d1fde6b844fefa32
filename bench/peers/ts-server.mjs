// TypeScript-SDK peer for jitgate's benchmarks (bench/run.sh).
//
// Same tool surface as `conformance-server --bench`: 50 tools, `echo` plus
// `filler_01`..`filler_49`, served by @modelcontextprotocol/sdk 1.32.2's
// McpServer over StreamableHTTPServerTransport with stateful sessions and
// enableJsonResponse: true (plain application/json answers, no SSE).
//
// The HTTP layer is bare node:http (no express) so the peer pays only for
// what the SDK itself does; this is the most favourable setup for the peer.
//
// Usage: node ts-server.mjs <port>
// Prints http://127.0.0.1:<port>/mcp on stdout when it is listening.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const port = Number(process.argv[2] ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('usage: node ts-server.mjs <port>');
  process.exit(2);
}

function makeServer() {
  const server = new McpServer({ name: 'jitgate-bench-ts-peer', version: '1.0.0' });
  server.registerTool(
    'echo',
    {
      description: 'Echoes the given text back.',
      inputSchema: { text: z.string() },
    },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  for (let i = 1; i <= 49; i++) {
    const name = `filler_${String(i).padStart(2, '0')}`;
    server.registerTool(
      name,
      {
        description: `Filler tool number ${i}; returns "ok".`,
        inputSchema: { value: z.string().optional() },
      },
      async () => ({ content: [{ type: 'text', text: 'ok' }] }),
    );
  }
  return server;
}

/** @type {Map<string, StreamableHTTPServerTransport>} */
const transports = new Map();

function sendError(res, status, message) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const httpServer = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/mcp') {
      sendError(res, 404, 'Not found');
      return;
    }
    const sid = req.headers['mcp-session-id'];
    if (req.method === 'POST') {
      let body;
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        sendError(res, 400, 'Parse error');
        return;
      }
      let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
      if (!transport) {
        if (sid === undefined && isInitializeRequest(body)) {
          transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            enableJsonResponse: true,
            onsessioninitialized: (id) => {
              transports.set(id, transport);
            },
          });
          transport.onclose = () => {
            if (transport.sessionId) transports.delete(transport.sessionId);
          };
          await makeServer().connect(transport);
        } else {
          sendError(res, sid === undefined ? 400 : 404,
            sid === undefined ? 'Bad Request: no valid session ID provided' : 'Session not found');
          return;
        }
      }
      await transport.handleRequest(req, res, body);
      return;
    }
    if (req.method === 'GET' || req.method === 'DELETE') {
      const transport = typeof sid === 'string' ? transports.get(sid) : undefined;
      if (!transport) {
        sendError(res, 400, 'Invalid or missing session ID');
        return;
      }
      await transport.handleRequest(req, res);
      return;
    }
    sendError(res, 405, 'Method not allowed');
  } catch (err) {
    console.error('request failed:', err);
    if (!res.headersSent) sendError(res, 500, 'Internal server error');
  }
});

httpServer.keepAliveTimeout = 60_000;
httpServer.listen(port, '127.0.0.1', () => {
  const actual = httpServer.address().port;
  process.stdout.write(`http://127.0.0.1:${actual}/mcp\n`);
});

function shutdown() {
  for (const t of transports.values()) t.close().catch(() => {});
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
