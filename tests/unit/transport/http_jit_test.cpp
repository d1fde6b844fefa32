// Just-in-time authorization over HTTP: the policy decides every call and every list entry, a
// session is upgraded in place when its client signs in, and list_changed follows every change of
// rights (upgrade, step-up, expiry, reload), for the affected session only.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "jitgate/auth/jwt_verifier.hpp"
#include "jitgate/auth/request_guard.hpp"
#include "jitgate/auth/www_authenticate.hpp"
#include "jitgate/mcp/server.hpp"
#include "jitgate/observe/audit.hpp"
#include "jitgate/observe/metrics.hpp"
#include "jitgate/policy/policy.hpp"
#include "jitgate/transport/http_server.hpp"
#include "support/raw_http.hpp"
#include "support/signer.hpp"

namespace json = boost::json;
using namespace jitgate;
using namespace testsupport;

namespace {

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr const char* kPolicy = R"(version: 1
scope_hierarchy:
  notes:admin: [notes:read]
tiers:
  public: {}
  signed_in: {scopes: [notes:read]}
  elevated: {scopes: [notes:admin]}
rules:
  - id: public
    tier: public
    tools: [search]
  - id: notes
    tier: signed_in
    tools: [read_notes, write_note]
    resources: ["notes://*"]
  - id: no-secret-titles
    effect: deny
    tools: [write_note]
    when: [{arg: /title, glob: "secret*"}]
  - id: admin
    tier: elevated
    tools: [delete_notes]
  - id: ops
    roles: [ops]
    tools: [restart]
  - id: no-guests
    effect: deny
    claims: {guest: true}
    tools: [search]
    resources: ["notes://*"]
)";

class HttpJit : public ::testing::Test {
 protected:
  void SetUp() override {
    audit_path_ = ::testing::TempDir() + "jit_audit_" + std::to_string(::getpid()) + ".jsonl";
    std::remove(audit_path_.c_str());
    engine_ = std::make_shared<policy::LocalPolicyEngine>(policy::parse_policy(kPolicy, "jit.yaml"));
    metrics_ = std::make_shared<observe::Registry>();
    mcp::ServerOptions so;
    so.page_size = 2;
    so.policy = engine_;
    so.metrics = metrics_;
    so.audit = observe::make_audit_file(audit_path_);
    server_ = std::make_unique<mcp::Server>(so);
    auto text = [](std::string t) { return [t](const json::object&, mcp::RequestContext&) { return mcp::ToolResult::text(t); }; };
    for (const char* t : {"search", "read_notes", "write_note", "delete_notes", "restart"})
      server_->add_tool(mcp::Tool{t, "", std::string("the ") + t + " tool"}, text(t));
    // Declared in C++: the file has no rule for it, so the declaration alone decides.
    mcp::Tool audited{"export_notes", "", "declared in code"};
    audited.access.scopes = {"notes:export"};
    server_->add_tool(audited, text("exported"));
    server_->add_resource(mcp::Resource{"notes://1", "note 1"}, [](const std::string& uri, mcp::RequestContext&) {
      return std::vector<mcp::ResourceContents>{{uri, "text/plain", std::string("one"), std::nullopt}};
    });

    auth::ResourceMetadata md{"http://localhost/mcp", {"https://as.example.com"}, {"notes:read"}, "Notes"};
    auth::JwtOptions o;
    o.issuer = "https://as.example.com";
    o.audiences = {"http://localhost/mcp"};
    o.algorithms = {"ES256"};
    o.clock_skew = std::chrono::seconds(0);
    auto verifier =
        std::make_shared<auth::JwtVerifier>(o, std::make_shared<auth::StaticKeySource>(auth::KeySet::parse(key_.jwks())));
    transport::HttpOptions h;
    h.threads = 2;
    h.tick = std::chrono::milliseconds(100);
    h.metrics = metrics_;
    h.guard = std::make_shared<auth::ScopeGuard>(md, verifier, std::map<std::string, std::set<std::string>, std::less<>>{});
    http_ = std::make_unique<transport::HttpServer>(*server_, h);
    port_ = http_->listen();
    http_->start();
  }
  void TearDown() override {
    if (http_) http_->stop();
    http_.reset();
    if (server_) server_->join();
    server_.reset();
    std::remove(audit_path_.c_str());
  }

