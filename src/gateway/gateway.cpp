#include "jitgate/gateway/gateway.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <thread>
#include <unordered_map>
#include <vector>

#include <openssl/rand.h>

#include "common/digest.hpp"
#include "jitgate/auth/token_exchange.hpp"
#include "jitgate/mcp/server.hpp"
#include "jitgate/observe/metrics.hpp"

namespace jitgate::gateway {

struct Conn;

namespace {

using mcp::Catalog;
using mcp::ForwardReply;
using mcp::RequestContext;
using Clock = std::chrono::steady_clock;

enum Family : std::size_t { kTools, kResources, kTemplates, kPrompts };
struct FamilySpec {
  std::string_view capability, method, key;
};
constexpr std::array<FamilySpec, 4> kFamilies{{{"tools", "tools/list", "tools"},
                                               {"resources", "resources/list", "resources"},
                                               {"resources", "resources/templates/list", "resourceTemplates"},
                                               {"prompts", "prompts/list", "prompts"}}};
constexpr std::size_t kMaxPages = 1000;       // an upstream whose cursors never end is cut off here
constexpr std::size_t kMaxEntries = 100'000;  // and one whose pages never end, here

jsonrpc::Error fault(const std::string& upstream, UpstreamError code, std::string message) {
  return jsonrpc::Error{static_cast<std::int32_t>(code), std::move(message), json::value(json::object{{"upstream", upstream}})};
}

std::string string_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool strip_prefix(std::string& s, const std::string& prefix) {
  if (s.compare(0, prefix.size(), prefix) != 0) return false;
  s.erase(0, prefix.size());
  return true;
}

void prefix_uri(json::object& o, const std::string& prefix) {
  if (auto* u = o.if_contains("uri"); u && u->is_string()) *u = prefix + std::string(u->get_string());
}

// A content item (tool results, prompt messages): a resource link names a URI, an embedded resource
// carries one.
void prefix_content(json::value& item, const std::string& prefix) {
  auto* o = item.if_object();
  const auto* type = o ? o->if_contains("type") : nullptr;
  if (!type || !type->is_string()) return;
  if (type->get_string() == "resource_link") return prefix_uri(*o, prefix);
  if (type->get_string() == "resource")
    if (auto* r = o->if_contains("resource"); r && r->is_object()) prefix_uri(r->get_object(), prefix);
}

void prefix_uris(json::object& result, const std::string& prefix) {
  if (prefix.empty()) return;
  if (auto* contents = result.if_contains("contents"); contents && contents->is_array())
    for (auto& c : contents->get_array())
      if (auto* o = c.if_object()) prefix_uri(*o, prefix);
  if (auto* content = result.if_contains("content"); content && content->is_array())
    for (auto& c : content->get_array()) prefix_content(c, prefix);
  if (auto* messages = result.if_contains("messages"); messages && messages->is_array())
    for (auto& m : messages->get_array())
      if (auto* mo = m.if_object())
        if (auto* c = mo->if_contains("content")) {
          if (c->is_array())
            for (auto& item : c->get_array()) prefix_content(item, prefix);
          else
            prefix_content(*c, prefix);
        }
}

// Whether a result's text may name a URI (or hide the key behind an escape): only those are parsed
// to be rewritten; the others keep the text path.
bool may_name_uris(std::string_view text) {
  return text.find("\"uri\"") != std::string_view::npos || text.find("\\u") != std::string_view::npos;
}

// requestState values the gateway hands out for parked calls (any other one is the upstream's).
constexpr std::string_view kParkedPrefix = "jitgate-input.";
// How long a parked call's questions wait for the retry beyond the call's own timeout.
constexpr std::chrono::seconds kParkedGrace{60};

// One forwarded call and who gets its answer. A 2026-07-28 client cannot be asked anything
// mid-call, so when the upstream asks, the call is parked: the downstream request is answered with
// an input-required result, and the client's retry (with requestState and inputResponses) answers
// the upstream and becomes the request that gets the call's result.
struct CallState {
  std::atomic<bool> finished{false};
  std::mutex mu;
  // The current request's cancellation cancels the call. Its own lock, never held with `mu`: a stop
  // callback may run at once and answer the call.
  std::mutex stop_mu;
  std::optional<std::stop_callback<std::function<void()>>> on_stop;
  std::atomic<std::uint64_t> generation{0};  // bumped when parked: an earlier request's stop is stale
  std::function<void(ForwardReply)> done;    // the downstream request answered next; null while parked
  std::weak_ptr<RequestContext> ctx;         // that request
  std::string progress_token;                // ours, when the client asked for progress
  std::weak_ptr<Conn> conn;                  // the connection and upstream id of the call (a retry
  CallId call_id = 0;                        // re-arms cancellation with them)
  // Parking (2026-07-28 clients).
  std::string binding;   // method, name and arguments: what a retry must repeat
  std::string caller;    // issuer and subject of the caller ("" anonymous): who may retry
  std::string state_id;  // the requestState handed out; empty until first parked
  std::uint64_t next_question = 0;
  std::map<std::string, std::pair<std::string, Responder>> waiting;  // question key -> (method, the upstream's responder)
  json::object asked;                                                // unanswered: key -> {method, params}
  std::optional<ForwardReply> final;                                 // the call ended while no request was attached
  Clock::time_point expires{};

  std::shared_ptr<RequestContext> context() {
    std::lock_guard lock(mu);
    return ctx.lock();
  }
  json::object input_required() const {
    return json::object{{"resultType", "input_required"}, {"inputRequests", asked}, {"requestState", state_id}};
  }
};

std::string caller_key(const RequestContext& ctx) {
  auto who = ctx.session().principal();
  return who && !who->anonymous() ? who->issuer + "\n" + who->subject : std::string();
}

std::string binding_of(std::string_view method, const json::object& params) {
  std::string b(method);
  for (const char* k : {"name", "uri", "arguments"}) {
    b += '\n';
    if (const auto* v = params.if_contains(k)) b += json::serialize(*v);
  }
  return b;
}

std::string random_id() { return common::random_hex(16, std::string(kParkedPrefix)); }

jsonrpc::Error invalid_params(std::string message) {
  return jsonrpc::Error::make(jsonrpc::ErrorCode::invalid_params, "Invalid params: " + message);
}

}  // namespace

bool prefixes_collide(std::string_view a, std::string_view b) { return a.starts_with(b) || b.starts_with(a); }

std::string_view to_string(SessionMode m) {
  switch (m) {
    case SessionMode::shared: return "shared";
    case SessionMode::per_session: return "per_session";
    case SessionMode::per_subject: return "per_subject";
  }
  return "unknown";
}

struct Link;

// One connection to an upstream and the downstream calls it carries.
struct Conn {
  std::string key;  // empty: the shared connection
  std::unique_ptr<Upstream> up;
  std::mutex mu;
  std::unordered_map<CallId, std::shared_ptr<CallState>> calls;  // for related notifications and requests
  std::vector<std::function<void(bool ready)>> waiting;          // calls made before it was ready
  std::size_t registering = 0;                                   // calls sent whose id is not in `calls` yet
  std::condition_variable registered;
  // The latest exchanged token of the caller this connection serves ("Bearer ..."), for what is not
  // one of its calls (the handshake, the GET stream, notifications). Its own lock: the upstream
  // asks for it from its I/O thread.
  mutable std::mutex credential_mu;
  std::string credential;
  void set_credential(const std::string& c) {
    std::lock_guard lock(credential_mu);
    if (!c.empty()) credential = c;
  }
  std::string current_credential() const {
    std::lock_guard lock(credential_mu);
    return credential;
  }

