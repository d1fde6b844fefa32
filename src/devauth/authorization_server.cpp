#include "devauth/authorization_server.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <iostream>

#include "common/clock.hpp"
#include "devauth/pages.hpp"
#include "devauth/util.hpp"
#include "jitgate/auth/jwt_verifier.hpp"
#include "jitgate/auth/token_exchange.hpp"
#include "jitgate/devauth/password.hpp"

namespace jitgate::devauth {

namespace json = boost::json;

struct AuthorizationServer::Pending {
  std::string client_id, client_name, redirect_uri, state, code_challenge, resource;
  std::vector<std::string> scopes;  // as requested
  std::string session_id;           // bound at login; the consent form must come from it
  std::int64_t expires_at = 0;
};

struct AuthorizationServer::LoginSession {
  std::string username;
  std::int64_t expires_at = 0;
  std::map<std::string, std::set<std::string>, std::less<>> granted;  // by client_id
};

struct AuthorizationServer::CodeGrant {
  std::string client_id, redirect_uri, code_challenge, resource, username, family;
  std::vector<std::string> scopes;
  std::int64_t expires_at = 0;
  bool used = false;
};

struct AuthorizationServer::RefreshGrant {
  std::string client_id, username, resource, family;
  std::vector<std::string> scopes;
  std::int64_t expires_at = 0;
  bool used = false;  // rotated away: presenting it again revokes the family
};

namespace {

constexpr const char* kCookie = "jitgate_devauth";
constexpr std::size_t kMaxRegisteredClients = 1000;
constexpr std::size_t kMaxPending = 10'000;
constexpr std::int64_t kPendingSeconds = 600;

void log(const std::string& line) { std::cerr << "jitgate devauth (DEVELOPMENT ONLY): " << line << '\n'; }

Response json_response(unsigned status, const json::object& body) {
  return Response{status,
                  {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}, {"Pragma", "no-cache"}},
                  json::serialize(body)};
}

Response oauth_error(const std::string& error, const std::string& description, unsigned status = 400) {
  json::object o{{"error", error}, {"error_description", description}};
  auto r = json_response(status, o);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"jitgate-devauth\"");
  return r;
}

Response html(unsigned status, std::string body) {
  return Response{status,
                  {{"Content-Type", "text/html; charset=utf-8"},
                   {"Cache-Control", "no-store"},
                   {"X-Frame-Options", "DENY"},
                   {"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"},
                   {"Referrer-Policy", "no-referrer"}},
                  std::move(body)};
}

Response error_html(const std::string& error, const std::string& description) {
  return html(400, error_page(error, description));
}

Response redirect(const std::string& location) {
  return Response{302, {{"Location", location}, {"Cache-Control", "no-store"}}, {}};
}

bool is_loopback_host(std::string_view host) { return host == "127.0.0.1" || host == "[::1]" || host == "localhost"; }

// The redirect URI without its port, when it is an http loopback URI (RFC 8252 section 7.3: the
// port is the client's to pick at request time).
std::optional<std::string> loopback_without_port(std::string_view uri) {
  auto u = boost::urls::parse_absolute_uri(uri);
  if (!u || u->scheme() != "http" || !is_loopback_host(u->encoded_host())) return std::nullopt;
  return std::string(u->encoded_host()) + std::string(u->encoded_path()) + "?" + std::string(u->encoded_query());
}

bool valid_redirect_uri(std::string_view uri) {
  auto u = boost::urls::parse_absolute_uri(uri);
  if (!u || u->has_fragment()) return false;
  if (u->scheme() == "https") return !u->encoded_host().empty();
  if (u->scheme() == "http") return is_loopback_host(u->encoded_host());
  // A private-use scheme of a native app (RFC 8252 section 7.1): reverse domain names only.
  return u->scheme().find('.') != std::string_view::npos;
}

bool valid_pkce_value(std::string_view v) {
  if (v.size() < 43 || v.size() > 128) return false;
  for (unsigned char c : v)
    if (!(std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')) return false;
  return true;
}

bool is_sha256_base64url(std::string_view v) {
  if (v.size() != 43) return false;
  for (unsigned char c : v)
    if (!(std::isalnum(c) || c == '-' || c == '_')) return false;
  return true;
}

std::string with_params(const std::string& uri, const Fields& params) {
  std::string out = uri;
  char sep = uri.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : params) {
    out += sep;
    out += url_encode(k) + "=" + url_encode(v);
    sep = '&';
  }
  return out;
}

std::optional<std::string> cookie(const Request& r, std::string_view name) {
  std::string all = r.header("cookie");
  std::string_view rest = all;
  while (!rest.empty()) {
    auto semi = rest.find(';');
    std::string_view part = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
  }
  return std::nullopt;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  for (const auto& x : v)
    if (x == s) return true;
  return false;
}

bool is_form(const Request& r) { return r.header("content-type").starts_with("application/x-www-form-urlencoded"); }

// Incremental authorization: what a request gets in the end is what it asked for and the user
// allowed, plus everything the user allowed this client before. Clients that step up ask only for
// the scope of the latest challenge (the MCP TypeScript SDK does); they keep what they had.
std::vector<std::string> with_earlier_grants(std::vector<std::string> scopes, const std::set<std::string>& earlier) {
  for (const auto& sc : earlier)
    if (std::find(scopes.begin(), scopes.end(), sc) == scopes.end()) scopes.push_back(sc);
  return scopes;
}

}  // namespace

