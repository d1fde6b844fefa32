// The seam between the transport and authorization: every request is checked before any response
// byte is written, and a refusal comes with the exact challenge to send. The policy engine will
// implement this interface; ScopeGuard is the plain method-to-scopes map that exercises every
// challenge until then.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "jitgate/auth/principal.hpp"
#include "jitgate/auth/resource_metadata.hpp"
#include "jitgate/auth/token_verifier.hpp"

namespace jitgate::auth {

struct AccessRequest {
  std::string_view method;
  std::string_view name;  // tool or prompt name, or resource URI; empty otherwise
  std::string_view peer;  // the client's IP address as text (the TCP peer); empty when unknown
};

struct AccessDecision {
  bool allowed = false;
  unsigned status = 200;         // 401 or 403 (400 for a malformed credential, 429 when rate-limited) when refused
  std::string www_authenticate;  // the challenge header when refused
  std::string
      error;  // OAuth error code for the body: invalid_token, insufficient_scope, invalid_request (too_many_requests for a 429)
  std::string description;
  std::shared_ptr<const Principal> principal;  // the caller; null for the anonymous caller
};

class RequestGuard {
 public:
  virtual ~RequestGuard() = default;
  // `authorization` is the raw Authorization header value, empty when absent.
  virtual AccessDecision check(std::string_view authorization, const AccessRequest& request) = 0;
  virtual const ResourceMetadata& metadata() const = 0;
  // The decision when it needs no verification work (no token, a malformed one, or one already
  // verified); nullopt otherwise, and the transport then runs check() off its I/O threads, since it
  // may call the authorization server.
  virtual std::optional<AccessDecision> check_quickly(std::string_view /*authorization*/, const AccessRequest& /*request*/) {
    return std::nullopt;
  }
};

class ScopeGuard : public RequestGuard {
 public:
  // `required` maps "method" or "method:name" (the more specific wins) to the scopes it needs.
  ScopeGuard(ResourceMetadata metadata, std::shared_ptr<TokenVerifier> verifier,
             std::map<std::string, std::set<std::string>, std::less<>> required);
  AccessDecision check(std::string_view authorization, const AccessRequest& request) override;
  const ResourceMetadata& metadata() const override { return metadata_; }
  std::optional<AccessDecision> check_quickly(std::string_view authorization, const AccessRequest& request) override;

 private:
  const std::set<std::string>* requirement(const AccessRequest& r) const;
  AccessDecision decide_for(std::shared_ptr<const Principal> principal, const AccessRequest& request) const;
  ResourceMetadata metadata_;
  std::string metadata_url_;
  std::shared_ptr<TokenVerifier> verifier_;
  std::map<std::string, std::set<std::string>, std::less<>> required_;
};

}  // namespace jitgate::auth