  std::string token(const std::string& scope, const std::string& sub = "alice", std::int64_t ttl = 300, json::object extra = {}) {
    json::object c{{"iss", "https://as.example.com"},
                   {"sub", sub},
                   {"aud", "http://localhost/mcp"},
                   {"scope", scope},
                   {"iat", now_s()},
                   {"exp", now_s() + ttl}};
    for (auto& [k, v] : extra) c[k] = v;
    return key_.sign(c);
  }
  static std::string bearer(const std::string& t) { return t.empty() ? "" : "Authorization: Bearer " + t + "\r\n"; }
  RawResponse send(const std::string& bytes) {
    RawClient c(port_);
    c.write(bytes);
    return c.read();
  }
  std::string open_session(const std::string& tok = "") {
    auto r = send(post(initialize_body(), bearer(tok)));
    EXPECT_EQ(r.status, 200u) << r.msg.body();
    std::string sid = r.header("Mcp-Session-Id");
    send(post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", headers(sid, tok)));
    return sid;
  }
  static std::string headers(const std::string& sid, const std::string& tok = "") {
    return "Mcp-Session-Id: " + sid + "\r\nMCP-Protocol-Version: 2025-11-25\r\n" + bearer(tok);
  }
  static std::string call(const std::string& tool, const std::string& args = "{}") {
    return R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":")" + tool + R"(","arguments":)" + args + "}}";
  }
  // Every tool name a session's list shows, following the cursors.
  std::vector<std::string> tools(const std::string& sid, const std::string& tok = "") {
    std::vector<std::string> out;
    std::string cursor;
    for (int page = 0; page < 10; ++page) {
      std::string params = cursor.empty() ? "{}" : R"({"cursor":")" + cursor + "\"}";
      auto r = send(post(R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":)" + params + "}", headers(sid, tok)));
      EXPECT_EQ(r.status, 200u) << r.msg.body();
      json::value v = r.json();
      if (!v.is_object()) {  // an SSE answer: the result is the last event
        auto body = r.msg.body();
        auto at = body.rfind("data: ");
        v = json::parse(body.substr(at + 6, body.find('\n', at) - at - 6));
      }
      const auto& res = v.at("result").as_object();
      for (const auto& t : res.at("tools").as_array()) out.emplace_back(t.at("name").as_string());
      if (!res.contains("nextCursor")) break;
      cursor = std::string(res.at("nextCursor").as_string());
    }
    return out;
  }
  std::unique_ptr<RawClient> get_stream(const std::string& sid, const std::string& tok,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto c = std::make_unique<RawClient>(port_, timeout);
    c->write("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n" + headers(sid, tok) + "\r\n");
    http::response_parser<http::empty_body> p;
    auto head = c->read_head(p);
    EXPECT_EQ(head.result_int(), 200u);
    return c;
  }
  static std::optional<auth::Challenge> challenge(const RawResponse& r) {
    auto c = auth::parse_www_authenticate(r.header("WWW-Authenticate"));
    if (!c || c->empty()) return std::nullopt;
    return (*c)[0];
  }

  SigningKey key_ = SigningKey::ec("k1");
  std::shared_ptr<policy::LocalPolicyEngine> engine_;
  std::shared_ptr<observe::Registry> metrics_;
  std::unique_ptr<mcp::Server> server_;
  std::unique_ptr<transport::HttpServer> http_;
  std::uint16_t port_ = 0;
  std::string audit_path_;
};

using Names = std::vector<std::string>;

