// The resource server over HTTP: challenges decided before any response byte, for both generations.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>

#include "devauth/http.hpp"
#include "jitgate/auth/config.hpp"
#include "jitgate/auth/jwt_verifier.hpp"
#include "jitgate/auth/request_guard.hpp"
#include "jitgate/auth/www_authenticate.hpp"
#include "jitgate/mcp/server.hpp"
#include "jitgate/observe/metrics.hpp"
#include "jitgate/transport/http_server.hpp"
#include "support/raw_http.hpp"
#include "support/signer.hpp"

namespace json = boost::json;
using namespace jitgate;
using namespace testsupport;

namespace {

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class HttpAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.add_tool(mcp::Tool{"read_notes", "", "signed-in"},
                     [](const json::object&, mcp::RequestContext&) { return mcp::ToolResult::text("notes"); });
    server_.add_tool(mcp::Tool{"delete_notes", "", "elevated"},
                     [](const json::object&, mcp::RequestContext&) { return mcp::ToolResult::text("deleted"); });
    auth::ResourceMetadata md{"http://localhost/mcp", {"https://as.example.com"}, {"notes:read"}, "Notes"};
    auth::JwtOptions o;
    o.issuer = "https://as.example.com";
    o.audiences = {"http://localhost/mcp"};
    o.algorithms = {"ES256"};
    auto verifier =
        std::make_shared<auth::JwtVerifier>(o, std::make_shared<auth::StaticKeySource>(auth::KeySet::parse(key_.jwks())));
    transport::HttpOptions h;
    h.threads = 2;
    h.guard = std::make_shared<auth::ScopeGuard>(
        md, verifier,
        std::map<std::string, std::set<std::string>, std::less<>>{{"tools/list", {"notes:read"}},
                                                                  {"tools/call", {"notes:read"}},
                                                                  {"tools/call:delete_notes", {"notes:read", "notes:admin"}}});
    http_ = std::make_unique<transport::HttpServer>(server_, h);
    port_ = http_->listen();
    http_->start();
  }
  void TearDown() override {
    http_->stop();
    http_.reset();
    server_.join();
  }
  std::string token(std::string scope, std::int64_t exp_offset = 300, std::string aud = "http://localhost/mcp") {
    return key_.sign(json::object{{"iss", "https://as.example.com"},
                                  {"sub", "alice"},
                                  {"aud", aud},
                                  {"scope", scope},
                                  {"iat", now_s()},
                                  {"exp", now_s() + exp_offset}});
  }
  RawResponse send(const std::string& bytes) {
    RawClient c(port_);
    c.write(bytes);
    return c.read();
  }
  std::string open_session(const std::string& auth = "") {
    auto r = send(post(initialize_body(), auth));
    EXPECT_EQ(r.status, 200u) << r.msg.body();
    return r.header("Mcp-Session-Id");
  }
  static std::string bearer(const std::string& t) { return "Authorization: Bearer " + t + "\r\n"; }
  std::string call(const std::string& tool) {
    return R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":")" + tool + R"("}})";
  }

  SigningKey key_ = SigningKey::ec("k1");
  mcp::Server server_;
  std::unique_ptr<transport::HttpServer> http_;
  std::uint16_t port_ = 0;
};

TEST_F(HttpAuth, ProtectedResourceMetadataAtBothWellKnownUrlsWithCors) {
  for (const char* path : {"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"}) {
    auto r = send(std::string("GET ") + path + " HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example.com\r\n\r\n");
    ASSERT_EQ(r.status, 200u) << path;
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
    auto j = r.json().as_object();
    EXPECT_EQ(j.at("resource").as_string(), "http://localhost/mcp");
    EXPECT_EQ(j.at("authorization_servers").at(0).as_string(), "https://as.example.com");
    EXPECT_EQ(j.at("scopes_supported").as_array().size(), 1u);
    EXPECT_EQ(j.at("bearer_methods_supported").at(0).as_string(), "header");
    EXPECT_EQ(j.at("resource_name").as_string(), "Notes");
  }
  EXPECT_EQ(send("OPTIONS /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: localhost\r\n\r\n").status, 204u);
}

