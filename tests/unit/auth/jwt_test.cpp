// JWT verification against real keys (cjose/OpenSSL), including the attack table.
#include <cjose/cjose.h>
#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>

#include "jitgate/auth/jwt_verifier.hpp"
#include "jitgate/auth/token_cache.hpp"
#include "support/signer.hpp"

namespace json = boost::json;
using namespace jitgate::auth;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

using Key = testsupport::SigningKey;
using testsupport::b64url;

class Jwt : public ::testing::Test {
 protected:
  Jwt()
      : rsa_{cjose_jwk_create_RSA_random(2048, nullptr, 0, &err_), "rsa-1", "RS256"},
        ec_{cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err_), "ec-1", "ES256"},
        ec384_{cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_384, &err_), "ec-2", "ES384"},
        other_{cjose_jwk_create_RSA_random(2048, nullptr, 0, &err_), "rsa-1", "RS256"} {
    std::string jwks = R"({"keys":[)" + rsa_.public_json() + "," + ec_.public_json() + "," + ec384_.public_json() + "]}";
    keys_ = KeySet::parse(jwks);
    JwtOptions o;
    o.issuer = "https://as.example.com";
    o.audiences = {"https://mcp.example.com/mcp"};
    o.role_claims = {"realm_access.roles", "groups"};
    o.now = [] { return kNow; };
    verifier_ = std::make_shared<JwtVerifier>(o, std::make_shared<StaticKeySource>(keys_));
  }

  json::object claims() const {
    return json::object{{"iss", "https://as.example.com"},
                        {"sub", "alice"},
                        {"aud", "https://mcp.example.com/mcp"},
                        {"client_id", "inspector"},
                        {"scope", "notes:read notes:write"},
                        {"realm_access", json::object{{"roles", json::array{"admin"}}}},
                        {"groups", json::array{"staff"}},
                        {"iat", kNow - 10},
                        {"nbf", kNow - 10},
                        {"exp", kNow + 300}};
  }

  std::string error_of(std::string_view token) {
    auto v = verifier_->verify(token);
    if (auto* e = std::get_if<TokenError>(&v)) return e->description;
    return "";
  }

  cjose_err err_;
  Key rsa_, ec_, ec384_, other_;
  std::shared_ptr<const KeySet> keys_;
  std::shared_ptr<JwtVerifier> verifier_;
};

TEST_F(Jwt, ValidTokensBecomePrincipals) {
  for (const Key* k : {&rsa_, &ec_, &ec384_}) {
    auto v = verifier_->verify(k->sign(claims()));
    ASSERT_TRUE(std::holds_alternative<Principal>(v)) << k->alg << ": " << std::get<TokenError>(v).description;
    const auto& p = std::get<Principal>(v);
    EXPECT_EQ(p.subject, "alice");
    EXPECT_EQ(p.client_id, "inspector");
    EXPECT_EQ(p.scopes, (std::set<std::string, std::less<>>{"notes:read", "notes:write"}));
    EXPECT_EQ(p.roles, (std::set<std::string, std::less<>>{"admin", "staff"}));
    EXPECT_EQ(p.expires_at, kNow + 300);
    EXPECT_EQ(p.token_hash.size(), 12u);
  }
  auto c = claims();
  c["aud"] = json::array{"https://other.example.com", "https://mcp.example.com/mcp"};
  c.erase("scope");
  c["scp"] = json::array{"a", "b"};
  auto v = verifier_->verify(ec_.sign(c));
  ASSERT_TRUE(std::holds_alternative<Principal>(v));
  EXPECT_EQ(std::get<Principal>(v).scopes.size(), 2u);
}

TEST_F(Jwt, AttackTable) {
  std::string good = rsa_.sign(claims());
  auto parts = [](const std::string& t) {
    auto a = t.find('.'), b = t.rfind('.');
    return std::array<std::string, 3>{t.substr(0, a), t.substr(a + 1, b - a - 1), t.substr(b + 1)};
  };
  auto p = parts(good);
  std::string payload = p[1];
  std::string none = b64url(R"({"alg":"none","typ":"at+jwt"})") + "." + payload + ".";
  // HS256 "signed" with the RSA public key as the HMAC secret (the classic key-confusion attack).
  std::string hs_head = b64url(R"({"alg":"HS256","kid":"rsa-1"})") + "." + payload;
  std::string secret = rsa_.public_json();
  unsigned char mac[32];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(hs_head.data()),
       hs_head.size(), mac, &mac_len);
  std::string hs = hs_head + "." + b64url(std::string_view(reinterpret_cast<char*>(mac), mac_len));
  auto with = [&](const char* k, json::value v) {
    auto c = claims();
    c[k] = v;
    return rsa_.sign(c);
  };
  auto without = [&](const char* k) {
    auto c = claims();
    c.erase(k);
    return rsa_.sign(c);
  };
  std::string tampered_payload = p[0] + "." + b64url(R"({"iss":"https://as.example.com","sub":"mallory","aud":"https://mcp.example.com/mcp","exp":1900000000})") + "." + p[2];
  std::string tampered_sig = p[0] + "." + p[1] + "." + (p[2][0] == 'A' ? "B" : "A") + p[2].substr(1);
  struct Row {
    const char* name;
    std::string token;
    const char* error;
  };
  std::vector<Row> rows{
      {"alg none", none, "signing algorithm not allowed"},
      {"HS256 signed with the RSA public key", hs, "signing algorithm not allowed"},
      {"expired", with("exp", kNow - 61), "token expired"},
      {"not yet valid", with("nbf", kNow + 61), "token not yet valid"},
      {"issued in the future", with("iat", kNow + 61), "token issued in the future"},
      {"no expiry", without("exp"), "token has no expiry"},
      {"wrong issuer", with("iss", "https://evil.example.com"), "token from another issuer"},
      {"wrong audience", with("aud", "https://other.example.com"), "token is for another resource"},
      {"no audience", without("aud"), "token is for another resource"},
      {"no subject", without("sub"), "token has no subject"},
      {"unknown kid", Key{cjose_jwk_create_RSA_random(2048, nullptr, 0, &err_), "rsa-9", "RS256"}.sign(claims()), "unknown signing key"},
      {"same kid, another key", other_.sign(claims()), "invalid signature"},
      {"tampered payload", tampered_payload, "invalid signature"},
      {"tampered signature", tampered_sig, "invalid signature"},
      {"garbage base64", "!!!.@@@.###", "malformed token header"},
      {"two parts", "abc.def", "malformed token: not a JWS in compact form"},
      {"oversized", std::string(20000, 'a'), "token too large"},
      {"RS256 header naming an EC key", b64url(R"({"alg":"RS256","kid":"ec-1"})") + "." + payload + "." + p[2],
       "algorithm does not match the signing key"},
      {"not an access token type", rsa_.sign(claims(), json::object{{"typ", "id_token+jwt"}}), "not an access token"},
  };
  for (const auto& r : rows) EXPECT_EQ(error_of(r.token), r.error) << r.name;
  EXPECT_EQ(error_of(good), "");
}

