// libFuzzer target for JWKS parsing: any key set document yields usable keys, refusals with a
// reason, or an error, never a crash; every key kept can be found by its kid.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "jitgate/auth/jwt_verifier.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace jitgate::auth;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto set = KeySet::parse(input, &error);
  if (!set) {
    if (error.empty()) std::abort();
    return 0;
  }
  for (const auto& why : set->refused())
    if (why.empty()) std::abort();
  if (set->size() == 1 && !set->sole()) std::abort();
  for (std::string_view kid : {"", "k1", "ec", "rsa"}) {
    const auto* k = set->find(kid);
    if (k && k->kid() != kid) std::abort();
    if (k) (void)k->signature_bytes("RS256");
  }
  return 0;
}
