// The OAuth 2.1 endpoints of the development authorization server, on plain Request/Response
// values (no sockets): metadata, JWKS, authorize + login + consent, token, registration.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "devauth/http.hpp"
#include "devauth/key_ring.hpp"
#include "jitgate/devauth/server.hpp"

namespace jitgate::devauth {

class AuthorizationServer {
 public:
  explicit AuthorizationServer(Options options);
  void set_issuer(std::string issuer);
  const std::string& issuer() const { return issuer_; }
  Response handle(const Request& request);
  void rotate_keys();

 private:
  struct Pending;  // an authorization request waiting for login and consent
  struct LoginSession;
  struct CodeGrant;
  struct RefreshGrant;
  struct OAuthError {
    std::string error, description;
    unsigned status = 400;
  };

  Response route(const Request& r);
  Response metadata(bool openid) const;
  Response authorize(const Request& r);
  Response login(const Request& r);
  Response consent(const Request& r);
  Response token(const Request& r);
  Response registration(const Request& r);

  // The client behind a client_id: registered, pre-configured or a Client ID Metadata Document.
  std::optional<Client> resolve_client(const std::string& client_id, std::string& why);
  std::optional<Client> fetch_metadata_document(const std::string& url, std::string& why);
  bool redirect_matches(const Client& c, const std::string& redirect_uri) const;
  bool resource_allowed(const std::string& resource) const;
  std::string scope_description(const std::string& scope) const;
  bool scope_known(const std::string& scope) const;

  // After login: the consent page, or straight back to the client when nothing new is asked.
  Response continue_after_login(const std::string& request_id, const std::string& session_id);
  Response issue_code(const std::string& request_id, const std::vector<std::string>& scopes, const std::string& username);
  // RFC 8693: a subject access token issued here, traded for one meant for another resource.
  Response token_exchange(const Client& c, const std::vector<std::pair<std::string, std::string>>& form);
  Response token_response(const Client& c, const std::string& subject, const User* user, const std::vector<std::string>& scopes,
                          const std::string& resource, bool with_refresh, const std::string& family);
  std::optional<std::string> session_of(const Request& r);
  const User* user(const std::string& username) const;
  std::int64_t now() const;
  void sweep();  // drops expired state; the mutex is held

  Options options_;
  std::string issuer_;
  KeyRing keys_;
  std::mutex mu_;
  std::map<std::string, Client, std::less<>> clients_;
  struct CachedDocument {
    Client client;
    std::int64_t expires_at;
  };
  std::map<std::string, CachedDocument, std::less<>> documents_;
  std::map<std::string, std::shared_ptr<Pending>, std::less<>> pending_;
  std::map<std::string, std::shared_ptr<LoginSession>, std::less<>> sessions_;
  std::map<std::string, std::shared_ptr<CodeGrant>, std::less<>> codes_;       // by code
  std::map<std::string, std::shared_ptr<RefreshGrant>, std::less<>> refresh_;  // by SHA-256 of the token
  std::set<std::string> revoked_families_;
  std::int64_t last_sweep_ = 0;
};

}  // namespace jitgate::devauth
