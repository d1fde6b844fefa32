// Evaluating a compiled policy: deny wins, default deny, and for a deny the smallest scope set that
// would turn it into an allow.
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <memory>
#include <type_traits>

#include "jitgate/policy/policy.hpp"
#include "policy/compiled.hpp"

namespace jitgate::policy {

namespace json = boost::json;

std::string_view to_string(Kind k) {
  switch (k) {
    case Kind::tool: return "tool";
    case Kind::resource: return "resource";
    case Kind::resource_template: return "resource_template";
    case Kind::prompt: return "prompt";
    case Kind::method: return "method";
  }
  return "method";
}
std::string_view to_string(Phase p) { return p == Phase::discovery ? "discovery" : "invocation"; }
std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::allow: return "allow";
    case Outcome::deny: return "deny";
    case Outcome::conditional: return "conditional";
  }
  return "deny";
}

bool glob_match(std::string_view p, std::string_view t) {
  // The head before the first star and the tail after the last one have fixed lengths: they must
  // match the two ends of the text, and only what lies between needs the general matcher.
  auto fixed = [](std::string_view pat, std::string_view txt) {  // equal lengths
    for (std::size_t i = 0; i < pat.size(); ++i)
      if (pat[i] != '?' && pat[i] != txt[i]) return false;
    return true;
  };
  std::size_t first = p.find('*');
  if (first == std::string_view::npos) return p.size() == t.size() && fixed(p, t);
  std::size_t last = p.rfind('*');
  std::size_t tail = p.size() - last - 1;
  if (t.size() < first + tail) return false;
  if (!fixed(p.substr(last + 1), t.substr(t.size() - tail)) || !fixed(p.substr(0, first), t.substr(0, first))) return false;
  if (first == last) return true;  // one star takes whatever lies between
  p = p.substr(first, last + 1 - first);
  t = t.substr(first, t.size() - first - tail);
  // Iterative matcher with one backtrack point: linear for patterns with a single star, and never
  // exponential.
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

namespace {

// The text a matcher compares: strings as they are, numbers and booleans in their JSON spelling.
std::string_view text_of(const json::value& v, std::string& scratch) {
  if (v.is_string()) return v.get_string();
  scratch = json::serialize(v);
  return scratch;
}

bool matches_one(const Matcher& m, const json::value& v) {
  std::string scratch;
  switch (m.op) {
    case Matcher::Op::equals:
      if (v == m.value) return true;
      // A number written unquoted in YAML equals its JSON number whatever its representation.
      return v.is_number() && m.value.is_number() && v.to_number<double>() == m.value.to_number<double>();
    case Matcher::Op::in:
      return std::any_of(m.any.begin(), m.any.end(), [&](const json::value& x) {
        return x == v || (x.is_number() && v.is_number() && x.to_number<double>() == v.to_number<double>());
      });
    case Matcher::Op::prefix:
      if (!v.is_string() && !v.is_number()) return false;
      return text_of(v, scratch).starts_with(m.text);
    case Matcher::Op::glob:
      if (!v.is_string() && !v.is_number()) return false;
      return glob_match(m.text, text_of(v, scratch));
    case Matcher::Op::regex: {
      if (!v.is_string() && !v.is_number()) return false;
      auto t = text_of(v, scratch);
      return RE2::FullMatch(re2::StringPiece(t.data(), t.size()), *m.re);
    }
    case Matcher::Op::path_within:
    case Matcher::Op::path_equals: return false;  // judged by leaf_verdict(), which knows paths
  }
  return false;
}

// RFC 6901 pointer lookup; null when the path does not exist.
const json::value* find_pointer(const json::object& root, std::string_view ptr) {
  if (ptr.empty()) return nullptr;  // the whole object is not an argument
  const json::value* cur = nullptr;
  const json::object* obj = &root;
  std::size_t i = 1;
  while (true) {
    std::size_t slash = ptr.find('/', i);
    std::string_view raw = ptr.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i);
    // A segment without escapes (nearly all) is its own token: no copy.
    std::string unescaped;
    std::string_view token = raw;
    if (raw.find('~') != std::string_view::npos) {
      for (std::size_t k = 0; k < raw.size(); ++k) {
        if (raw[k] == '~' && k + 1 < raw.size()) {
          unescaped += raw[k + 1] == '1' ? '/' : '~';
          ++k;
        } else {
          unescaped += raw[k];
        }
      }
      token = unescaped;
    }
    if (obj) {
      cur = obj->if_contains(token);
    } else if (cur && cur->is_array()) {
      std::size_t idx = 0;
      auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), idx);
      if (ec != std::errc() || p != token.data() + token.size() || idx >= cur->get_array().size()) return nullptr;
      cur = &cur->get_array()[idx];
    } else {
      return nullptr;
    }
    if (!cur) return nullptr;
    if (slash == std::string_view::npos) return cur;
    obj = cur->if_object();
    i = slash + 1;
  }
}

const json::value* claim_at(const json::object& claims, const std::vector<std::string>& path) {
  const json::object* o = &claims;
  const json::value* v = nullptr;
  for (const auto& seg : path) {
    if (!o) return nullptr;
    v = o->if_contains(seg);
    if (!v) return nullptr;
    o = v->if_object();
  }
  return v;
}

using Bits = std::vector<std::uint64_t>;
bool has(const Bits& b, ScopeId id) { return id / 64 < b.size() && (b[id / 64] >> (id % 64)) & 1; }
void set(Bits& b, ScopeId id) {
  if (id / 64 >= b.size()) b.resize(id / 64 + 1);
  b[id / 64] |= std::uint64_t{1} << (id % 64);
}

// A caller as one policy sees it: the closure of its scopes under the hierarchy, its roles, and
// what it has learnt about the rules' roles, claims and client ids (they do not change within a
// request: a list asks about the same rules for every entry).
struct Prepared {
  Bits scopes, roles;
  // By Rule::identity_slot: 0 not known yet, 1 does not hold, 2 holds (for the caller signed in).
  // Relaxed atomics: a caller shared by threads only ever stores the same answer.
  std::unique_ptr<std::atomic<std::uint8_t>[]> identity;
};

