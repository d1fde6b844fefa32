#include "mcp/request_state.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <boost/json.hpp>
#include <stdexcept>

#include "common/clock.hpp"
#include "common/digest.hpp"
#include "mcp/cursor.hpp"

namespace jitgate::mcp {

namespace json = boost::json;

namespace {

using common::epoch_seconds;
using common::sha256_hex;

}  // namespace

RequestStateSealer::RequestStateSealer(std::string key, std::chrono::seconds lifetime)
    : key_(std::move(key)), lifetime_(lifetime) {
  if (key_.empty()) {
    key_.resize(32);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key_.data()), 32) != 1) throw std::runtime_error("RAND_bytes failed");
  }
}

std::string RequestStateSealer::mac(std::string_view data) const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), md, &n))
    throw std::runtime_error("HMAC failed");
  return std::string(reinterpret_cast<char*>(md), n);
}

std::string RequestStateSealer::seal(std::string_view binding, const json::object& answers) const {
  json::object payload{{"v", 1}, {"b", sha256_hex(binding)}, {"e", epoch_seconds() + lifetime_.count()}, {"a", answers}};
  std::string body = base64url_encode(json::serialize(payload));
  return body + "." + base64url_encode(mac(body));
}

std::optional<json::object> RequestStateSealer::open(std::string_view binding, std::string_view token) const {
  if (token.size() > 1024 * 1024) return std::nullopt;
  auto dot = token.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view body = token.substr(0, dot);
  auto sig = base64url_decode(token.substr(dot + 1));
  if (!sig) return std::nullopt;
  std::string expected = mac(body);
  if (sig->size() != expected.size() || CRYPTO_memcmp(sig->data(), expected.data(), expected.size()) != 0) return std::nullopt;
  auto plain = base64url_decode(body);
  if (!plain) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(*plain, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.get_object();
  const auto* b = o.if_contains("b");
  const auto* e = o.if_contains("e");
  const auto* a = o.if_contains("a");
  if (!b || !b->is_string() || b->get_string() != sha256_hex(binding)) return std::nullopt;
  if (!e || !e->is_int64() || e->get_int64() < epoch_seconds()) return std::nullopt;
  if (!a || !a->is_object()) return std::nullopt;
  return a->get_object();
}

}  // namespace jitgate::mcp
