// HttpUpstream against our own conformance server (build/bin/conformance-server, both protocol
// generations) run as a child process, and against a raw socket server that answers exactly the
// bytes a test wants (HTTP errors, garbage, truncation, hangs).
#include <jitgate/gateway/config.hpp>
#include <jitgate/gateway/connect.hpp>
#include <jitgate/gateway/gateway.hpp>
#include <jitgate/gateway/http_upstream.hpp>
#include <jitgate/mcp/server.hpp>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/capture.hpp"

namespace gw = jitgate::gateway;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

extern char** environ;

namespace {

constexpr int kUnavailable = static_cast<int>(gw::UpstreamError::unavailable);
constexpr int kTimeout = static_cast<int>(gw::UpstreamError::timeout);
constexpr int kOverloaded = static_cast<int>(gw::UpstreamError::overloaded);
constexpr int kCancelled = static_cast<int>(gw::UpstreamError::cancelled);
constexpr int kBadResponse = static_cast<int>(gw::UpstreamError::bad_response);

// The conformance server as a child process, on a port of its choosing or a given one.
class ConformanceServer {
 public:
  explicit ConformanceServer(std::uint16_t port = 0) { start(port); }
  ~ConformanceServer() { kill(); }

  void start(std::uint16_t port) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    std::string port_s = std::to_string(port);
    std::string bin = JITGATE_CONFORMANCE_SERVER;
    std::vector<char*> argv{
        bin.data(), const_cast<char*>("--host"), const_cast<char*>("127.0.0.1"), const_cast<char*>("--port"), port_s.data(),
        nullptr};
    if (::posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ) != 0) throw std::runtime_error("spawn " + bin);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    // It prints its URL once it listens.
    std::string line;
    pollfd pfd{out[0], POLLIN, 0};
    for (auto end = Clock::now() + 10s; line.find('\n') == std::string::npos && Clock::now() < end;) {
      if (::poll(&pfd, 1, 100) <= 0) continue;
      char buf[256];
      auto n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    auto nl = line.find('\n');
    if (nl == std::string::npos) throw std::runtime_error("conformance-server did not start: " + line);
    url_ = line.substr(0, nl);
    auto colon = url_.rfind(':');
    port_ = static_cast<std::uint16_t>(std::stoi(url_.substr(colon + 1)));
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  const std::string& url() const { return url_; }
  std::uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  std::string url_;
  std::uint16_t port_ = 0;
};

// Collects what the upstream reports, thread-safely.
struct Recorder {
  std::mutex mu;
  std::vector<std::pair<jitgate::jsonrpc::Notification, gw::CallId>> notifications;
  std::vector<std::string> logs;
  std::vector<gw::UpstreamState> states;

  gw::UpstreamHandlers handlers() {
    gw::UpstreamHandlers h;
    h.on_log = [this](gw::LogSource, gw::LogLevel, std::string_view text) {
      std::lock_guard lock(mu);
      logs.emplace_back(text);
    };
    h.on_notification = [this](const jitgate::jsonrpc::Notification& n, gw::CallId related) {
      std::lock_guard lock(mu);
      notifications.emplace_back(n, related);
    };
    h.on_state = [this](gw::UpstreamState s) {
      std::lock_guard lock(mu);
      states.push_back(s);
    };
    return h;
  }
  std::vector<gw::CallId> related_of(std::string_view method) {
    std::lock_guard lock(mu);
    std::vector<gw::CallId> out;
    for (auto& [n, r] : notifications)
      if (n.method == method) out.push_back(r);
    return out;
  }
  bool wait_notification(std::string_view method, std::chrono::milliseconds limit = 5s) {
    for (auto end = Clock::now() + limit; Clock::now() < end; std::this_thread::sleep_for(10ms))
      if (!related_of(method).empty()) return true;
    return false;
  }
  std::string dump() {
    std::lock_guard lock(mu);
    std::string out;
    for (auto& l : logs) out += l + "\n";
    return out;
  }
  bool logged(std::string_view needle) {
    std::lock_guard lock(mu);
    for (auto& l : logs)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
};

gw::HttpUpstreamConfig config(const std::string& url, std::string protocol = "2025-11-25") {
  gw::HttpUpstreamConfig c;
  c.name = "conf";
  c.url = url;
  c.protocol = std::move(protocol);
  c.default_timeout = 10s;
  c.initialize_timeout = 5s;
  c.connect_timeout = 2s;
  c.backoff_initial = 50ms;
  c.backoff_max = 200ms;
  c.stop_timeout = 1s;
  return c;
}

json::value call(const std::string& tool, json::object args = {}) {
  return json::object{{"name", tool}, {"arguments", std::move(args)}};
}

std::string first_text(const gw::CallResult& r) {
  if (!r.ok()) return "error: " + r.error->message;
  return std::string(r.result->at("content").at(0).at("text").as_string());
}

gw::CallResult get(std::future<gw::CallResult> f, std::chrono::milliseconds limit = 10s) {
  if (f.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "call did not complete within " << limit.count() << " ms";
    return {};
  }
  return f.get();
}

// A callback call whose CallId and outcome the test can both see.
struct Tracked {
  std::promise<gw::CallResult> promise;
  std::future<gw::CallResult> future = promise.get_future();
  gw::CallId id = 0;
  std::function<void(gw::CallResult)> done() {
    return [this](gw::CallResult r) { promise.set_value(std::move(r)); };
  }
};

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
  for (auto end = Clock::now() + limit; Clock::now() < end; std::this_thread::sleep_for(10ms))
    if (cond()) return true;
  return cond();
}

int cancelled_count(gw::HttpUpstream& up) {
  auto r = get(up.request("tools/call", call("test_cancelled_count")));
  return r.ok() ? std::stoi(first_text(r)) : -1;
}

// Sends one raw HTTP request and returns the status (0 when none came).
unsigned raw_request(std::uint16_t port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return 0;
  }
  [[maybe_unused]] auto n = ::write(fd, bytes.data(), bytes.size());
  char buf[512];
  pollfd pfd{fd, POLLIN, 0};
  std::string got;
  if (::poll(&pfd, 1, 3000) > 0) {
    auto r = ::read(fd, buf, sizeof buf);
    if (r > 0) got.assign(buf, static_cast<std::size_t>(r));
  }
  ::close(fd);
  if (got.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return static_cast<unsigned>(std::stoi(got.substr(9, 3)));
}

// A tiny HTTP/1.1 server on a raw socket: `script` turns each request into the exact bytes to
// send back ("" closes the connection without an answer; "hang" keeps it open, silent).
struct RawRequest {
  std::string method, head, body;
  json::value message;  // the body parsed, when it is JSON
  std::string header(std::string_view name) const {
    std::string lower_head = head;
    for (auto& ch : lower_head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string needle = "\r\n" + std::string(name) + ":";
    for (auto& ch : needle) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto at = lower_head.find(needle);
    if (at == std::string::npos) return {};
    auto start = at + needle.size();
    auto end = head.find("\r\n", start);
    std::string v = head.substr(start, end - start);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }
};

class RawServer {
 public:
  using Script = std::function<std::string(const RawRequest&)>;
  explicit RawServer(Script script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~RawServer() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : conns_) t.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  std::vector<RawRequest> requests() {
    std::lock_guard lock(mu_);
    return seen_;
  }

