// Tokens go only to the party that issued them, and no client can make an authorization server
// work at will: routing by issuer, the memory of refused tokens, the per-address token buckets.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>

#include "devauth/http.hpp"
#include "jitgate/auth/config.hpp"
#include "jitgate/auth/introspection.hpp"
#include "jitgate/auth/jwt_verifier.hpp"
#include "jitgate/auth/token_router.hpp"
#include "support/signer.hpp"

namespace json = boost::json;
using namespace jitgate;
using namespace jitgate::auth;

namespace {

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What reached one authorization server's introspection endpoint.
struct FakeNetwork {
  std::atomic<int> calls{0};
  std::string answer = R"({"active":false})";
  Fetcher fetcher() {
    return [this](const FetchRequest&, std::string&) -> std::optional<FetchResponse> {
      ++calls;
      return FetchResponse{200, answer, ""};
    };
  }
};

std::shared_ptr<IntrospectionVerifier> introspection(const std::string& issuer, FakeNetwork& net) {
  IntrospectionOptions o;
  o.issuer = issuer;
  o.endpoint = issuer + "/introspect";
  o.client_id = "rs";
  o.client_secret = "s";
  o.audiences = {"https://mcp.example.com/mcp"};
  return std::make_shared<IntrospectionVerifier>(o, net.fetcher());
}

class Router : public ::testing::Test {
 protected:
  Router() {
    JwtOptions o;
    o.issuer = "https://jwt.example.com";
    o.audiences = {"https://mcp.example.com/mcp"};
    o.algorithms = {"ES256"};
    router_ = std::make_shared<TokenRouter>(limits());
    router_->add_jwt_issuer(o.issuer,
                            std::make_shared<JwtVerifier>(o, std::make_shared<StaticKeySource>(KeySet::parse(key_.jwks()))));
    router_->add_introspection_issuer("https://opaque.example.com", introspection("https://opaque.example.com", opaque_));
    router_->add_introspection_issuer("https://github.example.com", introspection("https://github.example.com", prefixed_),
                                      {"gho_"});
  }
  IntrospectionLimits limits() {
    IntrospectionLimits l;
    l.per_address_burst = 5;
    l.per_address_per_minute = 60;
    l.now_ms = [this] { return now_ms_; };
    return l;
  }
  std::string jwt(const std::string& iss) {
    return key_.sign(json::object{{"iss", iss}, {"sub", "u"}, {"aud", "https://mcp.example.com/mcp"}, {"exp", now_s() + 60}});
  }
  std::string error_of(const std::string& token, std::string_view peer = "198.51.100.1") {
    auto v = router_->verify_from(token, peer);
    if (auto* e = std::get_if<TokenError>(&v)) return e->description;
    return "";
  }

