#include "transport/http_rules.hpp"

#include <gtest/gtest.h>

using namespace jitgate::transport;

TEST(HttpRules, HostValidationOnLoopback) {
  std::vector<std::string> none;
  EXPECT_TRUE(host_allowed("localhost:3000", true, none));
  EXPECT_TRUE(host_allowed("127.0.0.1:3000", true, none));
  EXPECT_TRUE(host_allowed("[::1]:3000", true, none));
  EXPECT_TRUE(host_allowed("LOCALHOST", true, none));
  EXPECT_FALSE(host_allowed("evil.example.com", true, none));
  EXPECT_FALSE(host_allowed("localhost.evil.com:80", true, none));
  EXPECT_FALSE(host_allowed("", true, none));
  EXPECT_TRUE(host_allowed("mcp.example.com", false, none));
  std::vector<std::string> allowed{"mcp.example.com"};
  EXPECT_TRUE(host_allowed("mcp.example.com:443", true, allowed));
  EXPECT_FALSE(host_allowed("localhost", true, allowed));
}

TEST(HttpRules, OriginValidation) {
  std::vector<std::string> none;
  EXPECT_TRUE(origin_allowed("http://localhost:5173", none));
  EXPECT_TRUE(origin_allowed("http://127.0.0.1", none));
  EXPECT_TRUE(origin_allowed("http://[::1]:8080", none));
  EXPECT_FALSE(origin_allowed("http://evil.example.com", none));
  EXPECT_FALSE(origin_allowed("null", none));
  EXPECT_FALSE(origin_allowed("file://localhost", none));
  std::vector<std::string> allowed{"https://app.example.com"};
  EXPECT_TRUE(origin_allowed("https://app.example.com", allowed));
  EXPECT_FALSE(origin_allowed("http://localhost", allowed));
}

TEST(HttpRules, AcceptHeader) {
  EXPECT_TRUE(accepts("application/json, text/event-stream", "application/json"));
  EXPECT_TRUE(accepts("application/json, text/event-stream", "text/event-stream"));
  EXPECT_TRUE(accepts("text/event-stream;q=0.9,application/json", "application/json"));
  EXPECT_TRUE(accepts("*/*", "text/event-stream"));
  EXPECT_TRUE(accepts("text/*", "text/event-stream"));
  EXPECT_FALSE(accepts("application/json", "text/event-stream"));
  EXPECT_FALSE(accepts("", "application/json"));
  EXPECT_TRUE(is_json_content_type("application/json; charset=utf-8"));
  EXPECT_FALSE(is_json_content_type("text/plain"));
}

TEST(HttpRules, EventIds) {
  EXPECT_EQ(format_event_id({3, 14}), "3_14");
  auto id = parse_event_id("3_14");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->stream, 3u);
  EXPECT_EQ(id->seq, 14u);
  for (const char* bad : {"", "_", "3_", "_4", "a_b", "3-4", "3_4x", "99999999999999999999999_1"})
    EXPECT_FALSE(parse_event_id(bad)) << bad;
}

TEST(HttpRules, Framing) {
  EXPECT_EQ(sse_event("1_2", R"({"a":1})"), "id: 1_2\nevent: message\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(chunk("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(chunk(std::string(26, 'x')).substr(0, 4), "1a\r\n");
  auto head = response_head(404, {"X: y"}, 3, false);
  EXPECT_EQ(head.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  EXPECT_NE(head.find("Content-Length: 3\r\n"), std::string::npos);
  EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(response_head(202, {"A: b", "C: d"}, 0, true),
            "HTTP/1.1 202 Accepted\r\nServer: jitgate\r\nA: b\r\nC: d\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(response_head(200, {}, std::nullopt, false, true),
            "HTTP/1.1 200 OK\r\nServer: jitgate\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

TEST(HttpRules, ResponseWithBodyIsTheHeadThenThePieces) {
  std::vector<std::string> headers{"X: y"};
  auto whole = response_with_body(200, headers, "Content-Type: application/json", {R"({"a":)", "", "1}"}, true);
  EXPECT_EQ(whole, response_head(200, {"X: y", "Content-Type: application/json"}, 7, true) + R"({"a":1})");
  EXPECT_EQ(response_with_body(404, {}, "", {"nope"}, false), response_head(404, {}, 4, false) + "nope");
  std::string big(100000, 'x');
  EXPECT_EQ(response_with_body(200, {}, "", {big, big}, true), response_head(200, {}, 200000, true) + big + big);
}

TEST(HttpRules, HeaderNameIsIgnoresCase) {
  EXPECT_TRUE(header_name_is("MCP-Protocol-Version", "mcp-protocol-version"));
  EXPECT_TRUE(header_name_is("mcp-name", "mcp-name"));
  EXPECT_TRUE(header_name_is("MCP-NAME", "mcp-name"));
  EXPECT_FALSE(header_name_is("Mcp-Names", "mcp-name"));
  EXPECT_FALSE(header_name_is("Mcp_Name", "mcp-name"));
  EXPECT_FALSE(header_name_is("Mcp-Nome", "mcp-name"));
  EXPECT_FALSE(header_name_is("", "mcp-name"));
}
