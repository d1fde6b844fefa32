// The MCP server core: a registry of primitives and the dispatcher that answers
// JSON-RPC messages for a session. Transports feed it messages and give it an Outbound.
#pragma once

#include <boost/json/value_to.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "jitgate/jsonrpc/message.hpp"
#include "jitgate/mcp/session.hpp"
#include "jitgate/mcp/types.hpp"
#include "jitgate/policy/engine.hpp"
#include "jitgate/policy/policy.hpp"

namespace jitgate::observe {
class AuditSink;
class Registry;
}  // namespace jitgate::observe

namespace jitgate::mcp {

// JSON-RPC error for a request the policy refused, where the transport has no better way to say it
// (stdio, an element of a batch). data.reason: authentication_required, insufficient_scope or forbidden.
inline constexpr std::int32_t kAccessDenied = -32003;

// The channel back to the client for one incoming request. Implemented by transports.
class Outbound {
 public:
  virtual ~Outbound() = default;
  // A message related to the request: progress, log message, or a server-to-client request.
  virtual void send(json::object message) = 0;
  // The final response. `nullopt` when the request was cancelled and gets no response.
  virtual void complete(std::optional<json::object> response) = 0;
  // Closes the stream carrying this request so the client reconnects later (SSE polling).
  // Returns false when the transport cannot do that.
  virtual bool close_stream(std::chrono::milliseconds /*retry*/) { return false; }
  // The policy refused the request, before anything else was sent for it. HTTP answers with
  // auth::challenge_for(remedy, scopes); the default is a JSON-RPC error naming the same.
  virtual void refuse(const jsonrpc::Id& id, auth::Remedy remedy, std::span<const std::string> scopes);
  // The final response (a JSON-RPC result whose "result" is an object) plus `tail`: members already
  // serialized (`"k":v,...`, no braces) that go after the result's own members, as if inserted last.
  // Saves building constant members into every result (2026-07-28 resultType, caching hints,
  // serverInfo). Returns false, leaving `response` untouched, when the transport does not support it
  // or the response has another shape; the caller then completes the usual way. When it returns
  // true the response is done with (as by `complete`).
  virtual bool complete_with_result_tail(json::object& /*response*/, std::string_view /*tail*/) { return false; }
  // For transports implementing the above: `response` serialized with `tail` spliced in before the
  // closing brace of "result", or nullopt unless "result" is the last member and an object.
  static std::optional<std::string> serialize_with_result_tail(const json::object& response, std::string_view tail);
  // The final response, a result given as JSON text (an object, already checked) plus `tail` as
  // above (empty: none). Transports that can write the text as it is override this; the default
  // parses it and completes the usual way.
  virtual void complete_result_text(const jsonrpc::Id& id, std::string_view result, std::string_view tail = {});
};

class Server;

// The protocol facts that govern one request. For the session-based revisions they come from the
// session's initialize; for 2026-07-28 from the request's own _meta.
struct Envelope {
  std::string protocol_version;
  bool stateless = false;
  json::object client_capabilities;
  std::optional<LogLevel> log_level;  // minimum level sent; unset = every level
  bool logging = true;                // false: send no notifications/message for this request
};

// One question for the client: elicitation/create, sampling/createMessage or roots/list.
struct InputRequest {
  std::string key;  // names the answer (2026-07-28 inputRequests / inputResponses key)
  std::string method;
  json::object params;
};

// Thrown by RequestContext::ask in a 2026-07-28 request whose answers are not there yet; the
// dispatcher answers with an input-required result and the client retries with the answers.
// Deliberately not a std::exception, so handlers that catch those let it through.
struct InputRequired {
  json::object input_requests;
};

// What a handler knows about the request it serves and how it talks back.
// The client capability a server-to-client method needs ("sampling", "elicitation", "roots"; empty
// for any other method).
std::string_view client_capability_for(std::string_view method);
// Whether an answer in a 2026-07-28 retry's inputResponses has the shape of `method`'s result.
bool input_response_fits(std::string_view method, const json::value& answer);

class RequestContext : public std::enable_shared_from_this<RequestContext> {
 public:
  RequestContext(Server& server, std::shared_ptr<Session> session, jsonrpc::Id id, json::value progress_token,
                 std::stop_token stop, std::shared_ptr<Outbound> out, Envelope envelope = {}, json::object answers = {});

