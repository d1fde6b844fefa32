#include "mcp/cursor.hpp"

#include <openssl/evp.h>

#include <cctype>
#include <charconv>
#include <vector>

namespace jitgate::mcp {

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string encode_cursor(std::string_view family, std::size_t offset) {
  std::string plain = "v1:" + std::string(family) + ":" + std::to_string(offset);
  return base64_encode(plain);
}

std::string encode_cursor(std::string_view family, std::size_t offset, std::string_view binding) {
  if (binding.empty()) return encode_cursor(family, offset);
  return base64_encode("v2:" + std::string(family) + ":" + std::string(binding) + ":" + std::to_string(offset));
}

namespace {

// The offset of a cursor whose decoded text is `prefix` followed by a decimal number.
std::optional<std::size_t> offset_after(std::string_view cursor, const std::string& prefix) {
  if (cursor.size() > 256) return std::nullopt;
  auto plain = base64_decode(cursor);
  if (!plain || plain->rfind(prefix, 0) != 0) return std::nullopt;
  std::string_view num = std::string_view(*plain).substr(prefix.size());
  std::size_t offset = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), offset);
  if (ec != std::errc() || p != num.data() + num.size() || num.empty()) return std::nullopt;
  return offset;
}

}  // namespace

std::optional<std::size_t> decode_cursor(std::string_view family, std::string_view cursor, std::string_view binding) {
  if (binding.empty()) return decode_cursor(family, cursor);
  return offset_after(cursor, "v2:" + std::string(family) + ":" + std::string(binding) + ":");
}

std::optional<std::size_t> decode_cursor(std::string_view family, std::string_view cursor) {
  return offset_after(cursor, "v1:" + std::string(family) + ":");
}

}  // namespace jitgate::mcp

#include "mcp/uri_template.hpp"

namespace jitgate::mcp {

std::optional<UriTemplate> UriTemplate::parse(std::string_view tmpl) {
  UriTemplate t;
  std::size_t i = 0;
  while (i < tmpl.size()) {
    std::size_t open = tmpl.find('{', i);
    if (open == std::string_view::npos) {
      t.parts_.push_back({false, std::string(tmpl.substr(i))});
      break;
    }
    if (open > i) t.parts_.push_back({false, std::string(tmpl.substr(i, open - i))});
    std::size_t close = tmpl.find('}', open);
    if (close == std::string_view::npos || close == open + 1) return std::nullopt;
    std::string_view name = tmpl.substr(open + 1, close - open - 1);
    for (char c : name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return std::nullopt;
    if (!t.parts_.empty() && t.parts_.back().variable) return std::nullopt;  // ambiguous "{a}{b}"
    t.parts_.push_back({true, std::string(name)});
    i = close + 1;
  }
  return t;
}

std::optional<StringMap> UriTemplate::match(std::string_view uri) const {
  StringMap vars;
  std::size_t pos = 0;
  for (std::size_t k = 0; k < parts_.size(); ++k) {
    const Part& p = parts_[k];
    if (!p.variable) {
      if (uri.substr(pos, p.text.size()) != p.text) return std::nullopt;
      pos += p.text.size();
      continue;
    }
    std::size_t end;
    if (k + 1 < parts_.size()) {
      end = uri.find(parts_[k + 1].text, pos);
      if (end == std::string_view::npos) return std::nullopt;
    } else {
      end = uri.size();
    }
    std::string_view value = uri.substr(pos, end - pos);
    if (value.empty() || value.find('/') != std::string_view::npos) return std::nullopt;
    vars.emplace(p.text, std::string(value));
    pos = end;
  }
  if (pos != uri.size()) return std::nullopt;
  return vars;
}

}  // namespace jitgate::mcp
