// Table-driven tests of the policy engine: decisions, deny-wins, default deny, discovery vs
// invocation, scope hints with the hierarchy, declared requirements, shadow mode.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>

#include "jitgate/policy/policy.hpp"
#include "policy/compiled.hpp"

namespace jitgate::policy {
namespace {

namespace json = boost::json;

const char* kPolicy = R"(
version: 1
locked: advertise
scope_hierarchy:
  files:write: [files:read]
  files:admin: [files:write]
tiers:
  public: {}
  signed_in: {authenticated: true, scopes: [files:read]}
  writer: {scopes: [files:write]}
  admin: {scopes: [files:admin], roles: [admin, root]}
rules:
  - id: public-search
    tier: public
    tools: [search, "echo_*"]
  - id: read-files
    tier: signed_in
    tools: [read_file, list_dir]
    resources: ["file:///docs/*", "notes://{user}/items/{id}"]
  - id: write-files
    tier: writer
    tools: [write_file, move_file]
  - id: write-home-only
    tier: writer
    tools: [write_home]
    when:
      - arg: /path
        prefix: /home/
  - id: admin-tools
    tier: admin
    tools: ["admin_*"]
  - id: no-etc
    effect: deny
    tools: [write_file]
    when:
      - arg: /path
        glob: "/etc/*"
  - id: banned-users
    effect: deny
    claims:
      email: {glob: "*@evil.example"}
    tools: ["*"]
  - id: staff-only
    claims:
      groups: {in: [staff]}
    tools: [staff_tool]
  - id: ci-client
    client_id: [ci-bot]
    tools: [deploy]
  - id: regex-tenant
    claims:
      tenant: {regex: "acme-[0-9]+"}
    prompts: [tenant_prompt]
  - id: completions
    authenticated: true
    methods: [completion/complete]
  - id: tpl
    tier: signed_in
    resource_templates: ["notes://{user}/items/{id}"]
)";

std::shared_ptr<auth::Principal> who(std::string subject, std::set<std::string, std::less<>> scopes = {},
                                     std::set<std::string, std::less<>> roles = {}, json::object claims = {},
                                     std::string client = "app") {
  auto p = std::make_shared<auth::Principal>();
  p->issuer = "https://as.example";
  p->subject = std::move(subject);
  p->scopes = std::move(scopes);
  p->roles = std::move(roles);
  p->claims = std::move(claims);
  p->client_id = std::move(client);
  return p;
}

struct Case {
  const char* label;
  std::shared_ptr<auth::Principal> caller;  // null: anonymous
  Kind kind;
  const char* name;
  const char* args;  // JSON or null for discovery
  Outcome outcome;
  const char* rule;
  Remedy remedy;
  std::vector<std::string> scopes;
  std::vector<std::string> missing;
};

class EngineTable : public ::testing::TestWithParam<Case> {};

TEST_P(EngineTable, Decides) {
  static auto engine = std::make_shared<LocalPolicyEngine>(parse_policy(kPolicy, "test.yaml"));
  const Case& c = GetParam();
  json::object args;
  Action a;
  a.kind = c.kind;
  a.name = c.name;
  a.method = c.kind == Kind::tool       ? "tools/call"
             : c.kind == Kind::prompt   ? "prompts/get"
             : c.kind == Kind::resource ? "resources/read"
                                        : c.name;
  if (c.args) {
    args = json::parse(c.args).as_object();
    a.arguments = &args;
    a.phase = Phase::invocation;
  } else {
    a.phase = c.kind == Kind::method ? Phase::invocation : Phase::discovery;
  }
  Decision d = engine->decide(c.caller, a);
  EXPECT_EQ(to_string(d.outcome), to_string(c.outcome)) << c.label;
  EXPECT_EQ(d.rule, c.rule) << c.label;
  EXPECT_EQ(static_cast<int>(d.remedy), static_cast<int>(c.remedy)) << c.label;
  EXPECT_EQ(d.scopes, c.scopes) << c.label;
  EXPECT_EQ(d.missing, c.missing) << c.label;
}

const auto kEvil = json::object{{"email", "mallory@evil.example"}};
const auto kStaff = json::object{{"groups", json::array{"dev", "staff"}}};

INSTANTIATE_TEST_SUITE_P(
    Policy, EngineTable,
    ::testing::Values(
        Case{"anonymous public tool", nullptr, Kind::tool, "search", "{}", Outcome::allow, "public-search", Remedy::none, {}, {}},
        Case{"glob public tool", nullptr, Kind::tool, "echo_loud", "{}", Outcome::allow, "public-search", Remedy::none, {}, {}},
        Case{"anonymous signed-in tool: 401 naming its scope",
             nullptr,
             Kind::tool,
             "read_file",
             "{}",
             Outcome::deny,
             "default",
             Remedy::authenticate,
             {"files:read"},
             {"files:read"}},
        Case{"signed in reads",
             who("alice", {"files:read"}),
             Kind::tool,
             "read_file",
             "{}",
             Outcome::allow,
             "read-files",
             Remedy::none,
             {},
             {}},
        Case{"signed-in caller on a writer tool: step up to files:write only",
             who("alice", {"files:read"}),
             Kind::tool,
             "write_file",
             R"({"path":"/home/a"})",
             Outcome::deny,
             "default",
             Remedy::step_up,
             {"files:write"},
             {"files:write"}},
        Case{"hierarchy: files:admin implies read",
             who("bob", {"files:admin"}),
             Kind::tool,
             "read_file",
             "{}",
             Outcome::allow,
             "read-files",
             Remedy::none,
             {},
             {}},
        Case{"hierarchy: files:admin implies write",
             who("bob", {"files:admin"}),
             Kind::tool,
             "move_file",
             "{}",
             Outcome::allow,
             "write-files",
             Remedy::none,
             {},
             {}},
        Case{"deny wins on arguments",
             who("bob", {"files:write"}),
             Kind::tool,
             "write_file",
             R"({"path":"/etc/passwd"})",
             Outcome::deny,
             "no-etc",
             Remedy::none,
             {},
             {}},
        Case{"argument condition holds",
             who("bob", {"files:write"}),
             Kind::tool,
             "write_home",
             R"({"path":"/home/bob/x"})",
             Outcome::allow,
             "write-home-only",
             Remedy::none,
             {},
             {}},
        Case{"argument condition fails: no scope helps",
             who("bob", {"files:write"}),
             Kind::tool,
             "write_home",
             R"({"path":"/tmp/x"})",
             Outcome::deny,
             "default",
             Remedy::none,
             {},
             {}},
        Case{"argument missing",
             who("bob", {"files:write"}),
             Kind::tool,
             "write_home",
             R"({})",
             Outcome::deny,
             "default",
             Remedy::none,
             {},
             {}},
        Case{"discovery of a conditional tool",
             who("bob", {"files:write"}),
             Kind::tool,
             "write_home",
             nullptr,
             Outcome::conditional,
             "write-home-only",
             Remedy::none,
             {},
             {}},
        Case{"discovery of write_file with a conditional deny",
             who("bob", {"files:write"}),
             Kind::tool,
             "write_file",
             nullptr,
             Outcome::conditional,
             "write-files",
             Remedy::none,
             {},
             {}},
        Case{"role rule: scope without role gets no hint",
             who("carol", {"files:admin"}),
             Kind::tool,
             "admin_reset",
             "{}",
             Outcome::deny,
             "default",
             Remedy::none,
             {},
             {}},
        Case{"role rule: role without scope gets the scope",
             who("carol", {"files:read"}, {"root"}),
             Kind::tool,
             "admin_reset",
             "{}",
             Outcome::deny,
             "default",
             Remedy::step_up,
             {"files:admin"},
             {"files:admin"}},
        Case{"role rule: both",
             who("carol", {"files:admin"}, {"admin"}),
             Kind::tool,
             "admin_reset",
             "{}",
             Outcome::allow,
             "admin-tools",
             Remedy::none,
             {},
             {}},
        Case{"claim deny beats every allow",
             who("mallory", {"files:admin"}, {}, kEvil),
             Kind::tool,
             "search",
             "{}",
             Outcome::deny,
             "banned-users",
             Remedy::none,
             {},
             {}},
        Case{"claim in over an array claim",
             who("dan", {}, {}, kStaff),
             Kind::tool,
             "staff_tool",
             "{}",
             Outcome::allow,
             "staff-only",
             Remedy::none,
             {},
             {}},
        Case{"claim missing", who("erin"), Kind::tool, "staff_tool", "{}", Outcome::deny, "default", Remedy::none, {}, {}},
        Case{"client id",
             who("svc", {}, {}, {}, "ci-bot"),
             Kind::tool,
             "deploy",
             "{}",
             Outcome::allow,
             "ci-client",
             Remedy::none,
             {},
             {}},
        Case{"other client id",
             who("svc", {}, {}, {}, "laptop"),
             Kind::tool,
             "deploy",
             "{}",
             Outcome::deny,
             "default",
             Remedy::none,
             {},
             {}},
        Case{"regex claim",
             who("t", {}, {}, json::object{{"tenant", "acme-42"}}),
             Kind::prompt,
             "tenant_prompt",
             "{}",
             Outcome::allow,
             "regex-tenant",
             Remedy::none,
             {},
             {}},
        Case{"regex is a full match",
             who("t", {}, {}, json::object{{"tenant", "acme-42x"}}),
             Kind::prompt,
             "tenant_prompt",
             "{}",
             Outcome::deny,
             "default",
             Remedy::none,
             {},
             {}},
        Case{"unknown tool: default deny",
             who("alice", {"files:admin"}),
             Kind::tool,
             "nope",
             "{}",
             Outcome::deny,
             "default",
             Remedy::none,
             {},
             {}},
        Case{"resource glob",
             who("alice", {"files:read"}),
             Kind::resource,
             "file:///docs/a.md",
             nullptr,
             Outcome::allow,
             "read-files",
             Remedy::none,
             {},
             {}},
        Case{"resource glob anonymous",
             nullptr,
             Kind::resource,
             "file:///docs/a.md",
             nullptr,
             Outcome::deny,
             "default",
             Remedy::authenticate,
             {"files:read"},
             {"files:read"}},
        Case{"resource template pattern",
             who("alice", {"files:read"}),
             Kind::resource,
             "notes://alice/items/7",
             nullptr,
             Outcome::allow,
             "read-files",
             Remedy::none,
             {},
             {}},
        Case{"template pattern is one segment per variable",
             who("alice", {"files:read"}),
             Kind::resource,
             "notes://alice/items/7/x",
             nullptr,
             Outcome::deny,
             "default",
             Remedy::none,
             {},
             {}},
        Case{"resource template listing",
             who("alice", {"files:read"}),
             Kind::resource_template,
             "notes://{user}/items/{id}",
             nullptr,
             Outcome::allow,
             "tpl",
             Remedy::none,
             {},
             {}},
        Case{"method named by a rule",
             nullptr,
             Kind::method,
             "completion/complete",
             nullptr,
             Outcome::deny,
             "default",
             Remedy::authenticate,
             {},
             {}},
        Case{"method named by a rule, signed in",
             who("alice"),
             Kind::method,
             "completion/complete",
             nullptr,
             Outcome::allow,
             "completions",
             Remedy::none,
             {},
             {}},
        Case{"method no rule names",
             nullptr,
             Kind::method,
             "ping",
             nullptr,
             Outcome::allow,
             "unrestricted-method",
             Remedy::none,
             {},
             {}}),
    [](const ::testing::TestParamInfo<Case>& i) { return "case" + std::to_string(i.index); });

// Least privilege: when several allow rules would admit a call, the hint names the one with the
// fewest missing scopes; among those, the one whose new grant (with the hierarchy) is within the
// others', whatever the file's order; then file order.
const char* kLeastPrivilege = R"(
version: 1
locked: advertise
scope_hierarchy:
  x:admin: [x:write]
  x:write: [x:read]
  super: [p, q]
tiers:
  ys: {scopes: [y:read]}
rules:
  - id: admin-everything
    scopes: [x:admin]
    tools: ["*"]
  - id: read
    scopes: [x:read]
    tools: [read, both_x]
  - id: write
    scopes: [x:write]
    tools: [write, both_x]
  - id: y-first
    scopes: [y:read]
    tools: [either]
  - id: x-second
    scopes: [x:read]
    tools: [either]
  - id: super
    scopes: [super]
    tools: [pq]
  - id: p-and-q
    scopes: [p, q]
    tools: [pq]
  - id: readers-by-role
    roles: [reader]
    scopes: [x:read]
    tools: [roled]
  - id: staff-by-claim
    claims: {groups: staff}
    scopes: [x:read]
    tools: [staffed]
  - id: tiered-write
    tier: ys
    scopes: [x:write]
    tools: [tiered]
  - id: signed-in
    authenticated: true
    tools: [signin]
  - id: no-admin-purge
    effect: deny
    scopes: [x:admin]
    tools: [purge, pq]
  - id: purge-writers
    scopes: [x:write]
    tools: [purge]
)";

