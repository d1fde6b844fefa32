// Revision 2026-07-28 in the dispatcher: envelopes, input-required rounds, sealed request state,
// listen subscriptions.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "jitgate/mcp/server.hpp"
#include "mcp/request_state.hpp"
#include "support/capture.hpp"

namespace json = boost::json;
namespace jr = jitgate::jsonrpc;
using namespace jitgate::mcp;
using testsupport::CaptureOutbound;
using namespace std::chrono_literals;

namespace {

json::object meta(json::object caps = {}, std::optional<std::string> log_level = std::nullopt) {
  json::object m{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}, {"io.modelcontextprotocol/clientCapabilities", caps}};
  if (log_level) m["io.modelcontextprotocol/logLevel"] = *log_level;
  return m;
}

class StatelessDispatch : public ::testing::Test {
 protected:
  StatelessDispatch() {
    server_.add_tool(Tool{"greet", "", "asks a name"}, [this](const json::object&, RequestContext& ctx) {
      runs_++;
      auto r = ctx.ask("user_name", "elicitation/create",
                       json::object{{"message", "name?"}, {"requestedSchema", json::object{{"type", "object"}}}});
      if (!r.ok()) return ToolResult::error(r.error->message);
      return ToolResult::text("Hello, " + std::string(r.result->at("content").at("name").as_string()));
    });
    server_.add_tool(Tool{"two_rounds", "", "two questions"}, [](const json::object&, RequestContext& ctx) {
      auto a = ctx.ask("first", "elicitation/create",
                       json::object{{"message", "1?"}, {"requestedSchema", json::object{{"type", "object"}}}});
      auto b = ctx.ask("second", "roots/list", {});
      return ToolResult::text(std::string(a.result->at("content").at("v").as_string()) + "+" +
                              std::to_string(b.result->at("roots").as_array().size()));
    });
    server_.add_tool(Tool{"both", "", "two at once"}, [](const json::object&, RequestContext& ctx) {
      auto all = ctx.ask_all({{"a", "roots/list", {}}, {"b", "sampling/createMessage", json::object{{"maxTokens", 1}}}});
      return ToolResult::text(std::to_string(all.size()));
    });
    server_.add_tool(Tool{"chatty", "", "logs"}, [](const json::object&, RequestContext& ctx) {
      ctx.log(LogLevel::debug, "d");
      ctx.log(LogLevel::warning, "w");
      return ToolResult::text("ok");
    });
    server_.add_resource(Resource{"mem://a", "a", "", "", "text/plain"}, [](const std::string& uri, RequestContext&) {
      return std::vector<ResourceContents>{{uri, "text/plain", std::string("A"), std::nullopt}};
    });
    holder_ = std::make_shared<Session>("");
  }

  json::object call(std::string method, json::object params, json::value id = 1, std::shared_ptr<CaptureOutbound> out = nullptr) {
    if (!out) out = std::make_shared<CaptureOutbound>();
    server_.handle(holder_, jr::Request{id, std::move(method), std::move(params)}, out);
    auto r = out->wait();
    EXPECT_TRUE(r);
    return r.value_or(json::object{});
  }

  json::object tool(std::string name, json::object extra = {},
                    json::object caps = {{"elicitation", json::object{}}, {"roots", json::object{}}}) {
    json::object p{{"name", name}, {"_meta", meta(caps)}};
    for (auto& [k, v] : extra) p[k] = v;
    return call("tools/call", std::move(p));
  }

  Server server_;
  std::shared_ptr<Session> holder_;
  std::atomic<int> runs_{0};
};

TEST_F(StatelessDispatch, EnvelopeChecksOnStdioToo) {
  auto r = call("tools/list", json::object{{"_meta", json::object{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}}}});
  EXPECT_EQ(r.at("error").at("code").as_int64(), -32602);
  auto v =
      call("tools/list", json::object{{"_meta", json::object{{"io.modelcontextprotocol/protocolVersion", "2099-01-01"},
                                                             {"io.modelcontextprotocol/clientCapabilities", json::object{}}}}});
  EXPECT_EQ(v.at("error").at("code").as_int64(), -32022);
  EXPECT_EQ(call("ping", json::object{{"_meta", meta()}}).at("error").at("code").as_int64(), -32601);
  // Without an envelope the session rules apply: initialize first.
  EXPECT_EQ(call("tools/list", json::object{}).at("error").at("code").as_int64(), -32600);
  EXPECT_EQ(call("server/discover", json::object{}).at("error").at("code").as_int64(), -32601);
}

