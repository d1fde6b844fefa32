// RFC 7662 token introspection for opaque access tokens. Put a CachingVerifier in front of it:
// active results are then reused until the token's expiry (bounded).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "jitgate/auth/http_fetch.hpp"
#include "jitgate/auth/token_verifier.hpp"

namespace jitgate::auth {

struct IntrospectionOptions {
  std::string issuer;
  std::string endpoint;  // the introspection_endpoint
  std::string client_id;
  std::string client_secret;
  enum class ClientAuth { basic, post } client_auth = ClientAuth::basic;
  std::vector<std::string> audiences;  // the token's aud must contain one (RFC 8707 binding)
  std::vector<std::string> role_claims{"roles"};
  std::size_t max_token_bytes = 16 * 1024;
  std::function<std::int64_t()> now;  // seconds since the epoch; the system clock when empty
};

class IntrospectionVerifier : public TokenVerifier {
 public:
  IntrospectionVerifier(IntrospectionOptions options, Fetcher fetch);
  Verification verify(std::string_view token) override;

 private:
  IntrospectionOptions options_;
  Fetcher fetch_;
};

}  // namespace jitgate::auth
