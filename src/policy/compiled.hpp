// The compiled form of a policy file: rules with interned scopes and roles, indexed by target.
#pragma once

#include <re2/re2.h>

#include <algorithm>
#include <boost/json/value.hpp>
#include <cstdint>
#include <cstring>
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

// Whether an argument's name (a JSON pointer) says it holds a file system path: path, file, dir, ...
bool looks_like_path_name(std::string_view pointer);

// The segments of an absolute path with empty and "." segments dropped and ".." resolved, or nullopt
// when it cannot be normalized: not absolute, a NUL byte, a backslash, a percent escape (%XX), or a
// ".." above the root. The path matcher compares these, never the raw text.
std::optional<std::vector<std::string>> normalize_path(std::string_view path);

// equals / in / prefix / glob / regex (RE2) / path over a JSON value. An array is judged element by
// element (at every depth): `each` says whether all or any of them must satisfy, and implicit leaves
// it to the context (argument conditions: all in an allow rule, any in a deny rule; claims: any).
struct Matcher {
  enum class Op : std::uint8_t { equals, in, prefix, glob, regex, path_within, path_equals };
  enum class Each : std::uint8_t { implicit, all, any };
  // What one value makes of a matcher: unknown when it cannot be judged (a path matcher on a value
  // that is not a normalizable absolute path). Unknown never satisfies an allow and always triggers a deny.
  enum class Verdict : std::uint8_t { no, yes, unknown };
  Op op = Op::equals;
  Each each = Each::implicit;
  bool or_empty = false;                // with `all`: an empty array satisfies it
  boost::json::value value;             // equals
  std::vector<boost::json::value> any;  // in
  std::string text;                     // prefix, glob, regex source
  std::shared_ptr<const re2::RE2> re;
  std::vector<std::vector<std::string>> bases;  // path: normalized segments of each base (one of them)
  // Whether `v` satisfies the matcher for a rule of this effect, arrays judged by `implicit` unless
  // the matcher says all or any.
  bool holds(const boost::json::value& v, Each implicit, bool deny) const;
  Verdict judge(const boost::json::value& v, Each each_element) const;
  bool is_text() const { return op == Op::prefix || op == Op::glob || op == Op::regex; }
  bool is_path() const { return op == Op::path_within || op == Op::path_equals; }
};

// A matcher that a path written another way gets past: prefix, glob and regex always, and equals
// and in when a deny rule relies on them.
inline bool compares_raw_text(bool deny, const Matcher& m) {
  return m.is_text() || (deny && (m.op == Matcher::Op::equals || m.op == Matcher::Op::in));
}

struct ClaimCondition {
  std::vector<std::string> path;  // dotted claim path, split
  Matcher matcher;
};

struct ArgCondition {
  std::string pointer;  // RFC 6901 JSON pointer into the arguments
  bool absent = false;  // `absent: true`: the argument must not be there
  Matcher matcher;
  std::string where;        // file:line:column of the condition
  bool path_named = false;  // its name looks like a path (looks_like_path_name)
  // Set by Compiled::resolve(): conditions on the same pointer share a slot, so one decision looks
  // each argument up once however many rules test it.
  std::uint32_t slot = ~std::uint32_t{0};
};

using ScopeId = std::uint32_t;

struct SubjectSpec {
  bool anonymous = false;                            // only callers without a token
  bool authenticated = false;                        // only callers with one
  std::vector<ScopeId> scopes;                       // all of
  std::vector<std::vector<ScopeId>> roles;           // every group holds: one role of each
  std::vector<ClaimCondition> claims;                // all of
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
  std::vector<Entry> all_;                       // in insertion order
  NameMap<std::vector<std::uint32_t>> by_head_;  // head -> positions in all_
  std::vector<std::size_t> head_lengths_;        // distinct, ascending
};

// A fast hash for short names (tool names, URIs): 8-byte words mixed by multiplication.
[[gnu::always_inline]] inline std::uint64_t name_hash(std::string_view s) {
  auto load8 = [](const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  };
  auto load4 = [](const char* p) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    return std::uint64_t{w};
  };
  auto mix = [](std::uint64_t h, std::uint64_t w) {
    h = (h ^ w) * 0x9fb21c651e98df25ull;
    return h ^ (h >> 29);
  };
  const char* p = s.data();
  std::size_t n = s.size();
  std::uint64_t h = 0x243f6a8885a308d3ull ^ (n * 0x9e3779b97f4a7c15ull);
  if (n >= 8) {
    for (; n > 8; p += 8, n -= 8) h = mix(h, load8(p));
    h = mix(h, load8(p + n - 8));  // the last word, overlapping the previous one
  } else if (n >= 4) {
    h = mix(h, load4(p) | (load4(p + n - 4) << 32));
  } else if (n > 0) {
    h = mix(h, std::uint64_t(std::uint8_t(p[0])) | std::uint64_t(std::uint8_t(p[n / 2])) << 8 |
                   std::uint64_t(std::uint8_t(p[n - 1])) << 16);
  }
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 32);
}

