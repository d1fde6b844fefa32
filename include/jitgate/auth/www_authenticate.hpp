// RFC 6750 / RFC 9728 challenges: building the WWW-Authenticate header a resource server sends,
// and parsing one (for clients that step up).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jitgate::auth {

struct Challenge {
  std::string scheme = "Bearer";
  // Parameters in the order they are written; names are compared case-insensitively when parsing.
  std::vector<std::pair<std::string, std::string>> params;

  std::optional<std::string> param(std::string_view name) const;
  Challenge& set(std::string name, std::string value);

  // The three challenges of the MCP authorization specification.
  static Challenge missing_token(std::string_view resource_metadata, std::string_view scope);
  static Challenge invalid_token(std::string_view resource_metadata, std::string_view description);
  static Challenge insufficient_scope(std::string_view resource_metadata, std::string_view scope,
                                      std::string_view description = {});
};

// Serializes one challenge: `Bearer k="v", k2="v2"` with quoted-string escaping.
std::string to_header(const Challenge& c);

// Parses a WWW-Authenticate value holding one or more challenges (RFC 9110 §11.6.1): schemes,
// token68 or auth-params, quoted strings with escapes, any order, whitespace and empty list elements.
// Returns nullopt on malformed input.
std::optional<std::vector<Challenge>> parse_www_authenticate(std::string_view value);

}  // namespace jitgate::auth
