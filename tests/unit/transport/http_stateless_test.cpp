// Revision 2026-07-28 over Streamable HTTP: the envelope and header rules, with their statuses.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "jitgate/mcp/server.hpp"
#include "jitgate/transport/http_server.hpp"
#include "support/raw_http.hpp"

namespace json = boost::json;
using namespace jitgate;
using namespace testsupport;
using namespace std::chrono_literals;

namespace {

const char* kMeta =
    R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}})";

std::string body(const std::string& method, const std::string& params_inner = "", const std::string& meta = kMeta, int id = 1) {
  std::string params = "{" + params_inner + (params_inner.empty() || meta.empty() ? "" : ",") + meta + "}";
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":")" + method + R"(","params":)" + params + "}";
}

std::string headers(const std::string& method, const std::string& name = "", const std::string& version = "2026-07-28") {
  std::string h;
  if (!version.empty()) h += "MCP-Protocol-Version: " + version + "\r\n";
  if (!method.empty()) h += "Mcp-Method: " + method + "\r\n";
  if (!name.empty()) h += "Mcp-Name: " + name + "\r\n";
  return h;
}

class Stateless : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.add_tool(
        mcp::Tool{"echo", "", "echo", json::parse(R"({"type":"object","properties":{"text":{"type":"string"}}})").as_object()},
        [](const json::object& a, mcp::RequestContext&) {
          return mcp::ToolResult::text(a.contains("text") ? std::string(a.at("text").as_string()) : "");
        });
    server_.add_tool(mcp::Tool{"needs_sampling", "", "asks the model"}, [](const json::object&, mcp::RequestContext& ctx) {
      auto r = ctx.ask("q", "sampling/createMessage", json::object{{"maxTokens", 5}});
      return mcp::ToolResult::text(r.ok() ? "ok" : "no");
    });
    server_.add_tool(mcp::Tool{"slow", "", "slow"}, [this](const json::object&, mcp::RequestContext& ctx) {
      ctx.progress(0, 1);
      if (!ctx.sleep_for(10s)) cancelled_++;
      return mcp::ToolResult::text("late");
    });
    server_.add_tool(mcp::Tool{"caf\xC3\xA9", "", "a name that is not ASCII"},
                     [](const json::object&, mcp::RequestContext&) { return mcp::ToolResult::text("served"); });
    http_ = std::make_unique<transport::HttpServer>(server_, transport::HttpOptions{.threads = 2});
    port_ = http_->listen();
    http_->start();
  }
  void TearDown() override {
    http_->stop();
    http_.reset();
    server_.join();
  }
  RawResponse send(const std::string& b, const std::string& h) {
    RawClient c(port_);
    c.write(post(b, h));
    return c.read();
  }

  mcp::Server server_;
  std::unique_ptr<transport::HttpServer> http_;
  std::uint16_t port_ = 0;
  std::atomic<int> cancelled_{0};
};

TEST_F(Stateless, DiscoverAnswersWithoutASession) {
  auto r = send(body("server/discover"), headers("server/discover"));
  ASSERT_EQ(r.status, 200u);
  EXPECT_TRUE(r.header("Mcp-Session-Id").empty());
  auto result = r.json().at("result").as_object();
  EXPECT_EQ(result.at("resultType").as_string(), "complete");
  bool has_2026 = false;
  for (auto& v : result.at("supportedVersions").as_array()) has_2026 = has_2026 || v == "2026-07-28";
  EXPECT_TRUE(has_2026);
  EXPECT_TRUE(result.at("capabilities").as_object().contains("tools"));
  EXPECT_TRUE(result.contains("ttlMs"));
  EXPECT_EQ(result.at("_meta").at("io.modelcontextprotocol/serverInfo").at("name").as_string(), "jitgate");
}

TEST_F(Stateless, ListsAndCallsCarryResultTypeAndCachingHints) {
  auto list = send(body("tools/list"), headers("tools/list"));
  ASSERT_EQ(list.status, 200u);
  auto l = list.json().at("result").as_object();
  EXPECT_EQ(l.at("resultType").as_string(), "complete");
  EXPECT_EQ(l.at("cacheScope").as_string(), "public");
  EXPECT_TRUE(l.at("ttlMs").is_int64());
  auto call = send(body("tools/call", R"("name":"echo","arguments":{"text":"hi"})"), headers("tools/call", "echo"));
  ASSERT_EQ(call.status, 200u);
  auto c = call.json().at("result").as_object();
  EXPECT_EQ(c.at("resultType").as_string(), "complete");
  EXPECT_FALSE(c.contains("ttlMs"));
  EXPECT_EQ(c.at("content").at(0).at("text").as_string(), "hi");
}

