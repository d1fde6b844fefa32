// Opaque pagination cursors. A cursor is sealed with AES-256-GCM: the position it stands for is
// encrypted (a caller cannot count entries it may not see between two pages) and authenticated
// together with the list family and the rights it was issued for (a tampered cursor, or one
// presented by another caller or after a policy reload, does not open).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jitgate::mcp {

class CursorSealer {
 public:
  // The key is derived from `secret` (so instances sharing one secret accept each other's
  // cursors); an empty secret draws a random key for this process.
  explicit CursorSealer(std::string_view secret = {});

  // `binding` names the rights the cursor is issued for (empty without a policy).
  std::string seal(std::string_view family, std::string_view binding, std::uint64_t offset) const;
  // The position, when the cursor is intact and was sealed for this family and binding.
  std::optional<std::uint64_t> open(std::string_view family, std::string_view binding, std::string_view cursor) const;

 private:
  std::array<unsigned char, 32> key_{};
};

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);
// RFC 4648 §5 without padding; decoding refuses the standard alphabet's '+', '/' and '='.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace jitgate::mcp