TEST_F(HttpAuth, AnonymousPublicTierThenTheThreeChallenges) {
  auto sid = open_session();  // initialize is public
  std::string h = "Mcp-Session-Id: " + sid + "\r\nMCP-Protocol-Version: 2025-11-25\r\n";
  auto missing = send(post(R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})", h));
  ASSERT_EQ(missing.status, 401u);
  auto c = auth::parse_www_authenticate(missing.header("WWW-Authenticate"));
  ASSERT_TRUE(c);
  EXPECT_FALSE((*c)[0].param("error"));  // no error when no token was presented
  EXPECT_EQ((*c)[0].param("scope"), "notes:read");
  EXPECT_EQ((*c)[0].param("resource_metadata"), "http://localhost/.well-known/oauth-protected-resource/mcp");

  auto ok = send(post(call("read_notes"), h + bearer(token("notes:read"))));
  EXPECT_EQ(ok.status, 200u);
  EXPECT_EQ(ok.json().at("result").at("content").at(0).at("text").as_string(), "notes");

  auto step_up = send(post(call("delete_notes"), h + bearer(token("notes:read"))));
  ASSERT_EQ(step_up.status, 403u);
  auto s = auth::parse_www_authenticate(step_up.header("WWW-Authenticate"));
  EXPECT_EQ((*s)[0].param("error"), "insufficient_scope");
  EXPECT_EQ((*s)[0].param("scope"), "notes:admin notes:read");

  EXPECT_EQ(send(post(call("delete_notes"), h + bearer(token("notes:read notes:admin")))).status, 200u);
}

TEST_F(HttpAuth, AttackTable) {
  auto sid = open_session();
  std::string h = "Mcp-Session-Id: " + sid + "\r\nMCP-Protocol-Version: 2025-11-25\r\n";
  std::string list = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";
  SigningKey stranger = SigningKey::ec("k1");
  struct Row {
    const char* name;
    std::string request;
    unsigned status;
    const char* error;
  };
  std::string good = token("notes:read");
  std::vector<Row> rows{
      {"no token", post(list, h), 401, nullptr},
      {"expired", post(list, h + bearer(token("notes:read", -120))), 401, "invalid_token"},
      {"another resource", post(list, h + bearer(token("notes:read", 300, "https://other.example.com/mcp"))), 401,
       "invalid_token"},
      {"signed by another key",
       post(list,
            h + bearer(stranger.sign(json::object{
                    {"iss", "https://as.example.com"}, {"sub", "m"}, {"aud", "http://localhost/mcp"}, {"exp", now_s() + 60}}))),
       401, "invalid_token"},
      {"garbage", post(list, h + bearer("not-a-jwt")), 401, "invalid_token"},
      {"alg none", post(list, h + bearer(b64url(R"({"alg":"none"})") + "." + b64url(R"({"sub":"x"})") + ".")), 401,
       "invalid_token"},
      {"not Bearer", post(list, h + "Authorization: Basic YTpi\r\n"), 401, "invalid_token"},
      {"oversized", post(list, h + bearer(std::string(10000, 'a') + "." + std::string(10, 'b') + ".c")), 401, "invalid_token"},
      {"token in the query string", post(list, h, "localhost", "/mcp?access_token=" + good), 400, "invalid_request"},
      {"two Authorization headers", post(list, h + bearer(good) + bearer(good)), 400, "invalid_request"},
      {"two Authorization headers, spelt otherwise and apart",
       post(list, h + "authorization: Bearer " + good + "\r\nX-Other: 1\r\nAUTHORIZATION: Bearer " + good + "\r\n"), 400,
       "invalid_request"},
      {"invalid token on a public method", post(R"({"jsonrpc":"2.0","id":9,"method":"ping"})", h + bearer("x.y.z")), 401,
       "invalid_token"},
  };
  for (const auto& r : rows) {
    auto resp = send(r.request);
    EXPECT_EQ(resp.status, r.status) << r.name;
    auto c = auth::parse_www_authenticate(resp.header("WWW-Authenticate"));
    ASSERT_TRUE(c) << r.name;
    if (r.error) {
      EXPECT_EQ((*c)[0].param("error"), r.error) << r.name;
    } else {
      EXPECT_FALSE((*c)[0].param("error")) << r.name;
    }
    EXPECT_EQ(resp.header("WWW-Authenticate").find(good), std::string::npos) << "never echo a token";
  }
  EXPECT_EQ(send(post(list, h + bearer(good))).status, 200u);                              // still serving
  EXPECT_EQ(send(post(list, h + "authorization: Bearer " + good + "\r\n")).status, 200u);  // the name is case-insensitive
}

