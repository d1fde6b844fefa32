// The gateway over real child processes (tests/integration/gateway/scripted_upstream.cjs): merged
// lists with prefixes, forwarded calls, relayed progress, logging, server-to-client requests and
// cancellation, list_changed from an upstream, per-session connections, faults and the policy.
#include <jitgate/gateway/gateway.hpp>
#include <jitgate/gateway/stdio_upstream.hpp>
#include <jitgate/mcp/revision.hpp>
#include <jitgate/mcp/server.hpp>
#include <jitgate/observe/metrics.hpp>
#include <jitgate/policy/policy.hpp>
#include <jitgate/transport/http_server.hpp>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <unistd.h>

#include "support/capture.hpp"
#include "support/node.hpp"
#include "support/paging.hpp"
#include "support/raw_http.hpp"
#include "support/recording_link.hpp"

namespace gw = jitgate::gateway;
namespace json = boost::json;
namespace jr = jitgate::jsonrpc;
using namespace jitgate::mcp;
using testsupport::CaptureOutbound;
using testsupport::node_binary;
using testsupport::RecordingLink;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kScriptedTools = 13;  // what scripted_upstream.cjs lists

struct Logs {
  std::mutex mu;
  std::vector<std::string> lines;
  bool saw(std::string_view needle) {
    std::lock_guard l(mu);
    for (auto& s : lines)
      if (s.find(needle) != std::string::npos) return true;
    return false;
  }
  bool wait(std::string_view needle, std::chrono::milliseconds limit = 5s) {
    for (auto end = Clock::now() + limit; Clock::now() < end; std::this_thread::sleep_for(10ms))
      if (saw(needle)) return true;
    return false;
  }
};

gw::UpstreamSpec scripted(std::string name, std::string prefix, std::vector<std::string> flags = {},
                          gw::SessionMode mode = gw::SessionMode::shared) {
  gw::UpstreamSpec spec;
  spec.name = name;
  spec.tool_prefix = prefix;
  spec.prompt_prefix = prefix;
  spec.uri_prefix = prefix.empty() ? "" : prefix + "+";
  spec.sessions = mode;
  spec.call_timeout = 2s;
  spec.connect = [name, flags](gw::UpstreamHandlers h) {
    gw::StdioUpstreamConfig c;
    c.name = name;
    c.command = node_binary();
    c.args = {JITGATE_SOURCE_DIR "/tests/integration/gateway/scripted_upstream.cjs"};
    c.args.insert(c.args.end(), flags.begin(), flags.end());
    c.backoff_initial = 50ms;
    c.backoff_max = 200ms;
    return std::make_unique<gw::StdioUpstream>(c, std::move(h));
  };
  return spec;
}

class Gateway : public ::testing::Test {
 protected:
  explicit Gateway(std::shared_ptr<jitgate::policy::PolicyEngine> engine = nullptr)
      : metrics_(std::make_shared<jitgate::observe::Registry>()),
        server_(ServerOptions{.info = {"gw", "1", ""}, .page_size = 2, .policy = std::move(engine), .metrics = metrics_}) {}

  void start(std::vector<gw::UpstreamSpec> specs) {
    gw::GatewayOptions o;
    o.startup_timeout = 15s;
    o.log = [this](std::string_view up, gw::LogLevel, std::string_view text) {
      std::lock_guard l(logs_.mu);
      logs_.lines.push_back(std::string(up) + ": " + std::string(text));
    };
    gateway_ = std::make_unique<gw::Gateway>(server_, o);
    for (auto& s : specs) gateway_->add(std::move(s));
    ASSERT_TRUE(gateway_->start());
    ASSERT_TRUE(gateway_->ready());
  }

  struct Client {
    std::shared_ptr<Session> session;
    std::shared_ptr<RecordingLink> link = std::make_shared<RecordingLink>();
  };

  Client connect(json::object caps = {}, std::shared_ptr<const jitgate::auth::Principal> who = nullptr) {
    Client c{server_.create_session()};
    if (who) {
      EXPECT_EQ(server_.bind_caller(c.session, who), Binding::ok);
    }
    auto r = call(c, "initialize",
                  json::object{{"protocolVersion", std::string(kLatestRevision)},
                               {"capabilities", caps},
                               {"clientInfo", json::object{{"name", "c"}, {"version", "1"}}}});
    EXPECT_TRUE(r.contains("result")) << json::serialize(r);
    server_.handle(c.session, jr::Notification{"notifications/initialized", nullptr}, nullptr);
    c.session->set_link(c.link);
    return c;
  }

  json::object call(Client& c, std::string method, json::value params = nullptr, std::chrono::milliseconds limit = 10s) {
    auto out = std::make_shared<CaptureOutbound>();
    server_.handle(c.session, jr::Request{next_id_++, std::move(method), std::move(params)}, out);
    auto r = out->wait(limit);
    EXPECT_TRUE(r) << "no response";
    return r.value_or(json::object{});
  }

  json::object tool(Client& c, std::string name, json::object args = {}) {
    return call(c, "tools/call", json::object{{"name", name}, {"arguments", args}});
  }

  static std::string text_of(const json::object& r) {
    if (!r.contains("result")) return "error: " + json::serialize(r);
    return std::string(r.at("result").at("content").at(0).at("text").as_string());
  }

  std::vector<std::string> tool_names(Client& c) {
    auto names = testsupport::listed_names([&](std::string m, json::value p) { return call(c, std::move(m), std::move(p)); });
    std::sort(names.begin(), names.end());
    return names;
  }

