-- wrk script: MCP tools/call of the `echo` tool, revision 2026-07-28
-- (stateless): no initialize, no session. Every request carries
-- MCP-Protocol-Version: 2026-07-28, Mcp-Method: tools/call, Mcp-Name: echo
-- and the per-request envelope in params._meta (protocol version and client
-- capabilities; no clientInfo, which is optional).
--
-- Environment (set by bench/run.sh):
--   BENCH_ECHO_TEXT text to echo (default "hello bench")
--
-- Requests cycle through 1024 pre-built bodies with distinct JSON-RPC ids,
-- as in call.lua, at the cost of one table lookup per request (no
-- formatting in the hot path).
--
-- done() prints one line that run.sh parses:
--   WRK_RESULT requests=N duration_us=N rps=F p50_us=N p99_us=N mean_us=F
--     max_us=N non2xx=N err_connect=N err_read=N err_write=N err_timeout=N
--     bytes=N bytes_per_resp=F
-- non2xx is wrk's errors.status (responses with HTTP status > 399, what
-- wrk prints as "Non-2xx or 3xx responses").

local text = os.getenv("BENCH_ECHO_TEXT") or "hello bench"
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
    ["Mcp-Method"] = "tools/call",
    ["Mcp-Name"] = "echo",
  }
  for i = 1, N do
    local body = '{"jsonrpc":"2.0","id":' .. i ..
      ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"' ..
      text .. '"},' .. META .. '}}'
    reqs[i] = wrk.format("POST", nil, h, body)
  end
end

function request()
  idx = idx % N + 1
  return reqs[idx]
end

-- done(): see report.lua, next to this script.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
