#include "jitgate/devauth/config.hpp"

#include <yaml-cpp/yaml.h>

#include "common/strict_yaml.hpp"
#include "jitgate/auth/token_exchange.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace jitgate::devauth {

namespace {

using Reader = yaml::StrictReader<ConfigError>;

}  // namespace

Options parse_options(const std::string& text, const std::string& name) {
  Reader r(name);
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(yaml::syntax_error(name, e));
  }
  YAML::Node root = doc.IsMap() && doc["devauth"] ? doc["devauth"] : doc;
  r.only(root,
         {"host", "port", "issuer", "users", "scopes", "clients", "resources", "default_resource", "cimd_allowed_hosts",
          "access_token_lifetime", "refresh_token_lifetime", "code_lifetime", "dynamic_registration"},
         "devauth");
  Options o;
  if (root["host"]) o.host = r.str(root["host"], "host");
  if (root["port"]) o.port = static_cast<std::uint16_t>(r.integer(root["port"], "port", 0, 65535));
  if (root["issuer"]) o.issuer = r.str(root["issuer"], "issuer");
  if (root["resources"]) o.resources = r.strings(root["resources"], "resources");
  if (root["default_resource"]) o.default_resource = r.str(root["default_resource"], "default_resource");
  if (root["cimd_allowed_hosts"]) o.cimd_allowed_hosts = r.strings(root["cimd_allowed_hosts"], "cimd_allowed_hosts");
  if (root["access_token_lifetime"])
    o.access_token_lifetime = std::chrono::seconds(r.integer(root["access_token_lifetime"], "access_token_lifetime", 10, 86400));
  if (root["refresh_token_lifetime"])
    o.refresh_token_lifetime =
        std::chrono::seconds(r.integer(root["refresh_token_lifetime"], "refresh_token_lifetime", 60, 30 * 86400));
  if (root["code_lifetime"]) o.code_lifetime = std::chrono::seconds(r.integer(root["code_lifetime"], "code_lifetime", 1, 600));
  if (root["dynamic_registration"]) o.dynamic_registration = root["dynamic_registration"].as<bool>();
  if (const auto& scopes = root["scopes"]) {
    if (!scopes.IsSequence()) r.fail(scopes, "scopes must be a list");
    for (const auto& s : scopes) {
      r.only(s, {"name", "description"}, "a scope");
      if (!s["name"]) r.fail(s, "a scope needs a name");
      o.scopes.push_back(Scope{r.str(s["name"], "name"), s["description"] ? r.str(s["description"], "description") : ""});
    }
  }
  if (const auto& users = root["users"]) {
    if (!users.IsSequence()) r.fail(users, "users must be a list");
    for (const auto& u : users) {
      r.only(u, {"username", "name", "password_hash", "roles"}, "a user");
      if (!u["username"] || !u["password_hash"]) r.fail(u, "a user needs username and password_hash");
      User x;
      x.username = r.str(u["username"], "username");
      x.password_hash = r.str(u["password_hash"], "password_hash");
      if (!x.password_hash.starts_with("$argon2id$"))
        r.fail(u["password_hash"], "password_hash must be an argon2id hash (jitgate demo hash-password makes one)");
      if (u["name"]) x.name = r.str(u["name"], "name");
      if (u["roles"]) x.roles = r.strings(u["roles"], "roles");
      o.users.push_back(std::move(x));
    }
  }
  if (const auto& clients = root["clients"]) {
    if (!clients.IsSequence()) r.fail(clients, "clients must be a list");
    for (const auto& c : clients) {
      r.only(c,
             {"client_id", "client_secret", "client_secret_env", "client_name", "redirect_uris", "grant_types", "scope",
              "token_endpoint_auth_method", "exchange_audiences"},
             "a client");
      if (!c["client_id"]) r.fail(c, "a client needs client_id");
      Client x;
      x.client_id = r.str(c["client_id"], "client_id");
      if (c["client_secret"]) x.client_secret = r.str(c["client_secret"], "client_secret");
      if (c["client_secret_env"]) {
        std::string var = r.str(c["client_secret_env"], "client_secret_env");
        const char* v = std::getenv(var.c_str());
        if (!v || !*v) r.fail(c["client_secret_env"], "environment variable " + var + " is not set");
        x.client_secret = v;
      }
      if (c["client_name"]) x.client_name = r.str(c["client_name"], "client_name");
      if (c["redirect_uris"]) x.redirect_uris = r.strings(c["redirect_uris"], "redirect_uris");
      if (c["grant_types"]) x.grant_types = r.strings(c["grant_types"], "grant_types");
      if (c["scope"]) x.scope = r.str(c["scope"], "scope");
      if (c["token_endpoint_auth_method"])
        x.token_endpoint_auth_method = r.str(c["token_endpoint_auth_method"], "token_endpoint_auth_method");
      if (c["exchange_audiences"]) x.exchange_audiences = r.strings(c["exchange_audiences"], "exchange_audiences");
      for (const auto& g : x.grant_types)
        if (g != "authorization_code" && g != "refresh_token" && g != "client_credentials" && g != auth::kTokenExchangeGrant)
          r.fail(c["grant_types"], "unknown grant type " + g);
      bool exchanges = std::find(x.grant_types.begin(), x.grant_types.end(), auth::kTokenExchangeGrant) != x.grant_types.end();
      if (exchanges && x.client_secret.empty()) r.fail(c, "token exchange needs a confidential client (a client_secret)");
      if (exchanges && x.exchange_audiences.empty())
        r.fail(c, "token exchange needs exchange_audiences: the audiences of the tokens this client may exchange");
      if (!exchanges && !x.exchange_audiences.empty())
        r.fail(c["exchange_audiences"], "exchange_audiences needs the grant type " + std::string(auth::kTokenExchangeGrant));
      o.clients.push_back(std::move(x));
    }
  }
  return o;
}

Options load_options(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open the file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_options(ss.str(), path);
}

}  // namespace jitgate::devauth
