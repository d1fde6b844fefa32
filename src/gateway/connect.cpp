#include "jitgate/gateway/connect.hpp"

#include <stdexcept>

#include "jitgate/auth/token_exchange.hpp"

#include "jitgate/gateway/http_upstream.hpp"
#include "jitgate/gateway/stdio_upstream.hpp"

namespace jitgate::gateway {

UpstreamSpec make_spec(const UpstreamConfig& c) {
  UpstreamSpec spec;
  spec.name = c.name;
  spec.tool_prefix = c.tool_prefix;
  spec.prompt_prefix = c.prompt_prefix;
  spec.uri_prefix = c.uri_prefix;
  spec.sessions = c.sessions;
  spec.call_timeout = c.timeout;
  spec.max_connections = c.max_connections;
  spec.forward_unlisted = c.forward_unlisted;
  if (c.stdio) {
    spec.connect = [cfg = *c.stdio](UpstreamHandlers h) -> std::unique_ptr<Upstream> {
      return std::make_unique<StdioUpstream>(cfg, std::move(h));
    };
  } else if (c.http) {
    HttpUpstreamConfig h;
    h.name = c.name;
    h.url = c.http->url;
    h.protocol = c.http->protocol;
    h.headers = c.http->headers;
    h.open_get_stream = c.http->open_get_stream;
    h.connect_timeout = c.http->connect_timeout;
    h.default_timeout = c.timeout;
    h.max_in_flight = c.max_in_flight;
    h.backoff_initial = c.backoff_initial;
    h.backoff_max = c.backoff_max;
    if (c.http->token_exchange) spec.exchange = std::make_shared<auth::TokenExchanger>(*c.http->token_exchange);
    spec.connect = [h](UpstreamHandlers handlers) -> std::unique_ptr<Upstream> {
      return std::make_unique<HttpUpstream>(h, std::move(handlers));
    };
  } else {
    throw std::invalid_argument("upstream " + c.name + " has neither stdio nor http");
  }
  return spec;
}

}  // namespace jitgate::gateway