AuthorizationServer::AuthorizationServer(Options options) : options_(std::move(options)) {
  if (!options_.fetch) options_.fetch = auth::make_http_fetcher(std::chrono::seconds(5), 5 * 1024);
  for (const auto& c : options_.clients) clients_[c.client_id] = c;
}

void AuthorizationServer::set_issuer(std::string issuer) { issuer_ = std::move(issuer); }

void AuthorizationServer::rotate_keys() {
  keys_.rotate();
  log("signing key rotated; new kid " + keys_.current_kid());
}

std::int64_t AuthorizationServer::now() const {
  if (options_.now) return options_.now();
  return common::epoch_seconds();
}

const User* AuthorizationServer::user(const std::string& username) const {
  for (const auto& u : options_.users)
    if (u.username == username) return &u;
  return nullptr;
}

bool AuthorizationServer::scope_known(const std::string& scope) const {
  for (const auto& s : options_.scopes)
    if (s.name == scope) return true;
  return false;
}

std::string AuthorizationServer::scope_description(const std::string& scope) const {
  for (const auto& s : options_.scopes)
    if (s.name == scope) return s.description.empty() ? s.name : s.description;
  return scope;
}

bool AuthorizationServer::resource_allowed(const std::string& resource) const {
  auto u = boost::urls::parse_absolute_uri(resource);
  if (!u || u->has_fragment() || (u->scheme() != "https" && u->scheme() != "http")) return false;
  if (options_.resources.empty()) return true;
  return contains(options_.resources, resource);
}

void AuthorizationServer::sweep() {
  std::int64_t t = now();
  if (t == last_sweep_) return;
  last_sweep_ = t;
  std::erase_if(pending_, [t](const auto& kv) { return kv.second->expires_at <= t; });
  std::erase_if(sessions_, [t](const auto& kv) { return kv.second->expires_at <= t; });
  std::erase_if(codes_, [t](const auto& kv) { return kv.second->expires_at <= t - 600; });  // kept a while to detect reuse
  std::erase_if(refresh_, [t](const auto& kv) { return kv.second->expires_at <= t; });
  std::erase_if(documents_, [t](const auto& kv) { return kv.second.expires_at <= t; });
}

Response AuthorizationServer::handle(const Request& r) {
  Response res = route(r);
  // Browser-based clients (the MCP Inspector) call metadata, JWKS, registration and token from
  // another origin; none of these rely on cookies, so any origin may read them.
  std::string path = r.path();
  if (path != "/authorize" && path != "/login" && path != "/consent" && path != "/") {
    res.headers.emplace_back("Access-Control-Allow-Origin", "*");
    res.headers.emplace_back("Access-Control-Expose-Headers", "WWW-Authenticate");
  }
  return res;
}

Response AuthorizationServer::route(const Request& r) {
  std::string path = r.path();
  if (r.method == "OPTIONS")
    return Response{204,
                    {{"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                     {"Access-Control-Allow-Headers", "Authorization, Content-Type, MCP-Protocol-Version"},
                     {"Access-Control-Max-Age", "600"}},
                    {}};
  {
    std::lock_guard lock(mu_);
    sweep();
  }
  if (path == "/.well-known/oauth-authorization-server" || path == "/.well-known/openid-configuration") {
    if (r.method != "GET" && r.method != "HEAD") return oauth_error("invalid_request", "use GET", 405);
    return metadata(path.ends_with("openid-configuration"));
  }
  if (path == "/jwks") {
    Response res{200, {{"Content-Type", "application/json"}, {"Cache-Control", "max-age=60"}}, keys_.jwks_json()};
    return res;
  }
  if (path == "/authorize") {
    if (r.method != "GET") return error_html("invalid_request", "the authorization endpoint takes GET requests");
    return authorize(r);
  }
  if (path == "/login" && r.method == "POST") return login(r);
  if (path == "/consent" && r.method == "POST") return consent(r);
  if (path == "/token") {
    if (r.method != "POST") return oauth_error("invalid_request", "the token endpoint takes POST requests", 405);
    return token(r);
  }
  if (path == "/register") {
    if (r.method != "POST") return oauth_error("invalid_request", "the registration endpoint takes POST requests", 405);
    if (!options_.dynamic_registration) return oauth_error("invalid_request", "dynamic client registration is off", 403);
    return registration(r);
  }
  if (path == "/dev/rotate-keys" && r.method == "POST" && options_.rotation_endpoint) {
    rotate_keys();
    return json_response(200, json::object{{"kid", keys_.current_kid()}});
  }
  if (path == "/" && r.method == "GET") return html(200, home_page(issuer_));
  return Response{404, {{"Content-Type", "application/json"}}, R"({"error":"not_found"})"};
}

Response AuthorizationServer::metadata(bool openid) const {
  json::array scopes;
  for (const auto& s : options_.scopes) scopes.push_back(json::string(s.name));
  json::object m{
      {"issuer", issuer_},
      {"authorization_endpoint", issuer_ + "/authorize"},
      {"token_endpoint", issuer_ + "/token"},
      {"jwks_uri", issuer_ + "/jwks"},
      {"response_types_supported", json::array{"code"}},
      {"response_modes_supported", json::array{"query"}},
      {"grant_types_supported",
       json::array{"authorization_code", "refresh_token", "client_credentials", auth::kTokenExchangeGrant}},
      {"code_challenge_methods_supported", json::array{"S256"}},
      {"token_endpoint_auth_methods_supported", json::array{"none", "client_secret_basic", "client_secret_post"}},
      {"scopes_supported", std::move(scopes)},
      {"authorization_response_iss_parameter_supported", true},
      {"client_id_metadata_document_supported", true},
      {"resource_indicators_supported", true},
      {"service_documentation", issuer_ + "/"},
  };
  if (options_.dynamic_registration) m["registration_endpoint"] = issuer_ + "/register";
  if (openid) {
    // OpenID Provider Metadata needs these three; no ID tokens are issued (no `openid` scope).
    m["subject_types_supported"] = json::array{"public"};
    m["id_token_signing_alg_values_supported"] = json::array{"ES256"};
  }
  return json_response(200, m);
}

std::optional<Client> AuthorizationServer::resolve_client(const std::string& client_id, std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (auto it = clients_.find(client_id); it != clients_.end()) return it->second;
    if (auto it = documents_.find(client_id); it != documents_.end() && it->second.expires_at > now()) return it->second.client;
  }
  if (client_id.starts_with("https://") || client_id.starts_with("http://")) return fetch_metadata_document(client_id, why);
  why = "unknown client_id";
  return std::nullopt;
}

