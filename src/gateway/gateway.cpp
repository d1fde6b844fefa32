#include "jitgate/gateway/gateway.hpp"

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

#include "jitgate/mcp/server.hpp"
#include "jitgate/observe/metrics.hpp"

namespace jitgate::gateway {

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
constexpr std::size_t kMaxPages = 1000;  // an upstream whose cursors never end is cut off here

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

// One forwarded call: set once it is answered, so a late registration does not outlive it.
struct CallState {
  std::atomic<bool> finished{false};
  std::optional<std::stop_callback<std::function<void()>>> on_stop;
};

}  // namespace

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
  std::unordered_map<CallId, std::weak_ptr<RequestContext>> calls;  // for related notifications and requests
  std::vector<std::function<void(bool ready)>> waiting;             // calls made before it was ready
  std::size_t registering = 0;  // calls sent whose id is not in `calls` yet
  std::condition_variable registered;

  // The call a message from the upstream belongs to. The upstream can speak before request()
  // has returned the call's id to us: then wait (briefly, bounded) for the registration.
  std::shared_ptr<RequestContext> context(CallId id) {
    if (id == 0) return nullptr;
    std::unique_lock lock(mu);
    auto found = [&] { return calls.contains(id) || registering == 0; };
    if (!found()) registered.wait_for(lock, std::chrono::milliseconds(500), found);
    auto it = calls.find(id);
    return it == calls.end() ? nullptr : it->second.lock();
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
  std::uint64_t next_token = 1;
  std::map<std::string, int> upstream_subscriptions;                    // upstream URI -> subscribed sessions
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

  std::shared_ptr<observe::Registry> metrics;  // the server's, when it has one

  Link(UpstreamSpec s, mcp::Server& srv, std::function<void(std::string_view, LogLevel, std::string_view)> log)
      : spec(std::move(s)), server(srv), log_sink(std::move(log)), provider("upstream:" + spec.name),
        metrics(srv.options().metrics) {}

  // Per upstream: whether it is ready, how often it restarted, and every call by outcome and latency.
  void count_state(UpstreamState s) const {
    if (!metrics) return;
    metrics->gauge("jitgate_upstream_ready", "Whether the upstream's shared connection is ready (1) or not (0)",
                   {{"upstream", spec.name}})
        .set(s == UpstreamState::ready ? 1 : 0);
    if (shared)
      metrics->gauge("jitgate_upstream_restarts", "Times the upstream was restarted after a fault", {{"upstream", spec.name}})
          .set(static_cast<double>(shared->up->health().restarts));
  }
  // Per call: the counter through a per-thread memo, the histogram looked up once (it lives as long
  // as the registry); not a registry lookup with label strings and a bounds vector each time.
  observe::CounterMemo calls_total{"jitgate_upstream_calls_total", "Calls forwarded to upstreams, by outcome", "upstream",
                                   "outcome"};
  mutable std::atomic<observe::Histogram*> call_seconds{nullptr};

  void count_call(const CallResult& r, Clock::duration took) const {
    if (!metrics) return;
    std::string_view outcome = "ok";
    if (r.error) {
      switch (static_cast<UpstreamError>(r.error->code)) {
        case UpstreamError::unavailable: outcome = "unavailable"; break;
        case UpstreamError::timeout: outcome = "timeout"; break;
        case UpstreamError::overloaded: outcome = "overloaded"; break;
        case UpstreamError::cancelled: outcome = "cancelled"; break;
        case UpstreamError::bad_response: outcome = "bad_response"; break;
        default: outcome = "error"; break;  // the upstream's own JSON-RPC error
      }
    }
    calls_total.get(*metrics, spec.name, outcome).inc();
    auto* seconds = call_seconds.load(std::memory_order_acquire);
    if (!seconds) {
      seconds = &metrics->histogram("jitgate_upstream_call_seconds", "Time from forwarding a call to its answer",
                                    {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
                                    {{"upstream", spec.name}});
      call_seconds.store(seconds, std::memory_order_release);
    }
    seconds->observe(std::chrono::duration<double>(took).count());
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
      if (auto link = self.lock()) link->log(level, src == LogSource::child_stderr ? "stderr: " + std::string(text) : std::string(text));
    };
    h.on_state = [self, weak](UpstreamState s) {
      auto link = self.lock();
      auto c = weak.lock();
      if (link && c) link->on_state(*c, s);
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
  std::shared_ptr<Conn> connection_for(const RequestContext& ctx, std::string& refused) {
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
      if (auto it = dedicated.find(key); it != dedicated.end()) return it->second;
      if (dedicated.size() >= spec.max_connections) {
        refused = "upstream " + spec.name + " has " + std::to_string(spec.max_connections) + " connections open";
        return nullptr;
      }
      conn = open(key);
      dedicated.emplace(key, conn);
    }
    conn->up->start();
    return conn;
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
      shared->up->request("resources/unsubscribe", json::object{{"uri", uri}}, [](CallResult) {}, spec.call_timeout);
    if (gone) post([gone] { gone->up->stop(); });  // stopping waits for the child: not on an I/O thread
  }

  // ---- forwarding --------------------------------------------------------------------------

  // Sends one downstream request upstream. `params` are the client's with names and URIs already
  // turned into the upstream's; `fix` adjusts a result on its way back.
  void forward(std::string method, json::object params, const std::shared_ptr<RequestContext>& ctx,
               std::function<void(ForwardReply)> done, std::function<void(json::object&)> fix = {}) {
    std::string refused;
    auto conn = connection_for(*ctx, refused);
    if (!conn) return done(ForwardReply{std::nullopt, fault(spec.name, UpstreamError::overloaded, refused)});
    {
      std::unique_lock lock(conn->mu);
      if (conn->up->state() == UpstreamState::starting) {
        // A connection just opened (or restarting its handshake): the call waits for it.
        conn->waiting.push_back([self = shared_from_this(), method = std::move(method), params = std::move(params), ctx,
                                 done = std::move(done), fix = std::move(fix), conn](bool ready) mutable {
          if (!ready)
            return done(ForwardReply{std::nullopt, fault(self->spec.name, UpstreamError::unavailable,
                                                         "upstream " + self->spec.name + " did not start")});
          self->send(conn, std::move(method), std::move(params), ctx, std::move(done), std::move(fix));
        });
        return;
      }
    }
    send(conn, std::move(method), std::move(params), ctx, std::move(done), std::move(fix));
  }

  void send(const std::shared_ptr<Conn>& conn, std::string method, json::object params,
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
    std::weak_ptr<Link> self = weak_from_this();
    std::weak_ptr<Conn> weak = conn;
    auto id_box = std::make_shared<std::atomic<CallId>>(0);
    auto on_done = [self, weak, st, id_box, token, fix = std::move(fix), done = std::move(done), name = spec.name,
                    started = Clock::now()](CallResult r) mutable {
      st->finished = true;
      if (auto link = self.lock()) link->count_call(r, Clock::now() - started);
      if (auto c = weak.lock()) {
        std::lock_guard lock(c->mu);
        c->calls.erase(id_box->load());
      }
      if (auto link = self.lock(); link && !token.empty()) {
        std::lock_guard lock(link->mu);
        link->progress.erase(token);
      }
      if (r.error) return done(ForwardReply{std::nullopt, std::move(r.error)});
      if (!r.result_text.empty()) return done(ForwardReply{std::nullopt, std::nullopt, std::move(r.result_text)});
      if (!r.result || !r.result->is_object())
        return done(ForwardReply{std::nullopt, fault(name, UpstreamError::bad_response,
                                                     "upstream " + name + " answered with a result that is not an object")});
      json::object result = std::move(r.result->get_object());
      if (fix) fix(result);
      done(ForwardReply{std::move(result), std::nullopt});
    };
    {
      std::lock_guard lock(conn->mu);
      ++conn->registering;
    }
    // A result nothing changes on its way back travels as text (no tree built for it).
    bool as_text = !fix;
    CallId id = as_text ? conn->up->request_text(std::move(method), json::value(std::move(params)), std::move(on_done), spec.call_timeout)
                        : conn->up->request(std::move(method), json::value(std::move(params)), std::move(on_done), spec.call_timeout);
    id_box->store(id);
    {
      std::lock_guard lock(conn->mu);
      --conn->registering;
      if (id != 0 && !st->finished) conn->calls[id] = ctx;
    }
    conn->registered.notify_all();
    if (id == 0) return;  // refused at once: already answered
    st->on_stop.emplace(ctx->stop_token(), std::function<void()>([weak, id] {
                          if (auto c = weak.lock()) c->up->cancel(id, "cancelled by the client");
                        }));
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
      if (auto ctx = c.context(related)) return ctx->log(level, std::move(data), string_at(params, "logger"));
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
    auto ctx = c.context(related);
    if (!ctx)
      return respond(CallResult{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::method_not_found,
                                                                   q.method + " outside a client request is not relayed")});
    if (ctx->envelope().stateless)
      return respond(CallResult{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::method_not_found,
                                                                   "the client (revision 2026-07-28) cannot be asked " + q.method)});
    json::object params = q.params.is_object() ? q.params.get_object() : json::object{};
    ctx->request(q.method, std::move(params), [respond = std::move(respond)](mcp::ClientReply r) {
      respond(CallResult{std::move(r.result), std::move(r.error)});
    });
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
      if (task) task();
      if (refresh) this->refresh();
    }
  }

  // Every page of one list, or nullopt when a page fails.
  std::optional<json::array> list_all(std::string_view method, std::string_view key, std::string& error) {
    json::array items;
    json::value cursor = nullptr;
    for (std::size_t page = 0; page < kMaxPages; ++page) {
      json::object params;
      if (!cursor.is_null()) params["cursor"] = cursor;
      auto r = shared->up->request(std::string(method), json::value(std::move(params)), spec.call_timeout)
                   .get();
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
    server.publish(provider, catalog(lists, caps, can_subscribe, can_complete));
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

  mcp::Forwarder forwarder(std::string method, std::string key, std::string upstream_value, bool fix_uris = false) {
    std::weak_ptr<Link> self = weak_from_this();
    return [self, method = std::move(method), key = std::move(key), upstream_value = std::move(upstream_value), fix_uris](
               std::string_view, json::object params, std::shared_ptr<RequestContext> ctx,
               std::function<void(ForwardReply)> done) {
      auto link = self.lock();
      if (!link) return done(ForwardReply{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "gateway stopped")});
      json::object p = std::move(params);
      p[key] = upstream_value;
      link->forward(method, std::move(p), ctx, std::move(done), fix_uris ? link->uri_fixer() : nullptr);
    };
  }

  // resources/read results name upstream URIs: the client must see ours.
  std::function<void(json::object&)> uri_fixer() const {
    return [prefix = spec.uri_prefix](json::object& result) {
      if (prefix.empty()) return;
      if (auto* contents = result.if_contains("contents"); contents && contents->is_array())
        for (auto& c : contents->get_array())
          if (auto* o = c.if_object())
            if (auto* u = o->if_contains("uri"); u && u->is_string()) *u = prefix + std::string(u->get_string());
    };
  }

  // resources/read and resources/subscribe for URIs under a template: the URI comes from the request.
  mcp::Forwarder uri_forwarder() {
    std::weak_ptr<Link> self = weak_from_this();
    return [self](std::string_view method, const json::object& params, std::shared_ptr<RequestContext> ctx,
                  std::function<void(ForwardReply)> done) {
      auto link = self.lock();
      if (!link) return done(ForwardReply{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "gateway stopped")});
      json::object p = params;
      std::string uri = string_at(p, "uri");
      if (!strip_prefix(uri, link->spec.uri_prefix))
        return done(ForwardReply{std::nullopt, jsonrpc::Error{mcp::kResourceNotFound, "Resource not found",
                                                              json::value(json::object{{"uri", string_at(params, "uri")}})}});
      p["uri"] = uri;
      if (method == "resources/read") return link->forward(std::string(method), std::move(p), ctx, std::move(done), link->uri_fixer());
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
      if (!link) return done(ForwardReply{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "gateway stopped")});
      json::object p = params;
      if (auto* ref = p.if_contains("ref"); ref && ref->is_object()) ref->get_object()[ref_key] = upstream_value;
      link->forward("completion/complete", std::move(p), ctx, std::move(done));
    };
  }

  // tools/call and prompts/get of a name the upstream did not list: the name loses its prefix.
  mcp::Forwarder unlisted(std::string method, std::string prefix) {
    std::weak_ptr<Link> self = weak_from_this();
    return [self, method = std::move(method), prefix = std::move(prefix)](std::string_view, json::object params,
                                                                          std::shared_ptr<RequestContext> ctx,
                                                                          std::function<void(ForwardReply)> done) {
      auto link = self.lock();
      if (!link) return done(ForwardReply{std::nullopt, jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "gateway stopped")});
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
      item.serve = forwarder("resources/read", "uri", uri, true);
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
  for (const auto& l : impl_->links)
    if (l->spec.name == spec.name) throw std::invalid_argument("gateway: two upstreams are named " + spec.name);
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
