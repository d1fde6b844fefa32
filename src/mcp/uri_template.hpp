// RFC 6570 level-1 URI templates ("test://template/{id}/data"): parsing and matching.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jitgate/mcp/types.hpp"

namespace jitgate::mcp {

class UriTemplate {
 public:
  static std::optional<UriTemplate> parse(std::string_view tmpl);
  // Variables of `uri` when it matches; a variable matches one or more characters other than '/'.
  std::optional<StringMap> match(std::string_view uri) const;

 private:
  struct Part {
    bool variable;
    std::string text;  // literal text or variable name
  };
  std::vector<Part> parts_;
};

}  // namespace jitgate::mcp
