// The development authorization server over real HTTP: the whole authorization code flow through
// its login and consent pages, refresh rotation, client credentials, key rotation, and every bad
// input the issue names, each with its RFC error code. Tokens are checked by jitgate's own verifier.
#include <gtest/gtest.h>

#include <atomic>
#include <regex>

#include "devauth/http.hpp"
#include "devauth/util.hpp"
#include "jitgate/auth/jwks_cache.hpp"
#include "jitgate/auth/jwt_verifier.hpp"
#include "jitgate/auth/token_exchange.hpp"
#include "jitgate/devauth/config.hpp"
#include "jitgate/devauth/password.hpp"
#include "jitgate/devauth/server.hpp"
#include "support/raw_http.hpp"

namespace json = boost::json;
using namespace jitgate;

namespace {

const std::string kResource = "http://127.0.0.1:9999/mcp";
const std::string kRedirect = "http://127.0.0.1:7777/callback";
const std::string kUpstream = "http://127.0.0.1:9998/mcp";  // a second resource, for token exchange

struct Reply {
  unsigned status = 0;
  std::string body, location, set_cookie, content_type, cache_control;
  json::object json() const {
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    return !ec && v.is_object() ? v.as_object() : json::object{};
  }
  std::string error() const {
    auto o = json();
    return o.contains("error") ? std::string(o.at("error").as_string()) : "";
  }
};

// The query parameters of a redirect Location.
devauth::Fields query_of(const std::string& location) {
  auto q = location.find('?');
  return devauth::parse_form(q == std::string::npos ? "" : location.substr(q + 1)).value_or(devauth::Fields{});
}
std::string param(const std::string& location, const std::string& name) {
  return devauth::field(query_of(location), name).value_or("");
}

std::string challenge_of(const std::string& verifier) { return devauth::base64url(devauth::sha256(verifier)); }

class DevAuth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { alice_hash_ = new std::string(devauth::hash_password("alice-password")); }
  static void TearDownTestSuite() { delete alice_hash_; }

  void SetUp() override {
    devauth::Options o;
    o.users = {devauth::User{"alice", *alice_hash_, "Alice Example", {"member"}},
               devauth::User{"bob", devauth::hash_password("bob-password"), "", {"admin", "member"}}};
    o.scopes = {
        {"notes:read", "Read your own notes"}, {"notes:write", "Write your own notes"}, {"admin:write", "Run admin actions"}};
    o.resources = {kResource, kUpstream};
    o.cimd_allowed_hosts = {"127.0.0.1"};
    devauth::Client robot;
    robot.client_id = "robot";
    robot.client_secret = "robot-secret";
    robot.grant_types = {"client_credentials"};
    robot.scope = "notes:read admin:write";
    devauth::Client app;
    app.client_id = "app";
    app.client_name = "Demo App";
    app.redirect_uris = {kRedirect};
    devauth::Client gateway;  // may exchange tokens addressed to kResource
    gateway.client_id = "gateway";
    gateway.client_secret = "gateway-secret";
    gateway.grant_types = {std::string(auth::kTokenExchangeGrant)};
    gateway.exchange_audiences = {kResource};
    o.clients = {robot, app, gateway};
    o.now = [this] {
      return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
             skew_.load();
    };
    server_ = std::make_unique<devauth::DevAuthServer>(std::move(o));
    port_ = server_->listen();
    server_->start();
    issuer_ = server_->issuer();
  }
  void TearDown() override { server_->stop(); }

