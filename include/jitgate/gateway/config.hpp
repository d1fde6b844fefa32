// The gateway configuration file (`jitgate serve --config gateway.yaml`).
#pragma once

#include <jitgate/auth/token_exchange.hpp>
#include <jitgate/gateway/gateway.hpp>
#include <jitgate/gateway/stdio_upstream.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace jitgate::gateway {

// A Streamable HTTP upstream as configured (turned into an HttpUpstreamConfig by make_spec).
struct HttpSettings {
  std::string url;
  std::string protocol = "2025-11-25";
  std::map<std::string, std::string> headers;  // values already resolved from the environment
  bool open_get_stream = true;
  std::chrono::milliseconds connect_timeout{5'000};
  std::string ca_file;  // https: the CAs to trust instead of the system's (absolute)
  // Tokens for signed-in callers from an RFC 8693 exchange (resource: the url unless set).
  std::optional<auth::TokenExchangeOptions> token_exchange;
};

struct UpstreamConfig {
  std::string name;
  std::string tool_prefix, prompt_prefix, uri_prefix;
  SessionMode sessions = SessionMode::shared;
  std::chrono::milliseconds timeout{30'000};
  std::size_t max_in_flight = 64;
  std::size_t max_connections = 256;
  bool forward_unlisted = true;
  std::chrono::milliseconds backoff_initial{100}, backoff_max{10'000};
  std::optional<StdioUpstreamConfig> stdio;  // exactly one of stdio and http
  std::optional<HttpSettings> http;
};

struct GatewayConfig {
  std::string source;  // the file it came from
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string path = "/mcp";
  std::string server_name = "jitgate-gateway";
  std::size_t page_size = 100;
  std::string auth_config;    // resource-server configuration file (absolute); empty: no authorization
  std::string policy;         // policy file (absolute); empty: every proxied primitive is open
  std::string shadow_policy;  // optional
  std::string audit;          // "-" for stderr, a file, or empty
  std::vector<std::string> allowed_origins;
  std::chrono::milliseconds startup_timeout{20'000};
  std::vector<UpstreamConfig> upstreams;
};

// A configuration error: every problem found, each as "file:line:col: message".
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Reads and checks a gateway configuration. Paths in it are relative to the file's directory.
// `${NAME}` in a header value or an environment value is replaced by this process's environment
// variable NAME (missing: an error), so secrets stay out of the file.
GatewayConfig load_gateway_config(const std::string& path);
GatewayConfig parse_gateway_config(const std::string& yaml_text, const std::string& source = "<gateway config>",
                                   const std::string& base_dir = ".");

}  // namespace jitgate::gateway