TEST_F(HttpJit, TheStoryOnOneSession) {
  auto sid = open_session();
  EXPECT_EQ(tools(sid), Names{"search"});  // anonymous: the public tier only, over two-entry pages
  EXPECT_EQ(send(post(call("search"), headers(sid))).status, 200u);

  // A signed-in tool: 401 naming its scope; like the challenge, the body names no error.
  auto r = send(post(call("read_notes"), headers(sid)));
  ASSERT_EQ(r.status, 401u);
  auto c = challenge(r);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->param("error"));
  EXPECT_FALSE(r.json().as_object().contains("error")) << r.msg.body();
  EXPECT_TRUE(r.json().as_object().contains("error_description")) << r.msg.body();
  EXPECT_EQ(c->param("scope"), "notes:read");
  EXPECT_EQ(c->param("resource_metadata"), "http://localhost/.well-known/oauth-protected-resource/mcp");

  // Sign in on the same session: the GET stream hears tools/list_changed, and the list grows.
  std::string t1 = token("notes:read");
  auto stream = get_stream(sid, t1);
  EXPECT_EQ(send(post(call("read_notes"), headers(sid, t1))).status, 200u);
  EXPECT_NE(stream->read_until_contains("notifications/tools/list_changed").find("tools/list_changed"), std::string::npos);
  EXPECT_EQ(tools(sid, t1), (Names{"search", "read_notes", "write_note"}));

  // An elevated tool: 403 naming exactly the missing scope (notes:admin implies notes:read).
  r = send(post(call("delete_notes"), headers(sid, t1)));
  ASSERT_EQ(r.status, 403u);
  c = challenge(r);
  EXPECT_EQ(c->param("error"), "insufficient_scope");
  EXPECT_EQ(c->param("scope"), "notes:admin");

  // Step up: the new token's rights replace the old ones, with another list_changed.
  std::string t2 = token("notes:admin");
  EXPECT_EQ(send(post(call("delete_notes"), headers(sid, t2))).status, 200u);
  EXPECT_NE(stream->read_until_contains("tools/list_changed").find("tools/list_changed"), std::string::npos);
  EXPECT_EQ(tools(sid, t2), (Names{"search", "read_notes", "write_note", "delete_notes"}));

  // Deny wins on arguments, without a scope hint; a role rule gives none either.
  r = send(post(call("write_note", R"({"title":"secret plans"})"), headers(sid, t2)));
  EXPECT_EQ(r.status, 403u);
  EXPECT_TRUE(r.header("WWW-Authenticate").empty());
  EXPECT_EQ(send(post(call("write_note", R"({"title":"groceries"})"), headers(sid, t2))).status, 200u);
  // A role rule gives no hint either, and restart is hidden from this caller: it looks absent.
  r = send(post(call("restart"), headers(sid, t2)));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.rpc_code(), -32602);
  EXPECT_TRUE(r.header("WWW-Authenticate").empty());

  // Hijack protection: another subject's token, or none, on the bound session.
  r = send(post(call("search"), headers(sid, token("notes:admin", "mallory"))));
  EXPECT_EQ(r.status, 403u);
  EXPECT_NE(r.msg.body().find("another subject"), std::string::npos);
  r = send(post(call("search"), headers(sid)));
  EXPECT_EQ(r.status, 401u);
  EXPECT_FALSE(challenge(r)->param("error"));
  EXPECT_FALSE(r.json().as_object().contains("error")) << r.msg.body();
  EXPECT_EQ(send(post(call("search"), headers(sid, t2))).status, 200u);  // still its own
}

TEST_F(HttpJit, UpgradeWithoutAGetStreamArrivesOnTheNextResponse) {
  auto sid = open_session();
  EXPECT_EQ(tools(sid), Names{"search"});
  auto r = send(post(call("read_notes"), headers(sid, token("notes:read"))));
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("Content-Type"), "text/event-stream");
  auto body = r.msg.body();
  auto changed = body.find("notifications/tools/list_changed");
  auto result = body.find("\"result\"");
  ASSERT_NE(changed, std::string::npos) << body;
  EXPECT_LT(changed, result);
  // Only the family that changed: resources gained notes://1 too, prompts did not change.
  EXPECT_NE(body.find("notifications/resources/list_changed"), std::string::npos);
  EXPECT_EQ(body.find("notifications/prompts/list_changed"), std::string::npos);
}

TEST_F(HttpJit, ExpiryIsNoticedByATimer) {
  std::string short_lived = token("notes:read", "alice", 2);
  auto sid = open_session(short_lived);
  auto stream = get_stream(sid, short_lived, std::chrono::seconds(8));
  EXPECT_EQ(tools(sid, short_lived), (Names{"search", "read_notes", "write_note"}));
  auto before = std::chrono::steady_clock::now();
  auto seen = stream->read_until_contains("tools/list_changed");
  EXPECT_NE(seen.find("tools/list_changed"), std::string::npos);
  EXPECT_GE(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(500));  // not at once: at expiry
  // Expired: the token is refused, and so is an anonymous request on the bound session.
  EXPECT_EQ(send(post(call("search"), headers(sid, short_lived))).status, 401u);
  EXPECT_EQ(send(post(call("search"), headers(sid))).status, 401u);
  EXPECT_EQ(tools(sid, token("notes:read")), (Names{"search", "read_notes", "write_note"}));
}