  Reply send(const std::string& raw, std::uint16_t port = 0) {
    testsupport::RawClient c(port ? port : port_);
    c.write(raw);
    auto r = c.read();
    Reply out;
    out.status = r.status;
    out.body = r.msg.body();
    out.location = r.header("Location");
    out.set_cookie = r.header("Set-Cookie");
    out.content_type = r.header("Content-Type");
    out.cache_control = r.header("Cache-Control");
    return out;
  }
  Reply get(const std::string& target, const std::string& headers = "") {
    return send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "Connection: close\r\n\r\n");
  }
  Reply post(const std::string& path, const std::string& body, const std::string& headers = "",
             const std::string& type = "application/x-www-form-urlencoded") {
    return send("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + type + "\r\n" + headers +
                "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  }
  std::string form(const devauth::Fields& f) {
    std::string out;
    for (const auto& [k, v] : f) out += (out.empty() ? "" : "&") + devauth::url_encode(k) + "=" + devauth::url_encode(v);
    return out;
  }
  std::string authorize_target(const std::string& client_id, const std::string& redirect, const std::string& scope,
                               const std::string& verifier, const std::string& resource = kResource,
                               const std::string& extra = "") {
    devauth::Fields f{{"response_type", "code"},
                      {"client_id", client_id},
                      {"redirect_uri", redirect},
                      {"state", "st-1"},
                      {"code_challenge", challenge_of(verifier)},
                      {"code_challenge_method", "S256"}};
    if (!scope.empty()) f.emplace_back("scope", scope);
    if (!resource.empty()) f.emplace_back("resource", resource);
    return "/authorize?" + form(f) + extra;
  }
  static std::string request_id(const std::string& html) {
    std::smatch m;
    if (!std::regex_search(html, m, std::regex("name=\"request\" value=\"([^\"]+)\""))) return "";
    return m[1];
  }
  static std::string session_cookie(const std::string& set_cookie) { return set_cookie.substr(0, set_cookie.find(';')); }

  // Login page, login POST, consent POST granting `grant`; returns the redirect Location.
  std::string sign_in_and_consent(const std::string& target, const std::string& user, const std::string& password,
                                  const std::vector<std::string>& grant, std::string* cookie = nullptr) {
    auto page = get(target);
    EXPECT_EQ(page.status, 200u) << page.body;
    std::string id = request_id(page.body);
    EXPECT_FALSE(id.empty());
    auto consent = post("/login", form({{"request", id}, {"username", user}, {"password", password}}));
    EXPECT_EQ(consent.status, 200u) << consent.body;
    std::string c = session_cookie(consent.set_cookie);
    if (cookie) *cookie = c;
    devauth::Fields f{{"request", request_id(consent.body)}, {"decision", "allow"}};
    for (const auto& s : grant) f.emplace_back("scope", s);
    auto done = post("/consent", form(f), "Cookie: " + c + "\r\n");
    EXPECT_EQ(done.status, 302u) << done.body;
    return done.location;
  }
  Reply exchange(const std::string& client_id, const std::string& code, const std::string& verifier,
                 const std::string& redirect = kRedirect, const std::string& resource = "") {
    devauth::Fields f{{"grant_type", "authorization_code"},
                      {"client_id", client_id},
                      {"code", code},
                      {"redirect_uri", redirect},
                      {"code_verifier", verifier}};
    if (!resource.empty()) f.emplace_back("resource", resource);
    return post("/token", form(f));
  }
  auth::Verification verify(const std::string& token, const std::string& audience = kResource) {
    auth::JwksOptions jo;
    jo.issuer = issuer_;
    auth::JwtOptions o;
    o.issuer = issuer_;
    o.audiences = {audience};
    auth::JwtVerifier v(o, std::make_shared<auth::JwksCache>(jo, auth::make_http_fetcher()));
    return v.verify(token);
  }
  std::string register_public_client(const std::string& redirect = kRedirect) {
    auto r = post("/register",
                  R"({"client_name":"Test Client","redirect_uris":[")" + redirect +
                      R"("],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]})",
                  "", "application/json");
    EXPECT_EQ(r.status, 201u) << r.body;
    return std::string(r.json().at("client_id").as_string());
  }

  static std::string* alice_hash_;
  std::atomic<std::int64_t> skew_{0};
  std::unique_ptr<devauth::DevAuthServer> server_;
  std::uint16_t port_ = 0;
  std::string issuer_;
  const std::string verifier_ = devauth::random_token(40);
};
std::string* DevAuth::alice_hash_ = nullptr;

