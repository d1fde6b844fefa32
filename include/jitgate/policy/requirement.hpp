// What a primitive needs, declared in C++ next to its registration. Light on purpose: mcp/types.hpp
// includes it. The policy file merges with it and can only tighten it.
#pragma once

#include <string>
#include <vector>

namespace jitgate::policy {

struct Requirement {
  std::string tier;                 // a tier of the policy file; its requirements apply too
  bool authenticated = false;       // a signed-in caller (implied by scopes and roles)
  std::vector<std::string> scopes;  // all of
  std::vector<std::string> roles;   // any of

  bool empty() const { return tier.empty() && !authenticated && scopes.empty() && roles.empty(); }
};

}  // namespace jitgate::policy
