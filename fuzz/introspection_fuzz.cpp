// libFuzzer target for the RFC 7662 introspection answer: any body the authorization server (or
// anyone on the path) sends is a Principal or a refusal, never an exception or a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "jitgate/auth/introspection.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace jitgate::auth;
  std::string body(reinterpret_cast<const char*>(data), size);
  IntrospectionOptions o;
  o.issuer = "https://as.example.com";
  o.endpoint = "https://as.example.com/introspect";
  o.client_id = "rs";
  o.client_secret = "s";
  o.audiences = {"https://mcp.example.com/mcp"};
  o.role_claims = {"roles", "groups"};
  o.now = [] { return std::int64_t{1'800'000'000}; };
  IntrospectionVerifier v(o, [&](const FetchRequest&, std::string&) -> std::optional<FetchResponse> {
    return FetchResponse{200, body, ""};
  });
  auto r = v.verify("opaque-token");
  if (const auto* p = std::get_if<Principal>(&r)) {
    // What is accepted is whole: a subject, an unexpired expiry if any.
    if (p->subject.empty()) std::abort();
    if (p->expires_at && *p->expires_at <= 1'800'000'000) std::abort();
  } else if (std::get<TokenError>(r).description.empty()) {
    std::abort();
  }
  return 0;
}