  std::int64_t now_ms_ = 1'000'000;
  testsupport::SigningKey key_ = testsupport::SigningKey::ec("k1");
  FakeNetwork opaque_, prefixed_;
  std::shared_ptr<TokenRouter> router_;
};

TEST_F(Router, EachTokenGoesOnlyToItsIssuer) {
  struct Row {
    const char* name;
    std::string token;
    const char* error;
    int opaque_calls, prefixed_calls;
  };
  std::vector<Row> rows{
      {"a JWT of the JWT issuer: verified locally", jwt("https://jwt.example.com"), "", 0, 0},
      {"a JWT of a foreign issuer: refused locally", jwt("https://evil.example.com"), "token from another issuer", 0, 0},
      {"a JWT naming the introspection issuer: introspected there", jwt("https://opaque.example.com"), "token is not active", 1,
       0},
      {"a JWS without iss", testsupport::b64url(R"({"alg":"ES256"})") + "." + testsupport::b64url(R"({"sub":"x"})") + ".c2ln",
       "token names no issuer", 0, 0},
      {"an opaque token: the issuer without prefixes", "opaque-abcdefgh", "token is not active", 1, 0},
      {"an opaque token with a prefix: that issuer", "gho_abcdefgh", "token is not active", 0, 1},
      {"an opaque token too large: refused locally", std::string(5000, 'a'), "token too large", 0, 0},
  };
  for (const auto& r : rows) {
    opaque_.calls = 0;
    prefixed_.calls = 0;
    EXPECT_EQ(error_of(r.token, std::string("192.0.2.") + std::to_string(&r - rows.data())), r.error) << r.name;
    EXPECT_EQ(opaque_.calls, r.opaque_calls) << r.name;
    EXPECT_EQ(prefixed_.calls, r.prefixed_calls) << r.name;
  }
  EXPECT_EQ(router_->stats().refused_locally, 3u);
}

TEST_F(Router, RefusedTokensAreRememberedBriefly) {
  for (int i = 0; i < 100; ++i) EXPECT_EQ(error_of("opaque-garbage"), "token is not active");
  EXPECT_EQ(opaque_.calls, 1);
  EXPECT_EQ(router_->stats().remembered, 99u);
  now_ms_ += 31'000;  // past the 30 s default
  EXPECT_EQ(error_of("opaque-garbage"), "token is not active");
  EXPECT_EQ(opaque_.calls, 2);
  // An answer that is not a verdict (the server is down) is not remembered.
  opaque_.answer = "";
  FakeNetwork down;
  IntrospectionOptions o;
  o.issuer = "https://down.example.com";
  o.endpoint = "https://down.example.com/introspect";
  TokenRouter r(limits());
  int attempts = 0;
  r.add_introspection_issuer(o.issuer, std::make_shared<IntrospectionVerifier>(o, [&](const FetchRequest&, std::string&) {
                               ++attempts;
                               return std::optional<FetchResponse>();
                             }));
  for (int i = 0; i < 3; ++i) r.verify_from("opaque-x", "198.51.100.9");
  EXPECT_EQ(attempts, 3);
}

TEST_F(Router, IntrospectionIsRateLimitedPerAddress) {
  int limited = 0;
  for (int i = 0; i < 50; ++i) {
    auto v = router_->verify_from("garbage-" + std::to_string(i), "203.0.113.7");
    limited += std::get<TokenError>(v).kind == TokenError::Kind::rate_limited;
  }
  EXPECT_EQ(opaque_.calls, 5);  // the burst
  EXPECT_EQ(limited, 45);
  // Another address has its own bucket; the same /64 of IPv6 shares one.
  EXPECT_EQ(error_of("garbage-other", "203.0.113.8"), "token is not active");
  for (int i = 0; i < 5; ++i) error_of("v6-" + std::to_string(i), "2001:db8:1:2::" + std::to_string(i + 1));
  EXPECT_EQ(error_of("v6-next", "2001:db8:1:2:ffff::1"), "too many tokens to check from this client; try again later");
  EXPECT_EQ(error_of("v6-elsewhere", "2001:db8:1:3::1"), "token is not active");
  // One a second comes back.
  int before = opaque_.calls;
  now_ms_ += 1000;
  EXPECT_EQ(error_of("garbage-later", "203.0.113.7"), "token is not active");
  EXPECT_EQ(error_of("garbage-later-2", "203.0.113.7"), "too many tokens to check from this client; try again later");
  EXPECT_EQ(opaque_.calls, before + 1);
  EXPECT_EQ(IntrospectionRateLimiter::address_key("::ffff:203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(IntrospectionRateLimiter::address_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
}

TEST(RateLimiter, TheTableIsBoundedAndForgettingGrantsNothing) {
  std::int64_t now = 0;
  IntrospectionLimits l;
  l.per_address_burst = 2;
  l.per_address_per_minute = 60;
  l.max_addresses = 3;
  l.now_ms = [&] { return now; };
  IntrospectionRateLimiter limiter(l);
  for (const char* a : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) EXPECT_TRUE(limiter.allow(a));
  // Full, and every bucket is in use: a newcomer is refused rather than evicting one.
  EXPECT_FALSE(limiter.allow("10.0.0.4"));
  EXPECT_EQ(limiter.tracked(), 3u);
  now += 1000;  // the oldest bucket is full again: it may be forgotten
  EXPECT_TRUE(limiter.allow("10.0.0.4"));
  EXPECT_EQ(limiter.tracked(), 3u);
}

TEST(RateLimiter, AGlobalBucketBoundsAllAddressesTogether) {
  std::int64_t now = 0;
  IntrospectionLimits l;
  l.global_burst = 10;
  l.global_per_minute = 60;
  l.now_ms = [&] { return now; };
  IntrospectionRateLimiter limiter(l);
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += limiter.allow("10.0.1." + std::to_string(i));
  EXPECT_EQ(allowed, 10);
}

TEST(RouterConfig, OpaqueTokensHaveExactlyOneDestination) {
  FakeNetwork a, b;
  TokenRouter r;
  r.add_introspection_issuer("https://a.example.com", introspection("https://a.example.com", a));
  EXPECT_THROW(r.add_introspection_issuer("https://b.example.com", introspection("https://b.example.com", b)),
               std::invalid_argument);
  std::string error;
  try {
    parse_auth_config(
        "resource: https://mcp.example.com/mcp\nauthorization_servers:\n"
        "  - {issuer: https://a.example.com, introspection: {endpoint: https://a.example.com/i, client_id: x, client_secret: y}}\n"
        "  - {issuer: https://b.example.com, introspection: {endpoint: https://b.example.com/i, client_id: x, client_secret: y}}\n",
        "auth.yaml");
  } catch (const ConfigError& e) {
    error = e.what();
  }
  EXPECT_EQ(error,
            "auth.yaml:4:52: introspection issuers https://a.example.com and https://b.example.com would both take every "
            "opaque token: give one of them token_prefixes");
}

// The measurement: 1,000 garbage tokens from one address against a real introspection endpoint
// (an HTTP server in this process, reached through the real HTTP client) cause at most the burst.
TEST(IntrospectionBurst, AThousandGarbageTokensFromOneAddress) {
  std::atomic<int> calls{0};
  devauth::Listener as(devauth::ListenerOptions{}, [&](const devauth::Request& r) {
    if (r.path() == "/introspect") ++calls;
    return devauth::Response{200, {{"Content-Type", "application/json"}}, R"({"active":false})"};
  });
  auto port = as.listen();
  as.start();
  std::string issuer = "http://127.0.0.1:" + std::to_string(port);
  auto config = parse_auth_config(
      "resource: https://mcp.example.com/mcp\nauthorization_servers:\n"
      "  - {issuer: " +
      issuer + ", introspection: {endpoint: " + issuer +
      "/introspect, client_id: rs, client_secret: s}}\n"
      "introspection_limits: {per_address_burst: 10, per_address_per_minute: 60}\n");
  auto guard = make_guard(config);
  auto start = std::chrono::steady_clock::now();
  int refused = 0, limited = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string token = "garbage" + std::to_string(i * 7919) + "x";
    auto d = guard->check("Bearer " + token, AccessRequest{"tools/call", "x", "203.0.113.7"});
    refused += d.status == 401;
    limited += d.status == 429;
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  as.stop();
  // At most the burst, plus one a second for the time the loop took.
  EXPECT_LE(calls.load(), 10 + static_cast<int>(ms / 1000) + 1);
  EXPECT_GE(calls.load(), 10);
  EXPECT_EQ(refused + limited, 1000);
  EXPECT_EQ(refused, calls.load());
  std::printf("introspection burst: 1000 garbage tokens from one address -> %d introspection calls, %d answered 429 (%.1f ms)\n",
              calls.load(), limited, ms);
}

}  // namespace