TEST_F(StatelessDispatch, InputRequiredThenCompleteOnRetry) {
  auto first = tool("greet").at("result").as_object();
  EXPECT_EQ(first.at("resultType").as_string(), "input_required");
  EXPECT_EQ(first.at("inputRequests").at("user_name").at("method").as_string(), "elicitation/create");
  EXPECT_FALSE(first.contains("ttlMs"));
  std::string state(first.at("requestState").as_string());
  auto answer = json::object{{"user_name", json::object{{"action", "accept"}, {"content", json::object{{"name", "Ada"}}}}}};
  auto done = tool("greet", json::object{{"inputResponses", answer}, {"requestState", state}}).at("result").as_object();
  EXPECT_EQ(done.at("resultType").as_string(), "complete");
  EXPECT_EQ(done.at("content").at(0).at("text").as_string(), "Hello, Ada");
  // Without the state (nothing earlier to carry), the answer alone is enough; extra keys are ignored.
  answer["unexpected"] = json::object{{"x", 1}};
  auto alone = tool("greet", json::object{{"inputResponses", answer}}).at("result").as_object();
  EXPECT_EQ(alone.at("resultType").as_string(), "complete");
}

TEST_F(StatelessDispatch, MalformedAnswersAreRefusedAndMissingOnesAskedAgain) {
  for (json::value bad : {json::value(12345), json::value(json::object{{"action", "maybe"}}), json::value(nullptr),
                          json::value(json::object{{"action", "accept"}, {"content", "text"}})}) {
    auto r = tool("greet", json::object{{"inputResponses", json::object{{"user_name", bad}}}});
    EXPECT_EQ(r.at("error").at("code").as_int64(), -32602) << json::serialize(bad);
  }
  auto wrong_key = tool("greet", json::object{{"inputResponses", json::object{{"other", json::object{{"action", "accept"}}}}}});
  EXPECT_EQ(wrong_key.at("result").at("resultType").as_string(), "input_required");
  auto null_responses = tool("greet", json::object{{"inputResponses", nullptr}});
  EXPECT_EQ(null_responses.at("result").at("resultType").as_string(), "input_required");
}

TEST_F(StatelessDispatch, RequestStateIsSealedAndBound) {
  auto first = tool("greet").at("result").as_object();
  std::string state(first.at("requestState").as_string());
  auto answer = json::object{{"user_name", json::object{{"action", "accept"}, {"content", json::object{{"name", "Ada"}}}}}};
  auto tampered = tool("greet", json::object{{"inputResponses", answer}, {"requestState", state + "-TAMPERED"}});
  EXPECT_EQ(tampered.at("error").at("code").as_int64(), -32602);
  // Bound to the tool and its arguments: replaying it elsewhere is refused.
  auto elsewhere = tool("two_rounds", json::object{{"requestState", state}});
  EXPECT_EQ(elsewhere.at("error").at("code").as_int64(), -32602);
  auto other_args = tool("greet", json::object{{"arguments", json::object{{"x", 1}}}, {"requestState", state}});
  EXPECT_EQ(other_args.at("error").at("code").as_int64(), -32602);
  EXPECT_EQ(tool("greet", json::object{{"requestState", 5}}).at("error").at("code").as_int64(), -32602);
}

TEST(RequestState, ExpiresAndDependsOnTheKey) {
  RequestStateSealer a("key-a", 600s), b("key-b", 600s), expired("key-a", -1s);
  json::object answers{{"k", 1}};
  auto token = a.seal("bind", answers);
  ASSERT_TRUE(a.open("bind", token));
  EXPECT_EQ(a.open("bind", token)->at("k").as_int64(), 1);
  EXPECT_FALSE(b.open("bind", token));
  EXPECT_FALSE(a.open("other", token));
  EXPECT_FALSE(a.open("bind", expired.seal("bind", answers)));
  EXPECT_FALSE(a.open("bind", "no-dot"));
  EXPECT_FALSE(a.open("bind", token.substr(0, token.size() - 2)));
}

