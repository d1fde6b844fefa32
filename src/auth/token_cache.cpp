#include "jitgate/auth/token_cache.hpp"

#include <cstdint>
#include <cstring>

namespace jitgate::auth {

namespace {

// The slot of a token: 8-byte words mixed by multiplication (a few instructions a word; tokens are
// hundreds of bytes and looked up on every request). Not a security boundary: the stored token is
// compared in full, the hash only picks the shard and the entry.
std::size_t token_slot(std::string_view t) {
  auto mix = [](std::uint64_t h, std::uint64_t w) {
    h = (h ^ w) * 0x9fb21c651e98df25ull;
    return h ^ (h >> 29);
  };
  const char* p = t.data();
  std::size_t n = t.size();
  std::uint64_t h = 0x243f6a8885a308d3ull ^ (n * 0x9e3779b97f4a7c15ull);
  std::uint64_t w = 0;
  if (n >= 8) {
    for (; n > 8; p += 8, n -= 8) {
      std::memcpy(&w, p, 8);
      h = mix(h, w);
    }
    std::memcpy(&w, p + n - 8, 8);  // the last word, overlapping the previous one
    h = mix(h, w);
  } else if (n > 0) {
    std::memcpy(&w, p, n);
    h = mix(h, w);
  }
  h *= 0xff51afd7ed558ccdull;
  return static_cast<std::size_t>(h ^ (h >> 32));
}

}  // namespace

CachingVerifier::CachingVerifier(std::shared_ptr<TokenVerifier> inner, Options options)
    : inner_(std::move(inner)), options_(std::move(options)) {}

std::int64_t CachingVerifier::now() const {
  if (options_.now) return options_.now();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Verification CachingVerifier::verify(std::string_view token) {
  std::size_t h = token_slot(token);
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
  std::size_t h = token_slot(token);
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
