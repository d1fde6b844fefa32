// Answers from authorization servers are untrusted input: every wrong type or range is a refusal
// with a reason, never an exception (introspection, token exchange, Cache-Control, NumericDates).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "auth/claims.hpp"
#include "jitgate/auth/introspection.hpp"
#include "jitgate/auth/jwks_cache.hpp"
#include "jitgate/auth/jwt_verifier.hpp"
#include "jitgate/auth/token_exchange.hpp"

namespace json = boost::json;
using namespace jitgate::auth;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

Fetcher answering(unsigned status, std::string body) {
  return [status, body](const FetchRequest&, std::string&) -> std::optional<FetchResponse> {
    return FetchResponse{status, body, ""};
  };
}

IntrospectionOptions introspection_options() {
  IntrospectionOptions o;
  o.issuer = "https://as.example.com";
  o.endpoint = "https://as.example.com/introspect";
  o.client_id = "rs";
  o.client_secret = "s";
  o.audiences = {"https://mcp.example.com/mcp"};
  o.now = [] { return kNow; };
  return o;
}

std::string introspect(const std::string& answer) {
  IntrospectionVerifier v(introspection_options(), answering(200, answer));
  auto r = v.verify("opaque-token");
  if (auto* e = std::get_if<TokenError>(&r)) return e->description;
  return "";
}

std::string active(const std::string& members) {
  return R"({"active":true,"sub":"alice","aud":"https://mcp.example.com/mcp","exp":1800000300)" +
         (members.empty() ? "" : "," + members) + "}";
}

// Role claims are dotted paths for introspected tokens exactly as for JWTs: `realm_access.roles`
// names a member of an object, not a member whose name has a dot.
TEST(IntrospectionAnswer, RoleClaimsAreDottedPathsAsForJwts) {
  IntrospectionOptions o = introspection_options();
  o.role_claims = {"realm_access.roles", "groups"};
  IntrospectionVerifier v(
      o, answering(200, active(R"("realm_access":{"roles":["admin",7]},"groups":"ops","realm_access.roles":["nope"])")));
  auto r = v.verify("opaque-token");
  auto* p = std::get_if<Principal>(&r);
  ASSERT_TRUE(p) << std::get<TokenError>(r).description;
  EXPECT_EQ(p->roles, (std::set<std::string, std::less<>>{"admin", "ops"}));
  json::object claims = json::parse(active(R"("realm_access":{"roles":["admin",7]},"groups":"ops")")).as_object();
  EXPECT_EQ(principal_from_claims(claims, o.role_claims).roles, p->roles);  // the JWT side agrees
}

