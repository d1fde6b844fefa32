#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "jitgate/mcp/revision.hpp"
#include "jitgate/mcp/server.hpp"
#include "jitgate/observe/metrics.hpp"
#include "jitgate/policy/engine.hpp"
#include "support/capture.hpp"
#include "support/recording_link.hpp"

namespace json = boost::json;
namespace jr = jitgate::jsonrpc;
using namespace jitgate::mcp;
using testsupport::CaptureOutbound;
using testsupport::RecordingLink;
using namespace std::chrono_literals;

namespace {

class Dispatcher : public ::testing::Test {
 protected:
  Dispatcher() : server_(ServerOptions{.info = {"t", "1", ""}, .instructions = "", .page_size = 3}) {
    Tool echo{"echo", "", "echoes",
              json::parse(R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})").as_object()};
    server_.add_tool(
        echo, [](const json::object& a, RequestContext&) { return ToolResult::text(std::string(a.at("text").as_string())); });
    server_.add_tool(Tool{"throws", "", "throws"},
                     [](const json::object&, RequestContext&) -> ToolResult { throw std::runtime_error("boom"); });
    server_.add_tool(Tool{"slow", "", "slow"}, [this](const json::object&, RequestContext& ctx) {
      bool finished = ctx.sleep_for(10s);
      if (!finished) cancelled_++;
      return ToolResult::text("late");
    });
    server_.add_tool(Tool{"ask", "", "asks the client"}, [](const json::object&, RequestContext& ctx) {
      auto r = ctx.request_sync("sampling/createMessage", json::object{{"maxTokens", 5}}, 5s);
      if (!r.ok()) return ToolResult::error(r.error->message);
      return ToolResult::text(std::string(r.result->at("content").at("text").as_string()));
    });
    server_.add_tool(Tool{"chatty", "", "logs and reports progress"}, [](const json::object&, RequestContext& ctx) {
      ctx.log(LogLevel::debug, "d");
      ctx.log(LogLevel::error, "e");
      ctx.progress(1, 2);
      return ToolResult::text("ok");
    });
    for (int i = 0; i < 5; ++i)
      server_.add_prompt(Prompt{"p" + std::to_string(i), "", "prompt", {{"a", "", true}}}, [](const StringMap& a,
                                                                                              RequestContext&) {
        return PromptResult{
            "", json::array{json::object{{"role", "user"}, {"content", json::object{{"type", "text"}, {"text", a.at("a")}}}}}};
      });
    server_.add_resource(Resource{"mem://a", "a", "", "", "text/plain"}, [](const std::string& uri, RequestContext&) {
      return std::vector<ResourceContents>{{uri, "text/plain", std::string("A"), std::nullopt}};
    });
    session_ = server_.create_session();
  }

  json::object call(std::string method, json::value params = nullptr, json::value id = 1) {
    auto out = std::make_shared<CaptureOutbound>();
    server_.handle(session_, jr::Request{id, std::move(method), std::move(params)}, out);
    auto r = out->wait();
    EXPECT_TRUE(r) << "no response";
    return r.value_or(json::object{});
  }

  void initialize(std::string version = std::string(kLatestRevision), json::object caps = {}) {
    auto r = call(
        "initialize",
        json::object{
            {"protocolVersion", version}, {"capabilities", caps}, {"clientInfo", json::object{{"name", "c"}, {"version", "1"}}}},
        0);
    ASSERT_TRUE(r.contains("result")) << json::serialize(r);
    server_.handle(session_, jr::Notification{"notifications/initialized", nullptr}, nullptr);
  }

  static std::int64_t code(const json::object& r) { return r.at("error").at("code").as_int64(); }

  Server server_;
  std::shared_ptr<Session> session_;
  std::atomic<int> cancelled_{0};
};

TEST_F(Dispatcher, NegotiatesEverySupportedRevision) {
  for (auto v : supported_revisions()) {
    auto s = server_.create_session();
    auto out = std::make_shared<CaptureOutbound>();
    server_.handle(
        s, jr::Request{json::value(0), "initialize", json::object{{"protocolVersion", v}, {"capabilities", json::object{}}}},
        out);
    auto r = out->wait();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->at("result").at("protocolVersion").as_string(), v);
  }
  auto r = call("initialize", json::object{{"protocolVersion", "1999-01-01"}, {"capabilities", json::object{}}}, 0);
  EXPECT_EQ(r.at("result").at("protocolVersion").as_string(), kLatestRevision);
  EXPECT_TRUE(r.at("result").at("capabilities").as_object().contains("tools"));
}

