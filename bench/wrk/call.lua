-- wrk script: MCP tools/call of the `echo` tool over Streamable HTTP.
--
-- Environment (set by bench/run.sh):
--   MCP_SESSION_ID  Mcp-Session-Id from a prior initialize (omitted if empty,
--                   e.g. for the nginx ceiling)
--   BENCH_ECHO_TEXT text to echo (default "hello bench")
--   BENCH_ECHO_ARG  the echo tool's argument name (default "text"; server-everything: "message")
--
-- Requests cycle through 1024 pre-built bodies with distinct JSON-RPC ids,
-- so no two in-flight requests on a session share an id, at the cost of one
-- table lookup per request (no formatting in the hot path).
--
-- done() prints one line that run.sh parses:
--   WRK_RESULT requests=N duration_us=N rps=F p50_us=N p99_us=N mean_us=F
--     max_us=N non2xx=N err_connect=N err_read=N err_write=N err_timeout=N
--     bytes=N bytes_per_resp=F
-- non2xx is wrk's errors.status (responses with HTTP status > 399, what
-- wrk prints as "Non-2xx or 3xx responses").

local session = os.getenv("MCP_SESSION_ID") or ""
local text = os.getenv("BENCH_ECHO_TEXT") or "hello bench"
local arg_name = os.getenv("BENCH_ECHO_ARG") or "text"
if arg_name == "" then arg_name = "text" end
local N = 1024
local reqs = {}
local idx = 0

local function headers()
  local h = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2025-11-25",
  }
  if session ~= "" then h["Mcp-Session-Id"] = session end
  -- BENCH_AUTHORIZATION: a full Authorization header value (resource-server mode)
  local auth = os.getenv("BENCH_AUTHORIZATION") or ""
  if auth ~= "" then h["Authorization"] = auth end
  return h
end

function init(args)
  local h = headers()
  for i = 1, N do
    local body = '{"jsonrpc":"2.0","id":' .. i ..
      ',"method":"tools/call","params":{"name":"echo","arguments":{"' .. arg_name .. '":"' ..
      text .. '"}}}'
    reqs[i] = wrk.format("POST", nil, h, body)
  end
end

function request()
  idx = idx % N + 1
  return reqs[idx]
end

-- done(): see report.lua, next to this script.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