  static std::string json_response(const json::value& body, std::string extra_headers = "") {
    std::string b = json::serialize(body);
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra_headers +
           "Content-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
  }
  static std::string result_for(const RawRequest& r, json::value result, std::string extra_headers = "") {
    return json_response(json::object{{"jsonrpc", "2.0"}, {"id", r.message.at("id")}, {"result", std::move(result)}},
                         std::move(extra_headers));
  }
  static std::string status(unsigned code, std::string reason, std::string body = "", std::string type = "text/plain") {
    return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  // Answers initialize (with a session) and notifications like a session server would.
  static std::optional<std::string> handshake(const RawRequest& r) {
    if (r.method == "GET") return status(405, "Method Not Allowed");
    if (r.method == "DELETE") return status(200, "OK");
    if (!r.message.is_object()) return std::nullopt;
    const auto& m = r.message.as_object();
    if (!m.contains("id")) return std::string("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
    if (m.at("method") == "initialize")
      return result_for(r,
                        json::object{{"protocolVersion", "2025-11-25"},
                                     {"capabilities", json::object{}},
                                     {"serverInfo", json::object{{"name", "raw"}, {"version", "1"}}}},
                        "Mcp-Session-Id: raw-session\r\n");
    return std::nullopt;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      conns_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string in;
    while (!stop_) {
      auto end = in.find("\r\n\r\n");
      if (end == std::string::npos) {
        pollfd pfd{c, POLLIN, 0};
        if (::poll(&pfd, 1, 50) <= 0) continue;
        char buf[4096];
        auto n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      RawRequest r;
      r.head = in.substr(0, end + 2);
      r.method = r.head.substr(0, r.head.find(' '));
      std::size_t length = 0;
      if (auto cl = r.header("Content-Length"); !cl.empty()) length = std::stoul(cl);
      while (in.size() < end + 4 + length && !stop_) {
        char buf[4096];
        auto n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
      }
      r.body = in.substr(end + 4, length);
      in.erase(0, end + 4 + length);
      boost::system::error_code ec;
      r.message = json::parse(r.body, ec);
      if (ec) r.message = nullptr;
      {
        std::lock_guard lock(mu_);
        seen_.push_back(r);
      }
      std::string out = script_(r);
      if (out.empty()) break;
      if (out == "hang") {
        while (!stop_) std::this_thread::sleep_for(10ms);
        break;
      }
      [[maybe_unused]] auto n = ::write(c, out.data(), out.size());
      if (out.find("Connection: close") != std::string::npos) break;
    }
    ::close(c);
  }

  Script script_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> conns_;  // joined at the end (the acceptor alone appends)
  std::mutex mu_;
  std::vector<RawRequest> seen_;
};

}  // namespace

TEST(HttpUpstream, RefusesCallsBeforeStartAndBadUrls) {
  gw::HttpUpstream up(config("http://127.0.0.1:1/mcp"));
  auto r = get(up.request("tools/list"));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, kUnavailable);
  EXPECT_EQ(r.error->data->at("upstream"), "conf");
  EXPECT_FALSE(up.notify("notifications/roots/list_changed"));

  gw::HttpUpstream bad(config("ftp://example.com/mcp"));
  bad.start();
  EXPECT_FALSE(bad.wait_ready(1s));
  EXPECT_EQ(bad.state(), gw::UpstreamState::failed);
  EXPECT_NE(bad.health().last_error.find("scheme"), std::string::npos);
}

TEST(HttpUpstream, SessionHandshakeListAndCall) {
  ConformanceServer server;
  Recorder rec;
  gw::HttpUpstream up(config(server.url()), rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
  EXPECT_EQ(up.initialize_result().at("protocolVersion"), "2025-11-25");
  EXPECT_EQ(up.initialize_result().at("serverInfo").at("name"), "jitgate-conformance-server");
  std::string sid = up.session_id();
  EXPECT_FALSE(sid.empty());

  auto list = get(up.request("tools/list"));
  ASSERT_TRUE(list.ok()) << list.error->message;
  bool found = false;
  for (auto& t : list.result->at("tools").as_array()) found |= t.at("name") == "test_simple_text";
  EXPECT_TRUE(found);
  auto text = get(up.request("tools/call", call("test_simple_text")));
  EXPECT_EQ(first_text(text), "This is a simple text response for testing.");
  auto unknown = get(up.request("tools/call", call("no_such_tool")));
  ASSERT_TRUE(unknown.error);
  EXPECT_NE(unknown.error->code, kBadResponse);  // the upstream's own JSON-RPC error, passed through
  EXPECT_TRUE(up.notify("notifications/roots/list_changed"));

  auto h = up.health();
  EXPECT_EQ(h.state, gw::UpstreamState::ready);
  EXPECT_EQ(h.starts, 1u);
  EXPECT_EQ(h.restarts, 0u);
  EXPECT_EQ(h.in_flight, 0u);
  EXPECT_EQ(h.garbage_lines, 0u);
  EXPECT_EQ(h.pid, -1);

  up.stop();
  EXPECT_EQ(up.state(), gw::UpstreamState::stopped);
  // stop() ended the session upstream (DELETE).
  std::string body = R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})";
  EXPECT_EQ(raw_request(server.port(),
                        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        "Accept: application/json, text/event-stream\r\nMcp-Session-Id: " +
                            sid + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body),
            404u);
}

TEST(HttpUpstream, StatelessDiscoverListAndCall) {
  ConformanceServer server;
  Recorder rec;
  gw::HttpUpstream up(config(server.url(), "2026-07-28"), rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
  EXPECT_TRUE(up.session_id().empty());
  auto discover = up.initialize_result();
  ASSERT_TRUE(discover.is_object());
  EXPECT_TRUE(discover.as_object().contains("capabilities")) << json::serialize(discover);

  auto list = get(up.request("tools/list"));
  ASSERT_TRUE(list.ok()) << list.error->message;
  EXPECT_FALSE(list.result->at("tools").as_array().empty());
  auto text = get(up.request("tools/call", call("test_simple_text")));
  EXPECT_EQ(first_text(text), "This is a simple text response for testing.");
  // Mcp-Name needs the sentinel for a name that is not plain ASCII; the server checks it.
  auto odd = get(up.request("tools/call", call("t\xc3\xa9st")));
  ASSERT_TRUE(odd.error);
  EXPECT_NE(odd.error->code, -32020) << odd.error->message;
  EXPECT_NE(odd.error->code, kBadResponse) << odd.error->message;
  EXPECT_TRUE(up.notify("notifications/roots/list_changed"));
  EXPECT_EQ(up.health().garbage_lines, 0u);
}

TEST(HttpUpstream, ProgressArrivesRelatedToItsCall) {
  for (std::string protocol : {"2025-11-25", "2026-07-28"}) {
    SCOPED_TRACE(protocol);
    ConformanceServer server;
    Recorder rec;
    gw::HttpUpstream up(config(server.url(), protocol), rec.handlers());
    up.start();
    ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
    Tracked t;
    t.id = up.request("tools/call",
                      json::object{{"name", "test_tool_with_progress"},
                                   {"arguments", json::object{}},
                                   {"_meta", json::object{{"progressToken", "p-1"}}}},
                      t.done());
    ASSERT_NE(t.id, 0u);
    auto r = get(std::move(t.future));
    EXPECT_EQ(first_text(r), "Tool with progress completed");
    auto related = rec.related_of("notifications/progress");
    ASSERT_EQ(related.size(), 3u);
    for (auto id : related) EXPECT_EQ(id, t.id);
    std::lock_guard lock(rec.mu);
    EXPECT_EQ(rec.notifications.front().first.params.at("progressToken"), "p-1");
  }
}

TEST(HttpUpstream, ServerRequestIsAnsweredThroughOnRequest) {
  ConformanceServer server;
  Recorder rec;
  auto h = rec.handlers();
  std::atomic<gw::CallId> asked_for{0};
  std::string asked_method;
  h.on_request = [&](const jitgate::jsonrpc::Request& q, gw::Responder respond, gw::CallId related) {
    asked_method = q.method;
    asked_for = related;
    // Answered from another thread, as the gateway's relay would.
    std::thread([respond] {
      respond({json::value(json::object{
                   {"role", "assistant"}, {"content", json::object{{"type", "text"}, {"text", "Paris"}}}, {"model", "test"}}),
               std::nullopt});
    }).detach();
  };
  auto cfg = config(server.url());
  cfg.client_capabilities = json::object{{"sampling", json::object{}}};
  gw::HttpUpstream up(cfg, h);
  up.start();
  ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
  Tracked t;
  t.id = up.request("tools/call", call("test_sampling", {{"prompt", "Capital of France?"}}), t.done());
  auto r = get(std::move(t.future));
  EXPECT_EQ(first_text(r), "LLM response: Paris") << rec.dump();
  EXPECT_EQ(asked_method, "sampling/createMessage");
  EXPECT_EQ(asked_for.load(), t.id);
}

TEST(HttpUpstream, UnrelatedNotificationsComeOnTheGetStream) {
  ConformanceServer server;
  Recorder rec;
  gw::HttpUpstream up(config(server.url()), rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
  std::this_thread::sleep_for(200ms);  // the GET stream opens after ready
  auto r = get(up.request("tools/call", call("test_trigger_tool_change")));
  EXPECT_EQ(first_text(r), "Tool list change announced");
  ASSERT_TRUE(rec.wait_notification("notifications/tools/list_changed")) << rec.dump();
  EXPECT_EQ(rec.related_of("notifications/tools/list_changed").front(), 0u);
}

TEST(HttpUpstream, TimeoutFailsTheCallAndCancelsUpstream) {
  for (std::string protocol : {"2025-11-25", "2026-07-28"}) {
    SCOPED_TRACE(protocol);
    ConformanceServer server;
    gw::HttpUpstream up(config(server.url(), protocol));
    up.start();
    ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
    auto started = Clock::now();
    auto fast = up.request("tools/call", call("test_simple_text"));
    auto r = get(up.request("tools/call", call("test_slow", {{"durationMs", 5000}}), 300ms), 3s);
    auto took = Clock::now() - started;
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code, kTimeout);
    EXPECT_EQ(r.error->data->at("upstream"), "conf");
    EXPECT_GE(took, 290ms);
    EXPECT_LT(took, 2s);
    EXPECT_TRUE(get(std::move(fast)).ok());
    EXPECT_EQ(up.health().timeouts, 1u);
    // notifications/cancelled (session) or the closed stream (2026-07-28) stopped the tool.
    EXPECT_TRUE(wait_for([&] { return cancelled_count(up) == 1; }, 5s));
  }
}

TEST(HttpUpstream, CancelFailsTheCallAndStopsItUpstream) {
  for (std::string protocol : {"2025-11-25", "2026-07-28"}) {
    SCOPED_TRACE(protocol);
    ConformanceServer server;
    gw::HttpUpstream up(config(server.url(), protocol));
    up.start();
    ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
    Tracked t;
    t.id = up.request("tools/call", call("test_slow", {{"durationMs", 10000}}), t.done());
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(up.health().in_flight, 1u);
    EXPECT_TRUE(up.cancel(t.id, "user gave up"));
    EXPECT_FALSE(up.cancel(t.id, "twice"));
    auto r = get(std::move(t.future), 1s);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code, kCancelled);
    EXPECT_EQ(up.health().in_flight, 0u);
    EXPECT_TRUE(wait_for([&] { return cancelled_count(up) == 1; }, 5s));
  }
}

TEST(HttpUpstream, CallsRunConcurrentlyOverReusedConnections) {
  ConformanceServer server;
  auto cfg = config(server.url());
  cfg.max_in_flight = 8;
  gw::HttpUpstream up(cfg);
  up.start();
  ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
  auto started = Clock::now();
  std::vector<std::future<gw::CallResult>> calls;
  for (int i = 0; i < 8; ++i) calls.push_back(up.request("tools/call", call("test_slow", {{"durationMs", 400}})));
  auto refused = get(up.request("tools/call", call("test_simple_text")));
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->code, kOverloaded);
  for (auto& f : calls) EXPECT_EQ(first_text(get(std::move(f))), "slept 400 ms");
  EXPECT_LT(Clock::now() - started, 2500ms);  // 8 x 400 ms one after the other would be 3.2 s
  // Many quick calls in a row: all answered on the kept-alive connections.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(get(up.request("tools/call", call("test_simple_text"))).ok());
}

TEST(HttpUpstream, ServerKilledMidCallFailsItThenReconnects) {
  auto server = std::make_unique<ConformanceServer>();
  std::uint16_t port = server->port();
  Recorder rec;
  gw::HttpUpstream up(config(server->url()), rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
  std::string first_session = up.session_id();
  auto slow = up.request("tools/call", call("test_slow", {{"durationMs", 8000}}), 5s);
  std::this_thread::sleep_for(300ms);
  auto killed = Clock::now();
  server->kill();
  auto r = get(std::move(slow), 6s);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, kUnavailable) << r.error->message;
  EXPECT_LT(Clock::now() - killed, 2s);  // well within the call's 5 s
  // The GET stream notices; the handshake retries with backoff until the server is back.
  EXPECT_TRUE(wait_for([&] { return up.state() != gw::UpstreamState::ready; }, 5s));
  auto refused = get(up.request("tools/list"));
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->code, kUnavailable);
  std::this_thread::sleep_for(300ms);
  server = std::make_unique<ConformanceServer>(port);
  ASSERT_TRUE(wait_for([&] { return up.state() == gw::UpstreamState::ready; }, 10s)) << up.health().last_error;
  EXPECT_NE(up.session_id(), first_session);
  EXPECT_EQ(first_text(get(up.request("tools/call", call("test_simple_text")))), "This is a simple text response for testing.");
  auto h = up.health();
  EXPECT_GE(h.restarts, 1u);
  EXPECT_FALSE(h.last_error.empty());
}

