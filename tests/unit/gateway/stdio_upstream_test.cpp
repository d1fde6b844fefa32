// StdioUpstream against scripted upstreams (tests/integration/gateway/scripted_upstream.cjs, run
// by Node) and /bin/sh: handshake, calls, environment, and every fault the gateway must survive.
#include <jitgate/gateway/stdio_upstream.hpp>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "support/node.hpp"

namespace gw = jitgate::gateway;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testsupport::node_binary;

namespace {

const std::string kScript = JITGATE_SOURCE_DIR "/tests/integration/gateway/scripted_upstream.cjs";

// Collects what the upstream reports, thread-safely.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> stderr_lines, logs;
  std::vector<jitgate::jsonrpc::Notification> notifications;
  std::vector<std::pair<Clock::time_point, gw::UpstreamState>> states;

  gw::StdioUpstreamHandlers handlers() {
    gw::StdioUpstreamHandlers h;
    h.on_log = [this](gw::LogSource src, gw::LogLevel, std::string_view text) {
      std::lock_guard lock(mu);
      (src == gw::LogSource::child_stderr ? stderr_lines : logs).emplace_back(text);
    };
    h.on_notification = [this](const jitgate::jsonrpc::Notification& n, gw::CallId) {
      std::lock_guard lock(mu);
      notifications.push_back(n);
    };
    h.on_state = [this](gw::UpstreamState s) {
      std::lock_guard lock(mu);
      states.emplace_back(Clock::now(), s);
    };
    return h;
  }
  bool saw_stderr(std::string_view needle) {
    std::lock_guard lock(mu);
    for (auto& l : stderr_lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  bool wait_stderr(std::string_view needle, std::chrono::milliseconds limit = 5s) {
    for (auto end = Clock::now() + limit; Clock::now() < end; std::this_thread::sleep_for(10ms))
      if (saw_stderr(needle)) return true;
    return false;
  }
};

gw::StdioUpstreamConfig scripted(std::vector<std::string> flags = {}) {
  gw::StdioUpstreamConfig c;
  c.name = "scripted";
  c.command = node_binary();
  c.args = {kScript};
  c.args.insert(c.args.end(), flags.begin(), flags.end());
  c.default_timeout = 5s;
  c.backoff_initial = 50ms;
  c.backoff_max = 400ms;
  c.kill_grace = 1s;
  return c;
}

json::value call(const std::string& tool, json::object args = {}) {
  return json::object{{"name", tool}, {"arguments", std::move(args)}};
}

std::string first_text(const gw::CallResult& r) { return std::string(r.result->at("content").at(0).at("text").as_string()); }

gw::CallResult get(std::future<gw::CallResult> f, std::chrono::milliseconds limit = 10s) {
  if (f.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "call did not complete within " << limit.count() << " ms";
    return {};
  }
  return f.get();
}

}  // namespace

TEST(StdioUpstream, RefusesCallsBeforeStart) {
  gw::StdioUpstream up(scripted());
  auto r = get(up.request("tools/list"));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, static_cast<int>(gw::UpstreamError::unavailable));
  EXPECT_FALSE(up.wait_ready(10ms));
  EXPECT_FALSE(up.notify("notifications/roots/list_changed"));
}

TEST(StdioUpstream, HandshakeListAndCall) {
  Recorder rec;
  auto cfg = scripted();
  cfg.client_capabilities = json::object{{"roots", json::object{{"listChanged", true}}}};
  gw::StdioUpstream up(cfg, rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
  EXPECT_EQ(up.initialize_result().at("serverInfo").at("name"), "scripted");
  EXPECT_EQ(up.initialize_result().at("protocolVersion"), "2025-11-25");
  auto list = get(up.request("tools/list"));
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list.result->at("tools").at(0).at("name"), "echo");
  auto echo = get(up.request("tools/call", call("echo", {{"message", "hi"}})));
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(first_text(echo), "hi");
  auto unknown = get(up.request("nope/nope"));
  ASSERT_TRUE(unknown.error);
  EXPECT_EQ(unknown.error->code, -32601);
  EXPECT_TRUE(rec.wait_stderr("scripted upstream"));
  EXPECT_TRUE(up.notify("notifications/roots/list_changed"));
  auto h = up.health();
  EXPECT_EQ(h.state, gw::UpstreamState::ready);
  EXPECT_EQ(h.starts, 1u);
  EXPECT_EQ(h.restarts, 0u);
  EXPECT_GT(h.pid, 0);
  EXPECT_EQ(h.in_flight, 0u);
}

