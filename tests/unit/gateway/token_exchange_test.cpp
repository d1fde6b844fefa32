// RFC 8693 token exchange end to end, all in one process over real HTTP: the development
// authorization server issues the caller's token (audience: the gateway) and exchanges it; the
// gateway forwards over Streamable HTTP to an upstream jitgate server that accepts only tokens
// for itself, and whose `whoami` tool reports the token it was called with.
#include <jitgate/auth/jwt_verifier.hpp>
#include <jitgate/auth/request_guard.hpp>
#include <jitgate/auth/token_exchange.hpp>
#include <jitgate/devauth/server.hpp>
#include <jitgate/gateway/config.hpp>
#include <jitgate/gateway/connect.hpp>
#include <jitgate/gateway/gateway.hpp>
#include <jitgate/gateway/http_upstream.hpp>
#include <jitgate/mcp/server.hpp>
#include <jitgate/observe/metrics.hpp>
#include <jitgate/transport/http_server.hpp>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <atomic>

#include "support/raw_http.hpp"

namespace gw = jitgate::gateway;
namespace json = boost::json;
using namespace jitgate;
using testsupport::RawClient;
using testsupport::RawResponse;
using namespace std::chrono_literals;

namespace {

const std::string kGatewayAudience = "http://gateway.test/mcp";
const std::string kUpstreamAudience = "http://upstream.test/mcp";
constexpr int kCredentials = static_cast<int>(gw::UpstreamError::credentials);

// A string member ("" when absent or not a string).
std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::string form(const std::vector<std::pair<std::string, std::string>>& f) { return auth::form_encode(f); }

// The JSON-RPC message of a response that may come as JSON or as one SSE event.
json::object message_of(const RawResponse& r) {
  json::value v = r.json();
  if (!v.is_object()) {
    const auto& body = r.msg.body();
    auto at = body.rfind("data: ");
    if (at == std::string::npos) return {};
    v = json::parse(body.substr(at + 6, body.find('\n', at) - at - 6));
  }
  return v.as_object();
}

// A resource server that accepts tokens from `issuer` for `audience` only, with `scopes_for_calls`
// needed for tools/call.
std::shared_ptr<auth::RequestGuard> guard_for(const std::string& issuer, const std::string& jwks, const std::string& audience,
                                              std::set<std::string> scopes_for_calls = {}) {
  auth::JwtOptions o;
  o.issuer = issuer;
  o.audiences = {audience};
  o.algorithms = {"ES256"};
  auto verifier = std::make_shared<auth::JwtVerifier>(o, std::make_shared<auth::StaticKeySource>(auth::KeySet::parse(jwks)));
  auth::ResourceMetadata md{audience, {issuer}, {"notes:read"}, "test"};
  std::map<std::string, std::set<std::string>, std::less<>> required;
  if (!scopes_for_calls.empty()) required["tools/call"] = std::move(scopes_for_calls);
  return std::make_shared<auth::ScopeGuard>(md, verifier, required);
}

class TokenExchange : public ::testing::Test {
 protected:
  void SetUp() override {
    devauth::Options o;
    o.resources = {kGatewayAudience, kUpstreamAudience};
    devauth::Client app;  // the MCP client: its own token is for the gateway
    app.client_id = "app";
    app.client_secret = "app-secret";
    app.grant_types = {"client_credentials"};
    app.scope = "notes:read notes:write";
    devauth::Client gateway;  // jitgate: may exchange tokens addressed to it
    gateway.client_id = "gateway";
    gateway.client_secret = "gateway-secret";
    gateway.grant_types = {std::string(auth::kTokenExchangeGrant)};
    gateway.exchange_audiences = {kGatewayAudience};
    devauth::Client rogue;  // a confidential client without the exchange grant
    rogue.client_id = "rogue";
    rogue.client_secret = "rogue-secret";
    rogue.grant_types = {"client_credentials"};
    o.clients = {app, gateway, rogue};
    o.scopes = {{"notes:read", "Read"}, {"notes:write", "Write"}};
    as_ = std::make_unique<devauth::DevAuthServer>(std::move(o));
    as_port_ = as_->listen();
    as_->start();
    auto jwks = http_get(as_port_, "/jwks");
    ASSERT_EQ(jwks.status, 200u);
    jwks_ = jwks.msg.body();

    // The upstream: every tools/call needs notes:read in a token for the upstream itself.
    upstream_ = std::make_unique<mcp::Server>(mcp::ServerOptions{.info = {"upstream", "1", ""}});
    upstream_->add_tool(mcp::Tool{"whoami", "", "the caller's token, as the upstream saw it"},
                        [this](const json::object&, mcp::RequestContext& ctx) {
                          ++upstream_calls_;
                          auto who = ctx.session().principal();
                          json::object o;
                          if (who) {
                            o["sub"] = who->subject;
                            o["client_id"] = who->client_id;
                            o["token_hash"] = who->token_hash;
                            for (const char* k : {"aud", "act", "scope"})
                              if (const auto* v = who->claims.if_contains(k)) o[k] = *v;
                          }
                          return mcp::ToolResult::text(json::serialize(o));
                        });
    transport::HttpOptions uh;
    uh.threads = 2;
    uh.guard = guard_for(as_->issuer(), jwks_, kUpstreamAudience, {"notes:read"});
    upstream_http_ = std::make_unique<transport::HttpServer>(*upstream_, uh);
    upstream_port_ = upstream_http_->listen();
    upstream_http_->start();
  }

