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
  std::string tampered_payload =
      p[0] + "." +
      b64url(R"({"iss":"https://as.example.com","sub":"mallory","aud":"https://mcp.example.com/mcp","exp":1900000000})") + "." +
      p[2];
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
      {"unknown kid", Key{cjose_jwk_create_RSA_random(2048, nullptr, 0, &err_), "rsa-9", "RS256"}.sign(claims()),
       "unknown signing key"},
      {"same kid, another key", other_.sign(claims()), "invalid signature"},
      {"tampered payload", tampered_payload, "invalid signature"},
      {"tampered signature", tampered_sig, "invalid signature"},
      {"garbage base64", "!!!.@@@.###", "malformed token header"},
      {"two parts", "abc.def", "malformed token: not a JWS in compact form"},
      {"oversized", std::string(20000, 'a'), "token too large"},
      {"RS256 header naming an EC key", b64url(R"({"alg":"RS256","kid":"ec-1"})") + "." + payload + "." + p[2],
       "algorithm does not match the signing key"},
      {"not an access token type", rsa_.sign(claims(), json::object{{"typ", "id_token+jwt"}}), "not an access token (typ)"},
      {"unknown critical header", rsa_.sign(claims(), json::object{{"crit", "exp"}}), "unsupported critical header"},
      {"nested JWT (cty)", rsa_.sign(claims(), json::object{{"cty", "JWT"}}), "not an access token (cty)"},
      // Registered claims of the wrong type make the token invalid; they are never read as absent.
      {"string nbf in the future", with("nbf", json::string(std::to_string(kNow + 3600))),
       "malformed token claims: claim 'nbf' is not a NumericDate in range"},
      {"boolean exp", with("exp", true), "malformed token claims: claim 'exp' is not a NumericDate in range"},
      {"string iat", with("iat", "yesterday"), "malformed token claims: claim 'iat' is not a NumericDate in range"},
      {"exp beyond int64", with("exp", json::value(18446744073709551615ull)),
       "malformed token claims: claim 'exp' is not a NumericDate in range"},
      {"exp 1e300", with("exp", 1e300), "malformed token claims: claim 'exp' is not a NumericDate in range"},
      {"negative exp", with("exp", -5), "malformed token claims: claim 'exp' is not a NumericDate in range"},
      {"numeric sub", with("sub", 42), "malformed token claims: claim 'sub' is not a string"},
      {"array scope", with("scope", json::array{"a"}), "malformed token claims: claim 'scope' is not a string"},
      {"numeric aud element", with("aud", json::array{"https://mcp.example.com/mcp", 1}),
       "malformed token claims: claim 'aud' is not a string or an array of strings"},
      {"object client_id", with("client_id", json::object{}), "malformed token claims: claim 'client_id' is not a string"},
      {"numeric iss", with("iss", 1), "malformed token claims: claim 'iss' is not a string"},
      {"fractional nbf just ahead, rounded up", with("nbf", kNow + 60.5), "token not yet valid"},
      {"fractional exp just past, rounded down", with("exp", kNow - 59.5), "token expired"},
  };
  for (const auto& r : rows) EXPECT_EQ(error_of(r.token), r.error) << r.name;
  EXPECT_EQ(error_of(good), "");
}

TEST_F(Jwt, FractionalNumericDatesAreLegal) {
  auto c = claims();
  c["exp"] = kNow + 300.75;
  c["iat"] = kNow - 0.25;
  c["nbf"] = kNow - 10.5;
  auto v = verifier_->verify(ec_.sign(c));
  ASSERT_TRUE(std::holds_alternative<Principal>(v)) << std::get<TokenError>(v).description;
  EXPECT_EQ(std::get<Principal>(v).expires_at, kNow + 300);  // rounded down: never trusted longer
}

