#include "jitgate/devauth/server.hpp"

#include <iostream>

#include "devauth/authorization_server.hpp"
#include "devauth/http.hpp"

namespace jitgate::devauth {

struct DevAuthServer::Impl {
  explicit Impl(Options o)
      : host(o.host),
        port_option(o.port),
        issuer_option(o.issuer),
        threads(o.threads),
        as(std::move(o)),
        listener(ListenerOptions{host, port_option, threads}, [this](const Request& r) { return as.handle(r); }) {}
  std::string host;
  std::uint16_t port_option;
  std::string issuer_option;
  unsigned threads;
  AuthorizationServer as;
  Listener listener;
  std::uint16_t port = 0;
};

namespace {
bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.starts_with("127.");
}
}  // namespace

DevAuthServer::DevAuthServer(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
DevAuthServer::~DevAuthServer() { stop(); }

std::uint16_t DevAuthServer::listen() {
  impl_->port = impl_->listener.listen();
  std::string host = impl_->host.find(':') != std::string::npos ? "[" + impl_->host + "]" : impl_->host;
  impl_->as.set_issuer(impl_->issuer_option.empty() ? "http://" + host + ":" + std::to_string(impl_->port)
                                                    : impl_->issuer_option);
  std::cerr << "jitgate devauth: DEVELOPMENT authorization server at " << impl_->as.issuer()
            << " (demo users, in-memory keys; not for production: point jitgate at a real identity provider)\n";
  if (!loopback(impl_->host))
    std::cerr << "jitgate devauth: WARNING: bound to " << impl_->host
              << ", not loopback; anyone who can reach it can get tokens\n";
  return impl_->port;
}

void DevAuthServer::start() { impl_->listener.start(); }
void DevAuthServer::run(bool handle_signals) { impl_->listener.run(handle_signals); }
void DevAuthServer::stop() {
  if (impl_) impl_->listener.stop();
}
std::uint16_t DevAuthServer::port() const { return impl_->port; }
std::string DevAuthServer::issuer() const { return impl_->as.issuer(); }
void DevAuthServer::rotate_keys() { impl_->as.rotate_keys(); }

}  // namespace jitgate::devauth
