// Streamable HTTP transport (MCP revisions 2025-03-26 .. 2025-11-25) on Boost.Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace jitgate::mcp {
class Server;
}
namespace jitgate::auth {
class RequestGuard;
}
namespace jitgate::observe {
class Registry;
}

namespace jitgate::transport {

struct HttpOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 picks a free port
  std::string path = "/mcp";
  unsigned threads = 0;  // 0 = one per core
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds read_timeout{30'000};   // for a whole request, headers and body
  std::chrono::milliseconds write_timeout{30'000};  // for each write
  std::size_t max_sessions = 10'000;
  std::chrono::milliseconds session_idle_timeout{30 * 60 * 1000};
  std::chrono::milliseconds sse_retry{1000};              // the SSE `retry` field
  std::size_t stream_buffer_events = 256;                 // kept per stream for Last-Event-ID resumption
  std::size_t max_pending_write_bytes = 4 * 1024 * 1024;  // a client that stops reading is cut off
  // Origins allowed in the Origin header; empty = only loopback origins.
  std::vector<std::string> allowed_origins;
  // Host header values allowed; empty = loopback names when bound to loopback, anything otherwise.
  std::vector<std::string> allowed_hosts;
  // Origins answered with CORS headers on the MCP endpoint (preflight OPTIONS, the session and
  // challenge headers exposed), for browser clients such as the MCP Inspector's direct connection.
  // Each must also pass the Origin check above. Empty: no CORS on the MCP endpoint (the default).
  std::vector<std::string> cors_origins;
  // Authorization: when set, every request is checked before any response byte and the Protected
  // Resource Metadata is served at its well-known URLs. Unset: no authorization (the default).
  std::shared_ptr<auth::RequestGuard> guard;
  // Prometheus metrics served at /metrics (text format) when set.
  std::shared_ptr<observe::Registry> metrics;
  // /healthz (always 200 while serving) and /readyz (200 when ready, else 503) answer with this
  // report's JSON body; unset: both are 200 {"status":"ok"}.
  std::function<std::pair<bool, std::string>()> health;
  // Every tick: sessions whose token expired are told what left their lists (with a guard), then
  // `on_tick` runs (a policy file watch, for instance). On an I/O thread: keep it short.
  std::chrono::milliseconds tick{1000};
  std::function<void()> on_tick;
  // SIGHUP while run() handles signals (a policy reload, for instance).
  std::function<void()> on_hangup;
};

class HttpServer {
 public:
  HttpServer(mcp::Server& server, HttpOptions options);
  ~HttpServer();

  // Binds and listens; returns the bound port. Throws on failure.
  std::uint16_t listen();
  // Runs the I/O threads until stop() or SIGINT/SIGTERM; returns after a graceful shutdown.
  void run(bool handle_signals = true);
  // Starts the I/O threads without blocking (tests).
  void start();
  void stop();
  std::uint16_t port() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace jitgate::transport
