#include "jitgate/auth/www_authenticate.hpp"

#include <cctype>

namespace jitgate::auth {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// RFC 9110 tchar.
bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token68_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-._~+/").find(c) != std::string_view::npos;
}

std::string quote(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    // Control characters cannot appear in a header; replace them rather than emit a broken value.
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  out += '"';
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  std::optional<std::vector<Challenge>> run() {
    std::vector<Challenge> out;
    skip_list_separators();
    while (!done()) {
      auto scheme = token();
      if (!scheme) return std::nullopt;
      Challenge c;
      c.scheme = *scheme;
      c.params.clear();
      skip_ws();
      // Either token68, or a comma-separated list of auth-params, or nothing.
      if (!done() && peek() != ',') {
        std::size_t save = pos_;
        auto name = token();
        skip_ws();
        if (name && !done() && peek() == '=' && !next_is_token68_end()) {
          pos_ = save;
          Next n = params(c);
          if (n == Next::error) return std::nullopt;
          out.push_back(std::move(c));
          if (n == Next::end) break;
          continue;  // params() stopped at the next challenge's scheme
        } else {
          pos_ = save;
          std::string t68;
          while (!done() && is_token68_char(peek())) t68 += s_[pos_++];
          while (!done() && peek() == '=') t68 += s_[pos_++];
          if (t68.empty()) return std::nullopt;
          c.params.emplace_back("", t68);
          skip_ws();
        }
      }
      out.push_back(std::move(c));
      skip_ws();
      if (done()) break;
      if (peek() != ',') return std::nullopt;
      skip_list_separators();
    }
    if (out.empty()) return std::nullopt;
    return out;
  }

 private:
  bool done() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }
  void skip_ws() {
    while (!done() && (peek() == ' ' || peek() == '\t')) ++pos_;
  }
  void skip_list_separators() {
    while (!done() && (peek() == ' ' || peek() == '\t' || peek() == ',')) ++pos_;
  }
  std::optional<std::string> token() {
    std::size_t start = pos_;
    while (!done() && is_tchar(peek())) ++pos_;
    if (pos_ == start) return std::nullopt;
    return std::string(s_.substr(start, pos_ - start));
  }
  // At "=": distinguishes `name=value` (auth-param) from a token68 ending in "=" padding.
  bool next_is_token68_end() const {
    std::size_t p = pos_;
    while (p < s_.size() && s_[p] == '=') ++p;
    while (p < s_.size() && (s_[p] == ' ' || s_[p] == '\t')) ++p;
    return p - pos_ > 1 || p >= s_.size() || s_[p] == ',';
  }
  std::optional<std::string> quoted() {
    ++pos_;  // opening quote
    std::string v;
    while (!done()) {
      char c = s_[pos_++];
      if (c == '"') return v;
      if (c == '\\') {
        if (done()) return std::nullopt;
        c = s_[pos_++];
      }
      v += c;
    }
    return std::nullopt;  // unterminated
  }
  enum class Next { end, next_challenge, error };

  // auth-params until the input ends or the next challenge starts (a token not followed by "=").
  Next params(Challenge& c) {
    for (;;) {
      skip_ws();
      auto name = token();
      if (!name) return Next::error;
      skip_ws();
      if (done() || peek() != '=') return Next::error;
      ++pos_;
      skip_ws();
      if (done()) return Next::error;
      std::optional<std::string> value = peek() == '"' ? quoted() : token();
      if (!value) return Next::error;
      c.params.emplace_back(*name, *value);
      skip_ws();
      if (done()) return Next::end;
      if (peek() != ',') return Next::error;
      // Skip empty list elements; stop before the next scheme.
      while (!done() && (peek() == ',' || peek() == ' ' || peek() == '\t')) ++pos_;
      if (done()) return Next::end;
      std::size_t look = pos_;
      auto next = token();
      skip_ws();
      bool is_param = next && !done() && peek() == '=';
      pos_ = look;
      if (!is_param) return Next::next_challenge;
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<std::string> Challenge::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (iequals(k, name)) return v;
  return std::nullopt;
}

Challenge& Challenge::set(std::string name, std::string value) {
  for (auto& [k, v] : params)
    if (iequals(k, name)) {
      v = std::move(value);
      return *this;
    }
  params.emplace_back(std::move(name), std::move(value));
  return *this;
}

Challenge Challenge::missing_token(std::string_view resource_metadata, std::string_view scope) {
  Challenge c;
  c.set("resource_metadata", std::string(resource_metadata));
  if (!scope.empty()) c.set("scope", std::string(scope));
  return c;
}

Challenge Challenge::invalid_token(std::string_view resource_metadata, std::string_view description) {
  Challenge c;
  c.set("error", "invalid_token");
  c.set("error_description", std::string(description));
  c.set("resource_metadata", std::string(resource_metadata));
  return c;
}

Challenge Challenge::insufficient_scope(std::string_view resource_metadata, std::string_view scope,
                                        std::string_view description) {
  Challenge c;
  c.set("error", "insufficient_scope");
  c.set("scope", std::string(scope));
  c.set("resource_metadata", std::string(resource_metadata));
  if (!description.empty()) c.set("error_description", std::string(description));
  return c;
}

std::string to_header(const Challenge& c) {
  std::string out = c.scheme;
  bool first = true;
  for (const auto& [k, v] : c.params) {
    out += first ? " " : ", ";
    first = false;
    if (k.empty()) {
      out += v;  // token68
      continue;
    }
    out += k;
    out += '=';
    out += quote(v);
  }
  return out;
}

std::optional<std::vector<Challenge>> parse_www_authenticate(std::string_view value) {
  if (value.size() > 16 * 1024) return std::nullopt;
  return Parser(value).run();
}

}  // namespace jitgate::auth
