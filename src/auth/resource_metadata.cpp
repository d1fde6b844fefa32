#include "jitgate/auth/resource_metadata.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cctype>

namespace jitgate::auth {

namespace json = boost::json;

std::optional<std::string> canonical_resource(std::string_view uri) {
  auto r = boost::urls::parse_absolute_uri(uri);
  if (!r) return std::nullopt;
  boost::urls::url u(*r);
  std::string scheme(u.scheme());
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "http" && scheme != "https") return std::nullopt;
  if (u.encoded_host().empty()) return std::nullopt;
  std::string host(u.encoded_host());
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string out = scheme + "://" + host;
  if (u.has_port()) out += ":" + std::string(u.port());
  std::string path(u.encoded_path());
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path != "/") out += path;
  if (u.has_query()) out += "?" + std::string(u.encoded_query());
  return out;
}

json::object ResourceMetadata::to_json() const {
  auto arr = [](const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v) a.push_back(json::string(s));
    return a;
  };
  json::object o{{"resource", resource},
                 {"authorization_servers", arr(authorization_servers)},
                 {"bearer_methods_supported", arr(bearer_methods_supported)}};
  if (!scopes_supported.empty()) o["scopes_supported"] = arr(scopes_supported);
  if (!resource_name.empty()) o["resource_name"] = resource_name;
  return o;
}

std::string ResourceMetadata::well_known_path() const {
  auto r = boost::urls::parse_absolute_uri(resource);
  std::string path = r ? std::string(r->encoded_path()) : std::string();
  if (path == "/") path.clear();
  return "/.well-known/oauth-protected-resource" + path;
}

std::string ResourceMetadata::well_known_url() const {
  auto r = boost::urls::parse_absolute_uri(resource);
  if (!r) return well_known_path();
  std::string origin = std::string(r->scheme()) + "://" + std::string(r->encoded_authority());
  return origin + well_known_path();
}

}  // namespace jitgate::auth