  Logs logs_;  // first: the gateway's threads log until it is destroyed
  std::shared_ptr<jitgate::observe::Registry> metrics_;
  Server server_;
  std::unique_ptr<gw::Gateway> gateway_;
  std::int64_t next_id_ = 1;
};

TEST_F(Gateway, MergesUpstreamsWithPrefixesAndForwardsCalls) {
  start({scripted("one", "one_"), scripted("two", "two_")});
  auto c = connect();
  auto names = tool_names(c);  // read in pages of 2
  EXPECT_EQ(names.size(), 2 * kScriptedTools);
  for (const auto& n : names) EXPECT_TRUE(n.starts_with("one_") || n.starts_with("two_")) << n;
  EXPECT_TRUE(std::binary_search(names.begin(), names.end(), "one_echo"));
  EXPECT_TRUE(std::binary_search(names.begin(), names.end(), "two_echo"));
  EXPECT_EQ(text_of(tool(c, "two_echo", {{"message", "hello"}})), "hello");
  auto unknown = tool(c, "echo");
  EXPECT_EQ(unknown.at("error").at("code"), -32602);
  auto h = gateway_->health();
  EXPECT_TRUE(h.at("ready").as_bool());
  EXPECT_EQ(h.at("upstreams").at("one").at("tools"), kScriptedTools);
  EXPECT_EQ(h.at("upstreams").at("two").at("state"), "ready");
}

TEST_F(Gateway, RelaysProgressWithTheClientsOwnTokenAndLogging) {
  start({scripted("up", "")});
  auto c = connect();
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(c.session,
                 jr::Request{42, "tools/call",
                             json::object{{"name", "progress"}, {"_meta", json::object{{"progressToken", "client-token"}}}}},
                 out);
  auto r = out->wait(5s);
  ASSERT_TRUE(r);
  // The upstream saw the gateway's token, not the client's.
  EXPECT_EQ(r->at("result").at("content").at(0).at("text").as_string().find("client-token"), std::string::npos);
  auto sent = out->sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].at("method"), "notifications/progress");
  EXPECT_EQ(sent[0].at("params").at("progressToken"), "client-token");
  EXPECT_EQ(sent[1].at("params").at("message"), "done");

  auto logged = std::make_shared<CaptureOutbound>();
  server_.handle(c.session, jr::Request{43, "tools/call", json::object{{"name", "notify"}, {"arguments", {{"message", "hi"}}}}},
                 logged);
  ASSERT_TRUE(logged->wait(5s));
  ASSERT_EQ(logged->sent().size(), 1u);
  EXPECT_EQ(logged->sent()[0].at("method"), "notifications/message");
  EXPECT_EQ(logged->sent()[0].at("params").at("data"), "hi");
}

TEST_F(Gateway, RelaysServerToClientRequestsToTheCallingClient) {
  start({scripted("up", "")});
  auto c = connect(json::object{{"roots", json::object{}}});
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(c.session, jr::Request{7, "tools/call", json::object{{"name", "ask"}}}, out);
  ASSERT_TRUE(out->wait_sent([](const json::object& m) { return m.contains("method") && m.at("method") == "roots/list"; }));
  auto ask = out->sent().at(0);
  server_.handle(c.session,
                 jr::Response{ask.at("id"), json::value(json::object{{"roots", json::array{json::object{{"uri", "file:///w"}}}}}),
                              std::nullopt},
                 nullptr);
  auto r = out->wait(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("result").at("structuredContent").at("result").at("roots").at(0).at("uri"), "file:///w");

  auto no_roots = connect();  // without the capability the upstream hears an error
  auto refused = tool(no_roots, "ask");
  ASSERT_TRUE(refused.contains("result"));
  EXPECT_TRUE(refused.at("result").at("structuredContent").as_object().contains("error"));
}

// A 2026-07-28 request: the envelope in params._meta, on a holder that is not a registered session.
json::object meta2026(json::object caps) {
  return json::object{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                      {"io.modelcontextprotocol/clientCapabilities", caps}};
}

