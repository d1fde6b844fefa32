#include "jitgate/auth/config.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "support/signer.hpp"

using namespace jitgate::auth;

namespace {

const char* kGood = R"(resource: HTTP://LocalHost:8080/mcp/
resource_name: Notes
scopes_supported: [notes:read]
authorization_servers:
  - issuer: https://as.example.com
    jwt:
      algorithms: [ES256]
  - issuer: https://opaque.example.com
    introspection:
      endpoint: https://opaque.example.com/introspect
      client_id: rs
      client_secret: s3cret
      client_auth: client_secret_post
audiences: [https://legacy.example.com]
clock_skew: 30
role_claims: [realm_access.roles, groups]
jwks: {min_ttl: 30, max_ttl: 600, refetch_interval: 5, max_stale: 120}
required_scopes:
  tools/list: [notes:read]
  "tools/call:delete": [notes:read, notes:admin]
)";

std::string error_of(const std::string& yaml) {
  try {
    parse_auth_config(yaml, "auth.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(AuthConfig, ParsesEveryField) {
  auto c = parse_auth_config(kGood);
  EXPECT_EQ(c.metadata.resource, "http://localhost:8080/mcp");
  EXPECT_EQ(c.metadata.authorization_servers.size(), 2u);
  ASSERT_EQ(c.issuers.size(), 2u);
  EXPECT_TRUE(c.issuers[0].jwt);
  EXPECT_EQ(c.issuers[0].algorithms.size(), 1u);
  EXPECT_FALSE(c.issuers[1].jwt);
  EXPECT_TRUE(c.issuers[1].introspection);
  EXPECT_TRUE(c.issuers[1].client_secret_post);
  EXPECT_EQ(c.clock_skew_seconds, 30);
  EXPECT_EQ(c.jwks_max_stale, 120);
  EXPECT_EQ(c.required_scopes.at("tools/call:delete").size(), 2u);
}

TEST(AuthConfig, ErrorsNameFileLineAndColumn) {
  EXPECT_EQ(error_of("resource: https://x/mcp\nauthorization_servers: [{issuer: https://as}]\nscopes: [a]\n"),
            "auth.yaml:3:1: unknown field 'scopes' in the configuration");
  EXPECT_EQ(error_of("authorization_servers: [{issuer: https://as}]\n"),
            "auth.yaml:1:1: 'resource' (the canonical URI of the MCP endpoint) is required");
  EXPECT_EQ(error_of("resource: not a uri\nauthorization_servers: [{issuer: https://as}]\n"),
            "auth.yaml:1:11: resource must be an absolute http(s) URI");
  EXPECT_EQ(error_of("resource: https://x/mcp\nauthorization_servers:\n  - issuer: https://as\n    jwt: {algorithms: [HS256]}\n"),
            "auth.yaml:4:24: algorithm HS256 is refused: tokens of an asymmetric issuer are never checked with a shared secret");
  EXPECT_EQ(error_of("resource: https://x/mcp\nauthorization_servers: []\n"),
            "auth.yaml:2:24: 'authorization_servers' must list at least one issuer");
  EXPECT_EQ(error_of("resource: https://x/mcp\nauthorization_servers: [{issuer: https://as}]\nrequired_scopes: {ping: [a]}\n"),
            "auth.yaml:3:19: 'ping' is not a method (such as tools/call) or method:name");
  EXPECT_EQ(error_of("resource: https://x/mcp\nauthorization_servers: [{issuer: https://as, introspection: {client_id: a}}]\n"),
            "auth.yaml:2:61: introspection needs client_secret or client_secret_env");
  EXPECT_NE(error_of("resource: [unclosed\n"), "");
  EXPECT_EQ(error_of("resource: https://x/mcp\nauthorization_servers: [{issuer: https://as}]\nclock_skew: 9999\n"),
            "auth.yaml:3:13: clock_skew must be between 0 and 600");
}

TEST(AuthConfig, SecretsFromTheEnvironment) {
  ::setenv("JITGATE_TEST_SECRET", "from-env", 1);
  auto c = parse_auth_config(
      "resource: https://x/mcp\nauthorization_servers: [{issuer: https://as, introspection: {client_id: a, client_secret_env: JITGATE_TEST_SECRET}}]\n");
  EXPECT_EQ(c.issuers[0].client_secret, "from-env");
  EXPECT_NE(
      error_of(
          "resource: https://x/mcp\nauthorization_servers: [{issuer: https://as, introspection: {client_id: a, client_secret_env: JITGATE_NOT_SET_XYZ}}]\n"),
      "");
}

TEST(AuthConfig, GuardVerifiesThroughDiscoveredKeys) {
  auto key = testsupport::SigningKey::ec("k1");
  Fetcher fetch = [&](const FetchRequest& r, std::string&) -> std::optional<FetchResponse> {
    if (r.url == "https://as.example.com/.well-known/oauth-authorization-server")
      return FetchResponse{200, R"({"issuer":"https://as.example.com","jwks_uri":"https://as.example.com/jwks"})", ""};
    if (r.url == "https://as.example.com/jwks") return FetchResponse{200, key.jwks(), "max-age=60"};
    return FetchResponse{404, "", ""};
  };
  auto c = parse_auth_config(
      "resource: https://mcp.example.com/mcp\nauthorization_servers: [{issuer: https://as.example.com}]\n"
      "required_scopes: {tools/call: [a]}\n");
  auto guard = make_guard(c, fetch);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto token = key.sign(boost::json::object{{"iss", "https://as.example.com"},
                                            {"sub", "u"},
                                            {"aud", "https://mcp.example.com/mcp"},
                                            {"scope", "a"},
                                            {"exp", now + 60}});
  auto ok = guard->check("Bearer " + token, AccessRequest{"tools/call", "x"});
  EXPECT_TRUE(ok.allowed) << ok.description;
  ASSERT_TRUE(ok.principal);
  EXPECT_EQ(ok.principal->subject, "u");
  auto anon = guard->check("", AccessRequest{"tools/call", "x"});
  EXPECT_EQ(anon.status, 401u);
  auto other = key.sign(boost::json::object{
      {"iss", "https://evil.example.com"}, {"sub", "u"}, {"aud", "https://mcp.example.com/mcp"}, {"exp", now + 60}});
  EXPECT_EQ(guard->check("Bearer " + other, AccessRequest{"ping", ""}).description, "token from another issuer");
}

TEST(AuthConfig, TypRuleTokenPrefixesAndIntrospectionLimits) {
  auto c = parse_auth_config(
      "resource: https://x/mcp\nauthorization_servers:\n"
      "  - {issuer: https://as, jwt: {require_at_jwt_typ: true}}\n"
      "  - {issuer: https://gh, introspection: {endpoint: https://gh/i, client_id: a, client_secret: b, token_prefixes: [gho_, ghu_]}}\n"
      "  - {issuer: https://op, introspection: {endpoint: https://op/i, client_id: a, client_secret: b}}\n"
      "introspection_limits: {max_token_bytes: 2048, negative_cache_seconds: 10, negative_cache_entries: 500, per_address_burst: 3,\n"
      "  per_address_per_minute: 30, max_addresses: 100, global_burst: 50, global_per_minute: 600}\n");
  EXPECT_TRUE(c.issuers[0].require_at_jwt_typ);
  EXPECT_FALSE(c.issuers[2].require_at_jwt_typ);
  EXPECT_EQ(c.issuers[1].token_prefixes, (std::vector<std::string>{"gho_", "ghu_"}));
  const auto& l = c.introspection_limits;
  EXPECT_EQ(l.max_token_bytes, 2048u);
  EXPECT_EQ(l.negative_ttl.count(), 10);
  EXPECT_EQ(l.negative_entries, 500u);
  EXPECT_EQ(l.per_address_burst, 3u);
  EXPECT_EQ(l.per_address_per_minute, 30u);
  EXPECT_EQ(l.max_addresses, 100u);
  EXPECT_EQ(l.global_burst, 50u);
  EXPECT_EQ(l.global_per_minute, 600u);
  auto d = parse_auth_config("resource: https://x/mcp\nauthorization_servers: [{issuer: https://as}]\n");
  EXPECT_FALSE(d.issuers[0].require_at_jwt_typ);  // the default: interoperable with providers that send typ JWT or none
  EXPECT_EQ(d.introspection_limits.per_address_burst, 20u);
  EXPECT_EQ(d.introspection_limits.per_address_per_minute, 120u);
  EXPECT_EQ(d.introspection_limits.negative_ttl.count(), 30);

  EXPECT_EQ(
      error_of("resource: https://x/mcp\nauthorization_servers: [{issuer: https://as, jwt: {require_at_jwt_typ: maybe}}]\n"),
      "auth.yaml:2:72: require_at_jwt_typ must be true or false");
  EXPECT_EQ(
      error_of(
          "resource: https://x/mcp\nauthorization_servers: [{issuer: https://as}]\nintrospection_limits: {per_address_burst: 0}\n"),
      "auth.yaml:3:43: introspection_limits.per_address_burst must be between 1 and 100000");
  EXPECT_EQ(
      error_of("resource: https://x/mcp\nauthorization_servers: [{issuer: https://as}]\nintrospection_limits: {burst: 5}\n"),
      "auth.yaml:3:24: unknown field 'burst' in introspection_limits");
  EXPECT_EQ(error_of("resource: https://x/mcp\nauthorization_servers: [{issuer: https://as}, {issuer: https://as}]\n"),
            "auth.yaml:2:56: issuer https://as is listed twice");
}
}  // namespace
