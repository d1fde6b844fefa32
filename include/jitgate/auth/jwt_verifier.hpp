// JWT access tokens (RFC 9068) verified against a JSON Web Key Set with cjose (OpenSSL underneath).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "jitgate/auth/token_verifier.hpp"

namespace jitgate::auth {

// One verification key from a JWKS. Owns its cjose key.
class VerificationKey {
 public:
  ~VerificationKey();
  VerificationKey(const VerificationKey&) = delete;
  VerificationKey& operator=(const VerificationKey&) = delete;

  const std::string& kid() const { return kid_; }
  const std::string& kty() const { return kty_; }  // "RSA", "EC", "OKP"
  const std::string& alg() const { return alg_; }  // from the JWK, may be empty
  const std::string& crv() const { return crv_; }
  const void* handle() const { return jwk_; }
  // Whether a token signed with `alg` may be verified with this key (the key's own algorithm).
  bool accepts(std::string_view alg) const;
  // The exact length of an `alg` signature made with this key (RFC 7518 sections 3.3 to 3.5): the
  // modulus length for RS* and PS*, 64, 96 or 132 octets for ES256, ES384 and ES512.
  std::size_t signature_bytes(std::string_view alg) const;

 private:
  friend class KeySet;
  VerificationKey() = default;
  void* jwk_ = nullptr;
  std::string kid_, kty_, alg_, crv_;
  std::size_t modulus_bytes_ = 0;  // RSA only
};

// A parsed JWKS. Only public signature keys strong enough to trust are kept (RFC 7517, 7518): RSA
// with a modulus of 2048 to 16384 bits and an odd public exponent from 3 to 2^64-1, EC on P-256,
// P-384 or P-521 with a point on its curve; `use` (when present) "sig", `key_ops` (when present)
// naming "verify", `alg` (when present) a signature algorithm of the key's type and curve. Every
// other key is refused, with its kid and the reason in refused(); the rest stay usable. Keys that
// share a kid are all refused (a token's kid must name one key).
class KeySet {
 public:
  static std::shared_ptr<const KeySet> parse(std::string_view jwks_json, std::string* error = nullptr);
  const VerificationKey* find(std::string_view kid) const;
  // The only key, when the set has exactly one and the token names none.
  const VerificationKey* sole() const;
  std::size_t size() const { return keys_.size(); }
  // One line per refused key: "key 'kid': reason".
  const std::vector<std::string>& refused() const { return refused_; }

 private:
  std::vector<std::unique_ptr<VerificationKey>> keys_;
  std::vector<std::string> refused_;
};

// Where a verifier gets keys. A JWKS cache implements it (refetching on an unknown kid).
class KeySource {
 public:
  virtual ~KeySource() = default;
  // The current keys; `unknown_kid` names a kid the last set did not have (a hint to refresh).
  virtual std::shared_ptr<const KeySet> keys(std::string_view unknown_kid = {}) = 0;
};

class StaticKeySource : public KeySource {
 public:
  explicit StaticKeySource(std::shared_ptr<const KeySet> keys) : keys_(std::move(keys)) {}
  std::shared_ptr<const KeySet> keys(std::string_view) override { return keys_; }

 private:
  std::shared_ptr<const KeySet> keys_;
};

struct JwtOptions {
  std::string issuer;                  // exact match of `iss`
  std::vector<std::string> audiences;  // `aud` must contain one of them (RFC 8707 resource)
  std::set<std::string, std::less<>> algorithms{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"};
  std::chrono::seconds clock_skew{60};
  std::size_t max_token_bytes = 16 * 1024;
  // Where roles live: dotted claim paths such as "realm_access.roles", "groups", "roles".
  std::vector<std::string> role_claims{"roles"};
  // The `typ` header (RFC 9068 section 4): false accepts none, "JWT", "at+jwt" and
  // "application/at+jwt"; true only the last two. Any other value (an ID token's, say) is refused.
  bool require_at_jwt_typ = false;
  std::function<std::int64_t()> now;  // seconds since the epoch; the system clock when empty
};

class JwtVerifier : public TokenVerifier {
 public:
  JwtVerifier(JwtOptions options, std::shared_ptr<KeySource> keys);
  Verification verify(std::string_view token) override;

 private:
  JwtOptions options_;
  std::shared_ptr<KeySource> keys_;
};

// Scopes from a claim set: the `scope` string (space-separated) and the `scp` array (or string).
std::set<std::string, std::less<>> scopes_from_claims(const boost::json::object& claims);
// Roles from a claim set: each dotted path of `role_claims` (`realm_access.roles`), a string or an
// array of strings (other elements are ignored). JWTs and introspection answers both use it.
std::set<std::string, std::less<>> roles_from_claims(const boost::json::object& claims,
                                                     const std::vector<std::string>& role_claims);

// The Principal a verified claim set stands for: issuer (`iss`), subject (`sub`; none means
// anonymous), client id (`client_id`, else `azp`), scopes, roles from the dotted `role_claims`
// paths (a string or an array of strings each), expiry (`exp`) and the claims themselves. It checks
// nothing: the verifier calls it once a token passed, `jitgate policy explain` on claims as given.
Principal principal_from_claims(boost::json::object claims, const std::vector<std::string>& role_claims);

}  // namespace jitgate::auth
