#include "jitgate/auth/www_authenticate.hpp"

#include <gtest/gtest.h>

#include "jitgate/auth/resource_metadata.hpp"

using namespace jitgate::auth;

TEST(WwwAuthenticate, BuildsTheThreeChallenges) {
  std::string prm = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
  EXPECT_EQ(to_header(Challenge::missing_token(prm, "notes:read")),
            R"(Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="notes:read")");
  EXPECT_EQ(to_header(Challenge::invalid_token(prm, "token \"expired\"")),
            R"(Bearer error="invalid_token", error_description="token \"expired\"", resource_metadata=")" + prm + "\"");
  EXPECT_EQ(to_header(Challenge::insufficient_scope(prm, "notes:read notes:write")),
            R"(Bearer error="insufficient_scope", scope="notes:read notes:write", resource_metadata=")" + prm + "\"");
}

TEST(WwwAuthenticate, RoundTrips) {
  auto c = Challenge::insufficient_scope("https://x/y", "a b", "needs \\ more");
  auto parsed = parse_www_authenticate(to_header(c));
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].param("scope"), "a b");
  EXPECT_EQ((*parsed)[0].param("ERROR_DESCRIPTION"), "needs \\ more");
}

TEST(WwwAuthenticate, ParsesWhatServersSend) {
  auto p = parse_www_authenticate(
      R"(Basic realm="x", Bearer error=invalid_token,  scope="mcp:basic mcp:write" , resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", Negotiate abc123==)");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[0].scheme, "Basic");
  EXPECT_EQ((*p)[1].scheme, "Bearer");
  EXPECT_EQ((*p)[1].param("error"), "invalid_token");
  EXPECT_EQ((*p)[1].param("scope"), "mcp:basic mcp:write");
  EXPECT_EQ((*p)[2].params.at(0).second, "abc123==");
  auto t68 = parse_www_authenticate("Bearer scope=");  // a token68, not an empty parameter
  ASSERT_TRUE(t68);
  EXPECT_EQ((*t68)[0].params.at(0).second, "scope=");
  auto bare = parse_www_authenticate("Bearer");
  ASSERT_TRUE(bare);
  EXPECT_TRUE((*bare)[0].params.empty());
}

TEST(WwwAuthenticate, RejectsMalformed) {
  for (const char* bad : {"", " ", ",", "Bearer scope=\"unterminated", "Bearer scope=\"a\" x", "Bearer =x", "Bearer a=b c",
                          "Bearer a=\"b\"x", "\"quoted\""})
    EXPECT_FALSE(parse_www_authenticate(bad)) << bad;
  EXPECT_FALSE(parse_www_authenticate(std::string(20000, 'a')));
}

TEST(ResourceMetadata, DocumentAndWellKnownUrls) {
  ResourceMetadata m{"https://mcp.example.com/mcp", {"https://as.example.com"}, {"notes:read"}, "Notes"};
  EXPECT_EQ(m.well_known_path(), "/.well-known/oauth-protected-resource/mcp");
  EXPECT_EQ(m.well_known_url(), "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
  auto j = m.to_json();
  EXPECT_EQ(j.at("resource").as_string(), "https://mcp.example.com/mcp");
  EXPECT_EQ(j.at("bearer_methods_supported").at(0).as_string(), "header");
  EXPECT_EQ(j.at("scopes_supported").at(0).as_string(), "notes:read");
  ResourceMetadata root{"https://mcp.example.com", {"https://as"}};
  EXPECT_EQ(root.well_known_path(), "/.well-known/oauth-protected-resource");
  EXPECT_EQ(canonical_resource("HTTPS://MCP.Example.com:8443/mcp/"), "https://mcp.example.com:8443/mcp");
  EXPECT_EQ(canonical_resource("https://mcp.example.com/"), "https://mcp.example.com");
  EXPECT_FALSE(canonical_resource("ftp://x/y"));
  EXPECT_FALSE(canonical_resource("/relative"));
}
