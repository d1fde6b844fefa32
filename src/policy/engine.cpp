// Evaluating a compiled policy: deny wins, default deny, and for a deny the smallest scope set that
// would turn it into an allow.
#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <boost/json.hpp>
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
    if (spilled_) heap_ = o.heap_;
    else std::uninitialized_copy(o.buf_, o.buf_ + o.n_, buf_);
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

// Roles, client ids and claims: what no new token of the same caller can change.
bool identity_holds(const SubjectSpec& s, const Prepared& pc, const auth::Principal& p, bool anon) {
  for (const auto& group : s.roles)
    if (std::none_of(group.begin(), group.end(), [&](ScopeId r) { return has(pc.roles, r); })) return false;
  for (const auto& group : s.client_ids)
    if (std::find(group.begin(), group.end(), p.client_id) == group.end()) return false;
  for (const auto& cc : s.claims) {
    if (anon) return false;
    const json::value* v = claim_at(p.claims, cc.path);
    if (!v || !cc.matcher.matches(*v)) return false;
  }
  return true;
}

// identity_holds(r.subject, pc, p, false), remembered per prepared caller.
bool signed_in_identity(const Rule& r, const Prepared& pc, const auth::Principal& p) {
  if (r.identity_slot == Rule::kNoSlot || !pc.identity) return identity_holds(r.subject, pc, p, false);
  auto& memo = pc.identity[r.identity_slot];
  std::uint8_t v = memo.load(std::memory_order_relaxed);
  if (v == 0) {
    v = identity_holds(r.subject, pc, p, false) ? 2 : 1;
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
  return anon ? identity_holds(s, pc, p, true) : signed_in_identity(r, pc, p);
}

constexpr std::uint32_t kNoRule = ~std::uint32_t{0};

std::string_view hot_id(const Compiled& c, const HotRule& h) { return {c.hot_text.data() + h.id_at, h.id_len}; }
std::string_view hot_tier(const Compiled& c, const HotRule& h) { return {c.hot_text.data() + h.tier_at, h.tier_len}; }

// signed_in_identity(c.rules[i], pc, p) from the packed rule: the Rule itself is read only the first
// time a prepared caller meets it.
bool hot_identity(const Compiled& c, std::uint32_t i, const HotRule& h, const Prepared& pc, const auth::Principal& p) {
  if (!(h.flags & HotRule::kIdentity)) return true;  // no roles, claims or client ids to hold
  if (h.identity_slot == Rule::kNoSlot || !pc.identity) return identity_holds(c.rules[i].subject, pc, p, false);
  auto& memo = pc.identity[h.identity_slot];
  std::uint8_t v = memo.load(std::memory_order_relaxed);
  if (v == 0) {
    v = identity_holds(c.rules[i].subject, pc, p, false) ? 2 : 1;
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
  if (anon) return identity_holds(c.rules[i].subject, pc, p, true);
  return hot_identity(c, i, h, pc, p);
}

bool subject_ok(const SubjectSpec& s, const Prepared& pc, const auth::Principal& p) {
  bool anon = p.anonymous();
  if (s.anonymous && !anon) return false;
  if ((s.authenticated || !s.scopes.empty() || !s.roles.empty() || !s.client_ids.empty()) && anon) return false;
  for (ScopeId id : s.scopes)
    if (!has(pc.scopes, id)) return false;
  return identity_holds(s, pc, p, anon);
}

// Everything but the scopes.
bool identity_ok(const SubjectSpec& s, const Prepared& pc, const auth::Principal& p) {
  bool anon = p.anonymous();
  if (s.anonymous && !anon) return false;
  if ((s.authenticated || !s.roles.empty() || !s.client_ids.empty()) && anon) return false;
  return identity_holds(s, pc, p, anon);
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

bool conditions_hold(const Rule& r, const ArgView& args) {
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
    if (!c.matcher.matches(*v)) return false;
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
  if (!req.roles.empty() && std::none_of(req.roles.begin(), req.roles.end(), [&](const std::string& r) { return p.roles.contains(r); }))
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

// Views into the policy and the declaration, turned into strings once the best is known.
struct Hint {
  bool found = false;
  std::tuple<int, std::size_t, std::size_t, std::uint32_t> score;
  Names required, missing;
  std::string_view tier;
};

// The cheapest allow rule this caller could meet with more scopes, checked against every deny rule.
// `ri`: the allow rule (kNoRule: the declaration alone).
void consider(const Compiled& c, const Prepared& pc, const auth::Principal& p, const Action& a, const ArgView& args,
              Candidates::View cand, std::uint32_t ri, const Requirement* declared, std::uint32_t order, Hint& best) {
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
  bool identity_free = (!h || !(h->flags & HotRule::kIdentity)) && (!ts || ts->identity_free()) &&
                       (!declared || declared->roles.empty());
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
  Names req = reduce(c, required);
  Names mis = reduce(c, missing);
  std::tuple<int, std::size_t, std::size_t, std::uint32_t> score{identity_free ? 0 : 1, mis.size(), req.size(), order};
  if (best.found && !(score < best.score)) return;
  best.found = true;
  best.score = score;
  best.required = req;
  best.missing = mis;
  best.tier = tier;
}

// A decision built in place (its rule string constructed, not assigned).
Decision decided(Outcome o, Remedy r, std::string_view rule) { return Decision{.outcome = o, .remedy = r, .rule = std::string(rule)}; }

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
  for (std::size_t k = 0; k < cand.size(); ++k) {
    std::uint32_t i = cand[k];
    const HotRule& h = c.hot[i];
    bool deny = h.flags & HotRule::kDeny;
    if (!deny) file_allows = true;
    if (!hot_subject_holds(c, i, pc, p, anon, holds)) continue;
    bool unconditional =
        !(h.flags & HotRule::kWhen) || (a.phase == Phase::invocation && conditions_hold(c.rules[i], args));
    if (deny) {
      if (unconditional) return decided(Outcome::deny, anon ? Remedy::authenticate : Remedy::none, hot_id(c, h));
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
  if (!a.explain) return decided(Outcome::deny, anon ? Remedy::authenticate : Remedy::none, "default");
  Hint best;
  for (std::size_t k = 0; k < cand.size(); ++k) {
    std::uint32_t i = cand[k];
    if (!(c.hot[i].flags & HotRule::kDeny)) consider(c, pc, p, a, args, cand, i, declared, i, best);
  }
  if (implicit) consider(c, pc, p, a, args, cand, kNoRule, declared, static_cast<std::uint32_t>(c.rules.size()), best);
  if (!best.found) return decided(Outcome::deny, anon ? Remedy::authenticate : Remedy::none, "default");
  return Decision{.outcome = Outcome::deny,
                  .remedy = anon ? Remedy::authenticate : Remedy::step_up,
                  .rule = std::string("default"),
                  .tier = std::string(best.tier),
                  .scopes = strings_of(best.required),
                  .missing = strings_of(best.missing),
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

}  // namespace

bool Matcher::matches(const json::value& v) const {
  if (const auto* arr = v.if_array(); arr && op != Op::equals)
    return std::any_of(arr->begin(), arr->end(), [&](const json::value& e) { return matches_one(*this, e); });
  if (const auto* arr = v.if_array(); arr && !value.is_array())
    return std::any_of(arr->begin(), arr->end(), [&](const json::value& e) { return matches_one(*this, e); });
  return matches_one(*this, v);
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
                         "rule '" + r.id + "': no registered " + std::string(to_string(static_cast<Kind>(k))) + " matches '" + p.text + "'"});
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

}  // namespace jitgate::policy
