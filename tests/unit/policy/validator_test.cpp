// Load-time validation: each bad file is refused with its file:line:column, warnings are kept apart.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "jitgate/policy/policy.hpp"

namespace jitgate::policy {
namespace {

namespace json = boost::json;

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
        Bad{"argument condition on a method",
            "version: 1\nrules:\n  - id: a\n    methods: [tools/list]\n    when: [{arg: /x, equals: 1}]\n", "p.yaml:5:11",
            "can never match"},
        Bad{"anonymous and signed in at once",
            "version: 1\nrules:\n  - id: a\n    anonymous: true\n    scopes: [s]\n    tools: [x]\n", "p.yaml:3:5",
            "can never match: it requires an anonymous caller and a signed-in one"},
        Bad{"bad regex", "version: 1\nrules:\n  - id: a\n    claims: {email: {regex: '('}}\n    tools: [x]\n", "p.yaml:4:29",
            "does not compile"},
        Bad{"two matchers", "version: 1\nrules:\n  - id: a\n    claims: {email: {glob: a, prefix: b}}\n    tools: [x]\n",
            "p.yaml:4:21", "exactly one of"},
        Bad{"bad pointer", "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: path, equals: 1}]\n", "p.yaml:5:18",
            "JSON pointer"},
        Bad{"bad effect", "version: 1\nrules:\n  - id: a\n    effect: maybe\n    tools: [x]\n", "p.yaml:4:13",
            "effect must be allow or deny"},
        Bad{"bad locked", "version: 1\nlocked: show\nrules: []\n", "p.yaml:2:9", "locked must be hide or advertise"},
        Bad{"bad template", "version: 1\nrules:\n  - id: a\n    resources: ['x://{']\n", "p.yaml:4:17",
            "not a valid URI template"},
        Bad{"path base not absolute",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, path: {within: home}}]\n", "p.yaml:5:37",
            "must be an absolute path"},
        Bad{"path base with ..",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, path: {within: /a/../b}}]\n", "p.yaml:5:37",
            "without '.' or '..' segments"},
        Bad{"path base with a backslash",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, path: {within: '/a\\b'}}]\n", "p.yaml:5:37",
            "is not a path a call could be compared with"},
        Bad{"path base with a percent escape",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, path: {equals: /a%2e}}]\n", "p.yaml:5:37",
            "is not a path a call"},
        Bad{"path with an empty list",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, path: {within: []}}]\n", "p.yaml:5:37",
            "must name at least one path"},
        Bad{"path with an unknown field",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, path: {under: /a}}]\n", "p.yaml:5:29",
            "unknown field 'under' in rule 'a'.when /p.path (expected within or equals)"},
        Bad{"path with nothing", "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, path: {}}]\n",
            "p.yaml:5:28", "exactly one of within, equals"},
        Bad{"path with both",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, path: {within: /a, equals: /b}}]\n",
            "p.yaml:5:28", "exactly one of within, equals"},
        Bad{"path as a scalar", "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, path: /home}]\n",
            "p.yaml:5:28", "must be a mapping with within or equals"},
        Bad{"all and any at once",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, all: {prefix: a}, any: {prefix: b}}]\n",
            "p.yaml:5:40", "one of all, any, not both"},
        Bad{"or_empty with any",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, any: {prefix: a}, or_empty: true}]\n",
            "p.yaml:5:40", "or_empty goes with all"},
        Bad{"or_empty without all",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, prefix: a, or_empty: true}]\n", "p.yaml:5:33",
            "or_empty goes with all"},
        Bad{"or_empty not a boolean",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, all: {prefix: a}, or_empty: maybe}]\n",
            "p.yaml:5:50", "or_empty must be true or false"},
        Bad{"all nested in all",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, all: {all: {prefix: a}}}]\n", "p.yaml:5:28",
            "cannot be used inside all or any"},
        Bad{"unknown field in all",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, all: {prefix: a, zz: 1}}]\n", "p.yaml:5:39",
            "unknown field 'zz'"},
        Bad{"all with a bad matcher", "version: 1\nrules:\n  - id: a\n    tools: [x]\n    when: [{arg: /p, all: {regex: '('}}]\n",
            "p.yaml:5:35", "does not compile"},
        Bad{"unknown field beside all in a claim",
            "version: 1\nrules:\n  - id: a\n    tools: [x]\n    claims: {g: {all: {in: [a]}, extra: 1}}\n", "p.yaml:5:34",
            "unknown field 'extra' in rule 'a'.claims.g"},
        Bad{"bad path in a claim", "version: 1\nrules:\n  - id: a\n    tools: [x]\n    claims: {g: {path: {within: rel}}}\n",
            "p.yaml:5:33", "must be an absolute path"},
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

