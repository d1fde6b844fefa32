#include "jitgate/gateway/upstream.hpp"

namespace jitgate::gateway {

std::string_view to_string(UpstreamState s) {
  switch (s) {
    case UpstreamState::starting: return "starting";
    case UpstreamState::ready: return "ready";
    case UpstreamState::restarting: return "restarting";
    case UpstreamState::failed: return "failed";
    case UpstreamState::stopped: return "stopped";
  }
  return "unknown";
}

std::future<CallResult> Upstream::request(std::string method, json::value params,
                                          std::optional<std::chrono::milliseconds> timeout) {
  auto promise = std::make_shared<std::promise<CallResult>>();
  auto future = promise->get_future();
  request(
      std::move(method), std::move(params), [promise](CallResult r) { promise->set_value(std::move(r)); }, timeout);
  return future;
}

}  // namespace jitgate::gateway