TEST_F(HttpAuth, StatelessRequestsGetTheSameChallenges) {
  std::string body =
      R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"delete_notes","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})";
  std::string h = "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: delete_notes\r\n";
  EXPECT_EQ(send(post(body, h)).status, 401u);
  EXPECT_EQ(send(post(body, h + bearer(token("notes:read")))).status, 403u);
  auto ok = send(post(body, h + bearer(token("notes:read notes:admin"))));
  EXPECT_EQ(ok.status, 200u);
  EXPECT_EQ(ok.json().at("result").at("content").at(0).at("text").as_string(), "deleted");
}

// The JSON body of a refusal says what its challenge says: the same OAuth error code, or none when
// the challenge has none (a request without a token).
TEST_F(HttpAuth, RefusalBodiesAgreeWithTheirChallenges) {
  auto sid = open_session();
  std::string h = "Mcp-Session-Id: " + sid + "\r\nMCP-Protocol-Version: 2025-11-25\r\n";
  std::string list = R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})";
  for (const std::string& request :
       {post(list, h), post(list, h + bearer("garbage")), post(call("delete_notes"), h + bearer(token("notes:read"))),
        post(list, h, "localhost", "/mcp?access_token=x")}) {
    auto r = send(request);
    ASSERT_GE(r.status, 400u) << request;
    auto c = auth::parse_www_authenticate(r.header("WWW-Authenticate"));
    ASSERT_TRUE(c) << request;
    auto body = r.json();
    ASSERT_TRUE(body.is_object()) << r.msg.body();
    auto error = (*c)[0].param("error");
    if (error) {
      EXPECT_EQ(body.as_object().at("error").as_string(), *error) << r.msg.body();
    } else {
      EXPECT_FALSE(body.as_object().contains("error")) << r.msg.body();
    }
    EXPECT_TRUE(body.as_object().at("error_description").is_string());
  }
}

// A key source that throws: a verifier bug (or a library's exception) on the auth pool.
class ThrowingKeySource : public auth::KeySource {
 public:
  explicit ThrowingKeySource(std::shared_ptr<const auth::KeySet> keys) : keys_(std::move(keys)) {}
  std::shared_ptr<const auth::KeySet> keys(std::string_view) override {
    if (throws_left > 0) {
      --throws_left;
      throw std::runtime_error("boom");
    }
    return keys_;
  }
  std::atomic<int> throws_left{2};

 private:
  std::shared_ptr<const auth::KeySet> keys_;
};

