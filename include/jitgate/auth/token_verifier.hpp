// Turning a bearer token into a Principal. A failure is a value (the 401 description), never an
// exception; anything that cannot decide denies.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "jitgate/auth/principal.hpp"

namespace jitgate::auth {

struct TokenError {
  std::string description;  // for error_description; never contains the token
  // invalid: the token is refused (401). unavailable: nobody could vouch for it now (the
  // authorization server is unreachable; still 401, fail closed). rate_limited: this client sent
  // too many tokens that need the authorization server (429, and the server was not asked).
  enum class Kind { invalid, unavailable, rate_limited } kind = Kind::invalid;
};

using Verification = std::variant<Principal, TokenError>;

class TokenVerifier {
 public:
  virtual ~TokenVerifier() = default;
  virtual Verification verify(std::string_view token) = 0;
  // The same, knowing the address of the client that presents the token (per-client limits on
  // work that reaches an authorization server); verify(token) unless a verifier cares.
  virtual Verification verify_from(std::string_view token, std::string_view /*peer*/) { return verify(token); }
  // The caller behind a token already verified and still trusted, without any verification work;
  // null when verify() would have to do real work (and maybe reach an authorization server).
  virtual std::shared_ptr<const Principal> remembered(std::string_view /*token*/) const { return nullptr; }
};

// The bearer token of an Authorization header value ("Bearer <token>", scheme case-insensitive).
// nullopt when the header is not a well-formed Bearer credential.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// A short, non-reversible label for logs (the first 12 hex digits of SHA-256).
std::string token_hash(std::string_view token);

}  // namespace jitgate::auth
