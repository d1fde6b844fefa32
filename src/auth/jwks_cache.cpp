#include "jitgate/auth/jwks_cache.hpp"

#include "jitgate/auth/resource_metadata.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <iostream>
#include "common/clock.hpp"

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
  // RFC 9111 section 5.2: a comma-separated list of directives, names case-insensitive, values a
  // token or a quoted string. Only max-age, no-cache and no-store matter here.
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  std::optional<std::int64_t> age;
  bool uncacheable = false;
  while (!cc.empty()) {
    // A quoted value may hold a comma: find the end of this directive outside quotes.
    std::size_t end = 0;
    bool quoted = false;
    for (; end < cc.size() && (quoted || cc[end] != ','); ++end) {
      if (cc[end] == '\\' && quoted && end + 1 < cc.size())
        ++end;
      else if (cc[end] == '"')
        quoted = !quoted;
    }
    std::string_view directive = trim(cc.substr(0, end));
    cc.remove_prefix(std::min(end + 1, cc.size()));
    auto eq = directive.find('=');
    std::string name = lower(trim(directive.substr(0, eq)));
    std::string_view value = eq == std::string_view::npos ? std::string_view() : trim(directive.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    if (name == "no-store" || name == "no-cache") uncacheable = true;
    if (name != "max-age" || age) continue;                                                          // the first max-age counts
    if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos) continue;  // malformed: ignored
    // Section 1.2.2: a value too large to represent counts as 2^31.
    constexpr std::int64_t kMax = std::int64_t{1} << 31;
    std::int64_t n = 0;
    for (char c : value) {
      n = n * 10 + (c - '0');
      if (n >= kMax) {
        n = kMax;
        break;
      }
    }
    age = n;
  }
  if (uncacheable) return 0;
  return age;
}

JwksCache::JwksCache(JwksOptions options, Fetcher fetch)
    : options_(std::move(options)), fetch_(std::move(fetch)), jwks_uri_(options_.jwks_uri) {}

std::int64_t JwksCache::now() const {
  if (options_.now) return options_.now();
  return common::epoch_seconds();
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
    if (!jwks || !jwks->is_string() || !canonical_resource(jwks->get_string())) continue;
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
  // Refused keys are named once per fetch; the others stay usable.
  for (const auto& why : set->refused()) std::cerr << "jitgate auth: JWKS of " << options_.issuer << ": " << why << '\n';
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