  // The gateway in front of the upstream, exchanging with `client` for `scopes`.
  void start_gateway(const std::string& client, const std::string& secret, std::vector<std::string> scopes = {},
                     gw::SessionMode mode = gw::SessionMode::per_subject) {
    metrics_ = std::make_shared<observe::Registry>();
    gateway_server_ = std::make_unique<mcp::Server>(mcp::ServerOptions{.info = {"gw", "1", ""}, .metrics = metrics_});
    // As `jitgate serve` builds it from gateway.yaml.
    gw::UpstreamConfig u;
    u.name = "notes";
    u.tool_prefix = "notes.";
    u.sessions = mode;
    u.timeout = 5s;
    u.backoff_initial = 50ms;
    u.http = gw::HttpSettings{};
    u.http->url = "http://127.0.0.1:" + std::to_string(upstream_port_) + "/mcp";
    auth::TokenExchangeOptions t;
    t.token_endpoint = as_->issuer() + "/token";
    t.client_id = client;
    t.client_secret = secret;
    t.resource = kUpstreamAudience;
    t.scopes = std::move(scopes);
    u.http->token_exchange = t;
    auto spec = gw::make_spec(u);
    exchanger_ = spec.exchange;
    ASSERT_TRUE(exchanger_);
    gw::GatewayOptions go;
    go.startup_timeout = 10s;
    go.log = [this](std::string_view, gw::LogLevel, std::string_view text) {
      std::lock_guard l(log_mu_);
      logs_.emplace_back(text);
    };
    gateway_ = std::make_unique<gw::Gateway>(*gateway_server_, go);
    gateway_->add(std::move(spec));
    ASSERT_TRUE(gateway_->start());
    transport::HttpOptions gh;
    gh.threads = 2;
    gh.metrics = metrics_;
    gh.guard = guard_for(as_->issuer(), jwks_, kGatewayAudience);
    gateway_http_ = std::make_unique<transport::HttpServer>(*gateway_server_, gh);
    gateway_port_ = gateway_http_->listen();
    gateway_http_->start();
  }

  void TearDown() override {
    if (gateway_http_) gateway_http_->stop();
    if (gateway_) gateway_->stop();
    if (gateway_server_) gateway_server_->join();
    if (upstream_http_) upstream_http_->stop();
    if (upstream_) upstream_->join();
    if (as_) as_->stop();
  }