TEST_F(HttpJit, ReloadNotifiesOnlySessionsWhoseViewChanged) {
  auto anon = open_session();
  std::string t = token("notes:read");
  auto signed_in = open_session(t);
  auto anon_stream = get_stream(anon, "", std::chrono::milliseconds(1500));
  auto signed_stream = get_stream(signed_in, t);
  // The new policy moves write_note up to the elevated tier: only the signed-in view changes.
  std::string changed = kPolicy;
  changed.replace(changed.find("tools: [read_notes, write_note]"), 31, "tools: [read_notes]           ");
  changed.replace(changed.find("tools: [delete_notes]"), 21, "tools: [delete_notes, write_note]");
  engine_->replace(policy::parse_policy(changed, "jit2.yaml"));
  EXPECT_NE(signed_stream->read_until_contains("tools/list_changed").find("tools/list_changed"), std::string::npos);
  EXPECT_EQ(anon_stream->read_until_contains("tools/list_changed").find("tools/list_changed"), std::string::npos);
  EXPECT_EQ(tools(signed_in, t), (Names{"search", "read_notes"}));
  EXPECT_EQ(send(post(call("write_note", R"({"title":"x"})"), headers(signed_in, t))).status, 403u);
}

TEST_F(HttpJit, CursorsAreBoundToTheRightsTheyWereIssuedFor) {
  std::string t = token("notes:admin");
  auto sid = open_session(t);
  auto r = send(post(R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})", headers(sid, t)));
  std::string cursor(r.json().at("result").at("nextCursor").as_string());
  // The same cursor with other rights (a narrower token of the same subject) is unknown.
  std::string narrow = token("notes:read");
  auto other =
      send(post(R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":")" + cursor + "\"}}", headers(sid, narrow)));
  ASSERT_EQ(other.status, 200u);
  // The rights changed, so the response may lead with list_changed (SSE): look for the error.
  EXPECT_NE(other.msg.body().find("-32602"), std::string::npos) << other.msg.body();
}

// A cursor tells nothing about entries the caller cannot see: its text is sealed, callers who see
// different amounts get cursors of one length, and a tampered or foreign cursor is -32602.
TEST_F(HttpJit, CursorsAreOpaqueAndAuthenticated) {
  auto list = [&](const std::string& sid, const std::string& tok, const std::string& cursor) {
    std::string params = cursor.empty() ? "{}" : R"({"cursor":")" + cursor + "\"}";
    return send(post(R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":)" + params + "}", headers(sid, tok)));
  };
  std::string reader = token("notes:read"), admin = token("notes:admin", "bob");
  auto rs = open_session(reader), as = open_session(admin);
  auto r1 = list(rs, reader, ""), r2 = list(as, admin, "");
  std::string c1(r1.json().at("result").at("nextCursor").as_string()), c2(r2.json().at("result").at("nextCursor").as_string());
  EXPECT_EQ(c1.size(), c2.size());
  for (const auto& c : {c1, c2}) {
    // Neither the plain base64 of an offset nor anything that decodes to the list family.
    EXPECT_EQ(c.find('='), std::string::npos);
    EXPECT_EQ(c.find("dG9vbHM"), std::string::npos);  // "tools" in base64
  }
  EXPECT_EQ(list(rs, reader, c1).rpc_code(), 0);
  std::string tampered = c1;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(list(rs, reader, tampered).rpc_code(), -32602);
  EXPECT_EQ(list(rs, reader, c2).rpc_code(), -32602);  // bob's cursor on alice's session
  // The earlier plain form ("v2:tools:<binding>:<offset>" in base64) is unknown.
  EXPECT_EQ(list(rs, reader, "djI6dG9vbHM6MDAwMDAwMDAwMDAwMDAwMDoy").rpc_code(), -32602);
}