TEST(StdioUpstream, ChildGetsItsOwnEnvironmentAndDirectory) {
  ASSERT_EQ(::setenv("JITGATE_PARENT_SECRET", "leak", 1), 0);
  auto dir = std::filesystem::temp_directory_path() / ("gw-env-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto cfg = scripted();
  cfg.env = {{"UPSTREAM_TOKEN", "s3cret"}};
  cfg.working_directory = dir.string();
  gw::StdioUpstream up(cfg);
  up.start();
  ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
  auto r = get(up.request("tools/call", call("env")));
  ASSERT_TRUE(r.ok());
  auto& env = r.result->at("structuredContent").at("env").as_object();
  EXPECT_EQ(env.at("UPSTREAM_TOKEN"), "s3cret");
  EXPECT_TRUE(env.contains("PATH"));
  EXPECT_FALSE(env.contains("JITGATE_PARENT_SECRET"));
  EXPECT_EQ(std::filesystem::canonical(std::string(r.result->at("structuredContent").at("cwd").as_string())),
            std::filesystem::canonical(dir));
  up.stop();
  std::filesystem::remove_all(dir);
  ::unsetenv("JITGATE_PARENT_SECRET");
}

TEST(StdioUpstream, CrashMidCallFailsEveryCallAtOnceAndRestarts) {
  Recorder rec;
  gw::StdioUpstream up(scripted(), rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s));
  std::vector<std::future<gw::CallResult>> slow;
  for (int i = 0; i < 3; ++i) slow.push_back(up.request("tools/call", call("sleep", {{"ms", 20000}}), 20s));
  auto started = Clock::now();
  auto crash = up.request("tools/call", call("crash"), 20s);
  for (auto* f : {&crash, &slow[0], &slow[1], &slow[2]}) {
    auto r = get(std::move(*f), 3s);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code, static_cast<int>(gw::UpstreamError::unavailable));
    EXPECT_NE(r.error->message.find("exited with status 3"), std::string::npos) << r.error->message;
    EXPECT_EQ(r.error->data->at("upstream"), "scripted");
  }
  EXPECT_LT(Clock::now() - started, 2s);
  EXPECT_TRUE(rec.wait_stderr("crashing on purpose"));
  ASSERT_TRUE(up.wait_ready(10s));
  auto echo = get(up.request("tools/call", call("echo", {{"message", "back"}})));
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(first_text(echo), "back");
  auto h = up.health();
  EXPECT_EQ(h.starts, 2u);
  EXPECT_EQ(h.restarts, 1u);
  EXPECT_NE(h.last_error.find("status 3"), std::string::npos);
  std::lock_guard lock(rec.mu);
  bool restarting = false;
  for (auto& [t, s] : rec.states) restarting |= s == gw::UpstreamState::restarting;
  EXPECT_TRUE(restarting);
}

TEST(StdioUpstream, HungCallErrorsAtItsTimeoutAndIsCancelled) {
  Recorder rec;
  gw::StdioUpstream up(scripted(), rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s));
  auto started = Clock::now();
  auto r = get(up.request("tools/call", call("hang"), 300ms), 3s);
  auto took = Clock::now() - started;
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, static_cast<int>(gw::UpstreamError::timeout));
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 1500ms);
  EXPECT_TRUE(rec.wait_stderr("cancelled"));
  EXPECT_EQ(up.health().timeouts, 1u);
  EXPECT_EQ(up.health().in_flight, 0u);
  auto echo = get(up.request("tools/call", call("echo", {{"message", "still"}})));
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(up.health().starts, 1u);  // a hung call does not cost the child
}

