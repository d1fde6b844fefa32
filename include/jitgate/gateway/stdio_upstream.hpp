// An MCP client connection to an upstream MCP server run as a child process over stdio.
#pragma once

#include <jitgate/jsonrpc/message.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jitgate::gateway {

namespace json = boost::json;

// JSON-RPC error codes the gateway reports for faults of its own (server-defined range, clear of
// the codes MCP itself uses). The error's data is {"upstream": <name>}.
enum class UpstreamError : std::int32_t {
  unavailable = -32010,  // not ready, exited or crashed mid-call, or stopped
  timeout = -32011,      // no answer within the call's timeout
  overloaded = -32012,   // the in-flight limit or the write buffer is full
};

enum class UpstreamState {
  starting,    // child spawned, initialize handshake under way
  ready,       // initialized: calls are accepted
  restarting,  // waiting out the backoff before the next spawn
  failed,      // gave up after max_consecutive_failures, or never started
  stopped,     // stop() called (or not started yet)
};
std::string_view to_string(UpstreamState s);

struct StdioUpstreamConfig {
  std::string name = "upstream";  // in logs and error data
  std::string command;            // a path, or a name looked up in the child's PATH
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // the child's whole environment, apart from:
  bool inherit_path_home = true;           // PATH and HOME from this process unless set in env
  std::string working_directory;           // empty: this process's

  std::string protocol_version = "2025-11-25";
  json::object client_capabilities;  // declared in initialize
  json::object client_info = json::object{{"name", "jitgate"}, {"version", "0.1.0"}};

  std::chrono::milliseconds initialize_timeout{10'000};
  std::chrono::milliseconds default_timeout{30'000};
  std::size_t max_in_flight = 64;                  // client-to-upstream calls awaiting an answer
  std::size_t max_line_bytes = 4 * 1024 * 1024;    // one stdout message; longer is garbage
  std::size_t max_stderr_line_bytes = 4096;        // longer stderr lines are cut
  std::size_t max_write_buffer_bytes = 8 * 1024 * 1024;  // unsent bytes to the child's stdin

  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{10'000};
  unsigned max_consecutive_failures = 0;  // failed starts before state `failed`; 0: never give up
  std::chrono::milliseconds kill_grace{2'000};  // SIGTERM to SIGKILL on stop()
};

// The outcome of one call: exactly one of result and error is set.
struct CallResult {
  std::optional<json::value> result;
  std::optional<jsonrpc::Error> error;
  bool ok() const { return result.has_value(); }
};

enum class LogSource { child_stderr, upstream };
enum class LogLevel { info, warning, error };

// Answers one upstream server-to-client request; call it once, from any thread. An answer given
// after the child it came from has exited is dropped.
using Responder = std::function<void(CallResult)>;

// All callbacks run on the upstream's I/O thread (or, for a call refused at once, on the caller's
// thread). They must not block and must not call stop().
struct StdioUpstreamHandlers {
  std::function<void(const jsonrpc::Notification&)> on_notification;  // progress, logging, ...
  std::function<void(const jsonrpc::Request&, Responder)> on_request;  // sampling, roots, ...
  std::function<void(LogSource, LogLevel, std::string_view)> on_log;
  std::function<void(UpstreamState)> on_state;
};

struct UpstreamHealth {
  UpstreamState state = UpstreamState::stopped;
  std::uint64_t starts = 0;            // children spawned
  std::uint64_t restarts = 0;          // children spawned after a fault
  std::uint64_t garbage_lines = 0;     // stdout lines that are not one JSON-RPC message
  std::uint64_t oversized_lines = 0;   // of which over max_line_bytes
  std::uint64_t unmatched_responses = 0;
  std::uint64_t timeouts = 0;
  std::size_t in_flight = 0;
  int pid = -1;                        // current child, -1 when none
  std::string last_error;              // why the last child ended or failed to start
};

class StdioUpstream {
 public:
  explicit StdioUpstream(StdioUpstreamConfig config, StdioUpstreamHandlers handlers = {});
  ~StdioUpstream();  // stop()
  StdioUpstream(const StdioUpstream&) = delete;
  StdioUpstream& operator=(const StdioUpstream&) = delete;

  // Spawns the child and returns at once; the handshake runs on the I/O thread.
  void start();
  // Fails every call in flight, closes the child's stdin, SIGTERM, SIGKILL after kill_grace,
  // joins the I/O thread. Idempotent.
  void stop();
  // True once ready; false when the timeout passes or the upstream is failed or stopped first.
  bool wait_ready(std::chrono::milliseconds timeout) const;

  // A call to the upstream. Refused at once (callback on this thread) unless ready and under
  // the in-flight limit; otherwise answered by the upstream, or failed at `timeout` (the
  // upstream then gets notifications/cancelled) or when the child exits.
  void request(std::string method, json::value params, std::function<void(CallResult)> done,
               std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  std::future<CallResult> request(std::string method, json::value params = nullptr,
                                  std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // False when not ready or the write buffer is full.
  bool notify(std::string method, json::value params = nullptr);

  UpstreamState state() const;
  UpstreamHealth health() const;
  // The upstream's initialize result of the current child (null before the first handshake).
  json::value initialize_result() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared: a Responder may outlive this object
};

}  // namespace jitgate::gateway
