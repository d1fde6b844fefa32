// Loading and validating policy files. Every problem is reported with its file:line:column, and all
// of them at once: an operator fixes a file in one pass.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "common/strict_yaml.hpp"
#include "jitgate/policy/policy.hpp"
#include "policy/compiled.hpp"

namespace jitgate::policy {

namespace json = boost::json;

std::string Diagnostic::to_string() const {
  return where + ": " + (severity == Severity::error ? "error: " : "warning: ") + message;
}

namespace {

std::string join_lines(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) {
    if (!out.empty()) out += '\n';
    out += d.to_string();
  }
  return out;
}

std::string_view op_name(Matcher::Op op) {
  switch (op) {
    case Matcher::Op::equals: return "equals";
    case Matcher::Op::in: return "in";
    case Matcher::Op::prefix: return "prefix";
    case Matcher::Op::glob: return "glob";
    case Matcher::Op::regex: return "regex";
    case Matcher::Op::path_within:
    case Matcher::Op::path_equals: return "path";
  }
  return "equals";
}

}  // namespace

// The last segment of the pointer (array indexes skipped) has a word such as path, file, dir or
// folder, split at _ - . and camelCase.
bool looks_like_path_name(std::string_view pointer) {
  static constexpr std::string_view kWords[] = {
      "path", "paths",   "pathname",  "file",        "files",  "filename", "filenames", "filepath", "filepaths",   "dir",
      "dirs", "dirname", "directory", "directories", "folder", "folders",  "source",    "sources",  "destination", "src",
      "dst",  "dest",    "target",    "root",        "cwd",    "pwd",      "workdir",   "location", "mount",       "home"};
  std::string_view seg;
  while (!pointer.empty()) {
    std::size_t slash = pointer.rfind('/');
    seg = pointer.substr(slash + 1);
    pointer = pointer.substr(0, slash == std::string_view::npos ? 0 : slash);
    bool index = !seg.empty() && std::all_of(seg.begin(), seg.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    if (!index && seg != "-") break;
  }
  std::vector<std::string> words{""};
  for (std::size_t i = 0; i < seg.size(); ++i) {
    char ch = seg[i];
    bool upper = ch >= 'A' && ch <= 'Z';
    if (ch == '_' || ch == '-' || ch == '.' || ch == ' ' || ch == '~') {
      words.emplace_back();
      continue;
    }
    if (upper && i > 0 && !(seg[i - 1] >= 'A' && seg[i - 1] <= 'Z') && !words.back().empty()) words.emplace_back();
    words.back() += upper ? static_cast<char>(ch - 'A' + 'a') : ch;
  }
  for (const auto& w : words)
    if (std::find(std::begin(kWords), std::end(kWords), w) != std::end(kWords)) return true;
  return false;
}

namespace {

constexpr std::string_view kKindKeys[5] = {"tools", "resources", "resource_templates", "prompts", "methods"};

class Loader {
 public:
  explicit Loader(std::string name) : name_(std::move(name)) {
    c_ = std::make_unique<Compiled>();
    c_->source = name_;
  }

  std::string at(const YAML::Node& n) const { return yaml::position(name_, n); }
  void error(const YAML::Node& n, std::string msg) { diags_.push_back({Diagnostic::Severity::error, at(n), std::move(msg)}); }
  void warn(const YAML::Node& n, std::string msg) { diags_.push_back({Diagnostic::Severity::warning, at(n), std::move(msg)}); }
  void warn_at(std::string where, std::string msg) {
    diags_.push_back({Diagnostic::Severity::warning, std::move(where), std::move(msg)});
  }

  // False (with an error) when the mapping has a key outside `keys`.
  bool only(const YAML::Node& map, std::initializer_list<std::string_view> keys, const std::string& where) {
    if (!map.IsMap()) {
      error(map, where + " must be a mapping");
      return false;
    }
    bool ok = true;
    for (const auto& kv : map) {
      std::string k = kv.first.Scalar();
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
        error(kv.first, "unknown field '" + k + "' in " + where);
        ok = false;
      }
    }
    return ok;
  }

  std::optional<std::string> str(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      error(n, what + " must be a string");
      return std::nullopt;
    }
    return n.Scalar();
  }
  std::optional<bool> boolean(const YAML::Node& n, const std::string& what) {
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      error(n, what + " must be true or false");
      return std::nullopt;
    }
    return v;
  }
  std::vector<std::pair<std::string, YAML::Node>> strings(const YAML::Node& n, const std::string& what) {
    std::vector<std::pair<std::string, YAML::Node>> out;
    if (n.IsScalar()) {
      out.emplace_back(n.Scalar(), n);
      return out;
    }
    if (!n.IsSequence()) {
      error(n, what + " must be a list of strings");
      return out;
    }
    for (const auto& e : n) {
      if (!e.IsScalar() || e.Scalar().empty()) {
        error(e, what + " entries must be non-empty strings");
        continue;
      }
      out.emplace_back(e.Scalar(), e);
    }
    return out;
  }

  ScopeId intern_scope(const std::string& s) {
    auto [it, fresh] = c_->scope_ids.try_emplace(s, static_cast<ScopeId>(c_->scope_names.size()));
    if (fresh) c_->scope_names.push_back(s);
    return it->second;
  }
  ScopeId intern_role(const std::string& s) {
    auto [it, fresh] = c_->role_ids.try_emplace(s, static_cast<ScopeId>(c_->role_names.size()));
    if (fresh) c_->role_names.push_back(s);
    return it->second;
  }

  // A YAML scalar as JSON: booleans, integers and numbers keep their type (quoted ones stay strings).
  static json::value scalar_json(const YAML::Node& n) {
    const std::string& s = n.Scalar();
    if (n.Tag() != "!") {  // unquoted
      bool b;
      if (s == "true" || s == "false") return YAML::convert<bool>::decode(n, b) ? json::value(b) : json::value(s);
      if (s == "null" || s == "~") return nullptr;
      std::int64_t i;
      if (YAML::convert<std::int64_t>::decode(n, i) && s.find_first_of(".eE") == std::string::npos) return i;
      double d;
      if (YAML::convert<double>::decode(n, d)) return d;
    }
    return json::string(s);
  }

  // The bases of a path matcher: absolute paths written normalized (a trailing or doubled slash aside).
  bool path_bases(const YAML::Node& v, const std::string& what, Matcher& m) {
    if (v.IsSequence() && v.size() == 0) {
      error(v, what + " must name at least one path");
      return false;
    }
    for (auto& [text, node] : strings(v, what)) {
      auto segs = normalize_path(text);
      bool dotted = false;
      for (std::size_t i = 0, j; i <= text.size(); i = j + 1) {
        j = std::min(text.find('/', i), text.size());
        std::string_view seg = std::string_view(text).substr(i, j - i);
        dotted = dotted || seg == "." || seg == "..";
      }
      if (text.empty() || text.front() != '/')
        error(node, what + " must be an absolute path (starting with '/')");
      else if (!segs)
        error(node, what + " '" + text + "' is not a path a call could be compared with (NUL, backslash or percent escape)");
      else if (dotted)
        error(node, what + " '" + text + "' must be written without '.' or '..' segments");
      else {
        m.bases.push_back(std::move(*segs));
        continue;
      }
      return false;
    }
    return !m.bases.empty();
  }

  // `path: {within: BASE}` or `path: {equals: PATH}`; BASE and PATH may be lists (one of them).
  bool path_matcher(const YAML::Node& v, const std::string& what, Matcher& m) {
    if (!v.IsMap()) {
      error(v, what + " must be a mapping with within or equals");
      return false;
    }
    int ops = 0;
    bool ok = true;
    for (const auto& kv : v) {
      std::string k = kv.first.Scalar();
      if (k == "within" || k == "equals") {
        ++ops;
        m.op = k == "within" ? Matcher::Op::path_within : Matcher::Op::path_equals;
        ok = path_bases(kv.second, what + "." + k, m) && ok;
      } else {
        error(kv.first, "unknown field '" + k + "' in " + what + " (expected within or equals)");
        ok = false;
      }
    }
    if (ok && ops != 1) {
      error(v, what + " must have exactly one of within, equals");
      return false;
    }
    return ok;
  }

  // A matcher: a scalar (equals), one of equals, in, prefix, glob, regex, path, or `all:`/`any:` of
  // one of those (with `or_empty: true` beside `all`). `extra`: keys of the enclosing mapping.
  std::optional<Matcher> matcher(const YAML::Node& n, const std::string& what, std::initializer_list<std::string_view> extra = {},
                                 bool quantified = true) {
    Matcher m;
    if (n.IsScalar()) {
      m.op = Matcher::Op::equals;
      m.value = scalar_json(n);
      return m;
    }
    if (!n.IsMap()) {
      error(n, what + " must be a value or a mapping with one of equals, in, prefix, glob, regex, path, all, any");
      return std::nullopt;
    }
    if (quantified && (n["all"] || n["any"])) return quantifier(n, what, extra);
    int ops = 0;
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      if (std::find(extra.begin(), extra.end(), k) != extra.end()) continue;
      ++ops;
      if (k == "equals") {
        if (!v.IsScalar()) {
          error(v, what + ".equals must be a scalar");
          return std::nullopt;
        }
        m.op = Matcher::Op::equals;
        m.value = scalar_json(v);
      } else if (k == "in") {
        if (!v.IsSequence() || v.size() == 0) {
          error(v, what + ".in must be a non-empty list");
          return std::nullopt;
        }
        m.op = Matcher::Op::in;
        for (const auto& e : v) {
          if (!e.IsScalar()) {
            error(e, what + ".in entries must be scalars");
            return std::nullopt;
          }
          m.any.push_back(scalar_json(e));
        }
      } else if (k == "prefix" || k == "glob") {
        auto s = str(v, what + "." + k);
        if (!s) return std::nullopt;
        m.op = k == "prefix" ? Matcher::Op::prefix : Matcher::Op::glob;
        m.text = *s;
      } else if (k == "regex") {
        auto s = str(v, what + ".regex");
        if (!s) return std::nullopt;
        RE2::Options o;
        o.set_log_errors(false);
        auto re = std::make_shared<const RE2>(*s, o);
        if (!re->ok()) {
          error(v, what + ".regex does not compile: " + re->error());
          return std::nullopt;
        }
        m.op = Matcher::Op::regex;
        m.text = *s;
        m.re = std::move(re);
      } else if (k == "path") {
        if (!path_matcher(v, what + ".path", m)) return std::nullopt;
      } else if (k == "all" || k == "any" || (k == "or_empty" && !quantified)) {
        error(kv.first, what + ": '" + k + "' cannot be used inside all or any (name all or any once, around one matcher)");
        return std::nullopt;
      } else if (k == "or_empty") {
        error(kv.first, what + ": or_empty goes with all (all: MATCHER, or_empty: true)");
        return std::nullopt;
      } else {
        error(kv.first, "unknown field '" + k + "' in " + what + " (expected equals, in, prefix, glob, regex, path, all or any)");
        return std::nullopt;
      }
    }
    if (ops != 1) {
      error(n, what + " must have exactly one of equals, in, prefix, glob, regex, path, all, any");
      return std::nullopt;
    }
    return m;
  }

  // `all: MATCHER` (every element of an array, `or_empty: true` to accept an empty one) or
  // `any: MATCHER` (one element at least).
  std::optional<Matcher> quantifier(const YAML::Node& n, const std::string& what, std::initializer_list<std::string_view> extra) {
    std::string q = n["all"] ? "all" : "any";
    bool ok = true;
    std::optional<bool> or_empty;
    YAML::Node inner;
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      if (std::find(extra.begin(), extra.end(), k) != extra.end()) continue;
      if (k == q) {
        inner = kv.second;
      } else if (k == "or_empty") {
        if (q != "all") {
          error(kv.first, what + ": or_empty goes with all (any never holds for an empty array)");
          ok = false;
        } else if (!(or_empty = boolean(kv.second, what + ".or_empty")))
          ok = false;
      } else if (k == "all" || k == "any") {
        error(kv.first, what + " must have one of all, any, not both");
        ok = false;
      } else {
        error(kv.first, "unknown field '" + k + "' in " + what + " (beside " + q + ": only or_empty" +
                            (extra.size() ? ", and the matcher goes inside " + q : std::string()) + ")");
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    auto m = matcher(inner, what + "." + q, {}, false);
    if (!m) return std::nullopt;
    m->each = q == "all" ? Matcher::Each::all : Matcher::Each::any;
    m->or_empty = or_empty.value_or(false);
    return m;
  }

  // Subject fields shared by tiers and rules. Returns false on an error.
  bool subject(const YAML::Node& map, SubjectSpec& s, const std::string& what) {
    bool ok = true;
    if (auto n = map["anonymous"]) {
      if (auto b = boolean(n, what + ".anonymous"))
        s.anonymous = *b;
      else
        ok = false;
    }
    if (auto n = map["authenticated"]) {
      if (auto b = boolean(n, what + ".authenticated"))
        s.authenticated = s.authenticated || *b;
      else
        ok = false;
    }
    if (auto n = map["scopes"])
      for (auto& [v, node] : strings(n, what + ".scopes")) s.scopes.push_back(intern_scope(v));
    if (auto n = map["roles"]) {
      std::vector<ScopeId> group;
      for (auto& [v, node] : strings(n, what + ".roles")) group.push_back(intern_role(v));
      if (!group.empty()) s.roles.push_back(std::move(group));
    }
    if (auto n = map["client_id"]) {
      std::vector<std::string> group;
      for (auto& [v, node] : strings(n, what + ".client_id")) group.push_back(v);
      if (!group.empty()) s.client_ids.push_back(std::move(group));
    }
    if (auto n = map["claims"]) {
      if (!n.IsMap()) {
        error(n, what + ".claims must be a mapping of claim paths to matchers");
        ok = false;
      } else {
        for (const auto& kv : n) {
          ClaimCondition cc;
          std::string path = kv.first.Scalar();
          std::size_t start = 0;
          while (true) {
            auto dot = path.find('.', start);
            cc.path.push_back(path.substr(start, dot - start));
            if (dot == std::string::npos) break;
            start = dot + 1;
          }
          auto m = matcher(kv.second, what + ".claims." + path);
          if (!m) {
            ok = false;
            continue;
          }
          cc.matcher = std::move(*m);
          s.claims.push_back(std::move(cc));
        }
      }
    }
    return ok;
  }

  void check_possible(const YAML::Node& at_node, const SubjectSpec& s, const std::string& what) {
    if (s.anonymous && (s.authenticated || !s.scopes.empty() || !s.roles.empty() || !s.claims.empty() || !s.client_ids.empty()))
      error(at_node, what + " can never match: it requires an anonymous caller and a signed-in one at once");
  }

  static void merge(SubjectSpec& into, const SubjectSpec& from) {
    into.anonymous = into.anonymous || from.anonymous;
    into.authenticated = into.authenticated || from.authenticated;
    for (auto s : from.scopes)
      if (std::find(into.scopes.begin(), into.scopes.end(), s) == into.scopes.end()) into.scopes.push_back(s);
    // A tier and a rule that both name roles need one of each: groups add up.
    into.roles.insert(into.roles.end(), from.roles.begin(), from.roles.end());
    into.claims.insert(into.claims.end(), from.claims.begin(), from.claims.end());
    into.client_ids.insert(into.client_ids.end(), from.client_ids.begin(), from.client_ids.end());
  }

  std::optional<Pattern> pattern(const std::string& text, const YAML::Node& n, Kind kind) {
    Pattern p;
    p.text = text;
    if (kind == Kind::resource && text.find('{') != std::string::npos) {
      // RFC 6570 simple expressions: each {var} is one path segment's worth of characters.
      std::string re = "^";
      std::size_t i = 0;
      while (i < text.size()) {
        auto open = text.find('{', i);
        re += RE2::QuoteMeta(text.substr(i, open == std::string::npos ? std::string::npos : open - i));
        if (open == std::string::npos) break;
        auto close = text.find('}', open);
        if (close == std::string::npos || close == open + 1) {
          error(n, "'" + text + "' is not a valid URI template");
          return std::nullopt;
        }
        re += "([^/?#]+)";
        i = close + 1;
      }
      re += "$";
      p.type = Pattern::Type::uri_template;
      p.re = std::make_shared<const RE2>(re);
      return p;
    }
    p.type = text.find_first_of("*?") == std::string::npos ? Pattern::Type::exact : Pattern::Type::glob;
    return p;
  }

  void load(const YAML::Node& root) {
    if (!root.IsMap()) {
      error(root, "a policy file must be a mapping with version, tiers and rules");
      return;
    }
    only(root, {"version", "locked", "scope_hierarchy", "tiers", "rules", "description"}, "the policy");
    auto version = root["version"];
    if (!version)
      error(root, "version is required (this jitgate reads version 1)");
    else if (!version.IsScalar() || version.Scalar() != "1")
      error(version, "unsupported policy version '" + (version.IsScalar() ? version.Scalar() : std::string("?")) +
                         "' (this jitgate reads version 1)");
    if (auto l = root["locked"]) {
      auto s = str(l, "locked");
      if (s && *s == "advertise")
        c_->locked = Locked::advertise;
      else if (s && *s != "hide")
        error(l, "locked must be hide or advertise");
    }
    hierarchy(root["scope_hierarchy"]);
    tiers(root["tiers"]);
    if (root["rules"])
      rules(root["rules"]);
    else
      warn(root, "no rules: every primitive is denied");
    for (auto& [name, t] : c_->tiers)
      if (!t.used) warn_at(t.where, "tier '" + name + "' is not used by any rule");
    contradictions();
  }

  void hierarchy(const YAML::Node& h) {
    if (!h) return;
    if (!h.IsMap()) return error(h, "scope_hierarchy must map a scope to the scopes it implies");
    std::vector<std::vector<ScopeId>> direct;
    for (const auto& kv : h) {
      ScopeId from = intern_scope(kv.first.Scalar());
      for (auto& [to, node] : strings(kv.second, "scope_hierarchy." + kv.first.Scalar())) {
        ScopeId t = intern_scope(to);
        if (direct.size() <= std::max(from, t)) direct.resize(std::max(from, t) + 1);
        direct[from].push_back(t);
      }
    }
    direct.resize(c_->scope_names.size());
    // Transitive closure by a walk from each scope; a cycle only makes its scopes equivalent.
    for (ScopeId s = 0; s < direct.size(); ++s) {
      std::vector<bool> seen(direct.size());
      std::vector<ScopeId> stack{s};
      while (!stack.empty()) {
        ScopeId x = stack.back();
        stack.pop_back();
        for (ScopeId y : direct[x]) {
          if (y == s && !seen[s])
            warn(h, "scope_hierarchy has a cycle through '" + c_->scope_names[s] + "': those scopes are equivalent");
          if (!seen[y]) {
            seen[y] = true;
            stack.push_back(y);
          }
        }
      }
      seen_closure_.push_back(std::move(seen));
    }
  }

  void tiers(const YAML::Node& ts) {
    if (!ts) return;
    if (!ts.IsMap()) return error(ts, "tiers must map tier names to their requirements");
    for (const auto& kv : ts) {
      Tier t;
      t.name = kv.first.Scalar();
      t.where = at(kv.first);
      std::string what = "tier '" + t.name + "'";
      if (kv.second.IsNull()) {
        c_->tiers.emplace(t.name, std::move(t));
        continue;
      }
      if (!only(kv.second, {"description", "anonymous", "authenticated", "scopes", "roles", "claims", "client_id"}, what))
        continue;
      if (auto d = kv.second["description"]) t.description = str(d, what + ".description").value_or("");
      subject(kv.second, t.subject, what);
      check_possible(kv.first, t.subject, what);
      c_->tiers.emplace(t.name, std::move(t));
    }
  }

  // A raw-text matcher on an argument whose name says it is a path: `/home/../etc` satisfies
  // `prefix: /home/`, and `/etc//passwd` escapes a deny rule's `equals: /etc/passwd`.
  void raw_path_warning(const YAML::Node& at_node, const Rule& rule, const ArgCondition& ac) {
    if (!ac.path_named || !compares_raw_text(rule.deny, ac.matcher)) return;
    warn(at_node, "rule '" + rule.id + "': " + ac.pointer + " looks like a path, and " + std::string(op_name(ac.matcher.op)) +
                      " compares its raw text ('..' and '//' are not resolved); use path: {within: ...} or path: {equals: ...}");
  }

  void rules(const YAML::Node& rs) {
    if (!rs.IsSequence()) return error(rs, "rules must be a list");
    std::set<std::string> ids;
    for (const auto& r : rs) {
      Rule rule;
      rule.where = at(r);
      if (!only(r,
                {"id", "effect", "description", "tier", "anonymous", "authenticated", "scopes", "roles", "claims", "client_id",
                 "when", "tools", "resources", "resource_templates", "prompts", "methods"},
                "a rule"))
        continue;
      auto id = r["id"];
      if (!id) {
        error(r, "every rule needs an id");
        continue;
      }
      rule.id = str(id, "id").value_or("");
      if (rule.id.empty()) {
        error(id, "every rule needs a non-empty id");
        continue;
      }
      if (!ids.insert(rule.id).second) error(id, "duplicate rule id '" + rule.id + "'");
      std::string what = "rule '" + rule.id + "'";
      if (auto e = r["effect"]) {
        auto s = str(e, what + ".effect");
        if (s && *s == "deny")
          rule.deny = true;
        else if (s && *s != "allow")
          error(e, what + ".effect must be allow or deny");
      }
      subject(r, rule.subject, what);
      if (auto t = r["tier"]) {
        rule.tier = str(t, what + ".tier").value_or("");
        auto it = c_->tiers.find(rule.tier);
        if (it == c_->tiers.end())
          error(t, what + " refers to tier '" + rule.tier + "', which does not exist");
        else {
          it->second.used = true;
          merge(rule.subject, it->second.subject);
        }
      }
      check_possible(r, rule.subject, what);
      bool any_target = false, arg_free_target = false;
      for (int k = 0; k < 5; ++k) {
        auto n = r[std::string(kKindKeys[k])];
        if (!n) continue;
        for (auto& [text, node] : strings(n, what + "." + std::string(kKindKeys[k]))) {
          auto p = pattern(text, node, static_cast<Kind>(k));
          if (!p) continue;
          rule.targets[k].push_back(std::move(*p));
          any_target = true;
          if (static_cast<Kind>(k) != Kind::tool && static_cast<Kind>(k) != Kind::prompt) arg_free_target = true;
        }
      }
      if (!any_target) error(r, what + " names no tools, resources, resource_templates, prompts or methods");
      if (auto w = r["when"]) {
        if (!w.IsSequence() || w.size() == 0)
          error(w, what + ".when must be a non-empty list of argument conditions");
        else
          for (const auto& cnode : w) {
            if (!only(cnode, {"arg", "absent", "equals", "in", "prefix", "glob", "regex", "path", "all", "any", "or_empty"},
                      what + ".when entries"))
              continue;
            ArgCondition ac;
            auto a = cnode["arg"];
            if (!a) {
              error(cnode, what + ".when entries need an arg (a JSON pointer such as /path)");
              continue;
            }
            ac.pointer = str(a, "arg").value_or("");
            ac.where = at(cnode);
            ac.path_named = looks_like_path_name(ac.pointer);
            if (!ac.pointer.empty() && ac.pointer[0] != '/') {
              error(a, "arg must be a JSON pointer starting with '/'");
              continue;
            }
            if (auto ab = cnode["absent"]) {
              ac.absent = boolean(ab, "absent").value_or(false);
              if (cnode.size() > 2) {
                error(cnode, "absent cannot be combined with a matcher");
                continue;
              }
              if (!ac.absent) {
                error(ab, "absent must be true (leave it out otherwise)");
                continue;
              }
            } else {
              auto m = matcher(cnode, what + ".when " + ac.pointer, {"arg"});
              if (!m) continue;
              ac.matcher = std::move(*m);
              raw_path_warning(cnode, rule, ac);
            }
            rule.when.push_back(std::move(ac));
          }
        if (arg_free_target)
          error(w, what +
                       " can never match: argument conditions apply to tools and prompts only, and it also names "
                       "resources, resource templates or methods, which are read or listed without arguments");
      }
      c_->rules.push_back(std::move(rule));
    }
  }

  // A deny rule without conditions that covers every target of an allow rule for a subject at least as
  // wide makes that allow rule dead.
  void contradictions() {
    auto covers = [](const Pattern& d, const Pattern& a) {
      if (d.text == a.text) return true;
      return d.type == Pattern::Type::glob && (a.type == Pattern::Type::exact || a.type == Pattern::Type::glob) &&
             glob_match(d.text, a.text);
    };
    auto subject_wider = [](const SubjectSpec& d, const SubjectSpec& a) {
      auto subset = [](const auto& x, const auto& y) {
        return std::all_of(x.begin(), x.end(), [&](const auto& e) { return std::find(y.begin(), y.end(), e) != y.end(); });
      };
      return (!d.anonymous || a.anonymous) && (!d.authenticated || a.authenticated || !a.scopes.empty() || !a.roles.empty()) &&
             subset(d.scopes, a.scopes) && d.roles.empty() && d.claims.empty() && d.client_ids.empty();
    };
    for (const auto& a : c_->rules) {
      if (a.deny) continue;
      for (const auto& d : c_->rules) {
        if (!d.deny || !d.when.empty() || !subject_wider(d.subject, a.subject)) continue;
        bool all = true;
        for (int k = 0; k < 5 && all; ++k)
          for (const auto& ap : a.targets[k])
            all = all && std::any_of(d.targets[k].begin(), d.targets[k].end(), [&](const Pattern& dp) { return covers(dp, ap); });
        if (all) {
          warn_at(a.where, "rule '" + a.id + "' can never allow: deny rule '" + d.id + "' (" + d.where + ") covers all of it");
          break;
        }
      }
    }
  }

  std::unique_ptr<Compiled> finish() {
    c_->implied.resize(c_->scope_names.size());
    for (ScopeId s = 0; s < c_->scope_names.size(); ++s) {
      c_->implied[s].push_back(s);
      if (s < seen_closure_.size())
        for (ScopeId t = 0; t < seen_closure_[s].size(); ++t)
          if (seen_closure_[s][t] && t != s) c_->implied[s].push_back(t);
    }
    for (std::uint32_t i = 0; i < c_->rules.size(); ++i)
      for (int k = 0; k < 5; ++k)
        for (const auto& p : c_->rules[i].targets[k]) {
          if (p.type == Pattern::Type::exact) {
            auto& v = c_->index[k].exact[p.text];
            if (v.empty() || v.back() != i) v.push_back(i);
          } else {
            c_->index[k].wild.emplace_back(&p, i);
          }
        }
    return std::move(c_);
  }

  std::vector<Diagnostic> diags_;

 private:
  std::string name_;
  std::unique_ptr<Compiled> c_;
  std::vector<std::vector<bool>> seen_closure_;
};

}  // namespace

PolicyError::PolicyError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(join_lines(diagnostics)), diagnostics_(std::move(diagnostics)) {}

std::shared_ptr<const Policy> parse_policy(const std::string& text, const std::string& name, std::vector<Diagnostic>* warnings) {
  Loader l(name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw PolicyError({{Diagnostic::Severity::error, yaml::position(name, e.mark), e.msg}});
  }
  l.load(root);
  std::vector<Diagnostic> errors, warns;
  for (auto& d : l.diags_) (d.severity == Diagnostic::Severity::error ? errors : warns).push_back(std::move(d));
  if (!errors.empty()) throw PolicyError(std::move(errors));
  if (warnings) *warnings = std::move(warns);
  return std::make_shared<const Policy>(l.finish());
}

std::shared_ptr<const Policy> load_policy(const std::string& path, std::vector<Diagnostic>* warnings) {
  std::ifstream in(path);
  if (!in) throw PolicyError({{Diagnostic::Severity::error, path, "cannot read the policy file"}});
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_policy(ss.str(), path, warnings);
}

}  // namespace jitgate::policy
