#include "jitgate/gateway/config.hpp"

#include <yaml-cpp/yaml.h>

#include "common/strict_yaml.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace jitgate::gateway {

namespace {

namespace fs = std::filesystem;

std::string joined(const std::vector<std::string>& problems) {
  std::string out;
  for (const auto& p : problems) out += (out.empty() ? "" : "\n") + p;
  return out;
}

// Every problem in the file is collected (with its line), so one run of --check lists them all.
struct Reader : yaml::StrictReader<std::runtime_error> {
  std::string base_dir;

  Reader(std::string source, std::string dir) : StrictReader(std::move(source), Mode::collect), base_dir(std::move(dir)) {}

  void error(const YAML::Node& n, const std::string& message) { problem(n, message); }

  template <typename T>
  T number(const YAML::Node& n, const std::string& what, T min, T max) {
    try {
      if (n.IsScalar()) {
        auto v = n.as<long long>();
        if (v >= static_cast<long long>(min) && v <= static_cast<long long>(max)) return static_cast<T>(v);
      }
    } catch (const YAML::Exception&) {}
    error(n, what + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
    return min;
  }

  std::chrono::milliseconds ms(const YAML::Node& n, const std::string& what) {
    return std::chrono::milliseconds(number<long long>(n, what, 1, 24LL * 3600 * 1000));
  }

  bool boolean(const YAML::Node& n, const std::string& what) {
    try {
      if (n.IsScalar()) return n.as<bool>();
    } catch (const YAML::Exception&) {}
    error(n, what + " must be true or false");
    return false;
  }

  // ${NAME} from this process's environment; a missing variable is an error (never silently empty).
  std::string expand(const YAML::Node& n, const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
      if (text.compare(i, 2, "${") == 0) {
        auto end = text.find('}', i + 2);
        if (end == std::string::npos) {
          error(n, "unterminated ${ in a value");
          return out;
        }
        std::string name = text.substr(i + 2, end - i - 2);
        const char* v = std::getenv(name.c_str());
        if (!v)
          error(n, "environment variable " + name + " is not set");
        else
          out += v;
        i = end + 1;
      } else {
        out += text[i++];
      }
    }
    return out;
  }

  std::map<std::string, std::string> string_map(const YAML::Node& n, const std::string& what) {
    std::map<std::string, std::string> out;
    if (!n.IsMap()) {
      error(n, what + " must be a mapping of strings");
      return out;
    }
    for (const auto& kv : n) out[kv.first.as<std::string>()] = expand(kv.second, str(kv.second, what));
    return out;
  }

  std::string path(const YAML::Node& n, const std::string& what) {
    std::string p = str(n, what);
    if (p.empty() || p == "-") return p;
    fs::path fp(p);
    return (fp.is_absolute() ? fp : fs::path(base_dir) / fp).lexically_normal().string();
  }

  auth::TokenExchangeOptions token_exchange(const YAML::Node& x, const std::string& url) {
    auth::TokenExchangeOptions t;
    t.resource = url;
    if (!only(
            x,
            {"token_endpoint", "client_id", "client_secret", "client_auth", "resource", "audience", "scopes", "refresh_before_s"},
            "token_exchange"))
      return t;
    if (!x["token_endpoint"])
      error(x, "token_exchange needs token_endpoint");
    else
      t.token_endpoint = str(x["token_endpoint"], "token_endpoint");
    if (!t.token_endpoint.empty() && t.token_endpoint.rfind("http://", 0) != 0 && t.token_endpoint.rfind("https://", 0) != 0)
      error(x["token_endpoint"], "token_endpoint must start with http:// or https://");
    if (!x["client_id"])
      error(x, "token_exchange needs client_id (the gateway's own client)");
    else
      t.client_id = expand(x["client_id"], str(x["client_id"], "client_id"));
    if (!x["client_secret"])
      error(x, "token_exchange needs client_secret (write it as ${VARIABLE})");
    else
      t.client_secret = expand(x["client_secret"], str(x["client_secret"], "client_secret"));
    if (const auto a = x["client_auth"]) {
      std::string v = str(a, "client_auth");
      if (v == "client_secret_post")
        t.client_secret_post = true;
      else if (v != "client_secret_basic")
        error(a, "client_auth must be client_secret_basic or client_secret_post");
    }
    if (x["resource"]) t.resource = str(x["resource"], "resource");
    if (x["audience"]) t.audience = str(x["audience"], "audience");
    if (t.resource.empty() && t.audience.empty()) error(x, "token_exchange needs a resource or an audience");
    if (x["scopes"]) t.scopes = strings(x["scopes"], "scopes");
    if (x["refresh_before_s"])
      t.refresh_before = std::chrono::seconds(number<long long>(x["refresh_before_s"], "refresh_before_s", 0, 3600));
    return t;
  }