  // The call a message from the upstream belongs to. The upstream can speak before request()
  // has returned the call's id to us: then wait (briefly, bounded) for the registration.
  std::shared_ptr<CallState> call(CallId id) {
    if (id == 0) return nullptr;
    std::unique_lock lock(mu);
    auto found = [&] { return calls.contains(id) || registering == 0; };
    if (!found()) registered.wait_for(lock, std::chrono::milliseconds(500), found);
    auto it = calls.find(id);
    return it == calls.end() ? nullptr : it->second;
  }
  // The call a message of the upstream belongs to, by what the protocol says: the related call id
  // (its stream, or params._meta), else the progress token of one of this connection's calls in
  // params._meta. A connection of one session (`per_session`) serves one client, so there its only
  // call in flight is also taken; on a shared or per-subject connection that guess could hand one
  // caller's question to another.
  std::shared_ptr<CallState> owner_of(CallId related, const json::value& params) {
    if (auto st = call(related)) return st;
    const auto* p = params.if_object();
    const auto* meta = p ? p->if_contains("_meta") : nullptr;
    const auto* token = meta && meta->is_object() ? meta->get_object().if_contains("progressToken") : nullptr;
    bool by_token = token && token->is_string() && !token->get_string().empty();
    bool sole = key.starts_with("session:");
    if (!by_token && !sole) return nullptr;
    std::unique_lock lock(mu);
    if (registering != 0) registered.wait_for(lock, std::chrono::milliseconds(500), [&] { return registering == 0; });
    if (by_token)
      for (const auto& [id, st] : calls)
        if (st->progress_token == token->get_string()) return st;
    return sole && calls.size() == 1 ? calls.begin()->second : nullptr;
  }
};

struct Link : std::enable_shared_from_this<Link> {
  UpstreamSpec spec;
  mcp::Server& server;
  std::function<void(std::string_view, LogLevel, std::string_view)> log_sink;
  std::string provider;  // the name it publishes under

  std::shared_ptr<Conn> shared;
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<Conn>> dedicated;
  std::unordered_map<std::string, std::weak_ptr<RequestContext>> progress;  // our progress token -> call
  std::unordered_map<std::string, std::shared_ptr<CallState>> parked;       // requestState -> call awaiting a retry
  std::uint64_t next_token = 1;
  std::map<std::string, int> upstream_subscriptions;                   // upstream URI -> subscribed sessions
  std::map<std::string, std::set<std::string>> session_subscriptions;  // session id -> upstream URIs
  std::array<std::size_t, 4> counts{};
  bool published = false;
  std::string last_refresh_error;

  // The worker: list refreshes and stopping connections, off every I/O thread.
  std::thread worker;
  std::condition_variable cv;
  std::deque<std::function<void()>> tasks;
  bool refresh_wanted = false;
  bool stopping = false;
  std::condition_variable published_cv;

  // The exchange thread: token exchanges (which wait on the authorization server), in order.
  std::thread exchanger;
  std::deque<std::function<void(bool run)>> exchanges;  // run(false): the gateway stopped first

  std::shared_ptr<observe::Registry> metrics;  // the server's, when it has one

  Link(UpstreamSpec s, mcp::Server& srv, std::function<void(std::string_view, LogLevel, std::string_view)> log)
      : spec(std::move(s)),
        server(srv),
        log_sink(std::move(log)),
        provider("upstream:" + spec.name),
        metrics(srv.options().metrics) {}

  // Per upstream: whether it is ready, how often it restarted, and every call by outcome and latency.
  void count_state(UpstreamState s) const {
    if (!metrics) return;
    metrics
        ->gauge("jitgate_upstream_ready", "Whether the upstream's shared connection is ready (1) or not (0)",
                {{"upstream", spec.name}})
        .set(s == UpstreamState::ready ? 1 : 0);
    if (shared)
      metrics->gauge("jitgate_upstream_restarts", "Times the upstream was restarted after a fault", {{"upstream", spec.name}})
          .set(static_cast<double>(shared->up->health().restarts));
  }
  // The registry's children for this upstream, looked up on first use (they live as long as it).
  static constexpr std::array<std::string_view, 8> kOutcomes{"ok",        "unavailable",  "timeout", "overloaded",
                                                             "cancelled", "bad_response", "error",   "credentials"};
  mutable std::array<std::atomic<observe::Counter*>, kOutcomes.size()> call_counters{};
  mutable std::atomic<observe::Histogram*> call_seconds{nullptr};

  void count_call(const std::optional<jsonrpc::Error>& error, Clock::duration took) const {
    if (!metrics) return;
    std::size_t outcome = 0;
    if (error) {
      switch (static_cast<UpstreamError>(error->code)) {
        case UpstreamError::unavailable: outcome = 1; break;
        case UpstreamError::timeout: outcome = 2; break;
        case UpstreamError::overloaded: outcome = 3; break;
        case UpstreamError::cancelled: outcome = 4; break;
        case UpstreamError::bad_response: outcome = 5; break;
        case UpstreamError::credentials: outcome = 7; break;
        default: outcome = 6; break;  // the upstream's own JSON-RPC error
      }
    }
    auto* counter = call_counters[outcome].load(std::memory_order_acquire);
    if (!counter) {
      counter = &metrics->counter("jitgate_upstream_calls_total", "Calls forwarded to upstreams, by outcome",
                                  {{"upstream", spec.name}, {"outcome", kOutcomes[outcome]}});
      call_counters[outcome].store(counter, std::memory_order_release);
    }
    counter->inc();
    auto* seconds = call_seconds.load(std::memory_order_acquire);
    if (!seconds) {
      seconds = &metrics->histogram("jitgate_upstream_call_seconds", "Time from forwarding a call to its answer",
                                    {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
                                    {{"upstream", spec.name}});
      call_seconds.store(seconds, std::memory_order_release);
    }
    seconds->observe(std::chrono::duration<double>(took).count());
  }

  void count_exchange(std::string_view outcome) const {
    if (!metrics) return;
    metrics
        ->counter("jitgate_token_exchanges_total", "Upstream tokens for callers: exchanged, from the cache, or failed",
                  {{"upstream", spec.name}, {"outcome", outcome}})
        .inc();
  }

  void log(LogLevel level, std::string_view text) const {
    if (log_sink) return log_sink(spec.name, level, text);
    std::cerr << "jitgate gateway[" << spec.name << "]: " << text << '\n';
  }

  // ---- connections -------------------------------------------------------------------------

  std::shared_ptr<Conn> open(std::string key) {
    auto conn = std::make_shared<Conn>();
    conn->key = std::move(key);
    std::weak_ptr<Link> self = weak_from_this();
    std::weak_ptr<Conn> weak = conn;
    UpstreamHandlers h;
    h.on_notification = [self, weak](const jsonrpc::Notification& n, CallId related) {
      auto link = self.lock();
      auto c = weak.lock();
      if (link && c) link->on_notification(*c, n, related);
    };
    h.on_request = [self, weak](const jsonrpc::Request& q, Responder respond, CallId related) {
      auto link = self.lock();
      auto c = weak.lock();
      if (link && c) return link->on_request(*c, q, std::move(respond), related);
      respond(CallResult{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "gateway is stopping")});
    };
    h.on_log = [self](LogSource src, LogLevel level, std::string_view text) {
      if (auto link = self.lock())
        link->log(level, src == LogSource::child_stderr ? "stderr: " + std::string(text) : std::string(text));
    };
    h.on_state = [self, weak](UpstreamState s) {
      auto link = self.lock();
      auto c = weak.lock();
      if (link && c) link->on_state(*c, s);
    };
    if (spec.exchange)
      h.authorization = [weak] {
        auto c = weak.lock();
        return c ? c->current_credential() : std::string();
      };
    conn->up = spec.connect(std::move(h));
    if (!conn->up) throw std::runtime_error("gateway: upstream " + spec.name + " could not be configured");
    return conn;
  }