TEST_F(Gateway, QuestionsFromTheUpstreamBecomeInputRequiredResultsFor2026Clients) {
  start({scripted("up", "")});
  json::object caps{{"elicitation", json::object{}}, {"roots", json::object{}}};
  auto stateless = [&](json::object params) {
    auto holder = std::make_shared<Session>("");
    auto out = std::make_shared<CaptureOutbound>();
    server_.handle(holder, jr::Request{next_id_++, "tools/call", json::value(std::move(params))}, out);
    auto r = out->wait(10s);
    EXPECT_TRUE(r) << "no response";
    return r.value_or(json::object{});
  };
  json::object first_params{{"name", "interview"}, {"arguments", json::object{{"topic", "x"}}}, {"_meta", meta2026(caps)}};

  // Round 1: the upstream's elicitation comes back as an input-required result.
  auto first = stateless(first_params);
  ASSERT_TRUE(first.contains("result")) << json::serialize(first);
  const auto& r1 = first.at("result").as_object();
  EXPECT_EQ(r1.at("resultType"), "input_required");
  ASSERT_EQ(r1.at("inputRequests").as_object().size(), 1u);
  const auto& [key1, q1] = *r1.at("inputRequests").as_object().begin();
  EXPECT_EQ(q1.at("method"), "elicitation/create");
  EXPECT_EQ(q1.at("params").at("message"), "Your name?");
  std::string state(r1.at("requestState").as_string());

  // A retry with another request's arguments, or a made-up state, is refused; the call stays parked.
  auto other = first_params;
  other["arguments"] = json::object{{"topic", "y"}};
  other["requestState"] = state;
  EXPECT_EQ(stateless(other).at("error").at("code"), -32602);
  auto forged = first_params;
  forged["requestState"] = "jitgate-input.0123456789abcdef0123456789abcdef";
  EXPECT_EQ(stateless(forged).at("error").at("code"), -32602);
  // An answer that is not an elicitation result is refused too.
  auto bad = first_params;
  bad["requestState"] = state;
  bad["inputResponses"] = json::object{{std::string(key1), json::object{{"action", "maybe"}}}};
  EXPECT_EQ(stateless(bad).at("error").at("code"), -32602);
  // Retrying without the answer just asks again.
  auto unanswered = first_params;
  unanswered["requestState"] = state;
  auto again = stateless(unanswered);
  EXPECT_EQ(again.at("result").at("resultType"), "input_required");
  EXPECT_TRUE(again.at("result").at("inputRequests").as_object().contains(key1));

  // Round 2: the answer goes upstream, whose next question (roots/list) comes back the same way.
  auto second_params = first_params;
  second_params["requestState"] = state;
  second_params["inputResponses"] =
      json::object{{std::string(key1), json::object{{"action", "accept"}, {"content", json::object{{"name", "Ada"}}}}}};
  auto second = stateless(second_params);
  ASSERT_TRUE(second.contains("result")) << json::serialize(second);
  const auto& r2 = second.at("result").as_object();
  EXPECT_EQ(r2.at("resultType"), "input_required");
  const auto& [key2, q2] = *r2.at("inputRequests").as_object().begin();
  EXPECT_EQ(q2.at("method"), "roots/list");
  EXPECT_NE(key2, key1);

  // Round 3: the last answer; the call's result arrives, with both answers as the upstream saw them.
  auto third_params = first_params;
  third_params["requestState"] = std::string(r2.at("requestState").as_string());
  third_params["inputResponses"] =
      json::object{{std::string(key2), json::object{{"roots", json::array{json::object{{"uri", "file:///w"}}}}}}};
  auto third = stateless(third_params);
  ASSERT_TRUE(third.contains("result")) << json::serialize(third);
  const auto& r3 = third.at("result").as_object();
  EXPECT_NE(r3.if_contains("resultType") ? r3.at("resultType") : json::value("complete"), "input_required");
  EXPECT_EQ(r3.at("structuredContent").at("elicitation").at("content").at("name"), "Ada");
  EXPECT_EQ(r3.at("structuredContent").at("roots").at("roots").at(0).at("uri"), "file:///w");
  // The state is spent.
  EXPECT_EQ(stateless(third_params).at("error").at("code"), -32602);

  // A client without the capability: the upstream hears an error, the client gets the call's result.
  auto plain = stateless(json::object{{"name", "ask"}, {"_meta", meta2026({})}});
  ASSERT_TRUE(plain.contains("result")) << json::serialize(plain);
  EXPECT_TRUE(plain.at("result").at("structuredContent").as_object().contains("error"));
}

TEST_F(Gateway, RequestsOutsideACallReachTheSessionsClient) {
  // Like server-filesystem, the upstream asks for roots right after it is initialized.
  start({scripted("up", "", {"--roots-on-init"}, gw::SessionMode::per_session)});
  auto c = connect(json::object{{"roots", json::object{}}});
  EXPECT_EQ(text_of(tool(c, "echo", {{"message", "hi"}})), "hi");  // opens the session's connection
  ASSERT_TRUE(c.link->wait_method("roots/list"));
  json::object ask;
  {
    std::lock_guard l(c.link->mu);
    for (auto& m : c.link->got)
      if (m.at("method") == "roots/list") ask = m;
  }
  server_.handle(c.session,
                 jr::Response{ask.at("id"), json::value(json::object{{"roots", json::array{json::object{{"uri", "file:///w"}}}}}),
                              std::nullopt},
                 nullptr);
  json::object seen;
  for (auto end = Clock::now() + 5s; Clock::now() < end; std::this_thread::sleep_for(20ms)) {
    auto r = tool(c, "roots_seen");
    seen = r.at("result").at("structuredContent").as_object();
    if (!seen.at("answer").is_null()) break;
  }
  EXPECT_EQ(seen.at("answer").at("result").at("roots").at(0).at("uri"), "file:///w") << json::serialize(seen);

  // The client's roots change: its own connection hears of it (and would ask again).
  server_.handle(c.session, jr::Notification{"notifications/roots/list_changed", nullptr}, nullptr);
  EXPECT_TRUE(logs_.wait("stderr: roots changed"));

  // A client that did not declare roots: the upstream hears a refusal, and the client nothing.
  auto plain = connect();
  EXPECT_EQ(text_of(tool(plain, "echo", {{"message", "x"}})), "x");
  json::object refused;
  for (auto end = Clock::now() + 5s; Clock::now() < end; std::this_thread::sleep_for(20ms)) {
    refused = tool(plain, "roots_seen").at("result").at("structuredContent").as_object();
    if (!refused.at("answer").is_null()) break;
  }
  EXPECT_EQ(refused.at("answer").at("error").at("code"), -32601) << json::serialize(refused);
  EXPECT_FALSE(plain.link->wait_method("roots/list", 100ms));
}