TEST_F(DevAuth, PublishesMetadataAndJwks) {
  for (std::string path : {"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}) {
    auto r = get(path);
    ASSERT_EQ(r.status, 200u);
    EXPECT_TRUE(r.content_type.starts_with("application/json"));
    auto m = r.json();
    EXPECT_EQ(m.at("issuer").as_string(), issuer_);
    EXPECT_EQ(m.at("authorization_endpoint").as_string(), issuer_ + "/authorize");
    EXPECT_EQ(m.at("token_endpoint").as_string(), issuer_ + "/token");
    EXPECT_EQ(m.at("registration_endpoint").as_string(), issuer_ + "/register");
    EXPECT_EQ(m.at("code_challenge_methods_supported"), json::array{"S256"});
    EXPECT_EQ(m.at("authorization_response_iss_parameter_supported"), true);
    EXPECT_EQ(m.at("client_id_metadata_document_supported"), true);
  }
  EXPECT_EQ(issuer_, "http://127.0.0.1:" + std::to_string(port_));
  auto jwks = get("/jwks").json();
  ASSERT_EQ(jwks.at("keys").as_array().size(), 1u);
  EXPECT_EQ(jwks.at("keys").as_array()[0].at("alg").as_string(), "ES256");
  EXPECT_FALSE(jwks.at("keys").as_array()[0].as_object().contains("d"));  // public only
  EXPECT_NE(get("/").body.find("Development authorization server"), std::string::npos);
}

TEST_F(DevAuth, AuthorizationCodeFlowGrantsTheChosenSubsetAndJitgateVerifiesTheToken) {
  std::string client = register_public_client();
  auto page = get(authorize_target(client, kRedirect, "notes:read notes:write", verifier_));
  ASSERT_EQ(page.status, 200u);
  EXPECT_NE(page.body.find("Development authorization server"), std::string::npos);
  EXPECT_NE(page.body.find("name=\"username\""), std::string::npos);
  auto consent =
      post("/login", form({{"request", request_id(page.body)}, {"username", "alice"}, {"password", "alice-password"}}));
  ASSERT_EQ(consent.status, 200u);
  EXPECT_NE(consent.body.find("Read your own notes"), std::string::npos);
  EXPECT_NE(consent.body.find("Write your own notes"), std::string::npos);
  EXPECT_NE(consent.set_cookie.find("HttpOnly"), std::string::npos);
  auto done = post("/consent", form({{"request", request_id(consent.body)}, {"decision", "allow"}, {"scope", "notes:read"}}),
                   "Cookie: " + session_cookie(consent.set_cookie) + "\r\n");
  ASSERT_EQ(done.status, 302u);
  ASSERT_TRUE(done.location.starts_with(kRedirect + "?"));
  EXPECT_EQ(param(done.location, "state"), "st-1");
  EXPECT_EQ(param(done.location, "iss"), issuer_);  // RFC 9207
  std::string code = param(done.location, "code");
  ASSERT_FALSE(code.empty());

  auto t = exchange(client, code, verifier_, kRedirect, kResource);
  ASSERT_EQ(t.status, 200u) << t.body;
  EXPECT_EQ(t.cache_control, "no-store");
  auto body = t.json();
  EXPECT_EQ(body.at("token_type").as_string(), "Bearer");
  EXPECT_EQ(body.at("scope").as_string(), "notes:read");
  auto v = verify(std::string(body.at("access_token").as_string()));
  ASSERT_TRUE(std::holds_alternative<auth::Principal>(v)) << std::get<auth::TokenError>(v).description;
  const auto& p = std::get<auth::Principal>(v);
  EXPECT_EQ(p.subject, "alice");
  EXPECT_EQ(p.client_id, client);
  EXPECT_EQ(p.scopes, (std::set<std::string, std::less<>>{"notes:read"}));
  EXPECT_EQ(p.roles, (std::set<std::string, std::less<>>{"member"}));
  EXPECT_EQ(p.claims.at("aud").as_string(), kResource);

  // Refresh with rotation: the new pair works once, the old refresh token is refused afterwards.
  std::string rt1(body.at("refresh_token").as_string());
  auto r2 = post("/token", form({{"grant_type", "refresh_token"}, {"client_id", client}, {"refresh_token", rt1}}));
  ASSERT_EQ(r2.status, 200u) << r2.body;
  std::string rt2(r2.json().at("refresh_token").as_string());
  EXPECT_NE(rt1, rt2);
  EXPECT_TRUE(std::holds_alternative<auth::Principal>(verify(std::string(r2.json().at("access_token").as_string()))));
  auto again = post("/token", form({{"grant_type", "refresh_token"}, {"client_id", client}, {"refresh_token", rt1}}));
  EXPECT_EQ(again.status, 400u);
  EXPECT_EQ(again.error(), "invalid_grant");
  // Reuse of a rotated token revokes its whole family (OAuth 2.1 section 4.3.1).
  auto after = post("/token", form({{"grant_type", "refresh_token"}, {"client_id", client}, {"refresh_token", rt2}}));
  EXPECT_EQ(after.error(), "invalid_grant");
}

TEST_F(DevAuth, RefreshCanNarrowScopeButNotWidenIt) {
  std::string loc = sign_in_and_consent(authorize_target("app", kRedirect, "notes:read notes:write", verifier_), "alice",
                                        "alice-password", {"notes:read", "notes:write"});
  auto t = exchange("app", param(loc, "code"), verifier_).json();
  std::string rt(t.at("refresh_token").as_string());
  auto wide = post(
      "/token", form({{"grant_type", "refresh_token"}, {"client_id", "app"}, {"refresh_token", rt}, {"scope", "admin:write"}}));
  EXPECT_EQ(wide.error(), "invalid_scope");
}

TEST_F(DevAuth, StepUpShowsOnlyWhatIsNew) {
  std::string cookie;
  std::string loc = sign_in_and_consent(authorize_target("app", kRedirect, "notes:read", verifier_), "bob", "bob-password",
                                        {"notes:read"}, &cookie);
  ASSERT_FALSE(param(loc, "code").empty());
  // The same browser asks again with one more scope: no login, a consent page with only the new one.
  auto page = get(authorize_target("app", kRedirect, "notes:read admin:write", verifier_), "Cookie: " + cookie + "\r\n");
  ASSERT_EQ(page.status, 200u);
  EXPECT_EQ(page.body.find("name=\"password\""), std::string::npos);
  EXPECT_NE(page.body.find("value=\"admin:write\""), std::string::npos);
  EXPECT_EQ(page.body.find("value=\"notes:read\""), std::string::npos);  // not offered again ...
  EXPECT_NE(page.body.find("You allowed earlier"), std::string::npos);   // ... only listed
  auto done = post("/consent", form({{"request", request_id(page.body)}, {"decision", "allow"}, {"scope", "admin:write"}}),
                   "Cookie: " + cookie + "\r\n");
  ASSERT_EQ(done.status, 302u);
  auto t = exchange("app", param(done.location, "code"), verifier_);
  EXPECT_EQ(t.json().at("scope").as_string(), "notes:read admin:write");
  // Nothing new: straight back with a code.
  auto quick = get(authorize_target("app", kRedirect, "notes:read", verifier_), "Cookie: " + cookie + "\r\n");
  EXPECT_EQ(quick.status, 302u);
  EXPECT_FALSE(param(quick.location, "code").empty());
}

// Incremental authorization: a client that asks only for the scope of its latest challenge (the
// MCP TypeScript SDK's step-up) keeps what the user allowed it before, and the page says so.
TEST_F(DevAuth, StepUpForOnlyTheNewScopeKeepsEarlierGrants) {
  std::string cookie;
  std::string loc = sign_in_and_consent(authorize_target("app", kRedirect, "notes:read", verifier_), "bob", "bob-password",
                                        {"notes:read"}, &cookie);
  ASSERT_FALSE(param(loc, "code").empty());
  auto page = get(authorize_target("app", kRedirect, "admin:write", verifier_), "Cookie: " + cookie + "\r\n");
  ASSERT_EQ(page.status, 200u);
  EXPECT_NE(page.body.find("value=\"admin:write\""), std::string::npos);
  EXPECT_EQ(page.body.find("value=\"notes:read\""), std::string::npos);
  auto granted = page.body.find("<ul id=\"granted\">");
  ASSERT_NE(granted, std::string::npos);
  EXPECT_NE(page.body.find("<code>notes:read</code>", granted), std::string::npos);
  auto done = post("/consent", form({{"request", request_id(page.body)}, {"decision", "allow"}, {"scope", "admin:write"}}),
                   "Cookie: " + cookie + "\r\n");
  ASSERT_EQ(done.status, 302u);
  EXPECT_EQ(exchange("app", param(done.location, "code"), verifier_).json().at("scope").as_string(), "admin:write notes:read");
  // Unticking the new scope still keeps the earlier ones.
  auto again = get(authorize_target("app", kRedirect, "notes:write", verifier_), "Cookie: " + cookie + "\r\n");
  ASSERT_EQ(again.status, 200u);
  auto none = post("/consent", form({{"request", request_id(again.body)}, {"decision", "allow"}}), "Cookie: " + cookie + "\r\n");
  ASSERT_EQ(none.status, 302u);
  EXPECT_EQ(exchange("app", param(none.location, "code"), verifier_).json().at("scope").as_string(), "admin:write notes:read");
  // Nothing new asked: straight back with a code that still holds every earlier grant.
  auto quick = get(authorize_target("app", kRedirect, "notes:read", verifier_), "Cookie: " + cookie + "\r\n");
  ASSERT_EQ(quick.status, 302u);
  EXPECT_EQ(exchange("app", param(quick.location, "code"), verifier_).json().at("scope").as_string(), "notes:read admin:write");
}

TEST_F(DevAuth, DenyAndWrongPassword) {
  auto page = get(authorize_target("app", kRedirect, "notes:read", verifier_));
  auto bad = post("/login", form({{"request", request_id(page.body)}, {"username", "alice"}, {"password", "nope"}}));
  EXPECT_EQ(bad.status, 401u);
  EXPECT_NE(bad.body.find("Wrong username or password"), std::string::npos);
  EXPECT_TRUE(bad.set_cookie.empty());
  auto unknown = post("/login", form({{"request", request_id(page.body)}, {"username", "mallory"}, {"password", "x"}}));
  EXPECT_EQ(unknown.status, 401u);
  auto ok = post("/login", form({{"request", request_id(page.body)}, {"username", "alice"}, {"password", "alice-password"}}));
  // A consent form posted without the session that signed in is refused (no cross-site consent).
  auto foreign = post("/consent", form({{"request", request_id(ok.body)}, {"decision", "allow"}}));
  EXPECT_EQ(foreign.status, 400u);
  auto deny = post("/consent", form({{"request", request_id(ok.body)}, {"decision", "deny"}}),
                   "Cookie: " + session_cookie(ok.set_cookie) + "\r\n");
  ASSERT_EQ(deny.status, 302u);
  EXPECT_EQ(param(deny.location, "error"), "access_denied");
  EXPECT_EQ(param(deny.location, "iss"), issuer_);
}

TEST_F(DevAuth, ClientCredentialsForAConfidentialClient) {
  std::string basic = "Authorization: Basic " + devauth::base64url("robot:robot-secret") + "\r\n";
  // b64url of this input has no '-' or '_', so it is also standard base64 (padding aside).
  auto r = post("/token", form({{"grant_type", "client_credentials"}, {"scope", "notes:read"}, {"resource", kResource}}), basic);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_FALSE(r.json().contains("refresh_token"));
  auto v = verify(std::string(r.json().at("access_token").as_string()));
  ASSERT_TRUE(std::holds_alternative<auth::Principal>(v));
  EXPECT_EQ(std::get<auth::Principal>(v).subject, "robot");
  EXPECT_EQ(std::get<auth::Principal>(v).scopes, (std::set<std::string, std::less<>>{"notes:read"}));
  auto post_auth = post("/token", form({{"grant_type", "client_credentials"},
                                        {"client_id", "robot"},
                                        {"client_secret", "robot-secret"},
                                        {"resource", kResource}}));
  ASSERT_EQ(post_auth.status, 200u);
  EXPECT_EQ(post_auth.json().at("scope").as_string(), "notes:read admin:write");
  auto wrong = post("/token", form({{"grant_type", "client_credentials"}, {"client_id", "robot"}, {"client_secret", "guess"}}));
  EXPECT_EQ(wrong.status, 401u);
  EXPECT_EQ(wrong.error(), "invalid_client");
  auto too_much = post("/token", form({{"grant_type", "client_credentials"}, {"scope", "notes:write"}}), basic);
  EXPECT_EQ(too_much.error(), "invalid_scope");
  auto public_client = post("/token", form({{"grant_type", "client_credentials"}, {"client_id", "app"}}));
  EXPECT_EQ(public_client.error(), "unauthorized_client");
  // A confidential client registered dynamically gets a secret and may use client_credentials.
  auto reg =
      post("/register",
           R"({"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post","scope":"notes:read"})", "",
           "application/json");
  ASSERT_EQ(reg.status, 201u) << reg.body;
  auto id = std::string(reg.json().at("client_id").as_string()), secret = std::string(reg.json().at("client_secret").as_string());
  auto cc =
      post("/token",
           form({{"grant_type", "client_credentials"}, {"client_id", id}, {"client_secret", secret}, {"resource", kResource}}));
  EXPECT_EQ(cc.status, 200u) << cc.body;
}

TEST_F(DevAuth, KeyRotationKeepsEarlierTokensVerifiable) {
  auto issue = [&] {
    return std::string(post("/token", form({{"grant_type", "client_credentials"},
                                            {"client_id", "robot"},
                                            {"client_secret", "robot-secret"},
                                            {"resource", kResource}}))
                           .json()
                           .at("access_token")
                           .as_string());
  };
  std::string before = issue();
  auto rotated = post("/dev/rotate-keys", "");
  ASSERT_EQ(rotated.status, 200u);
  std::string after = issue();
  EXPECT_EQ(get("/jwks").json().at("keys").as_array().size(), 2u);
  EXPECT_NE(before.substr(0, before.find('.')), after.substr(0, after.find('.')));  // another kid
  EXPECT_TRUE(std::holds_alternative<auth::Principal>(verify(before)));
  EXPECT_TRUE(std::holds_alternative<auth::Principal>(verify(after)));
}

TEST_F(DevAuth, LoopbackRedirectPortIsFree) {
  std::string client = register_public_client("http://127.0.0.1:1234/callback");
  auto page = get(authorize_target(client, "http://127.0.0.1:50123/callback", "", verifier_));
  EXPECT_EQ(page.status, 200u) << page.body;
  auto other_path = get(authorize_target(client, "http://127.0.0.1:50123/elsewhere", "", verifier_));
  EXPECT_EQ(other_path.status, 400u);
}

// --- bad input, each with its RFC error code ---

TEST_F(DevAuth, WrongPkceVerifierIsInvalidGrant) {
  std::string loc =
      sign_in_and_consent(authorize_target("app", kRedirect, "notes:read", verifier_), "alice", "alice-password", {"notes:read"});
  auto t = exchange("app", param(loc, "code"), devauth::random_token(40));
  EXPECT_EQ(t.status, 400u);
  EXPECT_EQ(t.error(), "invalid_grant");
  auto missing = post("/token", form({{"grant_type", "authorization_code"},
                                      {"client_id", "app"},
                                      {"code", param(loc, "code")},
                                      {"redirect_uri", kRedirect}}));
  EXPECT_EQ(missing.error(), "invalid_request");
}

TEST_F(DevAuth, ReusedCodeIsInvalidGrantAndRevokesItsTokens) {
  std::string loc =
      sign_in_and_consent(authorize_target("app", kRedirect, "notes:read", verifier_), "alice", "alice-password", {"notes:read"});
  auto first = exchange("app", param(loc, "code"), verifier_);
  ASSERT_EQ(first.status, 200u);
  auto second = exchange("app", param(loc, "code"), verifier_);
  EXPECT_EQ(second.status, 400u);
  EXPECT_EQ(second.error(), "invalid_grant");
  auto refresh = post("/token", form({{"grant_type", "refresh_token"},
                                      {"client_id", "app"},
                                      {"refresh_token", std::string(first.json().at("refresh_token").as_string())}}));
  EXPECT_EQ(refresh.error(), "invalid_grant");
}

TEST_F(DevAuth, MismatchedRedirectUri) {
  // At the authorization endpoint: an error page, never a redirect to an unregistered URI.
  auto page = get(authorize_target("app", "http://evil.example/cb", "notes:read", verifier_));
  EXPECT_EQ(page.status, 400u);
  EXPECT_TRUE(page.location.empty());
  EXPECT_NE(page.body.find("invalid_request"), std::string::npos);
  // At the token endpoint: invalid_grant (RFC 6749 section 5.2).
  std::string loc =
      sign_in_and_consent(authorize_target("app", kRedirect, "notes:read", verifier_), "alice", "alice-password", {"notes:read"});
  auto t = exchange("app", param(loc, "code"), verifier_, "http://127.0.0.1:7777/other");
  EXPECT_EQ(t.error(), "invalid_grant");
}

TEST_F(DevAuth, UnknownClient) {
  auto page = get(authorize_target("nobody", kRedirect, "notes:read", verifier_));
  EXPECT_EQ(page.status, 400u);
  EXPECT_TRUE(page.location.empty());
  EXPECT_NE(page.body.find("invalid_client"), std::string::npos);
  auto t = exchange("nobody", "whatever", verifier_);
  EXPECT_EQ(t.status, 401u);
  EXPECT_EQ(t.error(), "invalid_client");
}

TEST_F(DevAuth, ExpiredCodeIsInvalidGrant) {
  std::string loc =
      sign_in_and_consent(authorize_target("app", kRedirect, "notes:read", verifier_), "alice", "alice-password", {"notes:read"});
  skew_ = 61;  // the code lives 60 s
  auto t = exchange("app", param(loc, "code"), verifier_);
  EXPECT_EQ(t.status, 400u);
  EXPECT_EQ(t.error(), "invalid_grant");
}

TEST_F(DevAuth, WrongResourceIsInvalidTarget) {
  // At the authorization endpoint: back to the client with invalid_target (RFC 8707 section 2).
  auto page = get(authorize_target("app", kRedirect, "notes:read", verifier_, "https://other.example/mcp"));
  ASSERT_EQ(page.status, 302u);
  EXPECT_EQ(param(page.location, "error"), "invalid_target");
  EXPECT_EQ(param(page.location, "state"), "st-1");
  // At the token endpoint: a resource other than the one authorized.
  std::string loc =
      sign_in_and_consent(authorize_target("app", kRedirect, "notes:read", verifier_), "alice", "alice-password", {"notes:read"});
  auto t = exchange("app", param(loc, "code"), verifier_, kRedirect, "https://other.example/mcp");
  EXPECT_EQ(t.error(), "invalid_target");
  auto cc = post("/token", form({{"grant_type", "client_credentials"},
                                 {"client_id", "robot"},
                                 {"client_secret", "robot-secret"},
                                 {"resource", "https://other.example/mcp"}}));
  EXPECT_EQ(cc.error(), "invalid_target");
}

TEST_F(DevAuth, MalformedAuthorizationRequestsGoBackWithTheirCodes) {
  auto plain = get("/authorize?response_type=code&client_id=app&state=s&code_challenge=" + challenge_of(verifier_) +
                   "&code_challenge_method=plain");
  ASSERT_EQ(plain.status, 302u);
  EXPECT_EQ(param(plain.location, "error"), "invalid_request");
  auto no_pkce = get("/authorize?response_type=code&client_id=app&state=s");
  EXPECT_EQ(param(no_pkce.location, "error"), "invalid_request");
  auto token_flow = get("/authorize?response_type=token&client_id=app&state=s");
  EXPECT_EQ(param(token_flow.location, "error"), "unsupported_response_type");
  auto scope = get(authorize_target("app", kRedirect, "root:everything", verifier_));
  EXPECT_EQ(param(scope.location, "error"), "invalid_scope");
  auto twice = get(authorize_target("app", kRedirect, "notes:read", verifier_, kResource, "&state=again"));
  EXPECT_EQ(param(twice.location, "error"), "invalid_request");
}

TEST_F(DevAuth, MalformedTokenRequests) {
  EXPECT_EQ(post("/token", "grant_type=password&client_id=app").error(), "unsupported_grant_type");
  EXPECT_EQ(post("/token", "client_id=app").error(), "invalid_request");
  EXPECT_EQ(post("/token", R"({"grant_type":"client_credentials"})", "", "application/json").error(), "invalid_request");
  EXPECT_EQ(post("/token", "grant_type=refresh_token&client_id=app&refresh_token=forged").error(), "invalid_grant");
  EXPECT_EQ(
      post("/token", "grant_type=authorization_code&client_id=app&code=forged&redirect_uri=x&code_verifier=" + verifier_).error(),
      "invalid_grant");
  EXPECT_EQ(
      post("/token", "grant_type=client_credentials&grant_type=client_credentials&client_id=robot&client_secret=robot-secret")
          .error(),
      "invalid_request");
  EXPECT_EQ(post("/token", "grant_type=%zz").error(), "invalid_request");
}

TEST_F(DevAuth, MalformedRegistrationIsRefused) {
  auto json_post = [&](const std::string& body) { return post("/register", body, "", "application/json"); };
  EXPECT_EQ(json_post("{not json").error(), "invalid_client_metadata");
  EXPECT_EQ(json_post("[]").error(), "invalid_client_metadata");
  EXPECT_EQ(json_post(R"({"redirect_uris":["http://evil.example/cb"],"token_endpoint_auth_method":"none"})").error(),
            "invalid_redirect_uri");
  EXPECT_EQ(json_post(R"({"redirect_uris":["https://ok.example/cb#frag"],"token_endpoint_auth_method":"none"})").error(),
            "invalid_redirect_uri");
  EXPECT_EQ(json_post(R"({"token_endpoint_auth_method":"none"})").error(), "invalid_redirect_uri");
  EXPECT_EQ(json_post(R"({"redirect_uris":"https://ok.example/cb"})").error(), "invalid_redirect_uri");
  EXPECT_EQ(json_post(R"({"redirect_uris":["https://ok.example/cb"],"token_endpoint_auth_method":"private_key_jwt"})").error(),
            "invalid_client_metadata");
  EXPECT_EQ(json_post(R"({"redirect_uris":["https://ok.example/cb"],"grant_types":["implicit"]})").error(),
            "invalid_client_metadata");
  EXPECT_EQ(json_post(R"({"redirect_uris":["https://ok.example/cb"],"client_name":7})").error(), "invalid_client_metadata");
  EXPECT_EQ(json_post(R"({"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"})").error(),
            "invalid_client_metadata");
  EXPECT_EQ(post("/register", "a=b").error(), "invalid_client_metadata");
  auto ok = json_post(R"({"redirect_uris":["https://ok.example/cb","com.example.app:/cb"],"client_name":"ok"})");
  EXPECT_EQ(ok.status, 201u);
  EXPECT_TRUE(ok.json().contains("client_secret"));  // client_secret_basic is RFC 7591's default
}

// --- Client ID Metadata Documents ---

struct DocumentServer {
  std::atomic<int> fetches{0};
  std::string body;
  std::unique_ptr<devauth::Listener> listener;
  std::uint16_t port = 0;
  DocumentServer() {
    listener = std::make_unique<devauth::Listener>(devauth::ListenerOptions{}, [this](const devauth::Request&) {
      ++fetches;
      return devauth::Response{200, {{"Content-Type", "application/json"}, {"Cache-Control", "max-age=60"}}, body};
    });
    port = listener->listen();
    listener->start();
  }
  ~DocumentServer() { listener->stop(); }
};

TEST_F(DevAuth, ClientIdMetadataDocumentFromAnAllowedHost) {
  DocumentServer docs;
  std::string url = "http://127.0.0.1:" + std::to_string(docs.port) + "/client.json";
  docs.body = R"({"client_id":")" + url + R"(","client_name":"CIMD Client","redirect_uris":[")" + kRedirect +
              R"("],"token_endpoint_auth_method":"none"})";
  std::string loc =
      sign_in_and_consent(authorize_target(url, kRedirect, "notes:read", verifier_), "alice", "alice-password", {"notes:read"});
  auto t = exchange(url, param(loc, "code"), verifier_);
  ASSERT_EQ(t.status, 200u) << t.body;
  EXPECT_EQ(docs.fetches.load(), 1);  // cached
  auto v = verify(std::string(t.json().at("access_token").as_string()));
  ASSERT_TRUE(std::holds_alternative<auth::Principal>(v));
  EXPECT_EQ(std::get<auth::Principal>(v).client_id, url);
}

TEST_F(DevAuth, ClientIdMetadataDocumentRefusals) {
  DocumentServer docs;
  // A disallowed host is never fetched.
  std::string elsewhere = "http://localhost:" + std::to_string(docs.port) + "/client.json";
  docs.body = R"({"client_id":")" + elsewhere + R"(","redirect_uris":[")" + kRedirect + R"("]})";
  auto page = get(authorize_target(elsewhere, kRedirect, "notes:read", verifier_));
  EXPECT_EQ(page.status, 400u);
  EXPECT_NE(page.body.find("invalid_client"), std::string::npos);
  EXPECT_NE(page.body.find("not an allowed host"), std::string::npos);
  auto t = exchange(elsewhere, "x", verifier_);
  EXPECT_EQ(t.error(), "invalid_client");
  EXPECT_EQ(docs.fetches.load(), 0);
  // A document whose client_id is another URL, or that wants a shared secret.
  std::string url = "http://127.0.0.1:" + std::to_string(docs.port) + "/client.json";
  docs.body = R"({"client_id":"https://other.example/c.json","redirect_uris":[")" + kRedirect + R"("]})";
  EXPECT_NE(get(authorize_target(url, kRedirect, "", verifier_)).body.find("invalid_client"), std::string::npos);
  docs.body = R"({"client_id":")" + url + R"(","redirect_uris":[")" + kRedirect +
              R"("],"token_endpoint_auth_method":"client_secret_basic"})";
  EXPECT_NE(get(authorize_target(url, kRedirect, "", verifier_)).body.find("invalid_client"), std::string::npos);
}

TEST(DevAuthPassword, Argon2idRoundTrip) {
  std::string h = devauth::hash_password("s3cret");
  EXPECT_TRUE(h.starts_with("$argon2id$"));
  EXPECT_TRUE(devauth::verify_password(h, "s3cret"));
  EXPECT_FALSE(devauth::verify_password(h, "s3cret "));
  EXPECT_FALSE(devauth::verify_password("plain", "plain"));
  EXPECT_NE(h, devauth::hash_password("s3cret"));  // salted
}

TEST(DevAuthConfig, ParsesAndRejectsWithPositions) {
  std::string hash = devauth::hash_password("pw");
  auto o = devauth::parse_options(
      "devauth:\n  port: 9400\n  scopes:\n    - name: a\n      description: Do A\n  users:\n"
      "    - username: u\n      password_hash: '" +
      hash +
      "'\n      roles: [r]\n"
      "  clients:\n    - client_id: c\n      redirect_uris: [http://127.0.0.1/cb]\n");
  EXPECT_EQ(o.port, 9400);
  ASSERT_EQ(o.users.size(), 1u);
  EXPECT_EQ(o.users[0].roles, std::vector<std::string>{"r"});
  EXPECT_EQ(o.scopes[0].description, "Do A");
  EXPECT_EQ(o.clients[0].redirect_uris.size(), 1u);
  try {
    devauth::parse_options("users:\n  - username: u\n    password_hash: plain\n", "demo.yaml");
    FAIL();
  } catch (const devauth::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("demo.yaml:3:"), std::string::npos) << e.what();
  }
  EXPECT_THROW(devauth::parse_options("colour: blue\n"), devauth::ConfigError);
}

}  // namespace

