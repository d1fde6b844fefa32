#include <gtest/gtest.h>

#include "mcp/cursor.hpp"
#include "mcp/uri_template.hpp"

using namespace jitgate::mcp;

TEST(Cursor, RoundTripAndFamilyBinding) {
  auto c = encode_cursor("tools", 42);
  EXPECT_EQ(decode_cursor("tools", c), 42u);
  EXPECT_FALSE(decode_cursor("prompts", c));
  EXPECT_FALSE(decode_cursor("tools", "garbage!"));
  EXPECT_FALSE(decode_cursor("tools", ""));
  EXPECT_FALSE(decode_cursor("tools", base64_encode("v1:tools:12x")));
  EXPECT_FALSE(decode_cursor("tools", base64_encode("v1:tools:")));
  EXPECT_FALSE(decode_cursor("tools", std::string(1000, 'A')));
}

TEST(Base64, RoundTrip) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto d = base64_decode(base64_encode(s));
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, s);
  }
  EXPECT_FALSE(base64_decode("abc"));
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
