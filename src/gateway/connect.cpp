#include "jitgate/gateway/connect.hpp"

#include <stdexcept>

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
  } else {
    throw std::invalid_argument("upstream " + c.name + ": HTTP upstreams are not available in this build");
  }
  return spec;
}

}  // namespace jitgate::gateway
