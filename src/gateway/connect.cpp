#include "jitgate/gateway/connect.hpp"

#include <stdexcept>

#include "jitgate/auth/token_exchange.hpp"

#include "jitgate/gateway/http_upstream.hpp"
#include "jitgate/gateway/stdio_upstream.hpp"

namespace jitgate::gateway {

namespace {

// The gateway relays sampling, elicitation and roots requests to the client a call came from (or,
// for a 2026-07-28 client, turns them into input-required results), so it declares all three; a
// client that lacks one gets the upstream's request refused.
json::object relayed_capabilities() {
  return json::object{{"sampling", json::object{}}, {"elicitation", json::object{}}, {"roots", json::object{}}};
}

}  // namespace

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
    StdioUpstreamConfig stdio = *c.stdio;
    stdio.client_capabilities = relayed_capabilities();
    spec.connect = [cfg = std::move(stdio)](UpstreamHandlers h) -> std::unique_ptr<Upstream> {
      return std::make_unique<StdioUpstream>(cfg, std::move(h));
    };
  } else if (c.http) {
    HttpUpstreamConfig h;
    h.name = c.name;
    h.url = c.http->url;
    h.protocol = c.http->protocol;
    h.client_capabilities = relayed_capabilities();
    h.headers = c.http->headers;
    h.open_get_stream = c.http->open_get_stream;
    h.connect_timeout = c.http->connect_timeout;
    h.ca_file = c.http->ca_file;
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
