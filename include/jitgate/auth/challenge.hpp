// The one place a refusal becomes what the client sees: HTTP status, WWW-Authenticate challenge
// and JSON body. Every layer that refuses (the policy's decision on a call, a missing or bad
// token, a rate limit) hands its reason here, so a challenge reads the same wherever it came from.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "jitgate/auth/resource_metadata.hpp"

namespace jitgate::auth {

// What would turn a refusal into an allow: signing in, or a token with more scopes. None: nothing a
// client can do (roles, claims, arguments), and the refusal says no more than that.
enum class Remedy : std::uint8_t { none, authenticate, step_up };

struct ChallengeResponse {
  unsigned status = 403;
  std::string www_authenticate;  // empty: no challenge header
  std::string error;             // OAuth error code in the body; empty when the challenge names none
  std::string description;
  std::string body;  // {"error":…,"error_description":…}
};

// A policy refusal: 401 with a challenge when signing in helps (scope = `scopes`), 403
// insufficient_scope naming `scopes` when a token with more scopes would, else a plain 403.
ChallengeResponse challenge_for(Remedy remedy, std::span<const std::string> scopes, const ResourceMetadata& metadata);
// A token the verifier refused, or an Authorization header that is not a Bearer token: 401
// invalid_token with `description`.
ChallengeResponse invalid_token_challenge(std::string_view description, const ResourceMetadata& metadata);

// The JSON body of a refusal: an OAuth error code only when the challenge carries one (a request
// without a token gets none, RFC 6750 §3.1).
std::string refusal_body(std::string_view error, std::string_view description);

}  // namespace jitgate::auth
