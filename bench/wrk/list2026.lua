-- wrk script: MCP tools/list, revision 2026-07-28 (stateless): no
-- initialize, no session (the --bench server lists 50 tools). Every request
-- carries MCP-Protocol-Version: 2026-07-28, Mcp-Method: tools/list and the
-- per-request envelope in params._meta (protocol version and client
-- capabilities; no clientInfo, which is optional).
--
-- Requests cycle through 1024 pre-built bodies with distinct JSON-RPC ids,
-- as in list.lua, at the cost of one table lookup per request (no
-- formatting in the hot path).
--
-- done() prints one line that run.sh parses:
--   WRK_RESULT requests=N duration_us=N rps=F p50_us=N p99_us=N mean_us=F
--     max_us=N non2xx=N err_connect=N err_read=N err_write=N err_timeout=N
--     bytes=N bytes_per_resp=F
-- non2xx is wrk's errors.status (responses with HTTP status > 399, what
-- wrk prints as "Non-2xx or 3xx responses").

local N = 1024
local reqs = {}
local idx = 0

local META = '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",' ..
  '"io.modelcontextprotocol/clientCapabilities":{}}'

function init(args)
  local h = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2026-07-28",
    ["Mcp-Method"] = "tools/list",
  }
  for i = 1, N do
    local body = '{"jsonrpc":"2.0","id":' .. i ..
      ',"method":"tools/list","params":{' .. META .. '}}'
    reqs[i] = wrk.format("POST", nil, h, body)
  end
end

function request()
  idx = idx % N + 1
  return reqs[idx]
end

function done(summary, latency, requests)
  local e = summary.errors
  local n = summary.requests
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d rps=%.2f p50_us=%d p99_us=%d mean_us=%.1f max_us=%d non2xx=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d bytes=%d bytes_per_resp=%.1f\n",
    n, summary.duration, n / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.status, e.connect, e.read, e.write, e.timeout,
    summary.bytes, n > 0 and summary.bytes / n or 0))
end
