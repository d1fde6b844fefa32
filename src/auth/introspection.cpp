#include "jitgate/auth/introspection.hpp"

#include <boost/json.hpp>
#include <chrono>

#include "auth/claims.hpp"
#include "common/clock.hpp"
#include "jitgate/auth/jwt_verifier.hpp"

namespace jitgate::auth {

namespace json = boost::json;

IntrospectionVerifier::IntrospectionVerifier(IntrospectionOptions options, Fetcher fetch)
    : options_(std::move(options)), fetch_(std::move(fetch)) {}

Verification IntrospectionVerifier::verify(std::string_view token) {
  if (token.size() > options_.max_token_bytes) return TokenError{"token too large"};
  std::vector<std::pair<std::string, std::string>> form{{"token", std::string(token)}, {"token_type_hint", "access_token"}};
  FetchRequest req{"POST", options_.endpoint, {{"Content-Type", "application/x-www-form-urlencoded"}}, {}};
  authenticate_client(req, form, options_.client_id, options_.client_secret,
                      options_.client_auth != IntrospectionOptions::ClientAuth::basic);
  req.body = form_encode(form);
  std::string error;
  auto r = fetch_(req, error);
  // The authorization server cannot vouch for the token: deny.
  if (!r) return TokenError{"token introspection unavailable", TokenError::Kind::unavailable};
  if (r->status != 200)
    return TokenError{"token introspection failed (" + std::to_string(r->status) + ")", TokenError::Kind::unavailable};
  boost::system::error_code ec;
  json::parse_options limits;
  limits.max_depth = 32;
  json::value v = json::parse(r->body, ec, {}, limits);
  if (ec || !v.is_object()) return TokenError{"token introspection answered garbage"};
  const auto& o = v.get_object();
  const auto* active = o.if_contains("active");
  if (!active || !active->is_bool()) return TokenError{"token introspection answered garbage: 'active' is not a boolean"};
  if (!active->get_bool()) return TokenError{"token is not active"};
  // Every member this server reads is of its registered type (RFC 7662 section 2.2), or the answer
  // is refused as a whole.
  if (auto why = claims::type_error(o)) return TokenError{"token introspection answered garbage: " + *why};
  if (const auto* iss = o.if_contains("iss"); iss && iss->get_string() != options_.issuer)
    return TokenError{"token from another issuer"};
  bool audience_ok = false;
  if (const auto* aud = o.if_contains("aud")) {
    auto matches = [&](const json::value& a) {
      for (const auto& want : options_.audiences)
        if (a.get_string() == want) return true;
      return false;
    };
    if (aud->is_array())
      for (const auto& a : aud->get_array()) audience_ok = audience_ok || matches(a);
    else
      audience_ok = matches(*aud);
  }
  if (!audience_ok) return TokenError{"token is for another resource"};
  std::int64_t now = options_.now ? options_.now() : common::epoch_seconds();
  Principal p;
  p.issuer = options_.issuer;
  if (auto exp = claims::numeric_date(o, "exp", claims::Rounding::down); exp.present) {
    p.expires_at = exp.seconds;
    if (exp.seconds <= now) return TokenError{"token expired"};  // RFC 7519: not on or after exp
  }
  if (auto nbf = claims::numeric_date(o, "nbf", claims::Rounding::up); nbf.present && now < nbf.seconds)
    return TokenError{"token not yet valid"};
  if (const auto* sub = o.if_contains("sub")) p.subject = std::string(sub->get_string());
  if (const auto* cid = o.if_contains("client_id")) p.client_id = std::string(cid->get_string());
  // A client-credentials token has no user: the client is the subject.
  if (p.subject.empty()) p.subject = p.client_id;
  if (p.subject.empty()) return TokenError{"token has no subject"};
  p.scopes = scopes_from_claims(o);
  p.roles = roles_from_claims(o, options_.role_claims);  // dotted paths, as for JWTs
  p.claims = o;
  p.token_hash = token_hash(token);
  p.token = SecretToken(std::string(token));
  return p;
}

}  // namespace jitgate::auth