TEST(HttpUpstream, ExpiredSessionReinitializes) {
  ConformanceServer server;
  Recorder rec;
  auto cfg = config(server.url());
  cfg.open_get_stream = false;
  gw::HttpUpstream up(cfg, rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
  std::string sid = up.session_id();
  ASSERT_EQ(raw_request(server.port(), "DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Session-Id: " + sid + "\r\n\r\n"), 200u);
  auto r = get(up.request("tools/list"));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, kUnavailable);
  EXPECT_NE(r.error->message.find("404"), std::string::npos) << r.error->message;
  ASSERT_TRUE(wait_for([&] { return up.state() == gw::UpstreamState::ready && up.session_id() != sid; }, 5s));
  EXPECT_TRUE(get(up.request("tools/list")).ok());
  EXPECT_EQ(up.health().restarts, 1u);
}

TEST(HttpUpstream, HttpErrorsAndGarbageFailTheCallClearly) {
  RawServer raw([](const RawRequest& r) -> std::string {
    if (auto h = RawServer::handshake(r)) return *h;
    std::string tool(r.message.at("params").at("name").as_string());
    if (tool == "e500") return RawServer::status(500, "Internal Server Error", "boom");
    if (tool == "e503") return RawServer::status(503, "Service Unavailable");
    if (tool == "e401") return RawServer::status(401, "Unauthorized", "{}", "application/json");
    if (tool == "text") return RawServer::status(200, "OK", "hello", "text/plain");
    if (tool == "badjson") return RawServer::status(200, "OK", "{\"jsonrpc\":", "application/json");
    if (tool == "wrongid")
      return RawServer::json_response(json::object{{"jsonrpc", "2.0"}, {"id", 999999}, {"result", json::object{}}});
    if (tool == "accepted") return "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
    if (tool == "truncated")
      return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"jsonrpc\"";
    if (tool == "reset") return "";
    if (tool == "sse") {
      std::string id = json::serialize(r.message.at("id"));
      std::string body =
          ": keep-alive\n\ndata: not json\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n"
          "data: {\"jsonrpc\":\"2.0\",\"id\":" +
          id + ",\r\ndata: \"result\":{\"ok\":true}}\r\n\r\n";
      return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
             body;
    }
    if (tool == "sse_cut")
      return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\n";
    if (tool == "big") return RawServer::result_for(r, json::object{{"pad", std::string(5000, 'x')}});
    if (tool == "ok") return RawServer::result_for(r, json::object{{"fine", true}});
    return RawServer::status(400, "Bad Request");
  });
  Recorder rec;
  auto cfg = config(raw.url());
  cfg.headers = {{"Authorization", "Bearer s3cret-upstream-token"}};
  cfg.max_response_bytes = 4096;
  gw::HttpUpstream up(cfg, rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(5s)) << up.health().last_error;
  EXPECT_EQ(up.session_id(), "raw-session");

  struct Case {
    const char* tool;
    int code;
    const char* says;
  };
  for (auto c : {Case{"e500", kUnavailable, "HTTP 500 Internal Server Error"}, Case{"e503", kUnavailable, "HTTP 503"},
                 Case{"e401", kBadResponse, "HTTP 401 Unauthorized"}, Case{"text", kBadResponse, "not JSON"},
                 Case{"badjson", kBadResponse, "malformed JSON"}, Case{"wrongid", kBadResponse, "not the JSON-RPC response"},
                 Case{"accepted", kBadResponse, "without a response"}, Case{"truncated", kUnavailable, "truncated"},
                 Case{"reset", kUnavailable, "lost"}, Case{"sse_cut", kUnavailable, "before the response"},
                 Case{"big", kBadResponse, "over 4096 bytes"}}) {
    SCOPED_TRACE(c.tool);
    auto r = get(up.request("tools/call", call(c.tool)));
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code, c.code);
    EXPECT_NE(r.error->message.find(c.says), std::string::npos) << r.error->message;
    EXPECT_EQ(r.error->data->at("upstream"), "conf");
    EXPECT_EQ(r.error->message.find("s3cret"), std::string::npos);
  }
  // An SSE answer with a comment, garbage, a notification and a response split over two data lines.
  Tracked t;
  t.id = up.request("tools/call", call("sse"), t.done());
  auto r = get(std::move(t.future));
  ASSERT_TRUE(r.ok()) << r.error->message;
  EXPECT_EQ(r.result->at("ok"), true);
  auto related = rec.related_of("notifications/message");
  ASSERT_EQ(related.size(), 1u);
  EXPECT_EQ(related[0], t.id);
  EXPECT_TRUE(get(up.request("tools/call", call("ok"))).ok());

  auto h = up.health();
  EXPECT_EQ(h.state, gw::UpstreamState::ready);  // answers, however bad, are not a lost upstream
  EXPECT_GE(h.garbage_lines, 3u);
  EXPECT_EQ(h.oversized_lines, 1u);
  EXPECT_EQ(h.unmatched_responses, 0u);
  // The GET stream is tried after ready, in the background: wait for its refusal before stopping.
  EXPECT_TRUE(wait_for([&] { return rec.logged("405"); }, 5s));  // no GET stream: tolerated

  up.stop();
  bool saw_delete = false, saw_initialized = false;
  for (auto& q : raw.requests()) {
    EXPECT_EQ(q.header("Authorization"), "Bearer s3cret-upstream-token");
    if (q.method == "POST" && q.message.at("method") != "initialize") {
      EXPECT_EQ(q.header("Mcp-Session-Id"), "raw-session");
      EXPECT_EQ(q.header("MCP-Protocol-Version"), "2025-11-25");
    }
    if (q.method == "POST") {
      EXPECT_EQ(q.header("Accept"), "application/json, text/event-stream");
    }
    saw_delete |= q.method == "DELETE";
    saw_initialized |= q.message.is_object() && q.message.at("method") == "notifications/initialized";
  }
  EXPECT_TRUE(saw_delete);
  EXPECT_TRUE(saw_initialized);
  std::lock_guard lock(rec.mu);
  for (auto& l : rec.logs) EXPECT_EQ(l.find("s3cret"), std::string::npos) << l;
}

