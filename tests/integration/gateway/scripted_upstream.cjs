// A tiny scripted MCP upstream over stdio for StdioUpstream's fault tests.
// Flags: --garbage (noise on stdout before every answer), --hang-initialize, --roots-on-init
// (asks roots/list 200 ms after notifications/initialized, outside any call; roots_seen returns the
// answer), --resources (one resource, memo://note, that can be subscribed; subscribe and
// unsubscribe are reported on stderr), --prompts (one prompt, note, whose messages embed and link
// resources).
// Tools: echo, env (environment and cwd), sleep {ms}, hang (never answers), crash (exits 3
// mid-call), ask (asks the client for roots/list and returns the answer), notify (a logging
// notification first), stderr {bytes} (one long stderr line), progress (two progress notifications
// for the call's token), pid, grow (adds a tool named extra{n} and says tools/list_changed),
// interview (asks elicitation/create, then roots/list, and returns both answers).
// What it sends during a call names the call in params._meta
// ("io.modelcontextprotocol/related-request-id"), unless --unrelated (nothing names it) or
// --relate-by-token (the call's progressToken instead).
// --lists=FILE: tools/list, prompts/list, resources/list and resources/templates/list answer what
// FILE (JSON: {tools, prompts, resources, resourceTemplates, capabilities}) says at that moment.
// Faulty answers for tools/call: bad_code (error code 1.5), huge_code (error code 2^40), not_object
// (result 7), link (a resource_link and an embedded resource with the upstream's URIs), bad_progress
// (progress values of the wrong types first).
'use strict';
const readline = require('node:readline');
const flags = new Set(process.argv.slice(2));
const out = (msg) => {
  if (flags.has('--garbage')) {
    process.stdout.write('this is not json\n');
    process.stdout.write('{"jsonrpc":"2.0","id":\n');
    process.stdout.write('x'.repeat(200000) + '\n');
    process.stdout.write('{"jsonrpc":"1.0","id":99999,"result":{}}\n');
    process.stdout.write('{"jsonrpc":"2.0","id":99999,"result":{}}\n');
  }
  process.stdout.write(JSON.stringify(msg) + '\n');
};
const result = (id, r) => out({ jsonrpc: '2.0', id, result: r });
const text = (t) => ({ content: [{ type: 'text', text: t }] });
const fs = require('node:fs');
const listsFile = [...flags].find((f) => f.startsWith('--lists='));
const lists = () => JSON.parse(fs.readFileSync(listsFile.slice(8), 'utf8'));
// The _meta that relates a message to the call `m` (see the flags above).
const relate = (m, params = {}) => {
  if (flags.has('--unrelated')) return params;
  const meta = flags.has('--relate-by-token')
    ? { progressToken: m.params._meta && m.params._meta.progressToken }
    : { 'io.modelcontextprotocol/related-request-id': m.id };
  return { ...params, _meta: { ...(params._meta || {}), ...meta } };
};
let nextId = 1;
const extra = [];
const waiting = new Map();
let rootsSeen = null;
process.stderr.write(`scripted upstream ${process.pid} up\n`);

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const m = JSON.parse(line);
  if (m.method === undefined) {  // an answer to one of our requests
    const k = waiting.get(m.id);
    if (k) { waiting.delete(m.id); k(m); }
    return;
  }
  if (m.id === undefined) {
    if (m.method === 'notifications/initialized' && flags.has('--roots-on-init')) {
      setTimeout(() => {
        const id = 's' + nextId++;
        waiting.set(id, (answer) => { rootsSeen = answer; });
        out({ jsonrpc: '2.0', id, method: 'roots/list' });
      }, 200);
    }
    if (m.method === 'notifications/roots/list_changed') process.stderr.write('roots changed\n');
    if (m.method === 'notifications/cancelled') process.stderr.write(`cancelled ${m.params.requestId}\n`);
    return;
  }
  if (m.method === 'initialize') {
    if (flags.has('--hang-initialize')) return;
    let capabilities = { tools: {} };
    if (flags.has('--resources')) capabilities.resources = { subscribe: true };
    if (flags.has('--prompts')) capabilities.prompts = {};
    if (listsFile) capabilities = lists().capabilities || { tools: {}, prompts: {}, resources: { subscribe: true } };
    return result(m.id, { protocolVersion: m.params.protocolVersion, capabilities, serverInfo: { name: 'scripted', version: '1' } });
  }
  if (listsFile && ['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list'].includes(m.method)) {
    const key = { 'tools/list': 'tools', 'prompts/list': 'prompts', 'resources/list': 'resources',
                  'resources/templates/list': 'resourceTemplates' }[m.method];
    return result(m.id, { [key]: lists()[key] || [] });
  }
  if (m.method === 'resources/list') return result(m.id, { resources: [{ uri: 'memo://note', name: 'note' }] });
  if (m.method === 'resources/templates/list') return result(m.id, { resourceTemplates: [] });
  if (m.method === 'prompts/list') return result(m.id, { prompts: [{ name: 'note' }] });
  if (m.method === 'prompts/get')
    return result(m.id, { messages: [
      { role: 'user', content: { type: 'resource', resource: { uri: 'memo://note', mimeType: 'text/plain', text: 'a note' } } },
      { role: 'user', content: { type: 'resource_link', uri: 'memo://other', name: 'other' } },
      { role: 'user', content: { type: 'text', text: 'plain' } }] });
  if (m.method === 'resources/read')
    return result(m.id, { contents: [{ uri: m.params.uri, mimeType: 'text/plain', text: 'a note' }] });
  if (m.method === 'resources/subscribe' || m.method === 'resources/unsubscribe') {
    process.stderr.write(`${m.method.split('/')[1]}d ${m.params.uri}\n`);
    return result(m.id, {});
  }
  if (m.method === 'ping') return result(m.id, {});
  if (m.method === 'tools/list') {
    const names = ['echo', 'env', 'sleep', 'hang', 'crash', 'notify', 'ask', 'stderr', 'progress', 'pid', 'grow', 'interview', 'roots_seen', ...extra];
    return result(m.id, { tools: names.map((name) => ({ name, inputSchema: { type: 'object' } })) });
  }
  if (m.method !== 'tools/call') return out({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'no ' + m.method } });
  const args = m.params.arguments || {};
  switch (m.params.name) {
    case 'echo':
    case 'extra0': return result(m.id, text(String(args.message)));
    case 'env': return result(m.id, { structuredContent: { env: process.env, cwd: process.cwd() }, content: [] });
    case 'sleep': return setTimeout(() => result(m.id, text('slept')), args.ms);
    case 'hang': return;
    case 'crash': process.stderr.write('crashing on purpose\n'); return process.exit(3);
    case 'notify':
      out({ jsonrpc: '2.0', method: 'notifications/message', params: relate(m, { level: 'info', data: args.message }) });
      return result(m.id, text('notified'));
    case 'ask': {
      const id = 's' + nextId++;
      waiting.set(id, (answer) => result(m.id, { structuredContent: answer, content: [] }));
      return out({ jsonrpc: '2.0', id, method: 'roots/list', params: relate(m) });
    }
    case 'roots_seen': return result(m.id, { structuredContent: { answer: rootsSeen }, content: [] });
    case 'interview': {
      const ask = (method, params, then) => {
        const id = 's' + nextId++;
        waiting.set(id, then);
        out({ jsonrpc: '2.0', id, method, params: relate(m, params) });
      };
      return ask('elicitation/create', { message: 'Your name?', requestedSchema: { type: 'object', properties: { name: { type: 'string' } } } },
        (first) => ask('roots/list', {}, (second) =>
          result(m.id, { structuredContent: { elicitation: first.result || first.error, roots: second.result || second.error },
                         content: [{ type: 'text', text: 'interviewed' }] })));
    }
    case 'progress': {
      const token = m.params._meta && m.params._meta.progressToken;
      if (token !== undefined) {
        out({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: 1, total: 2 } });
        out({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: 2, total: 2, message: 'done' } });
      }
      return result(m.id, text('token ' + JSON.stringify(token === undefined ? null : token)));
    }
    case 'pid': return result(m.id, text(String(process.pid)));
    case 'bad_code': return out({ jsonrpc: '2.0', id: m.id, error: { code: 1.5, message: 'fractional' } });
    case 'huge_code': return process.stdout.write(`{"jsonrpc":"2.0","id":${m.id},"error":{"code":1099511627776,"message":"huge"}}\n`);
    case 'not_object': return result(m.id, 7);
    case 'link':
      return result(m.id, { content: [
        { type: 'resource_link', uri: 'memo://note', name: 'note' },
        { type: 'resource', resource: { uri: 'memo://other', text: 'x' } },
        { type: 'text', text: 'see the links' }] });
    case 'bad_progress': {
      const token = m.params._meta && m.params._meta.progressToken;
      out({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: 'half' } });
      out({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 12, progress: 1 } });
      out({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: 1e308, total: 'all', message: 5 } });
      out({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 42, data: { nested: true }, logger: [] } });
      out({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 17 } });
      return result(m.id, text('survived'));
    }
    case 'grow':
      extra.push('extra' + extra.length);
      out({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
      return result(m.id, text('grown'));
    case 'stderr': process.stderr.write('e'.repeat(args.bytes) + '\nafter\n'); return result(m.id, text('ok'));
    default: return out({ jsonrpc: '2.0', id: m.id, error: { code: -32602, message: 'unknown tool' } });
  }
});