TEST(HttpAuthContainment, AThrowingVerifierFailsTheRequestClosedAndTheServerLives) {
  SigningKey key = SigningKey::ec("k1");
  mcp::Server server;
  server.add_tool(mcp::Tool{"read_notes", "", "signed-in"},
                  [](const json::object&, mcp::RequestContext&) { return mcp::ToolResult::text("notes"); });
  auth::JwtOptions o;
  o.issuer = "https://as.example.com";
  o.audiences = {"http://localhost/mcp"};
  auto source = std::make_shared<ThrowingKeySource>(auth::KeySet::parse(key.jwks()));
  transport::HttpOptions h;
  h.threads = 2;
  h.metrics = std::make_shared<observe::Registry>();
  h.guard = std::make_shared<auth::ScopeGuard>(auth::ResourceMetadata{"http://localhost/mcp", {"https://as.example.com"}, {}, ""},
                                               std::make_shared<auth::JwtVerifier>(o, source),
                                               std::map<std::string, std::set<std::string>, std::less<>>{{"tools/call", {}}});
  transport::HttpServer http(server, h);
  auto port = http.listen();
  http.start();
  auto send = [&](const std::string& bytes) {
    RawClient c(port);
    c.write(bytes);
    return c.read();
  };
  std::string token = key.sign(
      json::object{{"iss", "https://as.example.com"}, {"sub", "alice"}, {"aud", "http://localhost/mcp"}, {"exp", now_s() + 300}});
  std::string call = R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_notes"}})";
  std::string headers =
      "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: read_notes\r\nAuthorization: Bearer " + token +
      "\r\n";
  std::string body =
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_notes","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})";
  for (int i = 0; i < 2; ++i) {
    auto r = send(post(body, headers));
    EXPECT_EQ(r.status, 401u);
    auto c = auth::parse_www_authenticate(r.header("WWW-Authenticate"));
    ASSERT_TRUE(c);
    EXPECT_EQ((*c)[0].param("error"), "invalid_token");
    EXPECT_EQ(r.header("WWW-Authenticate").find(token), std::string::npos);
  }
  auto ok = send(post(body, headers));  // the process and the server live: the next request is served
  EXPECT_EQ(ok.status, 200u) << ok.msg.body();
  auto metrics = send("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_NE(metrics.msg.body().find("jitgate_contained_exceptions_total{where=\"auth.pool\"} 2"), std::string::npos)
      << metrics.msg.body();
  http.stop();
  server.join();
}

// Over HTTP: the client's address reaches the guard, and a burst of garbage tokens from it costs
// the authorization server at most the configured burst of introspection calls.
TEST(HttpAuthIntrospection, ABurstOfGarbageTokensCostsAtMostTheBurst) {
  std::atomic<int> calls{0};
  devauth::Listener as(devauth::ListenerOptions{}, [&](const devauth::Request& r) {
    if (r.path() == "/introspect") ++calls;
    return devauth::Response{200, {{"Content-Type", "application/json"}}, R"({"active":false})"};
  });
  std::string issuer = "http://127.0.0.1:" + std::to_string(as.listen());
  as.start();
  mcp::Server server;
  server.add_tool(mcp::Tool{"read_notes", "", "signed-in"},
                  [](const json::object&, mcp::RequestContext&) { return mcp::ToolResult::text("notes"); });
  transport::HttpOptions h;
  h.threads = 2;
  h.guard =
      auth::make_guard(auth::parse_auth_config("resource: http://localhost/mcp\nauthorization_servers:\n"
                                               "  - {issuer: " +
                                               issuer + ", introspection: {endpoint: " + issuer +
                                               "/introspect, client_id: rs, client_secret: s}}\n"
                                               "introspection_limits: {per_address_burst: 10, per_address_per_minute: 60}\n"));
  transport::HttpServer http(server, h);
  auto port = http.listen();
  http.start();
  std::string body =
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_notes","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})";
  std::map<unsigned, int> statuses;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    RawClient c(port);
    c.write(post(
        body,
        "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: read_notes\r\nAuthorization: Bearer garbage-" +
            std::to_string(i) + "\r\n"));
    ++statuses[c.read().status];
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  http.stop();
  server.join();
  as.stop();
  EXPECT_LE(calls.load(), 10 + static_cast<int>(ms / 1000) + 1);
  EXPECT_EQ(statuses[401], calls.load());
  EXPECT_EQ(statuses[401] + statuses[429], 1000);
  std::printf(
      "HTTP introspection burst: 1000 garbage tokens from 127.0.0.1 -> %d introspection calls, %d x 401, %d x 429 (%.0f ms)\n",
      calls.load(), statuses[401], statuses[429], ms);
}
}  // namespace
