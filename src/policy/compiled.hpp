// The compiled form of a policy file: rules with interned scopes and roles, indexed by target.
#pragma once

#include <re2/re2.h>

#include <algorithm>
#include <boost/json/value.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
  // Set by Compiled::resolve() when the subject names roles, claims or client ids: where a prepared
  // caller remembers whether they hold.
  static constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};
  std::uint32_t identity_slot = kNoSlot;
};

struct Tier {
  std::string name;
  std::string description;
  SubjectSpec subject;
  std::string where;
  bool used = false;
};

// Hashes std::string keys and finds them by std::string_view without building a string.
struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using NameMap = std::unordered_map<std::string, V, NameHash, std::equal_to<>>;

// Patterns with wildcards, bucketed by their literal head (the text before the first wildcard, or
// before the first `{` of a URI template). A name can only match a pattern whose head it starts
// with, so a lookup probes one bucket per distinct head length instead of trying every pattern.
class WildIndex {
 public:
  struct Entry {
    const Pattern* pattern;
    std::uint32_t rule;
  };
  void emplace_back(const Pattern* p, std::uint32_t rule) {
    std::size_t len = p->type == Pattern::Type::uri_template ? p->text.find('{') : p->text.find_first_of("*?");
    if (len == std::string::npos) len = p->text.size();
    by_head_[p->text.substr(0, len)].push_back(static_cast<std::uint32_t>(all_.size()));
    all_.push_back({p, rule});
    auto at = std::lower_bound(head_lengths_.begin(), head_lengths_.end(), len);
    if (at == head_lengths_.end() || *at != len) head_lengths_.insert(at, len);
  }
  // Calls f(entry) for every pattern whose head `name` starts with (a superset of the matches).
  template <class F>
  void for_each_candidate(std::string_view name, F&& f) const {
    if (all_.empty()) return;
    for (std::size_t len : head_lengths_) {
      if (len > name.size()) break;
      if (auto it = by_head_.find(name.substr(0, len)); it != by_head_.end())
        for (std::uint32_t k : it->second) f(all_[k]);
    }
  }
  const std::vector<Entry>& all() const { return all_; }

 private:
  std::vector<Entry> all_;                         // in insertion order
  NameMap<std::vector<std::uint32_t>> by_head_;    // head -> positions in all_
  std::vector<std::size_t> head_lengths_;          // distinct, ascending
};

struct Compiled {
  std::string source;
  Locked locked = Locked::hide;
  std::vector<Rule> rules;
  std::unordered_map<std::string, Tier> tiers;
  // Interned scope and role names; implied[s] lists every scope s implies, itself included.
  NameMap<ScopeId> scope_ids;
  std::vector<std::string> scope_names;
  std::vector<std::vector<ScopeId>> implied;
  NameMap<ScopeId> role_ids;
  std::vector<std::string> role_names;
  // Targets by kind: exact names to rule indexes, and patterns by literal head. Indexes ascend.
  struct Index {
    NameMap<std::vector<std::uint32_t>> exact;
    WildIndex wild;
    // Set by resolve(): each exact name's list also holds the rules whose patterns match that name,
    // so a listed name is decided from one lookup.
    bool exact_has_wild = false;
  };
  Index index[5];
  std::uint32_t identity_slots = 0;  // rules with an identity_slot
  // Folds the pattern matches of every exact name into its list and numbers the identity slots;
  // Policy does it once, when built.
  void resolve();

  std::optional<ScopeId> scope(std::string_view s) const {
    auto it = scope_ids.find(s);
    return it == scope_ids.end() ? std::nullopt : std::optional<ScopeId>(it->second);
  }
};

}  // namespace jitgate::policy