TEST(HttpUpstream, StatelessRequestsCarryTheEnvelopeAndRoutingHeaders) {
  RawServer raw([](const RawRequest& r) -> std::string {
    if (!r.message.is_object() || !r.message.as_object().contains("id"))
      return "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
    if (r.message.at("method") == "server/discover")
      return RawServer::result_for(
          r, json::object{{"supportedVersions", json::array{"2026-07-28"}}, {"capabilities", json::object{}}});
    return RawServer::result_for(r, json::object{{"content", json::array{}}});
  });
  auto cfg = config(raw.url(), "2026-07-28");
  cfg.client_capabilities = json::object{{"sampling", json::object{}}};
  gw::HttpUpstream up(cfg);
  up.start();
  ASSERT_TRUE(up.wait_ready(5s)) << up.health().last_error;
  ASSERT_TRUE(get(up.request("tools/call", json::object{{"name", "caf\xc3\xa9"}, {"_meta", {{"progressToken", 7}}}})).ok());
  ASSERT_TRUE(get(up.request("resources/read", json::object{{"uri", "file:///a b"}})).ok());
  up.stop();
  auto seen = raw.requests();
  ASSERT_GE(seen.size(), 3u);
  for (auto& q : seen) {
    EXPECT_EQ(q.header("MCP-Protocol-Version"), "2026-07-28");
    EXPECT_EQ(q.header("Mcp-Session-Id"), "");
    EXPECT_EQ(q.header("Mcp-Method"), std::string(q.message.at("method").as_string()));
    auto& meta = q.message.at("params").at("_meta");
    EXPECT_EQ(meta.at("io.modelcontextprotocol/protocolVersion"), "2026-07-28");
    EXPECT_TRUE(meta.at("io.modelcontextprotocol/clientCapabilities").as_object().contains("sampling"));
    EXPECT_EQ(meta.at("io.modelcontextprotocol/clientInfo").at("name"), "jitgate");
    EXPECT_NE(q.method, "DELETE");
    EXPECT_NE(q.method, "GET");
  }
  EXPECT_EQ(seen[1].header("Mcp-Name"), "=?base64?Y2Fmw6k=?=");
  EXPECT_EQ(seen[1].message.at("params").at("_meta").at("progressToken"), 7);
  EXPECT_EQ(seen[2].header("Mcp-Name"), "file:///a b");
}

