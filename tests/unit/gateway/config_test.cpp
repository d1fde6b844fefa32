// The gateway configuration file: every field, ${ENV} expansion, paths relative to the file, and
// every problem reported with its line.
#include <jitgate/gateway/config.hpp>

#include <gtest/gtest.h>

#include <cstdlib>

namespace gw = jitgate::gateway;

namespace {

std::vector<std::string> problems(const std::string& yaml) {
  try {
    gw::parse_gateway_config(yaml, "gw.yaml", "/etc/jitgate");
  } catch (const gw::ConfigError& e) {
    return e.problems();
  }
  return {};
}

bool mentions(const std::vector<std::string>& ps, std::string_view needle) {
  for (const auto& p : ps)
    if (p.find(needle) != std::string::npos) return true;
  return false;
}

TEST(GatewayConfig, ReadsEveryField) {
  ::setenv("JITGATE_TEST_UPSTREAM_TOKEN", "s3cret", 1);
  auto g = gw::parse_gateway_config(R"(
listen: {host: 0.0.0.0, port: 9000, path: /gw}
server: {name: my-gateway, page_size: 50}
auth: auth.yaml
policy: /srv/policy.yaml
shadow_policy: next.yaml
audit: "-"
allowed_origins: [http://localhost:6274]
startup_timeout_ms: 5000
upstreams:
  - name: fs
    tool_prefix: fs_
    uri_prefix: "fs+"
    sessions: per_session
    timeout_ms: 1500
    max_in_flight: 8
    max_connections: 4
    restart: {backoff_initial_ms: 10, backoff_max_ms: 20}
    stdio:
      command: node
      args: [server.js, /data]
      env: {API_TOKEN: "Bearer ${JITGATE_TEST_UPSTREAM_TOKEN}"}
      cwd: work
  - name: remote
    tool_prefix: remote_
    uri_prefix: "remote+"
    http:
      url: http://127.0.0.1:9100/mcp
      protocol: 2026-07-28
      headers: {Authorization: "Bearer ${JITGATE_TEST_UPSTREAM_TOKEN}"}
      get_stream: false
)",
                                    "gw.yaml", "/etc/jitgate");
  EXPECT_EQ(g.host, "0.0.0.0");
  EXPECT_EQ(g.port, 9000);
  EXPECT_EQ(g.path, "/gw");
  EXPECT_EQ(g.server_name, "my-gateway");
  EXPECT_EQ(g.page_size, 50u);
  EXPECT_EQ(g.auth_config, "/etc/jitgate/auth.yaml");
  EXPECT_EQ(g.policy, "/srv/policy.yaml");
  EXPECT_EQ(g.shadow_policy, "/etc/jitgate/next.yaml");
  EXPECT_EQ(g.audit, "-");
  EXPECT_EQ(g.allowed_origins, std::vector<std::string>{"http://localhost:6274"});
  EXPECT_EQ(g.startup_timeout, std::chrono::milliseconds(5000));
  ASSERT_EQ(g.upstreams.size(), 2u);
  const auto& fs = g.upstreams[0];
  EXPECT_EQ(fs.tool_prefix, "fs_");
  EXPECT_EQ(fs.prompt_prefix, "fs_");  // defaults to the tool prefix
  EXPECT_EQ(fs.uri_prefix, "fs+");
  EXPECT_EQ(fs.sessions, gw::SessionMode::per_session);
  ASSERT_TRUE(fs.stdio);
  EXPECT_FALSE(fs.http);
  EXPECT_EQ(fs.stdio->command, "node");
  EXPECT_EQ(fs.stdio->args, (std::vector<std::string>{"server.js", "/data"}));
  EXPECT_EQ(fs.stdio->env.at("API_TOKEN"), "Bearer s3cret");
  EXPECT_EQ(fs.stdio->working_directory, "/etc/jitgate/work");
  EXPECT_EQ(fs.stdio->default_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(fs.stdio->max_in_flight, 8u);
  EXPECT_EQ(fs.stdio->backoff_initial, std::chrono::milliseconds(10));
  EXPECT_EQ(fs.max_connections, 4u);
  const auto& remote = g.upstreams[1];
  ASSERT_TRUE(remote.http);
  EXPECT_EQ(remote.http->protocol, "2026-07-28");
  EXPECT_EQ(remote.http->headers.at("Authorization"), "Bearer s3cret");
  EXPECT_FALSE(remote.http->open_get_stream);
  EXPECT_EQ(remote.sessions, gw::SessionMode::shared);
}

TEST(GatewayConfig, ReportsEveryProblemWithItsLine) {
  ::unsetenv("JITGATE_TEST_MISSING");
  auto ps = problems(R"(
listen: {port: 70000, color: blue}
policy: p.yaml
upstreams:
  - name: a
    stdio: {command: x}
    http: {url: ftp://x}
  - name: a
    sessions: sometimes
    stdio: {args: [y], env: {K: "${JITGATE_TEST_MISSING}"}}
)");
  EXPECT_TRUE(mentions(ps, "gw.yaml:2:")) << ::testing::PrintToString(ps);
  EXPECT_TRUE(mentions(ps, "port must be a whole number from 0 to 65535"));
  EXPECT_TRUE(mentions(ps, "unknown field 'color' in listen"));
  EXPECT_TRUE(mentions(ps, "a policy needs auth"));
  EXPECT_TRUE(mentions(ps, "needs exactly one of stdio and http"));
  EXPECT_TRUE(mentions(ps, "url must start with http:// or https://"));
  EXPECT_TRUE(mentions(ps, "two upstreams are named a"));
  EXPECT_TRUE(mentions(ps, "sessions must be shared, per_session or per_subject"));
  EXPECT_TRUE(mentions(ps, "stdio needs a command"));
  EXPECT_TRUE(mentions(ps, "environment variable JITGATE_TEST_MISSING is not set"));
  EXPECT_TRUE(mentions(ps, "tool_prefix empty of upstream a collides with empty of upstream a"));
  EXPECT_EQ(ps.size(), 12u) << ::testing::PrintToString(ps);  // and prompt_prefix, uri_prefix
}

// Prefixes that can put one name on two upstreams are refused, with the line of the later one.
TEST(GatewayConfig, RefusesPrefixesThatCanCollide) {
  struct Row {
    const char* name;
    const char* second;  // the second upstream's prefix fields (the first: tool_prefix a_, uri_prefix "a+")
    const char* expect;  // empty: accepted
  };
  const Row rows[] = {
      {"distinct", R"(tool_prefix: b_, uri_prefix: "b+")", ""},
      {"empty tool prefix", R"(uri_prefix: "b+")",
       R"(gw.yaml:7:5: tool_prefix empty of upstream b collides with "a_" of upstream a)"},
      {"identical", R"(tool_prefix: a_, uri_prefix: "b+")", R"(gw.yaml:7:28: tool_prefix "a_" of upstream b collides with "a_")"},
      {"prefix of another", R"(tool_prefix: a, uri_prefix: "b+")", R"(tool_prefix "a" of upstream b collides with "a_")"},
      {"another's prefix", R"(tool_prefix: a_x_, uri_prefix: "b+")", R"(tool_prefix "a_x_" of upstream b collides)"},
      {"prompt prefix defaults to the tool prefix", R"(tool_prefix: b_, prompt_prefix: a_, uri_prefix: "b+")",
       R"(prompt_prefix "a_" of upstream b collides with "a_")"},
      {"uri prefix", R"(tool_prefix: b_, uri_prefix: "a+x")", R"(uri_prefix "a+x" of upstream b collides with "a+")"},
      {"empty uri prefix", R"(tool_prefix: b_)", R"(uri_prefix empty of upstream b collides)"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    auto ps = problems(std::string(R"(
upstreams:
  - name: a
    tool_prefix: a_
    uri_prefix: "a+"
    stdio: {command: x}
  - {name: b, )") + row.second +
                       R"(, stdio: {command: y}}
)");
    if (!*row.expect) {
      EXPECT_TRUE(ps.empty()) << ::testing::PrintToString(ps);
    } else {
      EXPECT_TRUE(mentions(ps, row.expect)) << ::testing::PrintToString(ps);
    }
  }
  // One upstream alone may have empty prefixes: nothing else can meet its names.
  EXPECT_TRUE(problems("upstreams:\n  - {name: only, stdio: {command: x}}\n").empty());
}

TEST(GatewayConfig, RejectsEmptyAndMalformedFiles) {
  EXPECT_TRUE(mentions(problems("listen: {port: 1}\n"), "upstreams must be a non-empty list"));
  EXPECT_TRUE(mentions(problems("upstreams: [\n"), "gw.yaml:"));
  EXPECT_TRUE(mentions(problems("- just a list\n"), "must be a mapping"));
  EXPECT_THROW(gw::load_gateway_config("/nonexistent/gateway.yaml"), gw::ConfigError);
}

}  // namespace

namespace {

TEST(GatewayConfig, TokenExchange) {
  ::setenv("JITGATE_TEST_EXCHANGE_SECRET", "gw-s3cret", 1);
  auto g = gw::parse_gateway_config(R"(
upstreams:
  - name: notes
    tool_prefix: notes_
    uri_prefix: "notes+"
    sessions: per_subject
    http:
      url: http://127.0.0.1:9000/mcp
      token_exchange:
        token_endpoint: http://127.0.0.1:9400/token
        client_id: jitgate-gateway
        client_secret: ${JITGATE_TEST_EXCHANGE_SECRET}
        client_auth: client_secret_post
        scopes: [notes:read]
        refresh_before_s: 10
  - name: other
    tool_prefix: other_
    uri_prefix: "other+"
    sessions: per_session
    http:
      url: http://127.0.0.1:9001/mcp
      token_exchange:
        token_endpoint: https://as.example.com/token
        client_id: gw
        client_secret: x
        audience: other-api
        resource: https://other.example/mcp
)",
                                    "gw.yaml", "/etc/jitgate");
  ASSERT_EQ(g.upstreams.size(), 2u);
  const auto& t = *g.upstreams[0].http->token_exchange;
  EXPECT_EQ(t.token_endpoint, "http://127.0.0.1:9400/token");
  EXPECT_EQ(t.client_id, "jitgate-gateway");
  EXPECT_EQ(t.client_secret, "gw-s3cret");
  EXPECT_TRUE(t.client_secret_post);
  EXPECT_EQ(t.resource, "http://127.0.0.1:9000/mcp");  // the upstream's url unless set
  EXPECT_EQ(t.scopes, std::vector<std::string>{"notes:read"});
  EXPECT_EQ(t.refresh_before, std::chrono::seconds(10));
  const auto& o = *g.upstreams[1].http->token_exchange;
  EXPECT_EQ(o.audience, "other-api");
  EXPECT_EQ(o.resource, "https://other.example/mcp");
  EXPECT_FALSE(o.client_secret_post);

  auto ps = problems(R"(
upstreams:
  - name: notes
    http:
      url: http://127.0.0.1:9000/mcp
      token_exchange:
        token_endpoint: ftp://as/token
        client_auth: private_key_jwt
        lifetime: 5
)");
  EXPECT_TRUE(mentions(ps, "needs sessions: per_subject or per_session")) << ps.size();
  EXPECT_TRUE(mentions(ps, "token_endpoint must start with http"));
  EXPECT_TRUE(mentions(ps, "needs client_id"));
  EXPECT_TRUE(mentions(ps, "needs client_secret"));
  EXPECT_TRUE(mentions(ps, "client_auth must be"));
  EXPECT_TRUE(mentions(ps, "unknown field 'lifetime'"));
  EXPECT_TRUE(mentions(ps, "gw.yaml:7:"));  // with the line where the mapping starts
}

}  // namespace