std::optional<Client> AuthorizationServer::fetch_metadata_document(const std::string& url, std::string& why) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || u->has_fragment() || u->has_userinfo() || u->encoded_path().size() < 2) {
    why = "client_id is not a valid Client ID Metadata Document URL";
    return std::nullopt;
  }
  std::string host(u->encoded_host());
  if (!contains(options_.cimd_allowed_hosts, host)) {
    why = "Client ID Metadata Documents are not fetched from " + host + " (not an allowed host)";
    log("refused to fetch a client metadata document from disallowed host " + host);
    return std::nullopt;
  }
  if (u->scheme() != "https" && !(u->scheme() == "http" && is_loopback_host(host))) {
    why = "Client ID Metadata Document URLs must use https";
    return std::nullopt;
  }
  for (auto seg : u->encoded_segments())
    if (seg == "." || seg == "..") {
      why = "Client ID Metadata Document URLs must not contain dot segments";
      return std::nullopt;
    }
  std::string error;
  auto res = options_.fetch(auth::FetchRequest{"GET", url, {}, {}}, error);
  if (!res || res->status != 200) {
    why = "cannot fetch the Client ID Metadata Document" + (res ? " (status " + std::to_string(res->status) + ")" : ": " + error);
    return std::nullopt;
  }
  boost::system::error_code ec;
  auto doc = json::parse(res->body, ec);
  if (ec || !doc.is_object()) {
    why = "the Client ID Metadata Document is not a JSON object";
    return std::nullopt;
  }
  const auto& o = doc.get_object();
  const auto* id = o.if_contains("client_id");
  if (!id || !id->is_string() || id->get_string() != url) {
    why = "the Client ID Metadata Document's client_id differs from its URL";
    return std::nullopt;
  }
  Client c;
  c.client_id = url;
  const auto* uris = o.if_contains("redirect_uris");
  if (!uris || !uris->is_array() || uris->get_array().empty()) {
    why = "the Client ID Metadata Document has no redirect_uris";
    return std::nullopt;
  }
  for (const auto& v : uris->get_array()) {
    if (!v.is_string() || !valid_redirect_uri(v.get_string())) {
      why = "the Client ID Metadata Document has an invalid redirect URI";
      return std::nullopt;
    }
    c.redirect_uris.emplace_back(v.get_string());
  }
  if (const auto* m = o.if_contains("token_endpoint_auth_method")) {
    if (!m->is_string() || m->get_string() != "none") {
      why = "Client ID Metadata Document clients must use token_endpoint_auth_method none here (no shared secrets)";
      return std::nullopt;
    }
  }
  if (const auto* n = o.if_contains("client_name"); n && n->is_string()) c.client_name = std::string(n->get_string());
  c.token_endpoint_auth_method = "none";
  c.grant_types = {"authorization_code", "refresh_token"};
  std::lock_guard lock(mu_);
  documents_[url] = CachedDocument{c, now() + options_.cimd_cache_seconds.count()};
  log("fetched the client metadata document " + url);
  return c;
}

bool AuthorizationServer::redirect_matches(const Client& c, const std::string& redirect_uri) const {
  if (contains(c.redirect_uris, redirect_uri)) return true;
  auto asked = loopback_without_port(redirect_uri);
  if (!asked) return false;
  for (const auto& registered : c.redirect_uris)
    if (auto r = loopback_without_port(registered); r && *r == *asked) return true;
  return false;
}

std::optional<std::string> AuthorizationServer::session_of(const Request& r) {
  auto sid = cookie(r, kCookie);
  if (!sid) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = sessions_.find(*sid);
  if (it == sessions_.end() || it->second->expires_at <= now()) return std::nullopt;
  return *sid;
}