TEST(HttpUpstream, HungUpstreamBlocksNeitherOtherCallsNorStop) {
  RawServer raw([](const RawRequest& r) -> std::string {
    if (auto h = RawServer::handshake(r)) return *h;
    if (r.message.at("method") == "notifications/cancelled") return "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
    if (r.message.at("params").at("name") == "hang") return "hang";
    return RawServer::result_for(r, json::object{{"fine", true}});
  });
  gw::HttpUpstream up(config(raw.url()));
  up.start();
  ASSERT_TRUE(up.wait_ready(5s)) << up.health().last_error;
  auto hung = up.request("tools/call", call("hang"), 800ms);
  auto hung2 = up.request("tools/call", call("hang"), 20s);
  auto started = Clock::now();
  EXPECT_TRUE(get(up.request("tools/call", call("ok"))).ok());
  EXPECT_LT(Clock::now() - started, 500ms);
  auto r = get(std::move(hung), 3s);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, kTimeout);
  EXPECT_TRUE(wait_for(
      [&] {
        for (auto& q : raw.requests())
          if (q.message.is_object() && q.message.at("method") == "notifications/cancelled") return true;
        return false;
      },
      3s));
  started = Clock::now();
  up.stop();
  EXPECT_LT(Clock::now() - started, 2s);
  auto r2 = get(std::move(hung2), 1s);
  ASSERT_TRUE(r2.error);
  EXPECT_EQ(r2.error->code, kUnavailable);
}

