// The signing keys: ES256 (P-256) keys generated at start-up with cjose, the newest signs, the
// previous one stays in the JWKS after a rotation so tokens it signed keep verifying.
#pragma once

#include <boost/json/object.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace jitgate::devauth {

class KeyRing {
 public:
  KeyRing();
  ~KeyRing();
  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;

  // A fresh key signs from now on; the previous signing key is still published, older ones go.
  void rotate();
  std::string jwks_json() const;  // public keys only
  std::string current_kid() const;
  // A compact JWS over the claims, header {alg: ES256, typ: at+jwt, kid}.
  std::string sign(const boost::json::object& claims) const;

 private:
  struct Key;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Key>> keys_;  // newest last
};

}  // namespace jitgate::devauth