Response AuthorizationServer::authorize(const Request& r) {
  auto params = parse_form(r.query());
  if (!params) return error_html("invalid_request", "the query string is malformed");
  bool dup = false;
  auto client_id = field(*params, "client_id", &dup);
  auto redirect_uri = field(*params, "redirect_uri", &dup);
  if (dup) return error_html("invalid_request", "client_id or redirect_uri appears more than once");
  if (!client_id || client_id->empty()) return error_html("invalid_request", "client_id is missing");
  std::string why;
  auto client = resolve_client(*client_id, why);
  if (!client) return error_html("invalid_client", why);
  if (!redirect_uri) {
    if (client->redirect_uris.size() != 1) return error_html("invalid_request", "redirect_uri is missing");
    redirect_uri = client->redirect_uris.front();
  } else if (!redirect_matches(*client, *redirect_uri)) {
    return error_html("invalid_request", "redirect_uri is not registered for this client");
  }
  if (!contains(client->grant_types, "authorization_code"))
    return error_html("unauthorized_client", "this client may not use the authorization code grant");

  // From here on errors go back to the client's redirect URI (RFC 6749 section 4.1.2.1).
  auto state = field(*params, "state", &dup);
  auto back = [&](const std::string& error, const std::string& description) {
    Fields f{{"error", error}, {"error_description", description}};
    if (state) f.emplace_back("state", *state);
    f.emplace_back("iss", issuer_);
    return redirect(with_params(*redirect_uri, f));
  };
  auto response_type = field(*params, "response_type", &dup);
  auto challenge = field(*params, "code_challenge", &dup);
  auto method = field(*params, "code_challenge_method", &dup);
  auto scope = field(*params, "scope", &dup);
  auto resource = field(*params, "resource", &dup);
  if (dup) return back("invalid_request", "a parameter appears more than once");
  if (!response_type) return back("invalid_request", "response_type is missing");
  if (*response_type != "code") return back("unsupported_response_type", "only response_type=code is supported");
  if (!challenge) return back("invalid_request", "PKCE is required: code_challenge is missing");
  if (!method || *method != "S256") return back("invalid_request", "code_challenge_method must be S256");
  if (!is_sha256_base64url(*challenge)) return back("invalid_request", "code_challenge is not a base64url SHA-256 value");
  std::vector<std::string> scopes = split_scopes(scope.value_or(""));
  for (const auto& s : scopes)
    if (!scope_known(s)) return back("invalid_scope", "unknown scope " + s);
  std::string aud;
  if (resource) {
    if (!resource_allowed(*resource)) return back("invalid_target", "tokens are not issued for this resource");
    aud = *resource;
  } else {
    aud = options_.default_resource;
  }

  auto p = std::make_shared<Pending>();
  p->client_id = client->client_id;
  p->client_name = client->client_name.empty() ? client->client_id : client->client_name;
  p->redirect_uri = *redirect_uri;
  p->state = state.value_or("");
  p->code_challenge = *challenge;
  p->resource = aud;
  p->scopes = scopes;
  p->expires_at = now() + kPendingSeconds;
  std::string id = random_token(24);
  {
    std::lock_guard lock(mu_);
    if (pending_.size() >= kMaxPending) return back("temporarily_unavailable", "too many authorization requests in flight");
    pending_[id] = p;
  }
  if (auto sid = session_of(r)) return continue_after_login(id, *sid);
  return html(200, login_page(LoginView{id, p->client_name, p->resource, {}, {}}));
}

Response AuthorizationServer::login(const Request& r) {
  if (!is_form(r)) return error_html("invalid_request", "the sign-in form must be sent as a form");
  auto form = parse_form(r.body);
  if (!form) return error_html("invalid_request", "the form is malformed");
  std::string id = field(*form, "request").value_or("");
  std::string username = field(*form, "username").value_or("");
  std::string password = field(*form, "password").value_or("");
  std::shared_ptr<Pending> p;
  {
    std::lock_guard lock(mu_);
    if (auto it = pending_.find(id); it != pending_.end() && it->second->expires_at > now()) p = it->second;
  }
  if (!p) return error_html("invalid_request", "this sign-in request is unknown or expired; start again from the application");
  const User* u = user(username);
  // A dummy verification for unknown users keeps both answers equally slow.
  static const std::string kDummy = hash_password("not a password");
  bool ok = verify_password(u ? u->password_hash : kDummy, password) && u;
  if (!ok) {
    log("failed sign-in for user '" + html_escape(username.substr(0, 64)) + "'");
    auto res = html(401, login_page(LoginView{id, p->client_name, p->resource, "Wrong username or password.", username}));
    return res;
  }
  auto s = std::make_shared<LoginSession>();
  s->username = u->username;
  s->expires_at = now() + options_.login_session_lifetime.count();
  std::string sid = random_token(32);
  {
    std::lock_guard lock(mu_);
    sessions_[sid] = s;
  }
  log("user " + u->username + " signed in");
  auto res = continue_after_login(id, sid);
  res.headers.emplace_back("Set-Cookie", std::string(kCookie) + "=" + sid + "; Path=/; HttpOnly; SameSite=Lax");
  return res;
}

Response AuthorizationServer::continue_after_login(const std::string& id, const std::string& sid) {
  std::shared_ptr<Pending> p;
  std::shared_ptr<LoginSession> s;
  std::set<std::string> before;
  {
    std::lock_guard lock(mu_);
    auto pit = pending_.find(id);
    auto sit = sessions_.find(sid);
    if (pit == pending_.end() || sit == sessions_.end())
      return error_html("invalid_request", "this sign-in request expired; start again");
    p = pit->second;
    s = sit->second;
    p->session_id = sid;
    if (auto g = s->granted.find(p->client_id); g != s->granted.end()) before = g->second;
  }
  ConsentView v;
  v.request_id = id;
  v.client_name = p->client_name;
  v.client_id = p->client_id;
  const User* u = user(s->username);
  v.user_name = u && !u->name.empty() ? u->name : s->username;
  v.resource = p->resource;
  for (const auto& sc : p->scopes)
    if (!before.contains(sc)) v.asked.push_back({sc, scope_description(sc)});
  for (const auto& sc : before) v.granted.push_back({sc, scope_description(sc)});
  // A step-up that asks nothing new (or a repeat sign-in with earlier consent) needs no page.
  bool consented_before;
  {
    std::lock_guard lock(mu_);
    consented_before = s->granted.contains(p->client_id);
  }
  if (v.asked.empty() && consented_before) return issue_code(id, with_earlier_grants(p->scopes, before), s->username);
  return html(200, consent_page(v));
}