TEST_F(Gateway, OneUpstreamSubscriptionForManySessionsEndsWithTheLast) {
  start({scripted("up", "", {"--resources"})});
  auto a = connect();
  auto b = connect();
  auto sub = [&](Client& c) { return call(c, "resources/subscribe", json::object{{"uri", "memo://note"}}); };
  ASSERT_TRUE(sub(a).contains("result"));
  ASSERT_TRUE(logs_.wait("stderr: subscribed memo://note"));
  ASSERT_TRUE(sub(b).contains("result"));
  // The upstream was asked once; the first session's end does not unsubscribe, the last one's does.
  server_.close_session(a.session->id());
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(logs_.saw("unsubscribed"));
  server_.close_session(b.session->id());
  EXPECT_TRUE(logs_.wait("stderr: unsubscribed memo://note"));
  std::lock_guard l(logs_.mu);
  EXPECT_EQ(std::count_if(logs_.lines.begin(), logs_.lines.end(),
                          [](const std::string& s) { return s.find("stderr: subscribed") != std::string::npos; }),
            1);
}

TEST_F(Gateway, CancellationIsRelayedUpstream) {
  start({scripted("up", "")});
  auto c = connect();
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(c.session, jr::Request{9, "tools/call", json::object{{"name", "hang"}}}, out);
  std::this_thread::sleep_for(100ms);
  server_.handle(c.session, jr::Notification{"notifications/cancelled", json::object{{"requestId", 9}}}, nullptr);
  EXPECT_TRUE(logs_.wait("stderr: cancelled"));
  EXPECT_FALSE(out->wait(2s).has_value());
  EXPECT_TRUE(out->done());
  EXPECT_EQ(gateway_->health().at("upstreams").at("up").at("in_flight"), 0);
}

TEST_F(Gateway, UpstreamListChangedRepublishesAndTellsSessions) {
  start({scripted("up", "up_")});
  auto c = connect();
  EXPECT_EQ(tool_names(c).size(), kScriptedTools);
  EXPECT_EQ(text_of(tool(c, "up_grow")), "grown");
  ASSERT_TRUE(c.link->wait_method("notifications/tools/list_changed"));
  auto names = tool_names(c);
  EXPECT_EQ(names.size(), kScriptedTools + 1);
  EXPECT_TRUE(std::binary_search(names.begin(), names.end(), "up_extra0"));
  EXPECT_EQ(text_of(tool(c, "up_extra0", {{"message", "new"}})), "new");
}

TEST_F(Gateway, FaultsBecomeErrorsAndTheGatewayRecovers) {
  start({scripted("up", "up_"), scripted("other", "other_")});
  auto c = connect();
  // A hung call times out; a slow upstream does not hold up the other one meanwhile.
  auto hung = std::make_shared<CaptureOutbound>();
  auto t0 = Clock::now();
  server_.handle(c.session, jr::Request{100, "tools/call", json::object{{"name", "up_hang"}}}, hung);
  EXPECT_EQ(text_of(tool(c, "other_echo", {{"message", "meanwhile"}})), "meanwhile");
  auto timed_out = hung->wait(5s);
  ASSERT_TRUE(timed_out);
  EXPECT_EQ(timed_out->at("error").at("code"), static_cast<int>(gw::UpstreamError::timeout));
  EXPECT_LT(Clock::now() - t0, 4s);

  // A crash mid-call fails the call at once, then the upstream is restarted.
  auto crash = tool(c, "up_crash");
  EXPECT_EQ(crash.at("error").at("code"), static_cast<int>(gw::UpstreamError::unavailable));
  EXPECT_EQ(crash.at("error").at("data").at("upstream"), "up");
  std::string echoed;
  for (auto end = Clock::now() + 10s; Clock::now() < end && echoed != "back"; std::this_thread::sleep_for(50ms))
    echoed = text_of(tool(c, "up_echo", {{"message", "back"}}));
  EXPECT_EQ(echoed, "back");
  EXPECT_GE(gateway_->health().at("upstreams").at("up").at("restarts").as_uint64(), 1u);
  auto page = metrics_->render();
  EXPECT_NE(page.find(R"(jitgate_upstream_calls_total{upstream="up",outcome="timeout"} 1)"), std::string::npos) << page;
  EXPECT_NE(page.find(R"(jitgate_upstream_calls_total{upstream="up",outcome="unavailable"})"), std::string::npos);
  EXPECT_NE(page.find(R"(jitgate_upstream_calls_total{upstream="other",outcome="ok"} 1)"), std::string::npos);
  EXPECT_NE(page.find(R"(jitgate_upstream_ready{upstream="up"} 1)"), std::string::npos);
  EXPECT_NE(page.find(R"(jitgate_upstream_call_seconds_count{upstream="other"} 1)"), std::string::npos);
}

TEST_F(Gateway, AChildKilledMidCallFailsItsCallsAndIsReplaced) {
  start({scripted("up", "", {}, gw::SessionMode::per_session)});
  auto c = connect();
  int pid = std::stoi(text_of(tool(c, "pid")));
  auto hung = std::make_shared<CaptureOutbound>();
  server_.handle(c.session, jr::Request{200, "tools/call", json::object{{"name", "hang"}}}, hung);
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  auto r = hung->wait(1500ms);  // well before the call's 2 s timeout
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("error").at("code"), static_cast<int>(gw::UpstreamError::unavailable));
  std::string again;
  for (auto end = Clock::now() + 10s; Clock::now() < end; std::this_thread::sleep_for(50ms)) {
    again = text_of(tool(c, "pid"));
    if (again.find("error") == std::string::npos) break;
  }
  EXPECT_NE(again, std::to_string(pid));
  EXPECT_EQ(again.find("error"), std::string::npos) << again;
}

