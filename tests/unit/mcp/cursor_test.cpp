#include <gtest/gtest.h>

#include "mcp/cursor.hpp"
#include "mcp/uri_template.hpp"

using namespace jitgate::mcp;

TEST(Cursor, RoundTripAndFamilyBinding) {
  CursorSealer sealer;
  auto c = sealer.seal("tools", {}, 42);
  EXPECT_EQ(sealer.open("tools", {}, c), 42u);
  EXPECT_FALSE(sealer.open("prompts", {}, c));
  EXPECT_FALSE(sealer.open("tools", "rights", c));
  EXPECT_FALSE(sealer.open("tools", {}, "garbage!"));
  EXPECT_FALSE(sealer.open("tools", {}, ""));
  EXPECT_FALSE(sealer.open("tools", {}, std::string(1000, 'A')));
  // The plain cursors of earlier versions are not accepted.
  EXPECT_FALSE(sealer.open("tools", {}, base64_encode("v1:tools:12")));
}

// A cursor says nothing about its position: two cursors for one offset differ, cursors for
// different offsets have the same length, and the offset's bytes do not appear in it.
TEST(Cursor, IsOpaque) {
  CursorSealer sealer;
  auto a = sealer.seal("tools", "r", 1), b = sealer.seal("tools", "r", 1), c = sealer.seal("tools", "r", 100000);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), c.size());
  for (const auto& x : {a, c}) {
    auto raw = base64url_decode(x);
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->find("tools"), std::string::npos);
  }
}

// Every single-bit change of a cursor, and every truncation, is refused.
TEST(Cursor, TamperedCursorsAreRefused) {
  CursorSealer sealer;
  auto c = sealer.seal("tools", "binding", 7);
  auto raw = *base64url_decode(c);
  for (std::size_t i = 0; i < raw.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      std::string t = raw;
      t[i] = static_cast<char>(t[i] ^ (1 << bit));
      EXPECT_FALSE(sealer.open("tools", "binding", base64url_encode(t))) << i << ":" << bit;
    }
  for (std::size_t n = 0; n < raw.size(); ++n) EXPECT_FALSE(sealer.open("tools", "binding", base64url_encode(raw.substr(0, n))));
}

// Instances sharing a secret accept each other's cursors; others (or a random key) do not.
TEST(Cursor, KeyedBySecret) {
  CursorSealer a("shared secret"), b("shared secret"), other("another"), random;
  auto c = a.seal("prompts", "x", 3);
  EXPECT_EQ(b.open("prompts", "x", c), 3u);
  EXPECT_FALSE(other.open("prompts", "x", c));
  EXPECT_FALSE(random.open("prompts", "x", c));
  // The binding is authenticated exactly: a binding that is a prefix or extension does not open it.
  EXPECT_FALSE(b.open("prompts", "x ", c));
  EXPECT_FALSE(b.open("prompts", "", c));
  EXPECT_FALSE(b.open("prompt", "sx", c));
}

TEST(Base64, RoundTrip) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto d = base64_decode(base64_encode(s));
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, s);
  }
  EXPECT_FALSE(base64_decode("abc"));
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\xfe", 3)}) {
    auto d = base64url_decode(base64url_encode(s));
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, s);
  }
  EXPECT_FALSE(base64url_decode("a+b/"));
  EXPECT_FALSE(base64url_decode("abcde"));
}

TEST(UriTemplate, MatchesSimpleExpressions) {
  auto t = UriTemplate::parse("test://template/{id}/data");
  ASSERT_TRUE(t);
  auto v = t->match("test://template/123/data");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->at("id"), "123");
  EXPECT_FALSE(t->match("test://template//data"));
  EXPECT_FALSE(t->match("test://template/1/2/data"));
  EXPECT_FALSE(t->match("test://template/123/datax"));
  EXPECT_FALSE(t->match("other://template/123/data"));
  auto tail = UriTemplate::parse("file:///{name}");
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->match("file:///a.txt")->at("name"), "a.txt");
}

TEST(UriTemplate, RejectsMalformedTemplates) {
  EXPECT_FALSE(UriTemplate::parse("x://{unclosed"));
  EXPECT_FALSE(UriTemplate::parse("x://{}"));
  EXPECT_FALSE(UriTemplate::parse("x://{a}{b}"));
  EXPECT_FALSE(UriTemplate::parse("x://{a-b}"));
}