TEST(StdioUpstream, HungInitializeIsRetriedThenFails) {
  Recorder rec;
  auto cfg = scripted({"--hang-initialize"});
  cfg.initialize_timeout = 300ms;
  cfg.max_consecutive_failures = 2;
  gw::StdioUpstream up(cfg, rec.handlers());
  up.start();
  EXPECT_FALSE(up.wait_ready(5s));
  auto h = up.health();
  EXPECT_EQ(h.state, gw::UpstreamState::failed);
  EXPECT_EQ(h.starts, 2u);
  EXPECT_NE(h.last_error.find("initialize"), std::string::npos) << h.last_error;
  EXPECT_EQ(h.pid, -1);
  auto r = get(up.request("tools/list"));
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->message.find("failed"), std::string::npos);
}

TEST(StdioUpstream, GarbageOnStdoutIsCountedAndCallsSucceed) {
  Recorder rec;
  auto cfg = scripted({"--garbage"});
  cfg.max_line_bytes = 64 * 1024;
  gw::StdioUpstream up(cfg, rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
  for (int i = 0; i < 3; ++i) {
    auto r = get(up.request("tools/call", call("echo", {{"message", "m" + std::to_string(i)}})));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(first_text(r), "m" + std::to_string(i));
  }
  auto h = up.health();
  // Per answer (and the initialize answer): two non-JSON lines, one oversized, one not JSON-RPC.
  EXPECT_EQ(h.garbage_lines, 4u * 4u);
  EXPECT_EQ(h.oversized_lines, 4u);
  EXPECT_EQ(h.unmatched_responses, 4u);
  EXPECT_EQ(h.starts, 1u);
  std::lock_guard lock(rec.mu);
  EXPECT_FALSE(rec.logs.empty());
}

TEST(StdioUpstream, ConcurrencyLimitFailsFast) {
  auto cfg = scripted();
  cfg.max_in_flight = 2;
  gw::StdioUpstream up(cfg);
  up.start();
  ASSERT_TRUE(up.wait_ready(10s));
  auto a = up.request("tools/call", call("sleep", {{"ms", 300}}));
  auto b = up.request("tools/call", call("sleep", {{"ms", 300}}));
  auto started = Clock::now();
  auto c = get(up.request("tools/call", call("echo", {{"message", "x"}})), 100ms);
  EXPECT_LT(Clock::now() - started, 50ms);
  ASSERT_TRUE(c.error);
  EXPECT_EQ(c.error->code, static_cast<int>(gw::UpstreamError::overloaded));
  EXPECT_TRUE(get(std::move(a)).ok());
  EXPECT_TRUE(get(std::move(b)).ok());
  EXPECT_TRUE(get(up.request("tools/call", call("echo", {{"message", "x"}}))).ok());
}

TEST(StdioUpstream, ExitingAtOnceBacksOffExponentially) {
  Recorder rec;
  gw::StdioUpstreamConfig cfg;
  cfg.name = "flaky";
  cfg.command = "sh";  // found in the inherited PATH
  cfg.args = {"-c", "echo bye >&2; exit 1"};
  cfg.backoff_initial = 50ms;
  cfg.backoff_max = 200ms;
  gw::StdioUpstream up(cfg, rec.handlers());
  up.start();
  std::this_thread::sleep_for(1500ms);
  auto h = up.health();
  EXPECT_NE(h.state, gw::UpstreamState::ready);
  EXPECT_NE(h.last_error.find("exited with status 1"), std::string::npos) << h.last_error;
  // 50 + 100 + 200 + 200 ... ms between starts: about 8 starts in 1.5 s, far fewer than without
  // backoff, and at least the first doublings.
  EXPECT_GE(h.starts, 5u);
  EXPECT_LE(h.starts, 10u);
  EXPECT_TRUE(rec.saw_stderr("bye"));
  std::vector<Clock::time_point> starting;
  {
    std::lock_guard lock(rec.mu);
    for (auto& [t, s] : rec.states)
      if (s == gw::UpstreamState::starting) starting.push_back(t);
  }
  ASSERT_GE(starting.size(), 4u);
  auto gap = [&](std::size_t i) { return starting[i + 1] - starting[i]; };
  EXPECT_GE(gap(0), 90ms);   // 100 ms
  EXPECT_GE(gap(1), 180ms);  // 200 ms (the cap)
  EXPECT_LT(gap(2), 400ms);  // capped
  auto r = get(up.request("tools/list"));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, static_cast<int>(gw::UpstreamError::unavailable));
}