Prepared prepare_for(const Compiled& c, const auth::Principal& p) {
  Prepared out;
  if (c.identity_slots) out.identity = std::make_unique<std::atomic<std::uint8_t>[]>(c.identity_slots);
  for (const auto& s : p.scopes)
    if (auto it = c.scope_ids.find(s); it != c.scope_ids.end())
      for (ScopeId implied : c.implied[it->second]) set(out.scopes, implied);
  for (const auto& r : p.roles)
    if (auto it = c.role_ids.find(r); it != c.role_ids.end()) set(out.roles, it->second);
  return out;
}

// A small vector that lives on the stack up to N elements, its buffer left uninitialised (T
// trivially copyable and destructible).
template <class T, std::size_t N>
class SmallVec {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  SmallVec() {}
  SmallVec(const SmallVec& o) { *this = o; }
  SmallVec& operator=(const SmallVec& o) {
    if (this == &o) return *this;
    n_ = o.n_;
    spilled_ = o.spilled_;
    if (spilled_)
      heap_ = o.heap_;
    else
      std::uninitialized_copy(o.buf_, o.buf_ + o.n_, buf_);
    return *this;
  }
  void push_back(const T& v) {
    if (!spilled_ && n_ < N) [[likely]] {
      std::construct_at(buf_ + n_++, v);
      return;
    }
    spill(v);
  }
  [[gnu::noinline]] void spill(const T& v) {
    if (!spilled_) {
      heap_.assign(buf_, buf_ + n_);
      spilled_ = true;
    }
    heap_.push_back(v);
    ++n_;
  }
  T* begin() { return spilled_ ? heap_.data() : buf_; }
  T* end() { return begin() + n_; }
  const T* begin() const { return spilled_ ? heap_.data() : buf_; }
  const T* end() const { return begin() + n_; }
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const T& operator[](std::size_t k) const { return begin()[k]; }
  void truncate(std::size_t n) {
    n_ = n;
    if (spilled_) heap_.resize(n);
  }

 private:
  union {
    T buf_[N];
  };
  std::vector<T> heap_;
  std::size_t n_ = 0;
  bool spilled_ = false;
};

using PathSegments = SmallVec<std::string_view, 32>;

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// normalize_path() into views of `p`, without allocating for paths of up to 32 segments.
bool path_segments(std::string_view p, PathSegments& out) {
  if (p.empty() || p.front() != '/') return false;  // relative paths have no fixed meaning
  for (std::size_t k = 0; k < p.size(); ++k) {
    char ch = p[k];
    // A backslash is a separator on Windows and a percent escape is a separator or a dot once a
    // tool decodes it: neither can be judged the same way as the tool will read it.
    if (ch == '\0' || ch == '\\') return false;
    if (ch == '%' && k + 2 < p.size() && is_hex(p[k + 1]) && is_hex(p[k + 2])) return false;
  }
  std::size_t i = 0;
  while (i < p.size()) {
    std::size_t slash = p.find('/', i);
    std::string_view seg = p.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i);
    i = slash == std::string_view::npos ? p.size() : slash + 1;
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (out.empty()) return false;  // above the root
      out.truncate(out.size() - 1);
      continue;
    }
    out.push_back(seg);
  }
  return true;
}

Matcher::Verdict leaf_verdict(const Matcher& m, const json::value& v) {
  using V = Matcher::Verdict;
  if (!m.is_path()) return matches_one(m, v) ? V::yes : V::no;
  if (!v.is_string()) return V::unknown;
  PathSegments segs;
  if (!path_segments(v.get_string(), segs)) return V::unknown;
  for (const auto& base : m.bases) {
    if (m.op == Matcher::Op::path_equals ? segs.size() != base.size() : segs.size() < base.size()) continue;
    if (std::equal(base.begin(), base.end(), segs.begin())) return V::yes;
  }
  return V::no;
}

// Nesting deeper than this is not judged (the JSON parser's own limit is lower).
constexpr int kMaxArrayDepth = 64;

// An array is judged by its elements, arrays within it by theirs.
Matcher::Verdict judge_value(const Matcher& m, const json::value& v, Matcher::Each each, int depth) {
  using V = Matcher::Verdict;
  const json::array* arr = v.if_array();
  if (!arr) return leaf_verdict(m, v);
  if (depth >= kMaxArrayDepth) return V::unknown;
  bool all = each != Matcher::Each::any;
  if (arr->empty()) return all && m.or_empty ? V::yes : V::no;
  V out = all ? V::yes : V::no;
  for (const auto& e : *arr) {
    V r = judge_value(m, e, each, depth + 1);
    if (r == (all ? V::no : V::yes)) return r;
    if (r == V::unknown) out = V::unknown;
  }
  return out;
}

// Roles, client ids and claims: what no new token of the same caller can change. `deny`: the
// subject is a deny rule's (a claim that cannot be judged then triggers it).
bool identity_holds(const SubjectSpec& s, const Prepared& pc, const auth::Principal& p, bool anon, bool deny) {
  for (const auto& group : s.roles)
    if (std::none_of(group.begin(), group.end(), [&](ScopeId r) { return has(pc.roles, r); })) return false;
  for (const auto& group : s.client_ids)
    if (std::find(group.begin(), group.end(), p.client_id) == group.end()) return false;
  for (const auto& cc : s.claims) {
    if (anon) return false;
    const json::value* v = claim_at(p.claims, cc.path);
    // An array claim (groups) matches when one element does, for allow and deny rules alike.
    if (!v || !cc.matcher.holds(*v, Matcher::Each::any, deny)) return false;
  }
  return true;
}

// identity_holds(r.subject, pc, p, false, r.deny), remembered per prepared caller.
bool signed_in_identity(const Rule& r, const Prepared& pc, const auth::Principal& p) {
  if (r.identity_slot == Rule::kNoSlot || !pc.identity) return identity_holds(r.subject, pc, p, false, r.deny);
  auto& memo = pc.identity[r.identity_slot];
  std::uint8_t v = memo.load(std::memory_order_relaxed);
  if (v == 0) {
    v = identity_holds(r.subject, pc, p, false, r.deny) ? 2 : 1;
    memo.store(v, std::memory_order_relaxed);
  }
  return v == 2;
}

