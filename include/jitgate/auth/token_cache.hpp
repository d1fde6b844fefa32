// A verified-token cache in front of any TokenVerifier: the repeat path of a token costs a hash
// lookup, not a signature check. Only successes are cached, until the token's own expiry (capped).
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "jitgate/auth/token_verifier.hpp"

namespace jitgate::auth {

class CachingVerifier : public TokenVerifier {
 public:
  struct Options {
    std::size_t max_entries = 100'000;
    std::chrono::seconds max_ttl{300};
    std::function<std::int64_t()> now;  // seconds since the epoch; the system clock when empty
  };
  CachingVerifier(std::shared_ptr<TokenVerifier> inner, Options options);
  Verification verify(std::string_view token) override;
  Verification verify_from(std::string_view token, std::string_view peer) override;
  std::shared_ptr<const Principal> remembered(std::string_view token) const override;
  std::size_t size() const;
  void clear();

 private:
  struct Entry {
    std::string token;  // compared in full: the hash only picks the slot
    std::shared_ptr<const Principal> principal;
    std::int64_t valid_until;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::size_t, Entry> entries;
  };
  std::int64_t now() const;
  std::shared_ptr<TokenVerifier> inner_;
  Options options_;
  mutable std::array<Shard, 16> shards_;
};

}  // namespace jitgate::auth
