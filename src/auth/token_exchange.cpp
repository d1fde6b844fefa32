#include "jitgate/auth/token_exchange.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <stdexcept>
#include "common/clock.hpp"
#include "common/digest.hpp"

namespace jitgate::auth {

namespace json = boost::json;

namespace {

std::string string_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// What of an error answer may be shown: the OAuth error code and its description, cut short.
std::string describe_refusal(unsigned status, std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  std::string out = "the authorization server refused the exchange (HTTP " + std::to_string(status) + ")";
  if (ec || !v.is_object()) return out;
  std::string code = string_at(v.get_object(), "error");
  std::string description = string_at(v.get_object(), "error_description");
  if (code.empty()) return out;
  if (description.size() > 200) description.resize(200);
  return code + (description.empty() ? "" : ": " + description);
}

}  // namespace

TokenExchanger::TokenExchanger(TokenExchangeOptions options, Fetcher fetch)
    : options_(std::move(options)), fetch_(std::move(fetch)) {
  if (options_.token_endpoint.empty()) throw std::invalid_argument("token exchange: no token endpoint");
  if (options_.client_id.empty()) throw std::invalid_argument("token exchange: no client_id");
  if (options_.resource.empty() && options_.audience.empty())
    throw std::invalid_argument("token exchange: neither a resource nor an audience to ask for");
  if (options_.cache_entries == 0) options_.cache_entries = 1;
}

std::int64_t TokenExchanger::now() const {
  if (options_.now) return options_.now();
  return common::epoch_seconds();
}

std::string TokenExchanger::key_of(std::string_view subject_token) { return common::sha256(subject_token); }

std::shared_ptr<const ExchangedToken> TokenExchanger::cached(std::string_view subject_token) const {
  std::string key = key_of(subject_token);
  std::int64_t t = now();
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  if (it->second->second->expires_at - options_.refresh_before.count() <= t) {
    lru_.erase(it->second);
    index_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.end(), lru_, it->second);
  ++stats_.hits;
  return it->second->second;
}

std::shared_ptr<const ExchangedToken> TokenExchanger::exchange(std::string_view subject_token,
                                                               std::optional<std::int64_t> subject_expires_at,
                                                               std::string& error) {
  if (auto hit = cached(subject_token)) return hit;
  auto failed = [&](std::string why) -> std::shared_ptr<const ExchangedToken> {
    error = std::move(why);
    std::lock_guard lock(mu_);
    ++stats_.failures;
    return nullptr;
  };
  if (subject_token.empty()) return failed("no subject token to exchange");
  std::vector<std::pair<std::string, std::string>> form{{"grant_type", std::string(kTokenExchangeGrant)},
                                                        {"subject_token", std::string(subject_token)},
                                                        {"subject_token_type", std::string(kAccessTokenType)},
                                                        {"requested_token_type", std::string(kAccessTokenType)}};
  if (!options_.resource.empty()) form.emplace_back("resource", options_.resource);
  if (!options_.audience.empty()) form.emplace_back("audience", options_.audience);
  if (!options_.scopes.empty()) {
    std::string scope;
    for (const auto& s : options_.scopes) scope += (scope.empty() ? "" : " ") + s;
    form.emplace_back("scope", scope);
  }
  FetchRequest req{"POST",
                   options_.token_endpoint,
                   {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}},
                   {}};
  authenticate_client(req, form, options_.client_id, options_.client_secret, options_.client_secret_post);
  req.body = form_encode(form);
  std::string fetch_error;
  auto r = fetch_(req, fetch_error);
  if (!r) return failed("the authorization server could not be reached: " + fetch_error);
  if (r->status != 200) return failed(describe_refusal(r->status, r->body));

  boost::system::error_code ec;
  auto v = json::parse(r->body, ec);
  if (ec || !v.is_object()) return failed("the authorization server answered the exchange with something that is not JSON");
  const auto& o = v.get_object();
  // Members of the wrong type are refused, not read as absent.
  for (const char* name : {"access_token", "issued_token_type", "token_type", "scope", "refresh_token"})
    if (const auto* m = o.if_contains(name); m && !m->is_string())
      return failed(std::string("the exchange answer's ") + name + " is not a string");
  auto token = std::make_shared<ExchangedToken>();
  token->access_token = string_at(o, "access_token");
  if (token->access_token.empty()) return failed("the exchange answer has no access_token");
  // RFC 8693 section 2.2.1: issued_token_type is required; a token that is not a bearer access
  // token cannot be sent upstream as one.
  if (string_at(o, "issued_token_type") != kAccessTokenType)
    return failed("the exchange answer's issued_token_type is not an access token");
  if (!iequals(string_at(o, "token_type"), "Bearer")) return failed("the exchanged token is not a Bearer token");
  std::int64_t t = now();
  std::int64_t lifetime = options_.default_lifetime.count();
  if (const auto* e = o.if_contains("expires_in")) {
    // Any JSON number is possible here; only whole seconds within a year are taken (a fraction
    // is rounded down, as the shorter lifetime).
    constexpr std::int64_t kMaxLifetime = 366 * 86400;
    if (e->is_int64() && e->get_int64() >= 0 && e->get_int64() <= kMaxLifetime)
      lifetime = e->get_int64();
    else if (e->is_uint64() && e->get_uint64() <= static_cast<std::uint64_t>(kMaxLifetime))
      lifetime = static_cast<std::int64_t>(e->get_uint64());
    else if (e->is_double() && e->get_double() >= 0 && e->get_double() <= static_cast<double>(kMaxLifetime))
      lifetime = static_cast<std::int64_t>(e->get_double());
    else
      return failed("the exchange answer's expires_in is not a number of seconds from 0 to a year");
  }
  token->expires_at = t + lifetime;
  if (subject_expires_at) token->expires_at = std::min(token->expires_at, *subject_expires_at);
  token->scope = string_at(o, "scope");

  std::lock_guard lock(mu_);
  ++stats_.exchanges;
  // Only a token with life left beyond the refresh margin is worth keeping.
  if (token->expires_at - options_.refresh_before.count() > t) {
    std::string key = key_of(subject_token);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.erase(it->second);
      index_.erase(it);
    }
    while (lru_.size() >= options_.cache_entries) {
      index_.erase(lru_.front().first);
      lru_.pop_front();
    }
    lru_.emplace_back(key, token);
    index_.emplace(std::move(key), std::prev(lru_.end()));
  }
  return token;
}

TokenExchanger::Stats TokenExchanger::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace jitgate::auth