namespace {

// Token exchange (RFC 8693): jitgate's own TokenExchanger against the real endpoint.
TEST_F(DevAuth, TokenExchangeKeepsTheSubjectAndNamesTheActor) {
  std::string loc = sign_in_and_consent(authorize_target("app", kRedirect, "notes:read notes:write", verifier_), "alice",
                                        "alice-password", {"notes:read", "notes:write"});
  auto t = exchange("app", param(loc, "code"), verifier_).json();
  std::string subject_token(t.at("access_token").as_string());

  auth::TokenExchangeOptions o;
  o.token_endpoint = issuer_ + "/token";
  o.client_id = "gateway";
  o.client_secret = "gateway-secret";
  o.resource = kUpstream;
  o.scopes = {"notes:read"};
  auth::TokenExchanger exchanger(o);
  std::string error;
  auto got = exchanger.exchange(subject_token, std::nullopt, error);
  ASSERT_TRUE(got) << error;
  EXPECT_EQ(got->scope, "notes:read");
  EXPECT_GT(got->expires_at, 0);

  // The issued token: alice, her roles, for the upstream, issued to the gateway acting for her.
  auto verified = verify(got->access_token, kUpstream);
  ASSERT_TRUE(std::holds_alternative<auth::Principal>(verified));
  const auto& p = std::get<auth::Principal>(verified);
  EXPECT_EQ(p.subject, "alice");
  EXPECT_EQ(p.client_id, "gateway");
  EXPECT_EQ(p.roles, (std::set<std::string, std::less<>>{"member"}));
  EXPECT_EQ(p.scopes, (std::set<std::string, std::less<>>{"notes:read"}));
  EXPECT_EQ(p.claims.at("act").at("sub").as_string(), "gateway");
  // Not for the original resource any more.
  EXPECT_TRUE(std::holds_alternative<auth::TokenError>(verify(got->access_token)));
  // Cached: the same subject token asks the server only once.
  auto again = exchanger.exchange(subject_token, std::nullopt, error);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->access_token, got->access_token);
  EXPECT_EQ(exchanger.stats().exchanges, 1u);