Response AuthorizationServer::consent(const Request& r) {
  if (!is_form(r)) return error_html("invalid_request", "the consent form must be sent as a form");
  auto form = parse_form(r.body);
  if (!form) return error_html("invalid_request", "the form is malformed");
  std::string id = field(*form, "request").value_or("");
  std::string decision = field(*form, "decision").value_or("allow");
  auto sid = session_of(r);
  std::shared_ptr<Pending> p;
  std::shared_ptr<LoginSession> s;
  {
    std::lock_guard lock(mu_);
    if (auto it = pending_.find(id); it != pending_.end() && it->second->expires_at > now()) p = it->second;
    if (sid)
      if (auto it = sessions_.find(*sid); it != sessions_.end()) s = it->second;
  }
  if (!p) return error_html("invalid_request", "this consent request is unknown or expired; start again from the application");
  // The pending request is bound to the browser that signed in (which also stops cross-site posts).
  if (!s || p->session_id != *sid)
    return error_html("invalid_request", "sign in first; this consent form belongs to another session");
  if (decision != "allow") {
    {
      std::lock_guard lock(mu_);
      pending_.erase(id);
    }
    Fields f{{"error", "access_denied"}, {"error_description", "the user denied the request"}};
    if (!p->state.empty()) f.emplace_back("state", p->state);
    f.emplace_back("iss", issuer_);
    log("user " + s->username + " denied access to " + p->client_name);
    return redirect(with_params(p->redirect_uri, f));
  }
  std::set<std::string> chosen;
  for (const auto& [k, v] : *form)
    if (k == "scope")
      for (const auto& sc : split_scopes(v)) chosen.insert(sc);
  std::vector<std::string> granted;
  {
    std::lock_guard lock(mu_);
    auto& before = s->granted[p->client_id];
    for (const auto& sc : p->scopes)
      if (before.contains(sc) || chosen.contains(sc)) granted.push_back(sc);
    granted = with_earlier_grants(std::move(granted), before);
    before.insert(granted.begin(), granted.end());
  }
  return issue_code(id, granted, s->username);
}

Response AuthorizationServer::issue_code(const std::string& id, const std::vector<std::string>& scopes,
                                         const std::string& username) {
  std::shared_ptr<Pending> p;
  auto g = std::make_shared<CodeGrant>();
  std::string code = random_token(32);
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return error_html("invalid_request", "this request was already answered");
    p = it->second;
    pending_.erase(it);
    g->client_id = p->client_id;
    g->redirect_uri = p->redirect_uri;
    g->code_challenge = p->code_challenge;
    g->resource = p->resource;
    g->username = username;
    g->scopes = scopes;
    g->family = random_token(12);
    g->expires_at = now() + options_.code_lifetime.count();
    codes_[code] = g;
  }
  log("issued an authorization code for " + username + " to " + p->client_name + " (scope '" + join_scopes(scopes) + "')");
  Fields f{{"code", code}};
  if (!p->state.empty()) f.emplace_back("state", p->state);
  f.emplace_back("iss", issuer_);
  return redirect(with_params(p->redirect_uri, f));
}

