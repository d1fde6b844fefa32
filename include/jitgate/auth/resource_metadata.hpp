// RFC 9728 Protected Resource Metadata for an MCP server.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jitgate::auth {

struct ResourceMetadata {
  std::string resource;  // the canonical URI of the MCP endpoint, e.g. https://mcp.example.com/mcp
  std::vector<std::string> authorization_servers;
  std::vector<std::string> scopes_supported;  // the minimal tier only; higher tiers come by step-up
  std::string resource_name;
  std::vector<std::string> bearer_methods_supported{"header"};

  boost::json::object to_json() const;
  // The path-inserted well-known path ("/.well-known/oauth-protected-resource/mcp") and its URL.
  std::string well_known_path() const;
  std::string well_known_url() const;
};

// The canonical form of a resource URI (lowercase scheme and host, no fragment, no trailing slash
// on a path); nullopt when it is not an absolute http(s) URI.
std::optional<std::string> canonical_resource(std::string_view uri);

}  // namespace jitgate::auth
