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
};

using Verification = std::variant<Principal, TokenError>;

class TokenVerifier {
 public:
  virtual ~TokenVerifier() = default;
  virtual Verification verify(std::string_view token) = 0;
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
