// Opaque pagination cursors: a list family and an offset, base64url-encoded.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace jitgate::mcp {

std::string encode_cursor(std::string_view family, std::size_t offset);
std::optional<std::size_t> decode_cursor(std::string_view family, std::string_view cursor);
// A cursor bound to the rights it was issued for (`binding`, a fingerprint of the caller and the
// policy): presented with other rights it is unknown. An empty binding is the plain cursor above.
std::string encode_cursor(std::string_view family, std::size_t offset, std::string_view binding);
std::optional<std::size_t> decode_cursor(std::string_view family, std::string_view cursor, std::string_view binding);

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace jitgate::mcp