// What this caller can neither see nor unlock answers exactly as what does not exist: the same
// status, code and message (with the name), in both generations; the audit still has the deny.
TEST_F(HttpJit, HiddenPrimitivesAnswerAsUnknownOnes) {
  std::string admin = token("notes:admin");
  std::string guest = token("notes:read", "gus", 300, json::object{{"guest", true}});
  auto sid = open_session(admin), gsid = open_session(guest);
  auto same = [](const RawResponse& hidden, const RawResponse& unknown, const std::string& name, const std::string& other) {
    EXPECT_EQ(hidden.status, unknown.status);
    EXPECT_TRUE(hidden.header("WWW-Authenticate").empty());
    std::string body = hidden.msg.body();
    for (auto at = body.find(name); at != std::string::npos; at = body.find(name, at + other.size()))
      body.replace(at, name.size(), other);
    EXPECT_EQ(body, unknown.msg.body());
  };
  // A role it lacks (no token helps), and a deny rule on a claim.
  same(send(post(call("restart"), headers(sid, admin))), send(post(call("no_such"), headers(sid, admin))), "restart", "no_such");
  same(send(post(call("search"), headers(gsid, guest))), send(post(call("no_such"), headers(gsid, guest))), "search", "no_such");
  EXPECT_EQ(send(post(call("search"), headers(gsid, guest))).rpc_code(), -32602);
  auto read = [&](const std::string& uri, const std::string& s, const std::string& t) {
    return send(post(R"({"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":")" + uri + "\"}}", headers(s, t)));
  };
  same(read("notes://1", gsid, guest), read("notes://9", gsid, guest), "notes://1", "notes://9");
  EXPECT_EQ(read("notes://1", gsid, guest).rpc_code(), -32002);
  // A primitive that a token could unlock keeps its challenge (the just-in-time flow).
  auto anon = open_session();
  EXPECT_EQ(send(post(call("read_notes"), headers(anon))).status, 401u);
  // An entry the caller sees but may not call with these arguments stays a refusal.
  EXPECT_EQ(send(post(call("write_note", R"({"title":"secret"})"), headers(sid, admin))).status, 403u);

  // 2026-07-28: the same, with its own unknown-entry answers.
  auto req = [&](const std::string& method, const std::string& params, const std::string& tok, const std::string& name) {
    std::string body =
        R"({"jsonrpc":"2.0","id":5,"method":")" + method + R"(","params":{)" + params +
        R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})";
    return send(
        post(body, "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: " + method + "\r\nMcp-Name: " + name + "\r\n" + bearer(tok)));
  };
  same(req("tools/call", R"("name":"restart",)", admin, "restart"), req("tools/call", R"("name":"no_such",)", admin, "no_such"),
       "restart", "no_such");
  same(req("resources/read", R"("uri":"notes://1",)", guest, "notes://1"),
       req("resources/read", R"("uri":"notes://9",)", guest, "notes://9"), "notes://1", "notes://9");
  EXPECT_EQ(req("tools/call", R"("name":"restart",)", admin, "restart").rpc_code(), -32602);

  auto m = send("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_NE(m.msg.body().find("jitgate_hidden_refusals_total "), std::string::npos) << m.msg.body();
  // Only the visible write_note refusal was a challenge; the hidden ones were not.
  EXPECT_NE(m.msg.body().find("jitgate_challenges_total{status=\"403\",kind=\"forbidden\"} 1\n"), std::string::npos)
      << m.msg.body();
  http_->stop();
  http_.reset();
  server_->join();
  server_.reset();  // flushes the audit log
  std::ifstream in(audit_path_);
  std::string line, all;
  while (std::getline(in, line)) all += line + "\n";
  EXPECT_NE(all.find(R"("rule":"no-guests")"), std::string::npos);
  EXPECT_NE(all.find(R"("primitive":"restart")"), std::string::npos);
}

TEST_F(HttpJit, AdvertisedLockedEntriesNameTheirTierAndScopes) {
  engine_->replace(policy::parse_policy(std::string(kPolicy).insert(11, "locked: advertise\n"), "adv.yaml"));
  auto sid = open_session();
  auto names = tools(sid);
  // read/write need a token: shown locked; restart needs a role: hidden; export_notes is declared.
  EXPECT_EQ(names, (Names{"search", "read_notes", "write_note", "delete_notes", "export_notes"}));
  auto r = send(post(R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})", headers(sid)));
  json::value listed = r.json();
  const auto& second = listed.at("result").at("tools").at(1).as_object();
  EXPECT_EQ(second.at("name").as_string(), "read_notes");
  EXPECT_EQ(second.at("_meta").at("io.jitgate/locked").as_bool(), true);
  EXPECT_EQ(second.at("_meta").at("io.jitgate/tier").as_string(), "signed_in");
  EXPECT_EQ(second.at("_meta").at("io.jitgate/requiredScopes").at(0).as_string(), "notes:read");
  EXPECT_EQ(second.at("securitySchemes").at(0).at("type").as_string(), "oauth2");
  EXPECT_FALSE(listed.at("result").at("tools").at(0).as_object().contains("securitySchemes"));
  // Listed is not callable: the call still gets its challenge.
  EXPECT_EQ(send(post(call("read_notes"), headers(sid))).status, 401u);
}

TEST_F(HttpJit, DeclaredRequirementsAndResourcesAreEnforced) {
  auto sid = open_session();
  auto r = send(post(call("export_notes"), headers(sid)));
  ASSERT_EQ(r.status, 401u);
  EXPECT_EQ(challenge(r)->param("scope"), "notes:export");
  std::string t = token("notes:read");
  r = send(post(call("export_notes"), headers(sid, t)));
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(challenge(r)->param("scope"), "notes:export");
  std::string read = R"({"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"notes://1"}})";
  auto anon_sid = open_session();
  EXPECT_EQ(send(post(read, headers(anon_sid))).status, 401u);
  auto ok = send(post(read, headers(sid, token("notes:read notes:export"))));
  EXPECT_NE(ok.msg.body().find("\"one\""), std::string::npos) << ok.msg.body();
}