  void on_state(Conn& c, UpstreamState s) {
    if (c.key.empty()) count_state(s);
    if (s == UpstreamState::starting) return;
    std::vector<std::function<void(bool)>> waiting;
    {
      std::lock_guard lock(c.mu);
      waiting.swap(c.waiting);
    }
    for (auto& w : waiting) w(s == UpstreamState::ready);
    if (c.key.empty() && s == UpstreamState::ready) request_refresh();  // (re)started: its lists may differ
  }

  // The connection that serves `ctx`'s request: the shared one, or that session's or subject's own.
  std::shared_ptr<Conn> connection_for(const RequestContext& ctx, const std::string& credential, std::string& refused) {
    std::string key;
    if (spec.sessions == SessionMode::per_session && !ctx.envelope().stateless) {
      key = "session:" + ctx.session().id();
    } else if (spec.sessions == SessionMode::per_subject) {
      auto who = ctx.session().principal();
      if (who && !who->anonymous()) key = "subject:" + who->issuer + "\n" + who->subject;
    }
    if (key.empty()) return shared;
    std::shared_ptr<Conn> conn;
    {
      std::lock_guard lock(mu);
      if (auto it = dedicated.find(key); it != dedicated.end()) {
        it->second->set_credential(credential);
        return it->second;
      }
      if (dedicated.size() >= spec.max_connections) {
        refused = "upstream " + spec.name + " has " + std::to_string(spec.max_connections) + " connections open";
        return nullptr;
      }
      conn = open(key);
      conn->set_credential(credential);  // before the handshake, which already needs it
      dedicated.emplace(key, conn);
    }
    conn->up->start();
    return conn;
  }

  // A client notification for the upstream: roots/list_changed goes to the connection serving that
  // client alone (a per_session or per_subject one), if it has one open.
  void client_notification(mcp::Session& session, const jsonrpc::Notification& n) {
    if (n.method != "notifications/roots/list_changed") return;
    std::string key;
    if (spec.sessions == SessionMode::per_session) {
      key = "session:" + session.id();
    } else if (spec.sessions == SessionMode::per_subject) {
      auto who = session.principal();
      if (who && !who->anonymous()) key = "subject:" + who->issuer + "\n" + who->subject;
    }
    if (key.empty()) return;
    std::shared_ptr<Conn> conn;
    {
      std::lock_guard lock(mu);
      if (auto it = dedicated.find(key); it != dedicated.end()) conn = it->second;
    }
    if (conn) conn->up->notify(n.method);
  }

  void session_closed(const std::string& session_id) {
    std::shared_ptr<Conn> gone;
    std::vector<std::string> unsubscribe;
    {
      std::lock_guard lock(mu);
      if (auto it = dedicated.find("session:" + session_id); it != dedicated.end()) {
        gone = std::move(it->second);
        dedicated.erase(it);
      }
      if (auto it = session_subscriptions.find(session_id); it != session_subscriptions.end()) {
        for (const auto& uri : it->second)
          if (--upstream_subscriptions[uri] <= 0) {
            upstream_subscriptions.erase(uri);
            unsubscribe.push_back(uri);
          }
        session_subscriptions.erase(it);
      }
    }
    for (const auto& uri : unsubscribe)
      shared->up->request(
          "resources/unsubscribe", json::object{{"uri", uri}}, [](CallResult) {}, spec.call_timeout);
    if (gone) post([gone] { gone->up->stop(); });  // stopping waits for the child: not on an I/O thread
  }

  // ---- forwarding --------------------------------------------------------------------------

  // Sends one downstream request upstream. `params` are the client's with names and URIs already
  // turned into the upstream's; `fix` adjusts a result on its way back.
  void forward(std::string method, json::object params, const std::shared_ptr<RequestContext>& ctx,
               std::function<void(ForwardReply)> done, std::function<void(json::object&)> fix = {}) {
    if (resume(method, params, ctx, done)) return;
    std::shared_ptr<const auth::Principal> who = spec.exchange ? ctx->session().principal() : nullptr;
    if (!who || who->anonymous())
      return forward_as({}, std::move(method), std::move(params), ctx, std::move(done), std::move(fix));
    if (who->token.empty())
      return done(
          ForwardReply{std::nullopt, fault(spec.name, UpstreamError::credentials,
                                           "upstream " + spec.name + " needs a token exchange, and the caller has no token")});
    if (auto t = spec.exchange->cached(who->token.reveal())) {
      count_exchange("cached");
      return forward_as("Bearer " + t->access_token, std::move(method), std::move(params), ctx, std::move(done), std::move(fix));
    }
    // Asking the authorization server blocks: on the exchange thread, never on an I/O thread.
    post_exchange([self = shared_from_this(), who, method = std::move(method), params = std::move(params), ctx,
                   done = std::move(done), fix = std::move(fix)](bool run) mutable {
      if (!run)
        return done(ForwardReply{std::nullopt, fault(self->spec.name, UpstreamError::unavailable, "the gateway is stopping")});
      std::string error;
      auto t = self->spec.exchange->exchange(who->token.reveal(), who->expires_at, error);
      if (!t) {
        self->count_exchange("failed");
        self->log(LogLevel::warning, "token exchange for " + who->subject + " (token #" + who->token_hash + ") failed: " + error);
        return done(ForwardReply{std::nullopt, fault(self->spec.name, UpstreamError::credentials,
                                                     "no credentials for upstream " + self->spec.name + ": " + error)});
      }
      self->count_exchange("exchanged");
      self->forward_as("Bearer " + t->access_token, std::move(method), std::move(params), ctx, std::move(done), std::move(fix));
    });
  }

