#include "jitgate/auth/request_guard.hpp"

#include "jitgate/auth/www_authenticate.hpp"

namespace jitgate::auth {

namespace {

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) {
    if (!out.empty()) out += ' ';
    out += x;
  }
  return out;
}

AccessDecision refuse(unsigned status, const Challenge& c, std::string error, std::string description) {
  AccessDecision d;
  d.allowed = false;
  d.status = status;
  d.www_authenticate = to_header(c);
  d.error = std::move(error);
  d.description = std::move(description);
  return d;
}

}  // namespace

ScopeGuard::ScopeGuard(ResourceMetadata metadata, std::shared_ptr<TokenVerifier> verifier,
                       std::map<std::string, std::set<std::string>, std::less<>> required)
    : metadata_(std::move(metadata)),
      metadata_url_(metadata_.well_known_url()),
      verifier_(std::move(verifier)),
      required_(std::move(required)) {}

const std::set<std::string>* ScopeGuard::requirement(const AccessRequest& r) const {
  if (!r.name.empty()) {
    std::string key = std::string(r.method) + ":" + std::string(r.name);
    if (auto it = required_.find(key); it != required_.end()) return &it->second;
  }
  auto it = required_.find(r.method);
  return it == required_.end() ? nullptr : &it->second;
}

bool ScopeGuard::decides_quickly(std::string_view authorization) const {
  if (authorization.empty()) return true;
  auto token = bearer_token(authorization);
  return !token || verifier_->answers_from_memory(*token);
}

AccessDecision ScopeGuard::check(std::string_view authorization, const AccessRequest& request) {
  const std::set<std::string>* needed = requirement(request);
  Principal principal;
  if (!authorization.empty()) {
    auto token = bearer_token(authorization);
    if (!token)
      return refuse(401, Challenge::invalid_token(metadata_url_, "the Authorization header is not a Bearer token"),
                    "invalid_token", "the Authorization header is not a Bearer token");
    Verification v = verifier_->verify(*token);
    if (auto* e = std::get_if<TokenError>(&v))
      return refuse(401, Challenge::invalid_token(metadata_url_, e->description), "invalid_token", e->description);
    principal = std::move(std::get<Principal>(v));
  }
  if (needed && !needed->empty()) {
    if (principal.anonymous())
      return refuse(401, Challenge::missing_token(metadata_url_, join(*needed)), "invalid_token", "authorization required");
    bool missing = false;
    for (const auto& s : *needed) missing = missing || !principal.scopes.contains(s);
    // One challenge names every scope the operation needs, granted ones included, so that a
    // client that replaces its token does not lose what it had (SEP-835, SEP-2350).
    if (missing)
      return refuse(403, Challenge::insufficient_scope(metadata_url_, join(*needed), "more scopes are needed"),
                    "insufficient_scope", "more scopes are needed");
  }
  AccessDecision d;
  d.allowed = true;
  d.principal = std::move(principal);
  return d;
}

}  // namespace jitgate::auth
