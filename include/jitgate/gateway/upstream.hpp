// The connection to one upstream MCP server, whatever carries it (a child process over stdio,
// Streamable HTTP). The gateway talks to every upstream through this interface.
#pragma once

#include <jitgate/jsonrpc/message.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace jitgate::gateway {

namespace json = boost::json;

// JSON-RPC error codes the gateway reports for faults of its own (server-defined range, clear of
// the codes MCP itself uses). The error's data is {"upstream": <name>}.
enum class UpstreamError : std::int32_t {
  unavailable = -32010,   // not ready, exited or crashed mid-call, or stopped
  timeout = -32011,       // no answer within the call's timeout
  overloaded = -32012,    // the in-flight limit or the write buffer is full
  cancelled = -32013,     // cancel() was called for it
  bad_response = -32014,  // the upstream answered with something that is not a JSON-RPC response
  credentials = -32015,   // no credentials for the upstream: the token exchange was refused or failed
};

enum class UpstreamState {
  starting,    // connecting / initialize handshake under way
  ready,       // initialized: calls are accepted
  restarting,  // waiting out the backoff before the next attempt
  failed,      // gave up after max_consecutive_failures, or never started
  stopped,     // stop() called (or not started yet)
};
std::string_view to_string(UpstreamState s);

// The outcome of one call: exactly one of result and error is set.
struct CallResult {
  std::optional<json::value> result;
  std::optional<jsonrpc::Error> error;
  // Instead of `result`, for a call made with Upstream::request_text whose answer allowed it: the
  // result object's JSON text as the upstream sent it (checked to be JSON and an object).
  std::string result_text;
  bool ok() const { return result.has_value() || !result_text.empty(); }
};

enum class LogSource { child_stderr, upstream };
enum class LogLevel { info, warning, error };

// Answers one upstream server-to-client request; call it once, from any thread. An answer given
// after the connection it came from is gone is dropped.
using Responder = std::function<void(CallResult)>;

// Identifies a call in flight (Upstream::request's return value); 0 is no call.
using CallId = std::uint64_t;

// The `_meta` key by which an upstream names the call (our request id) a message of its belongs
// to, where the transport cannot say (stdio, an HTTP GET stream).
inline constexpr std::string_view kRelatedRequestMeta = "io.modelcontextprotocol/related-request-id";

// All callbacks run on the upstream's own thread (or, for a call refused at once, on the caller's
// thread). They must not block and must not call stop(). `related` is the call a message belongs
// to when the protocol says so (Streamable HTTP: it came on that call's response stream; otherwise
// its params._meta names a call in flight by kRelatedRequestMeta), else 0. Being the only call in
// flight relates nothing: on a shared connection that would hand one caller's question to another.
struct UpstreamHandlers {
  std::function<void(const jsonrpc::Notification&, CallId related)> on_notification;   // progress, logging, ...
  std::function<void(const jsonrpc::Request&, Responder, CallId related)> on_request;  // sampling, roots, ...
  std::function<void(LogSource, LogLevel, std::string_view)> on_log;
  std::function<void(UpstreamState)> on_state;
  // HTTP upstreams: the Authorization header value for the next request (a token obtained for
  // this connection's caller), or empty for the configured headers alone. Asked for every request
  // on the upstream's thread, so it must answer at once (no network work).
  std::function<std::string()> authorization;
};

struct UpstreamHealth {
  UpstreamState state = UpstreamState::stopped;
  std::uint64_t starts = 0;           // connections / children started
  std::uint64_t restarts = 0;         // of which after a fault
  std::uint64_t garbage_lines = 0;    // messages that are not one JSON-RPC message
  std::uint64_t oversized_lines = 0;  // of which over the size limit
  std::uint64_t unmatched_responses = 0;
  std::uint64_t timeouts = 0;
  std::size_t in_flight = 0;
  int pid = -1;            // stdio: current child, -1 when none
  std::string last_error;  // why the last connection ended or failed to start
};

class Upstream {
 public:
  virtual ~Upstream() = default;

  virtual const std::string& name() const = 0;
  // Connects (spawns) and returns at once; the handshake runs in the background.
  virtual void start() = 0;
  // Fails every call in flight and disconnects. Idempotent.
  virtual void stop() = 0;
  // True once ready; false when the timeout passes or the upstream is failed or stopped first.
  virtual bool wait_ready(std::chrono::milliseconds timeout) const = 0;

  // A call to the upstream. Refused at once (callback on this thread, returns 0) unless ready and
  // under the in-flight limit; otherwise answered by the upstream, or failed at `timeout` (the
  // upstream then gets notifications/cancelled) or when the connection is lost. `done` runs once.
  virtual CallId request(std::string method, json::value params, std::function<void(CallResult)> done,
                         std::optional<std::chrono::milliseconds> timeout = std::nullopt) = 0;
  std::future<CallResult> request(std::string method, json::value params = nullptr,
                                  std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // The same call sent with its own Authorization header value (a token obtained for the caller
  // it is made for), over any connection default. Transports without headers (stdio) ignore it.
  virtual CallId request_as(std::string authorization, std::string method, json::value params,
                            std::function<void(CallResult)> done,
                            std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    (void)authorization;
    return request(std::move(method), std::move(params), std::move(done), timeout);
  }
  // As request(), for a caller that passes the result on as it is: `done` may get the result as
  // text (CallResult::result_text) instead of a tree, which saves building one. The default builds it.
  virtual CallId request_text(std::string method, json::value params, std::function<void(CallResult)> done,
                              std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    return request(std::move(method), std::move(params), std::move(done), timeout);
  }
  // Gives up on a call in flight: the upstream gets notifications/cancelled with `reason` and the
  // call's `done` an UpstreamError::cancelled error. False when the call is no longer in flight.
  virtual bool cancel(CallId call, std::string_view reason) = 0;
  // False when not ready or the message cannot be queued.
  virtual bool notify(std::string method, json::value params = nullptr) = 0;

  virtual UpstreamState state() const = 0;
  virtual UpstreamHealth health() const = 0;
  // The upstream's initialize result (session revisions) or server/discover result (2026-07-28);
  // null before the first handshake.
  virtual json::value initialize_result() const = 0;
};

}  // namespace jitgate::gateway