struct Hinted {
  const char* label;
  std::shared_ptr<auth::Principal> caller;  // null: anonymous
  const char* tool;
  Phase phase;
  Remedy remedy;
  std::vector<std::string> scopes, missing;
  const char* tier;
};

class LeastPrivilege : public ::testing::TestWithParam<Hinted> {};

// The same rules in the opposite order: only ties between unrelated scopes may change.
std::string reversed_rules(const std::string& yaml) {
  auto at = yaml.find("rules:\n") + 7;
  std::vector<std::string> rules;
  for (std::size_t i = at; i < yaml.size();) {
    std::size_t next = yaml.find("\n  - ", i + 1);
    next = next == std::string::npos ? yaml.size() : next + 1;
    rules.push_back(yaml.substr(i, next - i));
    i = next;
  }
  std::string out = yaml.substr(0, at);
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) out += *it;
  return out;
}

TEST_P(LeastPrivilege, NamesTheSmallestGrant) {
  const Hinted& h = GetParam();
  for (bool reverse : {false, true}) {
    if (reverse && std::string_view(h.label).starts_with("tie")) continue;
    std::string text = reverse ? reversed_rules(kLeastPrivilege) : kLeastPrivilege;
    auto engine = std::make_shared<LocalPolicyEngine>(parse_policy(text, "lp.yaml"));
    json::object args;
    Action a{Kind::tool, h.phase, h.phase == Phase::discovery ? "tools/list" : "tools/call",
             h.tool,     {},      h.phase == Phase::invocation ? &args : nullptr,
             nullptr};
    Decision d = engine->decide(h.caller, a);
    std::string where = std::string(h.label) + (reverse ? " (rules reversed)" : "");
    EXPECT_EQ(d.outcome, Outcome::deny) << where;
    EXPECT_EQ(static_cast<int>(d.remedy), static_cast<int>(h.remedy)) << where;
    EXPECT_EQ(d.scopes, h.scopes) << where;
    EXPECT_EQ(d.missing, h.missing) << where;
    EXPECT_EQ(d.tier, h.tier) << where;
    EXPECT_EQ(d.unlockable, !h.scopes.empty() || h.remedy == Remedy::authenticate) << where;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Policy, LeastPrivilege,
    ::testing::Values(
        Hinted{"anonymous read tool: x:read, not the admin rule listed first",
               nullptr,
               "read",
               Phase::invocation,
               Remedy::authenticate,
               {"x:read"},
               {"x:read"},
               ""},
        Hinted{"advertised requiredScopes of a read tool",
               nullptr,
               "read",
               Phase::discovery,
               Remedy::authenticate,
               {"x:read"},
               {"x:read"},
               ""},
        Hinted{"signed in with an unrelated scope",
               who("u", {"y:read"}),
               "read",
               Phase::invocation,
               Remedy::step_up,
               {"x:read"},
               {"x:read"},
               ""},
        Hinted{"write tool: x:write", nullptr, "write", Phase::invocation, Remedy::authenticate, {"x:write"}, {"x:write"}, ""},
        Hinted{"reader steps up to x:write only",
               who("u", {"x:read"}),
               "write",
               Phase::invocation,
               Remedy::step_up,
               {"x:write"},
               {"x:write"},
               ""},
        Hinted{"advertised to a reader: x:write",
               who("u", {"x:read"}),
               "write",
               Phase::discovery,
               Remedy::step_up,
               {"x:write"},
               {"x:write"},
               ""},
        Hinted{"two rules on one tool: the implied one",
               nullptr,
               "both_x",
               Phase::invocation,
               Remedy::authenticate,
               {"x:read"},
               {"x:read"},
               ""},
        Hinted{"only the admin rule: x:admin",
               who("u", {"x:write"}),
               "other",
               Phase::invocation,
               Remedy::step_up,
               {"x:admin"},
               {"x:admin"},
               ""},
        Hinted{"tie between unrelated scopes: file order",
               nullptr,
               "either",
               Phase::invocation,
               Remedy::authenticate,
               {"y:read"},
               {"y:read"},
               ""},
        Hinted{"fewest missing first: one scope implying two beats the two",
               nullptr,
               "pq",
               Phase::invocation,
               Remedy::authenticate,
               {"super"},
               {"super"},
               ""},
        Hinted{"a role rule is not a candidate for anonymous callers",
               nullptr,
               "roled",
               Phase::invocation,
               Remedy::authenticate,
               {"x:admin"},
               {"x:admin"},
               ""},
        Hinted{"nor for a caller without the role",
               who("u"),
               "roled",
               Phase::invocation,
               Remedy::step_up,
               {"x:admin"},
               {"x:admin"},
               ""},
        Hinted{"with the role it is",
               who("u", {}, {"reader"}),
               "roled",
               Phase::invocation,
               Remedy::step_up,
               {"x:read"},
               {"x:read"},
               ""},
        Hinted{"a claim rule the caller does not meet is not a candidate",
               who("u", {}, {}, json::object{{"groups", json::array{"dev"}}}),
               "staffed",
               Phase::invocation,
               Remedy::step_up,
               {"x:admin"},
               {"x:admin"},
               ""},
        Hinted{"a claim rule the caller meets",
               who("u", {}, {}, json::object{{"groups", json::array{"dev", "staff"}}}),
               "staffed",
               Phase::invocation,
               Remedy::step_up,
               {"x:read"},
               {"x:read"},
               ""},
        Hinted{"every scope of the chosen rule, tier included; missing what the caller lacks",
               who("u", {"y:read"}),
               "tiered",
               Phase::invocation,
               Remedy::step_up,
               {"x:write", "y:read"},
               {"x:write"},
               "ys"},
        Hinted{"signing in alone beats any scope", nullptr, "signin", Phase::invocation, Remedy::authenticate, {}, {}, ""},
        Hinted{"a candidate a deny rule would refuse is skipped",
               who("u", {"x:read"}),
               "purge",
               Phase::invocation,
               Remedy::step_up,
               {"x:write"},
               {"x:write"},
               ""}),
    [](const ::testing::TestParamInfo<Hinted>& i) { return "case" + std::to_string(i.index); });

// Arrays in conditions: an allow rule needs every element, a deny rule is triggered by any one; all:
// and any: say it explicitly. The path matcher normalizes, and what it cannot judge fails closed.
const char* kArrays = R"(
version: 1
rules:
  - id: read-home
    tools: [read]
    when: [{arg: /paths, path: {within: /home}}]
  - id: raw-home
    tools: [raw]
    when: [{arg: /files, prefix: /home/}]
  - id: grep-any
    tools: [grep]
    when: [{arg: /paths, any: {prefix: /home/}}]
  - id: copy-tmp
    tools: [copy]
    when: [{arg: /paths, all: {path: {within: [/tmp, /var/tmp]}}, or_empty: true}]
  - id: tag
    tools: [tag]
    when: [{arg: /tags, in: [a, b]}]
  - id: exact
    tools: [exact]
    when: [{arg: /file, path: {equals: /etc/motd}}]
  - id: open
    tools: [open]
  - id: no-secret
    effect: deny
    tools: [open]
    when: [{arg: /tags, equals: secret}]
  - id: no-etc
    effect: deny
    tools: [open]
    when: [{arg: /paths, path: {within: /etc}}]
  - id: no-all-x
    effect: deny
    tools: [open]
    when: [{arg: /flags, all: {equals: x}}]
  - id: group-members
    claims: {groups: {all: {in: [dev, staff]}}}
    tools: [members]
  - id: banned-group
    effect: deny
    claims: {groups: banned}
    tools: [open, members]
  - id: no-root-workdir
    effect: deny
    claims: {workdir: {path: {within: /root}}}
    tools: [open]
)";

