#include "jitgate/auth/http_fetch.hpp"

#include <openssl/evp.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace jitgate::auth {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

template <typename Stream>
std::optional<FetchResponse> exchange(asio::io_context& ioc, Stream& stream, beast::tcp_stream& lowest,
                                      http::request<http::string_body>& req, std::chrono::milliseconds timeout,
                                      std::size_t max_body, std::string& error) {
  beast::error_code ec;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  lowest.expires_after(timeout);
  http::async_write(stream, req, [&](beast::error_code e, std::size_t) {
    if (e) {
      ec = e;
      return;
    }
    http::async_read(stream, buffer, parser, [&](beast::error_code e2, std::size_t) { ec = e2; });
  });
  ioc.restart();
  ioc.run();
  if (ec) {
    error = "HTTP exchange failed: " + ec.message();
    return std::nullopt;
  }
  auto res = parser.release();
  FetchResponse out;
  out.status = res.result_int();
  out.body = std::move(res.body());
  out.cache_control = std::string(res[http::field::cache_control]);
  return out;
}

}  // namespace

void authenticate_client(FetchRequest& request, std::vector<std::pair<std::string, std::string>>& form,
                         const std::string& client_id, const std::string& client_secret, bool in_body) {
  if (in_body) {
    form.emplace_back("client_id", client_id);
    form.emplace_back("client_secret", client_secret);
    return;
  }
  std::string pair = form_encode({{"x", client_id}}).substr(2) + ":" + form_encode({{"x", client_secret}}).substr(2);
  std::string encoded(4 * ((pair.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), reinterpret_cast<const unsigned char*>(pair.data()),
                          static_cast<int>(pair.size()));
  encoded.resize(static_cast<std::size_t>(n));
  request.headers.emplace_back("Authorization", "Basic " + encoded);
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += boost::urls::encode(k, boost::urls::unreserved_chars, opts);
    out += '=';
    out += boost::urls::encode(v, boost::urls::unreserved_chars, opts);
  }
  return out;
}

namespace {

std::optional<FetchResponse> fetch_once(const FetchRequest& r, std::string& error, std::chrono::milliseconds timeout,
                                        std::size_t max_body) {
  {
    auto u = boost::urls::parse_absolute_uri(r.url);
    if (!u) {
      error = "bad URL: " + r.url;
      return std::nullopt;
    }
    bool tls = u->scheme() == "https";
    if (!tls && u->scheme() != "http") {
      error = "unsupported URL scheme: " + std::string(u->scheme());
      return std::nullopt;
    }
    std::string host(u->encoded_host());
    std::string port = u->has_port() ? std::string(u->port()) : (tls ? "443" : "80");
    std::string target(u->encoded_path().empty() ? "/" : u->encoded_path());
    if (u->has_query()) target += "?" + std::string(u->encoded_query());

    http::request<http::string_body> req{r.method == "POST" ? http::verb::post : http::verb::get, target, 11};
    req.set(http::field::host, u->has_port() ? host + ":" + port : host);
    req.set(http::field::user_agent, "jitgate");
    req.set(http::field::accept, "application/json");
    for (const auto& [k, v] : r.headers) req.set(k, v);
    if (!r.body.empty()) req.body() = r.body;
    req.prepare_payload();

    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto endpoints = resolver.resolve(host, port, ec);
    if (ec) {
      error = "cannot resolve " + host + ": " + ec.message();
      return std::nullopt;
    }
    if (!tls) {
      beast::tcp_stream stream(ioc);
      stream.expires_after(timeout);
      stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
      ioc.run();
      if (ec) {
        error = "cannot connect to " + host + ":" + port + ": " + ec.message();
        return std::nullopt;
      }
      return exchange(ioc, stream, stream, req, timeout, max_body, error);
    }
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_default_verify_paths(ec);
    if (ec) {
      error = "cannot load the system's CA certificates: " + ec.message();
      return std::nullopt;
    }
    ctx.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str())) {
      error = "cannot set SNI";
      return std::nullopt;
    }
    stream.set_verify_callback(asio::ssl::host_name_verification(host));
    beast::get_lowest_layer(stream).expires_after(timeout);
    beast::get_lowest_layer(stream).async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      if (e) {
        ec = e;
        return;
      }
      stream.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e2) { ec = e2; });
    });
    ioc.run();
    if (ec) {
      error = "TLS connection to " + host + " failed: " + ec.message();
      return std::nullopt;
    }
    return exchange(ioc, stream, beast::get_lowest_layer(stream), req, timeout, max_body, error);
  }
}

}  // namespace

Fetcher make_http_fetcher(std::chrono::milliseconds timeout, std::size_t max_body) {
  return [timeout, max_body](const FetchRequest& r, std::string& error) -> std::optional<FetchResponse> {
    // An environment failure (no memory, no CA store, a header Beast refuses) is an unreachable
    // server to the caller, never an exception on its thread.
    try {
      return fetch_once(r, error, timeout, max_body);
    } catch (const std::exception& e) {
      error = std::string("HTTP client failed: ") + e.what();
      return std::nullopt;
    }
  };
}

}  // namespace jitgate::auth