TEST(StdioUpstream, GivesUpAfterConsecutiveFailures) {
  gw::StdioUpstreamConfig cfg;
  cfg.command = "/bin/sh";
  cfg.args = {"-c", "exit 2"};
  cfg.backoff_initial = 10ms;
  cfg.max_consecutive_failures = 3;
  gw::StdioUpstream up(cfg);
  up.start();
  EXPECT_FALSE(up.wait_ready(5s));
  EXPECT_EQ(up.state(), gw::UpstreamState::failed);
  EXPECT_EQ(up.health().starts, 3u);
}

TEST(StdioUpstream, MissingCommandFails) {
  gw::StdioUpstreamConfig cfg;
  cfg.command = "jitgate-no-such-command";
  cfg.max_consecutive_failures = 1;
  gw::StdioUpstream up(cfg);
  up.start();
  EXPECT_FALSE(up.wait_ready(5s));
  EXPECT_EQ(up.state(), gw::UpstreamState::failed);
  EXPECT_NE(up.health().last_error.find("not found"), std::string::npos);
  EXPECT_EQ(up.health().starts, 0u);
}

TEST(StdioUpstream, ServerToClientRequestIsAnsweredByTheOwner) {
  Recorder rec;
  auto h = rec.handlers();
  std::atomic<int> asked{0};
  h.on_request = [&](const jitgate::jsonrpc::Request& q, gw::Responder respond, gw::CallId) {
    ++asked;
    EXPECT_EQ(q.method, "roots/list");
    // Answered from another thread, later, as a real owner relaying downstream would.
    std::thread([respond] {
      std::this_thread::sleep_for(20ms);
      respond(
          gw::CallResult{json::value(json::object{{"roots", json::array{json::object{{"uri", "file:///tmp"}}}}}), std::nullopt});
    }).detach();
  };
  gw::StdioUpstream up(scripted(), h);
  up.start();
  ASSERT_TRUE(up.wait_ready(10s));
  auto r = get(up.request("tools/call", call("ask")));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.result->at("structuredContent").at("result").at("roots").at(0).at("uri"), "file:///tmp");
  EXPECT_EQ(asked.load(), 1);
}

TEST(StdioUpstream, ServerToClientRequestWithoutHandlerGetsMethodNotFound) {
  gw::StdioUpstream up(scripted());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s));
  auto r = get(up.request("tools/call", call("ask")));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.result->at("structuredContent").at("error").at("code"), -32601);
}

TEST(StdioUpstream, NotificationsReachTheOwner) {
  Recorder rec;
  gw::StdioUpstream up(scripted(), rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s));
  ASSERT_TRUE(get(up.request("tools/call", call("notify", {{"message", "hello"}}))).ok());
  std::lock_guard lock(rec.mu);
  ASSERT_EQ(rec.notifications.size(), 1u);  // delivered before the answer, on the I/O thread
  EXPECT_EQ(rec.notifications[0].method, "notifications/message");
  EXPECT_EQ(rec.notifications[0].params.at("data"), "hello");
}

TEST(StdioUpstream, StderrLinesAreBounded) {
  Recorder rec;
  auto cfg = scripted();
  cfg.max_stderr_line_bytes = 1000;
  gw::StdioUpstream up(cfg, rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s));
  ASSERT_TRUE(get(up.request("tools/call", call("stderr", {{"bytes", 300000}}))).ok());
  ASSERT_TRUE(rec.wait_stderr("after"));
  std::lock_guard lock(rec.mu);
  bool truncated = false;
  for (auto& l : rec.stderr_lines) {
    EXPECT_LE(l.size(), 1000u + 20u);
    truncated |= l.find("[truncated]") != std::string::npos;
  }
  EXPECT_TRUE(truncated);
}