  // Exchanging the exchanged token again nests the actors (RFC 8693 section 4.1) ... once it is
  // addressed to a resource this client may exchange from; kUpstream is not.
  auto nested = exchanger.exchange(got->access_token, std::nullopt, error);
  EXPECT_FALSE(nested);
  EXPECT_NE(error.find("invalid_grant"), std::string::npos) << error;
}

TEST_F(DevAuth, TokenExchangeRefusals) {
  std::string loc =
      sign_in_and_consent(authorize_target("app", kRedirect, "notes:read", verifier_), "alice", "alice-password", {"notes:read"});
  std::string subject(exchange("app", param(loc, "code"), verifier_).json().at("access_token").as_string());
  std::string grant(auth::kTokenExchangeGrant), at(auth::kAccessTokenType);
  auto ask = [&](devauth::Fields f, const std::string& who = "gateway", const std::string& secret = "gateway-secret") {
    f.insert(f.begin(), {{"grant_type", grant}, {"client_id", who}, {"client_secret", secret}});
    return post("/token", form(f));
  };
  devauth::Fields good{{"subject_token", subject}, {"subject_token_type", at}, {"resource", kUpstream}};
  auto ok = ask(good);
  ASSERT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(ok.json().at("issued_token_type").as_string(), at);
  EXPECT_EQ(ok.json().at("token_type").as_string(), "Bearer");
  EXPECT_FALSE(ok.json().contains("refresh_token"));

  EXPECT_EQ(ask({{"subject_token_type", at}, {"resource", kUpstream}}).error(), "invalid_request");  // no subject_token
  EXPECT_EQ(ask({{"subject_token", subject}, {"resource", kUpstream}}).error(), "invalid_request");  // no type
  EXPECT_EQ(ask({{"subject_token", subject},
                 {"subject_token_type", "urn:ietf:params:oauth:token-type:id_token"},
                 {"resource", kUpstream}})
                .error(),
            "invalid_request");
  auto with_actor = good;
  with_actor.emplace_back("actor_token", subject);
  EXPECT_EQ(ask(with_actor).error(), "invalid_request");
  auto refresh_wanted = good;
  refresh_wanted.emplace_back("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token");
  EXPECT_EQ(ask(refresh_wanted).error(), "invalid_request");
  // A token that is not one of ours, or is garbage.
  EXPECT_EQ(ask({{"subject_token", "not-a-jwt"}, {"subject_token_type", at}, {"resource", kUpstream}}).error(), "invalid_grant");
  auto tampered = subject;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(ask({{"subject_token", tampered}, {"subject_token_type", at}, {"resource", kUpstream}}).error(), "invalid_grant");
  // Wider than the subject token, or for a resource tokens are not issued for.
  auto wider = good;
  wider.emplace_back("scope", "notes:read notes:write");
  EXPECT_EQ(ask(wider).error(), "invalid_scope");
  EXPECT_EQ(ask({{"subject_token", subject}, {"subject_token_type", at}, {"resource", "https://other.example/mcp"}}).error(),
            "invalid_target");
  EXPECT_EQ(
      ask({{"subject_token", subject}, {"subject_token_type", at}, {"resource", kUpstream}, {"audience", kResource}}).error(),
      "invalid_target");
  // A client without the grant, or with a wrong secret.
  EXPECT_EQ(ask(good, "robot", "robot-secret").error(), "unauthorized_client");
  auto wrong = ask(good, "gateway", "guess");
  EXPECT_EQ(wrong.status, 401u);
  EXPECT_EQ(wrong.error(), "invalid_client");
  // An expired subject token.
  skew_ = 3600;
  EXPECT_EQ(ask(good).error(), "invalid_grant");
  skew_ = 0;
  // Discovery names the grant.
  auto m = get("/.well-known/oauth-authorization-server").json();
  bool listed = false;
  for (const auto& g : m.at("grant_types_supported").as_array()) listed = listed || g.as_string() == grant;
  EXPECT_TRUE(listed);
}

