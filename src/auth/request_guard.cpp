#include "jitgate/auth/request_guard.hpp"

#include "jitgate/auth/www_authenticate.hpp"

#include <cstring>

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
    // "method:name", built on the stack when it is short (every request asks).
    char buf[256];
    std::string heap;
    std::string_view key;
    if (r.method.size() + 1 + r.name.size() <= sizeof buf) {
      std::memcpy(buf, r.method.data(), r.method.size());
      buf[r.method.size()] = ':';
      std::memcpy(buf + r.method.size() + 1, r.name.data(), r.name.size());
      key = std::string_view(buf, r.method.size() + 1 + r.name.size());
    } else {
      heap = std::string(r.method) + ":" + std::string(r.name);
      key = heap;
    }
    if (auto it = required_.find(key); it != required_.end()) return &it->second;
  }
  auto it = required_.find(r.method);
  return it == required_.end() ? nullptr : &it->second;
}

AccessDecision ScopeGuard::decide_for(std::shared_ptr<const Principal> principal, const AccessRequest& request) const {
  const std::set<std::string>* needed = requirement(request);
  if (needed && !needed->empty()) {
    if (!principal) return refuse(401, Challenge::missing_token(metadata_url_, join(*needed)), {}, "authorization required");
    bool missing = false;
    for (const auto& s : *needed) missing = missing || !principal->scopes.contains(s);
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

std::optional<AccessDecision> ScopeGuard::check_quickly(std::string_view authorization, const AccessRequest& request) {
  if (authorization.empty()) return decide_for(nullptr, request);
  auto token = bearer_token(authorization);
  if (!token) return check(authorization, request);  // refused without touching a verifier
  auto known = verifier_->remembered(*token);
  if (!known) return std::nullopt;
  return decide_for(std::move(known), request);
}

AccessDecision ScopeGuard::check(std::string_view authorization, const AccessRequest& request) {
  std::shared_ptr<const Principal> principal;
  if (!authorization.empty()) {
    auto token = bearer_token(authorization);
    if (!token)
      return refuse(401, Challenge::invalid_token(metadata_url_, "the Authorization header is not a Bearer token"),
                    "invalid_token", "the Authorization header is not a Bearer token");
    Verification v = verifier_->verify_from(*token, request.peer);
    if (auto* e = std::get_if<TokenError>(&v)) {
      // Not a verdict on the token: the client is asked to come back later, not to get a new one.
      if (e->kind == TokenError::Kind::rate_limited) {
        AccessDecision d;
        d.status = 429;
        d.error = "too_many_requests";
        d.description = e->description;
        return d;
      }
      return refuse(401, Challenge::invalid_token(metadata_url_, e->description), "invalid_token", e->description);
    }
    principal = std::make_shared<const Principal>(std::move(std::get<Principal>(v)));
  }
  return decide_for(std::move(principal), request);
}

}  // namespace jitgate::auth
