// The requestState of a 2026-07-28 input-required result: the answers gathered in earlier
// rounds, bound to the request they belong to, sealed with HMAC-SHA256 so a client can carry
// it but not forge or alter it.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace jitgate::mcp {

class RequestStateSealer {
 public:
  // An empty key draws a random one (state then does not survive a restart or cross instances).
  explicit RequestStateSealer(std::string key, std::chrono::seconds lifetime);

  // `binding` names what the state is valid for (method, primitive, arguments, later the caller).
  std::string seal(std::string_view binding, const boost::json::object& answers) const;
  // The answers, when the token is intact, unexpired and bound to `binding`.
  std::optional<boost::json::object> open(std::string_view binding, std::string_view token) const;

 private:
  std::string mac(std::string_view data) const;
  std::string key_;
  std::chrono::seconds lifetime_;
};

}  // namespace jitgate::mcp
