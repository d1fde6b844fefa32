#include "jitgate/auth/token_router.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>
#include <stdexcept>

#include "auth/claims.hpp"
#include "common/clock.hpp"
#include "common/digest.hpp"

namespace jitgate::auth {

namespace json = boost::json;

namespace {

using claims::parse_object;

using common::sha256;

std::int64_t steady_ms() { return common::steady_millis(); }

}  // namespace

std::optional<std::string> unverified_issuer(std::string_view token, bool& jws) {
  jws = false;
  auto d1 = token.find('.');
  auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) return std::nullopt;
  auto header = claims::base64url_decode(token.substr(0, d1));
  if (!header || !parse_object(*header)) return std::nullopt;
  jws = true;
  auto payload = claims::base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto o = payload ? parse_object(*payload) : std::nullopt;
  if (!o) return std::nullopt;
  const auto* iss = o->if_contains("iss");
  if (!iss || !iss->is_string()) return std::nullopt;
  return std::string(iss->get_string());
}

// ---------------------------------------------------------------------------------------------

IntrospectionRateLimiter::IntrospectionRateLimiter(IntrospectionLimits limits) : limits_(std::move(limits)) {
  global_ = Bucket{static_cast<double>(limits_.global_burst), now_ms()};
}

std::int64_t IntrospectionRateLimiter::now_ms() const { return limits_.now_ms ? limits_.now_ms() : steady_ms(); }

std::string IntrospectionRateLimiter::address_key(std::string_view peer) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(peer), ec);
  if (ec) return std::string(peer);
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()).to_string();
  if (a.is_v4()) return a.to_string();
  // One host commonly has a whole /64: counted per address, it could rotate without end.
  auto bytes = a.to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

bool IntrospectionRateLimiter::take(Bucket& b, std::int64_t now, double burst, double per_ms) {
  if (now > b.at_ms) b.tokens = std::min(burst, b.tokens + static_cast<double>(now - b.at_ms) * per_ms);
  b.at_ms = std::max(b.at_ms, now);
  return b.tokens >= 1.0;
}

bool IntrospectionRateLimiter::allow(std::string_view peer) {
  std::string key = address_key(peer);
  std::int64_t now = now_ms();
  double burst = limits_.per_address_burst, per_ms = limits_.per_address_per_minute / 60'000.0;
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    if (lru_.size() >= limits_.max_addresses) {
      // Only a bucket that is full again may be forgotten: a new one for it would grant nothing more.
      if (lru_.empty()) return false;
      auto& oldest = lru_.front();
      take(oldest.second, now, burst, per_ms);
      if (oldest.second.tokens < burst) return false;
      index_.erase(oldest.first);
      lru_.pop_front();
    }
    lru_.emplace_back(std::move(key), Bucket{burst, now});
    it = index_.emplace(lru_.back().first, std::prev(lru_.end())).first;
  } else {
    lru_.splice(lru_.end(), lru_, it->second);
  }
  Bucket& mine = it->second->second;
  bool ok = take(mine, now, burst, per_ms);
  ok = take(global_, now, limits_.global_burst, limits_.global_per_minute / 60'000.0) && ok;
  if (!ok) return false;
  mine.tokens -= 1.0;
  global_.tokens -= 1.0;
  return true;
}

std::size_t IntrospectionRateLimiter::tracked() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

// ---------------------------------------------------------------------------------------------

TokenRouter::TokenRouter(IntrospectionLimits limits) : limits_(limits), limiter_(std::move(limits)) {}

void TokenRouter::add_jwt_issuer(std::string issuer, std::shared_ptr<TokenVerifier> verifier) {
  jwt_[std::move(issuer)] = std::move(verifier);
}

void TokenRouter::add_introspection_issuer(std::string issuer, std::shared_ptr<TokenVerifier> verifier,
                                           std::vector<std::string> token_prefixes) {
  std::erase(token_prefixes, std::string());
  if (token_prefixes.empty())
    for (const auto& i : introspection_)
      if (i.prefixes.empty())
        throw std::invalid_argument("introspection issuers " + i.issuer + " and " + issuer +
                                    " both take every opaque token: give one of them token_prefixes");
  introspection_.push_back(Introspection{std::move(issuer), std::move(verifier), std::move(token_prefixes)});
}