TEST_F(Jwt, AlgorithmAllowListAndKeyAlgorithm) {
  JwtOptions o;
  o.issuer = "https://as.example.com";
  o.audiences = {"https://mcp.example.com/mcp"};
  o.algorithms = {"ES256"};
  o.now = [] { return kNow; };
  JwtVerifier only_es(o, std::make_shared<StaticKeySource>(keys_));
  EXPECT_TRUE(std::holds_alternative<TokenError>(only_es.verify(rsa_.sign(claims()))));
  EXPECT_TRUE(std::holds_alternative<Principal>(only_es.verify(ec_.sign(claims()))));
  // A P-384 key never verifies an ES256 token.
  Key k{cjose_jwk_retain(ec384_.jwk, &err_), "ec-2", "ES256"};
  EXPECT_NE(error_of(k.sign(claims())), "");
}

TEST(KeySetParse, RefusesSymmetricAndEncryptionKeys) {
  std::string error;
  EXPECT_FALSE(KeySet::parse("[]", &error));
  EXPECT_FALSE(error.empty());
  auto set = KeySet::parse(R"({"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"},{"kty":"RSA","use":"enc","kid":"e","n":"AQAB","e":"AQAB"}]})");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->size(), 0u);
}

class CountingVerifier : public TokenVerifier {
 public:
  explicit CountingVerifier(std::shared_ptr<TokenVerifier> inner) : inner_(std::move(inner)) {}
  Verification verify(std::string_view t) override {
    ++calls;
    return inner_->verify(t);
  }
  int calls = 0;

 private:
  std::shared_ptr<TokenVerifier> inner_;
};

TEST_F(Jwt, CacheServesRepeatsUntilExpiry) {
  auto counting = std::make_shared<CountingVerifier>(verifier_);
  std::int64_t now = kNow;
  CachingVerifier cache(counting, {.max_entries = 100, .max_ttl = std::chrono::seconds(600), .now = [&] { return now; }});
  std::string t = rsa_.sign(claims());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(std::holds_alternative<Principal>(cache.verify(t)));
  EXPECT_EQ(counting->calls, 1);
  std::string bad = "a.b.c";
  cache.verify(bad);
  cache.verify(bad);
  EXPECT_EQ(counting->calls, 3);  // failures are not cached
  now = kNow + 301;  // past the token's exp: the cache no longer vouches for it and asks the verifier again
  cache.verify(t);
  EXPECT_EQ(counting->calls, 4);
}

TEST(Bearer, HeaderParsing) {
  EXPECT_EQ(bearer_token("Bearer abc.def-_~+/="), "abc.def-_~+/=");
  EXPECT_EQ(bearer_token("bearer  tok "), "tok");
  EXPECT_FALSE(bearer_token("Basic abc"));
  EXPECT_FALSE(bearer_token("Bearer"));
  EXPECT_FALSE(bearer_token("Bearer "));
  EXPECT_FALSE(bearer_token("Bearer a b"));
  EXPECT_FALSE(bearer_token("Bearertok"));
  EXPECT_EQ(token_hash("x"), token_hash("x"));
  EXPECT_NE(token_hash("x"), token_hash("y"));
}

TEST(Bearer, EveryByteAtEveryPositionOfLongTokens) {
  // The syntax check runs a block of 16 bytes at a time, the last block overlapping: each byte
  // value at each position of tokens around the block sizes is judged as the RFC 6750 table does.
  auto allowed = [](unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           std::string_view("-._~+/=").find(static_cast<char>(c)) != std::string_view::npos;
  };
  for (std::size_t len : {1u, 15u, 16u, 17u, 31u, 32u, 33u, 47u, 434u}) {
    for (std::size_t at = 0; at < len; ++at) {
      for (int c = 0; c < 256; ++c) {
        std::string t(len, 'A');
        t[at] = static_cast<char>(c);
        // Spaces at either end are trimmed, not part of the token.
        if (c == ' ' && (at == 0 || at == len - 1)) continue;
        std::string header = "Bearer " + t;
        auto got = bearer_token(header);
        ASSERT_EQ(got.has_value(), allowed(static_cast<unsigned char>(c))) << "len " << len << " at " << at << " byte " << c;
        if (got) {
          EXPECT_EQ(*got, t);
        }
      }
    }
  }
}

}  // namespace