  static RawResponse http_get(std::uint16_t port, const std::string& target) {
    RawClient c(port);
    c.write("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    return c.read();
  }
  static RawResponse send(std::uint16_t port, const std::string& bytes) {
    RawClient c(port);
    c.write(bytes);
    return c.read();
  }

  // A client_credentials token of `client` for `resource`.
  std::string token_for(const std::string& client, const std::string& secret, const std::string& resource,
                        const std::string& scope = "") {
    std::vector<std::pair<std::string, std::string>> f{
        {"grant_type", "client_credentials"}, {"client_id", client}, {"client_secret", secret}, {"resource", resource}};
    if (!scope.empty()) f.emplace_back("scope", scope);
    auto body = form(f);
    auto r = send(as_port_,
                  "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  "Content-Length: " +
                      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    EXPECT_EQ(r.status, 200u) << r.msg.body();
    return r.status == 200 ? std::string(r.json().at("access_token").as_string()) : "";
  }

  static std::string bearer(const std::string& t) { return t.empty() ? "" : "Authorization: Bearer " + t + "\r\n"; }

  std::string open_session(std::uint16_t port, const std::string& tok) {
    auto r = send(port, testsupport::post(testsupport::initialize_body(), bearer(tok)));
    EXPECT_EQ(r.status, 200u) << r.msg.body();
    std::string sid = r.header("Mcp-Session-Id");
    send(port, testsupport::post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", headers(sid, tok)));
    return sid;
  }
  static std::string headers(const std::string& sid, const std::string& tok) {
    return "Mcp-Session-Id: " + sid + "\r\nMCP-Protocol-Version: 2025-11-25\r\n" + bearer(tok);
  }
  // tools/call through the gateway; the whole JSON-RPC response.
  json::object call(const std::string& sid, const std::string& tok, const std::string& tool = "notes.whoami") {
    auto r = send(gateway_port_, testsupport::post(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":")" + tool +
                                                       R"(","arguments":{}}})",
                                                   headers(sid, tok)));
    EXPECT_EQ(r.status, 200u) << r.msg.body();
    return message_of(r);
  }
  // What whoami reported, parsed.
  static json::object seen(const json::object& response) {
    const auto* result = response.if_contains("result");
    if (!result) return {};
    return json::parse(result->at("content").at(0).at("text").as_string()).as_object();
  }
  bool logged(std::string_view needle) {
    std::lock_guard l(log_mu_);
    for (const auto& s : logs_)
      if (s.find(needle) != std::string::npos) return true;
    return false;
  }
  bool logged_secret(const std::string& secret) {
    std::lock_guard l(log_mu_);
    for (const auto& s : logs_)
      if (s.find(secret) != std::string::npos) return true;
    return false;
  }

  std::unique_ptr<devauth::DevAuthServer> as_;
  std::uint16_t as_port_ = 0;
  std::string jwks_;
  std::unique_ptr<mcp::Server> upstream_;
  std::unique_ptr<transport::HttpServer> upstream_http_;
  std::uint16_t upstream_port_ = 0;
  std::atomic<int> upstream_calls_{0};
  std::shared_ptr<observe::Registry> metrics_;
  std::shared_ptr<auth::TokenExchanger> exchanger_;
  std::unique_ptr<mcp::Server> gateway_server_;
  std::unique_ptr<gw::Gateway> gateway_;
  std::unique_ptr<transport::HttpServer> gateway_http_;
  std::uint16_t gateway_port_ = 0;
  std::mutex log_mu_;
  std::vector<std::string> logs_;
};

TEST_F(TokenExchange, TheUpstreamGetsAnExchangedTokenNeverTheCallers) {
  start_gateway("gateway", "gateway-secret", {"notes:read"});
  std::string tok = token_for("app", "app-secret", kGatewayAudience);
  ASSERT_FALSE(tok.empty());
  std::string client_hash = auth::token_hash(tok);

  // Forwarding the caller's token would not even work: the upstream refuses a token for the gateway.
  std::string direct = open_session(upstream_port_, "");
  auto refused =
      send(upstream_port_,
           testsupport::post(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}})",
                             headers(direct, tok)));
  EXPECT_EQ(refused.status, 401u) << refused.msg.body();
  EXPECT_EQ(upstream_calls_.load(), 0);

  std::string sid = open_session(gateway_port_, tok);
  auto first = call(sid, tok);
  auto who = seen(first);
  ASSERT_FALSE(who.empty()) << json::serialize(first);
  EXPECT_EQ(str(who, "sub"), "app");                            // the same caller ...
  EXPECT_EQ(str(who, "aud"), kUpstreamAudience);                // ... in a token for the upstream,
  EXPECT_EQ(str(who, "client_id"), "gateway");                  // issued to the gateway,
  EXPECT_EQ(str(who.at("act").as_object(), "sub"), "gateway");  // which acts for the caller (RFC 8693 act),
  EXPECT_EQ(str(who, "scope"), "notes:read");                   // narrowed to what the gateway asked for;
  EXPECT_NE(str(who, "token_hash"), client_hash);               // not the caller's token
  EXPECT_EQ(upstream_calls_.load(), 1);

  // The second call reuses the exchanged token.
  auto second = call(sid, tok);
  EXPECT_EQ(str(seen(second), "token_hash"), str(who, "token_hash"));
  auto stats = exchanger_->stats();
  EXPECT_EQ(stats.exchanges, 1u);
  EXPECT_GE(stats.hits, 1u);
  std::string m = metrics_->render();
  EXPECT_NE(m.find(R"(jitgate_token_exchanges_total{upstream="notes",outcome="exchanged"} 1)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(jitgate_token_exchanges_total{upstream="notes",outcome="cached"} 1)"), std::string::npos) << m;

  // A second session of the same subject with another token gets its own exchange.
  std::string tok2 = token_for("app", "app-secret", kGatewayAudience, "notes:read");
  std::string sid2 = open_session(gateway_port_, tok2);
  auto third = call(sid2, tok2);
  EXPECT_EQ(str(seen(third), "sub"), "app");
  EXPECT_NE(str(seen(third), "token_hash"), str(who, "token_hash"));
  EXPECT_EQ(exchanger_->stats().exchanges, 2u);
  EXPECT_FALSE(logged_secret(tok));
  EXPECT_FALSE(logged_secret(tok2));
}

