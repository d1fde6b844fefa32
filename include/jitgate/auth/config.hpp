// The resource-server configuration (YAML), validated with file:line messages, and the guard it builds.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "jitgate/auth/http_fetch.hpp"
#include "jitgate/auth/request_guard.hpp"
#include "jitgate/auth/token_router.hpp"

namespace jitgate::auth {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct IssuerConfig {
  std::string issuer;
  // JWT validation (the default when `introspection` is absent).
  bool jwt = true;
  std::string jwks_uri;
  std::set<std::string, std::less<>> algorithms{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"};
  bool require_at_jwt_typ = false;  // true: only typ at+jwt (RFC 9068); false: also none or JWT
  // RFC 7662 introspection for opaque tokens.
  bool introspection = false;
  std::string introspection_endpoint;  // discovered when empty
  std::string client_id;
  std::string client_secret;
  bool client_secret_post = false;
  // Opaque tokens this issuer owns start with one of these; with several introspection issuers,
  // all but one must name prefixes (an opaque token has exactly one destination).
  std::vector<std::string> token_prefixes;
};

struct AuthConfig {
  ResourceMetadata metadata;
  std::vector<IssuerConfig> issuers;
  std::vector<std::string> audiences;  // besides the resource itself
  std::int64_t clock_skew_seconds = 60;
  std::vector<std::string> role_claims{"roles"};
  std::int64_t jwks_min_ttl = 60, jwks_max_ttl = 3600, jwks_refetch_interval = 10, jwks_max_stale = 3600;
  std::size_t token_cache_entries = 100'000;
  // How long a verified token is trusted without asking again (capped by its own exp): the bound on
  // how late a key removal or a revocation takes effect for a token already seen.
  std::int64_t token_cache_seconds = 300;
  std::map<std::string, std::set<std::string>, std::less<>> required_scopes;
  IntrospectionLimits introspection_limits;
};

// Throws ConfigError("file:line:column: message") on anything wrong, unknown keys included.
AuthConfig load_auth_config(const std::string& path);
AuthConfig parse_auth_config(const std::string& yaml_text, const std::string& name = "<config>");
// Builds the verifiers (JWKS caches, introspection, the verified-token cache) and the guard.
std::shared_ptr<RequestGuard> make_guard(const AuthConfig& config, Fetcher fetch = make_http_fetcher());

}  // namespace jitgate::auth