TEST_F(Stateless, EnvelopeProblemsAre400WithTheRightCode) {
  struct Case {
    std::string body, headers;
    unsigned status;
    std::int64_t code;
  };
  std::vector<Case> cases{
      // _meta missing, or missing a required key
      {body("server/discover", "", ""), headers("server/discover"), 400, -32602},
      {body("server/discover", "", R"("_meta":{"io.modelcontextprotocol/clientCapabilities":{}})"), headers("server/discover"),
       400, -32602},
      {body("server/discover", "", R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"})"),
       headers("server/discover"), 400, -32602},
      {body(
           "server/discover", "",
           R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":[]})"),
       headers("server/discover"), 400, -32602},
      {body(
           "server/discover", "",
           R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"loud"})"),
       headers("server/discover"), 400, -32602},
      // header and body disagree, or headers missing
      {body("server/discover", "",
            R"("_meta":{"io.modelcontextprotocol/protocolVersion":"v999.0.0","io.modelcontextprotocol/clientCapabilities":{}})"),
       headers("server/discover"), 400, -32020},
      {body("server/discover"), headers("server/discover", "", ""), 400, -32020},
      {body("server/discover"), headers(""), 400, -32020},
      {body("server/discover"), headers("tools/list"), 400, -32020},
      {body("tools/list"), headers("TOOLS/LIST"), 400, -32020},
      {body("tools/call", R"("name":"echo")"), headers("tools/call"), 400, -32020},
      {body("tools/call", R"("name":"echo")"), headers("tools/call", "other"), 400, -32020},
      {body("tools/call", R"("name":"echo")"), headers("tools/call", "=?base64?!!!?="), 400, -32020},
      // unsupported versions
      {body("server/discover", "",
            R"("_meta":{"io.modelcontextprotocol/protocolVersion":"v999.0.0","io.modelcontextprotocol/clientCapabilities":{}})"),
       headers("server/discover", "", "v999.0.0"), 400, -32022},
      {body(
           "server/discover", "",
           R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25","io.modelcontextprotocol/clientCapabilities":{}})"),
       headers("server/discover", "", "2025-11-25"), 400, -32022},
      // methods removed in 2026-07-28, and unknown ones
      {body("initialize"), headers("initialize"), 404, -32601},
      {body("ping"), headers("ping"), 404, -32601},
      {body("logging/setLevel", R"("level":"info")"), headers("logging/setLevel"), 404, -32601},
      {body("resources/subscribe", R"("uri":"x://y")"), headers("resources/subscribe"), 404, -32601},
      {body("prompts/list"), headers("prompts/list"), 404, -32601},  // no prompts registered: not declared
      {body("no/such"), headers("no/such"), 404, -32601},
      // a capability the client did not declare
      {body("tools/call", R"("name":"needs_sampling")"), headers("tools/call", "needs_sampling"), 400, -32021},
      // not a single request
      {R"([{"jsonrpc":"2.0","id":1,"method":"tools/list"}])", headers("tools/list"), 400, -32600},
      {R"({"jsonrpc":"2.0","id":1,"result":{}})", headers(""), 400, -32600},
  };
  for (const auto& c : cases) {
    auto r = send(c.body, c.headers);
    EXPECT_EQ(r.status, c.status) << c.body << "\n" << c.headers;
    EXPECT_EQ(r.rpc_code(), c.code) << c.body << "\n" << c.headers;
    auto v = r.json();
    if (c.body[0] == '{' && c.body.find("\"id\":1") != std::string::npos) {
      EXPECT_EQ(json::serialize(v.at("id")), "1") << "errors echo the request id: " << c.body;
    }
  }
}

TEST_F(Stateless, UnsupportedVersionNamesTheSupportedOnes) {
  auto r = send(
      body("server/discover", "",
           R"("_meta":{"io.modelcontextprotocol/protocolVersion":"v999.0.0","io.modelcontextprotocol/clientCapabilities":{}})"),
      headers("server/discover", "", "v999.0.0"));
  auto data = r.json().at("error").at("data").as_object();
  EXPECT_EQ(data.at("requested").as_string(), "v999.0.0");
  ASSERT_EQ(data.at("supported").as_array().size(), 1u);
  EXPECT_EQ(data.at("supported").at(0).as_string(), "2026-07-28");
  auto missing = send(body("tools/call", R"("name":"needs_sampling")"), headers("tools/call", "needs_sampling"));
  EXPECT_TRUE(missing.json().at("error").at("data").at("requiredCapabilities").at("sampling").is_object());
}

TEST_F(Stateless, ClientInfoIsOptionalAndNotificationsAre202) {
  EXPECT_EQ(send(body("tools/list"), headers("tools/list")).status, 200u);
  auto note = send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,)" + std::string(kMeta) + "}}",
                   "MCP-Protocol-Version: 2026-07-28\r\n");
  EXPECT_EQ(note.status, 202u);
}

TEST_F(Stateless, Base64SentinelNamesAreDecoded) {
  // "café" is not header-safe: its name travels as =?base64?Y2Fmw6k=?=
  auto r = send(body("tools/call", "\"name\":\"caf\xC3\xA9\""), headers("tools/call", "=?base64?Y2Fmw6k=?="));
  ASSERT_EQ(r.status, 200u) << r.msg.body();
  EXPECT_EQ(r.json().at("result").at("content").at(0).at("text").as_string(), "served");
  auto padded = send(body("tools/call", R"("name":"echo","arguments":{"text":"x"})"), headers("tools/call", "  echo  "));
  EXPECT_EQ(padded.status, 200u);
}