  // Forwards with `credential` (an Authorization value; empty: the connection's configured headers).
  void forward_as(std::string credential, std::string method, json::object params, const std::shared_ptr<RequestContext>& ctx,
                  std::function<void(ForwardReply)> done, std::function<void(json::object&)> fix) {
    std::string refused;
    auto conn = connection_for(*ctx, credential, refused);
    if (!conn) return done(ForwardReply{std::nullopt, fault(spec.name, UpstreamError::overloaded, refused)});
    {
      std::unique_lock lock(conn->mu);
      if (conn->up->state() == UpstreamState::starting) {
        // A connection just opened (or restarting its handshake): the call waits for it.
        conn->waiting.push_back([self = shared_from_this(), credential = std::move(credential), method = std::move(method),
                                 params = std::move(params), ctx, done = std::move(done), fix = std::move(fix),
                                 conn](bool ready) mutable {
          if (!ready)
            return done(ForwardReply{std::nullopt, fault(self->spec.name, UpstreamError::unavailable,
                                                         "upstream " + self->spec.name + " did not start")});
          self->send(conn, std::move(credential), std::move(method), std::move(params), ctx, std::move(done), std::move(fix));
        });
        return;
      }
    }
    send(conn, std::move(credential), std::move(method), std::move(params), ctx, std::move(done), std::move(fix));
  }

  void send(const std::shared_ptr<Conn>& conn, std::string credential, std::string method, json::object params,
            const std::shared_ptr<RequestContext>& ctx, std::function<void(ForwardReply)> done,
            std::function<void(json::object&)> fix) {
    // The client's progress token becomes one of ours (tokens of different clients could collide);
    // the 2026-07-28 envelope is the gateway's business, not the upstream's.
    std::string token;
    if (auto* meta = params.if_contains("_meta"); meta && meta->is_object()) {
      auto& m = meta->get_object();
      for (auto it = m.begin(); it != m.end();) it = it->key().starts_with("io.modelcontextprotocol/") ? m.erase(it) : it + 1;
      m.erase("progressToken");
      if (ctx->has_progress_token()) {
        std::lock_guard lock(mu);
        token = "jitgate-" + std::to_string(next_token++);
        progress.emplace(token, ctx);
        m["progressToken"] = token;
      }
      if (m.empty()) params.erase("_meta");
    }
    auto st = std::make_shared<CallState>();
    st->done = std::move(done);
    st->ctx = ctx;
    st->progress_token = token;
    if (ctx->envelope().stateless) {  // it may be parked: remember what a retry must repeat
      st->binding = binding_of(method, params);
      st->caller = caller_key(*ctx);
    }
    // Results that can name the upstream's URIs get ours instead (none to change without a prefix).
    bool resource_method = method.starts_with("resources/");
    bool rewrite = !spec.uri_prefix.empty() && (resource_method || method == "tools/call" || method == "prompts/get");
    bool as_text = !fix && !(rewrite && method == "resources/read");  // a read always names URIs: no text to keep
    std::weak_ptr<Link> self = weak_from_this();
    std::weak_ptr<Conn> weak = conn;
    auto id_box = std::make_shared<std::atomic<CallId>>(0);
    auto on_done = [self, weak, st, id_box, token, fix = std::move(fix), name = spec.name, resource_method, rewrite,
                    started = Clock::now()](CallResult r) mutable {
      st->finished = true;
      auto link = self.lock();
      static const std::string kNone;
      const std::string& prefix = rewrite && link ? link->spec.uri_prefix : kNone;
      if (auto c = weak.lock()) {
        std::lock_guard lock(c->mu);
        c->calls.erase(id_box->load());
      }
      if (link && !token.empty()) {
        std::lock_guard lock(link->mu);
        link->progress.erase(token);
      }
      if (!r.result_text.empty() && !prefix.empty() && may_name_uris(r.result_text)) {
        boost::system::error_code ec;
        json::parse_options opts;
        opts.max_depth = jsonrpc::Limits{}.max_depth;
        auto tree = json::parse(r.result_text, ec, {}, opts);
        if (ec) tree = nullptr;  // (the text was checked to be JSON: a nesting beyond the limit)
        r.result = std::move(tree);
        r.result_text.clear();
      }
      ForwardReply reply;
      if (r.error) {
        // -32002 and its kind name the URI asked for in data.uri: the client's, not the upstream's.
        if (resource_method && !prefix.empty() && r.error->data && r.error->data->is_object())
          prefix_uri(r.error->data->get_object(), prefix);
        reply.error = std::move(r.error);
      } else if (!r.result_text.empty()) {
        reply.result_text = std::move(r.result_text);  // asked for as text: checked, and nothing to fix
      } else if (!r.result || !r.result->is_object()) {
        reply.error =
            fault(name, UpstreamError::bad_response, "upstream " + name + " answered with a result that is not an object");
      } else {
        json::object result = std::move(r.result->get_object());
        if (fix) fix(result);
        prefix_uris(result, prefix);
        reply.result = std::move(result);
      }
      if (link) link->count_call(reply.error, Clock::now() - started);  // after the checks: a bad result counts as one
      deliver(link.get(), st, std::move(reply));
    };
    {
      std::lock_guard lock(conn->mu);
      ++conn->registering;
    }
    // A result nothing changes on its way back travels as text (no tree built for it).
    CallId id =
        !credential.empty() ? conn->up->request_as(std::move(credential), std::move(method), json::value(std::move(params)),
                                                   std::move(on_done), spec.call_timeout)
        : as_text
            ? conn->up->request_text(std::move(method), json::value(std::move(params)), std::move(on_done), spec.call_timeout)
            : conn->up->request(std::move(method), json::value(std::move(params)), std::move(on_done), spec.call_timeout);
    id_box->store(id);
    st->conn = weak;  // set once, before the call can be parked (its questions need the id registered)
    st->call_id = id;
    {
      std::lock_guard lock(conn->mu);
      --conn->registering;
      if (id != 0 && !st->finished) conn->calls[id] = st;
    }
    conn->registered.notify_all();
    if (id == 0) return;  // refused at once: already answered
    arm_stop(st, weak, id, *ctx);
  }

  // Cancelling `ctx`'s request cancels the upstream call, until the call is parked.
  static void arm_stop(const std::shared_ptr<CallState>& st, const std::weak_ptr<Conn>& conn, CallId id,
                       const RequestContext& ctx) {
    std::uint64_t gen = st->generation.load();
    std::weak_ptr<CallState> weak = st;
    std::lock_guard lock(st->stop_mu);
    st->on_stop.emplace(ctx.stop_token(), std::function<void()>([weak, conn, id, gen] {
                          auto s = weak.lock();
                          if (!s || s->generation.load() != gen) return;  // parked since: that request is over
                          if (auto c = conn.lock()) c->up->cancel(id, "cancelled by the client");
                        }));
  }

