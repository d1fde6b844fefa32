// Turns a configured upstream into what the gateway runs (its connector for each connection).
#pragma once

#include <jitgate/gateway/config.hpp>
#include <jitgate/gateway/gateway.hpp>

namespace jitgate::gateway {

UpstreamSpec make_spec(const UpstreamConfig& config);

}  // namespace jitgate::gateway
