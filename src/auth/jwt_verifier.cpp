#include "jitgate/auth/jwt_verifier.hpp"

#include <cjose/cjose.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <array>
#include <map>

#include "auth/claims.hpp"

#include <boost/json.hpp>
#include <cctype>
#include <cstdint>
#include <cstring>
#include "common/clock.hpp"
#include "common/digest.hpp"

namespace jitgate::auth {

namespace json = boost::json;

namespace {

using claims::parse_object;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::int64_t system_now() { return common::epoch_seconds(); }

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
  return within(x, '-', '9') | within(x | 0x20, 'a', 'z') | (Bytes16)(x == '+') | (Bytes16)(x == '=') | (Bytes16)(x == '_') |
         (Bytes16)(x == '~');
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
  if (authorization.size() < 7 || !iequals(authorization.substr(0, 6), "bearer") || authorization[6] != ' ') return std::nullopt;
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

std::string token_hash(std::string_view token) { return common::log_label(token); }

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

std::size_t VerificationKey::signature_bytes(std::string_view alg) const {
  if (alg == "ES256") return 64;
  if (alg == "ES384") return 96;
  if (alg == "ES512") return 132;
  return modulus_bytes_;
}

namespace {

struct Curve {
  const char* crv;
  const char* alg;
  int nid;
  std::size_t coordinate_bytes;
};
constexpr std::array<Curve, 3> kCurves{
    {{"P-256", "ES256", NID_X9_62_prime256v1, 32}, {"P-384", "ES384", NID_secp384r1, 48}, {"P-521", "ES512", NID_secp521r1, 66}}};

constexpr std::size_t kMinRsaBits = 2048, kMaxRsaBits = 16384;

std::string_view without_leading_zeros(std::string_view octets) {
  while (!octets.empty() && octets.front() == '\0') octets.remove_prefix(1);
  return octets;
}

std::size_t bit_length(std::string_view octets) {
  octets = without_leading_zeros(octets);
  if (octets.empty()) return 0;
  std::size_t bits = (octets.size() - 1) * 8;
  for (auto c = static_cast<unsigned char>(octets.front()); c; c >>= 1) ++bits;
  return bits;
}

// Why an RSA key's members are unusable, or empty when they are fine; sets the modulus length.
std::string rsa_problem(const json::object& o, std::size_t& modulus_bytes) {
  const auto* n = o.if_contains("n");
  const auto* e = o.if_contains("e");
  if (!n || !n->is_string() || !e || !e->is_string()) return "an RSA key needs string members n and e";
  auto modulus = claims::base64url_decode(n->get_string());
  auto exponent = claims::base64url_decode(e->get_string());
  if (!modulus || !exponent) return "n or e is not base64url";
  std::size_t bits = bit_length(*modulus);
  if (bits < kMinRsaBits) return "RSA modulus of " + std::to_string(bits) + " bits is under 2048";
  if (bits > kMaxRsaBits) return "RSA modulus of " + std::to_string(bits) + " bits is over 16384";
  std::string_view exp = without_leading_zeros(*exponent);
  if (exp.size() > 8) return "RSA public exponent is larger than 2^64";
  std::uint64_t value = 0;
  for (char c : exp) value = value << 8 | static_cast<unsigned char>(c);
  // e = 1 makes every "signature" its own message; an even e is not a valid RSA exponent.
  if (value < 3 || value % 2 == 0) return "RSA public exponent " + std::to_string(value) + " is not odd and at least 3";
  modulus_bytes = (bits + 7) / 8;
  return {};
}

// The same for an EC key: a known curve, coordinates of its exact size, and a point on it.
std::string ec_problem(const json::object& o, const Curve*& curve) {
  const auto* crv = o.if_contains("crv");
  if (!crv || !crv->is_string()) return "an EC key needs a string crv";
  curve = nullptr;
  for (const auto& c : kCurves)
    if (crv->get_string() == c.crv) curve = &c;
  if (!curve) return "curve " + std::string(crv->get_string()) + " is not supported";
  const auto* x = o.if_contains("x");
  const auto* y = o.if_contains("y");
  if (!x || !x->is_string() || !y || !y->is_string()) return "an EC key needs string members x and y";
  auto xs = claims::base64url_decode(x->get_string());
  auto ys = claims::base64url_decode(y->get_string());
  if (!xs || !ys) return "x or y is not base64url";
  // RFC 7518 section 6.2.1.2: each coordinate is exactly the curve's field size.
  if (xs->size() != curve->coordinate_bytes || ys->size() != curve->coordinate_bytes)
    return "coordinates are not " + std::to_string(curve->coordinate_bytes) + " octets for " + curve->crv;
  EC_GROUP* group = EC_GROUP_new_by_curve_name(curve->nid);
  EC_POINT* point = group ? EC_POINT_new(group) : nullptr;
  BIGNUM* bx = BN_bin2bn(reinterpret_cast<const unsigned char*>(xs->data()), static_cast<int>(xs->size()), nullptr);
  BIGNUM* by = BN_bin2bn(reinterpret_cast<const unsigned char*>(ys->data()), static_cast<int>(ys->size()), nullptr);
  bool on_curve = point && bx && by && EC_POINT_set_affine_coordinates(group, point, bx, by, nullptr) == 1 &&
                  EC_POINT_is_on_curve(group, point, nullptr) == 1;
  BN_free(bx);
  BN_free(by);
  EC_POINT_free(point);
  EC_GROUP_free(group);
  return on_curve ? std::string() : std::string("the point is not on ") + curve->crv;
}

bool is_rsa_alg(std::string_view alg) {
  for (std::string_view a : {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
    if (alg == a) return true;
  return false;
}

}  // namespace

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
  std::size_t index = 0;
  for (const auto& k : keys->get_array()) {
    ++index;
    std::string label = "key #" + std::to_string(index);
    auto refuse = [&](std::string why) { set->refused_.push_back(label + ": " + why); };
    const auto* o = k.if_object();
    if (!o) {
      refuse("not a JSON object");
      continue;
    }
    std::string kid;
    if (const auto* v = o->if_contains("kid")) {
      if (!v->is_string()) {
        refuse("kid is not a string");
        continue;
      }
      kid = std::string(v->get_string());
      label = "key '" + kid + "'";
    }
    auto string_member = [&](std::string_view name, std::string& out) {
      const auto* v = o->if_contains(name);
      if (!v) return true;
      if (!v->is_string()) return false;
      out = std::string(v->get_string());
      return true;
    };
    std::string kty, use, alg;
    if (!string_member("kty", kty) || !string_member("use", use) || !string_member("alg", alg)) {
      refuse("kty, use or alg is not a string");
      continue;
    }
    // Symmetric keys never verify tokens of an asymmetric issuer; OKP (EdDSA) is not supported.
    if (kty != "RSA" && kty != "EC") {
      refuse("key type '" + kty + "' does not verify signatures here");
      continue;
    }
    if (!use.empty() && use != "sig") {
      refuse("use is '" + use + "', not 'sig'");
      continue;
    }
    if (const auto* ops = o->if_contains("key_ops")) {
      std::set<std::string_view> seen;
      bool well_formed = ops->is_array();
      if (well_formed)
        for (const auto& op : ops->get_array())
          well_formed = well_formed && op.is_string() && seen.insert(op.get_string()).second;
      if (!well_formed) {
        refuse("key_ops is not an array of distinct strings");
        continue;
      }
      if (!seen.contains("verify")) {
        refuse("key_ops does not include 'verify'");
        continue;
      }
    }
    auto key = std::unique_ptr<VerificationKey>(new VerificationKey());
    if (kty == "RSA") {
      if (!alg.empty() && !is_rsa_alg(alg)) {
        refuse("alg '" + alg + "' is not an RSA signature algorithm");
        continue;
      }
      if (std::string why = rsa_problem(*o, key->modulus_bytes_); !why.empty()) {
        refuse(why);
        continue;
      }
    } else {
      const Curve* curve = nullptr;
      if (std::string why = ec_problem(*o, curve); !why.empty()) {
        refuse(why);
        continue;
      }
      if (!alg.empty() && alg != curve->alg) {
        refuse("alg '" + alg + "' does not fit curve " + curve->crv);
        continue;
      }
      key->crv_ = curve->crv;
    }
    // Import only the public members, so a JWKS that leaks private parts is not used as such.
    json::object pub;
    for (const char* m : {"kty", "kid", "alg", "use", "n", "e", "crv", "x", "y"})
      if (const auto* v = o->if_contains(m)) pub[m] = *v;
    std::string text = json::serialize(pub);
    cjose_err err;
    cjose_jwk_t* jwk = cjose_jwk_import(text.c_str(), text.size(), &err);
    if (!jwk) {
      refuse("cannot be imported");
      continue;
    }
    key->jwk_ = jwk;
    key->kid_ = std::move(kid);
    key->kty_ = kty;
    key->alg_ = alg;
    set->keys_.push_back(std::move(key));
  }
  // A kid names one key (RFC 7517 section 4.5): with two under one name, which one verifies a
  // token would be an accident of order, so neither does.
  std::map<std::string_view, int> count;
  for (const auto& k : set->keys_)
    if (!k->kid().empty()) ++count[k->kid()];
  std::vector<std::string> ambiguous;
  for (const auto& [kid, n] : count)
    if (n > 1) ambiguous.emplace_back(kid);
  for (const auto& kid : ambiguous) {
    set->refused_.push_back("key '" + kid + "': the kid names more than one key");
    std::erase_if(set->keys_, [&](const auto& k) { return k->kid() == kid; });
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
  auto header_text = claims::base64url_decode(token.substr(0, d1));
  auto header = header_text ? parse_object(*header_text) : std::nullopt;
  if (!header) return fail("malformed token header");
  const auto* alg_v = header->if_contains("alg");
  if (!alg_v || !alg_v->is_string()) return fail("token header has no algorithm");
  std::string alg(alg_v->get_string());
  if (alg == "none" || alg.starts_with("HS") || !options_.algorithms.contains(alg)) return fail("signing algorithm not allowed");
  if (const auto* typ = header->if_contains("typ")) {
    if (!typ->is_string()) return fail("malformed token header");
    // RFC 7515 section 4.1.9: media types compare case-insensitively, "application/" may be left out.
    std::string_view t = typ->get_string();
    bool at_jwt = iequals(t, "at+jwt") || iequals(t, "application/at+jwt");
    if (!at_jwt && (options_.require_at_jwt_typ || !(iequals(t, "JWT") || iequals(t, "application/jwt"))))
      return fail("not an access token (typ)");
  } else if (options_.require_at_jwt_typ) {
    return fail("not an access token (no typ)");
  }
  // No header extension is understood here (RFC 7515 section 4.1.11), and an access token is
  // not a nested JWT.
  if (header->contains("crit")) return fail("unsupported critical header");
  if (header->contains("cty")) return fail("not an access token (cty)");
  std::string kid;
  if (const auto* k = header->if_contains("kid")) {
    if (!k->is_string()) return fail("malformed token header");
    kid = std::string(k->get_string());
  }
  // The payload and signature have one spelling each: strict base64url, and the signature of
  // the exact length its algorithm gives (checked once the key is known).
  auto payload = claims::base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  if (!payload) return fail("malformed token claims");
  std::string_view signature = token.substr(d2 + 1);
  if (!claims::base64url_decode(signature)) return fail("malformed token signature");

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
  if (claims::base64url_decoded_size(signature.size()) != key->signature_bytes(alg))
    return fail("invalid signature (wrong length for " + alg + ")");

  cjose_err err;
  cjose_jws_t* jws = cjose_jws_import(token.data(), token.size(), &err);
  if (!jws) return fail("malformed token");
  bool ok = cjose_jws_verify(jws, static_cast<const cjose_jwk_t*>(key->handle()), &err);
  cjose_jws_release(jws);
  if (!ok) return fail("invalid signature");
  auto claims = parse_object(*payload);
  if (!claims) return fail("malformed token claims");
  if (auto why = claims::type_error(*claims)) return fail("malformed token claims: " + *why);

  const auto* iss = claims->if_contains("iss");
  if (!iss || iss->get_string() != options_.issuer) return fail("token from another issuer");
  bool audience_ok = false;
  if (const auto* aud = claims->if_contains("aud")) {
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
  if (!audience_ok) return fail("token is for another resource");
  std::int64_t now = options_.now ? options_.now() : system_now();
  std::int64_t skew = options_.clock_skew.count();
  // type_error() passed: each date is absent or valid.
  auto exp = claims::numeric_date(*claims, "exp", claims::Rounding::down);
  if (!exp.present) return fail("token has no expiry");
  if (now >= exp.seconds + skew) return fail("token expired");  // RFC 7519: not on or after exp
  if (auto nbf = claims::numeric_date(*claims, "nbf", claims::Rounding::up); nbf.present && now + skew < nbf.seconds)
    return fail("token not yet valid");
  if (auto iat = claims::numeric_date(*claims, "iat", claims::Rounding::up); iat.present && now + skew < iat.seconds)
    return fail("token issued in the future");
  const auto* sub = claims->if_contains("sub");
  if (!sub || sub->get_string().empty()) return fail("token has no subject");

  // `iss` equals options_.issuer and `exp` is a number here, so the mapping sets both as before.
  Principal p = principal_from_claims(std::move(*claims), options_.role_claims);
  p.token_hash = token_hash(token);
  p.token = SecretToken(std::string(token));
  return p;
}

std::set<std::string, std::less<>> roles_from_claims(const json::object& claims, const std::vector<std::string>& role_claims) {
  std::set<std::string, std::less<>> roles;
  for (const auto& path : role_claims) {
    const auto* v = claim_path(claims, path);
    if (!v) continue;
    if (v->is_string()) roles.emplace(v->get_string());
    if (v->is_array())
      for (const auto& r : v->get_array())
        if (r.is_string()) roles.emplace(r.get_string());
  }
  return roles;
}

Principal principal_from_claims(json::object claims, const std::vector<std::string>& role_claims) {
  Principal p;
  if (const auto* iss = claims.if_contains("iss"); iss && iss->is_string()) p.issuer = std::string(iss->get_string());
  if (const auto* sub = claims.if_contains("sub"); sub && sub->is_string()) p.subject = std::string(sub->get_string());
  for (const char* c : {"client_id", "azp"})
    if (const auto* v = claims.if_contains(c); v && v->is_string() && p.client_id.empty())
      p.client_id = std::string(v->get_string());
  p.scopes = scopes_from_claims(claims);
  p.roles = roles_from_claims(claims, role_claims);
  if (auto exp = claims::numeric_date(claims, "exp", claims::Rounding::down); exp.present && exp.valid)
    p.expires_at = exp.seconds;
  p.claims = std::move(claims);
  return p;
}

}  // namespace jitgate::auth
