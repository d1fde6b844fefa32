// The primitives the MCP conformance scenarios expect, and the benchmark tool set.
#pragma once

namespace jitgate::mcp {
class Server;
}

namespace conformance {

void register_conformance_primitives(jitgate::mcp::Server& server);
// `echo` plus 49 filler tools: 50 tools in all, the benchmark's list.
void register_bench_tools(jitgate::mcp::Server& server);

}  // namespace conformance
