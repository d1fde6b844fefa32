// A blocking HTTP/1.1 client over a plain socket, for sending exactly the bytes a test wants.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <string>

namespace testsupport {

namespace asio = boost::asio;
namespace http = boost::beast::http;

struct RawResponse {
  unsigned status = 0;
  http::response<http::string_body> msg;
  std::string header(const char* name) const { return std::string(msg[name]); }
  boost::json::value json() const {
    boost::system::error_code ec;
    auto v = boost::json::parse(msg.body(), ec);
    return ec ? boost::json::value(nullptr) : v;
  }
  std::int64_t rpc_code() const {
    auto v = json();
    if (!v.is_object() || !v.as_object().contains("error")) return 0;
    return v.at("error").at("code").as_int64();
  }
};

class RawClient {
 public:
  explicit RawClient(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : socket_(ioc_), timeout_(timeout) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  void write(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }

  RawResponse read() {
    RawResponse r;
    http::response_parser<http::string_body> p;
    p.body_limit(64 * 1024 * 1024);
    boost::system::error_code ec;
    http::read(socket_, buf_, p, ec);
    if (ec) throw boost::system::system_error(ec);
    r.msg = p.release();
    r.status = r.msg.result_int();
    return r;
  }

  // Reads only the response head (for SSE streams that stay open).
  http::response<http::empty_body> read_head(http::response_parser<http::empty_body>& p) {
    boost::system::error_code ec;
    http::read_header(socket_, buf_, p, ec);
    if (ec) throw boost::system::system_error(ec);
    return p.get();
  }

  // Reads raw bytes until `needle` shows up (or the timeout / EOF). Returns everything read. The
  // timeout is the client's, counted from the call (asio's blocking reads ignore SO_RCVTIMEO).
  std::string read_until_contains(const std::string& needle) {
    std::string all(static_cast<const char*>(buf_.data().data()), buf_.size());
    buf_.consume(buf_.size());
    char tmp[4096];
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (all.find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd pfd{socket_.native_handle(), POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
      boost::system::error_code ec;
      std::size_t n = socket_.read_some(asio::buffer(tmp), ec);
      if (ec) break;
      all.append(tmp, n);
    }
    return all;
  }

  // True when the server closed the connection within the socket timeout (reads drain first).
  bool closed_by_peer() {
    char tmp[65536];
    for (;;) {
      boost::system::error_code ec;
      socket_.read_some(asio::buffer(tmp), ec);
      if (ec == asio::error::eof || ec == asio::error::connection_reset) return true;
      if (ec) return false;
    }
  }

  asio::ip::tcp::socket& socket() { return socket_; }

 private:
  asio::io_context ioc_;
  asio::ip::tcp::socket socket_;
  std::chrono::milliseconds timeout_;
  boost::beast::flat_buffer buf_;
};

inline std::string post(const std::string& body, const std::string& extra_headers = "", const std::string& host = "localhost",
                        const std::string& path = "/mcp") {
  return "POST " + path + " HTTP/1.1\r\nHost: " + host +
         "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

inline std::string initialize_body(const std::string& version = "2025-11-25") {
  return R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":")" + version +
         R"(","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}})";
}

}  // namespace testsupport
