#include "policy_cli.hpp"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cases.hpp"
#include "explain.hpp"
#include "jitgate/auth/jwt_verifier.hpp"
#include "jitgate/auth/resource_metadata.hpp"
#include "jitgate/policy/policy.hpp"

namespace jitgate::cli {

namespace json = boost::json;
using policy::Diagnostic;

namespace {

struct Options {
  std::string file, shadow, cases;
  bool strict = false, as_json = false;
  std::string claims = "{}", method, name, args, via_template;
  std::vector<std::string> role_claims;
  std::string resource = "http://127.0.0.1:8080/mcp";
};

std::string plural(std::size_t n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

// The file's text, or nullopt after saying why it cannot be read.
std::optional<std::string> read_file(const std::string& path, std::string_view command) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "jitgate " << command << ": cannot read " << path << ": " << std::strerror(errno) << "\n";
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A policy for explain and test: nullptr after printing why it does not load.
std::shared_ptr<const policy::Policy> load(const std::string& path, std::string_view command) {
  auto text = read_file(path, command);
  if (!text) return nullptr;
  try {
    return policy::parse_policy(*text, path);
  } catch (const policy::PolicyError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.to_string() << "\n";
    std::cerr << path << ": does not load, " << plural(e.diagnostics().size(), "error") << "\n";
    return nullptr;
  }
}

json::object json_object_arg(const std::string& text, std::string_view option) {
  std::string body = text;
  if (!body.empty() && body.front() == '@') {  // @file reads the JSON from a file
    std::ifstream in(body.substr(1));
    if (!in) throw UsageError(std::string(option) + ": cannot read " + body.substr(1) + ": " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  }
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) throw UsageError(std::string(option) + " is not valid JSON: " + ec.message());
  if (!v.is_object()) throw UsageError(std::string(option) + " must be a JSON object");
  return std::move(v.as_object());
}

int run_check(const Options& o) {
  auto text = read_file(o.file, "policy check");
  if (!text) return 2;
  std::vector<Diagnostic> warnings;
  std::shared_ptr<const policy::Policy> p;
  try {
    p = policy::parse_policy(*text, o.file, &warnings);
  } catch (const policy::PolicyError& e) {
    for (const auto& d : e.diagnostics()) std::cout << d.to_string() << "\n";
    std::cout << o.file << ": failed, " << plural(e.diagnostics().size(), "error") << "\n";
    return 1;
  }
  for (const auto& w : warnings) std::cout << w.to_string() << "\n";
  std::size_t tiers = 0;
  if (auto t = YAML::Load(*text)["tiers"]; t && t.IsMap()) tiers = t.size();
  bool fail = o.strict && !warnings.empty();
  std::cout << o.file << ": " << (fail ? "failed (--strict)" : "ok") << ", " << plural(p->rule_count(), "rule") << ", "
            << plural(tiers, "tier") << ", " << plural(warnings.size(), "warning") << "\n";
  return fail ? 1 : 0;
}

int run_explain(const Options& o) {
  auto enforced = load(o.file, "policy explain");
  if (!enforced) return 2;
  std::shared_ptr<const policy::Policy> shadow;
  if (!o.shadow.empty() && !(shadow = load(o.shadow, "policy explain"))) return 2;
  try {
    json::object claims = json_object_arg(o.claims, "--claims");
    Request req;
    req.method = o.method;
    if (!o.name.empty()) req.name = o.name;
    if (!o.args.empty()) req.args = json_object_arg(o.args, "--args");
    req.via_template = o.via_template;
    std::vector<std::string> role_claims = o.role_claims.empty() ? std::vector<std::string>{"roles"} : o.role_claims;
    auth::Principal who = auth::principal_from_claims(std::move(claims), role_claims);
    if (who.anonymous() && !who.claims.empty()) std::cerr << "note: the claims have no sub, so the caller is anonymous\n";
    auth::ResourceMetadata rm;
    rm.resource = o.resource;
    policy::LocalPolicyEngine engine(enforced, shadow);
    Explanation e = explain(engine, who, req, rm.well_known_url());
    if (o.as_json)
      std::cout << json::serialize(to_json(e, who)) << "\n";
    else
      std::cout << to_text(e, who);
    return 0;
  } catch (const UsageError& e) {
    std::cerr << "jitgate policy explain: error: " << e.what() << "\n";
    return 2;
  }
}

int run_test(const Options& o) {
  auto p = load(o.file, "policy test");
  if (!p) return 2;
  CaseFile f;
  try {
    f = load_cases(o.cases);
  } catch (const policy::PolicyError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.to_string() << "\n";
    std::cerr << o.cases << ": does not load, " << plural(e.diagnostics().size(), "error") << "\n";
    return 2;
  }
  policy::LocalPolicyEngine engine(p);
  auth::ResourceMetadata rm;
  rm.resource = o.resource;
  std::string metadata = rm.well_known_url();
  // Every request is checked before any verdict is printed: a malformed case is a file error.
  std::vector<Explanation> results;
  std::vector<Diagnostic> errors;
  for (const auto& c : f.cases) {
    try {
      results.push_back(explain(engine, auth::principal_from_claims(c.claims, f.role_claims), c.request, metadata));
    } catch (const UsageError& e) {
      errors.push_back({Diagnostic::Severity::error, c.method_where, "test case '" + c.name + "': " + e.what()});
    }
  }
  if (!errors.empty()) {
    for (const auto& d : errors) std::cerr << d.to_string() << "\n";
    std::cerr << o.cases << ": does not load, " << plural(errors.size(), "error") << "\n";
    return 2;
  }
  std::size_t passed = 0, failed = 0;
  for (std::size_t i = 0; i < f.cases.size(); ++i) {
    auto diff = mismatches(f.cases[i].expect, results[i]);
    if (diff.empty()) {
      ++passed;
      std::cout << "PASS " << f.cases[i].name << "\n";
      continue;
    }
    ++failed;
    std::cout << "FAIL " << f.cases[i].name << ": ";
    for (std::size_t k = 0; k < diff.size(); ++k) std::cout << (k ? "; " : "") << diff[k];
    std::cout << " (" << f.cases[i].where << ")\n";
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed ? 1 : 0;
}

}  // namespace

void add_policy_commands(CLI::App& app, int& status) {
  auto o = std::make_shared<Options>();
  CLI::App* policy = app.add_subcommand("policy", "Check, explain and test policy files");
  policy->require_subcommand(1);

  CLI::App* check = policy->add_subcommand("check", "Load a policy file and report every error and warning (file:line:col)");
  check->add_option("FILE", o->file, "The policy file (YAML, version 1)")->required()->type_name("FILE");
  check->add_flag("--strict", o->strict, "Fail on warnings too");
  check->callback([o, &status] { status = run_check(*o); });

  CLI::App* explain =
      policy->add_subcommand("explain", "Decide one request for one caller and show the answer a jitgate server would give");
  explain->add_option("FILE", o->file, "The policy file")->required()->type_name("FILE");
  explain
      ->add_option("--claims", o->claims,
                   "Token claims as a JSON object or @file: {} is anonymous, a sub signs in; scope or scp, "
                   "client_id or azp, iss, roles (see --role-claim)")
      ->capture_default_str()
      ->type_name("JSON");
  explain
      ->add_option("--method", o->method,
                   "The MCP method: tools/call, resources/read, resources/subscribe, resources/unsubscribe, "
                   "prompts/get, completion/complete, tools/list, resources/list, resources/templates/list, "
                   "prompts/list, or any other method")
      ->required()
      ->type_name("METHOD");
  explain
      ->add_option("--name", o->name,
                   "The tool or prompt name or resource URI; with a list method, the entry whose listing is decided")
      ->type_name("NAME");
  explain->add_option("--args", o->args, "Arguments of tools/call or prompts/get, a JSON object or @file")->type_name("JSON");
  explain
      ->add_option("--via-template", o->via_template,
                   "resources/*: the registered URI template that serves the URI, when no resource has it")
      ->type_name("TEMPLATE");
  explain
      ->add_option("--role-claim", o->role_claims,
                   "Dotted claim path holding roles, repeatable like the auth config's role_claims (default: roles)")
      ->type_name("PATH")
      ->allow_extra_args(false);
  explain->add_option("--shadow", o->shadow, "A shadow policy file, decided beside the enforced one")->type_name("FILE");
  explain->add_option("--resource", o->resource, "The MCP endpoint's resource URI, for the challenge's resource_metadata")
      ->capture_default_str()
      ->type_name("URI");
  explain->add_flag("--json", o->as_json, "Print one JSON object");
  explain->callback([o, &status] { status = run_explain(*o); });

  CLI::App* test = policy->add_subcommand("test", "Run the test cases of a CASES.yaml file against a policy file");
  test->add_option("FILE", o->file, "The policy file")->required()->type_name("FILE");
  test->add_option("CASES", o->cases, "The test cases (YAML: cases: [{name, claims, method, target, args, expect}])")
      ->required()
      ->type_name("CASES");
  test->add_option("--resource", o->resource, "The MCP endpoint's resource URI")->capture_default_str()->type_name("URI");
  test->callback([o, &status] { status = run_test(*o); });
}

}  // namespace jitgate::cli