TEST_F(Stateless, GetAndDeleteAre405AndSessionIdsAreIgnored) {
  RawClient g(port_);
  g.write("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n\r\n");
  auto get = g.read();
  EXPECT_EQ(get.status, 405u);
  EXPECT_EQ(get.header("Allow"), "POST");
  RawClient d(port_);
  d.write("DELETE /mcp HTTP/1.1\r\nHost: localhost\r\nMCP-Protocol-Version: 2026-07-28\r\n\r\n");
  EXPECT_EQ(d.read().status, 405u);
  auto r = send(body("tools/list"), headers("tools/list") + "Mcp-Session-Id: 0123456789abcdef0123456789abcdef\r\n");
  EXPECT_EQ(r.status, 200u);
  EXPECT_TRUE(r.header("Mcp-Session-Id").empty());
}

TEST_F(Stateless, ClosingTheResponseStreamCancelsTheRequest) {
  {
    RawClient c(port_);
    c.write(post(
        body(
            "tools/call", R"("name":"slow")",
            R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"progressToken":"p"})"),
        headers("tools/call", "slow")));
    http::response_parser<http::empty_body> p;
    EXPECT_EQ(c.read_head(p).result_int(), 200u);  // SSE: the progress notification opened the stream
  }                                                // the client goes away
  for (int i = 0; i < 100 && cancelled_.load() == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(cancelled_.load(), 1);
  {
    RawClient c(port_);
    c.write(post(body("tools/call", R"("name":"slow")"), headers("tools/call", "slow")));  // JSON pending, no stream yet
    std::this_thread::sleep_for(100ms);
  }
  for (int i = 0; i < 100 && cancelled_.load() == 1; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(cancelled_.load(), 2);
}

TEST_F(Stateless, ResultAfterANotificationEndsTheStreamDecorated) {
  server_.add_tool(mcp::Tool{"noisy", "", "logs, then answers"}, [](const json::object&, mcp::RequestContext& ctx) {
    ctx.log(mcp::LogLevel::warning, "w");
    return mcp::ToolResult::text("done");
  });
  RawClient c(port_);
  c.write(post(
      body(
          "tools/call", R"("name":"noisy")",
          R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"info"})"),
      headers("tools/call", "noisy")));
  std::string all = c.read_until_contains("}}}}\n\n");
  EXPECT_NE(all.find("text/event-stream"), std::string::npos);
  auto at = all.find("data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\"");
  ASSERT_NE(at, std::string::npos) << all;
  auto end = all.find('\n', at);
  auto r = json::parse(all.substr(at + 6, end - at - 6)).at("result").as_object();
  EXPECT_EQ(r.at("content").at(0).at("text").as_string(), "done");
  EXPECT_EQ(r.at("resultType").as_string(), "complete");
  EXPECT_FALSE(r.contains("ttlMs"));
  EXPECT_EQ(r.at("_meta").at("io.modelcontextprotocol/serverInfo").at("name").as_string(), "jitgate");
}

TEST_F(Stateless, KeepAliveWorksAfterAPendingResponse) {
  RawClient c(port_);
  for (int i = 0; i < 3; ++i) {
    c.write(post(body("tools/call", R"("name":"echo","arguments":{"text":"k"})", kMeta, i + 10), headers("tools/call", "echo")));
    auto r = c.read();
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.json().at("id").as_int64(), i + 10);
  }
}

TEST_F(Stateless, ListenStreamAcknowledgesThenDeliversOnlyWhatWasAsked) {
  RawClient c(port_);
  c.write(post(body("subscriptions/listen", R"("notifications":{"toolsListChanged":true,"promptsListChanged":true})", kMeta, 77),
               headers("subscriptions/listen")));
  http::response_parser<http::empty_body> p;
  auto head = c.read_head(p);
  EXPECT_EQ(head.result_int(), 200u);
  std::string first = c.read_until_contains("acknowledged");
  EXPECT_NE(first.find("\"io.modelcontextprotocol/subscriptionId\":77"), std::string::npos);
  EXPECT_EQ(first.find("promptsListChanged"), std::string::npos);  // no prompts here: not honoured
  EXPECT_EQ(first.find("id: "), std::string::npos);                // no event ids in 2026-07-28
  for (int i = 0; i < 50 && server_.listener_count() == 0; ++i) std::this_thread::sleep_for(10ms);
  server_.notify_resources_changed();  // not asked for
  server_.notify_tools_changed();
  std::string rest = c.read_until_contains("tools/list_changed");
  EXPECT_NE(rest.find("notifications/tools/list_changed"), std::string::npos);
  EXPECT_EQ(rest.find("resources/list_changed"), std::string::npos);
  http_->stop();  // shutdown ends the subscription with its final result
  std::string end = c.read_until_contains("\"resultType\":\"complete\"");
  EXPECT_NE(end.find("\"id\":77"), std::string::npos);
}

}  // namespace
