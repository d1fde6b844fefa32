// An MCP client connection to an upstream MCP server over Streamable HTTP, in either protocol
// generation: a session revision (initialize, Mcp-Session-Id, GET stream) or 2026-07-28
// (stateless: server/discover, a _meta envelope and routing headers on every request).
#pragma once

#include <jitgate/gateway/upstream.hpp>

#include <map>

namespace jitgate::gateway {

struct HttpUpstreamConfig {
  std::string name = "upstream";  // in logs and error data
  std::string url;                // http://host[:port]/path, or https:// (certificate and host name verified)
  // PEM file of the CAs an https upstream's certificate must chain to, in place of the system's
  // (a private CA). Empty: the system CAs.
  std::string ca_file;

  // A session revision ("2025-11-25", "2025-06-18", "2025-03-26") or "2026-07-28" (stateless).
  std::string protocol = "2025-11-25";
  json::object client_capabilities;  // declared in initialize / every 2026-07-28 envelope
  json::object client_info = json::object{{"name", "jitgate"}, {"version", "0.1.0"}};
  // Sent on every request (e.g. Authorization: the upstream's own credentials). Values are never
  // logged.
  std::map<std::string, std::string> headers;
  bool open_get_stream = true;  // session revisions: the GET stream for unrelated notifications

  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds initialize_timeout{10'000};
  std::chrono::milliseconds default_timeout{30'000};
  std::chrono::milliseconds stop_timeout{2'000};     // the session DELETE on stop()
  std::size_t max_in_flight = 64;                    // client-to-upstream calls awaiting an answer
  std::size_t max_response_bytes = 4 * 1024 * 1024;  // one JSON body or one SSE event
  std::size_t max_idle_connections = 8;              // keep-alive connections kept for reuse

  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{10'000};
  unsigned max_consecutive_failures = 0;  // failed handshakes before state `failed`; 0: never give up
};

class HttpUpstream final : public Upstream {
 public:
  explicit HttpUpstream(HttpUpstreamConfig config, UpstreamHandlers handlers = {});
  ~HttpUpstream() override;  // stop()
  HttpUpstream(const HttpUpstream&) = delete;
  HttpUpstream& operator=(const HttpUpstream&) = delete;

  const std::string& name() const override;
  // Starts the I/O thread and the handshake (initialize or server/discover); returns at once.
  void start() override;
  // Fails every call in flight, DELETEs the session (bounded by stop_timeout), closes every
  // connection, joins the I/O thread. Idempotent.
  void stop() override;
  bool wait_ready(std::chrono::milliseconds timeout) const override;

  using Upstream::request;
  CallId request(std::string method, json::value params, std::function<void(CallResult)> done,
                 std::optional<std::chrono::milliseconds> timeout = std::nullopt) override;
  CallId request_as(std::string authorization, std::string method, json::value params, std::function<void(CallResult)> done,
                    std::optional<std::chrono::milliseconds> timeout = std::nullopt) override;
  // Session revisions: notifications/cancelled, and the call's connection is closed; 2026-07-28:
  // closing the call's response stream is the cancellation.
  bool cancel(CallId call, std::string_view reason) override;
  bool notify(std::string method, json::value params = nullptr) override;

  UpstreamState state() const override;
  UpstreamHealth health() const override;
  // The initialize result (session revisions) or the server/discover result (2026-07-28).
  json::value initialize_result() const override;
  // The current Mcp-Session-Id (empty for 2026-07-28 or before the handshake).
  std::string session_id() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared: a Responder may outlive this object
};

}  // namespace jitgate::gateway