TEST_F(Gateway, GarbageFromTheUpstreamIsSkipped) {
  start({scripted("noisy", "", {"--garbage"})});
  auto c = connect();
  EXPECT_EQ(text_of(tool(c, "echo", {{"message", "through the noise"}})), "through the noise");
  EXPECT_GT(gateway_->health().at("upstreams").at("noisy").at("garbage_lines").as_uint64(), 0u);
}

TEST_F(Gateway, ConnectionLimitAndUnlistedNames) {
  auto limited = scripted("up", "up_", {}, gw::SessionMode::per_session);
  limited.max_connections = 1;
  auto strict = scripted("strict", "strict_");
  strict.forward_unlisted = false;
  start({std::move(limited), std::move(strict)});
  auto a = connect();
  auto b = connect();
  EXPECT_EQ(text_of(tool(a, "up_echo", {{"message", "a"}})), "a");
  // The second session would need a second connection: refused at once, and named.
  auto refused = tool(b, "up_echo", {{"message", "b"}});
  ASSERT_TRUE(refused.contains("error")) << json::serialize(refused);
  EXPECT_EQ(refused.at("error").at("code"), static_cast<int>(gw::UpstreamError::overloaded));
  EXPECT_EQ(refused.at("error").at("data").at("upstream"), "up");
  // Once the first session ends, its connection is closed and the second gets one.
  server_.close_session(a.session->id());
  json::object later;
  for (auto end = Clock::now() + 5s; Clock::now() < end; std::this_thread::sleep_for(20ms)) {
    later = tool(b, "up_echo", {{"message", "b"}});
    if (later.contains("result")) break;
  }
  EXPECT_EQ(text_of(later), "b");
  // forward_unlisted: false: a name under the prefix that the upstream did not list is unknown here.
  EXPECT_EQ(text_of(tool(b, "strict_echo", {{"message", "s"}})), "s");
  EXPECT_EQ(tool(b, "strict_no_such_tool").at("error").at("code"), -32602);
  // With forwarding on, the upstream answers for itself.
  auto forwarded = tool(b, "up_no_such_tool");
  ASSERT_TRUE(forwarded.contains("error")) << json::serialize(forwarded);
  EXPECT_NE(std::string(forwarded.at("error").at("message").as_string()).find("unknown tool"), std::string::npos)
      << json::serialize(forwarded);
}

TEST_F(Gateway, PerSessionConnectionsAreSeparateAndEndWithTheirSession) {
  start({scripted("up", "", {}, gw::SessionMode::per_session)});
  auto a = connect();
  auto b = connect();
  std::string pa = text_of(tool(a, "pid")), pb = text_of(tool(b, "pid"));
  EXPECT_NE(pa, pb);
  EXPECT_EQ(text_of(tool(a, "pid")), pa);  // the same child again
  EXPECT_EQ(gateway_->health().at("upstreams").at("up").at("connections"), 2);
  ASSERT_TRUE(server_.close_session(a.session->id()));
  EXPECT_EQ(gateway_->health().at("upstreams").at("up").at("connections"), 1);
  int pid = std::stoi(pa);
  bool gone = false;
  for (auto end = Clock::now() + 5s; Clock::now() < end && !gone; std::this_thread::sleep_for(20ms)) gone = ::kill(pid, 0) != 0;
  EXPECT_TRUE(gone) << "the session's child " << pid << " is still running";
}