TEST(HttpUpstream, HungInitializeFailsAfterMaxConsecutiveFailures) {
  RawServer raw([](const RawRequest&) -> std::string { return "hang"; });
  Recorder rec;
  auto cfg = config(raw.url());
  cfg.initialize_timeout = 200ms;
  cfg.max_consecutive_failures = 2;
  gw::HttpUpstream up(cfg, rec.handlers());
  up.start();
  EXPECT_FALSE(up.wait_ready(5s));
  EXPECT_EQ(up.state(), gw::UpstreamState::failed);
  auto h = up.health();
  EXPECT_EQ(h.starts, 2u);
  EXPECT_NE(h.last_error.find("initialize failed"), std::string::npos) << h.last_error;
  auto started = Clock::now();
  up.stop();
  EXPECT_LT(Clock::now() - started, 2s);
  EXPECT_EQ(up.state(), gw::UpstreamState::stopped);
}

TEST(HttpUpstream, UnreachableUpstreamRetriesWithBackoff) {
  // A port nothing listens on (bound, then closed).
  std::uint16_t port;
  {
    RawServer probe([](const RawRequest&) { return std::string(); });
    port = static_cast<std::uint16_t>(std::stoi(probe.url().substr(17)));
  }
  Recorder rec;
  gw::HttpUpstream up(config("http://127.0.0.1:" + std::to_string(port) + "/mcp"), rec.handlers());
  up.start();
  EXPECT_TRUE(wait_for([&] { return up.health().starts >= 3; }, 5s));
  EXPECT_NE(up.state(), gw::UpstreamState::ready);
  EXPECT_NE(up.health().last_error.find("cannot connect"), std::string::npos) << up.health().last_error;
  ConformanceServer server(port);  // it comes up: the next attempt succeeds
  EXPECT_TRUE(wait_for([&] { return up.state() == gw::UpstreamState::ready; }, 5s)) << up.health().last_error;
}

