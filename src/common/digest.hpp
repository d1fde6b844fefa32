// SHA-256 through OpenSSL, and the short label a secret is logged by: the first six bytes of its
// digest in hex, enough to tell two tokens apart in a log and never enough to use one.
// Users link OpenSSL::Crypto.
#pragma once

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "common/hex.hpp"

namespace jitgate::common {

inline std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr) != 1) throw std::runtime_error("SHA-256 failed");
  return std::string(reinterpret_cast<const char*>(md), n);
}

inline std::string sha256_hex(std::string_view data) { return to_hex(sha256(data)); }

inline std::string log_label(std::string_view secret) { return to_hex(sha256(secret).substr(0, 6)); }

// `n` random bytes from the CSPRNG, as hex; `prefix` goes in front.
inline std::string random_hex(std::size_t n, std::string prefix = {}) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return prefix + to_hex(bytes);
}

}  // namespace jitgate::common
