#include "jitgate/jsonrpc/message.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace jr = jitgate::jsonrpc;
namespace json = boost::json;

namespace {

struct Case {
  const char* body;
  bool parse_error;
  bool batch;
  std::vector<const char*> kinds;  // "request", "notification", "response", "invalid"
};

const char* kind_of(const jr::Decoded& d) {
  if (std::holds_alternative<jr::Invalid>(d)) return "invalid";
  const auto& m = std::get<jr::Message>(d);
  if (std::holds_alternative<jr::Request>(m)) return "request";
  if (std::holds_alternative<jr::Notification>(m)) return "notification";
  return "response";
}

class DecodeTable : public ::testing::TestWithParam<Case> {};

TEST_P(DecodeTable, ClassifiesEveryShape) {
  const Case& c = GetParam();
  auto d = jr::decode(c.body);
  EXPECT_EQ(d.parse_error.has_value(), c.parse_error) << c.body;
  if (c.parse_error) {
    EXPECT_EQ(d.parse_error->code, -32700);
    return;
  }
  EXPECT_EQ(d.batch, c.batch);
  ASSERT_EQ(d.items.size(), c.kinds.size()) << c.body;
  for (std::size_t i = 0; i < c.kinds.size(); ++i) EXPECT_STREQ(kind_of(d.items[i]), c.kinds[i]) << c.body;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DecodeTable,
    ::testing::Values(Case{R"({"jsonrpc":"2.0","id":1,"method":"ping"})", false, false, {"request"}},
                      Case{R"({"jsonrpc":"2.0","id":"abc","method":"ping","params":{}})", false, false, {"request"}},
                      Case{R"({"jsonrpc":"2.0","method":"notifications/initialized"})", false, false, {"notification"}},
                      Case{R"({"jsonrpc":"2.0","id":1,"result":{}})", false, false, {"response"}},
                      Case{R"({"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}})", false, false, {"response"}},
                      Case{R"({"jsonrpc":"1.0","id":1,"method":"ping"})", false, false, {"invalid"}},
                      Case{R"({"id":1,"method":"ping"})", false, false, {"invalid"}},
                      Case{R"({"jsonrpc":"2.0","id":null,"method":"ping"})", false, false, {"invalid"}},
                      Case{R"({"jsonrpc":"2.0","id":{},"method":"ping"})", false, false, {"invalid"}},
                      Case{R"({"jsonrpc":"2.0","id":1,"method":7})", false, false, {"invalid"}},
                      Case{R"({"jsonrpc":"2.0","id":1,"method":"x","params":"str"})", false, false, {"invalid"}},
                      Case{R"({"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}})", false, false, {"invalid"}},
                      Case{R"({"jsonrpc":"2.0","result":{}})", false, false, {"invalid"}},
                      Case{R"({"jsonrpc":"2.0","id":1})", false, false, {"invalid"}},
                      Case{R"({"jsonrpc":"2.0","id":1,"error":{"message":"no code"}})", false, false, {"invalid"}},
                      Case{R"("just a string")", false, false, {"invalid"}}, Case{R"([])", false, true, {"invalid"}},
                      Case{R"([{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"},5])",
                           false,
                           true,
                           {"request", "notification", "invalid"}},
                      Case{R"({"jsonrpc":"2.0",)", true, false, {}}, Case{"", true, false, {}},
                      Case{"not json", true, false, {}}));

TEST(JsonRpc, IdsAreEchoedExactly) {
  for (const char* id : {"1", "\"1\"", "-7", "1.5", "\"\"", "9007199254740993"}) {
    std::string body = std::string(R"({"jsonrpc":"2.0","method":"x","id":)") + id + "}";
    auto d = jr::decode(body);
    const auto& req = std::get<jr::Request>(std::get<jr::Message>(d.items.at(0)));
    auto out = json::serialize(jr::result_response(req.id, json::object{}));
    EXPECT_NE(out.find(std::string("\"id\":") + id), std::string::npos) << out;
  }
}

TEST(JsonRpc, IdKeysDistinguishStringsFromNumbers) {
  EXPECT_NE(jr::id_key(json::value(1)), jr::id_key(json::value("1")));
  EXPECT_EQ(jr::id_key(json::value(1)), jr::id_key(json::value(1)));
}

TEST(JsonRpc, DepthLimitIsAParseError) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto d = jr::decode(deep, jr::Limits{.max_depth = 32});
  ASSERT_TRUE(d.parse_error);
  EXPECT_EQ(d.parse_error->code, -32700);
}

