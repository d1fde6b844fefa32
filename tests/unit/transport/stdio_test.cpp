#include "jitgate/transport/stdio.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <sstream>

#include "jitgate/mcp/server.hpp"

namespace json = boost::json;
using namespace jitgate;

namespace {

std::vector<json::value> run(const std::string& input) {
  mcp::Server server;
  server.add_tool(mcp::Tool{"hello", "", "greets"}, [](const json::object&, mcp::RequestContext& ctx) {
    ctx.log(mcp::LogLevel::info, "greeting");
    return mcp::ToolResult::text("hello");
  });
  std::istringstream in(input);
  std::ostringstream out;
  EXPECT_EQ(transport::serve_stdio(server, in, out), 0);
  std::vector<json::value> lines;
  std::istringstream back(out.str());
  for (std::string line; std::getline(back, line);) lines.push_back(json::parse(line));
  return lines;
}

const json::value* find_id(const std::vector<json::value>& lines, std::int64_t id) {
  for (auto& l : lines)
    if (l.as_object().contains("id") && l.at("id").is_int64() && l.at("id").as_int64() == id) return &l;
  return nullptr;
}

TEST(Stdio, ServesNewlineDelimitedJsonRpc) {
  auto lines = run(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}})"
                   "\n"
                   R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
                   "\n\n"
                   R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"hello"}})"
                   "\r\n");
  ASSERT_TRUE(find_id(lines, 1));
  EXPECT_EQ(find_id(lines, 1)->at("result").at("protocolVersion").as_string(), "2025-11-25");
  ASSERT_TRUE(find_id(lines, 2));
  EXPECT_EQ(find_id(lines, 2)->at("result").at("content").at(0).at("text").as_string(), "hello");
  bool saw_log = false;
  for (auto& l : lines) saw_log = saw_log || (l.as_object().contains("method") && l.at("method") == "notifications/message");
  EXPECT_TRUE(saw_log);
}

TEST(Stdio, BadLinesGetErrorsAndTheSessionContinues) {
  auto lines =
      run("{not json\n"
          R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}})"
          "\n"
          R"({"jsonrpc":"2.0","id":3,"nope":1})"
          "\n"
          R"([{"jsonrpc":"2.0","id":4,"method":"ping"}])"
          "\n"
          R"({"jsonrpc":"2.0","id":5,"method":"ping"})"
          "\n");
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines[0].at("error").at("code").as_int64(), -32700);
  ASSERT_TRUE(find_id(lines, 3));
  EXPECT_EQ(find_id(lines, 3)->at("error").at("code").as_int64(), -32600);
  bool batch_refused = false;
  for (auto& l : lines)
    if (l.as_object().contains("error") && l.at("id").is_null() &&
        std::string(l.at("error").at("message").as_string()).find("batches") != std::string::npos)
      batch_refused = true;
  EXPECT_TRUE(batch_refused);
  ASSERT_TRUE(find_id(lines, 5));
  EXPECT_TRUE(find_id(lines, 5)->at("result").as_object().empty());
}

}  // namespace

namespace {

TEST(Stdio, BatchesOn20250326AnswerWithOneArray) {
  auto lines = run(
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{}}})"
      "\n"
      R"([{"jsonrpc":"2.0","id":7,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"hello"}},{"x":1}])"
      "\n");
  const json::array* batch = nullptr;
  for (auto& l : lines)
    if (l.is_array()) batch = &l.as_array();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->size(), 3u);
  std::set<std::string> ids;
  for (auto& e : *batch) ids.insert(json::serialize(e.at("id")));
  EXPECT_EQ(ids, (std::set<std::string>{"7", "8", "null"}));
}

}  // namespace