TEST(StdioUpstream, StopFailsCallsInFlightAndEndsTheChild) {
  gw::StdioUpstream up(scripted());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s));
  int pid = up.health().pid;
  auto pending = up.request("tools/call", call("hang"), 20s);
  auto started = Clock::now();
  up.stop();
  EXPECT_LT(Clock::now() - started, 2s);
  auto r = get(std::move(pending), 1s);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, static_cast<int>(gw::UpstreamError::unavailable));
  EXPECT_EQ(up.state(), gw::UpstreamState::stopped);
  EXPECT_EQ(::kill(pid, 0), -1);  // reaped
  up.stop();                      // idempotent
}

TEST(StdioUpstream, StopKillsAChildThatIgnoresSigterm) {
  gw::StdioUpstreamConfig cfg;
  cfg.command = "/bin/sh";
  cfg.args = {"-c", "trap '' TERM; while :; do sleep 1; done"};
  cfg.kill_grace = 300ms;
  gw::StdioUpstream up(cfg);
  up.start();
  for (auto end = Clock::now() + 2s; up.health().pid < 0 && Clock::now() < end;) std::this_thread::sleep_for(5ms);
  int pid = up.health().pid;
  ASSERT_GT(pid, 0);
  std::this_thread::sleep_for(100ms);  // let the shell install its trap
  auto started = Clock::now();
  up.stop();
  auto took = Clock::now() - started;
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(::kill(pid, 0), -1);
}

TEST(StdioUpstream, CancelFailsTheCallAndTellsTheUpstream) {
  Recorder rec;
  gw::StdioUpstream up(scripted(), rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s));
  std::promise<gw::CallResult> p;
  auto f = p.get_future();
  gw::CallId id = up.request(
      "tools/call", call("hang"), [&](gw::CallResult r) { p.set_value(std::move(r)); }, 20s);
  ASSERT_NE(id, 0u);
  EXPECT_TRUE(up.cancel(id, "client went away"));
  auto r = get(std::move(f), 1s);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, static_cast<int>(gw::UpstreamError::cancelled));
  EXPECT_TRUE(rec.wait_stderr("cancelled " + std::to_string(id)));
  EXPECT_FALSE(up.cancel(id, "again"));  // no longer in flight
  EXPECT_EQ(up.health().in_flight, 0u);
  EXPECT_TRUE(get(up.request("tools/call", call("echo", {{"message", "x"}}))).ok());
}

// With SIGPIPE ignored, as jitgate serve runs, a caller writes its request line to the child itself
// (the I/O thread is woken only for what is left or for an earlier deadline).
TEST(StdioUpstream, CallersWriteTheirOwnRequestsWhenSigpipeIsIgnored) {
  struct IgnoreSigpipe {
    void (*old)(int) = std::signal(SIGPIPE, SIG_IGN);
    ~IgnoreSigpipe() { std::signal(SIGPIPE, old); }
  } ignore;
  Recorder rec;
  gw::StdioUpstream up(scripted(), rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s));

  // Calls from several threads at once: every line reaches the child whole, every answer its caller.
  std::atomic<int> right{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string m = "caller " + std::to_string(t) + " call " + std::to_string(i) + " \"quoted\" \\ \u00e9";
        auto r = get(up.request("tools/call", call("echo", {{"message", m}})));
        if (r.ok() && first_text(r) == m) ++right;
      }
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(right.load(), 200);

  // A method name that needs escaping arrives as sent (the child parses the line and answers).
  auto odd = get(up.request("no\"such\\method\x01"));
  ASSERT_TRUE(odd.error);
  EXPECT_EQ(odd.error->code, -32601);

  // A deadline before the end of the I/O thread's current poll still fires on time.
  auto started = Clock::now();
  auto hung = get(up.request("tools/call", call("hang"), 150ms), 3s);
  ASSERT_TRUE(hung.error);
  EXPECT_EQ(hung.error->code, static_cast<int>(gw::UpstreamError::timeout));
  EXPECT_LT(Clock::now() - started, 1000ms);

  // The child dies: its calls fail and it comes back.
  auto crash = get(up.request("tools/call", call("crash"), 20s), 5s);
  ASSERT_TRUE(crash.error);
  ASSERT_TRUE(up.wait_ready(10s));
  auto back = get(up.request("tools/call", call("echo", {{"message", "back"}})));
  ASSERT_TRUE(back.ok()) << back.error->message;
  EXPECT_EQ(first_text(back), "back");
  EXPECT_EQ(up.health().restarts, 1u);
}