Response AuthorizationServer::token(const Request& r) {
  if (!is_form(r)) return oauth_error("invalid_request", "the body must be application/x-www-form-urlencoded");
  auto form = parse_form(r.body);
  if (!form) return oauth_error("invalid_request", "the body is malformed");
  for (std::size_t i = 0; i < form->size(); ++i)
    for (std::size_t j = i + 1; j < form->size(); ++j)
      if ((*form)[i].first == (*form)[j].first)
        return oauth_error("invalid_request", (*form)[i].first + " appears more than once");

  // Client authentication: HTTP Basic, the body, or none for a public client.
  std::optional<std::string> id = field(*form, "client_id"), secret = field(*form, "client_secret");
  bool basic = false;
  if (auto a = r.header("authorization"); !a.empty()) {
    if (a.size() < 6 || !(a.substr(0, 6) == "Basic " || a.substr(0, 6) == "basic "))
      return oauth_error("invalid_client", "unsupported client authentication scheme", 401);
    if (secret) return oauth_error("invalid_request", "use one client authentication method");
    std::string decoded;
    {
      std::string in = a.substr(6);
      // base64 (RFC 4648 section 4), read through the base64url alphabet
      for (auto& c : in) c = c == '+' ? '-' : c == '/' ? '_' : c;
      while (!in.empty() && in.back() == '=') in.pop_back();
      static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      std::uint32_t acc = 0;
      int bits = 0;
      for (char c : in) {
        auto pos = kAlphabet.find(c);
        if (pos == std::string_view::npos) return oauth_error("invalid_client", "malformed Basic credentials", 401);
        acc = (acc << 6) | static_cast<std::uint32_t>(pos);
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          decoded += static_cast<char>((acc >> bits) & 0xFF);
        }
      }
    }
    auto colon = decoded.find(':');
    if (colon == std::string::npos) return oauth_error("invalid_client", "malformed Basic credentials", 401);
    auto user_part = parse_form("u=" + decoded.substr(0, colon));
    auto pass_part = parse_form("p=" + decoded.substr(colon + 1));
    if (!user_part || !pass_part || user_part->empty() || pass_part->empty())
      return oauth_error("invalid_client", "malformed Basic credentials", 401);
    if (id && *id != user_part->front().second)
      return oauth_error("invalid_request", "client_id differs from the Basic credentials");
    id = user_part->front().second;
    secret = pass_part->front().second;
    basic = true;
  }
  if (!id || id->empty()) return oauth_error("invalid_client", "no client authentication and no client_id", 401);
  std::string why;
  auto client = resolve_client(*id, why);
  if (!client) return oauth_error("invalid_client", why, 401);
  if (client->client_secret.empty()) {
    if (secret) return oauth_error("invalid_client", "a public client has no secret", 401);
  } else {
    if (!secret || !constant_time_equal(*secret, client->client_secret))
      return oauth_error("invalid_client", "client authentication failed", 401);
    const auto& m = client->token_endpoint_auth_method;
    if ((m == "client_secret_basic" && !basic) || (m == "client_secret_post" && basic))
      return oauth_error("invalid_client", "client authentication method differs from the registered one", 401);
  }

  auto grant_type = field(*form, "grant_type");
  if (!grant_type) return oauth_error("invalid_request", "grant_type is missing");
  if (*grant_type != "authorization_code" && *grant_type != "refresh_token" && *grant_type != "client_credentials" &&
      *grant_type != auth::kTokenExchangeGrant)
    return oauth_error("unsupported_grant_type", "unsupported grant_type " + *grant_type);
  if (!contains(client->grant_types, *grant_type))
    return oauth_error("unauthorized_client", "this client may not use " + *grant_type);
  if (*grant_type == auth::kTokenExchangeGrant) return token_exchange(*client, *form);
  auto resource = field(*form, "resource");

  if (*grant_type == "authorization_code") {
    auto code = field(*form, "code");
    auto verifier = field(*form, "code_verifier");
    auto redirect_uri = field(*form, "redirect_uri");
    if (!code) return oauth_error("invalid_request", "code is missing");
    if (!verifier) return oauth_error("invalid_request", "code_verifier is missing (PKCE is required)");
    std::shared_ptr<CodeGrant> g;
    bool replay = false;
    {
      std::lock_guard lock(mu_);
      if (auto it = codes_.find(*code); it != codes_.end() && it->second->client_id == client->client_id) {
        g = it->second;
        replay = g->used;
        g->used = true;  // single use, whatever happens next
        if (replay) revoked_families_.insert(g->family);
      }
    }
    if (!g) return oauth_error("invalid_grant", "the authorization code is unknown or was issued to another client");
    if (replay) {
      log("an authorization code was presented twice; tokens issued from it are revoked");
      return oauth_error("invalid_grant", "the authorization code was already used");
    }
    if (g->expires_at <= now()) return oauth_error("invalid_grant", "the authorization code expired");
    if (!redirect_uri || *redirect_uri != g->redirect_uri)
      return oauth_error("invalid_grant", "redirect_uri differs from the authorization request");
    if (!valid_pkce_value(*verifier) || !constant_time_equal(base64url(sha256(*verifier)), g->code_challenge))
      return oauth_error("invalid_grant", "the PKCE code_verifier does not match the code_challenge");
    if (resource && *resource != g->resource)
      return oauth_error("invalid_target", "resource differs from the authorization request");
    const User* u = user(g->username);
    return token_response(*client, g->username, u, g->scopes, g->resource, contains(client->grant_types, "refresh_token"),
                          g->family);
  }

  if (*grant_type == "refresh_token") {
    auto rt = field(*form, "refresh_token");
    if (!rt) return oauth_error("invalid_request", "refresh_token is missing");
    std::shared_ptr<RefreshGrant> g;
    bool replay = false, revoked = false;
    {
      std::lock_guard lock(mu_);
      if (auto it = refresh_.find(sha256(*rt)); it != refresh_.end() && it->second->client_id == client->client_id) {
        g = it->second;
        replay = g->used;
        revoked = revoked_families_.contains(g->family);
        if (replay) revoked_families_.insert(g->family);
        g->used = true;
      }
    }
    if (!g) return oauth_error("invalid_grant", "the refresh token is unknown or was issued to another client");
    if (replay) {
      log("a rotated refresh token was presented again; its family is revoked");
      return oauth_error("invalid_grant", "the refresh token was already used");
    }
    if (revoked) return oauth_error("invalid_grant", "the refresh token was revoked");
    if (g->expires_at <= now()) return oauth_error("invalid_grant", "the refresh token expired");
    std::vector<std::string> scopes = g->scopes;
    if (auto sc = field(*form, "scope")) {
      scopes = split_scopes(*sc);
      for (const auto& s : scopes)
        if (!contains(g->scopes, s)) return oauth_error("invalid_scope", "scope " + s + " was not granted");
    }
    if (resource && *resource != g->resource) return oauth_error("invalid_target", "resource differs from the original grant");
    const User* u = user(g->username);
    // Rotation keeps the grant's full scope for the next refresh, the access token gets `scopes`.
    auto res = token_response(*client, g->username, u, scopes, g->resource, true, g->family);
    if (scopes != g->scopes) {
      std::lock_guard lock(mu_);
      for (auto& [k, v] : refresh_)
        if (v->family == g->family && !v->used) v->scopes = g->scopes;
    }
    return res;
  }

  // client_credentials: confidential clients only, for their own scopes.
  if (client->client_secret.empty()) return oauth_error("unauthorized_client", "client_credentials needs a confidential client");
  auto allowed = split_scopes(client->scope);
  std::vector<std::string> scopes = allowed;
  if (auto sc = field(*form, "scope")) {
    scopes = split_scopes(*sc);
    for (const auto& s : scopes)
      if (!contains(allowed, s)) return oauth_error("invalid_scope", "scope " + s + " is not allowed for this client");
  }
  std::string aud = options_.default_resource;
  if (resource) {
    if (!resource_allowed(*resource)) return oauth_error("invalid_target", "tokens are not issued for this resource");
    aud = *resource;
  }
  return token_response(*client, client->client_id, nullptr, scopes, aud, false, {});
}