struct ArgCase {
  const char* tool;
  const char* args;
  const char* rule;  // the deciding rule ("default": denied)
  json::object claims = {};
};

class Arrays : public ::testing::TestWithParam<ArgCase> {};

TEST_P(Arrays, AreJudgedByTheRulesEffect) {
  static auto engine = std::make_shared<LocalPolicyEngine>(parse_policy(kArrays, "arrays.yaml"));
  const ArgCase& c = GetParam();
  json::object args = json::parse(c.args).as_object();
  Action a{Kind::tool, Phase::invocation, "tools/call", c.tool, {}, &args, nullptr};
  auto p = who("alice");
  p->claims = c.claims;
  EXPECT_EQ(engine->decide(p, a).rule, c.rule) << c.tool << " " << c.args << " " << json::serialize(c.claims);
}

INSTANTIATE_TEST_SUITE_P(
    Policy, Arrays,
    ::testing::Values(
        // allow: every element
        ArgCase{"raw", R"({"files":["/home/a","/etc/passwd"]})", "default"},
        ArgCase{"raw", R"({"files":["/home/a","/home/b"]})", "raw-home"}, ArgCase{"raw", R"({"files":[]})", "default"},
        ArgCase{"raw", R"({"files":"/home/a"})", "raw-home"}, ArgCase{"tag", R"({"tags":["a","b"]})", "tag"},
        ArgCase{"tag", R"({"tags":["a","c"]})", "default"}, ArgCase{"tag", R"({"tags":[]})", "default"},
        ArgCase{"tag", R"({"tags":[["a"],"b"]})", "tag"}, ArgCase{"tag", R"({"tags":[["a","c"]]})", "default"},
        ArgCase{"tag", R"({"tags":[{"x":"a"}]})", "default"}, ArgCase{"tag", R"({"tags":[[]]})", "default"},
        // the path matcher
        ArgCase{"read", R"({"paths":"/home"})", "read-home"}, ArgCase{"read", R"({"paths":"/home/a/b.txt"})", "read-home"},
        ArgCase{"read", R"({"paths":"/home//a/./b/"})", "read-home"}, ArgCase{"read", R"({"paths":"/homework/x"})", "default"},
        ArgCase{"read", R"({"paths":"/home/../etc/passwd"})", "default"},
        ArgCase{"read", R"({"paths":"/home/a/../../etc"})", "default"},
        ArgCase{"read", R"({"paths":"/home/a/../b"})", "read-home"},
        ArgCase{"read", R"({"paths":"/home/../../home/a"})", "default"},  // above the root: not judged
        ArgCase{"read", R"({"paths":"home/a"})", "default"}, ArgCase{"read", R"({"paths":"./home/a"})", "default"},
        ArgCase{"read", R"({"paths":"/home/a\u0000/x"})", "default"},
        ArgCase{"read", R"({"paths":"/home/a\\..\\..\\etc"})", "default"},
        ArgCase{"read", R"({"paths":"/home/%2e%2e/etc"})", "default"},
        ArgCase{"read", R"({"paths":"/home/100%/x"})", "read-home"}, ArgCase{"read", R"({"paths":42})", "default"},
        ArgCase{"read", R"({"paths":["/home/a","/home/b"]})", "read-home"},
        ArgCase{"read", R"({"paths":["/home/a","/home/../etc"]})", "default"},
        ArgCase{"read", R"({"paths":["/home/a",7]})", "default"}, ArgCase{"read", R"({"paths":[]})", "default"},
        ArgCase{"exact", R"({"file":"/etc//motd"})", "exact"}, ArgCase{"exact", R"({"file":"/etc/motd/x"})", "default"},
        // any: and all: with or_empty
        ArgCase{"grep", R"({"paths":["/etc","/home/x"]})", "grep-any"}, ArgCase{"grep", R"({"paths":["/etc"]})", "default"},
        ArgCase{"grep", R"({"paths":[]})", "default"}, ArgCase{"copy", R"({"paths":[]})", "copy-tmp"},
        ArgCase{"copy", R"({"paths":["/tmp/a","/var/tmp/b"]})", "copy-tmp"},
        ArgCase{"copy", R"({"paths":["/tmp/../etc"]})", "default"}, ArgCase{"copy", R"({"paths":"/tmp/a"})", "copy-tmp"},
        // deny: any element triggers, and what the path matcher cannot judge triggers too
        ArgCase{"open", R"({"tags":["x","secret"]})", "no-secret"},
        ArgCase{"open", R"({"tags":[["x",["secret"]]]})", "no-secret"}, ArgCase{"open", R"({"tags":["x",1]})", "open"},
        ArgCase{"open", R"({"paths":["/home/x","/home/../etc/passwd"]})", "no-etc"},
        ArgCase{"open", R"({"paths":"/etc"})", "no-etc"}, ArgCase{"open", R"({"paths":["/home/x","etc/passwd"]})", "no-etc"},
        ArgCase{"open", R"({"paths":"/../etc"})", "no-etc"}, ArgCase{"open", R"({"paths":{"p":"/etc"}})", "no-etc"},
        ArgCase{"open", R"({"paths":["/home/x","/etcetera"]})", "open"}, ArgCase{"open", R"({"paths":[]})", "open"},
        ArgCase{"open", R"({"flags":["x","x"]})", "no-all-x"}, ArgCase{"open", R"({"flags":["x","y"]})", "open"},
        ArgCase{"open", R"({"flags":[]})", "open"},
        // claims: one element for a plain matcher, in allow and deny rules; all: when said
        ArgCase{"members", "{}", "group-members", json::object{{"groups", json::array{"dev", "staff"}}}},
        ArgCase{"members", "{}", "default", json::object{{"groups", json::array{"dev", "root"}}}},
        ArgCase{"members", "{}", "default", json::object{{"groups", json::array{}}}},
        ArgCase{"members", "{}", "banned-group", json::object{{"groups", json::array{"dev", "banned"}}}},
        ArgCase{"open", "{}", "no-root-workdir", json::object{{"workdir", "/root/../root/x"}}},
        ArgCase{"open", "{}", "no-root-workdir", json::object{{"workdir", 5}}},
        ArgCase{"open", "{}", "open", json::object{{"workdir", "/home/a"}}}),
    [](const ::testing::TestParamInfo<ArgCase>& i) { return "case" + std::to_string(i.index); });

TEST(Path, Normalizes) {
  struct N {
    std::string in;
    std::optional<std::vector<std::string>> out;
  };
  using V = std::vector<std::string>;
  for (const auto& n : {N{"/", V{}},
                        N{"/home", V{"home"}},
                        N{"/home/", V{"home"}},
                        N{"//home//a/./b/", V{"home", "a", "b"}},
                        N{"/home/../etc", V{"etc"}},
                        N{"/a/b/../../c", V{"c"}},
                        N{"/..", std::nullopt},
                        N{"/home/../../x", std::nullopt},
                        N{"home", std::nullopt},
                        N{"", std::nullopt},
                        N{"./x", std::nullopt},
                        N{"~/x", std::nullopt},
                        N{"C:/x", std::nullopt},
                        N{"/a\\b", std::nullopt},
                        N{std::string("/a\0b", 4), std::nullopt},
                        N{"/a%2e%2e", std::nullopt},
                        N{"/a%2F", std::nullopt},
                        N{"/a%zz", V{"a%zz"}},
                        N{"/a%2", V{"a%2"}},
                        N{"/a/...", V{"a", "..."}}})
    EXPECT_EQ(normalize_path(n.in), n.out) << n.in;
}

TEST(Engine, ArgumentConditionsOnSharedAndEscapedPointers) {
  // Rules that test the same argument share one lookup per decision: each still decides by its own
  // matcher, whatever the value's type, and escaped pointers name their own keys.
  auto engine = std::make_shared<LocalPolicyEngine>(parse_policy(R"(
version: 1
rules:
  - {id: d1, effect: deny, tools: [t], when: [{arg: /a/b, prefix: x}]}
  - {id: d2, effect: deny, tools: [t], when: [{arg: /a/b, equals: yz}]}
  - {id: d3, effect: deny, tools: [t], when: [{arg: /c~1d, prefix: "no"}]}
  - {id: d4, effect: deny, tools: [t], when: [{arg: /n, prefix: "12"}]}
  - {id: d5, effect: deny, tools: [t], when: [{arg: /arr/1, prefix: bad}]}
  - {id: d6, effect: deny, tools: [t], when: [{arg: /a/b, absent: true}, {arg: /c~1d, prefix: "x"}]}
  - {id: ok, tools: [t]}
)",
                                                                 "args.yaml"));
  auto rule_for = [&](const char* args) {
    json::object o = json::parse(args).as_object();
    Action a{Kind::tool, Phase::invocation, "tools/call", "t", {}, &o, nullptr};
    return engine->decide(who("alice"), a).rule;
  };
  EXPECT_EQ(rule_for(R"({"a":{"b":"xy"}})"), "d1");
  EXPECT_EQ(rule_for(R"({"a":{"b":"yz"}})"), "d2");
  EXPECT_EQ(rule_for(R"({"a":{"b":["q","xz"]}})"), "d1");  // a deny rule: any element triggers it
  EXPECT_EQ(rule_for(R"({"a":{"b":"q"},"c/d":"nope"})"), "d3");
  EXPECT_EQ(rule_for(R"({"a":{"b":"q"},"c":{"d":"nope"}})"), "ok");
  EXPECT_EQ(rule_for(R"({"a":{"b":"q"},"n":123})"), "d4");  // a number by its JSON spelling
  EXPECT_EQ(rule_for(R"({"a":{"b":"q"},"arr":["ok","bad!"]})"), "d5");
  EXPECT_EQ(rule_for(R"({"c/d":"xx"})"), "d6");
  EXPECT_EQ(rule_for(R"({"a":{"b":"q"},"c/d":"xx"})"), "ok");
  EXPECT_EQ(rule_for(R"({"a":{"b":"q"},"n":5})"), "ok");
}

TEST(Engine, DeclaredRequirementActsAloneAndTheFileTightensIt) {
  auto engine = std::make_shared<LocalPolicyEngine>(parse_policy(R"(
version: 1
tiers:
  signed_in: {authenticated: true}
rules:
  - id: tighter
    scopes: [extra]
    tools: [tightened]
)",
                                                                 "p.yaml"));
  Requirement declared{.tier = "", .authenticated = false, .scopes = {"notes:read"}, .roles = {}};
  Action a{Kind::tool, Phase::invocation, "tools/call", "declared_only", {}, nullptr, &declared};
  EXPECT_EQ(engine->decide(who("a", {"notes:read"}), a).rule, "declared");
  auto anon = engine->decide(nullptr, a);
  EXPECT_EQ(anon.remedy, Remedy::authenticate);
  EXPECT_EQ(anon.scopes, std::vector<std::string>{"notes:read"});

  a.name = "tightened";  // the file's rule adds `extra` to the declaration
  EXPECT_EQ(engine->decide(who("a", {"notes:read"}), a).outcome, Outcome::deny);
  EXPECT_EQ(engine->decide(who("a", {"extra"}), a).outcome, Outcome::deny);
  auto both = engine->decide(who("a", {"notes:read", "extra"}), a);
  EXPECT_EQ(both.outcome, Outcome::allow);
  EXPECT_EQ(both.rule, "tighter");
  auto hint = engine->decide(who("a", {"notes:read"}), a);
  EXPECT_EQ(hint.scopes, (std::vector<std::string>{"extra", "notes:read"}));
  EXPECT_EQ(hint.missing, std::vector<std::string>{"extra"});
}

