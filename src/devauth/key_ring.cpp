#include "devauth/key_ring.hpp"

#include <cjose/cjose.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <stdexcept>

#include "devauth/util.hpp"

namespace jitgate::devauth {

namespace json = boost::json;

struct KeyRing::Key {
  cjose_jwk_t* jwk = nullptr;
  std::string kid;
  ~Key() {
    if (jwk) cjose_jwk_release(jwk);
  }
};

KeyRing::KeyRing() { rotate(); }
KeyRing::~KeyRing() = default;

void KeyRing::rotate() {
  auto key = std::make_shared<Key>();
  cjose_err err;
  key->jwk = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
  if (!key->jwk) throw std::runtime_error(std::string("cannot generate a signing key: ") + err.message);
  key->kid = random_token(12);
  std::lock_guard lock(mu_);
  keys_.push_back(std::move(key));
  while (keys_.size() > 2) keys_.erase(keys_.begin());
}

std::string KeyRing::current_kid() const {
  std::lock_guard lock(mu_);
  return keys_.back()->kid;
}

std::string KeyRing::jwks_json() const {
  std::lock_guard lock(mu_);
  json::array keys;
  for (auto it = keys_.rbegin(); it != keys_.rend(); ++it) {
    cjose_err err;
    char* text = cjose_jwk_to_json((*it)->jwk, false, &err);
    if (!text) throw std::runtime_error("cannot export a public key");
    auto o = json::parse(text).as_object();
    std::free(text);
    o["kid"] = (*it)->kid;
    o["alg"] = "ES256";
    o["use"] = "sig";
    keys.push_back(std::move(o));
  }
  return json::serialize(json::object{{"keys", std::move(keys)}});
}

std::string KeyRing::sign(const json::object& claims) const {
  std::shared_ptr<Key> key;
  {
    std::lock_guard lock(mu_);
    key = keys_.back();
  }
  cjose_err err;
  cjose_header_t* h = cjose_header_new(&err);
  if (!h) throw std::runtime_error("cannot create a JWS header");
  bool ok = cjose_header_set(h, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &err) &&
            cjose_header_set(h, CJOSE_HDR_KID, key->kid.c_str(), &err) && cjose_header_set(h, "typ", "at+jwt", &err);
  std::string body = json::serialize(claims);
  cjose_jws_t* jws = ok ? cjose_jws_sign(key->jwk, h, reinterpret_cast<const uint8_t*>(body.data()), body.size(), &err) : nullptr;
  cjose_header_release(h);
  if (!jws) throw std::runtime_error(std::string("cannot sign a token: ") + err.message);
  const char* compact = nullptr;
  std::string out;
  if (cjose_jws_export(jws, &compact, &err)) out = compact;
  cjose_jws_release(jws);
  if (out.empty()) throw std::runtime_error("cannot serialize a token");
  return out;
}

}  // namespace jitgate::devauth
