// The Streamable HTTP transport against raw HTTP: every bad-input case in the README's error table.
#include "jitgate/transport/http_server.hpp"

#include <gtest/gtest.h>

#include <atomic>

#include <boost/json.hpp>
#include <thread>

#include "jitgate/mcp/server.hpp"
#include "support/raw_http.hpp"

namespace json = boost::json;
using namespace jitgate;
using namespace testsupport;
using namespace std::chrono_literals;

namespace {

class Http : public ::testing::Test {
 protected:
  void start(transport::HttpOptions o = {}) {
    server_ = std::make_unique<mcp::Server>();
    server_->add_tool(
        mcp::Tool{"echo", "", "echo", json::parse(R"({"type":"object","properties":{"text":{"type":"string"}}})").as_object()},
        [](const json::object& a, mcp::RequestContext& ctx) {
          ctx.log(mcp::LogLevel::info, "echoing");
          return mcp::ToolResult::text(a.contains("text") ? std::string(a.at("text").as_string()) : "");
        });
    server_->add_tool(mcp::Tool{"quiet", "", "answers without side messages"},
                      [](const json::object&, mcp::RequestContext&) { return mcp::ToolResult::text("shh"); });
    o.threads = 2;
    http_ = std::make_unique<transport::HttpServer>(*server_, o);
    port_ = http_->listen();
    http_->start();
  }
  void TearDown() override {
    if (http_) http_->stop();
    http_.reset();
    if (server_) server_->join();
  }

  // Opens a session and returns its id.
  std::string open_session(const std::string& version = "2025-11-25") {
    RawClient c(port_);
    c.write(post(initialize_body(version)));
    auto r = c.read();
    EXPECT_EQ(r.status, 200u);
    std::string sid = r.header("Mcp-Session-Id");
    EXPECT_FALSE(sid.empty());
    RawClient n(port_);
    n.write(post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", "Mcp-Session-Id: " + sid + "\r\n"));
    EXPECT_EQ(n.read().status, 202u);
    return sid;
  }

  RawResponse send(const std::string& bytes) {
    RawClient c(port_);
    c.write(bytes);
    return c.read();
  }

  std::string session_headers(const std::string& sid, const std::string& version = "2025-11-25") {
    return "Mcp-Session-Id: " + sid + "\r\nMCP-Protocol-Version: " + version + "\r\n";
  }

  std::unique_ptr<mcp::Server> server_;
  std::unique_ptr<transport::HttpServer> http_;
  std::uint16_t port_ = 0;
};

const char* kList = R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})";

TEST_F(Http, InitializeIssuesASessionAndAnswersJson) {
  start();
  auto sid = open_session();
  auto r = send(post(kList, session_headers(sid)));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.json().at("result").at("tools").as_array().size(), 2u);
}

TEST_F(Http, MalformedJsonIs400ParseError) {
  start();
  auto r = send(post(R"({"jsonrpc":"2.0",)"));
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.rpc_code(), -32700);
  EXPECT_TRUE(r.json().at("id").is_null());
}

TEST_F(Http, WrongJsonRpcShapeIs400InvalidRequest) {
  start();
  auto sid = open_session();
  for (const char* body : {R"({"jsonrpc":"1.0","id":1,"method":"ping"})", R"({"jsonrpc":"2.0","id":1})", R"(42)",
                           R"({"jsonrpc":"2.0","id":[1],"method":"ping"})"}) {
    auto r = send(post(body, session_headers(sid)));
    EXPECT_EQ(r.status, 400u) << body;
    EXPECT_EQ(r.rpc_code(), -32600) << body;
  }
}

TEST_F(Http, UnknownMethodIsMethodNotFound) {
  start();
  auto sid = open_session();
  auto r = send(post(R"({"jsonrpc":"2.0","id":"x","method":"tools/explode"})", session_headers(sid)));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.rpc_code(), -32601);
  EXPECT_EQ(r.json().at("id").as_string(), "x");
}