// A caller's write to a child that closed its stdin fails with EPIPE (SIGPIPE ignored): the call
// times out like any unanswered one and the process lives on.
TEST(StdioUpstream, CallerWriteToAClosedStdinFailsTheCallOnly) {
  struct IgnoreSigpipe {
    void (*old)(int) = std::signal(SIGPIPE, SIG_IGN);
    ~IgnoreSigpipe() { std::signal(SIGPIPE, old); }
  } ignore;
  gw::StdioUpstreamConfig cfg;
  cfg.name = "closer";
  cfg.command = "/bin/sh";
  // Answers initialize (id 1), reads notifications/initialized, closes its stdin, stays alive.
  cfg.args = {"-c",
              "read l; echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\","
              "\"capabilities\":{},\"serverInfo\":{\"name\":\"closer\",\"version\":\"1\"}}}'; read l; exec 0<&-; sleep 5"};
  cfg.kill_grace = 300ms;
  gw::StdioUpstream up(cfg);
  up.start();
  ASSERT_TRUE(up.wait_ready(5s)) << up.health().last_error;
  std::this_thread::sleep_for(200ms);  // let the shell close its stdin
  for (int i = 0; i < 3; ++i) {
    auto r = get(up.request("tools/call", call("echo", {{"message", "into the void"}}), 200ms), 3s);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code, static_cast<int>(gw::UpstreamError::timeout));
  }
  EXPECT_EQ(up.health().state, gw::UpstreamState::ready);  // still running: its stdout is open
  up.stop();
}

// request_text: a plain result line reaches the caller as its result's text, not a tree; errors and
// request() calls are as before.
TEST(StdioUpstream, RequestTextGetsPlainResultsAsText) {
  gw::StdioUpstream up(scripted());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s));
  auto text_call = [&](std::string method, json::value params) {
    auto p = std::make_shared<std::promise<gw::CallResult>>();
    auto f = p->get_future();
    up.request_text(std::move(method), std::move(params), [p](gw::CallResult r) { p->set_value(std::move(r)); });
    return get(std::move(f));
  };
  auto t = text_call("tools/call", call("echo", {{"message", "as \"text\""}}));
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t.result);
  ASSERT_FALSE(t.result_text.empty());
  EXPECT_EQ(json::parse(t.result_text).at("content").at(0).at("text"), "as \"text\"");
  auto tree = get(up.request("tools/call", call("echo", {{"message", "as a tree"}})));
  ASSERT_TRUE(tree.result);
  EXPECT_TRUE(tree.result_text.empty());
  EXPECT_EQ(first_text(tree), "as a tree");
  auto unknown = text_call("nope/nope", nullptr);
  ASSERT_TRUE(unknown.error);
  EXPECT_EQ(unknown.error->code, -32601);
  EXPECT_TRUE(unknown.result_text.empty());
  EXPECT_EQ(up.health().in_flight, 0u);
}

namespace {

// An initialize answer whose protocolVersion is not a string is a failed start, not a version.
TEST(StdioUpstream, AProtocolVersionThatIsNotAStringFailsTheStart) {
  gw::StdioUpstreamConfig cfg;
  cfg.command = "/bin/sh";
  cfg.args = {"-c",
              R"(read line; echo '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":20251125,"capabilities":{}}}'; sleep 5)"};
  cfg.initialize_timeout = 2s;
  cfg.backoff_initial = 10ms;
  cfg.max_consecutive_failures = 1;
  gw::StdioUpstream up(cfg);
  up.start();
  EXPECT_FALSE(up.wait_ready(3s));
  EXPECT_EQ(up.state(), gw::UpstreamState::failed);
  EXPECT_NE(up.health().last_error.find("protocolVersion is not a string"), std::string::npos) << up.health().last_error;
}

}  // namespace