TEST_F(HttpJit, StatelessRequestsAreFilteredPerCredential) {
  auto req = [&](const std::string& method, const std::string& params, const std::string& tok, const std::string& name = "") {
    std::string body =
        R"({"jsonrpc":"2.0","id":5,"method":")" + method + R"(","params":{)" + params +
        R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})";
    std::string h =
        "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: " + method + "\r\n" + (name.empty() ? "" : "Mcp-Name: " + name + "\r\n");
    return send(post(body, h + bearer(tok)));
  };
  auto anon = req("tools/list", "", "");
  ASSERT_EQ(anon.status, 200u);
  EXPECT_EQ(anon.json().at("result").at("tools").as_array().size(), 1u);
  EXPECT_EQ(anon.json().at("result").at("cacheScope").as_string(), "private");
  auto signed_in = req("tools/list", "", token("notes:read"));
  EXPECT_EQ(signed_in.json().at("result").at("tools").as_array().size(), 2u);  // a page of two, more behind
  auto r = req("tools/call", R"("name":"read_notes",)", "", "read_notes");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(challenge(r)->param("scope"), "notes:read");
  EXPECT_EQ(req("tools/call", R"("name":"read_notes",)", token("notes:read"), "read_notes").status, 200u);
}

TEST_F(HttpJit, ListenStreamsOfACredentialHearAboutReloads) {
  std::string t = token("notes:read");
  std::string body =
      R"({"jsonrpc":"2.0","id":7,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})";
  RawClient listener(port_);
  listener.write(post(body, "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: subscriptions/listen\r\n" + bearer(t)));
  EXPECT_NE(listener.read_until_contains("acknowledged").find("acknowledged"), std::string::npos);
  RawClient anon(port_, std::chrono::milliseconds(1500));
  anon.write(post(body, "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: subscriptions/listen\r\n"));
  EXPECT_NE(anon.read_until_contains("acknowledged").find("acknowledged"), std::string::npos);
  std::string changed = kPolicy;
  changed.replace(changed.find("tools: [read_notes, write_note]"), 31, "tools: [read_notes]           ");
  engine_->replace(policy::parse_policy(changed, "jit2.yaml"));
  EXPECT_NE(listener.read_until_contains("tools/list_changed").find("io.modelcontextprotocol/subscriptionId"), std::string::npos);
  EXPECT_EQ(anon.read_until_contains("tools/list_changed").find("tools/list_changed"), std::string::npos);
}

