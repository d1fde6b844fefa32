// What a jitgate server would answer one request from one caller: the policy decision and the HTTP
// answer it turns into. Shared by `jitgate policy explain` and `jitgate policy test`.
#pragma once

#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "jitgate/auth/principal.hpp"
#include "jitgate/policy/policy.hpp"

namespace jitgate::cli {

// Input the operator got wrong (bad JSON, a method that is no method name): exit status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One MCP request as the policy sees it.
struct Request {
  std::string method;
  std::optional<std::string> name;          // tool or prompt name, resource URI, list entry
  std::optional<boost::json::object> args;  // tools/call and prompts/get
  std::string via_template;                 // resources/read: the template that serves the URI
};

struct Explanation {
  // The action decided.
  std::string kind, phase, method, name;
  bool list_entry = false;      // an entry of a list: shown or hidden, never refused
  bool method_refused = false;  // a list method the policy refused before listing anything
  policy::Decision decision;
  // The HTTP answer.
  unsigned status = 200;
  std::string reason;            // "OK", "Unauthorized", "Forbidden"
  std::string error;             // OAuth error code in the body: invalid_token, insufficient_scope, forbidden
  std::string www_authenticate;  // the challenge header's value, when there is one
  std::string listing;           // list entries: "listed", "hidden" or "listed as locked"
};

// Throws UsageError when the request does not name a valid action.
Explanation explain(const policy::LocalPolicyEngine& engine, const auth::Principal& who, const Request& req,
                    const std::string& resource_metadata);

std::string_view to_string(policy::Remedy r);
std::string to_text(const Explanation& e, const auth::Principal& who);
boost::json::object to_json(const Explanation& e, const auth::Principal& who);

}  // namespace jitgate::cli