// One signature has one spelling: a signature of any other length than its algorithm's (RFC 7518
// section 3.4: ES256 is exactly 64 octets, R || S) or a base64url text with nonzero unused bits fails.
TEST_F(Jwt, SignaturesHaveExactlyOneSpelling) {
  auto split = [](const std::string& t) {
    auto b = t.rfind('.');
    return std::pair{t.substr(0, b + 1), t.substr(b + 1)};
  };
  auto decode = [](const std::string& s) {
    uint8_t* out = nullptr;
    size_t len = 0;
    cjose_err e;
    cjose_base64url_decode(s.data(), s.size(), &out, &len, &e);
    std::string r(reinterpret_cast<char*>(out), len);
    cjose_get_dealloc()(out);
    return r;
  };
  for (const Key* k : {&ec_, &ec384_}) {
    auto [head, sig] = split(k->sign(claims()));
    std::string raw = decode(sig);
    std::size_t half = raw.size() / 2;
    ASSERT_EQ(raw.size(), k == &ec_ ? 64u : 96u);
    // R and S each with a leading zero octet: the same numbers, so cjose alone verifies it.
    std::string padded = std::string(1, '\0') + raw.substr(0, half) + std::string(1, '\0') + raw.substr(half);
    EXPECT_EQ(error_of(head + b64url(padded)), "invalid signature (wrong length for " + k->alg + ")") << k->alg;
    EXPECT_EQ(error_of(head + b64url(raw.substr(1))), "invalid signature (wrong length for " + k->alg + ")") << k->alg;
    EXPECT_EQ(error_of(head + sig), "") << k->alg;
  }
  auto [head, sig] = split(rsa_.sign(claims()));
  EXPECT_EQ(error_of(head + b64url(std::string(1, '\0') + decode(sig))), "invalid signature (wrong length for RS256)");
  // 256 octets leave 4 unused bits in the last character: set one, the octets stay the same.
  std::string respelt = sig;
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  respelt.back() = alphabet[alphabet.find(sig.back()) | 1];
  ASSERT_NE(respelt, sig);
  ASSERT_EQ(decode(respelt), decode(sig));
  EXPECT_EQ(error_of(head + respelt), "malformed token signature");
}