Response AuthorizationServer::token_exchange(const Client& c, const Fields& form) {
  if (c.client_secret.empty()) return oauth_error("unauthorized_client", "token exchange needs a confidential client");
  auto subject_token = field(form, "subject_token");
  auto subject_type = field(form, "subject_token_type");
  if (!subject_token || subject_token->empty()) return oauth_error("invalid_request", "subject_token is missing");
  if (!subject_type) return oauth_error("invalid_request", "subject_token_type is missing");
  if (*subject_type != auth::kAccessTokenType)
    return oauth_error("invalid_request",
                       "only access tokens are exchanged (subject_token_type " + std::string(auth::kAccessTokenType) + ")");
  if (field(form, "actor_token") || field(form, "actor_token_type"))
    return oauth_error("invalid_request", "actor tokens are not supported; the authenticated client is the actor");
  if (auto requested = field(form, "requested_token_type"); requested && *requested != auth::kAccessTokenType)
    return oauth_error("invalid_request", "only access tokens are issued (requested_token_type)");

  // The subject token: signed here, unexpired, and addressed to a resource this client serves.
  std::string why;
  auto keys = auth::KeySet::parse(keys_.jwks_json(), &why);
  if (!keys) return oauth_error("server_error", "the signing keys cannot be read", 500);
  auth::JwtOptions jo;
  jo.issuer = issuer_;
  jo.audiences = c.exchange_audiences;
  jo.algorithms = {"ES256"};
  jo.clock_skew = std::chrono::seconds(0);
  jo.role_claims = {"roles"};
  jo.now = [this] { return now(); };
  auth::JwtVerifier verifier(std::move(jo), std::make_shared<auth::StaticKeySource>(keys));
  auto verified = verifier.verify(*subject_token);
  if (auto* e = std::get_if<auth::TokenError>(&verified))
    return oauth_error("invalid_grant", "the subject token is not valid here: " + e->description);
  const auto& subject = std::get<auth::Principal>(verified);

  // Only narrower: the scopes asked for must all be the subject token's.
  std::vector<std::string> scopes(subject.scopes.begin(), subject.scopes.end());
  if (auto sc = field(form, "scope")) {
    scopes = split_scopes(*sc);
    for (const auto& s : scopes)
      if (!subject.scopes.contains(s)) return oauth_error("invalid_scope", "scope " + s + " is not in the subject token");
  }
  // The target: `resource` (RFC 8707) or `audience`, naming a resource tokens are issued for.
  auto resource = field(form, "resource");
  auto audience = field(form, "audience");
  if (resource && audience && *resource != *audience)
    return oauth_error("invalid_target", "resource and audience name different targets");
  std::string target = resource ? *resource : audience ? *audience : options_.default_resource;
  if (target.empty()) return oauth_error("invalid_target", "no resource or audience named");
  if (!resource_allowed(target)) return oauth_error("invalid_target", "tokens are not issued for this resource");

  std::int64_t t = now();
  std::int64_t exp = t + options_.access_token_lifetime.count();
  if (subject.expires_at) exp = std::min(exp, *subject.expires_at);  // never outlives what it came from
  json::object claims{{"iss", issuer_},
                      {"sub", subject.subject},
                      {"aud", target},
                      {"client_id", c.client_id},
                      {"iat", t},
                      {"nbf", t},
                      {"exp", exp},
                      {"jti", random_token(16)},
                      {"scope", join_scopes(scopes)}};
  for (const char* k : {"roles", "name", "preferred_username"})
    if (const auto* v = subject.claims.if_contains(k)) claims[k] = *v;
  // RFC 8693 section 4.1: the acting party, the chain of earlier actors nested inside.
  json::object act{{"sub", c.client_id}};
  if (const auto* earlier = subject.claims.if_contains("act")) act["act"] = *earlier;
  claims["act"] = std::move(act);
  std::string access = keys_.sign(claims);
  log("exchanged a token of " + subject.subject + " (token #" + log_label(*subject_token) + ") for " + c.client_id + " (aud " +
      target + ", scope '" + join_scopes(scopes) + "', token #" + log_label(access) + ")");
  return json_response(200, json::object{{"access_token", access},
                                         {"issued_token_type", auth::kAccessTokenType},
                                         {"token_type", "Bearer"},
                                         {"expires_in", exp - t},
                                         {"scope", join_scopes(scopes)}});
}