TEST_F(Dispatcher, RequiresInitializeFirstAndOnlyOnce) {
  EXPECT_EQ(code(call("tools/list")), -32600);
  EXPECT_TRUE(call("ping").contains("result"));
  initialize();
  EXPECT_EQ(code(call("initialize", json::object{{"protocolVersion", "2025-11-25"}}, 9)), -32600);
  EXPECT_EQ(code(call("initialize", json::object{{"capabilities", json::object{}}}, 9)), -32602);
}

TEST_F(Dispatcher, UnknownMethodAndBadParams) {
  initialize();
  EXPECT_EQ(code(call("no/such/method")), -32601);
  EXPECT_EQ(code(call("tools/call", json::object{{"name", 5}})), -32602);
  EXPECT_EQ(code(call("tools/call", json::object{{"name", "nope"}})), -32602);
  EXPECT_EQ(code(call("tools/call", json::array{1})), -32602);
  EXPECT_EQ(code(call("logging/setLevel", json::object{{"level", "loud"}})), -32602);
  EXPECT_EQ(code(call("prompts/get", json::object{{"name", "p0"}})), -32602);  // missing required argument
  EXPECT_EQ(code(call("tools/list", json::object{{"cursor", "bogus"}})), -32602);
}

TEST_F(Dispatcher, ToolResultsAndExecutionErrors) {
  initialize();
  auto ok = call("tools/call", json::object{{"name", "echo"}, {"arguments", json::object{{"text", "hi"}}}});
  EXPECT_EQ(ok.at("result").at("content").at(0).at("text").as_string(), "hi");
  auto missing = call("tools/call", json::object{{"name", "echo"}, {"arguments", json::object{}}});
  EXPECT_TRUE(missing.at("result").at("isError").as_bool());
  auto wrong_type = call("tools/call", json::object{{"name", "echo"}, {"arguments", json::object{{"text", 3}}}});
  EXPECT_TRUE(wrong_type.at("result").at("isError").as_bool());
  auto thrown = call("tools/call", json::object{{"name", "throws"}});
  EXPECT_TRUE(thrown.at("result").at("isError").as_bool());
  EXPECT_EQ(thrown.at("result").at("content").at(0).at("text").as_string(), "boom");
}

TEST_F(Dispatcher, PaginatesWithOpaqueCursors) {
  initialize();
  std::vector<std::string> names;
  json::value cursor = nullptr;
  int pages = 0;
  do {
    json::object params;
    if (!cursor.is_null()) params["cursor"] = cursor;
    auto r = call("prompts/list", params).at("result").as_object();
    for (auto& p : r.at("prompts").as_array()) names.emplace_back(p.at("name").as_string());
    cursor = r.contains("nextCursor") ? r.at("nextCursor") : json::value(nullptr);
    ++pages;
  } while (!cursor.is_null() && pages < 10);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(names, (std::vector<std::string>{"p0", "p1", "p2", "p3", "p4"}));
}

TEST_F(Dispatcher, CancellationStopsTheHandlerAndSuppressesTheResponse) {
  initialize();
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(session_, jr::Request{json::value("slow-1"), "tools/call", json::object{{"name", "slow"}}}, out);
  std::this_thread::sleep_for(50ms);
  server_.handle(session_, jr::Notification{"notifications/cancelled", json::object{{"requestId", "slow-1"}}}, nullptr);
  auto r = out->wait(3s);
  EXPECT_TRUE(out->done());
  EXPECT_FALSE(r);
  EXPECT_EQ(cancelled_.load(), 1);
  EXPECT_EQ(session_->calls_in_flight(), 0u);
}

TEST_F(Dispatcher, DuplicateIdInFlightIsRefused) {
  initialize();
  auto first = std::make_shared<CaptureOutbound>();
  server_.handle(session_, jr::Request{json::value(7), "tools/call", json::object{{"name", "slow"}}}, first);
  auto second = call("tools/call", json::object{{"name", "echo"}, {"arguments", json::object{{"text", "x"}}}}, 7);
  EXPECT_EQ(code(second), -32600);
  server_.handle(session_, jr::Notification{"notifications/cancelled", json::object{{"requestId", 7}}}, nullptr);
  first->wait();
}