TEST(Validator, WarnsAboutRawTextMatchersOnPathArguments) {
  std::vector<Diagnostic> w;
  parse_policy(R"(version: 1
rules:
  - id: raw
    tools: [t]
    when:
      - {arg: /folder, prefix: /home/}
      - {arg: /file_path, glob: "/srv/*"}
      - {arg: /options/srcDir, regex: "/srv/.*"}
      - {arg: /paths/0, all: {prefix: /x/}}
      - {arg: /name, prefix: a}
      - {arg: /path, equals: /home/a}
      - {arg: /dir, path: {within: /home}}
  - id: deny-raw
    effect: deny
    tools: [t]
    when: [{arg: /target, in: [/etc/passwd]}]
)",
               "p.yaml", &w);
  std::string all;
  for (auto& d : w) all += d.to_string() + "\n";
  EXPECT_NE(all.find("p.yaml:6:9: warning: rule 'raw': /folder looks like a path, and prefix compares its raw text"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("p.yaml:7:9: warning: rule 'raw': /file_path looks like a path, and glob"), std::string::npos) << all;
  EXPECT_NE(all.find("p.yaml:8:9: warning: rule 'raw': /options/srcDir looks like a path, and regex"), std::string::npos) << all;
  EXPECT_NE(all.find("p.yaml:9:9: warning: rule 'raw': /paths/0 looks like a path"), std::string::npos) << all;
  EXPECT_NE(all.find("p.yaml:16:12: warning: rule 'deny-raw': /target looks like a path, and in"), std::string::npos) << all;
  EXPECT_EQ(all.find("/name"), std::string::npos) << all;        // not a path name
  EXPECT_EQ(all.find("/path looks"), std::string::npos) << all;  // equals in an allow rule fails closed
  EXPECT_EQ(all.find("/dir looks"), std::string::npos) << all;   // the path matcher
  EXPECT_EQ(w.size(), 5u) << all;
}

TEST(Validator, WarnsAboutRawTextMatchersOnArgumentsTheSchemaCallsPaths) {
  auto p = parse_policy(R"(version: 1
rules:
  - id: by-schema
    tools: [list, "other_*"]
    when:
      - {arg: /where, prefix: /home/}
      - {arg: /loc, glob: "/srv/*"}
      - {arg: /items/0/at, prefix: /x/}
      - {arg: /mode, prefix: r}
)",
                        "p.yaml");
  Inventory inv;
  inv.tools = {"list", "other_1"};
  inv.tool_schemas.emplace_back("list", json::parse(R"({"type":"object","properties":{
      "where":{"type":"string","description":"Directory to list"},
      "loc":{"type":"string","format":"file-path"},
      "items":{"type":"array","items":{"type":"object","properties":{"at":{"type":"string","description":"The path of the item"}}}},
      "mode":{"type":"string","description":"Read mode, not a pathway"}}})")
                                            .as_object());
  inv.tool_schemas.emplace_back("unrelated", json::parse(R"({"properties":{"mode":{"format":"path"}}})").as_object());
  auto w = p->check(inv);
  std::string all;
  for (auto& d : w) all += d.to_string() + "\n";
  EXPECT_NE(all.find("p.yaml:6:9: warning: rule 'by-schema': tool 'list' describes /where as a path"), std::string::npos) << all;
  EXPECT_NE(all.find("p.yaml:7:9: warning: rule 'by-schema': tool 'list' describes /loc as a path"), std::string::npos) << all;
  EXPECT_NE(all.find("p.yaml:8:9: warning: rule 'by-schema': tool 'list' describes /items/0/at as a path"), std::string::npos)
      << all;
  EXPECT_EQ(all.find("/mode"), std::string::npos) << all;
  EXPECT_EQ(w.size(), 3u) << all;
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
