#include "jitgate/auth/config.hpp"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include "common/strict_yaml.hpp"

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "jitgate/auth/introspection.hpp"
#include "jitgate/auth/jwks_cache.hpp"
#include "jitgate/auth/jwt_verifier.hpp"
#include "jitgate/auth/token_cache.hpp"

namespace jitgate::auth {

namespace json = boost::json;

namespace {

using Reader = yaml::StrictReader<ConfigError>;

// Secrets may come from the environment so that config files carry none.
std::string secret(Reader& r, const YAML::Node& issuer, const char* key, const char* env_key) {
  if (issuer[key]) return r.str(issuer[key], key);
  if (issuer[env_key]) {
    std::string var = r.str(issuer[env_key], env_key);
    const char* v = std::getenv(var.c_str());
    if (!v) r.fail(issuer[env_key], "environment variable " + var + " is not set");
    return v;
  }
  return {};
}

}  // namespace

AuthConfig parse_auth_config(const std::string& text, const std::string& name) {
  Reader r(name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(yaml::syntax_error(name, e));
  }
  r.only(root,
         {"resource", "resource_name", "scopes_supported", "authorization_servers", "audiences", "clock_skew", "role_claims",
          "jwks", "token_cache_entries", "token_cache_seconds", "required_scopes", "introspection_limits"},
         "the configuration");
  AuthConfig c;
  if (!root["resource"]) r.fail(root, "'resource' (the canonical URI of the MCP endpoint) is required");
  auto canonical = canonical_resource(r.str(root["resource"], "resource"));
  if (!canonical) r.fail(root["resource"], "resource must be an absolute http(s) URI");
  c.metadata.resource = *canonical;
  if (root["resource_name"]) c.metadata.resource_name = r.str(root["resource_name"], "resource_name");
  if (root["scopes_supported"]) c.metadata.scopes_supported = r.strings(root["scopes_supported"], "scopes_supported");
  if (root["audiences"]) c.audiences = r.strings(root["audiences"], "audiences");
  if (root["clock_skew"]) c.clock_skew_seconds = r.integer(root["clock_skew"], "clock_skew", 0, 600);
  if (root["role_claims"]) c.role_claims = r.strings(root["role_claims"], "role_claims");
  if (root["token_cache_entries"])
    c.token_cache_entries =
        static_cast<std::size_t>(r.integer(root["token_cache_entries"], "token_cache_entries", 16, 10'000'000));
  if (root["token_cache_seconds"])
    c.token_cache_seconds = r.integer(root["token_cache_seconds"], "token_cache_seconds", 0, 86400);
  if (const auto& j = root["jwks"]) {
    r.only(j, {"min_ttl", "max_ttl", "refetch_interval", "max_stale"}, "jwks");
    if (j["min_ttl"]) c.jwks_min_ttl = r.integer(j["min_ttl"], "jwks.min_ttl", 0, 86400);
    if (j["max_ttl"]) c.jwks_max_ttl = r.integer(j["max_ttl"], "jwks.max_ttl", 1, 7 * 86400);
    if (j["refetch_interval"]) c.jwks_refetch_interval = r.integer(j["refetch_interval"], "jwks.refetch_interval", 0, 3600);
    if (j["max_stale"]) c.jwks_max_stale = r.integer(j["max_stale"], "jwks.max_stale", 0, 30 * 86400);
    if (c.jwks_min_ttl > c.jwks_max_ttl) r.fail(j, "jwks.min_ttl is larger than jwks.max_ttl");
  }
  if (const auto& l = root["introspection_limits"]) {
    r.only(l,
           {"max_token_bytes", "negative_cache_seconds", "negative_cache_entries", "per_address_burst", "per_address_per_minute",
            "max_addresses", "global_burst", "global_per_minute"},
           "introspection_limits");
    auto& il = c.introspection_limits;
    auto count = [&](const char* key, auto& field, std::int64_t lo, std::int64_t hi) {
      if (l[key])
        field = static_cast<std::remove_reference_t<decltype(field)>>(
            r.integer(l[key], std::string("introspection_limits.") + key, lo, hi));
    };
    count("max_token_bytes", il.max_token_bytes, 16, 64 * 1024);
    std::int64_t ttl = il.negative_ttl.count();
    count("negative_cache_seconds", ttl, 0, 3600);
    il.negative_ttl = std::chrono::seconds(ttl);
    count("negative_cache_entries", il.negative_entries, 0, 10'000'000);
    count("per_address_burst", il.per_address_burst, 1, 100'000);
    count("per_address_per_minute", il.per_address_per_minute, 1, 1'000'000);
    count("max_addresses", il.max_addresses, 1, 10'000'000);
    count("global_burst", il.global_burst, 1, 1'000'000);
    count("global_per_minute", il.global_per_minute, 1, 10'000'000);
  }
  const auto& servers = root["authorization_servers"];
  if (!servers || !servers.IsSequence() || servers.size() == 0)
    r.fail(servers ? servers : root, "'authorization_servers' must list at least one issuer");
  for (const auto& s : servers) {
    r.only(s, {"issuer", "jwt", "introspection"}, "an authorization server");
    IssuerConfig ic;
    if (!s["issuer"]) r.fail(s, "'issuer' is required");
    ic.issuer = r.str(s["issuer"], "issuer");
    if (!canonical_resource(ic.issuer)) r.fail(s["issuer"], "issuer must be an absolute http(s) URL");
    if (const auto& j = s["jwt"]) {
      if (!j.IsNull()) {
        r.only(j, {"jwks_uri", "algorithms", "require_at_jwt_typ"}, "jwt");
        if (j["jwks_uri"]) ic.jwks_uri = r.str(j["jwks_uri"], "jwks_uri");
        if (j["require_at_jwt_typ"]) ic.require_at_jwt_typ = r.boolean(j["require_at_jwt_typ"], "require_at_jwt_typ");
        if (j["algorithms"]) {
          ic.algorithms.clear();
          for (const auto& a : j["algorithms"]) {
            std::string alg = r.str(a, "algorithms");
            if (alg == "none" || alg.starts_with("HS"))
              r.fail(a,
                     "algorithm " + alg + " is refused: tokens of an asymmetric issuer are never checked with a shared secret");
            static const std::set<std::string> kKnown{"RS256", "RS384", "RS512", "PS256", "PS384",
                                                      "PS512", "ES256", "ES384", "ES512"};
            if (!kKnown.contains(alg)) r.fail(a, "unsupported algorithm " + alg);
            ic.algorithms.insert(alg);
          }
        }
      }
    }
    if (const auto& i = s["introspection"]) {
      r.only(i, {"endpoint", "client_id", "client_secret", "client_secret_env", "client_auth", "token_prefixes"},
             "introspection");
      if (i["token_prefixes"]) {
        ic.token_prefixes = r.strings(i["token_prefixes"], "token_prefixes");
        for (const auto& p : ic.token_prefixes)
          if (p.empty()) r.fail(i["token_prefixes"], "token_prefixes must not contain an empty prefix");
      }
      ic.introspection = true;
      ic.jwt = static_cast<bool>(s["jwt"]);
      if (i["endpoint"]) ic.introspection_endpoint = r.str(i["endpoint"], "endpoint");
      if (!i["client_id"]) r.fail(i, "introspection needs client_id");
      ic.client_id = r.str(i["client_id"], "client_id");
      ic.client_secret = secret(r, i, "client_secret", "client_secret_env");
      if (ic.client_secret.empty()) r.fail(i, "introspection needs client_secret or client_secret_env");
      if (i["client_auth"]) {
        std::string a = r.str(i["client_auth"], "client_auth");
        if (a != "client_secret_basic" && a != "client_secret_post")
          r.fail(i["client_auth"], "client_auth must be client_secret_basic or client_secret_post");
        ic.client_secret_post = a == "client_secret_post";
      }
    }
    for (const auto& other : c.issuers)
      if (other.issuer == ic.issuer) r.fail(s["issuer"], "issuer " + ic.issuer + " is listed twice");
    if (ic.introspection && ic.token_prefixes.empty())
      for (const auto& other : c.issuers)
        if (other.introspection && other.token_prefixes.empty())
          r.fail(s["introspection"], "introspection issuers " + other.issuer + " and " + ic.issuer +
                                         " would both take every opaque token: give one of them token_prefixes");
    c.metadata.authorization_servers.push_back(ic.issuer);
    c.issuers.push_back(std::move(ic));
  }
  if (const auto& req = root["required_scopes"]) {
    if (!req.IsMap()) r.fail(req, "required_scopes must map methods to lists of scopes");
    for (const auto& kv : req) {
      std::string key = kv.first.as<std::string>();
      if (key.empty() || key.find('/') == std::string::npos)
        r.fail(kv.first, "'" + key + "' is not a method (such as tools/call) or method:name");
      auto scopes = r.strings(kv.second, "required_scopes." + key);
      c.required_scopes[key] = std::set<std::string>(scopes.begin(), scopes.end());
    }
  }
  return c;
}

AuthConfig load_auth_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open the file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_auth_config(ss.str(), path);
}

std::shared_ptr<RequestGuard> make_guard(const AuthConfig& c, Fetcher fetch) {
  std::vector<std::string> audiences{c.metadata.resource};
  audiences.insert(audiences.end(), c.audiences.begin(), c.audiences.end());
  auto router = std::make_shared<TokenRouter>(c.introspection_limits);
  for (const auto& ic : c.issuers) {
    if (ic.jwt) {
      JwksOptions jo;
      jo.issuer = ic.issuer;
      jo.jwks_uri = ic.jwks_uri;
      jo.min_ttl = std::chrono::seconds(c.jwks_min_ttl);
      jo.max_ttl = std::chrono::seconds(c.jwks_max_ttl);
      jo.refetch_interval = std::chrono::seconds(c.jwks_refetch_interval);
      jo.max_stale = std::chrono::seconds(c.jwks_max_stale);
      JwtOptions o;
      o.issuer = ic.issuer;
      o.audiences = audiences;
      o.algorithms = ic.algorithms;
      o.clock_skew = std::chrono::seconds(c.clock_skew_seconds);
      o.role_claims = c.role_claims;
      o.require_at_jwt_typ = ic.require_at_jwt_typ;
      router->add_jwt_issuer(ic.issuer, std::make_shared<JwtVerifier>(o, std::make_shared<JwksCache>(jo, fetch)));
    }
    if (ic.introspection) {
      IntrospectionOptions io;
      io.issuer = ic.issuer;
      io.endpoint = ic.introspection_endpoint;
      if (io.endpoint.empty()) {
        // Discover the endpoint once, at start-up.
        for (const auto& url : metadata_urls(ic.issuer)) {
          std::string error;
          auto r = fetch(FetchRequest{"GET", url, {}, {}}, error);
          if (!r || r->status != 200) continue;
          boost::system::error_code ec;
          auto v = json::parse(r->body, ec);
          if (ec || !v.is_object()) continue;
          const auto* iss = v.get_object().if_contains("issuer");
          const auto* ep = v.get_object().if_contains("introspection_endpoint");
          if (iss && iss->is_string() && iss->get_string() == ic.issuer && ep && ep->is_string() &&
              canonical_resource(ep->get_string())) {
            io.endpoint = std::string(ep->get_string());
            break;
          }
        }
        if (io.endpoint.empty()) throw ConfigError("cannot discover the introspection endpoint of " + ic.issuer);
      }
      io.client_id = ic.client_id;
      io.client_secret = ic.client_secret;
      io.client_auth = ic.client_secret_post ? IntrospectionOptions::ClientAuth::post : IntrospectionOptions::ClientAuth::basic;
      io.audiences = audiences;
      io.role_claims = c.role_claims;
      try {
        router->add_introspection_issuer(ic.issuer, std::make_shared<IntrospectionVerifier>(io, fetch), ic.token_prefixes);
      } catch (const std::invalid_argument& e) {
        throw ConfigError(e.what());
      }
    }
  }
  auto cached = std::make_shared<CachingVerifier>(
      router,
      CachingVerifier::Options{.max_entries = c.token_cache_entries, .max_ttl = std::chrono::seconds(c.token_cache_seconds)});
  return std::make_shared<ScopeGuard>(c.metadata, cached, c.required_scopes);
}

}  // namespace jitgate::auth
