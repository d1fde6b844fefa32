// Who is calling: the only view of a token that layers above auth/ ever see.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace jitgate::auth {

struct Principal {
  std::string issuer;
  std::string subject;  // empty for the anonymous principal
  std::string client_id;
  std::set<std::string, std::less<>> scopes;
  std::set<std::string, std::less<>> roles;
  boost::json::object claims;
  std::optional<std::int64_t> expires_at;  // seconds since the epoch
  std::string token_hash;                  // a short hash of the token, for logs; never the token

  bool anonymous() const { return subject.empty(); }
  static Principal anonymous_principal() { return {}; }
};

}  // namespace jitgate::auth