  // The call's answer goes to the request attached to it or, while it is parked, waits for the retry.
  static void deliver(Link* link, const std::shared_ptr<CallState>& st, ForwardReply reply) {
    std::function<void(ForwardReply)> done;
    std::string parked_id;
    {
      std::lock_guard lock(st->mu);
      done = std::move(st->done);
      st->done = nullptr;
      if (!done) {
        st->final = std::move(reply);
        st->waiting.clear();  // the questions died with the call
        st->asked.clear();
        return;
      }
      parked_id = st->state_id;
    }
    if (link && !parked_id.empty()) {
      std::lock_guard lock(link->mu);
      link->parked.erase(parked_id);
    }
    done(std::move(reply));
  }

  // ---- input-required results (2026-07-28 clients) -----------------------------------------

  // The upstream asked a question during a 2026-07-28 client's call: the client gets it as an
  // input-required result, and the upstream's request waits for the client's retry.
  void park(const std::shared_ptr<CallState>& st, const jsonrpc::Request& q, Responder respond, const RequestContext& ctx) {
    std::string_view capability = mcp::client_capability_for(q.method);
    if (capability.empty())
      return respond(
          CallResult{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::method_not_found,
                                                        q.method + " cannot be relayed to a revision 2026-07-28 client")});
    if (!ctx.client_supports(capability))
      return respond(CallResult{
          std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::method_not_found,
                                             "the client did not declare the " + std::string(capability) + " capability")});
    std::function<void(ForwardReply)> done;
    json::object result;
    std::string id;
    bool fresh = false;
    {
      std::lock_guard lock(st->mu);
      if (st->finished)
        return respond(CallResult{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "the call is over")});
      std::string key = "upstream-" + std::to_string(++st->next_question);
      json::object question{{"method", q.method}};
      question["params"] = q.params.is_object() ? q.params : json::value(json::object{});
      st->asked[key] = std::move(question);
      st->waiting.emplace(key, std::make_pair(q.method, std::move(respond)));
      if (st->state_id.empty()) {
        st->state_id = random_id();
        fresh = true;
      }
      id = st->state_id;
      st->expires = Clock::now() + spec.call_timeout + kParkedGrace;
      done = std::move(st->done);
      st->done = nullptr;
      if (done) {
        ++st->generation;  // the request answered now no longer cancels the call
        result = st->input_required();
      }
    }
    if (fresh) {
      std::lock_guard lock(mu);
      sweep_parked();
      parked.emplace(id, st);
    }
    if (done) done(ForwardReply{std::move(result), std::nullopt});  // later questions wait for the retry
  }

  // A retry of a parked call: its answers go upstream, and it receives what the call answers next
  // (its result, or the next question). False when `params` carry no requestState of ours.
  bool resume(const std::string& method, const json::object& params, const std::shared_ptr<RequestContext>& ctx,
              std::function<void(ForwardReply)>& done) {
    const auto* rs = params.if_contains("requestState");
    if (!ctx->envelope().stateless || !rs || !rs->is_string() || !rs->get_string().starts_with(kParkedPrefix)) return false;
    std::string id(rs->get_string());
    std::shared_ptr<CallState> st;
    {
      std::lock_guard lock(mu);
      sweep_parked();
      if (auto it = parked.find(id); it != parked.end()) st = it->second;
    }
    auto refuse = [&](std::string message) {
      done(ForwardReply{std::nullopt, invalid_params(std::move(message))});
      return true;
    };
    // The retry repeats the request, by the same caller (and is authorized again on its own).
    if (!st || st->binding != binding_of(method, params) || st->caller != caller_key(*ctx))
      return refuse("requestState is invalid, expired or belongs to another request");
    const json::object* answers = nullptr;
    if (const auto* ir = params.if_contains("inputResponses")) {
      if (!ir->is_object()) return refuse("inputResponses must be an object");
      answers = &ir->get_object();
    }
    std::vector<std::pair<Responder, json::value>> replies;
    std::optional<ForwardReply> final;
    json::object again;
    std::string token;
    bool attached = false;
    {
      std::lock_guard lock(st->mu);
      if (st->done) return refuse("requestState is being answered by another request");
      if (answers)
        for (const auto& [k, v] : *answers)
          if (auto w = st->waiting.find(k); w != st->waiting.end() && !mcp::input_response_fits(w->second.first, v))
            return refuse("inputResponses." + std::string(k) + " is not a valid " + w->second.first + " result");
      if (st->final) {
        final = std::move(st->final);
        st->final.reset();
      } else {
        if (answers)
          for (const auto& [k, v] : *answers)
            if (auto w = st->waiting.find(k); w != st->waiting.end()) {
              replies.emplace_back(std::move(w->second.second), v);
              st->waiting.erase(w);
              st->asked.erase(k);
            }
        if (!st->asked.empty()) {
          again = st->input_required();
        } else {
          st->done = std::move(done);
          st->ctx = ctx;
          st->expires = Clock::time_point::max();
          token = st->progress_token;
          attached = true;
        }
      }
    }
    if (final) {
      {
        std::lock_guard lock(mu);
        parked.erase(id);
      }
      done(std::move(*final));
      return true;
    }
    if (attached) {
      if (!token.empty() && ctx->has_progress_token()) {
        std::lock_guard lock(mu);
        progress[token] = ctx;
      }
      if (st->call_id != 0) arm_stop(st, st->conn, st->call_id, *ctx);
    }
    for (auto& [respond, answer] : replies) respond(CallResult{std::move(answer), std::nullopt});
    if (!again.empty()) done(ForwardReply{std::move(again), std::nullopt});
    return true;
  }

  // Parked calls nobody came back for (their upstream calls timed out long ago).
  void sweep_parked() {
    auto now = Clock::now();
    for (auto it = parked.begin(); it != parked.end();) {
      bool expired;
      {
        std::lock_guard lock(it->second->mu);
        expired = it->second->expires < now;
      }
      it = expired ? parked.erase(it) : std::next(it);
    }
  }

  // ---- from the upstream -------------------------------------------------------------------

  void on_notification(Conn& c, const jsonrpc::Notification& n, CallId related) {
    const json::object* p = n.params.if_object();
    static const json::object kEmpty;
    const json::object& params = p ? *p : kEmpty;
    if (n.method == "notifications/progress") {
      std::shared_ptr<RequestContext> ctx;
      if (const auto* t = params.if_contains("progressToken"); t && t->is_string()) {
        std::lock_guard lock(mu);
        if (auto it = progress.find(std::string(t->get_string())); it != progress.end()) ctx = it->second.lock();
      }
      const auto* prog = params.if_contains("progress");
      if (!ctx || !prog || !prog->is_number()) return;
      std::optional<double> total;
      if (const auto* t = params.if_contains("total"); t && t->is_number()) total = t->to_number<double>();
      ctx->progress(prog->to_number<double>(), total, string_at(params, "message"));
      return;
    }
    if (n.method == "notifications/message") {
      auto level = mcp::parse_log_level(string_at(params, "level")).value_or(mcp::LogLevel::info);
      json::value data = params.contains("data") ? params.at("data") : json::value(nullptr);
      if (auto st = c.owner_of(related, n.params))
        if (auto ctx = st->context()) return ctx->log(level, std::move(data), string_at(params, "logger"));
      if (c.key.starts_with("session:")) {
        if (auto s = server.find_session(c.key.substr(8)))
          if (auto l = s->link()) l->deliver(json::object{{"jsonrpc", "2.0"}, {"method", n.method}, {"params", params}});
        return;
      }
      if (c.key.empty()) server.log_to_all(level, std::move(data), string_at(params, "logger"));
      return;
    }
    if (n.method == "notifications/tools/list_changed" || n.method == "notifications/prompts/list_changed" ||
        n.method == "notifications/resources/list_changed")
      return request_refresh();
    if (n.method == "notifications/resources/updated") {
      std::string uri = string_at(params, "uri");
      if (!uri.empty()) server.notify_resource_updated(spec.uri_prefix + uri);
      return;
    }
  }

  void on_request(Conn& c, const jsonrpc::Request& q, Responder respond, CallId related) {
    if (q.method == "ping") return respond(CallResult{json::object{}, std::nullopt});
    auto st = c.owner_of(related, q.params);
    auto ctx = st ? st->context() : nullptr;
    if (!ctx) {
      // Outside any call: a connection of one session asks that session's client.
      if (c.key.starts_with("session:"))
        if (auto s = server.find_session(c.key.substr(8))) return ask_session(s, q, std::move(respond));
      return respond(CallResult{
          std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::method_not_found,
                                             q.method + " outside a client request is relayed only on per_session connections")});
    }
    if (ctx->envelope().stateless) return park(st, q, std::move(respond), *ctx);
    json::object params = q.params.is_object() ? q.params.get_object() : json::object{};
    ctx->request(q.method, std::move(params), [respond = std::move(respond)](mcp::ClientReply r) {
      respond(CallResult{std::move(r.result), std::move(r.error)});
    });
  }

  // A server-to-client request outside any call, sent on the session's stream (a GET stream).
  static void ask_session(const std::shared_ptr<mcp::Session>& s, const jsonrpc::Request& q, Responder respond) {
    auto refuse = [&](std::string why) {
      respond(CallResult{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::method_not_found, std::move(why))});
    };
    std::string_view capability = mcp::client_capability_for(q.method);
    if (capability.empty()) return refuse(q.method + " is not relayed to clients");
    bool declared = s->with_state([&](mcp::Session::State& st) { return st.client_capabilities.contains(capability); });
    if (!declared) return refuse("the client did not declare the " + std::string(capability) + " capability");
    auto link = s->link();
    if (!link) return refuse("the client has no stream open for requests outside a call");
    std::string id = s->register_outgoing([respond = std::move(respond)](mcp::ClientReply r) {
      respond(CallResult{std::move(r.result), std::move(r.error)});
    });
    json::object msg{{"jsonrpc", "2.0"}, {"id", id}, {"method", q.method}};
    if (const auto* p = q.params.if_object(); p && !p->empty()) msg["params"] = *p;
    link->deliver(std::move(msg));
  }

  // ---- lists -------------------------------------------------------------------------------

  void post(std::function<void()> task) {
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      tasks.push_back(std::move(task));
    }
    cv.notify_all();
  }

  void post_exchange(std::function<void(bool)> task) {
    {
      std::lock_guard lock(mu);
      if (!stopping) {
        exchanges.push_back(std::move(task));
        task = nullptr;
      }
    }
    if (task) return task(false);
    cv.notify_all();
  }

  void run_exchanger() {
    for (;;) {
      std::function<void(bool)> task;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || !exchanges.empty(); });
        if (stopping) break;
        task = std::move(exchanges.front());
        exchanges.pop_front();
      }
      task(true);
    }
    std::deque<std::function<void(bool)>> left;
    {
      std::lock_guard lock(mu);
      left.swap(exchanges);
    }
    for (auto& t : left) t(false);
  }

  void request_refresh() {
    {
      std::lock_guard lock(mu);
      refresh_wanted = true;
    }
    cv.notify_all();
  }

  void run_worker() {
    for (;;) {
      std::function<void()> task;
      bool refresh = false;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || refresh_wanted || !tasks.empty(); });
        if (stopping) break;
        if (!tasks.empty()) {
          task = std::move(tasks.front());
          tasks.pop_front();
        } else {
          refresh = std::exchange(refresh_wanted, false);
        }
      }
      // Nothing an upstream lists may end the worker (and with it every later refresh).
      try {
        if (task) task();
        if (refresh) this->refresh();
      } catch (const std::exception& e) {
        log(LogLevel::error, std::string("internal error while refreshing its lists: ") + e.what());
        std::lock_guard lock(mu);
        last_refresh_error = e.what();
      }
    }
  }

  // Every page of one list, or nullopt when a page fails.
  std::optional<json::array> list_all(std::string_view method, std::string_view key, std::string& error) {
    json::array items;
    json::value cursor = nullptr;
    for (std::size_t page = 0; page < kMaxPages; ++page) {
      json::object params;
      if (!cursor.is_null()) params["cursor"] = cursor;
      auto r = shared->up->request(std::string(method), json::value(std::move(params)), spec.call_timeout).get();
      if (!r.ok()) {
        error = std::string(method) + ": " + (r.error ? r.error->message : "no answer");
        return std::nullopt;
      }
      const auto* o = r.result->if_object();
      const auto* list = o ? o->if_contains(key) : nullptr;
      if (!list || !list->is_array()) {
        error = std::string(method) + ": the result has no " + std::string(key) + " array";
        return std::nullopt;
      }
      for (const auto& item : list->get_array())
        if (item.is_object()) items.push_back(item);
      if (items.size() > kMaxEntries) {
        error = std::string(method) + ": more than " + std::to_string(kMaxEntries) + " entries";
        return std::nullopt;
      }
      const auto* next = o->if_contains("nextCursor");
      if (!next || !next->is_string() || next->get_string().empty()) return items;
      cursor = *next;
    }
    error = std::string(method) + ": more than " + std::to_string(kMaxPages) + " pages";
    return std::nullopt;
  }

  void refresh() {
    if (shared->up->state() != UpstreamState::ready) return;  // it refreshes again once ready
    json::value init = shared->up->initialize_result();
    const json::object* caps = nullptr;
    if (const auto* o = init.if_object())
      if (const auto* c = o->if_contains("capabilities"); c && c->is_object()) caps = &c->get_object();
    std::array<std::optional<json::array>, 4> lists;
    std::string error;
    for (std::size_t f = 0; f < 4; ++f) {
      if (!caps || !caps->contains(kFamilies[f].capability)) {
        lists[f] = json::array{};
        continue;
      }
      lists[f] = list_all(kFamilies[f].method, kFamilies[f].key, error);
      if (!lists[f]) {
        log(LogLevel::warning, "could not read its lists (" + error + "); keeping what was published");
        std::lock_guard lock(mu);
        last_refresh_error = error;
        return;
      }
    }
    bool can_subscribe = false, can_complete = caps && caps->contains("completions");
    if (caps)
      if (const auto* r = caps->if_contains("resources"); r && r->is_object())
        if (const auto* s = r->get_object().if_contains("subscribe"); s && s->is_bool()) can_subscribe = s->get_bool();
    for (const auto& c : server.publish(provider, catalog(lists, caps, can_subscribe, can_complete)))
      log(LogLevel::warning, c.provider == provider ? "its " + c.family + " entry " + c.key + " is refused: " +
                                                          (c.owner.empty()       ? std::string("a local primitive has it")
                                                           : c.owner == provider ? std::string("listed twice")
                                                                                 : c.owner + " has it")
                                                    : c.provider + "'s " + c.family + " entry " + c.key +
                                                          " is withdrawn: it lies under this upstream's prefix");
    {
      std::lock_guard lock(mu);
      for (std::size_t f = 0; f < 4; ++f) counts[f] = lists[f]->size();
      published = true;
      last_refresh_error.clear();
    }
    published_cv.notify_all();
    log(LogLevel::info, "published " + std::to_string(counts[kTools]) + " tools, " + std::to_string(counts[kResources]) +
                            " resources, " + std::to_string(counts[kTemplates]) + " resource templates, " +
                            std::to_string(counts[kPrompts]) + " prompts");
  }

  mcp::Forwarder forwarder(std::string method, std::string key, std::string upstream_value) {
    std::weak_ptr<Link> self = weak_from_this();
    return
        [self, method = std::move(method), key = std::move(key), upstream_value = std::move(upstream_value)](
            std::string_view, json::object params, std::shared_ptr<RequestContext> ctx, std::function<void(ForwardReply)> done) {
          auto link = self.lock();
          if (!link)
            return done(ForwardReply{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "gateway stopped")});
          json::object p = std::move(params);
          p[key] = upstream_value;
          link->forward(method, std::move(p), ctx, std::move(done));
        };
  }

  // resources/read and resources/subscribe for URIs under a template: the URI comes from the request.
  mcp::Forwarder uri_forwarder() {
    std::weak_ptr<Link> self = weak_from_this();
    return [self](std::string_view method, const json::object& params, std::shared_ptr<RequestContext> ctx,
                  std::function<void(ForwardReply)> done) {
      auto link = self.lock();
      if (!link)
        return done(ForwardReply{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "gateway stopped")});
      json::object p = params;
      std::string uri = string_at(p, "uri");
      if (!strip_prefix(uri, link->spec.uri_prefix))
        return done(ForwardReply{std::nullopt, jsonrpc::Error{mcp::kResourceNotFound, "Resource not found",
                                                              json::value(json::object{{"uri", string_at(params, "uri")}})}});
      p["uri"] = uri;
      if (method == "resources/read") return link->forward(std::string(method), std::move(p), ctx, std::move(done));
      link->subscription(std::string(method), uri, std::move(p), ctx, std::move(done));
    };
  }

  // The shared connection subscribes once per URI, however many sessions ask; a dedicated one
  // subscribes for its session.
  void subscription(std::string method, const std::string& uri, json::object params, const std::shared_ptr<RequestContext>& ctx,
                    std::function<void(ForwardReply)> done) {
    if (spec.sessions != SessionMode::shared) return forward(std::move(method), std::move(params), ctx, std::move(done));
    bool subscribe = method == "resources/subscribe";
    bool send_upstream = false;
    {
      std::lock_guard lock(mu);
      auto& mine = session_subscriptions[ctx->session().id()];
      if (subscribe && mine.insert(uri).second) send_upstream = ++upstream_subscriptions[uri] == 1;
      if (!subscribe && mine.erase(uri)) {
        send_upstream = --upstream_subscriptions[uri] <= 0;
        if (send_upstream) upstream_subscriptions.erase(uri);
      }
    }
    if (!send_upstream) return done(ForwardReply{json::object{}, std::nullopt});
    forward(std::move(method), std::move(params), ctx, std::move(done));
  }

  mcp::Forwarder completer(std::string ref_key, std::string upstream_value) {
    std::weak_ptr<Link> self = weak_from_this();
    return [self, ref_key = std::move(ref_key), upstream_value = std::move(upstream_value)](
               std::string_view, const json::object& params, std::shared_ptr<RequestContext> ctx,
               std::function<void(ForwardReply)> done) {
      auto link = self.lock();
      if (!link)
        return done(ForwardReply{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "gateway stopped")});
      json::object p = params;
      if (auto* ref = p.if_contains("ref"); ref && ref->is_object()) ref->get_object()[ref_key] = upstream_value;
      link->forward("completion/complete", std::move(p), ctx, std::move(done));
    };
  }

  // tools/call and prompts/get of a name the upstream did not list: the name loses its prefix.
  mcp::Forwarder unlisted(std::string method, std::string prefix) {
    std::weak_ptr<Link> self = weak_from_this();
    return
        [self, method = std::move(method), prefix = std::move(prefix)](
            std::string_view, json::object params, std::shared_ptr<RequestContext> ctx, std::function<void(ForwardReply)> done) {
          auto link = self.lock();
          if (!link)
            return done(ForwardReply{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "gateway stopped")});
          json::object p = std::move(params);
          std::string name = string_at(p, "name");
          strip_prefix(name, prefix);
          p["name"] = name;
          link->forward(method, std::move(p), ctx, std::move(done));
        };
  }

  Catalog catalog(std::array<std::optional<json::array>, 4>& lists, const json::object* caps, bool can_subscribe,
                  bool can_complete) {
    Catalog cat;
    if (spec.forward_unlisted && caps) {
      Catalog::Fallback fb;
      fb.tool_prefix = spec.tool_prefix;
      fb.prompt_prefix = spec.prompt_prefix;
      fb.uri_prefix = spec.uri_prefix;
      if (caps->contains("tools")) fb.tool = unlisted("tools/call", spec.tool_prefix);
      if (caps->contains("prompts")) fb.prompt = unlisted("prompts/get", spec.prompt_prefix);
      if (caps->contains("resources")) fb.resource = uri_forwarder();
      cat.fallback = std::move(fb);
    }
    for (auto& v : *lists[kTools]) {
      auto& o = v.get_object();
      std::string name = string_at(o, "name");
      if (name.empty()) continue;
      Catalog::Item item;
      o["name"] = spec.tool_prefix + name;
      item.listed = std::move(o);
      item.serve = forwarder("tools/call", "name", name);
      cat.tools.push_back(std::move(item));
    }
    for (auto& v : *lists[kResources]) {
      auto& o = v.get_object();
      std::string uri = string_at(o, "uri");
      if (uri.empty()) continue;
      Catalog::Item item;
      o["uri"] = spec.uri_prefix + uri;
      item.listed = std::move(o);
      item.serve = forwarder("resources/read", "uri", uri);
      if (can_subscribe) item.subscribe = uri_forwarder();
      cat.resources.push_back(std::move(item));
    }
    for (auto& v : *lists[kTemplates]) {
      auto& o = v.get_object();
      std::string tmpl = string_at(o, "uriTemplate");
      if (tmpl.empty()) continue;
      Catalog::Item item;
      o["uriTemplate"] = spec.uri_prefix + tmpl;
      item.listed = std::move(o);
      item.serve = uri_forwarder();
      if (can_subscribe) item.subscribe = uri_forwarder();
      if (can_complete) item.complete = completer("uri", tmpl);
      cat.resource_templates.push_back(std::move(item));
    }
    for (auto& v : *lists[kPrompts]) {
      auto& o = v.get_object();
      std::string name = string_at(o, "name");
      if (name.empty()) continue;
      Catalog::Item item;
      o["name"] = spec.prompt_prefix + name;
      item.listed = std::move(o);
      item.serve = forwarder("prompts/get", "name", name);
      if (can_complete) item.complete = completer("name", name);
      cat.prompts.push_back(std::move(item));
    }
    return cat;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  void start() {
    shared = open({});
    worker = std::thread([this] { run_worker(); });
    if (spec.exchange) exchanger = std::thread([this] { run_exchanger(); });
    shared->up->start();
  }

  void stop() {
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      stopping = true;
    }
    cv.notify_all();
    if (worker.joinable()) worker.join();
    if (exchanger.joinable()) exchanger.join();
    std::vector<std::shared_ptr<Conn>> conns;
    {
      std::lock_guard lock(mu);
      for (auto& [k, c] : dedicated) conns.push_back(c);
      dedicated.clear();
    }
    if (shared) conns.push_back(shared);
    for (auto& c : conns) c->up->stop();
    for (auto& c : conns) {
      std::vector<std::function<void(bool)>> waiting;
      {
        std::lock_guard lock(c->mu);
        waiting.swap(c->waiting);
      }
      for (auto& w : waiting) w(false);
    }
  }

  bool wait_published(Clock::time_point deadline) {
    std::unique_lock lock(mu);
    return published_cv.wait_until(lock, deadline, [&] { return published || stopping; }) && published;
  }

  json::object health() const {
    auto h = shared ? shared->up->health() : UpstreamHealth{};
    std::lock_guard lock(mu);
    json::object o{{"state", to_string(h.state)},
                   {"ready", published && h.state == UpstreamState::ready},
                   {"sessions", to_string(spec.sessions)},
                   {"starts", h.starts},
                   {"restarts", h.restarts},
                   {"timeouts", h.timeouts},
                   {"in_flight", h.in_flight},
                   {"garbage_lines", h.garbage_lines},
                   {"tools", counts[kTools]},
                   {"resources", counts[kResources]},
                   {"resource_templates", counts[kTemplates]},
                   {"prompts", counts[kPrompts]},
                   {"connections", dedicated.size()}};
    if (!h.last_error.empty()) o["last_error"] = h.last_error;
    if (!last_refresh_error.empty()) o["last_refresh_error"] = last_refresh_error;
    return o;
  }

  bool ready() const {
    if (!shared || shared->up->state() != UpstreamState::ready) return false;
    std::lock_guard lock(mu);
    return published;
  }
};