  UpstreamConfig upstream(const YAML::Node& n, std::set<std::string>& names) {
    UpstreamConfig u;
    if (!only(n,
              {"name", "tool_prefix", "prompt_prefix", "uri_prefix", "sessions", "timeout_ms", "max_in_flight", "max_connections",
               "forward_unlisted", "restart", "stdio", "http"},
              "an upstream"))
      return u;
    if (!n["name"])
      error(n, "an upstream needs a name");
    else
      u.name = str(n["name"], "name");
    if (!u.name.empty() && !names.insert(u.name).second) error(n["name"], "two upstreams are named " + u.name);
    if (n["tool_prefix"]) u.tool_prefix = str(n["tool_prefix"], "tool_prefix");
    u.prompt_prefix = n["prompt_prefix"] ? str(n["prompt_prefix"], "prompt_prefix") : u.tool_prefix;
    if (n["uri_prefix"]) u.uri_prefix = str(n["uri_prefix"], "uri_prefix");
    if (const auto s = n["sessions"]) {
      std::string v = str(s, "sessions");
      if (v == "shared")
        u.sessions = SessionMode::shared;
      else if (v == "per_session")
        u.sessions = SessionMode::per_session;
      else if (v == "per_subject")
        u.sessions = SessionMode::per_subject;
      else
        error(s, "sessions must be shared, per_session or per_subject");
    }
    if (n["timeout_ms"]) u.timeout = ms(n["timeout_ms"], "timeout_ms");
    if (n["max_in_flight"]) u.max_in_flight = number<std::size_t>(n["max_in_flight"], "max_in_flight", 1, 100'000);
    if (n["max_connections"]) u.max_connections = number<std::size_t>(n["max_connections"], "max_connections", 1, 100'000);
    if (n["forward_unlisted"]) u.forward_unlisted = boolean(n["forward_unlisted"], "forward_unlisted");
    if (const auto r = n["restart"]; r && only(r, {"backoff_initial_ms", "backoff_max_ms"}, "restart")) {
      if (r["backoff_initial_ms"]) u.backoff_initial = ms(r["backoff_initial_ms"], "backoff_initial_ms");
      if (r["backoff_max_ms"]) u.backoff_max = ms(r["backoff_max_ms"], "backoff_max_ms");
    }
    if (bool(n["stdio"]) == bool(n["http"])) error(n, "upstream " + u.name + " needs exactly one of stdio and http");
    if (const auto s = n["stdio"]; s && only(s, {"command", "args", "env", "cwd", "inherit_path_home"}, "stdio")) {
      StdioUpstreamConfig c;
      c.name = u.name;
      if (!s["command"])
        error(s, "stdio needs a command");
      else
        c.command = str(s["command"], "command");
      if (s["args"]) c.args = strings(s["args"], "args");
      if (s["env"]) {
        auto env = string_map(s["env"], "env");
        c.env.insert(env.begin(), env.end());
      }
      if (s["cwd"]) c.working_directory = path(s["cwd"], "cwd");
      if (s["inherit_path_home"]) c.inherit_path_home = boolean(s["inherit_path_home"], "inherit_path_home");
      c.default_timeout = u.timeout;
      c.max_in_flight = u.max_in_flight;
      c.backoff_initial = u.backoff_initial;
      c.backoff_max = u.backoff_max;
      u.stdio = std::move(c);
    }
    if (const auto h = n["http"];
        h && only(h, {"url", "protocol", "headers", "get_stream", "connect_timeout_ms", "ca_file", "token_exchange"}, "http")) {
      HttpSettings c;
      if (!h["url"])
        error(h, "http needs a url");
      else
        c.url = str(h["url"], "url");
      if (!c.url.empty() && c.url.rfind("http://", 0) != 0 && c.url.rfind("https://", 0) != 0)
        error(h["url"], "url must start with http:// or https://");
      if (h["protocol"]) {
        c.protocol = str(h["protocol"], "protocol");
        static const std::set<std::string> kKnown{"2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"};
        if (!kKnown.contains(c.protocol))
          error(h["protocol"], "protocol must be 2025-03-26, 2025-06-18, 2025-11-25 or 2026-07-28");
      }
      if (h["headers"]) c.headers = string_map(h["headers"], "headers");
      if (h["get_stream"]) c.open_get_stream = boolean(h["get_stream"], "get_stream");
      if (h["connect_timeout_ms"]) c.connect_timeout = ms(h["connect_timeout_ms"], "connect_timeout_ms");
      if (h["ca_file"]) c.ca_file = path(h["ca_file"], "ca_file");
      if (!c.ca_file.empty() && c.url.rfind("https://", 0) != 0) error(h["ca_file"], "ca_file needs an https:// url");
      if (const auto x = h["token_exchange"]) {
        c.token_exchange = token_exchange(x, c.url);
        if (u.sessions == SessionMode::shared)
          error(x, "token_exchange needs sessions: per_subject or per_session (one shared connection would mix callers)");
      }
      u.http = std::move(c);
    }
    return u;
  }

  GatewayConfig config(const YAML::Node& root) {
    GatewayConfig g;
    g.source = name();
    if (!only(root,
              {"listen", "server", "auth", "policy", "shadow_policy", "audit", "allowed_origins", "startup_timeout_ms",
               "upstreams"},
              "the gateway configuration"))
      return g;
    if (const auto l = root["listen"]; l && only(l, {"host", "port", "path"}, "listen")) {
      if (l["host"]) g.host = str(l["host"], "host");
      if (l["port"]) g.port = number<std::uint16_t>(l["port"], "port", 0, 65535);
      if (l["path"]) g.path = str(l["path"], "path");
      if (g.path.empty() || g.path[0] != '/') error(l["path"] ? l["path"] : l, "path must start with /");
    }
    if (const auto s = root["server"]; s && only(s, {"name", "page_size"}, "server")) {
      if (s["name"]) g.server_name = str(s["name"], "name");
      if (s["page_size"]) g.page_size = number<std::size_t>(s["page_size"], "page_size", 1, 10'000);
    }
    if (root["auth"]) g.auth_config = path(root["auth"], "auth");
    if (root["policy"]) g.policy = path(root["policy"], "policy");
    if (root["shadow_policy"]) g.shadow_policy = path(root["shadow_policy"], "shadow_policy");
    if (!g.shadow_policy.empty() && g.policy.empty()) error(root["shadow_policy"], "shadow_policy needs a policy");
    if (!g.policy.empty() && g.auth_config.empty())
      error(root["policy"], "a policy needs auth (who the callers are); without it everyone is anonymous");
    if (root["audit"]) g.audit = path(root["audit"], "audit");
    if (root["allowed_origins"]) g.allowed_origins = strings(root["allowed_origins"], "allowed_origins");
    if (root["startup_timeout_ms"]) g.startup_timeout = ms(root["startup_timeout_ms"], "startup_timeout_ms");
    const auto ups = root["upstreams"];
    if (!ups || !ups.IsSequence() || ups.size() == 0) {
      error(ups ? ups : root, "upstreams must be a non-empty list");
    } else {
      std::set<std::string> names;
      for (const auto& u : ups) g.upstreams.push_back(upstream(u, names));
      bool maps = true;
      for (const auto& u : ups) maps = maps && u.IsMap();
      if (maps) check_prefixes(ups, g.upstreams);
    }
    return g;
  }

  // Two upstreams whose prefixes of one family can yield the same name would take each other's
  // primitives (and the policy rules written for them): every pair must be prefix-free.
  void check_prefixes(const YAML::Node& nodes, const std::vector<UpstreamConfig>& ups) {
    struct Family {
      const char* key;
      std::string UpstreamConfig::*prefix;
      const char* fallback_key;  // where the value came from when `key` is absent
    };
    static constexpr Family kFamilies[] = {{"tool_prefix", &UpstreamConfig::tool_prefix, nullptr},
                                           {"prompt_prefix", &UpstreamConfig::prompt_prefix, "tool_prefix"},
                                           {"uri_prefix", &UpstreamConfig::uri_prefix, nullptr}};
    for (const auto& f : kFamilies)
      for (std::size_t i = 0; i < ups.size(); ++i)
        for (std::size_t j = 0; j < i; ++j) {
          const std::string &a = ups[j].*f.prefix, &b = ups[i].*f.prefix;
          if (!prefixes_collide(a, b)) continue;
          const YAML::Node& u = nodes[i];
          YAML::Node at = u[f.key] ? u[f.key] : f.fallback_key && u[f.fallback_key] ? u[f.fallback_key] : u;
          auto shown = [](const std::string& p) { return p.empty() ? std::string("empty") : "\"" + p + "\""; };
          error(at, std::string(f.key) + " " + shown(b) + " of upstream " + ups[i].name + " collides with " + shown(a) +
                        " of upstream " + ups[j].name + ": with several upstreams each needs its own non-empty " + f.key +
                        ", none the start of another");
        }
  }
};

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(joined(problems)), problems_(std::move(problems)) {}

GatewayConfig parse_gateway_config(const std::string& yaml_text, const std::string& source, const std::string& base_dir) {
  Reader r(source, base_dir);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError({yaml::syntax_error(source, e)});
  }
  GatewayConfig g;
  try {
    g = r.config(root);
  } catch (const YAML::Exception& e) {
    r.problems().push_back(yaml::syntax_error(source, e));
  }
  if (!r.problems().empty()) throw ConfigError(std::move(r.problems()));
  return g;
}

GatewayConfig load_gateway_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError({path + ": cannot be read"});
  std::stringstream text;
  text << in.rdbuf();
  auto dir = fs::absolute(fs::path(path)).parent_path().string();
  return parse_gateway_config(text.str(), path, dir);
}

}  // namespace jitgate::gateway
