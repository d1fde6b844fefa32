// The embedded DEVELOPMENT authorization server (OAuth 2.1) for the demo and for tests. It binds to
// loopback by default and says what it is on its pages and in its logs; production deployments
// point jitgate at a real identity provider instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jitgate/auth/http_fetch.hpp"

namespace jitgate::devauth {

struct User {
  std::string username;
  std::string password_hash;  // argon2id PHC string (see password.hpp)
  std::string name;           // shown on the pages; the username when empty
  std::vector<std::string> roles;
};

struct Client {
  std::string client_id;
  std::string client_secret;  // empty: a public client (PKCE, no secret)
  std::string client_name;
  std::vector<std::string> redirect_uris;
  std::vector<std::string> grant_types{"authorization_code", "refresh_token"};
  // For client_credentials: the scopes the client may ask for (space separated; empty = none).
  std::string scope;
  // For registered clients: client_secret_basic, client_secret_post or none.
  std::string token_endpoint_auth_method;
  // For token exchange (RFC 8693, grant type urn:ietf:params:oauth:grant-type:token-exchange):
  // the client may exchange access tokens whose audience is one of these (its own resource, for a
  // gateway), for tokens of a resource the server issues tokens for.
  std::vector<std::string> exchange_audiences;
};

struct Scope {
  std::string name;         // "notes:read"
  std::string description;  // "Read your own notes", shown on the consent page
};

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 picks a free port
  std::string issuer;      // empty: http://<host>:<port>
  unsigned threads = 2;
  std::vector<User> users;
  std::vector<Client> clients;  // pre-registered
  std::vector<Scope> scopes;    // the scopes the server knows, in the order the consent page lists them
  // Resource indicators (RFC 8707) tokens may be issued for; empty: any absolute http(s) URI.
  std::vector<std::string> resources;
  // The audience when a request names no resource; empty: such requests are refused.
  std::string default_resource;
  // Hosts Client ID Metadata Documents may be fetched from (exact host names). http is allowed
  // only for loopback hosts; every other host needs https.
  std::vector<std::string> cimd_allowed_hosts;
  std::chrono::seconds access_token_lifetime{900};
  std::chrono::seconds refresh_token_lifetime{24 * 3600};
  std::chrono::seconds code_lifetime{60};
  std::chrono::seconds login_session_lifetime{8 * 3600};
  std::chrono::seconds cimd_cache_seconds{300};
  bool dynamic_registration = true;
  // POST /dev/rotate-keys generates a new signing key (the previous one stays published).
  bool rotation_endpoint = true;
  auth::Fetcher fetch;                // for CIMD documents; a plain HTTP(S) client when empty
  std::function<std::int64_t()> now;  // seconds since the epoch; the system clock when empty
};

class DevAuthServer {
 public:
  explicit DevAuthServer(Options options);
  ~DevAuthServer();
  DevAuthServer(const DevAuthServer&) = delete;
  DevAuthServer& operator=(const DevAuthServer&) = delete;

  // Binds and listens; returns the bound port. Throws std::runtime_error on failure.
  std::uint16_t listen();
  void start();  // I/O threads in the background
  void run(bool handle_signals = true);
  void stop();
  std::uint16_t port() const;
  std::string issuer() const;  // known once listen() returned
  void rotate_keys();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace jitgate::devauth
