#include "auth/claims.hpp"

#include <array>
#include <boost/json.hpp>
#include <cmath>

namespace jitgate::auth::claims {

std::optional<boost::json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 32;
  boost::json::value v = boost::json::parse(text, ec, {}, opts);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

namespace json = boost::json;

NumericDate numeric_date(const json::object& o, std::string_view name, Rounding rounding) {
  const auto* v = o.if_contains(name);
  if (!v) return {};
  NumericDate d{true, false, 0};
  if (v->is_int64()) {
    d.seconds = v->get_int64();
  } else if (v->is_uint64()) {
    if (v->get_uint64() > static_cast<std::uint64_t>(kMaxNumericDate)) return d;
    d.seconds = static_cast<std::int64_t>(v->get_uint64());
  } else if (v->is_double()) {
    double x = v->get_double();
    // Compared as a double before any conversion: a cast of an out-of-range double is undefined.
    if (!std::isfinite(x) || x < 0 || x > static_cast<double>(kMaxNumericDate)) return d;
    d.seconds = static_cast<std::int64_t>(rounding == Rounding::down ? std::floor(x) : std::ceil(x));
  } else {
    return d;
  }
  if (d.seconds < 0 || d.seconds > kMaxNumericDate) return d;
  d.valid = true;
  return d;
}

namespace {

bool string_or_strings(const json::value& v) {
  if (v.is_string()) return true;
  if (!v.is_array()) return false;
  for (const auto& e : v.get_array())
    if (!e.is_string()) return false;
  return true;
}

}  // namespace

std::optional<std::string> type_error(const json::object& o) {
  for (const char* name : {"iss", "sub", "client_id", "azp", "jti", "scope", "token_type"})
    if (const auto* v = o.if_contains(name); v && !v->is_string()) return std::string("claim '") + name + "' is not a string";
  for (const char* name : {"scp", "aud"})
    if (const auto* v = o.if_contains(name); v && !string_or_strings(*v))
      return std::string("claim '") + name + "' is not a string or an array of strings";
  for (const char* name : {"exp", "nbf", "iat", "auth_time"})
    if (auto d = numeric_date(o, name, Rounding::down); !d.valid)
      return std::string("claim '") + name + "' is not a NumericDate in range";
  return std::nullopt;
}

namespace {

constexpr auto kValue = [] {
  std::array<std::int8_t, 256> a{};
  a.fill(-1);
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int i = 0; i < 64; ++i) a[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  return a;
}();

}  // namespace

std::optional<std::size_t> base64url_decoded_size(std::size_t chars) {
  if (chars % 4 == 1) return std::nullopt;
  return chars / 4 * 3 + (chars % 4 == 0 ? 0 : chars % 4 - 1);
}

std::optional<std::string> base64url_decode(std::string_view in) {
  auto size = base64url_decoded_size(in.size());
  if (!size) return std::nullopt;
  std::string out;
  out.reserve(*size);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = kValue[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // a second spelling of the same octets
  return out;
}

}  // namespace jitgate::auth::claims
