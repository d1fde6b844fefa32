// The compiled form of a policy file: rules with interned scopes and roles, indexed by target.
#pragma once

#include <re2/re2.h>

#include <boost/json/value.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "jitgate/policy/engine.hpp"

namespace jitgate::policy {

// Glob over the whole text: `*` any run of characters, `?` one character.
bool glob_match(std::string_view pattern, std::string_view text);

// equals / in / prefix / glob / regex (RE2) over a JSON value; an array matches when an element does.
struct Matcher {
  enum class Op : std::uint8_t { equals, in, prefix, glob, regex };
  Op op = Op::equals;
  boost::json::value value;             // equals
  std::vector<boost::json::value> any;  // in
  std::string text;                     // prefix, glob, regex source
  std::shared_ptr<const re2::RE2> re;
  bool matches(const boost::json::value& v) const;
};

struct ClaimCondition {
  std::vector<std::string> path;  // dotted claim path, split
  Matcher matcher;
};

struct ArgCondition {
  std::string pointer;  // RFC 6901 JSON pointer into the arguments
  bool absent = false;  // `absent: true`: the argument must not be there
  Matcher matcher;
};

using ScopeId = std::uint32_t;

struct SubjectSpec {
  bool anonymous = false;       // only callers without a token
  bool authenticated = false;   // only callers with one
  std::vector<ScopeId> scopes;  // all of
  std::vector<std::vector<ScopeId>> roles;  // every group holds: one role of each
  std::vector<ClaimCondition> claims;       // all of
  std::vector<std::vector<std::string>> client_ids;  // every group holds: one client id of each
  bool identity_free() const { return roles.empty() && claims.empty() && client_ids.empty(); }
};

struct Pattern {
  enum class Type : std::uint8_t { exact, glob, uri_template };
  Type type = Type::exact;
  std::string text;
  std::shared_ptr<const re2::RE2> re;  // uri_template
  bool matches(std::string_view s) const;
};

struct Rule {
  std::string id;
  bool deny = false;
  std::string tier;
  SubjectSpec subject;  // the tier's requirements merged with the rule's own
  std::vector<ArgCondition> when;
  std::vector<Pattern> targets[5];  // by Kind
  std::string where;                // file:line:column of the rule
};

struct Tier {
  std::string name;
  std::string description;
  SubjectSpec subject;
  std::string where;
  bool used = false;
};

struct Compiled {
  std::string source;
  Locked locked = Locked::hide;
  std::vector<Rule> rules;
  std::unordered_map<std::string, Tier> tiers;
  // Interned scope and role names; implied[s] lists every scope s implies, itself included.
  std::unordered_map<std::string, ScopeId> scope_ids;
  std::vector<std::string> scope_names;
  std::vector<std::vector<ScopeId>> implied;
  std::unordered_map<std::string, ScopeId> role_ids;
  std::vector<std::string> role_names;
  // Targets by kind: exact names to rule indexes, and patterns to scan. Indexes ascend.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Index {
    std::unordered_map<std::string, std::vector<std::uint32_t>, NameHash, std::equal_to<>> exact;
    std::vector<std::pair<const Pattern*, std::uint32_t>> wild;
  };
  Index index[5];

  std::optional<ScopeId> scope(std::string_view s) const {
    auto it = scope_ids.find(std::string(s));
    return it == scope_ids.end() ? std::nullopt : std::optional<ScopeId>(it->second);
  }
};

}  // namespace jitgate::policy
