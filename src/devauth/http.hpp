// The development authorization server's HTTP seam: plain request and response values, and the
// listener (the only Beast translation unit of the layer) that turns bytes into them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace jitgate::devauth {

struct Request {
  std::string method;                                       // "GET", "POST", ...
  std::string target;                                       // path and query, as sent
  std::map<std::string, std::string, std::less<>> headers;  // names lower-cased
  std::string body;

  std::string header(std::string_view name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::string path() const { return target.substr(0, target.find('?')); }
  std::string query() const {
    auto q = target.find('?');
    return q == std::string::npos ? std::string() : target.substr(q + 1);
  }
};

struct Response {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

using Handler = std::function<Response(const Request&)>;

struct ListenerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  unsigned threads = 2;
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
};

class Listener {
 public:
  Listener(ListenerOptions options, Handler handler);
  ~Listener();
  std::uint16_t listen();         // binds; throws std::runtime_error on failure
  void start();                   // I/O threads in the background
  void run(bool handle_signals);  // blocks until stop() (or SIGINT/SIGTERM)
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace jitgate::devauth
