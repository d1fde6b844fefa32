// A small HTTP(S) client for talking to authorization servers (metadata, JWKS, introspection).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace jitgate::auth {

struct FetchRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct FetchResponse {
  unsigned status = 0;
  std::string body;
  std::string cache_control;
};

// Returns nullopt (with `error` set) when the server could not be reached or answered garbage.
using Fetcher = std::function<std::optional<FetchResponse>(const FetchRequest&, std::string& error)>;

// Beast over TCP, or TLS with peer and host-name verification against the system's CAs.
Fetcher make_http_fetcher(std::chrono::milliseconds timeout = std::chrono::seconds(5), std::size_t max_body_bytes = 1024 * 1024);

// application/x-www-form-urlencoded
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

// Client authentication at a token or introspection endpoint (RFC 6749 section 2.3.1): an HTTP
// Basic header (the id and secret form-encoded first), or client_id and client_secret in the form.
void authenticate_client(FetchRequest& request, std::vector<std::pair<std::string, std::string>>& form,
                         const std::string& client_id, const std::string& client_secret, bool in_body);

}  // namespace jitgate::auth
