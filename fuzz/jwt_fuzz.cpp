// libFuzzer target for JWT handling with a static key set: arbitrary compact tokens, arbitrary
// headers, and arbitrary claim sets under a valid signature (so the claim checks run on anything).
// The first byte picks the mode: 0 a raw token, 1 claims signed with the set's EC key, 2 a header
// and claims separated by a newline with a signature of the right length but wrong value.
#include <cjose/cjose.h>

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "jitgate/auth/jwt_verifier.hpp"
#include "jitgate/auth/token_router.hpp"

namespace {

using namespace jitgate::auth;

std::string b64url(std::string_view s) {
  char* out = nullptr;
  size_t len = 0;
  cjose_err err;
  cjose_base64url_encode(reinterpret_cast<const uint8_t*>(s.data()), s.size(), &out, &len, &err);
  std::string r(out, len);
  cjose_get_dealloc()(out);
  return r;
}

struct Fixture {
  cjose_jwk_t* ec = nullptr;
  std::shared_ptr<JwtVerifier> verifier;
  Fixture() {
    cjose_err err;
    ec = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    cjose_jwk_t* rsa = cjose_jwk_create_RSA_random(2048, nullptr, 0, &err);
    auto pub = [&](cjose_jwk_t* k, const char* kid) {
      char* j = cjose_jwk_to_json(k, false, &err);
      auto o = boost::json::parse(j).as_object();
      std::free(j);
      o["kid"] = kid;
      return o;
    };
    boost::json::object jwks{{"keys", boost::json::array{pub(ec, "ec"), pub(rsa, "rsa")}}};
    cjose_jwk_release(rsa);
    JwtOptions o;
    o.issuer = "https://as.example.com";
    o.audiences = {"https://mcp.example.com/mcp"};
    o.algorithms = {"RS256", "PS256", "ES256", "ES384", "ES512"};
    o.role_claims = {"roles", "realm_access.roles"};
    o.now = [] { return std::int64_t{1'800'000'000}; };
    verifier = std::make_shared<JwtVerifier>(o, std::make_shared<StaticKeySource>(KeySet::parse(boost::json::serialize(jwks))));
  }
  std::string sign(std::string_view claims) const {
    cjose_err err;
    cjose_header_t* h = cjose_header_new(&err);
    cjose_header_set(h, CJOSE_HDR_ALG, "ES256", &err);
    cjose_header_set(h, CJOSE_HDR_KID, "ec", &err);
    cjose_header_set(h, "typ", "at+jwt", &err);
    cjose_jws_t* jws = cjose_jws_sign(ec, h, reinterpret_cast<const uint8_t*>(claims.data()), claims.size(), &err);
    std::string out;
    const char* ser = nullptr;
    if (jws && cjose_jws_export(jws, &ser, &err)) out = ser;
    cjose_jws_release(jws);
    cjose_header_release(h);
    return out;
  }
};

void check(const Verification& v) {
  if (const auto* p = std::get_if<Principal>(&v)) {
    if (p->subject.empty() || p->issuer != "https://as.example.com" || !p->expires_at) std::abort();
  } else if (std::get<TokenError>(v).description.empty()) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string token;
  switch (data[0] % 3) {
    case 0: token = std::string(rest); break;
    case 1: {
      token = f.sign(rest);
      boost::system::error_code ec;
      auto v = boost::json::parse(rest, ec);
      if (!ec && v.is_object()) (void)principal_from_claims(v.get_object(), {"roles", "a.b.c"});
      break;
    }
    default: {
      auto nl = rest.find('\n');
      std::string_view header = rest.substr(0, nl);
      std::string_view claims = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      token = b64url(header) + "." + b64url(claims) + "." + b64url(std::string(64, '\x01'));
      break;
    }
  }
  check(f.verifier->verify(token));
  bool jws = false;
  (void)unverified_issuer(token, jws);
  return 0;
}
