// stdio transport: newline-delimited JSON-RPC on stdin/stdout; logs go to stderr.
#pragma once

#include <iosfwd>

namespace jitgate::mcp {
class Server;
}

namespace jitgate::transport {

// Serves one session until the input ends. Returns the process exit code.
int serve_stdio(mcp::Server& server, std::istream& in, std::ostream& out);

}  // namespace jitgate::transport
