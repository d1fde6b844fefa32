// Policy engine cost at 10, 100 and 1,000 rules over 1,000 tools: one invocation decision (allowed,
// and denied with a step-up hint), discovery filtering of all 1,000 tools (a tools/list), and
// prepare(). Targets (issue 5): median decision at most 1 us at 1,000 rules; filtering 1,000 tools in
// at most 200 us. Run pinned: taskset -c 1 build-bench/bin/policy_bench --benchmark_repetitions=5
// --benchmark_report_aggregates_only=true (BENCHMARKS.md).
#include <benchmark/benchmark.h>

#include <boost/json.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "jitgate/policy/policy.hpp"

namespace json = boost::json;
using namespace jitgate;
using namespace jitgate::policy;

namespace {

constexpr int kTools = 1000;
constexpr int kGroups = 100;  // 10 tools per group: group07_tool3
constexpr int kDomains = 10;  // scope domains d0..d9, each admin > write > read

std::string tool_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "group%02d_tool%d", i / (kTools / kGroups), i % (kTools / kGroups));
  return buf;
}

// A policy of exactly `n` rules: mostly exact tool names (every tool is named by one of them), ~10%
// group globs, and a few role rules, claim rules (glob and regex) and deny rules with argument
// conditions. Tiers carry the scopes; the scope hierarchy makes admin imply write imply read.
std::string make_policy(int n) {
  int n_glob = std::max(1, n / 10);
  int n_role = std::max(1, n / 100);
  int n_claim = std::max(2, n / 100);  // the first is a deny on every tool by e-mail glob
  int n_deny = std::max(1, n / 50);
  int n_exact = n - n_glob - n_role - n_claim - n_deny;
  std::string y = "version: 1\nlocked: hide\nscope_hierarchy:\n";
  for (int d = 0; d < kDomains; ++d) {
    std::string p = "d" + std::to_string(d);
    y += "  " + p + ":admin: [" + p + ":write]\n";
    y += "  " + p + ":write: [" + p + ":read]\n";
  }
  y += "tiers:\n  public: {}\n  signed_in: {authenticated: true}\n";
  for (int d = 0; d < kDomains; ++d) {
    std::string p = "d" + std::to_string(d);
    y += "  reader" + std::to_string(d) + ": {scopes: [" + p + ":read]}\n";
    y += "  writer" + std::to_string(d) + ": {scopes: [" + p + ":write]}\n";
    y += "  admin" + std::to_string(d) + ": {scopes: [" + p + ":admin], roles: [admin, root]}\n";
  }
  y += "rules:\n";
  // Exact rules: tool j belongs to rule j % n_exact.
  std::vector<std::vector<int>> owned(n_exact);
  for (int j = 0; j < kTools; ++j) owned[j % n_exact].push_back(j);
  for (int i = 0; i < n_exact; ++i) {
    int d = i % kDomains;
    std::string tier = i % 5 == 0 ? "signed_in" : (i % 2 ? "writer" : "reader") + std::to_string(d);
    y += "  - id: tools-" + std::to_string(i) + "\n    tier: " + tier + "\n    tools: [";
    for (std::size_t k = 0; k < owned[i].size(); ++k) y += (k ? ", " : "") + tool_name(owned[i][k]);
    y += "]\n";
  }
  for (int g = 0; g < n_glob; ++g) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "group%02d_*", g % kGroups);
    y += "  - id: group-" + std::to_string(g) + "-admins\n    tier: admin" + std::to_string((g + 3) % kDomains) +
         "\n    tools: [\"" + buf + "\"]\n";
  }
  for (int r = 0; r < n_role; ++r)
    y += "  - id: ops-" + std::to_string(r) + "\n    roles: [ops, sre]\n    scopes: [d" + std::to_string(r % kDomains) +
         ":write]\n    tools: [" + tool_name((r * 37 + 11) % kTools) + ", " + tool_name((r * 37 + 12) % kTools) + "]\n";
  y += "  - id: banned-domain\n    effect: deny\n    claims:\n      email: {glob: \"*@evil.example\"}\n    tools: [\"*\"]\n";
  for (int c = 1; c < n_claim; ++c)
    y += "  - id: tenant-" + std::to_string(c) + "\n    claims:\n      tenant: {regex: \"acme-[0-9]+\"}\n    tools: [" +
         tool_name((c * 53 + 7) % kTools) + "]\n";
  for (int d = 0; d < n_deny; ++d)
    y += "  - id: no-etc-" + std::to_string(d) + "\n    effect: deny\n    tools: [" + tool_name((d * 19 + 3) % kTools) + ", " +
         tool_name((d * 19 + 4) % kTools) + "]\n    when:\n      - arg: /path\n        glob: \"/etc/*\"\n";
  return y;
}