TEST_F(DevAuth, TokenExchangeConfiguration) {
  EXPECT_THROW(devauth::parse_options(R"(clients:
  - client_id: gw
    grant_types: ["urn:ietf:params:oauth:grant-type:token-exchange"]
    exchange_audiences: ["http://127.0.0.1:8080/mcp"]
)"),
               devauth::ConfigError);  // a public client may not exchange
  EXPECT_THROW(devauth::parse_options(R"(clients:
  - client_id: gw
    client_secret: s
    grant_types: ["urn:ietf:params:oauth:grant-type:token-exchange"]
)"),
               devauth::ConfigError);  // exchange_audiences missing
  EXPECT_THROW(devauth::parse_options(R"(clients:
  - client_id: gw
    client_secret: s
    grant_types: [password]
)"),
               devauth::ConfigError);  // unknown grant
  auto o = devauth::parse_options(R"(clients:
  - client_id: gw
    client_secret: s
    grant_types: ["urn:ietf:params:oauth:grant-type:token-exchange"]
    exchange_audiences: ["http://127.0.0.1:8080/mcp"]
)");
  ASSERT_EQ(o.clients.size(), 1u);
  EXPECT_EQ(o.clients[0].exchange_audiences, std::vector<std::string>{"http://127.0.0.1:8080/mcp"});
}

}  // namespace
