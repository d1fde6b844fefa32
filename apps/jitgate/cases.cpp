#include "cases.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "common/strict_yaml.hpp"
#include "yaml_json.hpp"

namespace jitgate::cli {

namespace json = boost::json;
using policy::Diagnostic;

namespace {

class CaseLoader {
 public:
  explicit CaseLoader(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Node& n, std::string msg) {
    diags_.push_back({Diagnostic::Severity::error, where(file_, n), std::move(msg)});
  }

  bool only(const YAML::Node& map, std::initializer_list<std::string_view> keys, const std::string& what) {
    if (!map.IsMap()) {
      error(map, what + " must be a mapping");
      return false;
    }
    bool ok = true;
    for (const auto& kv : map) {
      std::string k = kv.first.Scalar();
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
        error(kv.first, "unknown field '" + k + "' in " + what);
        ok = false;
      }
    }
    return ok;
  }

  std::optional<std::string> str(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar() || n.Scalar().empty()) {
      error(n, what + " must be a non-empty string");
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<std::vector<std::string>> strings(const YAML::Node& n, const std::string& what) {
    if (!n.IsSequence()) {
      error(n, what + " must be a list of strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (const auto& e : n) {
      if (!e.IsScalar() || e.Scalar().empty()) {
        error(e, what + " entries must be non-empty strings");
        return std::nullopt;
      }
      out.push_back(e.Scalar());
    }
    return out;
  }

  std::optional<json::object> mapping(const YAML::Node& n, const std::string& what) {
    if (!n || n.IsNull()) return json::object{};
    if (!n.IsMap()) {
      error(n, what + " must be a mapping");
      return std::nullopt;
    }
    return yaml_to_json(n).as_object();
  }

  CaseFile load(const YAML::Node& root) {
    CaseFile f;
    if (!root.IsMap()) {
      error(root, "a test file must be a mapping with a list of cases");
      return f;
    }
    only(root, {"description", "role_claims", "cases"}, "the test file");
    if (auto r = root["role_claims"])
      if (auto v = strings(r, "role_claims")) f.role_claims = *v;
    auto cases = root["cases"];
    if (!cases) {
      error(root, "cases is required (a list of test cases)");
      return f;
    }
    if (!cases.IsSequence() || cases.size() == 0) {
      error(cases, "cases must be a non-empty list");
      return f;
    }
    std::set<std::string> names;
    for (const auto& c : cases) {
      TestCase t;
      t.where = where(file_, c);
      if (!only(c, {"name", "description", "claims", "method", "target", "via_template", "args", "expect"}, "a test case"))
        continue;
      auto name = c["name"];
      if (!name) {
        error(c, "every test case needs a name");
        continue;
      }
      t.name = str(name, "name").value_or("");
      if (t.name.empty()) continue;
      if (!names.insert(t.name).second) error(name, "duplicate test case name '" + t.name + "'");
      std::string what = "test case '" + t.name + "'";
      bool ok = true;
      if (auto claims = mapping(c["claims"], what + ".claims"))
        t.claims = std::move(*claims);
      else
        ok = false;
      auto method = c["method"];
      if (!method) {
        error(c, what + " needs a method (such as tools/call)");
        ok = false;
      } else if (auto m = str(method, what + ".method")) {
        t.request.method = *m;
        t.method_where = where(file_, method);
      } else {
        ok = false;
      }
      if (auto n = c["target"]) {
        if (auto s = str(n, what + ".target"))
          t.request.name = *s;
        else
          ok = false;
      }
      if (auto n = c["via_template"]) {
        if (auto s = str(n, what + ".via_template"))
          t.request.via_template = *s;
        else
          ok = false;
      }
      if (auto n = c["args"]) {
        if (auto a = mapping(n, what + ".args"))
          t.request.args = std::move(*a);
        else
          ok = false;
      }
      auto expect = c["expect"];
      if (!expect) {
        error(c, what + " needs an expect mapping (at least its decision)");
        continue;
      }
      if (!expectation(expect, what, t.expect) || !ok) continue;
      f.cases.push_back(std::move(t));
    }
    return f;
  }

  bool expectation(const YAML::Node& e, const std::string& what, Expectation& x) {
    if (!only(e, {"decision", "rule", "remedy", "tier", "status", "scopes", "missing"}, what + ".expect")) return false;
    bool ok = true;
    auto d = e["decision"];
    if (!d) {
      error(e, what + ".expect needs a decision (allow, deny or conditional)");
      ok = false;
    } else if (auto s = str(d, what + ".expect.decision"); s && (*s == "allow" || *s == "deny" || *s == "conditional")) {
      x.decision = *s;
    } else {
      if (s) error(d, what + ".expect.decision must be allow, deny or conditional");
      ok = false;
    }
    if (auto n = e["rule"]) {
      if (auto s = str(n, what + ".expect.rule"))
        x.rule = *s;
      else
        ok = false;
    }
    if (auto n = e["tier"]) {
      if (auto s = str(n, what + ".expect.tier"))
        x.tier = *s;
      else
        ok = false;
    }
    if (auto n = e["remedy"]) {
      auto s = str(n, what + ".expect.remedy");
      if (s && (*s == "none" || *s == "authenticate" || *s == "step_up"))
        x.remedy = *s;
      else {
        if (s) error(n, what + ".expect.remedy must be none, authenticate or step_up");
        ok = false;
      }
    }
    if (auto n = e["status"]) {
      if (n.IsScalar() && (n.Scalar() == "200" || n.Scalar() == "401" || n.Scalar() == "403")) {
        x.status = static_cast<unsigned>(std::stoul(n.Scalar()));
      } else {
        error(n, what + ".expect.status must be 200, 401 or 403");
        ok = false;
      }
    }
    if (auto n = e["scopes"]) {
      if (auto v = strings(n, what + ".expect.scopes"))
        x.scopes = std::move(*v);
      else
        ok = false;
    }
    if (auto n = e["missing"]) {
      if (auto v = strings(n, what + ".expect.missing"))
        x.missing = std::move(*v);
      else
        ok = false;
    }
    return ok;
  }

  std::vector<Diagnostic> diags_;

 private:
  std::string file_;
};

std::string listed(const std::vector<std::string>& v) {
  std::string s = "[";
  for (const auto& x : v) s += (s.size() > 1 ? ", " : "") + x;
  return s + "]";
}

// Scope lists compare as sets: the order a hint names them in is not part of the contract.
bool same_set(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

}  // namespace

CaseFile load_cases(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw policy::PolicyError({{Diagnostic::Severity::error, path, "cannot read the test file"}});
  std::stringstream ss;
  ss << in.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(ss.str());
  } catch (const YAML::Exception& e) {
    throw policy::PolicyError({{Diagnostic::Severity::error, yaml::position(path, e.mark), e.msg}});
  }
  CaseLoader l(path);
  CaseFile f = l.load(root);
  if (!l.diags_.empty()) throw policy::PolicyError(std::move(l.diags_));
  return f;
}

std::vector<std::string> mismatches(const Expectation& want, const Explanation& got) {
  const policy::Decision& d = got.decision;
  std::vector<std::string> out;
  auto differ = [&](std::string_view what, const std::string& w, const std::string& g) {
    if (w != g) out.push_back("expected " + std::string(what) + " " + w + ", got " + g);
  };
  differ("decision", want.decision, std::string(policy::to_string(d.outcome)));
  if (want.rule) differ("rule", *want.rule, d.rule);
  if (want.remedy) differ("remedy", *want.remedy, std::string(to_string(d.remedy)));
  if (want.tier) differ("tier", *want.tier, d.tier.empty() ? "(none)" : d.tier);
  if (want.status) differ("status", std::to_string(*want.status), std::to_string(got.status));
  if (want.scopes && !same_set(*want.scopes, d.scopes))
    out.push_back("expected scopes " + listed(*want.scopes) + ", got " + listed(d.scopes));
  if (want.missing && !same_set(*want.missing, d.missing))
    out.push_back("expected missing " + listed(*want.missing) + ", got " + listed(d.missing));
  return out;
}

}  // namespace jitgate::cli