Response AuthorizationServer::token_response(const Client& c, const std::string& subject, const User* u,
                                             const std::vector<std::string>& scopes, const std::string& resource,
                                             bool with_refresh, const std::string& family) {
  std::int64_t t = now();
  json::object claims{
      {"iss", issuer_},
      {"sub", subject},
      {"aud", resource.empty() ? c.client_id : resource},
      {"client_id", c.client_id},
      {"iat", t},
      {"nbf", t},
      {"exp", t + options_.access_token_lifetime.count()},
      {"jti", random_token(16)},
      {"scope", join_scopes(scopes)},
  };
  if (u) {
    json::array roles;
    for (const auto& role : u->roles) roles.push_back(json::string(role));
    claims["roles"] = std::move(roles);
    if (!u->name.empty()) claims["name"] = u->name;
    claims["preferred_username"] = u->username;
  }
  std::string access = keys_.sign(claims);
  json::object body{{"access_token", access},
                    {"token_type", "Bearer"},
                    {"expires_in", options_.access_token_lifetime.count()},
                    {"scope", join_scopes(scopes)}};
  if (with_refresh) {
    std::string rt = random_token(32);
    auto g = std::make_shared<RefreshGrant>();
    g->client_id = c.client_id;
    g->username = subject;
    g->resource = resource;
    g->family = family.empty() ? random_token(12) : family;
    g->scopes = scopes;
    g->expires_at = t + options_.refresh_token_lifetime.count();
    std::lock_guard lock(mu_);
    if (revoked_families_.contains(g->family)) return oauth_error("invalid_grant", "the grant was revoked");
    refresh_[sha256(rt)] = g;
    body["refresh_token"] = rt;
  }
  log("issued an access token for " + subject + " to " + c.client_id + " (aud " + json::value_to<std::string>(claims["aud"]) +
      ", scope '" + join_scopes(scopes) + "', token #" + log_label(access) + ")");
  return json_response(200, body);
}

Response AuthorizationServer::registration(const Request& r) {
  if (!r.header("content-type").starts_with("application/json"))
    return oauth_error("invalid_client_metadata", "the registration request must be JSON");
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return oauth_error("invalid_client_metadata", "the registration request is not a JSON object");
  const auto& o = v.get_object();
  Client c;
  auto str = [&](const char* key, std::string& out) -> bool {
    const auto* x = o.if_contains(key);
    if (!x) return true;
    if (!x->is_string()) return false;
    out = std::string(x->get_string());
    return true;
  };
  auto strs = [&](const char* key, std::vector<std::string>& out) -> bool {
    const auto* x = o.if_contains(key);
    if (!x) return true;
    if (!x->is_array()) return false;
    out.clear();
    for (const auto& e : x->get_array()) {
      if (!e.is_string()) return false;
      out.emplace_back(e.get_string());
    }
    return true;
  };
  std::vector<std::string> response_types{"code"};
  c.grant_types = {"authorization_code"};
  c.token_endpoint_auth_method = "client_secret_basic";  // RFC 7591's default
  if (!str("client_name", c.client_name) || !str("scope", c.scope) ||
      !str("token_endpoint_auth_method", c.token_endpoint_auth_method) || !strs("grant_types", c.grant_types) ||
      !strs("response_types", response_types))
    return oauth_error("invalid_client_metadata", "a client metadata field has the wrong type");
  if (!strs("redirect_uris", c.redirect_uris))
    return oauth_error("invalid_redirect_uri", "redirect_uris must be an array of strings");
  const auto& m = c.token_endpoint_auth_method;
  if (m != "none" && m != "client_secret_basic" && m != "client_secret_post")
    return oauth_error("invalid_client_metadata", "unsupported token_endpoint_auth_method " + m);
  for (const auto& g : c.grant_types)
    if (g != "authorization_code" && g != "refresh_token" && g != "client_credentials")
      return oauth_error("invalid_client_metadata", "unsupported grant type " + g);
  for (const auto& t : response_types)
    if (t != "code") return oauth_error("invalid_client_metadata", "unsupported response type " + t);
  if (contains(c.grant_types, "client_credentials") && m == "none")
    return oauth_error("invalid_client_metadata", "client_credentials needs a confidential client");
  for (const auto& s : split_scopes(c.scope))
    if (!scope_known(s)) return oauth_error("invalid_client_metadata", "unknown scope " + s);
  if (contains(c.grant_types, "authorization_code")) {
    if (c.redirect_uris.empty())
      return oauth_error("invalid_redirect_uri", "redirect_uris is required for the authorization code grant");
    for (const auto& u : c.redirect_uris)
      if (!valid_redirect_uri(u))
        return oauth_error("invalid_redirect_uri", "redirect URI " + u + " is not https, loopback http or a private-use scheme");
  }
  c.client_id = "dev-" + random_token(12);
  if (m != "none") c.client_secret = random_token(32);
  {
    std::lock_guard lock(mu_);
    if (clients_.size() >= kMaxRegisteredClients + options_.clients.size())
      return oauth_error("invalid_client_metadata", "too many registered clients", 400);
    clients_[c.client_id] = c;
  }
  log("registered client " + c.client_id + (c.client_name.empty() ? "" : " (" + c.client_name + ")"));
  json::object out = o;
  out["client_id"] = c.client_id;
  out["client_id_issued_at"] = now();
  if (!c.client_secret.empty()) {
    out["client_secret"] = c.client_secret;
    out["client_secret_expires_at"] = 0;
  }
  out["token_endpoint_auth_method"] = m;
  json::array gt;
  for (const auto& g : c.grant_types) gt.push_back(json::string(g));
  out["grant_types"] = std::move(gt);
  json::array rt;
  for (const auto& t : response_types) rt.push_back(json::string(t));
  out["response_types"] = std::move(rt);
  return json_response(201, out);
}

}  // namespace jitgate::devauth