TEST_F(StatelessDispatch, MultiRoundCarriesEarlierAnswersInTheState) {
  auto r1 = tool("two_rounds").at("result").as_object();
  ASSERT_EQ(r1.at("resultType").as_string(), "input_required");
  ASSERT_TRUE(r1.at("inputRequests").as_object().contains("first"));
  auto r2 =
      tool("two_rounds",
           json::object{{"requestState", r1.at("requestState")},
                        {"inputResponses",
                         json::object{{"first", json::object{{"action", "accept"}, {"content", json::object{{"v", "x"}}}}}}}})
          .at("result")
          .as_object();
  ASSERT_EQ(r2.at("resultType").as_string(), "input_required");
  EXPECT_TRUE(r2.at("inputRequests").as_object().contains("second"));
  EXPECT_NE(r2.at("requestState"), r1.at("requestState"));
  auto r3 =
      tool("two_rounds", json::object{{"requestState", r2.at("requestState")},
                                      {"inputResponses", json::object{{"second", json::object{{"roots", json::array{1, 2}}}}}}})
          .at("result")
          .as_object();
  EXPECT_EQ(r3.at("content").at(0).at("text").as_string(), "x+2");
}

TEST_F(StatelessDispatch, MissingCapabilityIsMinus32021) {
  auto r = tool("both", {}, json::object{{"roots", json::object{}}});
  EXPECT_EQ(r.at("error").at("code").as_int64(), -32021);
  EXPECT_TRUE(r.at("error").at("data").at("requiredCapabilities").as_object().contains("sampling"));
  auto ok = tool("both", {}, json::object{{"roots", json::object{}}, {"sampling", json::object{}}}).at("result").as_object();
  EXPECT_EQ(ok.at("inputRequests").as_object().size(), 2u);  // both asked in one round
}

TEST_F(StatelessDispatch, LogsOnlyWhenTheRequestAsksForALevel) {
  auto quiet = std::make_shared<CaptureOutbound>();
  call("tools/call", json::object{{"name", "chatty"}, {"_meta", meta()}}, 1, quiet);
  EXPECT_TRUE(quiet->sent().empty());
  auto loud = std::make_shared<CaptureOutbound>();
  call("tools/call", json::object{{"name", "chatty"}, {"_meta", meta({}, "info")}}, 2, loud);
  ASSERT_EQ(loud->sent().size(), 1u);
  EXPECT_EQ(loud->sent()[0].at("params").at("level").as_string(), "warning");
}

TEST_F(StatelessDispatch, ResourceNotFoundIsInvalidParamsWithTheUri) {
  auto r = call("resources/read", json::object{{"uri", "mem://none"}, {"_meta", meta()}});
  EXPECT_EQ(r.at("error").at("code").as_int64(), -32602);
  EXPECT_EQ(r.at("error").at("data").at("uri").as_string(), "mem://none");
  auto ok = call("resources/read", json::object{{"uri", "mem://a"}, {"_meta", meta()}}).at("result").as_object();
  EXPECT_EQ(ok.at("cacheScope").as_string(), "public");
  EXPECT_EQ(ok.at("resultType").as_string(), "complete");
}

TEST_F(StatelessDispatch, ListenAcknowledgesNotifiesAndEnds) {
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(holder_,
                 jr::Request{json::value("listen:0"), "subscriptions/listen",
                             json::object{{"_meta", meta()},
                                          {"notifications", json::object{{"toolsListChanged", true},
                                                                         {"promptsListChanged", true},
                                                                         {"resourceSubscriptions", json::array{"mem://a"}}}}}},
                 out);
  ASSERT_EQ(out->sent().size(), 1u);
  auto ack = out->sent()[0];
  EXPECT_EQ(ack.at("method").as_string(), "notifications/subscriptions/acknowledged");
  EXPECT_EQ(ack.at("params").at("_meta").at("io.modelcontextprotocol/subscriptionId").as_string(), "listen:0");
  auto honored = ack.at("params").at("notifications").as_object();
  EXPECT_TRUE(honored.contains("toolsListChanged"));
  EXPECT_FALSE(honored.contains("promptsListChanged"));  // no prompts registered
  server_.notify_prompts_changed();
  server_.notify_tools_changed();
  server_.notify_resource_updated("mem://a");
  server_.notify_resource_updated("mem://b");
  auto sent = out->sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[1].at("method").as_string(), "notifications/tools/list_changed");
  EXPECT_EQ(sent[2].at("params").at("uri").as_string(), "mem://a");
  EXPECT_EQ(sent[2].at("params").at("_meta").at("io.modelcontextprotocol/subscriptionId").as_string(), "listen:0");
  EXPECT_EQ(server_.listener_count(), 1u);
  // Cancelled (stream closed): dropped without a response.
  server_.handle(holder_, jr::Notification{"notifications/cancelled", json::object{{"requestId", "listen:0"}}}, nullptr);
  EXPECT_EQ(server_.listener_count(), 0u);
  EXPECT_TRUE(out->done());
  EXPECT_FALSE(out->wait(0ms));
}