// subject_ok(r.subject, pc, p) for a rule, with `has_scope` standing for the caller's scopes and
// `anon` for whether it is signed in.
template <class HasScope>
bool rule_subject_holds(const Rule& r, const Prepared& pc, const auth::Principal& p, bool anon, HasScope&& has_scope) {
  const SubjectSpec& s = r.subject;
  if (s.anonymous && !anon) return false;
  if ((s.authenticated || !s.scopes.empty() || !s.roles.empty() || !s.client_ids.empty()) && anon) return false;
  for (ScopeId id : s.scopes)
    if (!has_scope(id)) return false;
  return anon ? identity_holds(s, pc, p, true, r.deny) : signed_in_identity(r, pc, p);
}

constexpr std::uint32_t kNoRule = ~std::uint32_t{0};

std::string_view hot_id(const Compiled& c, const HotRule& h) { return {c.hot_text.data() + h.id_at, h.id_len}; }
std::string_view hot_tier(const Compiled& c, const HotRule& h) { return {c.hot_text.data() + h.tier_at, h.tier_len}; }

// signed_in_identity(c.rules[i], pc, p) from the packed rule: the Rule itself is read only the first
// time a prepared caller meets it.
bool hot_identity(const Compiled& c, std::uint32_t i, const HotRule& h, const Prepared& pc, const auth::Principal& p) {
  if (!(h.flags & HotRule::kIdentity)) return true;  // no roles, claims or client ids to hold
  if (h.identity_slot == Rule::kNoSlot || !pc.identity) return identity_holds(c.rules[i].subject, pc, p, false, c.rules[i].deny);
  auto& memo = pc.identity[h.identity_slot];
  std::uint8_t v = memo.load(std::memory_order_relaxed);
  if (v == 0) {
    v = identity_holds(c.rules[i].subject, pc, p, false, c.rules[i].deny) ? 2 : 1;
    memo.store(v, std::memory_order_relaxed);
  }
  return v == 2;
}

// rule_subject_holds(c.rules[i], pc, p, anon, has_scope) from the packed rule.
template <class HasScope>
bool hot_subject_holds(const Compiled& c, std::uint32_t i, const Prepared& pc, const auth::Principal& p, bool anon,
                       HasScope&& has_scope) {
  const HotRule& h = c.hot[i];
  if ((h.flags & HotRule::kAnonOnly) && !anon) return false;
  if ((h.flags & HotRule::kSignedIn) && anon) return false;
  const ScopeId* sc = c.hot_scopes.data() + h.scopes_at;
  for (std::uint32_t k = 0; k < h.scopes_n; ++k)
    if (!has_scope(sc[k])) return false;
  if (!(h.flags & HotRule::kIdentity)) return true;
  if (anon) return identity_holds(c.rules[i].subject, pc, p, true, c.rules[i].deny);
  return hot_identity(c, i, h, pc, p);
}

bool subject_ok(const SubjectSpec& s, const Prepared& pc, const auth::Principal& p) {
  bool anon = p.anonymous();
  if (s.anonymous && !anon) return false;
  if ((s.authenticated || !s.scopes.empty() || !s.roles.empty() || !s.client_ids.empty()) && anon) return false;
  for (ScopeId id : s.scopes)
    if (!has(pc.scopes, id)) return false;
  return identity_holds(s, pc, p, anon, false);
}

// Everything but the scopes.
bool identity_ok(const SubjectSpec& s, const Prepared& pc, const auth::Principal& p) {
  bool anon = p.anonymous();
  if (s.anonymous && !anon) return false;
  if ((s.authenticated || !s.roles.empty() || !s.client_ids.empty()) && anon) return false;
  return identity_holds(s, pc, p, anon, false);
}

// The arguments of one decision: each distinct pointer is looked up once, the first time a rule
// tests it (a policy's deny rules often test the same argument).
class ArgView {
 public:
  ArgView(const Compiled& c, const json::object* args) : slots_(c.arg_slots), args_(args ? *args : none()) {}
  const json::value* at(const ArgCondition& cond) const {
    if (cond.slot >= slots_) return find_pointer(args_, cond.pointer);
    if (found_.empty())
      for (std::uint32_t k = 0; k < slots_; ++k) found_.push_back(unknown());
    const json::value*& v = found_.begin()[cond.slot];
    if (v == unknown()) v = find_pointer(args_, cond.pointer);
    return v;
  }

 private:
  static const json::object& none() {
    static const json::object kNone;
    return kNone;
  }
  static const json::value* unknown() {
    static const json::value kUnknown;
    return &kUnknown;
  }
  std::uint32_t slots_;
  const json::object& args_;
  mutable SmallVec<const json::value*, 16> found_;
};

// Every condition of the rule. An array argument must satisfy a condition with every element in an
// allow rule and triggers a deny rule with any one (unless the condition says all or any).
bool conditions_hold(const Rule& r, const ArgView& args) {
  const Matcher::Each each = r.deny ? Matcher::Each::any : Matcher::Each::all;
  for (const auto& c : r.when) {
    const json::value* v = args.at(c);
    if (c.absent) {
      if (v) return false;
      continue;
    }
    if (!v) return false;
    // A string against a prefix (the common condition) is decided here; matches() does the same.
    if (c.matcher.op == Matcher::Op::prefix && v->is_string()) {
      std::string_view text = v->get_string();
      if (!text.starts_with(c.matcher.text)) return false;
      continue;
    }
    if (!c.matcher.holds(*v, each, r.deny)) return false;
  }
  return true;
}

bool has_scope(const Compiled& c, const Prepared& pc, const auth::Principal& p, std::string_view s) {
  if (auto id = c.scope(s)) return has(pc.scopes, *id);
  return p.scopes.contains(s);
}

// A declared requirement, resolved against the policy's tiers (an unknown tier never holds).
bool declared_ok(const Compiled& c, const Prepared& pc, const auth::Principal& p, const Requirement& req) {
  if (!req.tier.empty()) {
    auto it = c.tiers.find(req.tier);
    if (it == c.tiers.end() || !subject_ok(it->second.subject, pc, p)) return false;
  }
  bool anon = p.anonymous();
  if ((req.authenticated || !req.scopes.empty() || !req.roles.empty()) && anon) return false;
  for (const auto& s : req.scopes)
    if (!has_scope(c, pc, p, s)) return false;
  if (!req.roles.empty() &&
      std::none_of(req.roles.begin(), req.roles.end(), [&](const std::string& r) { return p.roles.contains(r); }))
    return false;
  return true;
}

