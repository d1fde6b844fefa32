// FNV-1a, 64 bit: fast, stable across processes and builds (std::hash is neither), for fingerprints
// that only need to notice change, never to resist an attacker.
#pragma once

#include <cstdint>
#include <string_view>

namespace jitgate::common {

inline constexpr std::uint64_t kFnvOffset = 1469598103934665603ull;
inline constexpr std::uint64_t kFnvPrime = 1099511628211ull;

constexpr void fnv1a(std::uint64_t& h, std::string_view s) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
}

constexpr std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = kFnvOffset;
  fnv1a(h, s);
  return h;
}

// One field of a record: its bytes and then a terminator, so ("ab","c") and ("a","bc") differ.
constexpr void fnv1a_field(std::uint64_t& h, std::string_view s) {
  fnv1a(h, s);
  h ^= 0xff;
  h *= kFnvPrime;
}

// A 64-bit finalizer (splitmix64), so that hashes can be summed without their structure showing.
constexpr std::uint64_t mixed(std::uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

}  // namespace jitgate::common
