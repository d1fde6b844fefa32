#include "mcp/uri_template.hpp"

#include <cctype>

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
