// OAuth 2.0 Token Exchange (RFC 8693) as a client: a caller's access token is traded at the
// authorization server for a token meant for another resource (an upstream server), so the
// caller's own token never leaves jitgate. Exchanged tokens are cached by a hash of the subject
// token until shortly before they expire.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "jitgate/auth/http_fetch.hpp"

namespace jitgate::auth {

inline constexpr std::string_view kTokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange";
inline constexpr std::string_view kAccessTokenType = "urn:ietf:params:oauth:token-type:access_token";

struct TokenExchangeOptions {
  std::string token_endpoint;  // http(s) URL of the authorization server's token endpoint
  std::string client_id;       // jitgate's own client at that server (a confidential one)
  std::string client_secret;
  bool client_secret_post = false;  // client_secret_basic (the default) or client_secret_post
  std::string resource;             // RFC 8707 resource of the target (an upstream's URL); may be empty
  std::string audience;             // RFC 8693 logical audience; may be empty (not both)
  std::vector<std::string> scopes;  // asked for; empty: whatever the server grants (usually the subject's)
  // A cached token is used while it has more than this left; then it is exchanged again.
  std::chrono::seconds refresh_before{30};
  // Used when the answer has no expires_in (still capped by the subject token's own expiry).
  std::chrono::seconds default_lifetime{60};
  std::size_t cache_entries = 10'000;
  std::function<std::int64_t()> now;  // seconds since the epoch; the system clock when empty
};

struct ExchangedToken {
  std::string access_token;  // never logged
  std::int64_t expires_at = 0;
  std::string scope;  // as granted ("" when the server did not say)
};

class TokenExchanger {
 public:
  explicit TokenExchanger(TokenExchangeOptions options, Fetcher fetch = make_http_fetcher());

  const TokenExchangeOptions& options() const { return options_; }

  // A cached token for this subject token that is still fresh, without any network work; null
  // when exchange() would have to ask the authorization server.
  std::shared_ptr<const ExchangedToken> cached(std::string_view subject_token) const;

  // The cached token, or a new one from the authorization server (blocking: not on an I/O thread).
  // `subject_expires_at` (the subject token's exp, when known) caps how long the result is used.
  // On failure returns null and sets `error` to a description without any token in it (for
  // instance "invalid_grant: the subject token expired").
  std::shared_ptr<const ExchangedToken> exchange(std::string_view subject_token, std::optional<std::int64_t> subject_expires_at,
                                                 std::string& error);

  struct Stats {
    std::uint64_t exchanges = 0;  // successful requests to the authorization server
    std::uint64_t failures = 0;   // refused or failed requests
    std::uint64_t hits = 0;       // answered from the cache
  };
  Stats stats() const;

 private:
  std::int64_t now() const;
  static std::string key_of(std::string_view subject_token);

  TokenExchangeOptions options_;
  Fetcher fetch_;
  mutable std::mutex mu_;
  // Least recently used first; the map points into the list.
  using Entry = std::pair<std::string, std::shared_ptr<const ExchangedToken>>;
  mutable std::list<Entry> lru_;
  mutable std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  mutable Stats stats_;
};

}  // namespace jitgate::auth