struct Gateway::Impl {
  mcp::Server& server;
  GatewayOptions options;
  std::vector<std::shared_ptr<Link>> links;
  bool started = false;
  bool stopped = false;
};

Gateway::Gateway(mcp::Server& server, GatewayOptions options)
    : impl_(std::make_shared<Impl>(Impl{server, std::move(options), {}})) {}

Gateway::~Gateway() { stop(); }

void Gateway::add(UpstreamSpec spec) {
  if (impl_->started) throw std::logic_error("gateway: add upstreams before start()");
  if (spec.name.empty()) throw std::invalid_argument("gateway: an upstream needs a name");
  if (!spec.connect) throw std::invalid_argument("gateway: upstream " + spec.name + " has no connector");
  // One connection for every caller would carry one caller's upstream token for another.
  if (spec.exchange && spec.sessions == SessionMode::shared)
    throw std::invalid_argument("gateway: upstream " + spec.name +
                                " exchanges tokens, so it needs sessions per_session or per_subject");
  for (const auto& l : impl_->links) {
    if (l->spec.name == spec.name) throw std::invalid_argument("gateway: two upstreams are named " + spec.name);
    for (auto [what, prefix] :
         {std::pair{"tool_prefix", &UpstreamSpec::tool_prefix}, std::pair{"prompt_prefix", &UpstreamSpec::prompt_prefix},
          std::pair{"uri_prefix", &UpstreamSpec::uri_prefix}})
      if (prefixes_collide(l->spec.*prefix, spec.*prefix))
        throw std::invalid_argument("gateway: upstreams " + l->spec.name + " and " + spec.name + " have colliding " + what +
                                    " values (\"" + l->spec.*prefix + "\" and \"" + spec.*prefix +
                                    "\"): each needs its own, none the start of another");
  }
  impl_->links.push_back(std::make_shared<Link>(std::move(spec), impl_->server, impl_->options.log));
}

