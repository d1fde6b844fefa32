// Who is calling: the only view of a token that layers above auth/ ever see.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace jitgate::auth {

// A credential kept only to be exchanged (RFC 8693), never to be shown: it has no conversion to
// text, JSON or a stream, so it cannot end up in a log line or an audit record by accident.
class SecretToken {
 public:
  SecretToken() = default;
  explicit SecretToken(std::string value) : value_(std::move(value)) {}
  bool empty() const { return value_.empty(); }
  // The raw value, for the one request that must carry it (a token exchange).
  const std::string& reveal() const { return value_; }

 private:
  std::string value_;
};

struct Principal {
  std::string issuer;
  std::string subject;  // empty for the anonymous principal
  std::string client_id;
  std::set<std::string, std::less<>> scopes;
  std::set<std::string, std::less<>> roles;
  boost::json::object claims;
  std::optional<std::int64_t> expires_at;  // seconds since the epoch
  std::string token_hash;                  // a short hash of the token, for logs; never the token
  SecretToken token;                       // the access token as presented (for token exchange only)

  bool anonymous() const { return subject.empty(); }
  static Principal anonymous_principal() { return {}; }
};

}  // namespace jitgate::auth