TEST_F(TokenExchange, AnAnonymousCallerReachesTheUpstreamWithoutAToken) {
  start_gateway("gateway", "gateway-secret");
  std::string sid = open_session(gateway_port_, "");
  auto r = call(sid, "");
  // The upstream wants a token for tools/call: the anonymous caller gets its refusal as an error.
  ASSERT_TRUE(r.contains("error")) << json::serialize(r);
  EXPECT_EQ(upstream_calls_.load(), 0);
  EXPECT_EQ(exchanger_->stats().exchanges + exchanger_->stats().failures, 0u);
}

TEST_F(TokenExchange, ARefusedExchangeIsAnErrorAndNothingReachesTheUpstream) {
  start_gateway("rogue", "rogue-secret");  // not allowed to exchange
  std::string tok = token_for("app", "app-secret", kGatewayAudience);
  std::string sid = open_session(gateway_port_, tok);
  auto r = call(sid, tok);
  ASSERT_TRUE(r.contains("error")) << json::serialize(r);
  EXPECT_EQ(r.at("error").at("code").as_int64(), kCredentials);
  EXPECT_NE(std::string(r.at("error").at("message").as_string()).find("unauthorized_client"), std::string::npos)
      << json::serialize(r);
  EXPECT_EQ(upstream_calls_.load(), 0);
  EXPECT_TRUE(logged("token exchange for app"));
  EXPECT_FALSE(logged_secret(tok));
  std::string m = metrics_->render();
  EXPECT_NE(m.find(R"(jitgate_token_exchanges_total{upstream="notes",outcome="failed"} 1)"), std::string::npos) << m;
}

TEST_F(TokenExchange, AScopeTheCallerDoesNotHoldIsNeverGranted) {
  start_gateway("gateway", "gateway-secret", {"notes:write"});
  std::string tok = token_for("app", "app-secret", kGatewayAudience, "notes:read");  // no notes:write
  std::string sid = open_session(gateway_port_, tok);
  auto r = call(sid, tok);
  ASSERT_TRUE(r.contains("error")) << json::serialize(r);
  EXPECT_EQ(r.at("error").at("code").as_int64(), kCredentials);
  EXPECT_NE(std::string(r.at("error").at("message").as_string()).find("invalid_scope"), std::string::npos);
  EXPECT_EQ(upstream_calls_.load(), 0);
}

TEST_F(TokenExchange, PerSessionConnectionsExchangeToo) {
  start_gateway("gateway", "gateway-secret", {}, gw::SessionMode::per_session);
  std::string tok = token_for("app", "app-secret", kGatewayAudience);
  std::string sid = open_session(gateway_port_, tok);
  auto who = seen(call(sid, tok));
  ASSERT_FALSE(who.empty());
  EXPECT_EQ(str(who, "aud"), kUpstreamAudience);
  EXPECT_EQ(str(who, "scope"), "notes:read notes:write");  // no scopes asked for: the caller's
}

TEST(TokenExchangeConfig, ASharedConnectionIsRefused) {
  mcp::Server server(mcp::ServerOptions{});
  gw::Gateway g(server);
  gw::UpstreamSpec spec;
  spec.name = "x";
  spec.sessions = gw::SessionMode::shared;
  auth::TokenExchangeOptions t{.token_endpoint = "http://127.0.0.1:1/token", .client_id = "c", .resource = "urn:x"};
  spec.exchange = std::make_shared<auth::TokenExchanger>(t);
  spec.connect = [](gw::UpstreamHandlers) { return std::unique_ptr<gw::Upstream>(); };
  EXPECT_THROW(g.add(std::move(spec)), std::invalid_argument);
}

}  // namespace