TEST_F(Dispatcher, ServerToClientRequestReachesTheWaitingHandler) {
  initialize(std::string(kLatestRevision), json::object{{"sampling", json::object{}}});
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(session_, jr::Request{json::value(5), "tools/call", json::object{{"name", "ask"}}}, out);
  ASSERT_TRUE(
      out->wait_sent([](const json::object& m) { return m.contains("method") && m.at("method") == "sampling/createMessage"; }));
  json::object req;
  for (auto& m : out->sent())
    if (m.contains("method") && m.at("method") == "sampling/createMessage") req = m;
  server_.handle(
      session_,
      jr::Response{req.at("id"),
                   json::object{{"role", "assistant"}, {"content", json::object{{"type", "text"}, {"text", "from client"}}}},
                   std::nullopt},
      nullptr);
  auto r = out->wait();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("result").at("content").at(0).at("text").as_string(), "from client");
}

TEST_F(Dispatcher, ServerToClientRequestNeedsTheClientCapability) {
  initialize();  // no sampling capability
  auto r = call("tools/call", json::object{{"name", "ask"}});
  EXPECT_TRUE(r.at("result").at("isError").as_bool());
}

TEST_F(Dispatcher, LoggingLevelFiltersAndProgressNeedsAToken) {
  initialize();
  EXPECT_TRUE(call("logging/setLevel", json::object{{"level", "warning"}}).at("result").as_object().empty());
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(session_,
                 jr::Request{json::value(3), "tools/call",
                             json::object{{"name", "chatty"}, {"_meta", json::object{{"progressToken", "tok"}}}}},
                 out);
  ASSERT_TRUE(out->wait());
  std::vector<std::string> methods;
  for (auto& m : out->sent()) methods.emplace_back(m.at("method").as_string());
  EXPECT_EQ(methods, (std::vector<std::string>{"notifications/message", "notifications/progress"}));
  EXPECT_EQ(out->sent()[0].at("params").at("level").as_string(), "error");
  EXPECT_EQ(out->sent()[1].at("params").at("progressToken").as_string(), "tok");

  auto quiet = std::make_shared<CaptureOutbound>();
  server_.handle(session_, jr::Request{json::value(4), "tools/call", json::object{{"name", "chatty"}}}, quiet);
  ASSERT_TRUE(quiet->wait());
  EXPECT_EQ(quiet->sent().size(), 1u);  // the error log only; no progress without a token
}

TEST_F(Dispatcher, ResourcesReadSubscribeAndNotFound) {
  initialize();
  auto r = call("resources/read", json::object{{"uri", "mem://a"}});
  EXPECT_EQ(r.at("result").at("contents").at(0).at("text").as_string(), "A");
  auto nf = call("resources/read", json::object{{"uri", "mem://zzz"}});
  EXPECT_EQ(code(nf), kResourceNotFound);
  EXPECT_EQ(nf.at("error").at("data").at("uri").as_string(), "mem://zzz");
  EXPECT_TRUE(call("resources/subscribe", json::object{{"uri", "mem://a"}}).at("result").as_object().empty());
  EXPECT_EQ(code(call("resources/subscribe", json::object{{"uri", "mem://zzz"}})), kResourceNotFound);
}

TEST_F(Dispatcher, ListChangedAndResourceUpdatesReachTheRightSessions) {
  initialize();
  auto link = std::make_shared<RecordingLink>();
  session_->set_link(link);
  call("resources/subscribe", json::object{{"uri", "mem://a"}});
  auto other = server_.create_session();  // never initialized: gets nothing
  auto other_link = std::make_shared<RecordingLink>();
  other->set_link(other_link);

  server_.notify_tools_changed();
  server_.notify_resource_updated("mem://a");
  server_.notify_resource_updated("mem://other");
  ASSERT_EQ(link->got.size(), 2u);
  EXPECT_EQ(link->got[0].at("method").as_string(), "notifications/tools/list_changed");
  EXPECT_EQ(link->got[1].at("params").at("uri").as_string(), "mem://a");
  EXPECT_TRUE(other_link->got.empty());
}

