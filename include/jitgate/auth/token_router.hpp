// Tokens go only to the party that issued them. A JWT is routed by its (not yet verified) `iss`:
// to that issuer's JWT verifier, or to its introspection endpoint; a JWT naming any other issuer is
// refused here, without a network call. An opaque token goes to the one introspection issuer that
// may own it (by token prefix, else the issuer without prefixes). Every introspection passes a gate:
// a structural limit, a brief memory of refused tokens, and token buckets per client address and
// overall, so no client can make the authorization server work for it at will.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "jitgate/auth/token_verifier.hpp"

namespace jitgate::auth {

struct IntrospectionLimits {
  std::size_t max_token_bytes = 4096;          // opaque tokens longer than this are refused locally
  std::chrono::seconds negative_ttl{30};       // a refused token is refused again without asking
  std::size_t negative_entries = 10'000;       // refused tokens remembered (least recently used out)
  std::uint32_t per_address_burst = 20;        // introspections a client address may cause at once
  std::uint32_t per_address_per_minute = 120;  // and then, on average
  std::size_t max_addresses = 10'000;          // addresses tracked; beyond, new ones are refused
  std::uint32_t global_burst = 100;            // all clients together
  std::uint32_t global_per_minute = 6'000;
  std::function<std::int64_t()> now_ms;  // milliseconds; the steady clock when empty
};

// A token bucket per client address (IPv6 addresses by their /64) and one for all: a bounded table
// that, when full, forgets only buckets that have refilled (so forgetting grants nothing) and
// otherwise refuses the newcomer.
class IntrospectionRateLimiter {
 public:
  explicit IntrospectionRateLimiter(IntrospectionLimits limits);
  bool allow(std::string_view peer);
  std::size_t tracked() const;
  // The key a peer address is counted under ("2001:db8:1:2::/64" for IPv6, the address otherwise).
  static std::string address_key(std::string_view peer);

 private:
  struct Bucket {
    double tokens;
    std::int64_t at_ms;
  };
  std::int64_t now_ms() const;
  static bool take(Bucket& b, std::int64_t now, double burst, double per_ms);
  IntrospectionLimits limits_;
  mutable std::mutex mu_;
  Bucket global_;
  // Least recently used first; the map points into the list.
  std::list<std::pair<std::string, Bucket>> lru_;
  std::unordered_map<std::string_view, std::list<std::pair<std::string, Bucket>>::iterator> index_;
};

class TokenRouter : public TokenVerifier {
 public:
  explicit TokenRouter(IntrospectionLimits limits = {});
  void add_jwt_issuer(std::string issuer, std::shared_ptr<TokenVerifier> verifier);
  // `token_prefixes`: opaque tokens this issuer owns start with one of them (the longest match
  // wins); an issuer with none takes the opaque tokens no prefix claims. At most one may have none
  // (throws std::invalid_argument otherwise: an opaque token must have one destination).
  void add_introspection_issuer(std::string issuer, std::shared_ptr<TokenVerifier> verifier,
                                std::vector<std::string> token_prefixes = {});

  Verification verify(std::string_view token) override { return verify_from(token, {}); }
  Verification verify_from(std::string_view token, std::string_view peer) override;

  struct Stats {
    std::uint64_t introspections = 0;   // tokens handed to an introspection endpoint
    std::uint64_t remembered = 0;       // refused from the memory of refused tokens
    std::uint64_t rate_limited = 0;     // refused by a token bucket
    std::uint64_t refused_locally = 0;  // foreign issuer, no owner, too large
  };
  Stats stats() const;

 private:
  struct Introspection {
    std::string issuer;
    std::shared_ptr<TokenVerifier> verifier;
    std::vector<std::string> prefixes;
  };
  Verification introspect(const Introspection& to, std::string_view token, std::string_view peer);
  const Introspection* owner_of_opaque(std::string_view token) const;
  Verification refuse_locally(std::string description);

  IntrospectionLimits limits_;
  std::map<std::string, std::shared_ptr<TokenVerifier>, std::less<>> jwt_;
  std::vector<Introspection> introspection_;
  IntrospectionRateLimiter limiter_;

  struct Refused {
    std::string key;  // SHA-256 of the token: the token itself is never kept
    std::string description;
    std::int64_t until_ms;
  };
  mutable std::mutex mu_;
  std::list<Refused> refused_;  // least recently used first
  std::unordered_map<std::string_view, std::list<Refused>::iterator> refused_index_;
  Stats stats_;
};

// The `iss` of a JWS-shaped token, unverified; nullopt when the token is not JWS-shaped (not three
// base64url parts with a JSON object header). `jws` tells a JWS without an `iss` from an opaque token.
std::optional<std::string> unverified_issuer(std::string_view token, bool& jws);

}  // namespace jitgate::auth