// What evaluating a rule's subject needs, packed (32 bytes) in one array by rule index, so a decision
// reads neither the Rule nor the heap blocks of its vectors unless it needs arguments, roles,
// claims or client ids for the first time. Built by Compiled::resolve().
struct HotRule {
  enum : std::uint8_t {
    kDeny = 1,
    kWhen = 2,       // has argument conditions
    kAnonOnly = 4,   // subject.anonymous
    kSignedIn = 8,   // subject.authenticated, or scopes, roles or client ids: never an anonymous caller
    kIdentity = 16,  // !subject.identity_free(): roles, claims or client ids
  };
  std::uint32_t scopes_at = 0;  // subject.scopes in Compiled::hot_scopes
  std::uint32_t scopes_n = 0;
  std::uint32_t identity_slot = Rule::kNoSlot;
  std::uint32_t id_at = 0;  // id and tier in Compiled::hot_text
  std::uint32_t id_len = 0;
  std::uint32_t tier_at = 0;
  std::uint32_t tier_len = 0;
  std::uint8_t flags = 0;
};

// Exact names to their resolved rule lists in one open-addressing table: the names and the lists
// live in two contiguous arrays, and a lookup is one hash and usually one compare.
class NameTable {
 public:
  struct Hit {
    const std::uint32_t* rules;
    std::uint32_t n;
  };
  template <class Map>
  void build(const Map& exact) {
    std::size_t cap = 8;
    while (cap < exact.size() * 2) cap *= 2;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    for (const auto& [name, rules] : exact) {
      std::uint64_t h = name_hash(name);
      std::size_t at = h & mask_;
      while (slots_[at].name_at != kEmpty) at = (at + 1) & mask_;
      slots_[at] = Slot{h, static_cast<std::uint32_t>(text_.size()), static_cast<std::uint32_t>(name.size()),
                        static_cast<std::uint32_t>(rules_.size()), static_cast<std::uint32_t>(rules.size())};
      text_ += name;
      rules_.insert(rules_.end(), rules.begin(), rules.end());
    }
    built_ = true;
  }
  bool built() const { return built_; }
  // False when the name is not listed.
  bool find(std::string_view name, Hit& out) const {
    std::uint64_t h = name_hash(name);
    for (std::size_t at = h & mask_;; at = (at + 1) & mask_) {
      const Slot& s = slots_[at];
      if (s.name_at == kEmpty) return false;
      if (s.hash == h && s.name_len == name.size() && same(text_.data() + s.name_at, name)) {
        out = {rules_.data() + s.rules_at, s.rules_n};
        return true;
      }
    }
  }

 private:
  static constexpr std::uint32_t kEmpty = ~std::uint32_t{0};
  // Equal text of equal length; names of 8 to 16 bytes in two overlapping 8-byte words.
  static bool same(const char* stored, std::string_view name) {
    std::size_t n = name.size();
    if (n < 8 || n > 16) return std::memcmp(stored, name.data(), n) == 0;
    std::uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, stored, 8);
    std::memcpy(&b0, name.data(), 8);
    std::memcpy(&a1, stored + n - 8, 8);
    std::memcpy(&b1, name.data() + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t name_at = kEmpty, name_len = 0, rules_at = 0, rules_n = 0;
  };
  std::vector<Slot> slots_;
  std::string text_;
  std::vector<std::uint32_t> rules_;
  std::size_t mask_ = 0;
  bool built_ = false;
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
    NameTable table;  // `exact` once resolved, for lookups
  };
  Index index[5];
  std::uint32_t identity_slots = 0;  // rules with an identity_slot
  std::uint32_t arg_slots = 0;       // distinct argument pointers (ArgCondition::slot)
  // By rule index (resolve()): the packed subject data of each rule, the scope ids they point
  // into, and the rules' ids and tiers.
  std::vector<HotRule> hot;
  std::vector<ScopeId> hot_scopes;
  std::string hot_text;
  // Folds the pattern matches of every exact name into its list and numbers the identity slots;
  // Policy does it once, when built.
  void resolve();

  std::optional<ScopeId> scope(std::string_view s) const {
    auto it = scope_ids.find(s);
    return it == scope_ids.end() ? std::nullopt : std::optional<ScopeId>(it->second);
  }
};

}  // namespace jitgate::policy