// Rule indexes whose targets name the action, ascending, without duplicates. A single resolved
// index list (the common case) is used where it lies, not copied.
struct Candidates {
  SmallVec<std::uint32_t, 16> own;
  const std::uint32_t* ext = nullptr;
  std::size_t ext_n = 0;
  bool sorted = false;  // ext is in use, or own is already sorted and unique

  void push(std::uint32_t i) {
    if (ext) {
      for (std::size_t k = 0; k < ext_n; ++k) own.push_back(ext[k]);
      ext = nullptr;
    }
    sorted = false;
    own.push_back(i);
  }
  void adopt(const std::uint32_t* v, std::size_t n) {  // v ascending, without duplicates
    if (!ext && own.empty()) {
      ext = v;
      ext_n = n;
      sorted = true;
    } else {
      for (std::size_t k = 0; k < n; ++k) push(v[k]);
    }
  }
  std::size_t size() const { return ext ? ext_n : own.size(); }
  std::uint32_t operator[](std::size_t k) const { return ext ? ext[k] : own[k]; }
  void finish() {
    if (sorted || own.size() <= 1) return;
    std::sort(own.begin(), own.end());
    own.truncate(static_cast<std::size_t>(std::unique(own.begin(), own.end()) - own.begin()));
  }
  // The finished list, as one array.
  struct View {
    const std::uint32_t* at;
    std::size_t n;
    std::size_t size() const { return n; }
    std::uint32_t operator[](std::size_t k) const { return at[k]; }
  };
  View view() const { return ext ? View{ext, ext_n} : View{own.begin(), own.size()}; }
};

void collect(const Compiled& c, Kind kind, std::string_view name, Candidates& out) {
  const auto& idx = c.index[static_cast<int>(kind)];
  if (idx.table.built()) {
    NameTable::Hit hit;
    if (idx.table.find(name, hit)) {
      if (idx.exact_has_wild) return out.adopt(hit.rules, hit.n);
      for (std::uint32_t k = 0; k < hit.n; ++k) out.push(hit.rules[k]);
    }
  } else if (auto it = idx.exact.find(name); it != idx.exact.end()) {
    if (idx.exact_has_wild) return out.adopt(it->second.data(), it->second.size());
    for (auto i : it->second) out.push(i);
  }
  idx.wild.for_each_candidate(name, [&](const WildIndex::Entry& e) {
    if (e.pattern->matches(name)) out.push(e.rule);
  });
}

// A scope named by a rule, a tier or a declaration; declarations may name scopes the policy does not.
struct ScopeRef {
  std::string_view name;
  std::optional<ScopeId> id;
};
using Scopes = SmallVec<ScopeRef, 8>;
using Names = SmallVec<std::string_view, 8>;

Names reduce_many(const Compiled& c, const Scopes& scopes);
inline Names reduce(const Compiled& c, const Scopes& scopes) {
  if (scopes.size() > 1) return reduce_many(c, scopes);
  Names out;
  if (!scopes.empty()) out.push_back(scopes[0].name);
  return out;
}

