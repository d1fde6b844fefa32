// The JWKS cache policy, driven by a scripted key server (the network path is covered by the
// integration test against a real authorization server).
#include "jitgate/auth/jwks_cache.hpp"

#include <gtest/gtest.h>

#include "support/signer.hpp"

using namespace jitgate::auth;
using testsupport::SigningKey;

namespace {

struct KeyServer {
  std::string issuer = "https://as.example.com";
  std::string jwks;
  std::string cache_control = "max-age=120";
  bool down = false;
  int metadata_calls = 0, jwks_calls = 0;
  Fetcher fetcher() {
    return [this](const FetchRequest& r, std::string& error) -> std::optional<FetchResponse> {
      if (down) {
        error = "connection refused";
        return std::nullopt;
      }
      if (r.url == issuer + "/.well-known/oauth-authorization-server") {
        ++metadata_calls;
        return FetchResponse{200, R"({"issuer":")" + issuer + R"(","jwks_uri":")" + issuer + R"(/jwks"})", ""};
      }
      if (r.url == issuer + "/jwks") {
        ++jwks_calls;
        return FetchResponse{200, jwks, cache_control};
      }
      return FetchResponse{404, "", ""};
    };
  }
};

TEST(JwksCache, DiscoversCachesAndHonoursCacheControlWithinBounds) {
  SigningKey k = SigningKey::ec("k1");
  KeyServer srv;
  srv.jwks = k.jwks();
  std::int64_t now = 1000;
  JwksCache cache({.issuer = srv.issuer,
                   .min_ttl = std::chrono::seconds(60),
                   .max_ttl = std::chrono::seconds(600),
                   .now = [&] { return now; }},
                  srv.fetcher());
  ASSERT_TRUE(cache.keys());
  EXPECT_TRUE(cache.keys()->find("k1"));
  EXPECT_EQ(srv.metadata_calls, 1);
  EXPECT_EQ(srv.jwks_calls, 1);
  now += 119;
  cache.keys();
  EXPECT_EQ(srv.jwks_calls, 1);  // fresh for max-age=120
  now += 2;
  cache.keys();
  EXPECT_EQ(srv.jwks_calls, 2);
  EXPECT_EQ(srv.metadata_calls, 1);  // the jwks_uri is remembered
  srv.cache_control = "max-age=5";   // below the floor of 60
  now += 200;
  cache.keys();
  now += 30;
  cache.keys();
  EXPECT_EQ(srv.jwks_calls, 3);
}

TEST(JwksCache, UnknownKidRefetchesAtMostOncePerInterval) {
  SigningKey k1 = SigningKey::ec("k1"), k2 = SigningKey::ec("k2");
  KeyServer srv;
  srv.jwks = k1.jwks();
  std::int64_t now = 1000;
  JwksCache cache({.issuer = srv.issuer, .refetch_interval = std::chrono::seconds(10), .now = [&] { return now; }},
                  srv.fetcher());
  cache.keys();
  srv.jwks = k2.jwks();  // rotation at the issuer
  now += 1;
  EXPECT_FALSE(cache.keys("k2")->find("k2"));  // within the interval of the first fetch: no refetch
  now += 10;
  EXPECT_TRUE(cache.keys("k2")->find("k2"));
  int calls = srv.jwks_calls;
  for (int i = 0; i < 100; ++i) cache.keys("forged-kid");
  EXPECT_LE(srv.jwks_calls, calls + 1);  // an attacker's random kids cannot hammer the issuer
}

TEST(JwksCache, ServesStaleKeysWhileDownThenFailsClosed) {
  SigningKey k = SigningKey::ec("k1");
  KeyServer srv;
  srv.jwks = k.jwks();
  std::int64_t now = 1000;
  JwksCache cache({.issuer = srv.issuer,
                   .default_ttl = std::chrono::seconds(300),
                   .max_stale = std::chrono::seconds(600),
                   .now = [&] { return now; }},
                  srv.fetcher());
  srv.cache_control.clear();
  ASSERT_TRUE(cache.keys());
  srv.down = true;
  now += 400;  // past the TTL, within the staleness allowance
  EXPECT_TRUE(cache.keys());
  EXPECT_NE(cache.last_error(), "");
  now += 600;  // beyond it
  EXPECT_FALSE(cache.keys());
}

TEST(JwksCache, NothingCachedAndEndpointDownDenies) {
  KeyServer srv;
  srv.down = true;
  JwksCache cache({.issuer = srv.issuer}, srv.fetcher());
  EXPECT_FALSE(cache.keys());
  EXPECT_FALSE(cache.last_error().empty());
}

TEST(JwksCache, MetadataForAnotherIssuerIsIgnored) {
  SigningKey k = SigningKey::ec("k1");
  KeyServer srv;
  srv.jwks = k.jwks();
  JwksCache cache({.issuer = "https://as.example.com/tenant"}, srv.fetcher());
  EXPECT_FALSE(cache.keys());
}

TEST(Discovery, MetadataUrlsFollowRfc8414AndOidc) {
  EXPECT_EQ(metadata_urls("https://as.example.com"),
            (std::vector<std::string>{"https://as.example.com/.well-known/oauth-authorization-server",
                                      "https://as.example.com/.well-known/openid-configuration"}));
  EXPECT_EQ(metadata_urls("https://as.example.com/tenant1"),
            (std::vector<std::string>{"https://as.example.com/.well-known/oauth-authorization-server/tenant1",
                                      "https://as.example.com/.well-known/openid-configuration/tenant1",
                                      "https://as.example.com/tenant1/.well-known/openid-configuration"}));
  EXPECT_EQ(max_age("public, max-age=300"), 300);
  EXPECT_EQ(max_age("no-store"), 0);
  EXPECT_FALSE(max_age("public"));
  EXPECT_EQ(form_encode({{"a b", "c&d=é"}}), "a+b=c%26d%3D%C3%A9");
}

}  // namespace
