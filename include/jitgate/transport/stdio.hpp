// stdio transport: newline-delimited JSON-RPC on stdin/stdout; logs go to stderr.
#pragma once

#include <iosfwd>

namespace jitgate::mcp {
class Server;
}

namespace jitgate::transport {

// Serves one session until the input ends. Returns the process exit code. With std::cin and
// std::cout, call std::ios::sync_with_stdio(false) before any I/O: synchronized with C stdio, the
// standard streams read a byte per getc() call, which costs more than handling the message.
int serve_stdio(mcp::Server& server, std::istream& in, std::ostream& out);

}  // namespace jitgate::transport