namespace {

// The gateway as `jitgate serve` builds it (make_spec) in front of the conformance server, for a
// 2026-07-28 client whose tool needs an answer from the user: with a session-revision upstream the
// upstream's elicitation/create becomes the gateway's input-required result; with a 2026-07-28
// upstream the upstream's own input-required result passes through. Either way the client's retry
// completes the call.
TEST(HttpUpstreamBehindGateway, InputRequiredFor2026ClientsOverBothGenerations) {
  ConformanceServer cs;
  for (std::string protocol : {"2025-11-25", "2026-07-28"}) {
    SCOPED_TRACE(protocol);
    jitgate::mcp::Server server(jitgate::mcp::ServerOptions{});
    gw::GatewayOptions go;
    go.log = [](std::string_view, gw::LogLevel, std::string_view) {};
    gw::Gateway gateway(server, go);
    gw::UpstreamConfig u;
    u.name = "conf";
    u.tool_prefix = "c_";
    u.timeout = 10s;
    u.http = gw::HttpSettings{};
    u.http->url = cs.url();
    u.http->protocol = protocol;
    u.http->open_get_stream = protocol != "2026-07-28";
    gateway.add(gw::make_spec(u));
    ASSERT_TRUE(gateway.start());

    json::object meta{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                      {"io.modelcontextprotocol/clientCapabilities", json::object{{"elicitation", json::object{}}}}};
    auto request = [&](json::object params) {
      auto holder = std::make_shared<jitgate::mcp::Session>("");
      auto out = std::make_shared<testsupport::CaptureOutbound>();
      server.handle(holder, jitgate::jsonrpc::Request{1, "tools/call", json::value(std::move(params))}, out);
      auto r = out->wait(10s);
      EXPECT_TRUE(r) << "no response";
      return r.value_or(json::object{});
    };
    json::object params{{"name", "c_test_input_required_result_elicitation"}, {"arguments", json::object{}}, {"_meta", meta}};
    auto first = request(params);
    ASSERT_TRUE(first.contains("result")) << json::serialize(first);
    const auto& r1 = first.at("result").as_object();
    ASSERT_EQ(r1.at("resultType"), "input_required") << json::serialize(r1);
    ASSERT_EQ(r1.at("inputRequests").as_object().size(), 1u);
    const auto& [key, question] = *r1.at("inputRequests").as_object().begin();
    EXPECT_EQ(question.at("method"), "elicitation/create");
    EXPECT_EQ(question.at("params").at("message"), "What is your name?");
    // Ours for a session upstream; the upstream's own (and its key) for a 2026-07-28 one.
    std::string state(r1.at("requestState").as_string());
    EXPECT_EQ(state.starts_with("jitgate-input."), protocol != "2026-07-28") << state;
    EXPECT_EQ(std::string(key) == "user_name", protocol == "2026-07-28") << key;

    auto retry = params;
    retry["requestState"] = state;
    retry["inputResponses"] =
        json::object{{std::string(key), json::object{{"action", "accept"}, {"content", json::object{{"name", "Ada"}}}}}};
    auto done = request(retry);
    ASSERT_TRUE(done.contains("result")) << json::serialize(done);
    EXPECT_EQ(done.at("result").at("content").at(0).at("text"), "Hello, Ada!");
    gateway.stop();
    server.join();
  }
}

}  // namespace

