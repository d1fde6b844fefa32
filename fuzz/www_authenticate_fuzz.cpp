// libFuzzer target for the WWW-Authenticate parser: no crash on any input, and whatever parses
// survives a round trip through the builder unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "jitgate/auth/www_authenticate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = jitgate::auth::parse_www_authenticate(input);
  if (!parsed) return 0;
  for (const auto& c : *parsed) {
    bool has_token68 = false;
    bool printable = true;
    for (const auto& [k, v] : c.params) {
      has_token68 = has_token68 || k.empty();
      for (char ch : v) printable = printable && static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f;
    }
    if (has_token68 || !printable) continue;  // the builder only writes auth-params with printable values
    auto again = jitgate::auth::parse_www_authenticate(jitgate::auth::to_header(c));
    if (!again || again->size() != 1 || (*again)[0].scheme != c.scheme || (*again)[0].params != c.params) std::abort();
  }
  return 0;
}
