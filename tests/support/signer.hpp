// Real keys and signed tokens for tests (cjose over OpenSSL): an authorization server in miniature.
#pragma once

#include <cjose/cjose.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <string>

namespace testsupport {

inline std::string b64url(std::string_view s) {
  char* out = nullptr;
  size_t len = 0;
  cjose_err err;
  cjose_base64url_encode(reinterpret_cast<const uint8_t*>(s.data()), s.size(), &out, &len, &err);
  std::string r(out, len);
  cjose_get_dealloc()(out);
  return r;
}

struct SigningKey {
  cjose_jwk_t* jwk;
  std::string kid;
  std::string alg;
  ~SigningKey() { cjose_jwk_release(jwk); }
  static SigningKey ec(std::string kid) {
    cjose_err err;
    return SigningKey{cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err), std::move(kid), "ES256"};
  }
  std::string public_json() const {
    cjose_err err;
    char* j = cjose_jwk_to_json(jwk, false, &err);
    auto o = boost::json::parse(j).as_object();
    std::free(j);
    o["kid"] = kid;
    return boost::json::serialize(o);
  }
  std::string jwks() const { return R"({"keys":[)" + public_json() + "]}"; }
  std::string sign(const boost::json::object& claims, const boost::json::object& header_extra = {}) const {
    cjose_err err;
    cjose_header_t* h = cjose_header_new(&err);
    cjose_header_set(h, CJOSE_HDR_ALG, alg.c_str(), &err);
    cjose_header_set(h, CJOSE_HDR_KID, kid.c_str(), &err);
    cjose_header_set(h, "typ", "at+jwt", &err);
    for (const auto& [k, v] : header_extra) cjose_header_set(h, std::string(k).c_str(), std::string(v.as_string()).c_str(), &err);
    std::string body = boost::json::serialize(claims);
    cjose_jws_t* jws = cjose_jws_sign(jwk, h, reinterpret_cast<const uint8_t*>(body.data()), body.size(), &err);
    const char* ser = nullptr;
    cjose_jws_export(jws, &ser, &err);
    std::string out(ser);
    cjose_jws_release(jws);
    cjose_header_release(h);
    return out;
  }
};

}  // namespace testsupport