std::shared_ptr<auth::Principal> alice() {
  auto p = std::make_shared<auth::Principal>();
  p->issuer = "https://as.example";
  p->subject = "alice";
  p->client_id = "desktop-app";
  p->scopes = {"d0:write", "d2:read", "d4:admin", "d6:read", "openid", "profile"};
  p->roles = {"user"};
  p->claims = json::object{{"sub", "alice"}, {"email", "alice@example.com"}, {"tenant", "acme-42"}};
  return p;
}

struct Setup {
  std::shared_ptr<LocalPolicyEngine> engine;
  std::shared_ptr<const auth::Principal> who = alice();
  std::vector<std::string> tools;
  json::object args = json::object{{"path", "/home/alice/notes.txt"}, {"mode", "append"}};
  std::string allowed, step_up;  // the tools decided in (a) and (b)

  explicit Setup(int n) {
    auto policy = parse_policy(make_policy(n), "bench.yaml");
    if (policy->rule_count() != static_cast<std::size_t>(n)) throw std::runtime_error("rule count");
    engine = std::make_shared<LocalPolicyEngine>(policy);
    for (int j = 0; j < kTools; ++j) tools.push_back(tool_name(j));
    auto caller = engine->prepare(who);
    // From the middle of the list on: the first allowed tool, and the first denied one with a step-up hint.
    for (int k = 0; k < kTools && (allowed.empty() || step_up.empty()); ++k) {
      const auto& t = tools[(k + kTools / 2) % kTools];
      auto d = engine->decide(*caller, invocation(t));
      if (allowed.empty() && d.allowed()) allowed = t;
      if (step_up.empty() && !d.allowed() && d.remedy == Remedy::step_up) step_up = t;
    }
    if (allowed.empty() || step_up.empty()) throw std::runtime_error("no allowed or step-up tool");
  }
  Action invocation(std::string_view tool) const {
    return Action{Kind::tool, Phase::invocation, "tools/call", tool, {}, &args, nullptr};
  }
};

Setup& setup(int n) {
  static std::map<int, std::unique_ptr<Setup>> all;
  auto& s = all[n];
  if (!s) s = std::make_unique<Setup>(n);
  return *s;
}

// (a) The common case: a tools/call the caller may make.
void BM_DecideAllowed(benchmark::State& state) {
  Setup& s = setup(static_cast<int>(state.range(0)));
  auto caller = s.engine->prepare(s.who);
  Action a = s.invocation(s.allowed);
  for (auto _ : state) {
    Decision d = s.engine->decide(*caller, a);
    benchmark::DoNotOptimize(d);
  }
  state.SetLabel(s.allowed);
}

// (b) The slow path: denied, with the smallest scope set that would allow it.
void BM_DecideStepUp(benchmark::State& state) {
  Setup& s = setup(static_cast<int>(state.range(0)));
  auto caller = s.engine->prepare(s.who);
  Action a = s.invocation(s.step_up);
  for (auto _ : state) {
    Decision d = s.engine->decide(*caller, a);
    benchmark::DoNotOptimize(d);
  }
  auto d = s.engine->decide(*caller, a);
  std::string missing;
  for (const auto& m : d.missing) missing += (missing.empty() ? "" : " ") + m;
  state.SetLabel(s.step_up + " missing " + missing);
}

// (c) A tools/list: one prepared caller, a discovery decision per tool, 1,000 tools. With
// `locked: hide` (the default) the server asks for outcomes only (explain = false); with
// `locked: advertise` it needs the scopes of every locked entry (BM_FilterToolsAdvertise).
void filter_tools(benchmark::State& state, bool explain) {
  Setup& s = setup(static_cast<int>(state.range(0)));
  std::size_t listed = 0;
  for (auto _ : state) {
    auto caller = s.engine->prepare(s.who);
    listed = 0;
    for (const auto& t : s.tools) {
      Action a{Kind::tool, Phase::discovery, "tools/list", t, {}, nullptr, nullptr};
      a.explain = explain;
      listed += s.engine->decide(*caller, a).listed();
    }
    benchmark::DoNotOptimize(listed);
  }
  state.counters["listed"] = static_cast<double>(listed);
  state.SetItemsProcessed(state.iterations() * kTools);
}
void BM_FilterTools(benchmark::State& state) { filter_tools(state, false); }
void BM_FilterToolsAdvertise(benchmark::State& state) { filter_tools(state, true); }

// (d) prepare() alone: scope closure and role set of one caller.
void BM_Prepare(benchmark::State& state) {
  Setup& s = setup(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto caller = s.engine->prepare(s.who);
    benchmark::DoNotOptimize(caller);
  }
}

}  // namespace

BENCHMARK(BM_DecideAllowed)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_DecideStepUp)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_FilterTools)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FilterToolsAdvertise)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Prepare)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK_MAIN();
