// Total conversions of untrusted token JSON (JWT headers and claims, introspection answers): every
// member of the wrong type or out of range is a refusal with a reason, never an exception.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jitgate::auth::claims {

// RFC 7519 NumericDates are accepted in [0, 253402300799] (up to the year 9999); beyond that they
// are refused rather than wrapped or saturated.
inline constexpr std::int64_t kMaxNumericDate = 253'402'300'799;

// How a fractional NumericDate becomes whole seconds: the stricter way for each claim (an `exp`
// rounds down, an `nbf` or `iat` up).
enum class Rounding { down, up };

struct NumericDate {
  bool present = false;
  bool valid = true;
  std::int64_t seconds = 0;
};

// A JSON object from untrusted text (nesting capped at 32); nullopt for anything else.
std::optional<boost::json::object> parse_object(std::string_view text);

// The NumericDate `name` of `o`: absent, a valid date, or invalid (not a number, or out of range).
NumericDate numeric_date(const boost::json::object& o, std::string_view name, Rounding rounding);

// The first registered claim of the wrong type or range, as a message naming it; nullopt when all
// are well-typed. Checks iss, sub, client_id, azp, jti, scope and token_type (strings), scp (a
// string or an array of strings), aud (a string or an array of strings), exp, nbf, iat and
// auth_time (NumericDates).
std::optional<std::string> type_error(const boost::json::object& o);

// Strict base64url without padding (RFC 7515 section 2): only the URL-safe alphabet, no length of
// 1 mod 4, and the unused low bits of the last character zero, so each octet string has exactly
// one spelling.
std::optional<std::string> base64url_decode(std::string_view in);
// The decoded length of a base64url text of this length, nullopt if no text can have it.
std::optional<std::size_t> base64url_decoded_size(std::size_t chars);

}  // namespace jitgate::auth::claims
