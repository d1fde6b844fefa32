#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "devauth/http.hpp"

namespace jitgate::devauth {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTimeout = std::chrono::seconds(15);

void fail(beast::error_code ec, const char* what) {
  if (ec == asio::error::operation_aborted || ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == beast::error::timeout || ec == asio::error::connection_reset)
    return;
  std::cerr << "jitgate devauth: " << what << ": " << ec.message() << '\n';
}

// One connection: a fresh parser per request, one request at a time (keep-alive), a timeout on
// every read and write, all on the connection's strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, const ListenerOptions& options, const Handler& handler)
      : stream_(std::move(socket)), options_(options), handler_(handler) {}

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    stream_.expires_after(kTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      Response r{
          413, {{"Content-Type", "application/json"}}, R"({"error":"invalid_request","error_description":"request too large"})"};
      write(std::move(r), false);
      return;
    }
    if (ec) {
      if (ec != http::error::end_of_stream) fail(ec, "read");
      close();
      return;
    }
    auto msg = parser_->release();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto [it, inserted] = req.headers.emplace(name, std::string(f.value()));
      if (!inserted) it->second += ", " + std::string(f.value());
    }
    req.body = std::move(msg.body());
    Response res;
    try {
      res = handler_(req);
    } catch (const std::exception& e) {
      std::cerr << "jitgate devauth: handler failed: " << e.what() << '\n';
      res = Response{500, {{"Content-Type", "application/json"}}, R"({"error":"server_error"})"};
    }
    write(std::move(res), msg.keep_alive());
  }

  void write(Response r, bool keep_alive) {
    auto out = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), 11);
    out->set(http::field::server, "jitgate-devauth (development only)");
    for (auto& [k, v] : r.headers) out->insert(k, v);
    out->body() = std::move(r.body);
    out->keep_alive(keep_alive);
    out->prepare_payload();
    stream_.expires_after(kTimeout);
    http::async_write(stream_, *out, [self = shared_from_this(), out, keep_alive](beast::error_code ec, std::size_t) {
      if (ec) {
        fail(ec, "write");
        self->close();
        return;
      }
      if (!keep_alive) {
        self->close();
        return;
      }
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const ListenerOptions& options_;
  const Handler& handler_;
};

}  // namespace

struct Listener::Impl : std::enable_shared_from_this<Listener::Impl> {
  ListenerOptions options;
  Handler handler;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  asio::signal_set signals{ioc};
  std::vector<std::thread> threads;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::atomic<bool> blocking{false};  // run() joins the threads itself

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec)
        std::make_shared<Connection>(std::move(s), self->options, self->handler)->start();
      else
        fail(ec, "accept");
      if (self->acceptor.is_open()) self->accept();
    });
  }
};

Listener::Listener(ListenerOptions options, Handler handler) : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
}

Listener::~Listener() { stop(); }

std::uint16_t Listener::listen() {
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) throw std::runtime_error("not an IP address: " + impl_->options.host);
  tcp::endpoint ep{address, impl_->options.port};
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + impl_->options.host + ":" + std::to_string(impl_->options.port) + ": " +
                             ec.message());
  impl_->accept();
  return a.local_endpoint().port();
}

void Listener::start() {
  impl_->work.emplace(impl_->ioc.get_executor());
  unsigned n = std::max(1u, impl_->options.threads);
  for (unsigned i = 0; i < n; ++i) impl_->threads.emplace_back([impl = impl_] { impl->ioc.run(); });
}

void Listener::run(bool handle_signals) {
  if (handle_signals) {
    impl_->signals.add(SIGINT);
    impl_->signals.add(SIGTERM);
    impl_->signals.async_wait([impl = impl_](beast::error_code ec, int) {
      if (ec) return;
      impl->work.reset();
      impl->ioc.stop();
    });
  }
  impl_->blocking = true;
  start();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
  impl_->blocking = false;
}

void Listener::stop() {
  if (!impl_) return;
  impl_->work.reset();
  impl_->ioc.stop();
  if (impl_->blocking) return;
  for (auto& t : impl_->threads)
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  impl_->threads.clear();
}

}  // namespace jitgate::devauth
