// Policy test cases (`jitgate policy test FILE CASES.yaml`): requests, callers and the answers
// expected for them, loaded with file:line:column diagnostics like the policy file itself.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "explain.hpp"

namespace jitgate::cli {

struct Expectation {
  std::string decision;  // allow, deny, conditional
  std::optional<std::string> rule, remedy, tier;
  std::optional<unsigned> status;  // 200, 401, 403
  std::optional<std::vector<std::string>> scopes, missing;
};

struct TestCase {
  std::string name;
  std::string where;           // file:line:column of the case
  std::string method_where;    // of its method, for errors in the request
  boost::json::object claims;  // empty: anonymous
  Request request;
  Expectation expect;
};

struct CaseFile {
  std::vector<std::string> role_claims{"roles"};
  std::vector<TestCase> cases;
};

// Throws policy::PolicyError with every error of the file.
CaseFile load_cases(const std::string& path);

// What differs from the expectation, one "expected X, got Y" each; empty when the case passes.
std::vector<std::string> mismatches(const Expectation& want, const Explanation& got);

}  // namespace jitgate::cli