TEST_F(HttpJit, AuditAndMetricsRecordDecisionsWithoutTokens) {
  auto sid = open_session();
  std::string t = token("notes:read");
  send(post(call("read_notes"), headers(sid)));     // deny
  send(post(call("read_notes"), headers(sid, t)));  // allow
  tools(sid, t);
  auto m = send("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ASSERT_EQ(m.status, 200u);
  EXPECT_NE(m.msg.body().find("jitgate_policy_decisions_total{rule=\"notes\",outcome=\"allow\"} 1"), std::string::npos)
      << m.msg.body();
  EXPECT_NE(m.msg.body().find("jitgate_policy_decisions_total{rule=\"default\",outcome=\"deny\"} 1"), std::string::npos);
  EXPECT_NE(m.msg.body().find("jitgate_challenges_total{status=\"401\",kind=\"authenticate\"} 1"), std::string::npos);
  EXPECT_NE(m.msg.body().find("jitgate_sessions 1"), std::string::npos);
  EXPECT_EQ(m.msg.body().find("unrestricted-method"), std::string::npos) << "plumbing methods are not decisions worth a line";
  EXPECT_NE(m.msg.body().find("jitgate_policy_decision_seconds_bucket"), std::string::npos);
  http_->stop();
  http_.reset();
  server_->join();
  server_.reset();  // flushes the audit log
  std::ifstream in(audit_path_);
  std::string line;
  std::vector<json::object> lines;
  while (std::getline(in, line)) {
    EXPECT_EQ(line.find(t), std::string::npos) << "a token in the audit log";
    EXPECT_EQ(line.find(sid), std::string::npos) << "a raw session id in the audit log";
    lines.push_back(json::parse(line).as_object());
  }
  auto has = [&](std::string_view decision, std::string_view rule, std::string_view subject_or_null) {
    return std::any_of(lines.begin(), lines.end(), [&](const json::object& o) {
      auto str = [&](const char* k) { return o.at(k).is_string() ? std::string_view(o.at(k).as_string()) : std::string_view(); };
      bool subj = subject_or_null.empty() ? o.at("subject").is_null() : str("subject") == subject_or_null;
      return str("decision") == decision && str("rule") == rule && subj && str("session").size() == 12;
    });
  };
  EXPECT_TRUE(has("deny", "default", ""));
  EXPECT_TRUE(has("allow", "notes", "alice"));
  EXPECT_TRUE(has("filtered", "list", "alice"));
  for (const auto& o : lines)
    if (o.at("decision").as_string() == "deny") {
      EXPECT_EQ(o.at("missing_scopes").at(0).as_string(), "notes:read");
    }
}

}  // namespace

namespace {

TEST_F(HttpJit, ATokenPastItsExpiryGrantsTheSessionNothing) {
  // Verifiers accept a token a little past exp (clock skew); the session's rights end at exp all
  // the same, or the expiry timer and the next request would take turns.
  auto session = server_->create_session();
  auto p = std::make_shared<auth::Principal>();
  p->issuer = "https://as.example.com";
  p->subject = "alice";
  p->scopes = {"notes:read"};
  p->expires_at = now_s() + 300;
  EXPECT_EQ(server_->bind_caller(session, p), mcp::Binding::ok);
  EXPECT_EQ(session->principal(), p);
  auto stale = std::make_shared<auth::Principal>(*p);
  stale->expires_at = now_s() - 1;
  EXPECT_EQ(server_->bind_caller(session, stale), mcp::Binding::ok);
  EXPECT_EQ(session->principal(), p);  // the live token's rights stay
  EXPECT_EQ(server_->expire_rights(now_s() + 301), 1u);
  EXPECT_EQ(session->principal(), nullptr);
  EXPECT_EQ(server_->bind_caller(session, stale), mcp::Binding::ok);
  EXPECT_EQ(session->principal(), nullptr);  // and an expired one does not bring them back
  auto other = std::make_shared<auth::Principal>(*p);
  other->subject = "mallory";
  EXPECT_EQ(server_->bind_caller(session, other), mcp::Binding::other_subject);
  EXPECT_EQ(server_->bind_caller(session, nullptr), mcp::Binding::anonymous_on_bound);
  server_->close_session(session->id());
}

}  // namespace