TEST_F(Jwt, TypRuleIsPerIssuerBothWays) {
  struct Row {
    const char* typ;  // nullptr: no typ header
    bool lenient, strict;
  };
  std::vector<Row> rows{{nullptr, true, false},
                        {"JWT", true, false},
                        {"jwt", true, false},
                        {"application/jwt", true, false},
                        {"at+jwt", true, true},
                        {"AT+JWT", true, true},
                        {"application/at+jwt", true, true},
                        {"id_token+jwt", false, false},
                        {"JOSE", false, false},
                        {"logout+jwt", false, false}};
  for (bool strict : {false, true}) {
    JwtOptions o;
    o.issuer = "https://as.example.com";
    o.audiences = {"https://mcp.example.com/mcp"};
    o.require_at_jwt_typ = strict;
    o.now = [] { return kNow; };
    JwtVerifier v(o, std::make_shared<StaticKeySource>(keys_));
    for (const auto& r : rows) {
      // The signer always sets typ; an empty object header_extra keeps at+jwt, so craft the header here.
      cjose_err e;
      cjose_header_t* h = cjose_header_new(&e);
      cjose_header_set(h, CJOSE_HDR_ALG, "ES256", &e);
      cjose_header_set(h, CJOSE_HDR_KID, "ec-1", &e);
      if (r.typ) cjose_header_set(h, "typ", r.typ, &e);
      std::string body = json::serialize(claims());
      cjose_jws_t* jws = cjose_jws_sign(ec_.jwk, h, reinterpret_cast<const uint8_t*>(body.data()), body.size(), &e);
      const char* ser = nullptr;
      cjose_jws_export(jws, &ser, &e);
      std::string token(ser);
      cjose_jws_release(jws);
      cjose_header_release(h);
      bool want = strict ? r.strict : r.lenient;
      EXPECT_EQ(std::holds_alternative<Principal>(v.verify(token)), want) << (r.typ ? r.typ : "(none)") << " strict=" << strict;
    }
  }
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
  auto set = KeySet::parse(
      R"({"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"},{"kty":"RSA","use":"enc","kid":"e","n":"AQAB","e":"AQAB"}]})");
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
  now = kNow + 301;               // past the token's exp: the cache no longer vouches for it and asks the verifier again
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

// Weak and malformed keys are refused at load, each named with its reason; the others stay usable.
TEST(KeySetParse, RefusesWeakAndMalformedKeysOneByOne) {
  cjose_err err;
  Key good{cjose_jwk_create_RSA_random(2048, nullptr, 0, &err), "good", "RS256"};
  Key small{cjose_jwk_create_RSA_random(1024, nullptr, 0, &err), "small", "RS256"};
  Key ec = Key::ec("ec");
  auto member = [](const Key& k) { return json::parse(k.public_json()).as_object(); };
  auto with = [&](const Key& k, std::string kid, std::initializer_list<std::pair<std::string_view, json::value>> changes) {
    auto o = member(k);
    o["kid"] = kid;
    for (const auto& [name, v] : changes) {
      if (v.is_null())
        o.erase(name);
      else
        o[name] = v;
    }
    return o;
  };
  std::string y = std::string(member(ec).at("y").as_string());
  y[5] = y[5] == 'A' ? 'B' : 'A';  // another y: almost surely off the curve
  struct Row {
    json::object key;
    const char* refused;  // nullptr: accepted
  };
  std::vector<Row> rows{
      {with(good, "rsa-65537", {}), nullptr},
      {with(good, "rsa-e3", {{"e", "Aw"}}), nullptr},
      {with(small, "rsa-1024", {}), "key 'rsa-1024': RSA modulus of 1024 bits is under 2048"},
      {with(good, "rsa-e1", {{"e", "AQ"}}), "key 'rsa-e1': RSA public exponent 1 is not odd and at least 3"},
      {with(good, "rsa-e2", {{"e", "Ag"}}), "key 'rsa-e2': RSA public exponent 2 is not odd and at least 3"},
      {with(good, "rsa-e-even", {{"e", "AQAA"}}), "key 'rsa-e-even': RSA public exponent 65536 is not odd and at least 3"},
      {with(good, "rsa-e-huge", {{"e", "AQAAAAAAAAAB"}}), "key 'rsa-e-huge': RSA public exponent is larger than 2^64"},
      {with(good, "rsa-no-n", {{"n", nullptr}}), "key 'rsa-no-n': an RSA key needs string members n and e"},
      {with(good, "rsa-n-number", {{"n", 5}}), "key 'rsa-n-number': an RSA key needs string members n and e"},
      {with(good, "rsa-n-padded", {{"n", json::value(std::string(member(good).at("n").as_string()) + "==")}}),
       "key 'rsa-n-padded': n or e is not base64url"},
      {with(good, "rsa-as-es", {{"alg", "ES256"}}), "key 'rsa-as-es': alg 'ES256' is not an RSA signature algorithm"},
      {with(good, "rsa-enc", {{"alg", "RSA-OAEP"}}), "key 'rsa-enc': alg 'RSA-OAEP' is not an RSA signature algorithm"},
      {with(good, "use-enc", {{"use", "enc"}}), "key 'use-enc': use is 'enc', not 'sig'"},
      {with(good, "use-number", {{"use", 1}}), "key 'use-number': kty, use or alg is not a string"},
      {with(good, "ops-sign", {{"key_ops", json::array{"sign"}}}), "key 'ops-sign': key_ops does not include 'verify'"},
      {with(good, "ops-encrypt", {{"key_ops", json::array{"encrypt", "wrapKey"}}}),
       "key 'ops-encrypt': key_ops does not include 'verify'"},
      {with(good, "ops-verify", {{"key_ops", json::array{"verify"}}}), nullptr},
      {with(good, "ops-string", {{"key_ops", "verify"}}), "key 'ops-string': key_ops is not an array of distinct strings"},
      {with(good, "ops-twice", {{"key_ops", json::array{"verify", "verify"}}}),
       "key 'ops-twice': key_ops is not an array of distinct strings"},
      {with(ec, "ec-ok", {}), nullptr},
      {with(ec, "ec-off-curve", {{"y", json::value(y)}}), "key 'ec-off-curve': the point is not on P-256"},
      {with(ec, "ec-short-x", {{"x", json::value(b64url(std::string(31, 'x')))}}),
       "key 'ec-short-x': coordinates are not 32 octets for P-256"},
      {with(ec, "ec-wrong-alg", {{"alg", "ES384"}}), "key 'ec-wrong-alg': alg 'ES384' does not fit curve P-256"},
      {with(ec, "ec-secp256k1", {{"crv", "secp256k1"}}), "key 'ec-secp256k1': curve secp256k1 is not supported"},
      {with(ec, "ec-no-crv", {{"crv", nullptr}}), "key 'ec-no-crv': an EC key needs a string crv"},
      {json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}},
       "key 'hmac': key type 'oct' does not verify signatures here"},
      {json::object{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}, {"kid", "ed"}},
       "key 'ed': key type 'OKP' does not verify signatures here"},
  };
  for (const auto& r : rows) {
    std::string jwks = json::serialize(json::object{{"keys", json::array{r.key, with(good, "other", {})}}});
    auto set = KeySet::parse(jwks);
    ASSERT_TRUE(set) << jwks;
    std::string kid(r.key.at("kid").as_string());
    EXPECT_TRUE(set->find("other")) << kid << ": the other key stays usable";
    if (r.refused) {
      EXPECT_FALSE(set->find(kid)) << kid;
      ASSERT_EQ(set->refused().size(), 1u) << kid;
      EXPECT_EQ(set->refused()[0], r.refused);
    } else {
      EXPECT_TRUE(set->find(kid)) << kid << ": " << (set->refused().empty() ? "" : set->refused()[0]);
    }
  }
  // Not an object, a kid that is not a string, two keys under one kid (neither verifies).
  auto set =
      KeySet::parse(json::serialize(json::object{{"keys", json::array{5, with(good, "x", {{"kid", 7}}), with(good, "twin", {}),
                                                                      with(ec, "twin", {}), with(good, "other", {})}}}));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->size(), 1u);
  EXPECT_EQ(set->refused(), (std::vector<std::string>{"key #1: not a JSON object", "key #2: kid is not a string",
                                                      "key 'twin': the kid names more than one key"}));
}

// e = 1 is the classic forgery: the "signature" is the padded digest itself, no private key needed.
TEST(KeySetParse, AnExponentOfOneCannotVerifyAForgery) {
  cjose_err err;
  Key real{cjose_jwk_create_RSA_random(2048, nullptr, 0, &err), "k", "RS256"};
  auto o = json::parse(real.public_json()).as_object();
  o["e"] = "AQ";
  auto set = KeySet::parse(json::serialize(json::object{{"keys", json::array{o}}}));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->size(), 0u);
  JwtOptions opts;
  opts.issuer = "https://as.example.com";
  opts.audiences = {"https://mcp.example.com/mcp"};
  opts.now = [] { return kNow; };
  JwtVerifier v(opts, std::make_shared<StaticKeySource>(set));
  std::string forged =
      b64url(R"({"alg":"RS256","kid":"k"})") + "." +
      b64url(R"({"iss":"https://as.example.com","sub":"x","aud":"https://mcp.example.com/mcp","exp":1900000000})") + "." +
      b64url(std::string(256, 'A'));
  EXPECT_EQ(std::get<TokenError>(v.verify(forged)).description, "unknown signing key");
}

}  // namespace