class GatewayUnderPolicy : public Gateway {
 protected:
  GatewayUnderPolicy()
      : Gateway(std::make_shared<jitgate::policy::LocalPolicyEngine>(jitgate::policy::parse_policy(R"(
version: 1
tiers:
  public: {}
  signed_in: {authenticated: true}
rules:
  - {id: open, tier: public, tools: [up_echo]}
  - {id: members, tier: signed_in, tools: ["up_*"]}
  - {id: no-secrets, effect: deny, tools: [up_echo], when: [{arg: /message, prefix: "secret"}]}
)"))) {}
};

TEST_F(GatewayUnderPolicy, ProxiedToolsAreFilteredAndDecidedLikeLocalOnes) {
  start({scripted("up", "up_")});
  auto anon = connect();
  auto who = std::make_shared<jitgate::auth::Principal>();
  who->issuer = "https://as.example";
  who->subject = "alice";
  auto alice = connect({}, who);
  EXPECT_EQ(tool_names(anon), (std::vector<std::string>{"up_echo"}));
  EXPECT_EQ(tool_names(alice).size(), kScriptedTools);
  EXPECT_EQ(text_of(tool(anon, "up_echo", {{"message", "hi"}})), "hi");
  EXPECT_EQ(tool(anon, "up_hang").at("error").at("code"), kAccessDenied);
  EXPECT_EQ(tool(anon, "up_echo", {{"message", "secret plans"}}).at("error").at("code"), kAccessDenied);

  // The upstream grows a tool: only the signed-in session can see it, so only it is told.
  EXPECT_EQ(text_of(tool(alice, "up_grow")), "grown");
  ASSERT_TRUE(alice.link->wait_method("notifications/tools/list_changed"));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(anon.link->count(), 0u);
  EXPECT_EQ(tool_names(alice).size(), kScriptedTools + 1);
  EXPECT_EQ(tool_names(anon), (std::vector<std::string>{"up_echo"}));
}

}  // namespace

namespace {

// ---- messages outside a call ---------------------------------------------------------------

// On a shared connection the only call in flight is not the owner of a question that names no
// call: the upstream hears -32601 and the caller is asked nothing.
TEST_F(Gateway, ASharedConnectionRefusesQuestionsThatNameNoCall) {
  start({scripted("up", "", {"--unrelated"})});
  auto c = connect(json::object{{"roots", json::object{}}});
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(c.session, jr::Request{7, "tools/call", json::object{{"name", "ask"}}}, out);
  auto r = out->wait(5s);
  ASSERT_TRUE(r) << "the question was relayed to the only caller";
  EXPECT_EQ(r->at("result").at("structuredContent").at("error").at("code"), -32601) << json::serialize(*r);
  EXPECT_TRUE(out->sent().empty());
  EXPECT_FALSE(c.link->wait_method("roots/list", 100ms));
}

// A question naming its call by the call's progress token reaches that call's client.
TEST_F(Gateway, AQuestionNamingItsCallByProgressTokenReachesThatCall) {
  start({scripted("up", "", {"--relate-by-token"})});
  auto a = connect(json::object{{"roots", json::object{}}});
  auto b = connect(json::object{{"roots", json::object{}}});
  auto busy = std::make_shared<CaptureOutbound>();  // b's call is in flight meanwhile
  server_.handle(b.session, jr::Request{8, "tools/call", json::object{{"name", "sleep"}, {"arguments", {{"ms", 300}}}}}, busy);
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(a.session,
                 jr::Request{9, "tools/call", json::object{{"name", "ask"}, {"_meta", json::object{{"progressToken", "t"}}}}},
                 out);
  ASSERT_TRUE(out->wait_sent([](const json::object& m) { return m.contains("method") && m.at("method") == "roots/list"; }));
  auto ask = out->sent().at(0);
  server_.handle(a.session, jr::Response{ask.at("id"), json::value(json::object{{"roots", json::array{}}}), std::nullopt},
                 nullptr);
  auto r = out->wait(5s);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->at("result").at("structuredContent").as_object().contains("result")) << json::serialize(*r);
  ASSERT_TRUE(busy->wait(5s));
  EXPECT_TRUE(busy->sent().empty());
}

// A per_session connection serves one client: its only call is that client's.
TEST_F(Gateway, APerSessionConnectionRelatesItsOnlyCall) {
  start({scripted("up", "", {"--unrelated"}, gw::SessionMode::per_session)});
  auto c = connect(json::object{{"roots", json::object{}}});
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(c.session, jr::Request{7, "tools/call", json::object{{"name", "ask"}}}, out);
  ASSERT_TRUE(out->wait_sent([](const json::object& m) { return m.contains("method") && m.at("method") == "roots/list"; }));
  server_.handle(c.session,
                 jr::Response{out->sent().at(0).at("id"), json::value(json::object{{"roots", json::array{}}}), std::nullopt},
                 nullptr);
  ASSERT_TRUE(out->wait(5s));
}

// ---- URIs in results -------------------------------------------------------------------------

TEST_F(Gateway, ResultsNameTheClientsUrisNotTheUpstreams) {
  start({scripted("up", "up_", {"--resources", "--prompts"})});
  auto c = connect();
  // Tool results: resource links and embedded resources (the text path parses only these).
  auto linked = tool(c, "up_link");
  ASSERT_TRUE(linked.contains("result")) << json::serialize(linked);
  const auto& content = linked.at("result").at("content").as_array();
  EXPECT_EQ(content.at(0).at("uri"), "up_+memo://note");
  EXPECT_EQ(content.at(1).at("resource").at("uri"), "up_+memo://other");
  EXPECT_EQ(content.at(2).at("text"), "see the links");
  EXPECT_EQ(text_of(tool(c, "up_echo", {{"message", "no uri here"}})), "no uri here");
  // Prompt messages.
  auto prompt = call(c, "prompts/get", json::object{{"name", "up_note"}});
  ASSERT_TRUE(prompt.contains("result")) << json::serialize(prompt);
  const auto& messages = prompt.at("result").at("messages").as_array();
  EXPECT_EQ(messages.at(0).at("content").at("resource").at("uri"), "up_+memo://note");
  EXPECT_EQ(messages.at(1).at("content").at("uri"), "up_+memo://other");
  // A read's contents, which the client can read and subscribe to again by the URI it got.
  auto read = call(c, "resources/read", json::object{{"uri", "up_+memo://note"}});
  ASSERT_TRUE(read.contains("result")) << json::serialize(read);
  std::string uri(read.at("result").at("contents").at(0).at("uri").as_string());
  EXPECT_EQ(uri, "up_+memo://note");
  EXPECT_TRUE(call(c, "resources/read", json::object{{"uri", uri}}).contains("result"));
  EXPECT_TRUE(call(c, "resources/subscribe", json::object{{"uri", uri}}).contains("result"));
  EXPECT_TRUE(logs_.wait("stderr: subscribed memo://note"));
}

// ---- faulty upstreams --------------------------------------------------------------------------

// Malformed answers fail their call at once (-32014, data.upstream), well before its timeout;
// malformed notifications are dropped; the gateway lives on.
TEST_F(Gateway, MalformedUpstreamMessagesFailTheirCallOrAreDropped) {
  start({scripted("up", "")});
  auto c = connect();
  for (const char* name : {"bad_code", "huge_code", "not_object"}) {
    SCOPED_TRACE(name);
    auto t0 = Clock::now();
    auto r = tool(c, name);
    ASSERT_TRUE(r.contains("error")) << json::serialize(r);
    EXPECT_EQ(r.at("error").at("code"), static_cast<int>(gw::UpstreamError::bad_response)) << json::serialize(r);
    EXPECT_EQ(r.at("error").at("data").at("upstream"), "up");
    EXPECT_LT(Clock::now() - t0, 1500ms);  // the call's timeout is 2 s
  }
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(
      c.session,
      jr::Request{50, "tools/call", json::object{{"name", "bad_progress"}, {"_meta", json::object{{"progressToken", "p"}}}}},
      out);
  auto r = out->wait(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("result").at("content").at(0).at("text"), "survived");
  for (const auto& m : out->sent()) {  // only the well-formed progress, with the client's token
    EXPECT_EQ(m.at("method"), "notifications/progress");
    EXPECT_EQ(m.at("params").at("progressToken"), "p");
    EXPECT_TRUE(m.at("params").at("progress").is_number());
  }
  EXPECT_EQ(text_of(tool(c, "echo", {{"message", "still here"}})), "still here");
  auto page = metrics_->render();
  EXPECT_NE(page.find(R"(jitgate_upstream_calls_total{upstream="up",outcome="bad_response"} 3)"), std::string::npos) << page;
}

// ---- collisions and stable lists ---------------------------------------------------------------

TEST(GatewayAdd, RefusesUpstreamsWhosePrefixesCollide) {
  Server server;
  struct Row {
    std::string a_tool, a_uri, b_tool, b_uri;
    bool refused;
  };
  const Row rows[] = {{"a_", "a+", "b_", "b+", false}, {"", "a+", "b_", "b+", true},   {"a_", "a+", "a_", "b+", true},
                      {"a", "a+", "a_", "b+", true},   {"a_", "a+", "b_", "a+", true}, {"a_", "", "b_", "b+", true}};
  for (const auto& row : rows) {
    gw::Gateway g(server);
    auto spec = [](std::string name, std::string tool, std::string uri) {
      gw::UpstreamSpec s;
      s.name = name;
      s.tool_prefix = s.prompt_prefix = tool;
      s.uri_prefix = uri;
      s.connect = [](gw::UpstreamHandlers) { return std::unique_ptr<gw::Upstream>(); };
      return s;
    };
    g.add(spec("a", row.a_tool, row.a_uri));
    if (row.refused)
      EXPECT_THROW(g.add(spec("b", row.b_tool, row.b_uri)), std::invalid_argument) << row.b_tool << " " << row.b_uri;
    else
      EXPECT_NO_THROW(g.add(spec("b", row.b_tool, row.b_uri)));
  }
}

// An upstream that lists the same tools in another order: its sessions are told nothing, and see
// the same order.
TEST_F(Gateway, AnUpstreamReorderingItsListTellsNobody) {
  auto file = std::filesystem::temp_directory_path() / ("jitgate-lists-" + std::to_string(::getpid()) + ".json");
  auto write = [&](std::vector<std::string> names) {
    json::array tools;
    for (auto& n : names) tools.push_back(json::object{{"name", n}, {"inputSchema", json::object{{"type", "object"}}}});
    std::ofstream(file) << json::serialize(
        json::object{{"tools", tools}, {"capabilities", json::object{{"tools", json::object{}}}}});
  };
  write({"echo", "grow", "pid"});
  start({scripted("up", "up_", {"--lists=" + file.string()})});
  auto c = connect();
  auto first = testsupport::listed_names([&](std::string m, json::value p) { return call(c, std::move(m), std::move(p)); });
  write({"pid", "grow", "echo"});
  EXPECT_EQ(text_of(tool(c, "up_grow")), "grown");  // says tools/list_changed: the gateway reads again
  for (auto end = Clock::now() + 5s; Clock::now() < end; std::this_thread::sleep_for(20ms)) {
    std::lock_guard l(logs_.mu);
    if (std::count_if(logs_.lines.begin(), logs_.lines.end(),
                      [](auto& s) { return s.find("published 3 tools") != std::string::npos; }) >= 2)
      break;
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(c.link->wait_method("notifications/tools/list_changed", 200ms));
  auto second = testsupport::listed_names([&](std::string m, json::value p) { return call(c, std::move(m), std::move(p)); });
  EXPECT_EQ(first, second);
  std::filesystem::remove(file);
}

}  // namespace

namespace {

// ---- what an HTTP client sees --------------------------------------------------------------------

// The gateway behind the real Streamable HTTP transport (results written as the upstream's text
// where nothing changes): a client over HTTP gets URIs it can use again, and is never asked what
// another call's upstream asked.
class GatewayOverHttp : public Gateway {
 protected:
  void serve(std::vector<gw::UpstreamSpec> specs) {
    start(std::move(specs));
    jitgate::transport::HttpOptions o;
    o.threads = 2;
    http_ = std::make_unique<jitgate::transport::HttpServer>(server_, o);
    port_ = http_->listen();
    http_->start();
    auto r = send(testsupport::post(
        R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"roots":{}},"clientInfo":{"name":"raw","version":"1"}}})"));
    ASSERT_EQ(r.status, 200u) << r.msg.body();
    sid_ = r.header("Mcp-Session-Id");
    send(testsupport::post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", headers()));
  }
  void TearDown() override {
    if (http_) http_->stop();
    if (gateway_) gateway_->stop();
  }
  testsupport::RawResponse send(const std::string& bytes) {
    testsupport::RawClient c(port_);
    c.write(bytes);
    return c.read();
  }
  std::string headers() const { return "Mcp-Session-Id: " + sid_ + "\r\nMCP-Protocol-Version: 2025-11-25\r\n"; }
  // One request; the body as sent, and the JSON-RPC response in it (JSON, or the last SSE event).
  std::pair<std::string, json::object> rpc(const std::string& method, const std::string& params) {
    auto r =
        send(testsupport::post(R"({"jsonrpc":"2.0","id":9,"method":")" + method + R"(","params":)" + params + "}", headers()));
    EXPECT_EQ(r.status, 200u) << r.msg.body();
    std::string body = r.msg.body();
    json::value v = r.json();
    if (!v.is_object()) {
      auto at = body.rfind("data: ");
      if (at != std::string::npos) v = json::parse(body.substr(at + 6, body.find('\n', at) - at - 6));
    }
    return {body, v.is_object() ? v.as_object() : json::object{}};
  }

