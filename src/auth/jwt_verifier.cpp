#include <array>
#include "jitgate/auth/jwt_verifier.hpp"

#include <cjose/cjose.h>
#include <openssl/evp.h>

#include <boost/json.hpp>
#include <cctype>
#include <cstdint>
#include <cstring>

namespace jitgate::auth {

namespace json = boost::json;

namespace {

std::optional<std::string> base64url_decode(std::string_view in) {
  uint8_t* out = nullptr;
  size_t len = 0;
  cjose_err err;
  for (char c : in)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return std::nullopt;
  if (!cjose_base64url_decode(in.data(), in.size(), &out, &len, &err)) return std::nullopt;
  std::string s(reinterpret_cast<char*>(out), len);
  cjose_get_dealloc()(out);
  return s;
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 32;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::int64_t system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<std::int64_t> numeric_date(const json::object& claims, std::string_view name) {
  const auto* v = claims.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->get_double());
  return std::nullopt;
}

const json::value* claim_path(const json::object& claims, std::string_view path) {
  const json::object* cur = &claims;
  const json::value* v = nullptr;
  while (true) {
    auto dot = path.find('.');
    v = cur->if_contains(path.substr(0, dot));
    if (!v || dot == std::string_view::npos) return v;
    cur = v->if_object();
    if (!cur) return nullptr;
    path.remove_prefix(dot + 1);
  }
}

TokenError fail(std::string d) { return TokenError{std::move(d)}; }

}  // namespace

namespace {

// RFC 6750 b64token characters, by table.
constexpr auto kB64Token = [] {
  std::array<bool, 256> a{};
  for (int c = '0'; c <= '9'; ++c) a[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) a[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) a[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("-._~+/=")) a[static_cast<unsigned char>(c)] = true;
  return a;
}();

using Bytes16 = unsigned char __attribute__((vector_size(16)));

// For 16 bytes at p, 0xff where the byte is a b64token character (the table's set: '-' to '9'
// holds "-./" and the digits, then the letters and "+=_~"), 0 where it is not.
[[gnu::always_inline]] inline Bytes16 b64token_mask(const char* p) {
  Bytes16 x;
  std::memcpy(&x, p, 16);
  auto within = [](Bytes16 v, unsigned char lo, unsigned char hi) {
    return (Bytes16)(static_cast<Bytes16>(v - lo) <= static_cast<unsigned char>(hi - lo));
  };
  return within(x, '-', '9') | within(x | 0x20, 'a', 'z') | (Bytes16)(x == '+') | (Bytes16)(x == '=') |
         (Bytes16)(x == '_') | (Bytes16)(x == '~');
}

// Every character of t is a b64token character. This runs on every request with a token: 16
// bytes a step, the verdict taken once at the end.
bool all_b64token(std::string_view t) {
  const char* p = t.data();
  std::size_t n = t.size();
  if (n < 16) {
    for (char c : t)
      if (!kB64Token[static_cast<unsigned char>(c)]) return false;
    return true;
  }
  Bytes16 all = b64token_mask(p + n - 16);  // the last block, overlapping the others
  for (; n > 16; p += 16, n -= 16) all &= b64token_mask(p);
  std::uint64_t lo, hi;
  std::memcpy(&lo, &all, 8);
  std::memcpy(&hi, reinterpret_cast<const char*>(&all) + 8, 8);
  return (lo & hi) == ~std::uint64_t{0};
}

}  // namespace

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  while (!authorization.empty() && authorization.front() == ' ') authorization.remove_prefix(1);
  if (authorization.size() < 7 || !iequals(authorization.substr(0, 6), "bearer") || authorization[6] != ' ')
    return std::nullopt;
  std::string_view t = authorization.substr(7);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  if (t.empty()) return std::nullopt;
  // A keep-alive connection sends the same token with every request: the last token this thread
  // found well-formed is compared (a memcmp) instead of classified again.
  static thread_local std::string last_well_formed;
  if (t == last_well_formed) return t;
  if (!all_b64token(t)) return std::nullopt;
  last_well_formed.assign(t);
  return t;
}