  const Envelope& envelope() const { return envelope_; }
  // Whether the client declared a capability ("sampling", "elicitation", "roots").
  bool client_supports(std::string_view capability) const;

  const jsonrpc::Id& request_id() const { return id_; }
  Session& session() const { return *session_; }
  std::shared_ptr<Session> session_ptr() const { return session_; }
  Server& server() const { return server_; }
  std::stop_token stop_token() const { return stop_; }
  bool cancelled() const { return stop_.stop_requested(); }
  bool has_progress_token() const { return !progress_token_.is_null(); }

  // notifications/progress, only when the caller asked for it with _meta.progressToken.
  void progress(double progress, std::optional<double> total = std::nullopt, std::string message = {});
  // notifications/message, filtered by the session's logging/setLevel.
  void log(LogLevel level, json::value data, std::string logger = {});
  // A server-to-client request (sampling/createMessage, elicitation/create, roots/list).
  void request(std::string method, json::object params, ClientReplyHandler on_reply);
  // Blocking form for handlers on the blocking pool: waits for the answer, the timeout or cancellation.
  ClientReply request_sync(std::string method, json::object params, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Asks the client for input in whichever way the request's revision allows: a server-to-client
  // request in a session, or (2026-07-28) an input-required result answered by a retry. Handlers
  // written with ask() run unchanged on both; in 2026-07-28 they run again from the start on
  // each retry, so work before ask() should be repeatable. Throws ProtocolError -32021 when the
  // client lacks the capability in 2026-07-28.
  ClientReply ask(std::string key, std::string method, json::object params,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Several questions in one round (sent concurrently in a session); answers by key.
  std::map<std::string, ClientReply> ask_all(std::vector<InputRequest> requests,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Sleeps, waking early on cancellation. Returns false when cancelled.
  bool sleep_for(std::chrono::milliseconds d) const;
  // Ask the transport to close this request's stream (the client resumes with Last-Event-ID).
  bool close_stream(std::chrono::milliseconds retry);

 private:
  Server& server_;
  std::shared_ptr<Session> session_;
  jsonrpc::Id id_;
  json::value progress_token_;
  std::stop_token stop_;
  std::shared_ptr<Outbound> out_;
  Envelope envelope_;
  json::object answers_;  // 2026-07-28: inputResponses merged with those sealed in requestState
  std::size_t auto_key_ = 0;
};

using ToolHandler = std::function<ToolResult(const json::object& arguments, RequestContext& ctx)>;
using AsyncToolHandler =
    std::function<void(const json::object& arguments, std::shared_ptr<RequestContext> ctx, std::function<void(ToolResult)> done)>;
using ResourceReader = std::function<std::vector<ResourceContents>(const std::string& uri, RequestContext& ctx)>;
using TemplateReader = std::function<std::optional<std::vector<ResourceContents>>(
    const std::string& uri, const StringMap& variables, RequestContext& ctx)>;
using PromptHandler = std::function<PromptResult(const StringMap& arguments, RequestContext& ctx)>;
// Completion values for one argument, given its partial value and the other arguments already chosen.
using Completer =
    std::function<std::vector<std::string>(const std::string& argument, const std::string& value, const StringMap& context)>;

// The answer to a forwarded request: a result object, or a JSON-RPC error.
struct ForwardReply {
  std::optional<json::object> result;
  std::optional<jsonrpc::Error> error;
  // Instead of `result`: the result object as JSON text, checked, passed on as it is (a result the
  // gateway does not change: no tree is built for it).
  std::string result_text;
};
// Serves a request somewhere else (the gateway's upstream servers). Gets the request's method and
// params as the client sent them (its own: moved out of the request, so forwarding them copies
// nothing), once the policy has allowed the request, and its context (cancellation, progress,
// logging, server-to-client requests); runs on the calling (I/O) thread and must not block; calls
// `done` once, from any thread.
using Forwarder = std::function<void(std::string_view method, json::object params, std::shared_ptr<RequestContext> ctx,
                                     std::function<void(ForwardReply)> done)>;

// Primitives a provider other than the add_* calls publishes (the gateway: what its upstream servers
// list). Each item is listed as `listed` says (its "name", "uri" or "uriTemplate" names it) and
// decided by the policy exactly as a local primitive with the same name and `access`.
struct Catalog {
  struct Item {
    json::object listed;
    policy::Requirement access;
    Forwarder serve;      // tools/call, resources/read, prompts/get
    Forwarder complete;   // completion/complete (prompts, resource templates); unset: no values
    Forwarder subscribe;  // resources/subscribe and unsubscribe (resources, templates); unset: local only
  };
  std::vector<Item> tools, resources, resource_templates, prompts;
  // What the provider did not list but may still serve: tools/call and prompts/get of names that
  // start with a prefix, resources/read and subscribe of URIs that start with one (the provider's
  // server then says whether they exist). Decided by the policy by name, like any unlisted name;
  // the longest matching prefix of all providers wins.
  struct Fallback {
    std::string tool_prefix, prompt_prefix, uri_prefix;
    Forwarder tool, prompt, resource;  // `resource` serves read, subscribe and unsubscribe
  };
  std::optional<Fallback> fallback;
};

// One item Server::publish refused: `key` (a name, URI or URI template) of `family` ("tools",
// "resources", "resource_templates", "prompts") belongs to `owner` ("" a local primitive; another
// provider that published it first or whose fallback prefix claims it; `provider` itself when its
// catalog lists the key twice), so `provider` does not get it. When another provider's entry lies
// in the publishing provider's fallback space, that entry is withdrawn and reported the same way.
struct PublishConflict {
  std::string family, key, provider, owner;
};

struct ServerOptions {
  Implementation info;
  std::string instructions;
  std::size_t page_size = 100;          // entries per list page
  std::size_t blocking_threads = 8;     // pool for handlers that may block
  std::size_t max_queued_calls = 1024;  // backpressure on the blocking pool
  // 2026-07-28 caching hints on discover, list and read results.
  std::chrono::milliseconds cache_ttl{0};
  // HMAC key sealing requestState; random per process when empty (set it to share across instances).
  std::string request_state_key;
  std::chrono::seconds request_state_lifetime{600};
  std::size_t max_listeners = 10'000;  // open subscriptions/listen streams
  // Just-in-time authorization: every call and every list entry is decided by this engine (unset:
  // everything is allowed). Decisions are written to `audit` and counted in `metrics` when set.
  std::shared_ptr<policy::PolicyEngine> policy;
  std::shared_ptr<observe::AuditSink> audit;
  std::shared_ptr<observe::Registry> metrics;
};

// Outcome of presenting a caller on a session (Server::bind_caller).
enum class Binding { ok, other_subject, anonymous_on_bound };

class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registration. Synchronous handlers run on the blocking pool, never on I/O threads.
  void add_tool(Tool tool, ToolHandler handler);
  // Asynchronous handlers run on the calling (I/O) thread and must not block; call `done` once.
  void add_tool_async(Tool tool, AsyncToolHandler handler);
  // Typed arguments: `Args` is converted with boost::json::value_to; a failure is an isError result.
  template <typename Args, typename F>
  void add_typed_tool(Tool tool, F handler) {
    add_tool(std::move(tool), [h = std::move(handler)](const json::object& a, RequestContext& ctx) -> ToolResult {
      Args args;
      try {
        args = json::value_to<Args>(json::value(a));
      } catch (const std::exception& e) {
        return ToolResult::error(std::string("Invalid arguments: ") + e.what());
      }
      return h(args, ctx);
    });
  }
  bool remove_tool(const std::string& name);
  void add_resource(Resource resource, ResourceReader reader);
  void add_resource_template(ResourceTemplate tmpl, TemplateReader reader);
  void add_prompt(Prompt prompt, PromptHandler handler);
  void set_prompt_completer(const std::string& prompt, Completer completer);
  void set_template_completer(const std::string& uri_template, Completer completer);
  // Replaces, atomically, everything `provider` published before with `catalog`. An entry it
  // publishes again keeps its place in the lists. A key another owner already has (a local
  // primitive, or another provider's) is refused, never taken over: the refusals are returned and
  // counted (jitgate_publish_conflicts_total{provider,family}). Sessions whose filtered view of a
  // family changes (entries added, removed or changed, as each one's rights show them, whatever
  // their order) are sent that family's list_changed; the others are not. Safe from any thread but
  // an I/O thread of a transport (it re-evaluates every session).
  std::vector<PublishConflict> publish(const std::string& provider, Catalog catalog);
  // Called with the id of every session that ends (DELETE, idle expiry, shutdown). Set before serving.
  void on_session_closed(std::function<void(const std::string& session_id)> f);
  // Answers roots/list_changed and other client notifications the core does not consume.
  void on_client_notification(std::function<void(Session&, const jsonrpc::Notification&)> f);

  // Broadcasts to every initialized session.
  void notify_tools_changed();
  void notify_resources_changed();
  void notify_prompts_changed();
  void notify_resource_updated(const std::string& uri);
  void log_to_all(LogLevel level, json::value data, std::string logger = {});

  // Transport side.
  std::shared_ptr<Session> create_session();  // registered; id is fresh and random
  std::shared_ptr<Session> find_session(const std::string& id);
  bool close_session(const std::string& id);
  std::size_t session_count() const;
  // Removes sessions idle for longer than `idle`; returns how many.
  std::size_t expire_idle_sessions(std::chrono::steady_clock::duration idle);
  void close_all_sessions();

  // Answers one message. Requests are completed through `out` (possibly later, on another thread);
  // notifications and responses from the client complete nothing. A request whose params carry a
  // 2026-07-28 envelope (_meta protocolVersion) is served statelessly; `session` then only holds its
  // call for cancellation.
  // `caller` is who sent it (null: anonymous); in a session it must have been bound first.
  void handle(const std::shared_ptr<Session>& session, jsonrpc::Message message, std::shared_ptr<Outbound> out,
              std::shared_ptr<const auth::Principal> caller = nullptr);

  // Live sessions (revisions up to 2025-11-25). Presents the caller of a request on its session: an
  // anonymous session is bound to the first subject that shows a token and upgraded in place; the
  // same subject's newer token replaces the rights; another subject, or no token on a bound
  // session, is refused. When the rights change what a list family shows, the session is sent
  // that family's list_changed.
  Binding bind_caller(const std::shared_ptr<Session>& session, std::shared_ptr<const auth::Principal> caller);
  // Sessions whose token expired fall back to anonymous rights (still bound to their subject) and
  // are told what left their lists. Run from a timer; returns how many sessions changed.
  std::size_t expire_rights(std::int64_t now_seconds);
  // Re-evaluates every session and listen stream against the policy (done on every policy swap).
  void reevaluate_all();

  // 2026-07-28 helpers for transports.
  static bool has_envelope(const json::value& params);
  // The first envelope problem, in the order the specification checks them: missing fields (-32602),
  // a header that disagrees (-32020), an unsupported version (-32022). `header_version` is absent on stdio.
  std::optional<jsonrpc::Error> check_envelope(const json::value& params, std::optional<std::string_view> header_version) const;
  // Whether a stateless request may call `method` (removed and undeclared methods may not).
  bool stateless_method_available(std::string_view method) const;
  // Completes every subscriptions/listen stream with its final result (shutdown).
  void close_listeners();
  std::size_t listener_count() const;

  const ServerOptions& options() const;
  json::object capabilities() const;
  // What is registered, for policy validation.
  policy::Inventory inventory() const;
  // Waits for blocking handlers to finish (used at shutdown).
  void join();

  struct Impl;

 private:
  void dispatch(const std::shared_ptr<Session>& session, jsonrpc::Message& message, std::shared_ptr<Outbound> out,
                std::shared_ptr<const auth::Principal> caller);
  std::unique_ptr<Impl> impl_;
};

// Random session id: 32 hex characters from OpenSSL's CSPRNG.
std::string random_session_id();

}  // namespace jitgate::mcp
