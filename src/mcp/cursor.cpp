#include "mcp/cursor.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

namespace jitgate::mcp {

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string s = base64_encode(bytes);
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string s(text);
  for (char& c : s) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/' || c == '=')
      return std::nullopt;
  }
  while (s.size() % 4) s.push_back('=');
  return base64_decode(s);
}

namespace {

constexpr std::size_t kNonce = 12, kTag = 16, kOffset = 8;
constexpr std::size_t kSealed = kNonce + kOffset + kTag;

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

// The additional data: the family and the binding, length-prefixed so no two pairs concatenate alike.
std::string associated(std::string_view family, std::string_view binding) {
  std::string aad;
  aad.reserve(family.size() + binding.size() + 24);
  aad += "jitgate-cursor-v1\n";
  aad += std::to_string(family.size());
  aad += ':';
  aad += family;
  aad += binding;
  return aad;
}

}  // namespace

CursorSealer::CursorSealer(std::string_view secret) {
  if (secret.empty()) {
    if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1) throw std::runtime_error("RAND_bytes failed");
    return;
  }
  static constexpr std::string_view kLabel = "jitgate cursor key v1";
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(kLabel.data()),
            kLabel.size(), key_.data(), &n) ||
      n != key_.size())
    throw std::runtime_error("HMAC failed");
}

std::string CursorSealer::seal(std::string_view family, std::string_view binding, std::uint64_t offset) const {
  std::array<unsigned char, kSealed> out{};
  if (RAND_bytes(out.data(), kNonce) != 1) throw std::runtime_error("RAND_bytes failed");
  std::array<unsigned char, kOffset> plain{};
  for (std::size_t i = 0; i < kOffset; ++i) plain[i] = static_cast<unsigned char>(offset >> (8 * i));
  std::string aad = associated(family, binding);
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), out.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data() + kNonce, &len, plain.data(), static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + kNonce + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, out.data() + kNonce + kOffset) != 1)
    throw std::runtime_error("AES-GCM failed");
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(out.data()), out.size()));
}

std::optional<std::uint64_t> CursorSealer::open(std::string_view family, std::string_view binding,
                                                std::string_view cursor) const {
  if (cursor.size() > 64) return std::nullopt;
  auto raw = base64url_decode(cursor);
  if (!raw || raw->size() != kSealed) return std::nullopt;
  const auto* in = reinterpret_cast<const unsigned char*>(raw->data());
  std::array<unsigned char, kTag> tag{};
  std::copy(in + kNonce + kOffset, in + kSealed, tag.begin());
  std::array<unsigned char, kOffset + 16> plain{};
  std::string aad = associated(family, binding);
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0, tail = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), in) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), plain.data(), &len, in + kNonce, static_cast<int>(kOffset)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), plain.data() + len, &tail) != 1)
    return std::nullopt;  // not ours, altered, or sealed for other rights
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < kOffset; ++i) offset |= static_cast<std::uint64_t>(plain[i]) << (8 * i);
  return offset;
}

}  // namespace jitgate::mcp
