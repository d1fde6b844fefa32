// An MCP session: negotiated revision, client capabilities, in-flight calls and
// requests the server sent to the client. Transports own the wire; this owns the state.
#pragma once

#include <array>
#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>

#include "jitgate/auth/principal.hpp"
#include "jitgate/jsonrpc/message.hpp"
#include "jitgate/mcp/types.hpp"

namespace jitgate::mcp {

// Where messages that belong to no particular request go (list_changed, resources/updated,
// log messages outside a call). HTTP delivers them on the GET stream; stdio on stdout.
class SessionLink {
 public:
  virtual ~SessionLink() = default;
  virtual void deliver(json::object message) = 0;
  // The session ended (DELETE, expiry, shutdown): release whatever carries its messages.
  virtual void closed() {}
};

// Outcome of a request the server sent to the client.
struct ClientReply {
  std::optional<json::value> result;
  std::optional<jsonrpc::Error> error;
  bool ok() const { return result.has_value(); }
};
using ClientReplyHandler = std::function<void(ClientReply)>;

class Session {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Session(std::string id);

  const std::string& id() const { return id_; }

  // All fields below are guarded by the session's own mutex (no process-wide lock).
  struct State {
    std::string protocol_version;  // empty until initialize
    bool initialized = false;      // notifications/initialized received
    json::object client_capabilities;
    json::object client_info;
    std::optional<LogLevel> log_level;
    std::set<std::string, std::less<>> subscriptions;
  };

  State snapshot() const;
  template <typename F>
  auto with_state(F&& f) {
    std::lock_guard lock(mu_);
    return f(state_);
  }

  // In-flight client requests, for cancellation. Returns false if the id is already in flight.
  bool begin_call(const std::string& id_key, std::stop_source& out);
  void end_call(const std::string& id_key);
  bool cancel_call(const std::string& id_key);
  std::size_t calls_in_flight() const;

  // Requests sent to the client, answered through a later POST (or stdin line).
  std::string register_outgoing(ClientReplyHandler handler);
  bool resolve_outgoing(const std::string& id, ClientReply reply);
  void drop_outgoing(const std::string& id);

  // Who the session belongs to. An anonymous session is bound to the first subject that sends a
  // token on it, and to that subject only from then on; `principal` holds the latest rights (null
  // once they expired), `views` a fingerprint of what each list family shows with them.
  struct Rights {
    std::string bound;  // issuer + "\n" + subject; empty while anonymous
    std::shared_ptr<const auth::Principal> principal;
    std::array<std::uint64_t, 4> views{};  // tools, resources, resource templates, prompts
    bool views_known = false;
    std::uint64_t version = 0;  // bumped by every refresh, so a stale one does not overwrite a newer
  };
  template <typename F>
  auto with_rights(F&& f) {
    std::lock_guard lock(mu_);
    return f(rights_);
  }
  std::shared_ptr<const auth::Principal> principal() const {
    std::lock_guard lock(mu_);
    return rights_.principal;
  }

  void set_link(std::shared_ptr<SessionLink> link);
  std::shared_ptr<SessionLink> link() const;

  void touch() { last_active_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed); }
  Clock::time_point last_active() const {
    return Clock::time_point(Clock::duration(last_active_.load(std::memory_order_relaxed)));
  }

  // Closes the session: cancels every call and fails every outstanding client request.
  void close();
  bool closed() const { return closed_.load(); }

  // 2026-07-28 over HTTP: an unregistered holder whose requests the transport has already checked
  // (Server::check_envelope with the MCP-Protocol-Version header, and Server::stateless_method_available)
  // before passing them to Server::handle, which then does not check them a second time. Set once,
  // before the holder is shared. Every other session (stdio, session revisions) is checked by
  // Server::handle itself.
  void mark_envelope_checked() { envelope_checked_ = true; }
  bool envelope_checked() const { return envelope_checked_; }

 private:
  const std::string id_;
  mutable std::mutex mu_;
  State state_;
  Rights rights_;
  std::map<std::string, std::stop_source> calls_;
  std::map<std::string, ClientReplyHandler> outgoing_;
  std::uint64_t next_outgoing_ = 1;
  std::shared_ptr<SessionLink> link_;
  std::atomic<Clock::rep> last_active_;
  std::atomic<bool> closed_{false};
  bool envelope_checked_ = false;
};

}  // namespace jitgate::mcp
