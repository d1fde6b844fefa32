// Token verification cost: ES256 and RS256 signatures (cjose over OpenSSL) and the cached path.
// Compare with `openssl speed ecdsap256 rsa2048` on the same machine (BENCHMARKS.md).
#include <benchmark/benchmark.h>
#include <cjose/cjose.h>

#include <boost/json.hpp>
#include <chrono>

#include "jitgate/auth/jwt_verifier.hpp"
#include "jitgate/auth/token_cache.hpp"

namespace json = boost::json;
using namespace jitgate::auth;

namespace {

struct Fixture {
  cjose_jwk_t* jwk;
  std::string alg;
  std::string token;
  std::shared_ptr<JwtVerifier> verifier;

  Fixture(cjose_jwk_t* k, std::string a) : jwk(k), alg(std::move(a)) {
    cjose_err err;
    char* pub = cjose_jwk_to_json(jwk, false, &err);
    auto o = json::parse(pub).as_object();
    std::free(pub);
    o["kid"] = "k";
    auto keys = KeySet::parse(R"({"keys":[)" + json::serialize(o) + "]}");
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string claims = json::serialize(json::object{{"iss", "https://as"},
                                                      {"sub", "alice"},
                                                      {"aud", "https://mcp/mcp"},
                                                      {"scope", "notes:read notes:write"},
                                                      {"exp", now + 3600}});
    cjose_header_t* h = cjose_header_new(&err);
    cjose_header_set(h, CJOSE_HDR_ALG, alg.c_str(), &err);
    cjose_header_set(h, CJOSE_HDR_KID, "k", &err);
    cjose_jws_t* jws = cjose_jws_sign(jwk, h, reinterpret_cast<const uint8_t*>(claims.data()), claims.size(), &err);
    const char* ser = nullptr;
    cjose_jws_export(jws, &ser, &err);
    token = ser;
    cjose_jws_release(jws);
    cjose_header_release(h);
    JwtOptions opt;
    opt.issuer = "https://as";
    opt.audiences = {"https://mcp/mcp"};
    verifier = std::make_shared<JwtVerifier>(opt, std::make_shared<StaticKeySource>(keys));
  }
  ~Fixture() { cjose_jwk_release(jwk); }
};

Fixture& es256() {
  cjose_err err;
  static Fixture f(cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err), "ES256");
  return f;
}
Fixture& rs256() {
  cjose_err err;
  static Fixture f(cjose_jwk_create_RSA_random(2048, nullptr, 0, &err), "RS256");
  return f;
}

void verify(benchmark::State& state, Fixture& f) {
  for (auto _ : state) {
    auto v = f.verifier->verify(f.token);
    if (!std::holds_alternative<Principal>(v)) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_VerifyES256(benchmark::State& s) { verify(s, es256()); }
void BM_VerifyRS256(benchmark::State& s) { verify(s, rs256()); }

void BM_CachedPath(benchmark::State& state) {
  Fixture& f = es256();
  CachingVerifier cache(f.verifier, {});
  cache.verify(f.token);
  for (auto _ : state) {
    auto v = cache.verify(f.token);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_VerifyES256);
BENCHMARK(BM_VerifyRS256);
BENCHMARK(BM_CachedPath);
BENCHMARK_MAIN();