TEST_F(Http, BatchesOnlyFor20250326) {
  start();
  std::string batch =
      R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":"two","method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/x"},{"bad":true}])";
  auto old_sid = open_session("2025-03-26");
  auto r = send(post(batch, session_headers(old_sid, "2025-03-26")));
  ASSERT_EQ(r.status, 200u);
  auto arr = r.json().as_array();
  ASSERT_EQ(arr.size(), 3u);  // two responses and one error for the invalid element
  std::set<std::string> ids;
  for (auto& e : arr) ids.insert(json::serialize(e.at("id")));
  EXPECT_TRUE(ids.contains("1") && ids.contains("\"two\"") && ids.contains("null"));

  auto new_sid = open_session("2025-11-25");
  auto refused = send(post(batch, session_headers(new_sid)));
  EXPECT_EQ(refused.status, 400u);
  EXPECT_EQ(refused.rpc_code(), -32600);

  auto notes = send(post(R"([{"jsonrpc":"2.0","method":"notifications/a"},{"jsonrpc":"2.0","method":"notifications/b"}])",
                         session_headers(old_sid, "2025-03-26")));
  EXPECT_EQ(notes.status, 202u);
}

TEST_F(Http, OversizedBodyIs413) {
  transport::HttpOptions o;
  o.max_body_bytes = 1024;
  start(o);
  auto sid = open_session();
  std::string big = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":")" +
                    std::string(4096, 'a') + "\"}}}";
  auto r = send(post(big, session_headers(sid)));
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(r.rpc_code(), -32600);
  EXPECT_EQ(send(post(kList, session_headers(sid))).status, 200u);  // still serving
}

TEST_F(Http, OversizedHeadersAre431) {
  transport::HttpOptions o;
  o.max_header_bytes = 2048;
  start(o);
  auto r = send(post(initialize_body(), "X-Padding: " + std::string(8192, 'p') + "\r\n"));
  EXPECT_EQ(r.status, 431u);
  EXPECT_EQ(send(post(initialize_body())).status, 200u);
}

TEST_F(Http, MissingSessionIdIs400AndUnknownIs404) {
  start();
  auto missing = send(post(kList));
  EXPECT_EQ(missing.status, 400u);
  EXPECT_EQ(missing.rpc_code(), -32600);
  auto unknown = send(post(kList, "Mcp-Session-Id: 0123456789abcdef0123456789abcdef\r\n"));
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(unknown.rpc_code(), -32001);
}

TEST_F(Http, ProtocolVersionHeaderRules) {
  start();
  auto sid = open_session();
  // An unknown version is answered with the versions this server speaks.
  auto bad = send(post(kList, "Mcp-Session-Id: " + sid + "\r\nMCP-Protocol-Version: 1999-12-31\r\n"));
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(bad.rpc_code(), -32022);
  EXPECT_EQ(bad.json().at("error").at("data").at("requested").as_string(), "1999-12-31");
  // Absent: the server assumes 2025-03-26 and answers.
  EXPECT_EQ(send(post(kList, "Mcp-Session-Id: " + sid + "\r\n")).status, 200u);
  auto bad_init = send(post(initialize_body(), "MCP-Protocol-Version: 2030-01-01\r\n"));
  EXPECT_EQ(bad_init.status, 400u);
}

TEST_F(Http, ForeignOriginAndHostAre403) {
  start();
  auto origin = send(post(initialize_body(), "Origin: http://evil.example.com\r\n"));
  EXPECT_EQ(origin.status, 403u);
  auto host = send(post(initialize_body(), "", "evil.example.com"));
  EXPECT_EQ(host.status, 403u);
  EXPECT_EQ(send(post(initialize_body(), "Origin: http://localhost:5173\r\n")).status, 200u);
}

TEST_F(Http, ConfiguredHostsAndOriginsReplaceTheLoopbackDefault) {
  transport::HttpOptions o;
  o.allowed_hosts = {"mcp.example.com"};
  o.allowed_origins = {"https://app.example.com"};
  start(o);
  EXPECT_EQ(send(post(initialize_body(), "Origin: https://app.example.com\r\n", "mcp.example.com")).status, 200u);
  EXPECT_EQ(send(post(initialize_body(), "", "localhost")).status, 403u);
  EXPECT_EQ(send(post(initialize_body(), "Origin: http://localhost\r\n", "mcp.example.com")).status, 403u);
}

