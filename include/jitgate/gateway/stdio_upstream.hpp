// An MCP client connection to an upstream MCP server run as a child process over stdio.
#pragma once

#include <jitgate/gateway/upstream.hpp>

#include <map>
#include <vector>

namespace jitgate::gateway {

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
  std::size_t max_in_flight = 64;                        // client-to-upstream calls awaiting an answer
  std::size_t max_line_bytes = 4 * 1024 * 1024;          // one stdout message; longer is garbage
  std::size_t max_stderr_line_bytes = 4096;              // longer stderr lines are cut
  std::size_t max_write_buffer_bytes = 8 * 1024 * 1024;  // unsent bytes to the child's stdin

  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{10'000};
  unsigned max_consecutive_failures = 0;        // failed starts before state `failed`; 0: never give up
  std::chrono::milliseconds kill_grace{2'000};  // SIGTERM to SIGKILL on stop()
};

using StdioUpstreamHandlers = UpstreamHandlers;

class StdioUpstream final : public Upstream {
 public:
  explicit StdioUpstream(StdioUpstreamConfig config, UpstreamHandlers handlers = {});
  ~StdioUpstream() override;  // stop()
  StdioUpstream(const StdioUpstream&) = delete;
  StdioUpstream& operator=(const StdioUpstream&) = delete;

  const std::string& name() const override;
  // Spawns the child and returns at once; the handshake runs on the I/O thread.
  void start() override;
  // Fails every call in flight, closes the child's stdin, SIGTERM, SIGKILL after kill_grace,
  // joins the I/O thread. Idempotent.
  void stop() override;
  bool wait_ready(std::chrono::milliseconds timeout) const override;

  using Upstream::request;
  CallId request(std::string method, json::value params, std::function<void(CallResult)> done,
                 std::optional<std::chrono::milliseconds> timeout = std::nullopt) override;
  // Plain result lines (jsonrpc::scan_result_text) come back as text, without a parse tree.
  CallId request_text(std::string method, json::value params, std::function<void(CallResult)> done,
                      std::optional<std::chrono::milliseconds> timeout = std::nullopt) override;
  bool cancel(CallId call, std::string_view reason) override;
  bool notify(std::string method, json::value params = nullptr) override;

  UpstreamState state() const override;
  UpstreamHealth health() const override;
  // The upstream's initialize result of the current child (null before the first handshake).
  json::value initialize_result() const override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared: a Responder may outlive this object
};

}  // namespace jitgate::gateway