TEST_F(Dispatcher, ExpiresIdleSessions) {
  auto s = server_.create_session();
  EXPECT_GE(server_.session_count(), 2u);
  std::this_thread::sleep_for(20ms);
  EXPECT_GE(server_.expire_idle_sessions(10ms), 2u);
  EXPECT_EQ(server_.find_session(s->id()), nullptr);
}

TEST(SessionIds, AreRandomVisibleAscii) {
  auto a = random_session_id(), b = random_session_id();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 32u);
  for (char c : a) EXPECT_TRUE(c >= 0x21 && c <= 0x7e);
}

}  // namespace

namespace {

// A policy engine that fails in a way nobody planned for (a bug, a remote engine's client): the
// request it was deciding fails with an internal error, the server goes on serving, and the
// exception is counted.
class ThrowingEngine : public jitgate::policy::PolicyEngine {
 public:
  struct Who : Caller {
    std::shared_ptr<const jitgate::auth::Principal> p = std::make_shared<jitgate::auth::Principal>();
    const jitgate::auth::Principal& principal() const override { return *p; }
  };
  std::unique_ptr<Caller> prepare(std::shared_ptr<const jitgate::auth::Principal>) const override {
    return std::make_unique<Who>();
  }
  jitgate::policy::Decision decide(const Caller&, const jitgate::policy::Action& a) const override {
    if (a.name == "boom") throw std::out_of_range("engine bug");
    if (a.name == "weird") throw 42;
    jitgate::policy::Decision d;
    d.outcome = jitgate::policy::Outcome::allow;
    return d;
  }
  using PolicyEngine::decide;
  jitgate::policy::Locked locked() const override { return jitgate::policy::Locked::hide; }
  std::uint64_t generation() const override { return 1; }
  void on_change(std::function<void()>) override {}
};

TEST(Containment, UnexpectedExceptionsFailOnlyTheirRequest) {
  auto metrics = std::make_shared<jitgate::observe::Registry>();
  ServerOptions o{.info = {"t", "1", ""}};
  o.policy = std::make_shared<ThrowingEngine>();
  o.metrics = metrics;
  Server server(o);
  auto ok = [](const json::object&, RequestContext&) { return ToolResult::text("ok"); };
  for (const char* n : {"boom", "weird", "fine"}) server.add_tool(Tool{n, "", n}, ok);
  server.add_tool_async(Tool{"async_throws", "", "throws before done"},
                        [](const json::object&, std::shared_ptr<RequestContext>, std::function<void(ToolResult)>) {
                          throw std::runtime_error("async bug");
                        });
  server.add_tool(Tool{"throws_int", "", "throws a non-exception"},
                  [](const json::object&, RequestContext&) -> ToolResult { throw 7; });
  auto session = server.create_session();
  auto call = [&](const char* name, int id) {
    auto out = std::make_shared<CaptureOutbound>();
    server.handle(session, jr::Request{id, "initialize", json::object{{"protocolVersion", "2025-11-25"}}},
                  std::make_shared<CaptureOutbound>());
    server.handle(session, jr::Request{id, "tools/call", json::object{{"name", name}}}, out);
    auto r = out->wait();
    EXPECT_TRUE(r) << name;
    return r.value_or(json::object{});
  };
  EXPECT_EQ(call("boom", 1).at("error").at("code").as_int64(), -32603);
  EXPECT_EQ(call("weird", 2).at("error").at("code").as_int64(), -32603);
  EXPECT_TRUE(call("async_throws", 3).at("result").at("isError").as_bool());
  EXPECT_EQ(call("throws_int", 4).at("error").at("code").as_int64(), -32603);
  EXPECT_EQ(call("fine", 5).at("result").at("content").at(0).at("text").as_string(), "ok");
  EXPECT_EQ(session->calls_in_flight(), 0u);  // every failed call ended
  std::string page = metrics->render();
  EXPECT_NE(page.find("jitgate_contained_exceptions_total{where=\"mcp.request\"} 2"), std::string::npos) << page;
  EXPECT_NE(page.find("jitgate_contained_exceptions_total{where=\"mcp.handler\"} 2"), std::string::npos) << page;
  // The session's views could not be worked out at initialize (the engine throws on "boom"):
  // counted, and the session went on.
  EXPECT_NE(page.find("jitgate_contained_exceptions_total{where=\"mcp.views\"} 1"), std::string::npos) << page;
  server.join();
}

}  // namespace