namespace {

// nginx terminating TLS in front of the conformance server, with a certificate for "localhost"
// issued by a CA made for the test (openssl), so https upstreams are verified for real.
class TlsProxy {
 public:
  explicit TlsProxy(std::uint16_t backend) {
    char tmpl[] = "/tmp/jitgate-tls-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    std::string d = dir_;
    run("cd " + d +
        " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem"
        " -days 1 -subj /CN=jitgate-test-ca" +
        " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=localhost" +
        " && printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > ext.cnf" +
        " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile ext.cnf");
    port_ = free_port();
    std::string conf = "daemon on;\nworker_processes 1;\npid " + d + "/nginx.pid;\nerror_log " + d + "/error.log warn;\n" +
                       "events { worker_connections 64; }\nhttp {\n  access_log off;\n" + "  client_body_temp_path " + d +
                       "/cb;\n  proxy_temp_path " + d + "/px;\n  fastcgi_temp_path " + d + "/fc;\n  uwsgi_temp_path " + d +
                       "/uw;\n  scgi_temp_path " + d + "/sc;\n" + "  server {\n    listen 127.0.0.1:" + std::to_string(port_) +
                       " ssl;\n" + "    ssl_certificate " + d + "/server.pem;\n    ssl_certificate_key " + d + "/server.key;\n" +
                       "    location / {\n      proxy_pass http://127.0.0.1:" + std::to_string(backend) + ";\n" +
                       "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n" +
                       "      proxy_buffering off;\n      proxy_read_timeout 60s;\n    }\n  }\n}\n";
    std::ofstream(d + "/nginx.conf") << conf;
    run("nginx -p " + d + " -c " + d + "/nginx.conf -e " + d + "/error.log");
    started_ = true;
    for (auto end = Clock::now() + 5s; Clock::now() < end; std::this_thread::sleep_for(20ms))
      if (connectable()) return;
    throw std::runtime_error("nginx did not listen");
  }
  ~TlsProxy() {
    if (started_)
      std::system(("nginx -p " + dir_ + " -c " + dir_ + "/nginx.conf -e " + dir_ + "/error.log -s stop 2>/dev/null").c_str());
    std::system(("rm -rf " + dir_).c_str());
  }
  std::uint16_t port() const { return port_; }
  std::string ca() const { return dir_ + "/ca.pem"; }

 private:
  static void run(const std::string& cmd) {
    if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
  static std::uint16_t free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t n = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
    ::close(s);
    return ntohs(a.sin_port);
  }
  bool connectable() const {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
    return ok;
  }
  std::string dir_;
  std::uint16_t port_ = 0;
  bool started_ = false;
};

TEST(HttpUpstream, HttpsIsVerifiedAgainstTheConfiguredCaAndHostName) {
  ConformanceServer server;
  TlsProxy tls(server.port());
  const std::string url = "https://localhost:" + std::to_string(tls.port()) + "/mcp";
  for (std::string protocol : {"2025-11-25", "2026-07-28"}) {
    SCOPED_TRACE(protocol);
    auto c = config(url, protocol);
    c.ca_file = tls.ca();
    gw::HttpUpstream up(c);
    up.start();
    ASSERT_TRUE(up.wait_ready(10s)) << up.health().last_error;
    EXPECT_EQ(first_text(get(up.request("tools/call", call("test_simple_text")))), "This is a simple text response for testing.");
    up.stop();
  }
  // The system CAs do not know the test CA: no connection, and the reason says so.
  {
    gw::HttpUpstream up(config(url));
    up.start();
    EXPECT_FALSE(up.wait_ready(1500ms));
    EXPECT_NE(up.health().last_error.find("certificate verify failed"), std::string::npos) << up.health().last_error;
  }
  // The right CA but another host name than the certificate's.
  {
    auto c = config("https://127.0.0.1:" + std::to_string(tls.port()) + "/mcp");
    c.ca_file = tls.ca();
    gw::HttpUpstream up(c);
    up.start();
    EXPECT_FALSE(up.wait_ready(1500ms));
    EXPECT_NE(up.health().last_error.find("certificate verify failed"), std::string::npos) << up.health().last_error;
  }
  // A CA file that cannot be read fails at once, naming the file.
  {
    auto c = config(url);
    c.ca_file = "/nonexistent/ca.pem";
    gw::HttpUpstream up(c);
    up.start();
    EXPECT_FALSE(up.wait_ready(1s));
    EXPECT_NE(up.health().last_error.find("/nonexistent/ca.pem"), std::string::npos) << up.health().last_error;
  }
}

}  // namespace

namespace {

// A malformed answer to the call on its own SSE stream (an error code that is not a 32-bit
// integer) fails the call as a bad response at once, not as a stream that ended early.
TEST(HttpUpstream, AMalformedAnswerOnTheCallsStreamFailsItAsABadResponse) {
  RawServer raw([](const RawRequest& r) -> std::string {
    if (auto h = RawServer::handshake(r)) return *h;
    std::string id = json::serialize(r.message.at("id"));
    std::string tool(r.message.at("params").at("name").as_string());
    std::string code = tool == "fraction" ? "1.5" : "1099511627776";
    std::string body = "data: {\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"error\":{\"code\":" + code + ",\"message\":\"odd\"}}\n\n";
    return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
           body;
  });
  Recorder rec;
  gw::HttpUpstream up(config(raw.url()), rec.handlers());
  up.start();
  ASSERT_TRUE(up.wait_ready(5s)) << up.health().last_error;
  for (const char* tool : {"fraction", "huge"}) {
    SCOPED_TRACE(tool);
    auto r = get(up.request("tools/call", call(tool)));
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code, kBadResponse) << r.error->message;
    EXPECT_NE(r.error->message.find("malformed"), std::string::npos) << r.error->message;
    EXPECT_EQ(r.error->data->at("upstream"), "conf");
  }
  EXPECT_TRUE(wait_for([&] { return rec.logged("405"); }, 5s));
  up.stop();
}

}  // namespace