TEST(JsonRpc, BatchLimit) {
  std::string body = "[";
  for (int i = 0; i < 5; ++i) body += std::string(i ? "," : "") + R"({"jsonrpc":"2.0","method":"n"})";
  body += "]";
  auto d = jr::decode(body, jr::Limits{.max_depth = 64, .max_batch = 3});
  ASSERT_EQ(d.items.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<jr::Invalid>(d.items[0]));
}

TEST(JsonRpc, ErrorResponseShape) {
  auto o = jr::error_response(json::value("x"), jr::Error::make(jr::ErrorCode::method_not_found, "nope", json::object{{"k", 1}}));
  EXPECT_EQ(json::serialize(o), R"({"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"nope","data":{"k":1}}})");
}

TEST(JsonRpc, RoundTripsMessages) {
  jr::Message m = jr::Request{json::value(3), "tools/list", json::object{{"cursor", "c"}}};
  auto back = jr::classify(jr::to_json(m));
  const auto& r = std::get<jr::Request>(std::get<jr::Message>(back));
  EXPECT_EQ(r.method, "tools/list");
  EXPECT_EQ(r.params.at("cursor").as_string(), "c");
}

}  // namespace

TEST(JsonRpc, ResultTextIsFoundInPlainResponsesOnly) {
  auto scan = [](std::string_view t) { return jr::scan_result_text(t); };
  auto r = scan(R"({"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"a}\"b"}]}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, 7);
  EXPECT_EQ(r->result, R"({"content":[{"type":"text","text":"a}\"b"}]})");
  // Any member order and blanks; the result's text is exactly its value.
  r = scan(" { \"result\" : { \"a\" : 1 } ,\n \"id\" : -3 , \"jsonrpc\" : \"2.0\" } \r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, -3);
  EXPECT_EQ(r->result, "{ \"a\" : 1 }");
  r = scan(R"({"id":1,"jsonrpc":"2.0","result":{}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result, "{}");
  // The text must parse as the result it stands for.
  EXPECT_EQ(json::parse(scan(R"({"jsonrpc":"2.0","result":{"x":[1,{"y":null}]},"id":2})")->result),
            json::parse(R"({"x":[1,{"y":null}]})"));
  for (std::string_view other : {R"({"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}})",  // an error
                                 R"({"jsonrpc":"2.0","id":"s","result":{}})",                      // a string id
                                 R"({"jsonrpc":"2.0","id":1.5,"result":{}})",                      // not an integer
                                 R"({"jsonrpc":"2.0","id":18446744073709551615,"result":{}})",     // beyond int64
                                 R"({"jsonrpc":"2.0","id":1,"result":[1]})",                       // not an object
                                 R"({"jsonrpc":"2.0","id":1,"result":"x"})",
                                 R"({"jsonrpc":"2.0","id":1,"result":null})",
                                 R"({"jsonrpc":"2.0","id":1})",              // no result
                                 R"({"jsonrpc":"1.0","id":1,"result":{}})",  // another version
                                 R"({"id":1,"result":{}})",
                                 R"({"jsonrpc":"2.0","id":1,"result":{},"extra":true})",  // another member
                                 R"({"jsonrpc":"2.0","id":1,"method":"x","result":{}})",
                                 R"({"jsonrpc":"2.0","id":1,"result":{},"result":{}})",  // repeated
                                 R"({"jsonrpc":"2.0","id":1,"id":2,"result":{}})",
                                 R"({"jsonrpc":"2.0","id":1,"res\u0075lt":{}})",  // an escaped key
                                 R"({"jsonrpc":"2.0","id":1,"result":{"a":1})",   // malformed
                                 R"({"jsonrpc":"2.0","id":1,"result":{"a":1}} x)",
                                 R"({"jsonrpc":"2.0","id":1,"result":{"a":}})",
                                 R"([{"jsonrpc":"2.0","id":1,"result":{}}])",  // a batch
                                 R"(42)",
                                 R"()",
                                 R"(not json)"}) {
    EXPECT_FALSE(scan(other)) << other;
  }
  // The depth limit holds as in decode.
  std::string deep = R"({"jsonrpc":"2.0","id":1,"result":)";
  for (int i = 0; i < 70; ++i) deep += R"({"a":)";
  deep += "1";
  for (int i = 0; i < 70; ++i) deep += "}";
  deep += "}";
  EXPECT_FALSE(scan(deep));
}