TEST_F(StatelessDispatch, ShutdownCompletesListenersWithAFinalResult) {
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(
      holder_,
      jr::Request{json::value(9), "subscriptions/listen", json::object{{"_meta", meta()}, {"notifications", json::object{}}}},
      out);
  server_.close_listeners();
  auto r = out->wait();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("result").at("resultType").as_string(), "complete");
  EXPECT_EQ(r->at("result").at("_meta").at("io.modelcontextprotocol/subscriptionId").as_int64(), 9);
  EXPECT_EQ(call("subscriptions/listen", json::object{{"_meta", meta()}}, 10).at("error").at("code").as_int64(), -32602);
}

TEST_F(StatelessDispatch, DiscoverResult) {
  auto r = call("server/discover", json::object{{"_meta", meta()}}).at("result").as_object();
  EXPECT_EQ(r.at("supportedVersions").as_array().back().as_string(), "2026-07-28");
  EXPECT_EQ(r.at("_meta").at("io.modelcontextprotocol/serverInfo").at("name").as_string(), "jitgate");
}

// An Outbound that takes the pre-serialized decoration (as the HTTP transport does) and keeps the text.
class TailCapture : public CaptureOutbound {
 public:
  bool complete_with_result_tail(json::object& response, std::string_view tail) override {
    auto text = serialize_with_result_tail(response, tail);
    if (!text) return false;
    text_ = *text;
    complete(json::parse(*text).as_object());
    return true;
  }
  std::optional<std::string> text_;
};

TEST_F(StatelessDispatch, SplicedDecorationIsByteForByteTheBuiltOne) {
  struct Case {
    std::string method;
    json::object params;
    bool spliced;  // false: the handler set a key of the decoration, so it is built as before
  };
  std::vector<Case> cases{
      {"tools/list", {}, true},      {"tools/call", {{"name", "chatty"}}, true}, {"resources/read", {{"uri", "mem://a"}}, true},
      {"server/discover", {}, true}, {"tools/call", {{"name", "greet"}}, false},  // input required: resultType set by the
                                                                                  // dispatcher
  };
  int id = 100;
  for (auto& c : cases) {
    auto p = c.params;
    p["_meta"] = meta();
    auto built = call(c.method, p, id);
    auto tail = std::make_shared<TailCapture>();
    auto spliced = call(c.method, p, id++, tail);
    EXPECT_EQ(tail->text_.has_value(), c.spliced) << c.method;
    if (tail->text_) {
      EXPECT_EQ(*tail->text_, json::serialize(built)) << c.method;
    }
    EXPECT_EQ(json::serialize(spliced), json::serialize(built)) << c.method;
  }
}

TEST(OutboundTail, SplicesBeforeTheResultsClosingBrace) {
  json::object r = jr::result_response(json::value(1), json::object{{"a", 1}});
  EXPECT_EQ(Outbound::serialize_with_result_tail(r, R"("b":2)").value_or(""),
            R"({"jsonrpc":"2.0","id":1,"result":{"a":1,"b":2}})");
  json::object empty = jr::result_response(json::value("x"), json::object{});
  EXPECT_EQ(Outbound::serialize_with_result_tail(empty, R"("b":2)").value_or(""),
            R"({"jsonrpc":"2.0","id":"x","result":{"b":2}})");
  json::object not_last{{"result", json::object{}}, {"id", 1}};
  EXPECT_FALSE(Outbound::serialize_with_result_tail(not_last, R"("b":2)"));
  json::object not_object = jr::result_response(json::value(1), json::array{});
  EXPECT_FALSE(Outbound::serialize_with_result_tail(not_object, R"("b":2)"));
  EXPECT_FALSE(
      Outbound::serialize_with_result_tail(jr::error_response(json::value(1), jr::Error{-1, "x", std::nullopt}), R"("b":2)"));
}

}  // namespace