Names reduce_many(const Compiled& c, const Scopes& scopes) {
  // Drop a scope that another scope of the set implies (a broader grant covers it).
  Names out;
  for (std::size_t i = 0; i < scopes.size(); ++i) {
    auto si = scopes[i].id;
    bool covered = false;
    for (std::size_t j = 0; j < scopes.size() && !covered && si; ++j) {
      if (i == j) continue;
      auto sj = scopes[j].id;
      if (!sj) continue;
      const auto& imp = c.implied[*sj];
      bool j_implies_i = std::find(imp.begin(), imp.end(), *si) != imp.end();
      const auto& back = c.implied[*si];
      bool equivalent = std::find(back.begin(), back.end(), *sj) != back.end();
      covered = j_implies_i && (!equivalent || j < i);
    }
    if (!covered && std::find(out.begin(), out.end(), scopes[i].name) == out.end()) out.push_back(scopes[i].name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> strings_of(const Names& names) { return {names.begin(), names.end()}; }

// Every allow rule this caller could meet with more scopes (and no deny rule would then refuse), as
// views into the policy and the declaration; the choice among them is made once all are known.
struct Hints {
  struct Entry {
    std::uint32_t order;            // the rule's place in the file (the declaration alone: last)
    std::uint32_t req_at, req_n;    // its required scopes in `pool`
    std::uint32_t miss_at, miss_n;  // the part the caller lacks
    std::string_view tier;
  };
  SmallVec<Entry, 8> entries;
  SmallVec<ScopeRef, 32> pool;

  Scopes slice(std::uint32_t at, std::uint32_t n) const {
    Scopes out;
    for (std::uint32_t k = 0; k < n; ++k) out.push_back(pool[at + k]);
    return out;
  }
};

// Whether a token for b's missing scopes grants everything one for a's does, beyond what the caller
// holds: the closure of a's missing scopes, less the caller's, lies within that of b's.
bool grant_within(const Compiled& c, const Prepared& pc, const Hints& hs, const Hints::Entry& a, const Hints::Entry& b) {
  auto covered = [&](ScopeId t) {
    for (std::uint32_t k = 0; k < b.miss_n; ++k) {
      const ScopeRef& mb = hs.pool[b.miss_at + k];
      if (mb.id && std::find(c.implied[*mb.id].begin(), c.implied[*mb.id].end(), t) != c.implied[*mb.id].end()) return true;
    }
    return false;
  };
  for (std::uint32_t k = 0; k < a.miss_n; ++k) {
    const ScopeRef& ma = hs.pool[a.miss_at + k];
    if (!ma.id) {  // a declared scope the policy does not know: implies only itself
      bool same = false;
      for (std::uint32_t j = 0; j < b.miss_n && !same; ++j)
        same = !hs.pool[b.miss_at + j].id && hs.pool[b.miss_at + j].name == ma.name;
      if (!same) return false;
      continue;
    }
    for (ScopeId t : c.implied[*ma.id])
      if (!has(pc.scopes, t) && !covered(t)) return false;
  }
  return true;
}

// The least-privilege choice: (1) the fewest missing scopes (one implied by another of the same set
// is not counted; signing in alone is zero); among those, (2) not a candidate whose new grant
// (closure of its missing scopes, less what the caller holds) strictly contains another's, so a
// scope implied by another candidate's wins over the broader one; then (3) the earliest in the file.
std::size_t choose(const Compiled& c, const Prepared& pc, const Hints& hs) {
  const auto& es = hs.entries;
  if (es.size() == 1) return 0;
  SmallVec<std::size_t, 8> missing;
  std::size_t fewest = SIZE_MAX;
  for (const auto& e : es) {
    std::size_t n = reduce(c, hs.slice(e.miss_at, e.miss_n)).size();
    missing.push_back(n);
    fewest = std::min(fewest, n);
  }
  std::size_t best = es.size();
  for (std::size_t i = 0; i < es.size(); ++i) {
    if (missing[i] != fewest) continue;
    bool beaten = false;
    for (std::size_t j = 0; j < es.size() && !beaten; ++j)
      beaten = j != i && missing[j] == fewest && grant_within(c, pc, hs, es[j], es[i]) && !grant_within(c, pc, hs, es[i], es[j]);
    if (!beaten && (best == es.size() || es[i].order < es[best].order)) best = i;
  }
  return best;  // the strict order among the fewest has minimal elements, so one is always found
}

// An allow rule this caller could meet with more scopes, checked against every deny rule, added to
// `hints` when it holds up. `ri`: the allow rule (kNoRule: the declaration alone).
void consider(const Compiled& c, const Prepared& pc, const auth::Principal& p, const Action& a, const ArgView& args,
              Candidates::View cand, std::uint32_t ri, const Requirement* declared, std::uint32_t order, Hints& hints) {
  bool anon = p.anonymous();
  const HotRule* h = ri == kNoRule ? nullptr : &c.hot[ri];
  // The rule's own reasons to give up (checked again below with the declaration's), before any
  // scope list is built: most allow rules a caller cannot step up to fail here.
  if (h) {
    if (h->flags & HotRule::kAnonOnly) return;
    if ((h->flags & HotRule::kIdentity) && (anon || !hot_identity(c, ri, *h, pc, p))) return;
    if ((h->flags & HotRule::kWhen) && a.phase == Phase::invocation && !conditions_hold(c.rules[ri], args)) return;
  }
  // The rule's and the declaration's requirements together: the rule's subject and the declared tier's.
  const SubjectSpec* ts = nullptr;
  Scopes required;
  if (h) {
    const ScopeId* sc = c.hot_scopes.data() + h->scopes_at;
    for (std::uint32_t k = 0; k < h->scopes_n; ++k) required.push_back({c.scope_names[sc[k]], sc[k]});
  }
  std::string_view tier = h ? hot_tier(c, *h) : std::string_view();
  if (declared) {
    if (!declared->tier.empty()) {
      auto it = c.tiers.find(declared->tier);
      if (it == c.tiers.end()) return;
      ts = &it->second.subject;
      for (ScopeId s : ts->scopes) required.push_back({c.scope_names[s], s});
      if (tier.empty()) tier = declared->tier;
    }
    for (const auto& s : declared->scopes) required.push_back({s, c.scope(s)});
    if (!declared->roles.empty() && !anon &&
        std::none_of(declared->roles.begin(), declared->roles.end(), [&](const std::string& r) { return p.roles.contains(r); }))
      return;
  }
  // A rule for anonymous callers only: nothing to step up to.
  if ((h && (h->flags & HotRule::kAnonOnly)) || (ts && ts->anonymous)) return;
  // An anonymous caller is told only of what any token with the right scopes unlocks, never of
  // rules that depend on who the caller is (roles, claims, client ids).
  bool identity_free =
      (!h || !(h->flags & HotRule::kIdentity)) && (!ts || ts->identity_free()) && (!declared || declared->roles.empty());
  if (anon && !identity_free) return;
  // The subject is the rule's when there is a rule; for a signed-in caller, and a subject not for
  // anonymous callers only, its identity_ok() is the remembered one.
  if (!anon && ((h && !hot_identity(c, ri, *h, pc, p)) || (ts && !identity_ok(*ts, pc, p)))) return;
  if (h && (h->flags & HotRule::kWhen) && a.phase == Phase::invocation && !conditions_hold(c.rules[ri], args)) return;
  Scopes missing;
  for (const auto& s : required)
    if (anon || !(s.id ? has(pc.scopes, *s.id) : p.scopes.contains(s.name))) missing.push_back(s);
  if (!anon && missing.empty()) return;
  // The caller with those scopes (signed in, if it was not) must not then be denied.
  auto future_has = [&](ScopeId id) {
    if (has(pc.scopes, id)) return true;
    for (const auto& m : missing)
      if (m.id && std::find(c.implied[*m.id].begin(), c.implied[*m.id].end(), id) != c.implied[*m.id].end()) return true;
    return false;
  };
  for (std::size_t k = 0; k < cand.size(); ++k) {
    std::uint32_t i = cand[k];
    const HotRule& dh = c.hot[i];
    if (!(dh.flags & HotRule::kDeny) || !hot_subject_holds(c, i, pc, p, false, future_has)) continue;
    if (!(dh.flags & HotRule::kWhen) || (a.phase == Phase::invocation && conditions_hold(c.rules[i], args))) return;
  }
  Hints::Entry e{order, static_cast<std::uint32_t>(hints.pool.size()), static_cast<std::uint32_t>(required.size()),
                 0,     static_cast<std::uint32_t>(missing.size()),    tier};
  for (const auto& s : required) hints.pool.push_back(s);
  e.miss_at = static_cast<std::uint32_t>(hints.pool.size());
  for (const auto& s : missing) hints.pool.push_back(s);
  hints.entries.push_back(e);
}

// A decision built in place (its rule string constructed, not assigned).
Decision decided(Outcome o, Remedy r, std::string_view rule) {
  return Decision{.outcome = o, .remedy = r, .rule = std::string(rule)};
}

Decision evaluate(const Compiled& c, const Prepared& pc, const auth::Principal& p, const Action& a) {
  Candidates found;
  collect(c, a.kind, a.name, found);
  if (a.kind == Kind::resource && !a.via_template.empty()) collect(c, Kind::resource_template, a.via_template, found);
  found.finish();
  const Candidates::View cand = found.view();
  const ArgView args(c, a.arguments);
  if (a.kind == Kind::method && cand.size() == 0) {
    // Protocol methods no rule names (initialize, ping, the list methods, ...) stay open; the
    // entries of lists are decided one by one.
    return decided(Outcome::allow, Remedy::none, "unrestricted-method");
  }
  const Requirement* declared = a.declared && !a.declared->empty() ? a.declared : nullptr;
  bool file_allows = false, deny_conditional = false, allow_conditional = false;
  bool anon = p.anonymous();
  std::uint32_t allow = kNoRule, cond = kNoRule;  // cond: the rule a conditional outcome names
  bool declared_holds = declared && declared_ok(c, pc, p, *declared);
  auto holds = [&](ScopeId id) { return has(pc.scopes, id); };
  // For an anonymous caller, signing in is a remedy only where a signed-in caller could be allowed:
  // an allow rule that is not for anonymous callers only, or a declaration. Elsewhere nothing a
  // client can do helps, and the refusal says so (the server may then answer as for an unknown name).
  bool sign_in_helps = declared != nullptr;
  for (std::size_t k = 0; k < cand.size(); ++k) {
    std::uint32_t i = cand[k];
    const HotRule& h = c.hot[i];
    bool deny = h.flags & HotRule::kDeny;
    if (!deny) {
      file_allows = true;
      sign_in_helps = sign_in_helps || !(h.flags & HotRule::kAnonOnly);
    }
    if (!hot_subject_holds(c, i, pc, p, anon, holds)) continue;
    bool unconditional = !(h.flags & HotRule::kWhen) || (a.phase == Phase::invocation && conditions_hold(c.rules[i], args));
    if (deny) {
      // Only a deny rule for anonymous callers is escaped by signing in.
      if (unconditional)
        return decided(Outcome::deny, anon && (h.flags & HotRule::kAnonOnly) ? Remedy::authenticate : Remedy::none, hot_id(c, h));
      if (a.phase == Phase::discovery) deny_conditional = true;
      continue;
    }
    if (declared && !declared_holds) continue;  // the file tightens a declaration, never loosens it
    if (unconditional) {
      if (allow == kNoRule) allow = i;
    } else if (a.phase == Phase::discovery) {
      allow_conditional = true;
      if (allow == kNoRule && !deny_conditional) cond = i;
    }
  }
  bool implicit = declared && !file_allows;
  if (implicit && declared_holds) {
    return decided(deny_conditional ? Outcome::conditional : Outcome::allow, Remedy::none, "declared");
  }
  if (allow != kNoRule) {
    return decided(deny_conditional ? Outcome::conditional : Outcome::allow, Remedy::none, hot_id(c, c.hot[allow]));
  }
  if (allow_conditional) {
    return decided(Outcome::conditional, Remedy::none, cond != kNoRule ? hot_id(c, c.hot[cond]) : std::string_view());
  }
  if (!a.explain) return decided(Outcome::deny, anon && sign_in_helps ? Remedy::authenticate : Remedy::none, "default");
  Hints hints;
  for (std::size_t k = 0; k < cand.size(); ++k) {
    std::uint32_t i = cand[k];
    if (!(c.hot[i].flags & HotRule::kDeny)) consider(c, pc, p, a, args, cand, i, declared, i, hints);
  }
  if (implicit) consider(c, pc, p, a, args, cand, kNoRule, declared, static_cast<std::uint32_t>(c.rules.size()), hints);
  if (hints.entries.empty())
    return decided(Outcome::deny, anon && sign_in_helps ? Remedy::authenticate : Remedy::none, "default");
  const Hints::Entry& best = hints.entries[choose(c, pc, hints)];
  return Decision{.outcome = Outcome::deny,
                  .remedy = anon ? Remedy::authenticate : Remedy::step_up,
                  .rule = std::string("default"),
                  .tier = std::string(best.tier),
                  .scopes = strings_of(reduce(c, hints.slice(best.req_at, best.req_n))),
                  .missing = strings_of(reduce(c, hints.slice(best.miss_at, best.miss_n))),
                  .unlockable = true};
}

const auth::Principal& anonymous() {
  static const auth::Principal kAnonymous;
  return kAnonymous;
}

// A caller prepared against one enforced policy and its shadow. Immutable but for the identity
// memo (relaxed atomics, see Prepared), so requests of the same principal share it.
class PreparedCaller {
 public:
  PreparedCaller(std::shared_ptr<const auth::Principal> who, std::shared_ptr<const Policy> enforced,
                 std::shared_ptr<const Policy> shadow)
      : who_(std::move(who)), enforced_(std::move(enforced)), shadow_(std::move(shadow)) {
    enforced_prep_ = prepare_for(enforced_->compiled(), principal());
    if (shadow_) shadow_prep_ = prepare_for(shadow_->compiled(), principal());
  }
  const auth::Principal& principal() const { return who_ ? *who_ : anonymous(); }
  const auth::Principal* key() const { return who_.get(); }

  Decision decide(const Action& a) const {
    Decision d = evaluate(enforced_->compiled(), enforced_prep_, principal(), a);
    if (shadow_) {
      Decision s = evaluate(shadow_->compiled(), shadow_prep_, principal(), a);
      d.shadow = s.outcome;
      d.shadow_rule = std::move(s.rule);
    }
    return d;
  }

 private:
  std::shared_ptr<const auth::Principal> who_;
  std::shared_ptr<const Policy> enforced_, shadow_;
  Prepared enforced_prep_, shadow_prep_;
};

class LocalCaller : public PolicyEngine::Caller {
 public:
  explicit LocalCaller(std::shared_ptr<const PreparedCaller> p) : p_(std::move(p)) {}
  const auth::Principal& principal() const override { return p_->principal(); }
  Decision decide(const Action& a) const { return p_->decide(a); }

 private:
  std::shared_ptr<const PreparedCaller> p_;
};

std::atomic<std::uint64_t> engine_serials{0};

// Whether a JSON Schema describes the value at `pointer` as a file system path: its `format` names a
// path, file or directory, or its description says path, directory or folder.
bool schema_says_path(const json::object& schema, std::string_view pointer) {
  const json::object* at = &schema;
  for (std::size_t i = 1; i <= pointer.size() && at;) {
    std::size_t slash = std::min(pointer.find('/', i), pointer.size());
    std::string seg(pointer.substr(i, slash - i));
    for (std::size_t k = 0; (k = seg.find('~', k)) != std::string::npos && k + 1 < seg.size(); ++k)
      seg.replace(k, 2, seg[k + 1] == '1' ? "/" : "~");
    i = slash + 1;
    const json::object* next = nullptr;
    if (const auto* props = at->if_contains("properties"); props && props->is_object())
      if (const auto* v = props->get_object().if_contains(seg)) next = v->if_object();
    if (!next)
      if (const auto* items = at->if_contains("items")) next = items->if_object();
    at = next;
  }
  if (!at) return false;
  auto lower = [](std::string_view t) {
    std::string out(t);
    for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
  };
  if (const auto* f = at->if_contains("format"); f && f->is_string()) {
    std::string fmt = lower(f->get_string());
    if (fmt.find("path") != std::string::npos || fmt.find("file") != std::string::npos || fmt.find("dir") != std::string::npos)
      return true;
  }
  if (const auto* d = at->if_contains("description"); d && d->is_string()) {
    std::string text = lower(d->get_string());
    for (std::string_view word : {"path", "directory", "directories", "folder"})
      for (std::size_t k = text.find(word); k != std::string::npos; k = text.find(word, k + 1)) {
        auto letter = [](char ch) { return std::isalpha(static_cast<unsigned char>(ch)) != 0; };
        bool starts = k == 0 || !letter(text[k - 1]);
        std::size_t end = k + word.size();
        bool ends =
            end == text.size() || !letter(text[end]) || (text[end] == 's' && (end + 1 == text.size() || !letter(text[end + 1])));
        if (starts && ends) return true;
      }
  }
  return false;
}

}  // namespace

Matcher::Verdict Matcher::judge(const json::value& v, Each each_element) const { return judge_value(*this, v, each_element, 0); }

bool Matcher::holds(const json::value& v, Each implicit, bool deny) const {
  Verdict r = judge(v, each == Each::implicit ? implicit : each);
  return r == Verdict::yes || (r == Verdict::unknown && deny);
}

std::optional<std::vector<std::string>> normalize_path(std::string_view path) {
  PathSegments segs;
  if (!path_segments(path, segs)) return std::nullopt;
  return std::vector<std::string>(segs.begin(), segs.end());
}

bool Pattern::matches(std::string_view s) const {
  switch (type) {
    case Type::exact: return s == text;
    case Type::glob: return glob_match(text, s);
    case Type::uri_template: return RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re);
  }
  return false;
}

void Compiled::resolve() {
  arg_slots = 0;
  NameMap<std::uint32_t> pointers;
  for (auto& r : rules)
    for (auto& w : r.when) {
      auto [it, fresh] = pointers.try_emplace(w.pointer, arg_slots);
      if (fresh) ++arg_slots;
      w.slot = it->second;
    }
  for (auto& r : rules)
    if (!r.subject.identity_free() && r.identity_slot == Rule::kNoSlot) r.identity_slot = identity_slots++;
  for (auto& idx : index) {
    if (idx.exact_has_wild) continue;
    for (auto& [name, rules] : idx.exact) {
      std::string_view n = name;
      idx.wild.for_each_candidate(n, [&](const WildIndex::Entry& e) {
        if (e.pattern->matches(n)) rules.push_back(e.rule);
      });
      std::sort(rules.begin(), rules.end());
      rules.erase(std::unique(rules.begin(), rules.end()), rules.end());
    }
    idx.exact_has_wild = true;
  }
  for (auto& idx : index)
    if (!idx.table.built()) idx.table.build(idx.exact);
  hot.clear();
  hot_scopes.clear();
  hot_text.clear();
  hot.reserve(rules.size());
  for (const auto& r : rules) {
    HotRule h;
    const SubjectSpec& s = r.subject;
    h.scopes_at = static_cast<std::uint32_t>(hot_scopes.size());
    h.scopes_n = static_cast<std::uint32_t>(s.scopes.size());
    hot_scopes.insert(hot_scopes.end(), s.scopes.begin(), s.scopes.end());
    h.identity_slot = r.identity_slot;
    h.id_at = static_cast<std::uint32_t>(hot_text.size());
    h.id_len = static_cast<std::uint32_t>(r.id.size());
    hot_text += r.id;
    h.tier_at = static_cast<std::uint32_t>(hot_text.size());
    h.tier_len = static_cast<std::uint32_t>(r.tier.size());
    hot_text += r.tier;
    if (r.deny) h.flags |= HotRule::kDeny;
    if (!r.when.empty()) h.flags |= HotRule::kWhen;
    if (s.anonymous) h.flags |= HotRule::kAnonOnly;
    if (s.authenticated || !s.scopes.empty() || !s.roles.empty() || !s.client_ids.empty()) h.flags |= HotRule::kSignedIn;
    if (!s.identity_free()) h.flags |= HotRule::kIdentity;
    hot.push_back(h);
  }
}

Policy::Policy(std::unique_ptr<Compiled> c) : c_(std::move(c)) { c_->resolve(); }
Policy::~Policy() = default;
Locked Policy::locked() const { return c_->locked; }
std::size_t Policy::rule_count() const { return c_->rules.size(); }
const std::string& Policy::source() const { return c_->source; }

std::vector<Diagnostic> Policy::check(const Inventory& inv) const {
  std::vector<Diagnostic> out;
  const std::vector<std::string>* lists[5] = {&inv.tools, &inv.resources, &inv.resource_templates, &inv.prompts, nullptr};
  for (const auto& r : c_->rules)
    for (int k = 0; k < 4; ++k)
      for (const auto& p : r.targets[k]) {
        const auto& names = *lists[k];
        bool any = std::any_of(names.begin(), names.end(), [&](const std::string& n) { return p.matches(n); });
        // A resource pattern may also cover URIs served by a template; only exact URIs are checked.
        if (!any && !(k == static_cast<int>(Kind::resource) && p.type != Pattern::Type::exact && !inv.resource_templates.empty()))
          out.push_back({Diagnostic::Severity::warning, r.where,
                         "rule '" + r.id + "': no registered " + std::string(to_string(static_cast<Kind>(k))) + " matches '" +
                             p.text + "'"});
      }
  // Raw-text matchers on arguments a tool's schema calls a path (names that say so were warned of at load).
  for (const auto& r : c_->rules)
    for (const auto& w : r.when) {
      if (w.absent || w.path_named || !compares_raw_text(r.deny, w.matcher)) continue;
      for (const auto& [tool, schema] : inv.tool_schemas) {
        bool named = std::any_of(r.targets[0].begin(), r.targets[0].end(), [&](const Pattern& p) { return p.matches(tool); });
        if (!named || !schema_says_path(schema, w.pointer)) continue;
        out.push_back({Diagnostic::Severity::warning, w.where,
                       "rule '" + r.id + "': tool '" + tool + "' describes " + w.pointer +
                           " as a path, and the matcher compares its raw text ('..' and '//' are not resolved); use "
                           "path: {within: ...} or path: {equals: ...}"});
        break;
      }
    }
  return out;
}

LocalPolicyEngine::LocalPolicyEngine(std::shared_ptr<const Policy> enforced, std::shared_ptr<const Policy> shadow)
    : enforced_(std::move(enforced)),
      shadow_(std::move(shadow)),
      serial_(engine_serials.fetch_add(1, std::memory_order_relaxed) + 1) {}

std::shared_ptr<LocalPolicyEngine> LocalPolicyEngine::from_files(const std::string& path, const std::string& shadow_path) {
  auto e = std::make_shared<LocalPolicyEngine>(load_policy(path), shadow_path.empty() ? nullptr : load_policy(shadow_path));
  e->path_ = path;
  e->shadow_path_ = shadow_path;
  std::error_code ec;
  e->mtime_ = std::filesystem::last_write_time(path, ec);
  if (!shadow_path.empty()) e->shadow_mtime_ = std::filesystem::last_write_time(shadow_path, ec);
  return e;
}

std::unique_ptr<PolicyEngine::Caller> LocalPolicyEngine::prepare(std::shared_ptr<const auth::Principal> who) const {
  // A keep-alive session sends the same token again and again, and the verified-token cache hands
  // out one Principal per token: each thread remembers the callers it prepared last, by engine,
  // generation and Principal (which the remembered caller keeps alive, so its address is not
  // reused). A reload bumps the generation, so a remembered caller never outlives its policy's turn.
  struct Slot {
    std::uint64_t engine = 0, generation = 0;  // engine 0: empty
    std::shared_ptr<const PreparedCaller> caller;
  };
  static thread_local std::array<Slot, 4> slots;
  static thread_local std::size_t next = 0;
  std::uint64_t gen = generation();
  for (const auto& s : slots)
    if (s.engine == serial_ && s.generation == gen && s.caller->key() == who.get())
      return std::make_unique<LocalCaller>(s.caller);
  auto c = std::make_shared<const PreparedCaller>(std::move(who), current(), shadow());
  Slot& s = slots[next++ % slots.size()];
  s = Slot{serial_, gen, c};
  return std::make_unique<LocalCaller>(std::move(c));
}

Decision LocalPolicyEngine::decide(const Caller& who, const Action& what) const {
  return static_cast<const LocalCaller&>(who).decide(what);
}

Locked LocalPolicyEngine::locked() const { return current()->locked(); }

void LocalPolicyEngine::on_change(std::function<void()> listener) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(listener));
}