// CORS is opt-in: browser clients (the MCP Inspector's direct connection) get the preflight answer
// and the session and challenge headers exposed; other origins and the default get none.
TEST_F(Http, CorsOnlyForConfiguredOrigins) {
  transport::HttpOptions o;
  o.cors_origins = {"http://localhost:6274"};
  start(o);
  auto preflight = [&](const std::string& origin, const std::string& path = "/mcp") {
    return send("OPTIONS " + path + " HTTP/1.1\r\nHost: localhost\r\nOrigin: " + origin +
                "\r\nAccess-Control-Request-Method: POST\r\n"
                "Access-Control-Request-Headers: authorization, content-type, mcp-session-id, mcp-protocol-version\r\n\r\n");
  };
  auto ok = preflight("http://localhost:6274");
  EXPECT_EQ(ok.status, 204u);
  EXPECT_EQ(ok.header("Access-Control-Allow-Origin"), "http://localhost:6274");
  EXPECT_EQ(ok.header("Vary"), "Origin");
  EXPECT_EQ(ok.header("Access-Control-Allow-Methods"), "GET, POST, DELETE, OPTIONS");
  for (const char* h : {"Authorization", "Content-Type", "Mcp-Session-Id", "MCP-Protocol-Version", "Last-Event-ID"})
    EXPECT_NE(ok.header("Access-Control-Allow-Headers").find(h), std::string::npos) << h;

  // The answers themselves: initialize (JSON), an error, the GET stream.
  const std::string from = "Origin: http://localhost:6274\r\n";
  const std::string exposed = "Mcp-Session-Id, WWW-Authenticate, MCP-Protocol-Version";
  auto init = send(post(initialize_body(), from));
  ASSERT_EQ(init.status, 200u);
  EXPECT_EQ(init.header("Access-Control-Allow-Origin"), "http://localhost:6274");
  EXPECT_EQ(init.header("Access-Control-Expose-Headers"), exposed);
  EXPECT_TRUE(init.header("Access-Control-Allow-Methods").empty());  // preflight only
  auto missing = send(post(kList, from));
  EXPECT_EQ(missing.status, 400u);
  EXPECT_EQ(missing.header("Access-Control-Allow-Origin"), "http://localhost:6274");
  auto sid = open_session();
  RawClient g(port_);
  g.write("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n" + from + session_headers(sid) + "\r\n");
  http::response_parser<http::empty_body> p;
  auto head = g.read_head(p);
  EXPECT_EQ(head.result_int(), 200u);
  EXPECT_EQ(head["Access-Control-Allow-Origin"], "http://localhost:6274");
  EXPECT_EQ(head["Access-Control-Expose-Headers"], exposed);

  // Another loopback origin passes the Origin check but gets no CORS; neither does another path.
  auto other = preflight("http://localhost:5173");
  EXPECT_EQ(other.status, 405u);
  EXPECT_TRUE(other.header("Access-Control-Allow-Origin").empty());
  auto plain = send(post(initialize_body(), "Origin: http://localhost:5173\r\n"));
  EXPECT_EQ(plain.status, 200u);
  EXPECT_TRUE(plain.header("Access-Control-Allow-Origin").empty());
  EXPECT_EQ(preflight("http://localhost:6274", "/elsewhere").status, 404u);
  EXPECT_TRUE(send(post(initialize_body())).header("Access-Control-Allow-Origin").empty());  // no Origin: no CORS
}

TEST_F(Http, NoCorsByDefault) {
  start();
  auto r = send(
      "OPTIONS /mcp HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost:6274\r\nAccess-Control-Request-Method: POST\r\n\r\n");
  EXPECT_EQ(r.status, 405u);
  EXPECT_TRUE(r.header("Access-Control-Allow-Origin").empty());
  auto init = send(post(initialize_body(), "Origin: http://localhost:6274\r\n"));
  EXPECT_EQ(init.status, 200u);
  EXPECT_TRUE(init.header("Access-Control-Allow-Origin").empty());
  EXPECT_TRUE(init.header("Access-Control-Expose-Headers").empty());
}

