#include "jitgate/auth/challenge.hpp"

#include <boost/json.hpp>

#include "jitgate/auth/www_authenticate.hpp"

namespace jitgate::auth {

namespace json = boost::json;

std::string refusal_body(std::string_view error, std::string_view description) {
  json::object b;
  if (!error.empty()) b.emplace("error", error);
  b.emplace("error_description", description);
  return json::serialize(b);
}

namespace {

std::string joined(std::span<const std::string> scopes) {
  std::string out;
  for (const auto& s : scopes) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

ChallengeResponse made(unsigned status, std::string header, std::string error, std::string description) {
  ChallengeResponse r{status, std::move(header), std::move(error), std::move(description), {}};
  r.body = refusal_body(r.error, r.description);
  return r;
}

}  // namespace

ChallengeResponse challenge_for(Remedy remedy, std::span<const std::string> scopes, const ResourceMetadata& metadata) {
  switch (remedy) {
    case Remedy::authenticate:
      return made(401, to_header(Challenge::missing_token(metadata.well_known_url(), joined(scopes))), {},
                  "authorization required");
    case Remedy::step_up: {
      std::string description = "more scopes are needed";
      return made(403, to_header(Challenge::insufficient_scope(metadata.well_known_url(), joined(scopes), description)),
                  "insufficient_scope", description);
    }
    case Remedy::none: break;
  }
  return made(403, {}, "forbidden", "the policy does not allow this request");
}

ChallengeResponse invalid_token_challenge(std::string_view description, const ResourceMetadata& metadata) {
  return made(401, to_header(Challenge::invalid_token(metadata.well_known_url(), description)), "invalid_token",
              std::string(description));
}

}  // namespace jitgate::auth
