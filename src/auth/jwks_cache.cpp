#include "jitgate/auth/jwks_cache.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <charconv>

namespace jitgate::auth {

namespace json = boost::json;

std::vector<std::string> metadata_urls(std::string_view issuer) {
  auto u = boost::urls::parse_absolute_uri(issuer);
  if (!u) return {};
  std::string origin = std::string(u->scheme()) + "://" + std::string(u->encoded_authority());
  std::string path(u->encoded_path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.empty()) return {origin + "/.well-known/oauth-authorization-server", origin + "/.well-known/openid-configuration"};
  return {origin + "/.well-known/oauth-authorization-server" + path, origin + "/.well-known/openid-configuration" + path,
          origin + path + "/.well-known/openid-configuration"};
}

std::optional<std::int64_t> max_age(std::string_view cc) {
  if (cc.find("no-store") != std::string_view::npos || cc.find("no-cache") != std::string_view::npos) return 0;
  auto p = cc.find("max-age=");
  if (p == std::string_view::npos) return std::nullopt;
  std::string_view v = cc.substr(p + 8);
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end == v.data()) return std::nullopt;
  return n;
}

JwksCache::JwksCache(JwksOptions options, Fetcher fetch)
    : options_(std::move(options)), fetch_(std::move(fetch)), jwks_uri_(options_.jwks_uri) {}

std::int64_t JwksCache::now() const {
  if (options_.now) return options_.now();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string JwksCache::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

std::string JwksCache::jwks_uri() const {
  std::lock_guard lock(mu_);
  return jwks_uri_;
}

bool JwksCache::discover_locked() {
  for (const auto& url : metadata_urls(options_.issuer)) {
    std::string error;
    auto r = fetch_(FetchRequest{"GET", url, {}, {}}, error);
    if (!r || r->status != 200) continue;
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (ec || !v.is_object()) continue;
    const auto& o = v.get_object();
    // RFC 8414 §3.3: the metadata must name the issuer it was fetched for.
    const auto* iss = o.if_contains("issuer");
    if (!iss || !iss->is_string() || iss->get_string() != options_.issuer) continue;
    const auto* jwks = o.if_contains("jwks_uri");
    if (!jwks || !jwks->is_string()) continue;
    jwks_uri_ = std::string(jwks->get_string());
    return true;
  }
  last_error_ = "no authorization server metadata with a jwks_uri for " + options_.issuer;
  return false;
}

void JwksCache::refresh_locked(std::int64_t t) {
  last_attempt_ = t;
  if (jwks_uri_.empty() && !discover_locked()) return;
  std::string error;
  auto r = fetch_(FetchRequest{"GET", jwks_uri_, {}, {}}, error);
  if (!r) {
    last_error_ = "JWKS fetch failed: " + error;
    return;
  }
  if (r->status != 200) {
    last_error_ = "JWKS endpoint answered " + std::to_string(r->status);
    return;
  }
  std::string parse_error;
  auto set = KeySet::parse(r->body, &parse_error);
  if (!set) {
    last_error_ = "JWKS unusable: " + parse_error;
    return;
  }
  std::int64_t ttl = max_age(r->cache_control).value_or(options_.default_ttl.count());
  ttl = std::clamp<std::int64_t>(ttl, options_.min_ttl.count(), options_.max_ttl.count());
  keys_ = std::move(set);
  fetched_at_ = t;
  fresh_until_ = t + ttl;
  last_error_.clear();
}

std::shared_ptr<const KeySet> JwksCache::keys(std::string_view unknown_kid) {
  std::lock_guard lock(mu_);
  std::int64_t t = now();
  // Fetch when there are no keys, when they are past their TTL, or when a token names a kid we do
  // not know (the issuer may have rotated) — never more than once per refetch interval.
  bool wanted = !keys_ || t >= fresh_until_ || !unknown_kid.empty();
  if (wanted && t - last_attempt_ >= options_.refetch_interval.count()) refresh_locked(t);
  if (!keys_) return nullptr;
  if (t > fresh_until_ + options_.max_stale.count()) return nullptr;  // too stale: deny
  return keys_;
}

}  // namespace jitgate::auth