TEST(Engine, SmallestScopeSetWinsAndDenyRulesAreRespected) {
  auto engine = std::make_shared<LocalPolicyEngine>(parse_policy(R"(
version: 1
rules:
  - id: wide
    scopes: [a, b, c]
    tools: [t]
  - id: narrow
    scopes: [a, d]
    tools: [t]
  - id: no-d-for-bob
    effect: deny
    claims: {sub: bob}
    scopes: [d]
    tools: [t]
)",
                                                                 "p.yaml"));
  Action a{Kind::tool, Phase::invocation, "tools/call", "t", {}, nullptr, nullptr};
  auto p = who("alice", {"a"});
  p->claims = json::object{{"sub", "alice"}};
  auto d = engine->decide(p, a);
  EXPECT_EQ(d.scopes, (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(d.missing, std::vector<std::string>{"d"});
  // For bob, d would trigger a deny: the only way is the wide rule.
  auto bob = who("bob", {"a"});
  bob->claims = json::object{{"sub", "bob"}};
  d = engine->decide(bob, a);
  EXPECT_EQ(d.scopes, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(d.missing, (std::vector<std::string>{"b", "c"}));
}

TEST(Engine, ShadowPolicyIsEvaluatedButNotEnforced) {
  auto enforced = parse_policy("version: 1\nrules:\n  - id: open\n    tools: [t]\n", "e.yaml");
  auto shadow = parse_policy("version: 1\nrules:\n  - id: strict\n    scopes: [x]\n    tools: [t]\n", "s.yaml");
  LocalPolicyEngine engine(enforced, shadow);
  Action a{Kind::tool, Phase::invocation, "tools/call", "t", {}, nullptr, nullptr};
  auto d = engine.decide(nullptr, a);
  EXPECT_EQ(d.outcome, Outcome::allow);
  ASSERT_TRUE(d.shadow);
  EXPECT_EQ(*d.shadow, Outcome::deny);
  EXPECT_EQ(d.shadow_rule, "default");
}

TEST(Engine, ReplaceBumpsGenerationAndTellsListeners) {
  auto engine = std::make_shared<LocalPolicyEngine>(parse_policy("version: 1\nrules: []\n", "a.yaml"));
  int told = 0;
  engine->on_change([&] { ++told; });
  auto g = engine->generation();
  Action a{Kind::tool, Phase::invocation, "tools/call", "t", {}, nullptr, nullptr};
  auto before = engine->prepare(nullptr);
  engine->replace(parse_policy("version: 1\nrules:\n  - id: open\n    tools: [t]\n", "b.yaml"));
  EXPECT_EQ(told, 1);
  EXPECT_GT(engine->generation(), g);
  EXPECT_EQ(engine->decide(*before, a).outcome, Outcome::deny);  // a prepared caller keeps its policy
  EXPECT_EQ(engine->decide(nullptr, a).outcome, Outcome::allow);
}

TEST(Engine, PreparedCallersAreKeptApartByEnginePrincipalAndGeneration) {
  // Callers are remembered per thread for the repeat requests of one token: never across engines,
  // principals or a reload.
  auto ops = std::make_shared<LocalPolicyEngine>(
      parse_policy("version: 1\nrules:\n  - {id: ops, roles: [ops], tools: [t]}\n", "a.yaml"));
  auto open = std::make_shared<LocalPolicyEngine>(parse_policy("version: 1\nrules:\n  - {id: open, tools: [t]}\n", "b.yaml"));
  auto alice = who("alice", {}, {"ops"});
  auto bob = who("bob");
  Action a{Kind::tool, Phase::invocation, "tools/call", "t", {}, nullptr, nullptr};
  for (int round = 0; round < 6; ++round) {
    EXPECT_EQ(ops->decide(alice, a).rule, "ops");
    EXPECT_EQ(ops->decide(bob, a).rule, "default");
    EXPECT_EQ(ops->decide(nullptr, a).rule, "default");
    EXPECT_EQ(open->decide(bob, a).rule, "open");
    EXPECT_EQ(open->decide(alice, a).rule, "open");
    EXPECT_EQ(&ops->prepare(alice)->principal(), alice.get());
    EXPECT_TRUE(ops->prepare(nullptr)->principal().anonymous());
  }
  ops->replace(parse_policy("version: 1\nrules:\n  - {id: bob-only, claims: {sub: bob}, tools: [t]}\n", "c.yaml"));
  EXPECT_EQ(ops->decide(alice, a).rule, "default");
  auto bob2 = who("bob", {}, {}, json::object{{"sub", "bob"}});
  EXPECT_EQ(ops->decide(bob2, a).rule, "bob-only");
  EXPECT_EQ(ops->decide(bob, a).rule, "default");
}

TEST(Engine, ReloadKeepsTheOldPolicyWhenTheFileBreaks) {
  std::string path = ::testing::TempDir() + "reload_policy.yaml";
  { std::ofstream(path) << "version: 1\nrules:\n  - id: open\n    tools: [t]\n"; }
  auto engine = LocalPolicyEngine::from_files(path);
  Action a{Kind::tool, Phase::invocation, "tools/call", "t", {}, nullptr, nullptr};
  EXPECT_TRUE(engine->decide(nullptr, a).allowed());
  { std::ofstream(path) << "version: 1\nrules:\n  - id: open\n    tool: [t]\n"; }
  auto diags = engine->reload();
  ASSERT_FALSE(diags.empty());
  EXPECT_NE(diags.front().to_string().find("unknown field 'tool'"), std::string::npos);
  EXPECT_TRUE(engine->decide(nullptr, a).allowed());
  { std::ofstream(path) << "version: 1\nrules:\n  - id: closed\n    scopes: [x]\n    tools: [t]\n"; }
  EXPECT_TRUE(engine->reload().empty());
  EXPECT_FALSE(engine->decide(nullptr, a).allowed());
}

TEST(Glob, Matches) {
  struct G {
    const char* p;
    const char* t;
    bool m;
  };
  for (auto g : {G{"*", "", true}, G{"a*", "abc", true}, G{"a*c", "abbbc", true}, G{"a*c", "abd", false}, G{"?b", "ab", true},
                 G{"?b", "b", false}, G{"*x*y", "axbxcy", true}, G{"file:///docs/*", "file:///docs/a/b", true},
                 G{"a**b", "ab", true}, G{"abc", "abcd", false}})
    EXPECT_EQ(glob_match(g.p, g.t), g.m) << g.p << " ~ " << g.t;
}

}  // namespace
}  // namespace jitgate::policy
