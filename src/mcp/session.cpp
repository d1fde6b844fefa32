#include "jitgate/mcp/session.hpp"

namespace jitgate::mcp {

Session::Session(std::string id) : id_(std::move(id)) { touch(); }

Session::State Session::snapshot() const {
  std::lock_guard lock(mu_);
  return state_;
}

bool Session::begin_call(const std::string& id_key, std::stop_source& out) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = calls_.try_emplace(id_key);
  if (!inserted) return false;
  out = it->second;
  return true;
}

void Session::end_call(const std::string& id_key) {
  std::lock_guard lock(mu_);
  calls_.erase(id_key);
}

bool Session::cancel_call(const std::string& id_key) {
  std::stop_source stop;  // a copy shares the state: stop callbacks run outside the lock (they may end the call)
  {
    std::lock_guard lock(mu_);
    auto it = calls_.find(id_key);
    if (it == calls_.end()) return false;
    stop = it->second;
  }
  stop.request_stop();
  return true;
}

std::size_t Session::calls_in_flight() const {
  std::lock_guard lock(mu_);
  return calls_.size();
}

std::string Session::register_outgoing(ClientReplyHandler handler) {
  std::lock_guard lock(mu_);
  std::string id = "jitgate-" + std::to_string(next_outgoing_++);
  outgoing_.emplace(id, std::move(handler));
  return id;
}

bool Session::resolve_outgoing(const std::string& id, ClientReply reply) {
  ClientReplyHandler h;
  {
    std::lock_guard lock(mu_);
    auto it = outgoing_.find(id);
    if (it == outgoing_.end()) return false;
    h = std::move(it->second);
    outgoing_.erase(it);
  }
  h(std::move(reply));
  return true;
}

void Session::drop_outgoing(const std::string& id) {
  std::lock_guard lock(mu_);
  outgoing_.erase(id);
}

void Session::set_link(std::shared_ptr<SessionLink> link) {
  std::lock_guard lock(mu_);
  link_ = std::move(link);
}

std::shared_ptr<SessionLink> Session::link() const {
  std::lock_guard lock(mu_);
  return link_;
}

void Session::close() {
  if (closed_.exchange(true)) return;
  std::map<std::string, ClientReplyHandler> pending;
  std::shared_ptr<SessionLink> link;
  std::vector<std::stop_source> stops;
  {
    std::lock_guard lock(mu_);
    for (auto& [k, s] : calls_) stops.push_back(s);
    pending.swap(outgoing_);
    link = std::move(link_);
  }
  for (auto& s : stops) s.request_stop();
  if (link) link->closed();
  for (auto& [id, h] : pending) h(ClientReply{std::nullopt, jsonrpc::Error{-32603, "session closed", std::nullopt}});
}

}  // namespace jitgate::mcp
