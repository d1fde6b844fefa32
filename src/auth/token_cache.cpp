#include "jitgate/auth/token_cache.hpp"

namespace jitgate::auth {

CachingVerifier::CachingVerifier(std::shared_ptr<TokenVerifier> inner, Options options)
    : inner_(std::move(inner)), options_(std::move(options)) {}

std::int64_t CachingVerifier::now() const {
  if (options_.now) return options_.now();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Verification CachingVerifier::verify(std::string_view token) {
  std::size_t h = std::hash<std::string_view>{}(token);
  Shard& shard = shards_[h % shards_.size()];
  std::int64_t t = now();
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(h);
    if (it != shard.entries.end() && it->second.token == token) {
      if (t < it->second.valid_until) return *it->second.principal;  // exp is exclusive (RFC 7519)
      shard.entries.erase(it);
    }
  }
  Verification v = inner_->verify(token);
  if (const auto* p = std::get_if<Principal>(&v)) {
    std::int64_t until = t + options_.max_ttl.count();
    if (p->expires_at && *p->expires_at < until) until = *p->expires_at;
    std::lock_guard lock(shard.mu);
    // Bounded: a full shard starts over rather than growing (tokens are re-verified, never trusted longer).
    if (shard.entries.size() >= options_.max_entries / shards_.size() + 1) shard.entries.clear();
    shard.entries[h] = Entry{std::string(token), std::make_shared<const Principal>(*p), until};
  }
  return v;
}

std::shared_ptr<const Principal> CachingVerifier::remembered(std::string_view token) const {
  std::size_t h = std::hash<std::string_view>{}(token);
  const Shard& shard = shards_[h % shards_.size()];
  std::int64_t t = now();
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(h);
  if (it == shard.entries.end() || it->second.token != token || t >= it->second.valid_until) return nullptr;
  return it->second.principal;
}

std::size_t CachingVerifier::size() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.entries.size();
  }
  return n;
}

void CachingVerifier::clear() {
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    s.entries.clear();
  }
}

}  // namespace jitgate::auth