const TokenRouter::Introspection* TokenRouter::owner_of_opaque(std::string_view token) const {
  const Introspection* best = nullptr;
  const Introspection* fallback = nullptr;
  std::size_t best_len = 0;
  for (const auto& i : introspection_) {
    if (i.prefixes.empty()) fallback = &i;
    for (const auto& p : i.prefixes)
      if (token.starts_with(p) && p.size() > best_len) {
        best = &i;
        best_len = p.size();
      }
  }
  return best ? best : fallback;
}

Verification TokenRouter::refuse_locally(std::string description) {
  std::lock_guard lock(mu_);
  ++stats_.refused_locally;
  return TokenError{std::move(description)};
}

Verification TokenRouter::verify_from(std::string_view token, std::string_view peer) {
  if (token.size() > 64 * 1024) return refuse_locally("token too large");
  bool jws = false;
  auto iss = unverified_issuer(token, jws);
  if (jws) {
    // A JWS names its issuer; only that issuer ever sees it.
    if (!iss) return refuse_locally("token names no issuer");
    if (auto it = jwt_.find(*iss); it != jwt_.end()) return it->second->verify_from(token, peer);
    for (const auto& i : introspection_)
      if (i.issuer == *iss) return introspect(i, token, peer);
    return refuse_locally("token from another issuer");
  }
  if (introspection_.empty()) {
    // Nobody here takes opaque tokens. A sole JWT issuer's own checks say what is wrong with this
    // one (it fails on the header, before any key or network work).
    if (jwt_.size() == 1) return jwt_.begin()->second->verify_from(token, peer);
    return refuse_locally("malformed token");
  }
  if (token.size() > limits_.max_token_bytes) return refuse_locally("token too large");
  const Introspection* owner = owner_of_opaque(token);
  if (!owner) return refuse_locally("token from an unknown issuer");
  return introspect(*owner, token, peer);
}

Verification TokenRouter::introspect(const Introspection& to, std::string_view token, std::string_view peer) {
  std::string key = sha256(token);
  std::int64_t now = limits_.now_ms ? limits_.now_ms() : steady_ms();
  {
    std::lock_guard lock(mu_);
    if (auto it = refused_index_.find(key); it != refused_index_.end()) {
      if (now < it->second->until_ms) {
        ++stats_.remembered;
        refused_.splice(refused_.end(), refused_, it->second);
        return TokenError{it->second->description};
      }
      refused_.erase(it->second);
      refused_index_.erase(it);
    }
  }
  if (!limiter_.allow(peer)) {
    std::lock_guard lock(mu_);
    ++stats_.rate_limited;
    return TokenError{"too many tokens to check from this client; try again later", TokenError::Kind::rate_limited};
  }
  {
    std::lock_guard lock(mu_);
    ++stats_.introspections;
  }
  Verification v = to.verifier->verify_from(token, peer);
  const auto* e = std::get_if<TokenError>(&v);
  // Only a verdict is remembered: an unreachable server is asked again (within the buckets).
  if (e && e->kind == TokenError::Kind::invalid && limits_.negative_entries > 0 && limits_.negative_ttl.count() > 0) {
    std::lock_guard lock(mu_);
    if (auto it = refused_index_.find(key); it != refused_index_.end()) {
      refused_.erase(it->second);
      refused_index_.erase(it);
    }
    while (refused_.size() >= limits_.negative_entries) {
      refused_index_.erase(refused_.front().key);
      refused_.pop_front();
    }
    refused_.push_back(Refused{std::move(key), e->description, now + limits_.negative_ttl.count() * 1000});
    refused_index_.emplace(refused_.back().key, std::prev(refused_.end()));
  }
  return v;
}

TokenRouter::Stats TokenRouter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace jitgate::auth