std::string token_hash(std::string_view token) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(token.data(), token.size(), md, &n, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 6 && i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

std::set<std::string, std::less<>> scopes_from_claims(const json::object& claims) {
  std::set<std::string, std::less<>> out;
  auto add_words = [&](std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && s[i] == ' ') ++i;
      std::size_t j = i;
      while (j < s.size() && s[j] != ' ') ++j;
      if (j > i) out.emplace(s.substr(i, j - i));
      i = j;
    }
  };
  if (const auto* s = claims.if_contains("scope"); s && s->is_string()) add_words(s->get_string());
  if (const auto* s = claims.if_contains("scp")) {
    if (s->is_string()) add_words(s->get_string());
    if (s->is_array())
      for (const auto& e : s->get_array())
        if (e.is_string()) out.emplace(e.get_string());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

VerificationKey::~VerificationKey() {
  if (jwk_) cjose_jwk_release(static_cast<cjose_jwk_t*>(jwk_));
}

bool VerificationKey::accepts(std::string_view alg) const {
  if (!alg_.empty()) return alg == alg_;
  if (kty_ == "RSA") return alg.starts_with("RS") || alg.starts_with("PS");
  if (kty_ == "EC") {
    return (alg == "ES256" && crv_ == "P-256") || (alg == "ES384" && crv_ == "P-384") || (alg == "ES512" && crv_ == "P-521");
  }
  return false;
}

std::shared_ptr<const KeySet> KeySet::parse(std::string_view jwks_json, std::string* error) {
  auto set_error = [&](std::string e) {
    if (error) *error = std::move(e);
    return nullptr;
  };
  auto doc = parse_object(jwks_json);
  if (!doc) return set_error("JWKS is not a JSON object");
  const auto* keys = doc->if_contains("keys");
  if (!keys || !keys->is_array()) return set_error("JWKS has no \"keys\" array");
  auto set = std::make_shared<KeySet>();
  for (const auto& k : keys->get_array()) {
    const auto* o = k.if_object();
    if (!o) continue;
    auto str = [&](std::string_view name) {
      const auto* v = o->if_contains(name);
      return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    std::string kty = str("kty");
    if (kty != "RSA" && kty != "EC") continue;  // symmetric keys never verify tokens of an asymmetric issuer
    if (std::string use = str("use"); !use.empty() && use != "sig") continue;
    std::string alg = str("alg");
    if (!alg.empty() && (alg == "none" || alg.starts_with("HS"))) continue;
    // Import only the public members, so a JWKS that leaks private parts is not used as such.
    json::object pub;
    for (const char* m : {"kty", "kid", "alg", "use", "n", "e", "crv", "x", "y"})
      if (const auto* v = o->if_contains(m)) pub[m] = *v;
    std::string text = json::serialize(pub);
    cjose_err err;
    cjose_jwk_t* jwk = cjose_jwk_import(text.c_str(), text.size(), &err);
    if (!jwk) continue;
    auto key = std::unique_ptr<VerificationKey>(new VerificationKey());
    key->jwk_ = jwk;
    key->kid_ = str("kid");
    key->kty_ = kty;
    key->alg_ = alg;
    key->crv_ = str("crv");
    set->keys_.push_back(std::move(key));
  }
  return set;
}

const VerificationKey* KeySet::find(std::string_view kid) const {
  for (const auto& k : keys_)
    if (k->kid() == kid) return k.get();
  return nullptr;
}

const VerificationKey* KeySet::sole() const { return keys_.size() == 1 ? keys_.front().get() : nullptr; }

// ---------------------------------------------------------------------------------------------

JwtVerifier::JwtVerifier(JwtOptions options, std::shared_ptr<KeySource> keys)
    : options_(std::move(options)), keys_(std::move(keys)) {}

Verification JwtVerifier::verify(std::string_view token) {
  if (token.size() > options_.max_token_bytes) return fail("token too large");
  auto d1 = token.find('.');
  auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return fail("malformed token: not a JWS in compact form");
  auto header_text = base64url_decode(token.substr(0, d1));
  auto header = header_text ? parse_object(*header_text) : std::nullopt;
  if (!header) return fail("malformed token header");
  const auto* alg_v = header->if_contains("alg");
  if (!alg_v || !alg_v->is_string()) return fail("token header has no algorithm");
  std::string alg(alg_v->get_string());
  if (alg == "none" || alg.starts_with("HS") || !options_.algorithms.contains(alg))
    return fail("signing algorithm not allowed");
  if (const auto* typ = header->if_contains("typ")) {
    if (!typ->is_string()) return fail("malformed token header");
    std::string_view t = typ->get_string();
    if (!iequals(t, "at+jwt") && !iequals(t, "application/at+jwt") && !iequals(t, "JWT")) return fail("not an access token");
  }
  if (header->contains("crit")) return fail("unsupported critical header");
  std::string kid;
  if (const auto* k = header->if_contains("kid")) {
    if (!k->is_string()) return fail("malformed token header");
    kid = std::string(k->get_string());
  }

  auto set = keys_->keys();
  const VerificationKey* key = nullptr;
  if (set) key = kid.empty() ? set->sole() : set->find(kid);
  if (!key && !kid.empty()) {
    set = keys_->keys(kid);  // a rotated key: let the source refresh (rate-limited)
    if (set) key = set->find(kid);
  }
  // No usable key set at all (endpoint down and nothing fresh enough cached): deny, and say so.
  if (!set) return fail("the issuer's signing keys are unavailable");
  if (!key) return fail("unknown signing key");
  if (!key->accepts(alg)) return fail("algorithm does not match the signing key");

  cjose_err err;
  cjose_jws_t* jws = cjose_jws_import(token.data(), token.size(), &err);
  if (!jws) return fail("malformed token");
  bool ok = cjose_jws_verify(jws, static_cast<const cjose_jwk_t*>(key->handle()), &err);
  std::optional<json::object> claims;
  if (ok) {
    uint8_t* plain = nullptr;
    size_t len = 0;
    if (cjose_jws_get_plaintext(jws, &plain, &len, &err))
      claims = parse_object(std::string_view(reinterpret_cast<char*>(plain), len));
  }
  cjose_jws_release(jws);
  if (!ok) return fail("invalid signature");
  if (!claims) return fail("malformed token claims");

  const auto* iss = claims->if_contains("iss");
  if (!iss || !iss->is_string() || iss->get_string() != options_.issuer) return fail("token from another issuer");
  bool audience_ok = false;
  if (const auto* aud = claims->if_contains("aud")) {
    auto matches = [&](const json::value& a) {
      if (!a.is_string()) return false;
      for (const auto& want : options_.audiences)
        if (a.get_string() == want) return true;
      return false;
    };
    if (aud->is_array())
      for (const auto& a : aud->get_array()) audience_ok = audience_ok || matches(a);
    else
      audience_ok = matches(*aud);
  }
  if (!audience_ok) return fail("token is for another resource");
  std::int64_t now = options_.now ? options_.now() : system_now();
  std::int64_t skew = options_.clock_skew.count();
  auto exp = numeric_date(*claims, "exp");
  if (!exp) return fail("token has no expiry");
  if (now >= *exp + skew) return fail("token expired");  // RFC 7519: not on or after exp
  if (auto nbf = numeric_date(*claims, "nbf"); nbf && now + skew < *nbf) return fail("token not yet valid");
  if (auto iat = numeric_date(*claims, "iat"); iat && now + skew < *iat) return fail("token issued in the future");
  const auto* sub = claims->if_contains("sub");
  if (!sub || !sub->is_string() || sub->get_string().empty()) return fail("token has no subject");

  // `iss` equals options_.issuer and `exp` is a number here, so the mapping sets both as before.
  Principal p = principal_from_claims(std::move(*claims), options_.role_claims);
  p.token_hash = token_hash(token);
  p.token = SecretToken(std::string(token));
  return p;
}

Principal principal_from_claims(json::object claims, const std::vector<std::string>& role_claims) {
  Principal p;
  if (const auto* iss = claims.if_contains("iss"); iss && iss->is_string()) p.issuer = std::string(iss->get_string());
  if (const auto* sub = claims.if_contains("sub"); sub && sub->is_string()) p.subject = std::string(sub->get_string());
  for (const char* c : {"client_id", "azp"})
    if (const auto* v = claims.if_contains(c); v && v->is_string() && p.client_id.empty()) p.client_id = std::string(v->get_string());
  p.scopes = scopes_from_claims(claims);
  for (const auto& path : role_claims) {
    const auto* v = claim_path(claims, path);
    if (!v) continue;
    if (v->is_string()) p.roles.emplace(v->get_string());
    if (v->is_array())
      for (const auto& r : v->get_array())
        if (r.is_string()) p.roles.emplace(r.get_string());
  }
  p.expires_at = numeric_date(claims, "exp");
  p.claims = std::move(claims);
  return p;
}

}  // namespace jitgate::auth
