// The keys of one issuer, found through RFC 8414 / OpenID discovery (or configured), cached by
// their Cache-Control within bounds, refetched on an unknown kid (rate-limited), served stale
// while the endpoint is down up to a maximum staleness, and then denied (fail closed).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "jitgate/auth/http_fetch.hpp"
#include "jitgate/auth/jwt_verifier.hpp"

namespace jitgate::auth {

struct JwksOptions {
  std::string issuer;
  std::string jwks_uri;  // empty: discovered from the issuer's metadata
  std::chrono::seconds min_ttl{60};
  std::chrono::seconds max_ttl{3600};
  std::chrono::seconds default_ttl{300};      // when the response has no usable max-age
  std::chrono::seconds refetch_interval{10};  // at most one refetch per interval for unknown kids
  std::chrono::seconds max_stale{3600};       // serve cached keys this long past their expiry
  std::function<std::int64_t()> now;          // seconds; the system clock when empty
};

class JwksCache : public KeySource {
 public:
  JwksCache(JwksOptions options, Fetcher fetch);
  std::shared_ptr<const KeySet> keys(std::string_view unknown_kid = {}) override;
  std::string last_error() const;
  // The discovered or configured JWKS URL (empty until discovery succeeded).
  std::string jwks_uri() const;

 private:
  void refresh_locked(std::int64_t now);
  bool discover_locked();
  std::int64_t now() const;

  JwksOptions options_;
  Fetcher fetch_;
  mutable std::mutex mu_;  // single flight: concurrent callers wait for one fetch
  std::shared_ptr<const KeySet> keys_;
  std::string jwks_uri_;
  std::int64_t fetched_at_ = 0;
  std::int64_t fresh_until_ = 0;
  std::int64_t last_attempt_ = INT64_MIN / 2;
  std::string last_error_;
};

// The metadata URLs to try for an issuer, in the order RFC 8414 and OpenID Connect Discovery give.
std::vector<std::string> metadata_urls(std::string_view issuer);
// max-age from a Cache-Control value (no-store/no-cache count as 0); nullopt when absent.
std::optional<std::int64_t> max_age(std::string_view cache_control);

}  // namespace jitgate::auth
