// Load-time validation: each bad file is refused with its file:line:column, warnings are kept apart.
#include <gtest/gtest.h>

#include "jitgate/policy/policy.hpp"

namespace jitgate::policy {
namespace {

struct Bad {
  const char* label;
  const char* yaml;
  const char* where;    // expected "file:line:col" prefix
  const char* message;  // expected substring
};

class Invalid : public ::testing::TestWithParam<Bad> {};

TEST_P(Invalid, IsRefusedWithItsPlace) {
  const Bad& b = GetParam();
  try {
    parse_policy(b.yaml, "p.yaml");
    FAIL() << b.label << ": accepted";
  } catch (const PolicyError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(std::string(b.where) + ": error: "), std::string::npos) << b.label << "\n" << what;
    EXPECT_NE(what.find(b.message), std::string::npos) << b.label << "\n" << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Policy, Invalid,
    ::testing::Values(
        Bad{"no version", "rules: []\n", "p.yaml:1:1", "version is required"},
        Bad{"wrong version", "version: 2\nrules: []\n", "p.yaml:1:10", "unsupported policy version '2'"},
        Bad{"unknown top-level field", "version: 1\nrulez: []\n", "p.yaml:2:1", "unknown field 'rulez'"},
        Bad{"unknown rule field", "version: 1\nrules:\n  - id: a\n    tools: [x]\n    scope: [s]\n", "p.yaml:5:5",
            "unknown field 'scope' in a rule"},
        Bad{"rule without id", "version: 1\nrules:\n  - tools: [x]\n", "p.yaml:3:5", "every rule needs an id"},
        Bad{"duplicate id", "version: 1\nrules:\n  - id: a\n    tools: [x]\n  - id: a\n    tools: [y]\n", "p.yaml:5:9",
            "duplicate rule id 'a'"},
        Bad{"no targets", "version: 1\nrules:\n  - id: a\n    scopes: [s]\n", "p.yaml:3:5", "names no tools"},
        Bad{"unknown tier", "version: 1\nrules:\n  - id: a\n    tier: gold\n    tools: [x]\n", "p.yaml:4:11",
            "tier 'gold', which does not exist"},
        Bad{"argument condition on a list-only action",
            "version: 1\nrules:\n  - id: a\n    resource_templates: ['x://{id}']\n    when:\n      - arg: /id\n        equals: 1\n",
            "p.yaml:6:7", "can never match: argument conditions apply to tools and prompts only"},
        Bad{"argument condition on a method", "version: 1\nrules:\n  - id: a\n    methods: [tools/list]\n    when: [{arg: /x, equals: 1}]\n",
            "p.yaml:5:11", "can never match"},
        Bad{"anonymous and signed in at once", "version: 1\nrules:\n  - id: a\n    anonymous: true\n    scopes: [s]\n    tools: [x]\n",
            "p.yaml:3:5", "can never match: it requires an anonymous caller and a signed-in one"},
        Bad{"bad regex", "version: 1\nrules:\n  - id: a\n    claims: {email: {regex: '('}}\n    tools: [x]\n", "p.yaml:4:29",
            "does not compile"},
        Bad{"two matchers", "version: 1\nrules:\n  - id: a\n    claims: {email: {glob: a, prefix: b}}\n    tools: [x]\n",
            "p.yaml:4:21", "exactly one of"},
        Bad{"bad pointer", "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: path, equals: 1}]\n", "p.yaml:5:18",
            "JSON pointer"},
        Bad{"bad effect", "version: 1\nrules:\n  - id: a\n    effect: maybe\n    tools: [x]\n", "p.yaml:4:13",
            "effect must be allow or deny"},
        Bad{"bad locked", "version: 1\nlocked: show\nrules: []\n", "p.yaml:2:9", "locked must be hide or advertise"},
        Bad{"bad template", "version: 1\nrules:\n  - id: a\n    resources: ['x://{']\n", "p.yaml:4:17", "not a valid URI template"},
        Bad{"yaml syntax", "version: 1\nrules: [\n", "p.yaml:3:1", ""}),
    [](const ::testing::TestParamInfo<Bad>& i) { return "case" + std::to_string(i.index); });

TEST(Validator, ReportsEveryErrorAtOnce) {
  try {
    parse_policy("version: 1\nrules:\n  - id: a\n    toolz: [x]\n  - id: b\n    tier: nope\n    tools: [y]\n", "p.yaml");
    FAIL();
  } catch (const PolicyError& e) {
    EXPECT_EQ(e.diagnostics().size(), 2u) << e.what();
  }
}

TEST(Validator, WarnsAboutUnusedTiersContradictionsAndCycles) {
  std::vector<Diagnostic> w;
  parse_policy(R"(version: 1
scope_hierarchy:
  a: [b]
  b: [a]
tiers:
  unused: {scopes: [x]}
rules:
  - id: allow-write
    scopes: [w]
    tools: [write]
  - id: deny-all
    effect: deny
    tools: ["*"]
)",
               "p.yaml", &w);
  std::string all;
  for (auto& d : w) all += d.to_string() + "\n";
  EXPECT_NE(all.find("p.yaml:6:3: warning: tier 'unused' is not used"), std::string::npos) << all;
  EXPECT_NE(all.find("p.yaml:8:5: warning: rule 'allow-write' can never allow: deny rule 'deny-all'"), std::string::npos) << all;
  EXPECT_NE(all.find("cycle"), std::string::npos) << all;
}

TEST(Validator, WarnsAboutPrimitivesThatDoNotExist) {
  auto p = parse_policy("version: 1\nrules:\n  - id: a\n    tools: [search, ghost, 'x_*']\n    prompts: [greet]\n", "p.yaml");
  Inventory inv;
  inv.tools = {"search", "x_1"};
  auto w = p->check(inv);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].to_string().find("no registered tool matches 'ghost'"), std::string::npos);
  EXPECT_NE(w[1].to_string().find("no registered prompt matches 'greet'"), std::string::npos);
}

}  // namespace
}  // namespace jitgate::policy
