// Small pieces the endpoints share: random values, hashes, form and query codecs, HTML escaping.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jitgate::devauth {

using Fields = std::vector<std::pair<std::string, std::string>>;

// `bytes` random bytes from OpenSSL's RAND_bytes, base64url without padding.
std::string random_token(std::size_t bytes = 32);
std::string base64url(std::string_view data);
std::string sha256(std::string_view data);  // raw digest
// A short non-reversible label for logs (never the secret itself).
std::string log_label(std::string_view secret);

// application/x-www-form-urlencoded (also a URL query); nullopt on a malformed percent escape.
std::optional<Fields> parse_form(std::string_view text);
// The value of `name`; nullopt when absent. `duplicate` is set when it appears more than once.
std::optional<std::string> field(const Fields& fields, std::string_view name, bool* duplicate = nullptr);
std::string url_encode(std::string_view s);
std::string html_escape(std::string_view s);
bool constant_time_equal(std::string_view a, std::string_view b);

std::vector<std::string> split_scopes(std::string_view scope);
std::string join_scopes(const std::vector<std::string>& scopes);

}  // namespace jitgate::devauth