  std::unique_ptr<jitgate::transport::HttpServer> http_;
  std::uint16_t port_ = 0;
  std::string sid_;
};

TEST_F(GatewayOverHttp, ResultUrisCanBeReadAndSubscribedToAgain) {
  serve({scripted("up", "up_", {"--resources", "--prompts"})});
  auto [body, linked] = rpc("tools/call", R"({"name":"up_link","arguments":{}})");
  ASSERT_TRUE(linked.contains("result")) << body;
  std::string link(linked.at("result").at("content").at(0).at("uri").as_string());
  EXPECT_EQ(link, "up_+memo://note");
  EXPECT_EQ(linked.at("result").at("content").at(1).at("resource").at("uri"), "up_+memo://other");
  auto [read_body, read] = rpc("resources/read", R"({"uri":")" + link + R"("})");
  ASSERT_TRUE(read.contains("result")) << read_body;
  std::string again(read.at("result").at("contents").at(0).at("uri").as_string());
  EXPECT_EQ(again, link);
  auto [sub_body, sub] = rpc("resources/subscribe", R"({"uri":")" + again + R"("})");
  EXPECT_TRUE(sub.contains("result")) << sub_body;
  auto [pbody, prompt] = rpc("prompts/get", R"({"name":"up_note"})");
  ASSERT_TRUE(prompt.contains("result")) << pbody;
  EXPECT_EQ(prompt.at("result").at("messages").at(1).at("content").at("uri"), "up_+memo://other");
  // A result without URIs still travels as the upstream's text, unchanged.
  auto [ebody, echo] = rpc("tools/call", R"({"name":"up_echo","arguments":{"message":"plain"}})");
  EXPECT_EQ(echo.at("result").at("content").at(0).at("text"), "plain") << ebody;
}

TEST_F(GatewayOverHttp, AQuestionNamingNoCallNeverReachesTheOnlyCaller) {
  serve({scripted("up", "", {"--unrelated"})});
  auto [body, r] = rpc("tools/call", R"({"name":"ask","arguments":{}})");
  EXPECT_EQ(body.find(R"("method":"roots/list")"), std::string::npos) << body;
  ASSERT_TRUE(r.contains("result")) << body;
  EXPECT_EQ(r.at("result").at("structuredContent").at("error").at("code"), -32601) << body;
}

// Through the gateway as in library mode: a proxied tool this caller can neither see nor unlock
// answers exactly as a name no upstream has (listed or forwarded unlisted), never with a refusal.
class GatewayHiding : public Gateway {
 protected:
  GatewayHiding()
      : Gateway(std::make_shared<jitgate::policy::LocalPolicyEngine>(jitgate::policy::parse_policy(R"(
version: 1
rules:
  - {id: open, tools: [up_echo]}
  - {id: ops-only, roles: [ops], tools: [up_hang, "up_secret_*"]}
)"))) {}
};

TEST_F(GatewayHiding, HiddenToolsLookAbsent) {
  start({scripted("up", "up_")});
  auto anon = connect();
  auto who = std::make_shared<jitgate::auth::Principal>();
  who->issuer = "https://as.example";
  who->subject = "ops";
  who->roles = {"ops"};
  auto ops = connect({}, who);
  EXPECT_EQ(tool_names(anon), (std::vector<std::string>{"up_echo"}));
  auto names = tool_names(ops);
  EXPECT_NE(std::find(names.begin(), names.end(), "up_hang"), names.end());
  auto alice_who = std::make_shared<jitgate::auth::Principal>(*who);
  alice_who->subject = "alice";
  alice_who->roles.clear();
  auto alice = connect({}, alice_who);
  // Signed in without the role: nothing she can do unlocks these, so they look absent.
  auto hidden = tool(alice, "up_hang");
  auto unlisted_hidden = tool(alice, "up_secret_x");  // an unlisted name the policy hides
  // Anonymous, a name no rule allows anyone: no token would help either.
  auto absent = tool(anon, "up_nothing");
  // Anonymous, a tool a signed-in caller may have the role for: the challenge stays.
  EXPECT_EQ(tool(anon, "up_hang").at("error").at("code"), kAccessDenied);
  for (const auto* r : {&hidden, &unlisted_hidden, &absent}) {
    ASSERT_TRUE(r->contains("error")) << json::serialize(*r);
    EXPECT_EQ(r->at("error").at("code"), -32602) << json::serialize(*r);
  }
  EXPECT_EQ(hidden.at("error").at("message"), "Invalid params: unknown tool 'up_hang'");
  EXPECT_EQ(unlisted_hidden.at("error").at("message"), "Invalid params: unknown tool 'up_secret_x'");
  EXPECT_EQ(absent.at("error").at("message"), "Invalid params: unknown tool 'up_nothing'");
  EXPECT_EQ(text_of(tool(anon, "up_echo", {{"message", "hi"}})), "hi");
}

}  // namespace