void LocalPolicyEngine::replace(std::shared_ptr<const Policy> enforced, std::shared_ptr<const Policy> shadow) {
  std::vector<std::function<void()>> listeners;
  {
    std::lock_guard lock(mu_);
    enforced_.store(std::move(enforced), std::memory_order_release);
    shadow_.store(std::move(shadow), std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    listeners = listeners_;
  }
  for (auto& l : listeners) l();
}

std::vector<Diagnostic> LocalPolicyEngine::reload() {
  if (path_.empty()) return {{Diagnostic::Severity::error, "<policy>", "this policy was not loaded from a file"}};
  std::shared_ptr<const Policy> p, s;
  try {
    p = load_policy(path_);
    if (!shadow_path_.empty()) s = load_policy(shadow_path_);
  } catch (const PolicyError& e) {
    return e.diagnostics();
  }
  replace(std::move(p), std::move(s));
  return {};
}

bool LocalPolicyEngine::reload_if_changed(std::vector<Diagnostic>* diagnostics) {
  if (path_.empty()) return false;
  std::error_code ec;
  auto m = std::filesystem::last_write_time(path_, ec);
  if (ec) return false;
  auto sm = shadow_path_.empty() ? decltype(m){} : std::filesystem::last_write_time(shadow_path_, ec);
  {
    std::lock_guard lock(mu_);
    if (m == mtime_ && sm == shadow_mtime_) return false;
    mtime_ = m;  // a broken file is reported once, not on every poll
    shadow_mtime_ = sm;
  }
  auto diags = reload();
  if (diagnostics) *diagnostics = diags;
  return diags.empty();
}

std::vector<Decision> PolicyEngine::decide_all(const Caller& who, std::span<const Action> what) const {
  std::vector<Decision> out;
  out.reserve(what.size());
  for (const auto& a : what) out.push_back(decide(who, a));
  return out;
}

bool conceals(const PolicyEngine& engine, const PolicyEngine::Caller& who, const Action& what, const Decision& refused) {
  if (refused.allowed() || refused.remedy != Remedy::none || what.kind == Kind::method) return false;
  Action look = what;
  look.phase = Phase::discovery;
  look.arguments = nullptr;
  look.explain = true;  // a remedy means a token could show it: then the refusal stands
  look.method = what.kind == Kind::tool                ? "tools/list"
                : what.kind == Kind::prompt            ? "prompts/list"
                : what.kind == Kind::resource_template ? "resources/templates/list"
                                                       : "resources/list";
  Decision seen = engine.decide(who, look);
  return !seen.listed() && seen.remedy == Remedy::none;
}

}  // namespace jitgate::policy