TEST_F(Http, HealthAndReadinessFollowTheReport) {
  transport::HttpOptions o;
  std::atomic<bool> ready{false};
  o.health = [&] { return std::make_pair(ready.load(), std::string(R"({"ready":)") + (ready ? "true" : "false") + "}"); };
  start(o);
  auto live = send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(live.status, 200u);  // alive while it answers, ready or not
  EXPECT_EQ(live.msg.body(), R"({"ready":false})");
  auto not_ready = send("GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(not_ready.status, 503u);
  EXPECT_EQ(not_ready.header("Cache-Control"), "no-store");
  ready = true;
  auto now_ready = send("GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(now_ready.status, 200u);
  EXPECT_EQ(now_ready.msg.body(), R"({"ready":true})");
  EXPECT_EQ(send("POST /readyz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n").status, 405u);
}

TEST_F(Http, ContentTypeAndAcceptRules) {
  start();
  std::string body = initialize_body();
  auto wrong_ct = send(
      "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nAccept: application/json, text/event-stream\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(wrong_ct.status, 415u);
  auto no_sse = send(
      "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(no_sse.status, 406u);
  auto get_json = send("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n");
  EXPECT_EQ(get_json.status, 406u);
}

TEST_F(Http, OtherPathsAndMethods) {
  start();
  EXPECT_EQ(send("GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n").status, 404u);
  auto put = send("PUT /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(put.status, 405u);
  EXPECT_EQ(put.header("Allow"), "GET, POST, DELETE");
  EXPECT_EQ(send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").status, 200u);
  EXPECT_EQ(send("GARBAGE\r\n\r\n").status, 400u);
}

TEST_F(Http, DeleteEndsTheSession) {
  start();
  auto sid = open_session();
  EXPECT_EQ(send("DELETE /mcp HTTP/1.1\r\nHost: localhost\r\n" + session_headers(sid) + "\r\n").status, 200u);
  EXPECT_EQ(send(post(kList, session_headers(sid))).status, 404u);
  EXPECT_EQ(send("DELETE /mcp HTTP/1.1\r\nHost: localhost\r\n" + session_headers(sid) + "\r\n").status, 404u);
  EXPECT_EQ(send("DELETE /mcp HTTP/1.1\r\nHost: localhost\r\n\r\n").status, 400u);
}

TEST_F(Http, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  auto sid = open_session();
  RawClient c(port_);
  for (int i = 0; i < 3; ++i) {
    c.write(post(kList, session_headers(sid)));
    EXPECT_EQ(c.read().status, 200u);
  }
}

TEST_F(Http, SideMessagesSwitchThePostToSse) {
  start();
  auto sid = open_session();
  RawClient c(port_);
  c.write(post(R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hey"}}})",
               session_headers(sid)));
  http::response_parser<http::empty_body> p;
  auto head = c.read_head(p);
  EXPECT_EQ(head.result_int(), 200u);
  EXPECT_EQ(head[http::field::content_type], "text/event-stream");
  std::string body = c.read_until_contains("\"id\":5");
  auto priming = body.find("data: \n");
  auto log = body.find("notifications/message");
  auto result = body.find("\"id\":5");
  EXPECT_NE(body.find("retry: "), std::string::npos);
  ASSERT_NE(priming, std::string::npos);
  ASSERT_NE(log, std::string::npos);
  ASSERT_NE(result, std::string::npos);
  EXPECT_LT(priming, log);
  EXPECT_LT(log, result);
  // Before 2025-11-25 there is no priming event.
  auto old_sid = open_session("2025-06-18");
  RawClient o(port_);
  o.write(post(R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hey"}}})",
               session_headers(old_sid, "2025-06-18")));
  http::response_parser<http::empty_body> p2;
  o.read_head(p2);
  std::string old_body = o.read_until_contains("\"id\":6");
  EXPECT_EQ(old_body.find("data: \n"), std::string::npos);
}

TEST_F(Http, GetStreamCarriesListChangedAndOnlyOnePerSession) {
  start();
  auto sid = open_session();
  RawClient g(port_);
  g.write("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n" + session_headers(sid) + "\r\n");
  http::response_parser<http::empty_body> p;
  EXPECT_EQ(g.read_head(p).result_int(), 200u);
  std::this_thread::sleep_for(50ms);
  auto second = send("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n" + session_headers(sid) + "\r\n");
  EXPECT_EQ(second.status, 409u);
  server_->notify_tools_changed();
  EXPECT_NE(g.read_until_contains("tools/list_changed").find("notifications/tools/list_changed"), std::string::npos);
}

TEST_F(Http, ResumptionWithLastEventId) {
  start();
  auto sid = open_session();
  auto unknown = send("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nLast-Event-ID: 999_1\r\n" +
                      session_headers(sid) + "\r\n");
  EXPECT_EQ(unknown.status, 404u);
  auto garbage = send("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nLast-Event-ID: %%%\r\n" +
                      session_headers(sid) + "\r\n");
  EXPECT_EQ(garbage.status, 404u);

  // Open the GET stream, receive an event, drop the connection, miss two events, resume.
  std::string first;
  {
    RawClient g(port_);
    g.write("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n" + session_headers(sid) + "\r\n");
    http::response_parser<http::empty_body> p;
    g.read_head(p);
    std::this_thread::sleep_for(50ms);
    server_->notify_tools_changed();
    first = g.read_until_contains("list_changed");
  }
  auto id_pos = first.find("id: ", first.find("data: \n") + 1);
  ASSERT_NE(id_pos, std::string::npos);
  std::string last_id = first.substr(id_pos + 4, first.find('\n', id_pos) - id_pos - 4);
  std::this_thread::sleep_for(100ms);  // the server notices the closed connection
  server_->notify_prompts_changed();
  server_->notify_resources_changed();
  RawClient r(port_);
  r.write("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nLast-Event-ID: " + last_id + "\r\n" +
          session_headers(sid) + "\r\n");
  http::response_parser<http::empty_body> p;
  EXPECT_EQ(r.read_head(p).result_int(), 200u);
  std::string replay = r.read_until_contains("resources/list_changed");
  EXPECT_NE(replay.find("prompts/list_changed"), std::string::npos);
  EXPECT_EQ(replay.find("tools/list_changed"), std::string::npos);  // not replayed twice
}

TEST_F(Http, AClientThatStopsReadingIsCutOffAndOthersAreServed) {
  transport::HttpOptions o;
  o.max_pending_write_bytes = 256 * 1024;
  start(o);
  auto sid = open_session();
  RawClient stuck(port_, 10s);
  int small = 4096;
  setsockopt(stuck.socket().native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  stuck.write("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n" + session_headers(sid) + "\r\n");
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 200000; ++i) server_->notify_tools_changed();
  auto other = open_session();
  auto r = send(post(kList, session_headers(other)));
  EXPECT_EQ(r.status, 200u);
  EXPECT_TRUE(stuck.closed_by_peer());
}

TEST_F(Http, IdleSessionsExpire) {
  transport::HttpOptions o;
  o.session_idle_timeout = 200ms;
  start(o);
  auto sid = open_session();
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(send(post(kList, session_headers(sid))).status, 404u);
}

TEST_F(Http, MaximumSessions) {
  transport::HttpOptions o;
  o.max_sessions = 2;
  start(o);
  open_session();
  open_session();
  auto r = send(post(initialize_body()));
  EXPECT_EQ(r.status, 503u);
}

TEST_F(Http, SlowClientHeadersTimeOut) {
  transport::HttpOptions o;
  o.read_timeout = 200ms;
  start(o);
  RawClient c(port_, 3s);
  c.write("POST /mcp HTTP/1.1\r\nHost: localhost\r\n");  // never finishes the head
  EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(Http, StopEndsOpenStreams) {
  start();
  auto sid = open_session();
  RawClient g(port_, 3s);
  g.write("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n" + session_headers(sid) + "\r\n");
  http::response_parser<http::empty_body> p;
  g.read_head(p);
  http_->stop();
  EXPECT_TRUE(g.closed_by_peer());
}

}  // namespace
