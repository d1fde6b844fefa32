// Gateway mode: upstream MCP servers aggregated behind one jitgate server. Each upstream's lists are
// published into the server (mcp::Server::publish) with name and URI prefixes, so the policy, list
// filtering and live sessions apply to them exactly as to local primitives.
#pragma once

#include <jitgate/gateway/upstream.hpp>

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace jitgate::mcp {
class Server;
}
namespace jitgate::auth {
class TokenExchanger;
}

namespace jitgate::gateway {

// Which upstream connection serves a downstream request.
enum class SessionMode {
  shared,       // one connection for everybody (stateless upstreams)
  per_session,  // one per downstream session, closed with it (stateful upstreams)
  per_subject,  // one per signed-in subject, shared by that subject's sessions
};
std::string_view to_string(SessionMode m);

// Whether two upstreams' prefixes of one family (tools, prompts or URIs) can put the same name on
// both: one is the start of the other (an empty prefix is the start of every name).
bool prefixes_collide(std::string_view a, std::string_view b);

struct UpstreamSpec {
  std::string name;
  std::string tool_prefix;    // prepended to tool names
  std::string prompt_prefix;  // prepended to prompt names
  std::string uri_prefix;     // prepended to resource URIs and URI templates (e.g. "fs+")
  SessionMode sessions = SessionMode::shared;
  std::chrono::milliseconds call_timeout{30'000};
  std::size_t max_connections = 256;  // dedicated connections (per_session / per_subject)
  // Calls of names (and URIs) under the prefixes that the upstream did not list are forwarded too,
  // after the policy decides on them by name: the upstream says whether they exist.
  bool forward_unlisted = true;
  // RFC 8693: a signed-in caller's token is exchanged here for a token meant for the upstream,
  // sent with each of that caller's calls (the caller's own token is never forwarded). Anonymous
  // callers' calls carry the configured headers only. Needs per_session or per_subject.
  std::shared_ptr<auth::TokenExchanger> exchange;
  // Makes one connection (not yet started). Called for the shared connection, which also reads the
  // lists, and for every dedicated one.
  std::function<std::unique_ptr<Upstream>(UpstreamHandlers)> connect;
};

struct GatewayOptions {
  // start() waits this long for every upstream's first lists.
  std::chrono::milliseconds startup_timeout{20'000};
  // Log lines (upstream stderr, faults, list refreshes). Unset: stderr.
  std::function<void(std::string_view upstream, LogLevel, std::string_view)> log;
};

class Gateway {
 public:
  Gateway(mcp::Server& server, GatewayOptions options = {});
  ~Gateway();  // stop()
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Before start(). Names must be unique, and the prefixes of each family must not collide with
  // those of an upstream added before (prefixes_collide): std::invalid_argument otherwise.
  void add(UpstreamSpec spec);
  // Takes the server's session-closed and client-notification hooks (Server::on_session_closed,
  // Server::on_client_notification). Starts every upstream; returns once each has published its lists or startup_timeout passed
  // (true when all did). Upstreams that are not ready keep trying in the background.
  bool start();
  void stop();

  // Every upstream's shared connection is ready and its lists are published.
  bool ready() const;
  // {"ready": bool, "upstreams": {name: {"state", "ready", "starts", "restarts", "timeouts",
  //  "in_flight", "tools", "resources", "resource_templates", "prompts", "connections", "last_error"}}}
  boost::json::object health() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace jitgate::gateway
