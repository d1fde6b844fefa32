#include "jitgate/auth/token_cache.hpp"

#include <cstdint>
#include <cstring>
#include "common/clock.hpp"

namespace jitgate::auth {

namespace {

// The slot of a token: 16 bytes at a time folded by one wide multiplication (tokens are hundreds
// of bytes and looked up on every request). Not a security boundary: the stored token is compared
// in full, the hash only picks the shard and the entry.
std::size_t token_slot(std::string_view t) {
  auto mum = [](std::uint64_t a, std::uint64_t b) {
    unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
    return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
  };
  auto load8 = [](const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  };
  constexpr std::uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
  const char* p = t.data();
  std::size_t n = t.size();
  std::uint64_t h = k0 ^ (n * 0x9e3779b97f4a7c15ull);
  if (n >= 16) {
    for (; n > 16; p += 16, n -= 16) h = mum(load8(p) ^ k1, load8(p + 8) ^ h);
    h = mum(load8(p + n - 16) ^ k1, load8(p + n - 8) ^ h);  // the last block, overlapping the previous one
  } else {
    std::uint64_t a = 0, b = 0;
    if (n >= 8) {
      a = load8(p);
      b = load8(p + n - 8);
    } else if (n > 0) {
      std::memcpy(&a, p, n);
    }
    h = mum(a ^ k1, b ^ h);
  }
  return static_cast<std::size_t>(mum(h ^ k0, h ^ k1));
}

}  // namespace

CachingVerifier::CachingVerifier(std::shared_ptr<TokenVerifier> inner, Options options)
    : inner_(std::move(inner)), options_(std::move(options)) {}

std::int64_t CachingVerifier::now() const {
  if (options_.now) return options_.now();
  return common::epoch_seconds();
}

Verification CachingVerifier::verify(std::string_view token) { return verify_from(token, {}); }

Verification CachingVerifier::verify_from(std::string_view token, std::string_view peer) {
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
  Verification v = inner_->verify_from(token, peer);
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