bool Gateway::start() {
  if (impl_->started) return ready();
  impl_->started = true;
  std::weak_ptr<Impl> weak = impl_;
  impl_->server.on_session_closed([weak](const std::string& id) {
    if (auto impl = weak.lock())
      for (auto& l : impl->links) l->session_closed(id);
  });
  impl_->server.on_client_notification([weak](mcp::Session& session, const jsonrpc::Notification& n) {
    if (auto impl = weak.lock())
      for (auto& l : impl->links) l->client_notification(session, n);
  });
  for (auto& l : impl_->links) l->start();
  auto deadline = Clock::now() + impl_->options.startup_timeout;
  bool all = true;
  for (auto& l : impl_->links) all = l->wait_published(deadline) && all;
  return all;
}

void Gateway::stop() {
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  for (auto& l : impl_->links) l->stop();
}

bool Gateway::ready() const {
  for (const auto& l : impl_->links)
    if (!l->ready()) return false;
  return true;
}

json::object Gateway::health() const {
  json::object ups;
  bool all = true;
  for (const auto& l : impl_->links) {
    auto h = l->health();
    all = all && h.at("ready").as_bool();
    ups[l->spec.name] = std::move(h);
  }
  return json::object{{"ready", all}, {"upstreams", std::move(ups)}};
}

}  // namespace jitgate::gateway