TEST(IntrospectionAnswer, EveryWrongTypeOrRangeIsARefusal) {
  const std::string garbage = "token introspection answered garbage: ";
  struct Row {
    std::string answer, error;
  };
  std::vector<Row> rows{
      {active(""), ""},
      // RFC 7519 NumericDates may be fractional: taken, rounded down.
      {R"({"active":true,"sub":"a","aud":"https://mcp.example.com/mcp","exp":1800000300.5})", ""},
      {R"({"active":true,"sub":"a","aud":"https://mcp.example.com/mcp","exp":1799999999.9})", "token expired"},
      {R"({"active":true,"sub":"a","aud":"https://mcp.example.com/mcp","exp":1e300})",
       garbage + "claim 'exp' is not a NumericDate in range"},
      {R"({"active":true,"sub":"a","aud":"https://mcp.example.com/mcp","exp":18446744073709551615})",
       garbage + "claim 'exp' is not a NumericDate in range"},
      {R"({"active":true,"sub":"a","aud":"https://mcp.example.com/mcp","exp":9223372036854775807})",
       garbage + "claim 'exp' is not a NumericDate in range"},
      {R"({"active":true,"sub":"a","aud":"https://mcp.example.com/mcp","exp":-1})",
       garbage + "claim 'exp' is not a NumericDate in range"},
      {R"({"active":true,"sub":"a","aud":"https://mcp.example.com/mcp","exp":"1800000300"})",
       garbage + "claim 'exp' is not a NumericDate in range"},
      {active(R"("nbf":true)"), garbage + "claim 'nbf' is not a NumericDate in range"},
      {active(R"("nbf":1800000100)"), "token not yet valid"},
      {active(R"("iat":[1])"), garbage + "claim 'iat' is not a NumericDate in range"},
      {R"({"active":"true","sub":"a","aud":"https://mcp.example.com/mcp"})",
       "token introspection answered garbage: 'active' is not a boolean"},
      {R"({"active":1})", "token introspection answered garbage: 'active' is not a boolean"},
      {R"({"sub":"a"})", "token introspection answered garbage: 'active' is not a boolean"},
      {R"({"active":false})", "token is not active"},
      {active(R"("scope":["a"])"), garbage + "claim 'scope' is not a string"},
      {R"({"active":true,"sub":5,"aud":"https://mcp.example.com/mcp"})", garbage + "claim 'sub' is not a string"},
      {active(R"("client_id":{"x":1})"), garbage + "claim 'client_id' is not a string"},
      {R"({"active":true,"sub":"a","aud":7})", garbage + "claim 'aud' is not a string or an array of strings"},
      {R"({"active":true,"sub":"a","aud":["https://mcp.example.com/mcp",null]})",
       garbage + "claim 'aud' is not a string or an array of strings"},
      {active(R"("iss":1)"), garbage + "claim 'iss' is not a string"},
      {active(R"("token_type":false)"), garbage + "claim 'token_type' is not a string"},
      {active(R"("scp":[1,2])"), garbage + "claim 'scp' is not a string or an array of strings"},
      {active(R"("iss":"https://evil.example.com")"), "token from another issuer"},
      {R"({"active":true,"aud":"https://mcp.example.com/mcp"})", "token has no subject"},
      {"[1,2]", "token introspection answered garbage"},
      {std::string(40, '[') + std::string(40, ']'), "token introspection answered garbage"},
      {"{\"active\":true", "token introspection answered garbage"},
  };
  for (const auto& r : rows) EXPECT_EQ(introspect(r.answer), r.error) << r.answer;
  // Beyond the range of a double: a parse error or an infinite date, refused either way.
  EXPECT_TRUE(introspect(R"({"active":true,"sub":"a","aud":"https://mcp.example.com/mcp","exp":1.5e400})").starts_with(garbage));
}

TEST(IntrospectionAnswer, AnUnreachableServerIsUnavailableNotInvalid) {
  IntrospectionOptions o;
  o.issuer = "https://as.example.com";
  o.endpoint = "https://as.example.com/introspect";
  IntrospectionVerifier down(o, [](const FetchRequest&, std::string& e) -> std::optional<FetchResponse> {
    e = "refused";
    return std::nullopt;
  });
  auto r = down.verify("t");
  ASSERT_TRUE(std::holds_alternative<TokenError>(r));
  EXPECT_EQ(std::get<TokenError>(r).kind, TokenError::Kind::unavailable);
  IntrospectionVerifier failing(o, answering(500, ""));
  EXPECT_EQ(std::get<TokenError>(failing.verify("t")).kind, TokenError::Kind::unavailable);
}

std::string exchange_error(const std::string& answer) {
  TokenExchangeOptions o;
  o.token_endpoint = "https://as.example.com/token";
  o.client_id = "gw";
  o.client_secret = "s";
  o.resource = "https://upstream.example.com/mcp";
  o.now = [] { return kNow; };
  TokenExchanger x(o, answering(200, answer));
  std::string error;
  auto t = x.exchange("subject", std::nullopt, error);
  return t ? "" : error;
}

TEST(TokenExchangeAnswer, EveryWrongTypeOrRangeIsARefusal) {
  auto ok = [](const std::string& extra) {
    return R"({"access_token":"at","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer")" +
           (extra.empty() ? "" : "," + extra) + "}";
  };
  const std::string range = "the exchange answer's expires_in is not a number of seconds from 0 to a year";
  struct Row {
    std::string answer, error;
  };
  std::vector<Row> rows{
      {ok(R"("expires_in":300)"), ""},
      {ok(R"("expires_in":299.9)"), ""},
      {ok(R"("expires_in":1e300)"), range},
      {ok(R"("expires_in":18446744073709551615)"), range},
      {ok(R"("expires_in":-5)"), range},
      {ok(R"("expires_in":"300")"), range},
      {ok(R"("scope":["a"])"), "the exchange answer's scope is not a string"},
      {R"({"access_token":5,"issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer"})",
       "the exchange answer's access_token is not a string"},
      {R"({"access_token":"at","issued_token_type":true,"token_type":"Bearer"})",
       "the exchange answer's issued_token_type is not a string"},
      {"[]", "the authorization server answered the exchange with something that is not JSON"},
  };
  for (const auto& r : rows) EXPECT_EQ(exchange_error(r.answer), r.error) << r.answer;
}

TEST(CacheControl, DirectivesAsRfc9111Gives) {
  struct Row {
    const char* value;
    std::optional<std::int64_t> age;
  };
  std::vector<Row> rows{
      {"public, max-age=300", 300},
      {"MAX-AGE=60", 60},
      {"max-age=\"120\"", 120},
      {"max-age = 90", 90},
      {"max-age=99999999999999999999999", std::int64_t{1} << 31},
      {"max-age=-5", std::nullopt},
      {"max-age=12abc", std::nullopt},
      {"max-age=", std::nullopt},
      {"x-max-age=5", std::nullopt},
      {"s-maxage=100", std::nullopt},
      {"no-store", 0},
      {"max-age=300, No-Cache", 0},
      {"private, community=\"no-cache, max-age=5\"", std::nullopt},
      {"max-age=10, max-age=20", 10},
      {"public", std::nullopt},
      {"", std::nullopt},
      {",,,", std::nullopt},
  };
  for (const auto& r : rows) EXPECT_EQ(max_age(r.value), r.age) << r.value;
}

TEST(Claims, NumericDatesAndBase64url) {
  using namespace jitgate::auth::claims;
  auto date = [](const char* text, Rounding r = Rounding::down) { return numeric_date(json::parse(text).as_object(), "d", r); };
  EXPECT_FALSE(date("{}").present);
  EXPECT_EQ(date(R"({"d":5})").seconds, 5);
  EXPECT_EQ(date(R"({"d":5.5})").seconds, 5);
  EXPECT_EQ(date(R"({"d":5.5})", Rounding::up).seconds, 6);
  EXPECT_EQ(date(R"({"d":253402300799})").seconds, 253402300799);
  for (const char* bad : {R"({"d":253402300800})", R"({"d":-1})", R"({"d":-0.5})", R"({"d":1e19})", R"({"d":null})",
                          R"({"d":"5"})", R"({"d":{}})"}) {
    auto d = date(bad);
    EXPECT_TRUE(d.present && !d.valid) << bad;
  }
  EXPECT_EQ(base64url_decode("YWJj"), "abc");
  EXPECT_EQ(base64url_decode("YWI"), "ab");
  EXPECT_EQ(base64url_decode("YQ"), "a");
  EXPECT_EQ(base64url_decode(""), "");
  EXPECT_FALSE(base64url_decode("YR"));    // nonzero unused bits: a second spelling of "a"
  EXPECT_FALSE(base64url_decode("YQ=="));  // padding
  EXPECT_FALSE(base64url_decode("Y"));     // no octet has 1 character
  EXPECT_FALSE(base64url_decode("YW+j"));  // not the URL-safe alphabet
  EXPECT_EQ(base64url_decoded_size(86), 64u);
  EXPECT_FALSE(base64url_decoded_size(5));
}

}  // namespace
