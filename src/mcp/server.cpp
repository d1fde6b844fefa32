#include "jitgate/mcp/server.hpp"

#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <future>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "common/clock.hpp"
#include "common/digest.hpp"
#include "common/fnv.hpp"
#include "jitgate/mcp/revision.hpp"
#include "jitgate/observe/audit.hpp"
#include "jitgate/observe/metrics.hpp"
#include "mcp/cursor.hpp"
#include "mcp/request_state.hpp"
#include "mcp/uri_template.hpp"

namespace jitgate::mcp {

using jsonrpc::ErrorCode;

// ---------------------------------------------------------------------------------------------
// Types

std::optional<LogLevel> parse_log_level(std::string_view s) {
  static constexpr std::array<std::pair<std::string_view, LogLevel>, 8> kLevels{{
      {"debug", LogLevel::debug},
      {"info", LogLevel::info},
      {"notice", LogLevel::notice},
      {"warning", LogLevel::warning},
      {"error", LogLevel::error},
      {"critical", LogLevel::critical},
      {"alert", LogLevel::alert},
      {"emergency", LogLevel::emergency},
  }};
  for (const auto& [name, level] : kLevels)
    if (name == s) return level;
  return std::nullopt;
}

std::string_view to_string(LogLevel l) {
  switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::notice: return "notice";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
    case LogLevel::critical: return "critical";
    case LogLevel::alert: return "alert";
    case LogLevel::emergency: return "emergency";
  }
  return "info";
}

ToolResult ToolResult::text(std::string t) {
  ToolResult r;
  r.add_text(std::move(t));
  return r;
}

ToolResult ToolResult::error(std::string t) {
  ToolResult r = text(std::move(t));
  r.is_error = true;
  return r;
}

ToolResult& ToolResult::add_text(std::string t) {
  content.push_back(json::object{{"type", "text"}, {"text", std::move(t)}});
  return *this;
}

ToolResult& ToolResult::add_image(std::string base64, std::string mime_type) {
  content.push_back(json::object{{"type", "image"}, {"data", std::move(base64)}, {"mimeType", std::move(mime_type)}});
  return *this;
}

ToolResult& ToolResult::add_audio(std::string base64, std::string mime_type) {
  content.push_back(json::object{{"type", "audio"}, {"data", std::move(base64)}, {"mimeType", std::move(mime_type)}});
  return *this;
}

ToolResult& ToolResult::add_resource(json::object resource) {
  content.push_back(json::object{{"type", "resource"}, {"resource", std::move(resource)}});
  return *this;
}

json::object ResourceContents::to_json() const {
  json::object o{{"uri", uri}};
  if (!mime_type.empty()) o["mimeType"] = mime_type;
  if (text) o["text"] = *text;
  if (blob) o["blob"] = *blob;
  return o;
}

namespace {

// Runs work that no request waits for (view refreshes, re-evaluation after a reload); an
// exception it did not expect is counted and logged, and the caller goes on with the next item.
template <typename F>
void contain(observe::Registry* metrics, std::string_view where, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    observe::count_contained(metrics, where, e.what());
  } catch (...) {
    observe::count_contained(metrics, where, "an exception of unknown type");
  }
}

}  // namespace

std::string random_session_id() { return common::random_hex(16); }

// ---------------------------------------------------------------------------------------------
// Registry: an immutable snapshot, swapped atomically when primitives change.

namespace {

// Every entry: what lists show, a digest of it (views notice changed entries, not only new names),
// and for published entries their provider and forwarders.
struct Published {
  std::string owner;  // empty: registered with add_*
  std::uint64_t digest = 0;
  Forwarder forward, complete, subscribe;
};
struct ToolEntry {
  Tool tool;
  json::object listed;
  ToolHandler sync;
  AsyncToolHandler async;
  Published pub;
};
struct ResourceEntry {
  Resource resource;
  json::object listed;
  ResourceReader reader;
  Published pub;
};
struct TemplateEntry {
  ResourceTemplate tmpl;
  UriTemplate matcher;
  json::object listed;
  TemplateReader reader;
  Published pub;
};
struct PromptEntry {
  Prompt prompt;
  json::object listed;
  PromptHandler handler;
  Published pub;
};

std::uint64_t digest_of(const json::object& listed) { return common::fnv1a(json::serialize(listed)); }

struct Registry {
  std::vector<ToolEntry> tools;
  std::unordered_map<std::string, std::size_t> tool_index;
  std::vector<ResourceEntry> resources;
  std::unordered_map<std::string, std::size_t> resource_index;
  std::vector<TemplateEntry> templates;
  std::vector<PromptEntry> prompts;
  std::unordered_map<std::string, std::size_t> prompt_index;
  std::unordered_map<std::string, Completer> prompt_completers;
  std::unordered_map<std::string, Completer> template_completers;
  std::vector<std::pair<std::string, Catalog::Fallback>> fallbacks;  // by provider

  // The fallback forwarder for an unlisted name or URI: the longest matching prefix.
  const Forwarder* fallback(std::string_view key, std::string Catalog::Fallback::*prefix,
                            Forwarder Catalog::Fallback::*which) const {
    const Forwarder* best = nullptr;
    std::size_t best_len = 0;
    for (const auto& [owner, f] : fallbacks) {
      const std::string& pre = f.*prefix;
      if (!(f.*which) || !key.starts_with(pre) || (best && pre.size() <= best_len)) continue;
      best = &(f.*which);
      best_len = pre.size();
    }
    return best;
  }

  void reindex() {
    tool_index.clear();
    for (std::size_t i = 0; i < tools.size(); ++i) tool_index[tools[i].tool.name] = i;
    resource_index.clear();
    for (std::size_t i = 0; i < resources.size(); ++i) resource_index[resources[i].resource.uri] = i;
    prompt_index.clear();
    for (std::size_t i = 0; i < prompts.size(); ++i) prompt_index[prompts[i].prompt.name] = i;
  }
};

void put_if(json::object& o, std::string_view key, const std::string& v) {
  if (!v.empty()) o[key] = v;
}

json::object list_entry(const Tool& t) {
  json::object o{{"name", t.name}};
  put_if(o, "title", t.title);
  put_if(o, "description", t.description);
  o["inputSchema"] = t.input_schema;
  if (t.output_schema) o["outputSchema"] = *t.output_schema;
  if (!t.annotations.empty()) o["annotations"] = t.annotations;
  if (!t.meta.empty()) o["_meta"] = t.meta;
  return o;
}

json::object list_entry(const Resource& r) {
  json::object o{{"uri", r.uri}, {"name", r.name}};
  put_if(o, "title", r.title);
  put_if(o, "description", r.description);
  put_if(o, "mimeType", r.mime_type);
  if (r.size) o["size"] = *r.size;
  if (!r.annotations.empty()) o["annotations"] = r.annotations;
  if (!r.meta.empty()) o["_meta"] = r.meta;
  return o;
}

json::object list_entry(const ResourceTemplate& t) {
  json::object o{{"uriTemplate", t.uri_template}, {"name", t.name}};
  put_if(o, "title", t.title);
  put_if(o, "description", t.description);
  put_if(o, "mimeType", t.mime_type);
  if (!t.annotations.empty()) o["annotations"] = t.annotations;
  return o;
}

json::object list_entry(const Prompt& p) {
  json::object o{{"name", p.name}};
  put_if(o, "title", p.title);
  put_if(o, "description", p.description);
  if (!p.arguments.empty()) {
    json::array args;
    for (const auto& a : p.arguments) {
      json::object ao{{"name", a.name}};
      put_if(ao, "description", a.description);
      ao["required"] = a.required;
      args.push_back(std::move(ao));
    }
    o["arguments"] = std::move(args);
  }
  return o;
}

json::object notification(std::string_view method, json::object params = {}) {
  json::object o{{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.empty()) o["params"] = std::move(params);
  return o;
}

bool log_enabled(const Session& s, LogLevel level) {
  auto st = const_cast<Session&>(s).with_state([](Session::State& st) { return st.log_level; });
  return !st || level >= *st;
}

// Checks arguments against the basic shape of an object schema: required members and the
// JSON types of declared properties. Returns a message for the first mismatch.
std::optional<std::string> check_arguments(const json::object& schema, const json::object& args) {
  if (const auto* req = schema.if_contains("required"); req && req->is_array()) {
    for (const auto& r : req->get_array())
      if (r.is_string() && !args.contains(r.get_string()))
        return "missing required argument '" + std::string(r.get_string()) + "'";
  }
  const auto* props = schema.if_contains("properties");
  if (!props || !props->is_object()) return std::nullopt;
  for (const auto& [key, value] : args) {
    const auto* p = props->get_object().if_contains(key);
    if (!p || !p->is_object()) continue;
    const auto* type = p->get_object().if_contains("type");
    if (!type || !type->is_string()) continue;
    std::string_view t = type->get_string();
    bool ok = true;
    if (t == "string")
      ok = value.is_string();
    else if (t == "number")
      ok = value.is_number();
    else if (t == "integer")
      ok = value.is_int64() || value.is_uint64() ||
           (value.is_double() && value.get_double() == static_cast<double>(static_cast<std::int64_t>(value.get_double())));
    else if (t == "boolean")
      ok = value.is_bool();
    else if (t == "object")
      ok = value.is_object();
    else if (t == "array")
      ok = value.is_array();
    else if (t == "null")
      ok = value.is_null();
    if (!ok) return "argument '" + std::string(key) + "' must be of type " + std::string(t);
  }
  return std::nullopt;
}

json::object tool_result_json(const ToolResult& r) {
  json::object o{{"content", r.content}};
  if (r.structured_content) o["structuredContent"] = *r.structured_content;
  if (r.is_error) o["isError"] = true;
  if (!r.meta.empty()) o["_meta"] = r.meta;
  return o;
}

const json::object& params_object(const json::value& params) {
  static const json::object kEmpty;
  if (const auto* o = params.if_object()) return *o;
  return kEmpty;
}

std::string required_string(const json::object& p, std::string_view key) {
  const auto* v = p.if_contains(key);
  if (!v || !v->is_string())
    throw ProtocolError(static_cast<std::int32_t>(ErrorCode::invalid_params),
                        "Invalid params: '" + std::string(key) + "' must be a string");
  return std::string(v->get_string());
}

constexpr std::size_t kShards = 16;

}  // namespace

// ---------------------------------------------------------------------------------------------

// An open 2026-07-28 subscriptions/listen stream and what it asked for.
struct Listener {
  json::value id;  // the listen request id: every message carries it as subscriptionId
  bool tools = false;
  bool prompts = false;
  bool resources = false;
  std::set<std::string, std::less<>> uris;
  std::shared_ptr<Session> holder;  // holds the call; closed when the stream goes away
  std::stop_token stop;
  std::shared_ptr<Outbound> out;
  std::shared_ptr<const auth::Principal> caller;  // the credential that opened it
  std::array<std::uint64_t, 4> views{};           // what it could see then (policy reloads compare)
};

// List families, in the order of Session::Rights::views.
enum Family : std::size_t { kTools, kResources, kTemplates, kPrompts };

// ---------------------------------------------------------------------------------------------
// Authorization helpers: the action each registry entry is, and how a locked entry is advertised.

namespace {

policy::Action discovery_action(const ToolEntry& e) {
  return {policy::Kind::tool, policy::Phase::discovery, "tools/list", e.tool.name, {}, nullptr, &e.tool.access};
}
policy::Action discovery_action(const ResourceEntry& e) {
  return {policy::Kind::resource, policy::Phase::discovery, "resources/list", e.resource.uri, {}, nullptr, &e.resource.access};
}
policy::Action discovery_action(const TemplateEntry& e) {
  return {policy::Kind::resource_template,
          policy::Phase::discovery,
          "resources/templates/list",
          e.tmpl.uri_template,
          {},
          nullptr,
          &e.tmpl.access};
}
policy::Action discovery_action(const PromptEntry& e) {
  return {policy::Kind::prompt, policy::Phase::discovery, "prompts/list", e.prompt.name, {}, nullptr, &e.prompt.access};
}

// What serves a resource URI: a registered resource, else the first template that matches it.
struct ResourceTarget {
  const ResourceEntry* direct = nullptr;
  const TemplateEntry* via = nullptr;
  bool found() const { return direct || via; }
  // The invocation action for reading (or subscribing to) the URI; valid while the registry is.
  policy::Action action(std::string_view method, std::string_view uri) const {
    return {policy::Kind::resource,
            policy::Phase::invocation,
            method,
            uri,
            via ? std::string_view(via->tmpl.uri_template) : std::string_view(),
            nullptr,
            direct ? &direct->resource.access
            : via  ? &via->tmpl.access
                   : nullptr};
  }
};

ResourceTarget resolve_resource(const Registry& reg, const std::string& uri) {
  ResourceTarget t;
  if (auto it = reg.resource_index.find(uri); it != reg.resource_index.end()) {
    t.direct = &reg.resources[it->second];
    return t;
  }
  for (const auto& tmpl : reg.templates)
    if (tmpl.matcher.match(uri)) {
      t.via = &tmpl;
      break;
    }
  return t;
}

// Whether a list shows an entry the caller may not use: only with `locked: advertise`, and only
// when a token could unlock it (signing in, or more scopes). Roles and claims are never hinted at.
bool advertisable(const policy::Decision& d, policy::Locked mode) {
  return !d.listed() && mode == policy::Locked::advertise && d.unlockable;
}

// A locked entry as listed: _meta names its tier and scopes, and tools carry SEP-1488 securitySchemes.
json::object advertised(const json::object& listed, const policy::Decision& d, bool tool) {
  json::object o = listed;
  json::array scopes;
  for (const auto& s : d.scopes) scopes.push_back(json::string(s));
  json::array schemes{json::object{{"type", "oauth2"}, {"scopes", scopes}}};
  json::value& meta = o["_meta"];
  if (!meta.is_object()) meta = json::object{};
  auto& m = meta.get_object();
  m["io.jitgate/locked"] = true;
  if (!d.tier.empty()) m["io.jitgate/tier"] = d.tier;
  m["io.jitgate/requiredScopes"] = std::move(scopes);
  if (tool) {
    m["securitySchemes"] = schemes;
    o["securitySchemes"] = std::move(schemes);
  }
  return o;
}

using common::fnv1a_field;
using common::mixed;

// What a list family shows one caller: every listed name, and the scopes advertised for locked ones.
// A set fingerprint (the sum of each visible entry's hash): the registry's order does not matter,
// so a provider republishing the same entries in another order tells nobody anything.
template <typename Entries>
std::uint64_t view_of(const Entries& entries, const policy::PolicyEngine& engine, const policy::PolicyEngine::Caller& who,
                      policy::Locked mode) {
  std::uint64_t sum = 0, count = 0;
  for (const auto& e : entries) {
    auto a = discovery_action(e);
    a.explain = mode == policy::Locked::advertise;
    auto d = engine.decide(who, a);
    std::string_view digest(reinterpret_cast<const char*>(&e.pub.digest), sizeof e.pub.digest);
    bool locked = !d.listed() && advertisable(d, mode);
    if (!d.listed() && !locked) continue;
    std::uint64_t h = common::kFnvOffset;
    fnv1a_field(h, a.name);
    fnv1a_field(h, digest);
    if (locked) {
      fnv1a_field(h, "\x01locked");
      for (const auto& sc : d.scopes) fnv1a_field(h, sc);
    }
    sum += mixed(h);
    ++count;
  }
  return sum ^ mixed(count);
}

// The rights a cursor is issued for, spelled out: the policy generation and every fact of the
// caller a decision reads. It is authenticated inside the sealed cursor, never shown.
std::string rights_binding(const policy::PolicyEngine& engine, const auth::Principal& p) {
  std::string out;
  out.reserve(64 + p.issuer.size() + p.subject.size() + p.client_id.size());
  auto field = [&](std::string_view v) {
    out += std::to_string(v.size());
    out += ':';
    out += v;
  };
  out += std::to_string(engine.generation());
  field(p.issuer);
  field(p.subject);
  field(p.client_id);
  out += "|s";
  for (const auto& s : p.scopes) field(s);
  out += "|r";
  for (const auto& r : p.roles) field(r);
  return out;
}

// The members a 2026-07-28 result gets when the handler set none of them (StatelessOutbound), in the
// order it inserts them, serialized without the braces: `"resultType":"complete",...,"_meta":{...}`.
std::string stateless_result_tail(bool cacheable, bool per_caller, const json::object& server_info,
                                  std::chrono::milliseconds ttl) {
  json::object o;
  o.emplace("resultType", "complete");
  if (cacheable) {
    o.emplace("ttlMs", static_cast<std::int64_t>(ttl.count()));
    o.emplace("cacheScope", per_caller ? "private" : "public");
  }
  o.emplace("_meta", json::object{{"io.modelcontextprotocol/serverInfo", server_info}});
  std::string text = json::serialize(o);
  return text.substr(1, text.size() - 2);
}

std::string_view list_changed_method(std::size_t family) {
  switch (family) {
    case kTools: return "notifications/tools/list_changed";
    case kPrompts: return "notifications/prompts/list_changed";
    default: return "notifications/resources/list_changed";
  }
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  std::mutex registration_mu;  // serializes writers only; readers load the snapshot
  std::atomic<std::shared_ptr<const Registry>> registry{std::make_shared<const Registry>()};
  boost::asio::thread_pool pool;
  std::atomic<std::size_t> queued{0};
  std::function<void(Session&, const jsonrpc::Notification&)> on_notification;
  std::function<void(const std::string&)> on_closed;
  RequestStateSealer sealer;
  CursorSealer cursors;
  json::object server_info;  // _meta serverInfo of every 2026-07-28 result
  // What StatelessOutbound adds to a result that has none of it, serialized once (see
  // stateless_result_tail): index 0 not cacheable, 1 cacheable "public", 2 cacheable "private".
  std::array<std::string, 3> stateless_tails;

  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<Session>> sessions;
  };
  std::array<Shard, kShards> shards;

  // Listen streams change only when one opens or closes; notifications copy the list.
  mutable std::mutex listeners_mu;
  std::vector<std::shared_ptr<Listener>> listeners;

  // Just-in-time authorization (all unset without a policy).
  std::shared_ptr<policy::PolicyEngine> policy;
  struct Alive {
    std::mutex mu;
    Server* server = nullptr;
  };
  std::shared_ptr<Alive> alive = std::make_shared<Alive>();

  observe::Histogram* decision_seconds = nullptr;
  std::mutex reevaluate_mu;  // looked up once: the bounds are copied per lookup
  observe::CounterMemo decisions_total{"jitgate_policy_decisions_total",
                                       "Policy decisions on calls, by deciding rule and outcome", "rule", "outcome"};

  bool authorizing() const { return policy != nullptr; }

  std::unique_ptr<policy::PolicyEngine::Caller> prepare(std::shared_ptr<const auth::Principal> who) const {
    return policy->prepare(std::move(who));
  }

  std::array<std::uint64_t, 4> views(const policy::PolicyEngine::Caller& who) const {
    auto reg = snapshot();
    auto mode = policy->locked();
    return {view_of(reg->tools, *policy, who, mode), view_of(reg->resources, *policy, who, mode),
            view_of(reg->templates, *policy, who, mode), view_of(reg->prompts, *policy, who, mode)};
  }

  void audit(const policy::Decision& d, const policy::Action& a, const auth::Principal& who, const Session* session,
             std::string_view reason = {}, std::optional<std::size_t> listed = std::nullopt,
             std::optional<std::size_t> hidden = std::nullopt) const {
    if (!options.audit) return;
    std::string sh = session && !session->id().empty() ? observe::session_hash(session->id()) : std::string();
    observe::AuditRecord r;
    r.time = std::chrono::system_clock::now();
    r.subject = who.subject;
    r.issuer = who.issuer;
    r.client_id = who.client_id;
    r.session = sh;
    r.method = a.method;
    r.primitive = a.kind == policy::Kind::method ? std::string_view() : a.name;
    r.phase = policy::to_string(a.phase);
    r.decision = listed ? std::string_view("filtered") : policy::to_string(d.outcome);
    r.rule = d.rule;
    r.missing_scopes = d.missing;
    r.token_hash = who.token_hash;
    r.reason = reason;
    r.listed = listed;
    r.hidden = hidden;
    if (d.shadow) {
      r.shadow_decision = policy::to_string(*d.shadow);
      r.shadow_rule = d.shadow_rule;
    }
    options.audit->record(r);
  }

  // One invocation decision, audited and counted.
  policy::Decision decide(const policy::PolicyEngine::Caller& who, const policy::Action& a, const Session* session) const {
    auto t0 = std::chrono::steady_clock::now();
    policy::Decision d = policy->decide(who, a);
    // Protocol methods no rule names (ping, initialize, the list methods) are not decisions worth
    // a line or a counter: the entries of lists are.
    if (a.kind == policy::Kind::method && d.allowed() && d.rule == "unrestricted-method") return d;
    if (auto& m = options.metrics) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      decision_seconds->observe(secs);
      decisions_total.get(*m, d.rule, policy::to_string(d.outcome)).inc();
      if (d.shadow && *d.shadow != d.outcome)
        m->counter("jitgate_policy_shadow_disagreements_total", "Calls the shadow policy decided differently",
                   {{"rule", d.shadow_rule}})
            .inc();
    }
    audit(d, a, who.principal(), session);
    return d;
  }

  void count_challenge(const policy::PolicyEngine::Caller& who, const policy::Decision& d) const {
    auto& m = options.metrics;
    if (!m) return;
    bool anon = who.principal().anonymous();
    std::string_view status = anon ? "401" : "403";
    std::string_view kind = anon ? "authenticate" : d.remedy == policy::Remedy::step_up ? "insufficient_scope" : "forbidden";
    m->counter("jitgate_challenges_total", "Refused calls, by HTTP status and challenge", {{"status", status}, {"kind", kind}})
        .inc();
  }

  // A refused primitive that this caller cannot see and no token would unlock: answering with a
  // refusal would tell that it exists, so it answers as an unknown one (the audit line keeps the deny).
  bool hidden(const policy::PolicyEngine::Caller& who, const policy::Action& a, const policy::Decision& d) const {
    if (!policy::conceals(*policy, who, a, d)) return false;
    if (options.metrics)
      options.metrics->counter("jitgate_hidden_refusals_total", "Refused calls answered as unknown (hidden from the caller)")
          .inc();
    return true;
  }

  // Recomputes what a session's lists show; tells it about every family that changed.
  void refresh_views(Session& s) {
    if (!policy) return;
    // A session whose views cannot be worked out keeps the ones it had; its lists and calls are
    // still decided per request.
    contain(options.metrics.get(), "mcp.views", [&] { refresh_views_unguarded(s); });
  }

  void refresh_views_unguarded(Session& s) {
    std::uint64_t version = 0;
    auto principal = s.with_rights([&](Session::Rights& r) {
      version = ++r.version;
      return r.principal;
    });
    auto v = views(*prepare(principal));
    std::array<std::uint64_t, 4> old{};
    bool known = false, current = false;
    s.with_rights([&](Session::Rights& r) {
      current = r.version == version;
      if (!current) return;  // a newer refresh is on its way
      old = r.views;
      known = r.views_known;
      r.views = v;
      r.views_known = true;
    });
    if (!current || !known || !s.snapshot().initialized) return;
    auto link = s.link();
    if (!link) return;
    bool resources_told = false;
    for (std::size_t f = 0; f < 4; ++f) {
      if (old[f] == v[f]) continue;
      if (f == kResources || f == kTemplates) {
        if (resources_told) continue;
        resources_told = true;
      }
      link->deliver(json::object{{"jsonrpc", "2.0"}, {"method", list_changed_method(f)}});
      if (options.metrics)
        options.metrics
            ->counter("jitgate_list_changed_total", "list_changed sent because rights changed",
                      {{"family", f == kTools     ? "tools"
                                  : f == kPrompts ? "prompts"
                                                  : "resources"}})
            .inc();
    }
  }

  explicit Impl(ServerOptions o)
      : options(std::move(o)),
        pool(options.blocking_threads),
        sealer(options.request_state_key, options.request_state_lifetime),
        cursors(options.request_state_key),
        server_info{{"name", options.info.name}, {"version", options.info.version}},
        stateless_tails{stateless_result_tail(false, false, server_info, options.cache_ttl),
                        stateless_result_tail(true, false, server_info, options.cache_ttl),
                        stateless_result_tail(true, true, server_info, options.cache_ttl)},
        policy(options.policy) {}

  Shard& shard_for(const std::string& id) { return shards[std::hash<std::string>{}(id) % kShards]; }

  std::shared_ptr<const Registry> snapshot() const { return registry.load(std::memory_order_acquire); }

  template <typename F>
  void mutate(F&& f) {
    std::lock_guard lock(registration_mu);
    auto next = std::make_shared<Registry>(*registry.load());
    f(*next);
    next->reindex();
    registry.store(std::move(next), std::memory_order_release);
  }

  template <typename F>
  void for_each_session(F&& f) {
    for (auto& sh : shards) {
      std::vector<std::shared_ptr<Session>> copy;
      {
        std::lock_guard lock(sh.mu);
        for (auto& [id, s] : sh.sessions) copy.push_back(s);
      }
      for (auto& s : copy) f(*s);
    }
  }

  void broadcast(const json::object& msg) {
    for_each_session([&](Session& s) {
      if (!s.snapshot().initialized) return;
      if (auto link = s.link()) link->deliver(msg);
    });
  }

  // Live listeners; the ones whose stream went away are dropped (and their call completed).
  std::vector<std::shared_ptr<Listener>> live_listeners() {
    std::vector<std::shared_ptr<Listener>> live, dead;
    {
      std::lock_guard lock(listeners_mu);
      for (auto& l : listeners) (l->stop.stop_requested() || l->holder->closed() ? dead : live).push_back(l);
      if (!dead.empty()) listeners = live;
    }
    for (auto& l : dead) l->out->complete(std::nullopt);
    return live;
  }

  template <typename Pred>
  void notify_listeners(std::string_view method, Pred wants, json::object params = {}) {
    for (auto& l : live_listeners()) {
      if (!wants(*l)) continue;
      json::object p = params;
      p["_meta"] = json::object{{"io.modelcontextprotocol/subscriptionId", l->id}};
      l->out->send(json::object{{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(p)}});
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Outbound

std::optional<std::string> Outbound::serialize_with_result_tail(const json::object& response, std::string_view tail) {
  // "result" must be the last member (jsonrpc::result_response puts it there), so the text ends
  // with the result's closing brace followed by the response's.
  if (response.empty() || (response.end() - 1)->key() != "result" || !(response.end() - 1)->value().is_object())
    return std::nullopt;
  bool empty = (response.end() - 1)->value().get_object().empty();
  std::string text = json::serialize(response);
  if (text.size() < 2 || text.compare(text.size() - 2, 2, "}}") != 0) return std::nullopt;
  text.resize(text.size() - 2);
  text.reserve(text.size() + tail.size() + 3);
  if (!empty && !tail.empty()) text += ',';
  text += tail;
  text += "}}";
  return text;
}

void Outbound::complete_result_text(const jsonrpc::Id& id, std::string_view result, std::string_view tail) {
  boost::system::error_code ec;
  json::value parsed = json::parse(result, ec);
  if (!ec && !tail.empty() && parsed.is_object()) {
    std::string members = "{";
    members += tail;
    members += '}';
    json::value added = json::parse(members, ec);
    if (!ec && added.is_object())
      for (auto& kv : added.get_object()) parsed.get_object().insert_or_assign(kv.key(), std::move(kv.value()));
  }
  if (ec || !parsed.is_object())
    return complete(jsonrpc::error_response(id, jsonrpc::Error{static_cast<std::int32_t>(ErrorCode::internal_error),
                                                               "Internal error: the result is not a JSON object", std::nullopt}));
  complete(jsonrpc::result_response(id, std::move(parsed)));
}

void Outbound::refuse(const jsonrpc::Id& id, auth::Remedy remedy, std::span<const std::string> scopes) {
  std::string_view reason = remedy == auth::Remedy::authenticate ? "authentication_required"
                            : remedy == auth::Remedy::step_up    ? "insufficient_scope"
                                                                 : "forbidden";
  json::object data{{"reason", reason}};
  if (remedy != auth::Remedy::none && !scopes.empty()) {
    std::string scope;
    for (const auto& x : scopes) scope += (scope.empty() ? "" : " ") + x;
    data["scope"] = scope;
  }
  complete(jsonrpc::error_response(
      id, jsonrpc::Error{kAccessDenied, remedy == auth::Remedy::authenticate ? "Authentication required" : "Forbidden",
                         json::value(std::move(data))}));
}

// ---------------------------------------------------------------------------------------------
// RequestContext

RequestContext::RequestContext(Server& server, std::shared_ptr<Session> session, jsonrpc::Id id, json::value progress_token,
                               std::stop_token stop, std::shared_ptr<Outbound> out, Envelope envelope, json::object answers)
    : server_(server),
      session_(std::move(session)),
      id_(std::move(id)),
      progress_token_(std::move(progress_token)),
      stop_(std::move(stop)),
      out_(std::move(out)),
      envelope_(std::move(envelope)),
      answers_(std::move(answers)) {}

bool RequestContext::client_supports(std::string_view capability) const {
  return envelope_.client_capabilities.contains(capability);
}

void RequestContext::progress(double progress, std::optional<double> total, std::string message) {
  if (progress_token_.is_null() || cancelled()) return;
  json::object p{{"progressToken", progress_token_}, {"progress", progress}};
  if (total) p["total"] = *total;
  if (!message.empty()) p["message"] = std::move(message);
  out_->send(notification("notifications/progress", std::move(p)));
}

void RequestContext::log(LogLevel level, json::value data, std::string logger) {
  bool allowed = envelope_.stateless ? envelope_.logging && (!envelope_.log_level || level >= *envelope_.log_level)
                                     : log_enabled(*session_, level);
  if (!allowed) return;
  json::object p{{"level", to_string(level)}, {"data", std::move(data)}};
  if (!logger.empty()) p["logger"] = std::move(logger);
  out_->send(notification("notifications/message", std::move(p)));
}

// The client capability a server-to-client method needs.
std::string_view client_capability_for(std::string_view method) {
  if (method == "sampling/createMessage") return "sampling";
  if (method == "elicitation/create") return "elicitation";
  if (method == "roots/list") return "roots";
  return {};
}

// An answer from inputResponses is used only when it has the shape of its method's result.
bool input_response_fits(std::string_view method, const json::value& v) {
  const auto* o = v.if_object();
  if (!o) return false;
  if (method == "elicitation/create") {
    const auto* a = o->if_contains("action");
    if (!a || !a->is_string()) return false;
    std::string_view s = a->get_string();
    if (s != "accept" && s != "decline" && s != "cancel") return false;
    const auto* c = o->if_contains("content");
    return !c || c->is_object();
  }
  if (method == "sampling/createMessage") return o->contains("role") && o->contains("content");
  if (method == "roots/list") return o->contains("roots") && o->at("roots").is_array();
  return true;
}

void RequestContext::request(std::string method, json::object params, ClientReplyHandler on_reply) {
  // A client must declare the capability before the server may use it.
  std::string_view needed = client_capability_for(method);
  if (!needed.empty() && !client_supports(needed)) {
    on_reply(ClientReply{std::nullopt, jsonrpc::Error{static_cast<std::int32_t>(ErrorCode::method_not_found),
                                                      "Client does not support " + std::string(needed), std::nullopt}});
    return;
  }
  std::string id = session_->register_outgoing(std::move(on_reply));
  json::object msg{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.empty()) msg["params"] = std::move(params);
  out_->send(std::move(msg));
}

ClientReply RequestContext::request_sync(std::string method, json::object params, std::chrono::milliseconds timeout) {
  if (envelope_.stateless) return ask("request-" + std::to_string(auto_key_++), std::move(method), std::move(params), timeout);
  auto promise = std::make_shared<std::promise<ClientReply>>();
  auto future = promise->get_future();
  auto fulfilled = std::make_shared<std::atomic<bool>>(false);
  request(std::move(method), std::move(params), [promise, fulfilled](ClientReply r) {
    if (!fulfilled->exchange(true)) promise->set_value(std::move(r));
  });
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (future.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
    if (cancelled() || std::chrono::steady_clock::now() >= deadline) {
      if (!fulfilled->exchange(true)) {
        return ClientReply{std::nullopt,
                           jsonrpc::Error{static_cast<std::int32_t>(ErrorCode::internal_error),
                                          cancelled() ? "request cancelled" : "client did not answer in time", std::nullopt}};
      }
    }
  }
  return future.get();
}

ClientReply RequestContext::ask(std::string key, std::string method, json::object params, std::chrono::milliseconds timeout) {
  auto answers = ask_all({InputRequest{std::move(key), std::move(method), std::move(params)}}, timeout);
  return std::move(answers.begin()->second);
}

std::map<std::string, ClientReply> RequestContext::ask_all(std::vector<InputRequest> requests,
                                                           std::chrono::milliseconds timeout) {
  std::map<std::string, ClientReply> out;
  if (!envelope_.stateless) {
    // In a session: send every request at once, then collect the answers.
    std::vector<std::pair<std::string, std::future<ClientReply>>> waits;
    for (auto& r : requests) {
      auto promise = std::make_shared<std::promise<ClientReply>>();
      waits.emplace_back(r.key, promise->get_future());
      auto done = std::make_shared<std::atomic<bool>>(false);
      request(std::move(r.method), std::move(r.params), [promise, done](ClientReply reply) {
        if (!done->exchange(true)) promise->set_value(std::move(reply));
      });
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (auto& [key, f] : waits) {
      while (f.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready && !cancelled() &&
             std::chrono::steady_clock::now() < deadline) {}
      if (f.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        out.emplace(key, f.get());
      } else {
        out.emplace(key, ClientReply{std::nullopt, jsonrpc::Error{static_cast<std::int32_t>(ErrorCode::internal_error),
                                                                  "client did not answer", std::nullopt}});
      }
    }
    return out;
  }
  // 2026-07-28: answers come from the retry; anything missing ends this round.
  json::object missing;
  json::object required_caps;
  for (auto& r : requests) {
    std::string_view needed = client_capability_for(r.method);
    if (!needed.empty() && !client_supports(needed)) required_caps[needed] = json::object{};
    if (const auto* a = answers_.if_contains(r.key)) {
      if (!input_response_fits(r.method, *a))
        throw ProtocolError(static_cast<std::int32_t>(ErrorCode::invalid_params),
                            "Invalid params: inputResponses." + r.key + " is not a valid " + r.method + " result");
      out.emplace(r.key, ClientReply{*a, std::nullopt});
      continue;
    }
    json::object req{{"method", r.method}};
    req["params"] = std::move(r.params);
    missing[r.key] = std::move(req);
  }
  if (!required_caps.empty())
    throw ProtocolError(-32021, "Missing required client capability",
                        json::object{{"requiredCapabilities", std::move(required_caps)}});
  if (!missing.empty()) throw InputRequired{std::move(missing)};
  return out;
}

bool RequestContext::sleep_for(std::chrono::milliseconds d) const {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  std::stop_token st = stop_;
  cv.wait_for(lock, st, d, [] { return false; });
  return !st.stop_requested();
}

bool RequestContext::close_stream(std::chrono::milliseconds retry) { return out_->close_stream(retry); }

// ---------------------------------------------------------------------------------------------
// Server

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->alive->server = this;
  std::weak_ptr<Impl::Alive> alive = impl_->alive;
  // A policy swap re-evaluates every session and listen stream, on the blocking pool (there may be
  // many), never on the thread that reloaded.
  if (impl_->policy)
    impl_->policy->on_change([alive] {
      auto a = alive.lock();
      if (!a) return;
      std::lock_guard lock(a->mu);
      if (a->server)
        boost::asio::post(a->server->impl_->pool, [alive] {
          auto a2 = alive.lock();
          if (!a2) return;
          std::lock_guard lock2(a2->mu);
          if (a2->server) a2->server->reevaluate_all();
        });
    });
  if (auto& m = impl_->options.metrics) {
    impl_->decision_seconds =
        &m->histogram("jitgate_policy_decision_seconds", "Time to decide one call", observe::latency_buckets_seconds());
    m->gauge_callback("jitgate_sessions", "Open MCP sessions", [alive] {
      auto a = alive.lock();
      if (!a) return 0.0;
      std::lock_guard lock(a->mu);
      return a->server ? static_cast<double>(a->server->session_count()) : 0.0;
    });
    m->gauge_callback("jitgate_listen_streams", "Open 2026-07-28 subscriptions/listen streams", [alive] {
      auto a = alive.lock();
      if (!a) return 0.0;
      std::lock_guard lock(a->mu);
      return a->server ? static_cast<double>(a->server->listener_count()) : 0.0;
    });
  }
}

Server::~Server() {
  {
    std::lock_guard lock(impl_->alive->mu);
    impl_->alive->server = nullptr;
  }
  close_all_sessions();
  impl_->pool.join();
}

const ServerOptions& Server::options() const { return impl_->options; }

void Server::join() { impl_->pool.join(); }

void Server::add_tool(Tool tool, ToolHandler handler) {
  impl_->mutate([&](Registry& r) {
    std::erase_if(r.tools, [&](const ToolEntry& e) { return e.tool.name == tool.name; });
    json::object listed = list_entry(tool);
    std::uint64_t digest = digest_of(listed);
    r.tools.push_back(ToolEntry{std::move(tool), std::move(listed), std::move(handler), {}, Published{{}, digest, {}, {}, {}}});
  });
}

void Server::add_tool_async(Tool tool, AsyncToolHandler handler) {
  impl_->mutate([&](Registry& r) {
    std::erase_if(r.tools, [&](const ToolEntry& e) { return e.tool.name == tool.name; });
    json::object listed = list_entry(tool);
    std::uint64_t digest = digest_of(listed);
    r.tools.push_back(ToolEntry{std::move(tool), std::move(listed), {}, std::move(handler), Published{{}, digest, {}, {}, {}}});
  });
}

bool Server::remove_tool(const std::string& name) {
  bool removed = false;
  impl_->mutate(
      [&](Registry& r) { removed = std::erase_if(r.tools, [&](const ToolEntry& e) { return e.tool.name == name; }) > 0; });
  return removed;
}

void Server::add_resource(Resource resource, ResourceReader reader) {
  impl_->mutate([&](Registry& r) {
    std::erase_if(r.resources, [&](const ResourceEntry& e) { return e.resource.uri == resource.uri; });
    json::object listed = list_entry(resource);
    std::uint64_t digest = digest_of(listed);
    r.resources.push_back(
        ResourceEntry{std::move(resource), std::move(listed), std::move(reader), Published{{}, digest, {}, {}, {}}});
  });
}

void Server::add_resource_template(ResourceTemplate tmpl, TemplateReader reader) {
  auto matcher = UriTemplate::parse(tmpl.uri_template);
  if (!matcher) throw std::invalid_argument("invalid URI template: " + tmpl.uri_template);
  impl_->mutate([&](Registry& r) {
    std::erase_if(r.templates, [&](const TemplateEntry& e) { return e.tmpl.uri_template == tmpl.uri_template; });
    json::object listed = list_entry(tmpl);
    std::uint64_t digest = digest_of(listed);
    r.templates.push_back(TemplateEntry{std::move(tmpl), std::move(*matcher), std::move(listed), std::move(reader),
                                        Published{{}, digest, {}, {}, {}}});
  });
}

void Server::add_prompt(Prompt prompt, PromptHandler handler) {
  impl_->mutate([&](Registry& r) {
    std::erase_if(r.prompts, [&](const PromptEntry& e) { return e.prompt.name == prompt.name; });
    json::object listed = list_entry(prompt);
    std::uint64_t digest = digest_of(listed);
    r.prompts.push_back(PromptEntry{std::move(prompt), std::move(listed), std::move(handler), Published{{}, digest, {}, {}, {}}});
  });
}

void Server::set_prompt_completer(const std::string& prompt, Completer completer) {
  impl_->mutate([&](Registry& r) { r.prompt_completers[prompt] = std::move(completer); });
}

void Server::set_template_completer(const std::string& uri_template, Completer completer) {
  impl_->mutate([&](Registry& r) { r.template_completers[uri_template] = std::move(completer); });
}

namespace {

std::string listed_string(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// The (name, digest) pairs of one family, sorted: equal before and after a publish means nothing
// of that family changed.
template <typename Entries, typename Key>
std::vector<std::pair<std::string, std::uint64_t>> signature(const Entries& entries, Key key) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  out.reserve(entries.size());
  for (const auto& e : entries) out.emplace_back(key(e), e.pub.digest);
  std::sort(out.begin(), out.end());
  return out;
}

// The `_meta` keys in jitgate's namespace (`io.jitgate/locked`, `.../requiredScopes`, ...) are the
// server's own word about an entry: a provider's listing may not carry them, or an upstream could
// dress an entry up as locked or name the scopes it "needs".
void strip_reserved_meta(json::object& listed) {
  auto* meta = listed.if_contains("_meta");
  if (!meta || !meta->is_object()) return;
  auto& m = meta->get_object();
  for (auto it = m.begin(); it != m.end();) {
    if (it->key().starts_with("io.jitgate/"))
      it = m.erase(it);
    else
      ++it;
  }
}

Published published(const std::string& owner, Catalog::Item& item) {
  strip_reserved_meta(item.listed);
  return Published{owner, digest_of(item.listed), std::move(item.serve), std::move(item.complete), std::move(item.subscribe)};
}

// The provider whose fallback claims `key` more specifically than `owner`'s own prefix does (a
// longer prefix of `key`), or null: an entry there would capture that provider's names.
const std::string* claimed_by(const Registry& r, std::string_view key, const std::string& owner,
                              std::string Catalog::Fallback::*prefix) {
  std::size_t own = 0;
  for (const auto& [o, f] : r.fallbacks)
    if (o == owner && key.starts_with(f.*prefix)) own = (f.*prefix).size();
  const std::string* best = nullptr;
  std::size_t best_len = own;
  for (const auto& [o, f] : r.fallbacks)
    if (o != owner && key.starts_with(f.*prefix) && (f.*prefix).size() > best_len) {
      best = &o;
      best_len = (f.*prefix).size();
    }
  return best;
}

// Replaces `provider`'s entries of one family with `fresh`: an entry it publishes again keeps its
// place (lists and their order stay stable), new ones go at the end, and a key another owner has
// (a local primitive, or another provider that published it first) or that lies in another
// provider's fallback space is refused. Another provider's entry that now lies in `provider`'s
// fallback space is withdrawn, since its unlisted names there are routed to `provider`.
template <typename Entry, typename Key>
void merge(std::vector<Entry>& entries, std::vector<Entry> fresh, const Registry& r, const std::string& provider,
           std::string Catalog::Fallback::*prefix, std::string_view family, Key key, std::vector<PublishConflict>& refused) {
  std::unordered_map<std::string, const std::string*> owners;  // key -> its owner, for keys not `provider`'s
  for (const auto& e : entries) {
    if (e.pub.owner == provider) continue;
    std::string k = key(e);
    const auto* other = e.pub.owner.empty() ? nullptr : claimed_by(r, k, e.pub.owner, prefix);
    if (!other || *other != provider) owners.emplace(std::move(k), &e.pub.owner);  // (else withdrawn below)
  }
  std::unordered_map<std::string, std::size_t> accepted;  // key -> index into fresh
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    std::string k = key(fresh[i]);
    if (auto it = owners.find(k); it != owners.end()) {
      refused.push_back({std::string(family), k, provider, *it->second});
    } else if (const auto* other = claimed_by(r, k, provider, prefix)) {
      refused.push_back({std::string(family), k, provider, *other});
    } else if (!accepted.emplace(k, i).second) {
      refused.push_back({std::string(family), k, provider, provider});  // listed twice: the first counts
    }
  }
  std::vector<bool> placed(fresh.size(), false);
  std::vector<Entry> kept;
  kept.reserve(entries.size() + fresh.size());
  for (auto& e : entries) {
    std::string k = key(e);
    if (e.pub.owner != provider) {
      const auto* other = e.pub.owner.empty() ? nullptr : claimed_by(r, k, e.pub.owner, prefix);
      if (other && *other == provider) {
        refused.push_back({std::string(family), k, e.pub.owner, provider});
        continue;
      }
      kept.push_back(std::move(e));
      continue;
    }
    auto it = accepted.find(k);
    if (it == accepted.end()) continue;  // no longer published
    kept.push_back(std::move(fresh[it->second]));
    placed[it->second] = true;
  }
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    auto it = accepted.find(key(fresh[i]));
    if (!placed[i] && it != accepted.end() && it->second == i) kept.push_back(std::move(fresh[i]));
  }
  entries = std::move(kept);
}

}  // namespace

std::vector<PublishConflict> Server::publish(const std::string& provider, Catalog catalog) {
  if (provider.empty()) throw std::invalid_argument("publish: the provider needs a name");
  std::array<bool, 4> changed{};
  std::vector<PublishConflict> refused;
  impl_->mutate([&](Registry& r) {
    auto tool_key = [](const ToolEntry& e) { return e.tool.name; };
    auto resource_key = [](const ResourceEntry& e) { return e.resource.uri; };
    auto template_key = [](const TemplateEntry& e) { return e.tmpl.uri_template; };
    auto prompt_key = [](const PromptEntry& e) { return e.prompt.name; };
    auto before = std::make_tuple(signature(r.tools, tool_key), signature(r.resources, resource_key),
                                  signature(r.templates, template_key), signature(r.prompts, prompt_key));
    // The fallback first: the entries below are checked against every provider's.
    auto fb = std::find_if(r.fallbacks.begin(), r.fallbacks.end(), [&](const auto& f) { return f.first == provider; });
    if (!catalog.fallback) {
      if (fb != r.fallbacks.end()) r.fallbacks.erase(fb);
    } else if (fb != r.fallbacks.end()) {
      fb->second = std::move(*catalog.fallback);
    } else {
      r.fallbacks.emplace_back(provider, std::move(*catalog.fallback));
    }

    std::vector<ToolEntry> tools;
    for (auto& item : catalog.tools) {
      Tool t;
      t.name = listed_string(item.listed, "name");
      if (t.name.empty()) continue;
      if (const auto* sc = item.listed.if_contains("inputSchema"); sc && sc->is_object()) t.input_schema = sc->get_object();
      t.access = std::move(item.access);
      auto pub = published(provider, item);
      tools.push_back(ToolEntry{std::move(t), std::move(item.listed), {}, {}, std::move(pub)});
    }
    merge(r.tools, std::move(tools), r, provider, &Catalog::Fallback::tool_prefix, "tools", tool_key, refused);
    std::vector<ResourceEntry> resources;
    for (auto& item : catalog.resources) {
      Resource res;
      res.uri = listed_string(item.listed, "uri");
      if (res.uri.empty()) continue;
      res.name = listed_string(item.listed, "name");
      res.access = std::move(item.access);
      auto pub = published(provider, item);
      resources.push_back(ResourceEntry{std::move(res), std::move(item.listed), {}, std::move(pub)});
    }
    merge(r.resources, std::move(resources), r, provider, &Catalog::Fallback::uri_prefix, "resources", resource_key, refused);
    std::vector<TemplateEntry> templates;
    for (auto& item : catalog.resource_templates) {
      ResourceTemplate t;
      t.uri_template = listed_string(item.listed, "uriTemplate");
      auto matcher = UriTemplate::parse(t.uri_template);
      if (!matcher) continue;  // the provider checks what it publishes; an unusable template is left out
      t.name = listed_string(item.listed, "name");
      t.access = std::move(item.access);
      auto pub = published(provider, item);
      templates.push_back(TemplateEntry{std::move(t), std::move(*matcher), std::move(item.listed), {}, std::move(pub)});
    }
    merge(r.templates, std::move(templates), r, provider, &Catalog::Fallback::uri_prefix, "resource_templates", template_key,
          refused);
    std::vector<PromptEntry> prompts;
    for (auto& item : catalog.prompts) {
      Prompt pr;
      pr.name = listed_string(item.listed, "name");
      if (pr.name.empty()) continue;
      pr.access = std::move(item.access);
      auto pub = published(provider, item);
      prompts.push_back(PromptEntry{std::move(pr), std::move(item.listed), {}, std::move(pub)});
    }
    merge(r.prompts, std::move(prompts), r, provider, &Catalog::Fallback::prompt_prefix, "prompts", prompt_key, refused);
    changed = {std::get<0>(before) != signature(r.tools, tool_key), std::get<1>(before) != signature(r.resources, resource_key),
               std::get<2>(before) != signature(r.templates, template_key),
               std::get<3>(before) != signature(r.prompts, prompt_key)};
  });
  if (const auto& m = impl_->options.metrics)
    for (const auto& c : refused)
      m->counter("jitgate_publish_conflicts_total",
                 "Published names, URIs and templates refused because another owner has them (the first keeps them)",
                 {{"provider", c.provider}, {"family", c.family}})
          .inc();
  if (impl_->authorizing()) {
    // Per session, and only where what that caller sees moved.
    if (changed[kTools] || changed[kResources] || changed[kTemplates] || changed[kPrompts]) reevaluate_all();
    return refused;
  }
  if (changed[kTools]) notify_tools_changed();
  if (changed[kResources] || changed[kTemplates]) notify_resources_changed();
  if (changed[kPrompts]) notify_prompts_changed();
  return refused;
}

void Server::on_session_closed(std::function<void(const std::string&)> f) { impl_->on_closed = std::move(f); }

void Server::on_client_notification(std::function<void(Session&, const jsonrpc::Notification&)> f) {
  impl_->on_notification = std::move(f);
}

void Server::notify_tools_changed() {
  impl_->broadcast(notification("notifications/tools/list_changed"));
  impl_->notify_listeners("notifications/tools/list_changed", [](const Listener& l) { return l.tools; });
}
void Server::notify_resources_changed() {
  impl_->broadcast(notification("notifications/resources/list_changed"));
  impl_->notify_listeners("notifications/resources/list_changed", [](const Listener& l) { return l.resources; });
}
void Server::notify_prompts_changed() {
  impl_->broadcast(notification("notifications/prompts/list_changed"));
  impl_->notify_listeners("notifications/prompts/list_changed", [](const Listener& l) { return l.prompts; });
}

void Server::notify_resource_updated(const std::string& uri) {
  json::object msg = notification("notifications/resources/updated", json::object{{"uri", uri}});
  auto reg = impl_->snapshot();
  // With a policy, only subscribers that may still read the resource hear about it.
  auto may_read = [&](const std::shared_ptr<const auth::Principal>& who) {
    if (!impl_->authorizing()) return true;
    return impl_->policy->decide(who, resolve_resource(*reg, uri).action("resources/read", uri)).allowed();
  };
  impl_->for_each_session([&](Session& s) {
    bool subscribed = s.with_state([&](Session::State& st) { return st.subscriptions.contains(uri); });
    if (!subscribed || !may_read(s.principal())) return;
    if (auto link = s.link()) link->deliver(msg);
  });
  impl_->notify_listeners(
      "notifications/resources/updated", [&](const Listener& l) { return l.uris.contains(uri) && may_read(l.caller); },
      json::object{{"uri", uri}});
}

void Server::log_to_all(LogLevel level, json::value data, std::string logger) {
  json::object p{{"level", to_string(level)}, {"data", std::move(data)}};
  if (!logger.empty()) p["logger"] = std::move(logger);
  json::object msg = notification("notifications/message", std::move(p));
  impl_->for_each_session([&](Session& s) {
    if (!s.snapshot().initialized || !log_enabled(s, level)) return;
    if (auto link = s.link()) link->deliver(msg);
  });
}

Binding Server::bind_caller(const std::shared_ptr<Session>& session, std::shared_ptr<const auth::Principal> caller) {
  bool anonymous = !caller || caller->anonymous();
  bool changed = false;
  Binding b = session->with_rights([&](Session::Rights& r) {
    if (anonymous) return r.bound.empty() ? Binding::ok : Binding::anonymous_on_bound;
    // The key is issuer "\n" subject; a bound session is compared in place, not rebuilt per request.
    const std::string& iss = caller->issuer;
    const std::string& sub = caller->subject;
    if (r.bound.empty()) {
      r.bound.reserve(iss.size() + 1 + sub.size());
      r.bound.append(iss).append(1, '\n').append(sub);
    } else if (r.bound.size() != iss.size() + 1 + sub.size() || !r.bound.starts_with(iss) || r.bound[iss.size()] != '\n' ||
               !r.bound.ends_with(sub)) {
      return Binding::other_subject;
    }
    auto now = common::epoch_seconds();
    if (caller->expires_at && *caller->expires_at <= now) {
      // Inside the verifier's clock skew but past exp: the expiry timer has taken these rights away
      // (or is about to); the same token must not hand them back, or the lists would flap.
      if (r.principal == caller) {
        r.principal = nullptr;
        changed = true;
      }
      return Binding::ok;
    }
    if (r.principal != caller) {  // the verified-token cache shares one Principal per token
      r.principal = caller;
      changed = true;
    }
    return Binding::ok;
  });
  if (b != Binding::ok && impl_->authorizing()) {
    policy::Decision d;
    d.rule = b == Binding::other_subject ? "session-bound-to-another-subject" : "session-needs-its-token";
    policy::Action a{policy::Kind::method, policy::Phase::invocation, "session", {}, {}, nullptr, nullptr};
    impl_->audit(d, a, caller ? *caller : auth::Principal{}, session.get(), "refused on a bound session");
    if (auto& m = impl_->options.metrics)
      m->counter("jitgate_session_refusals_total", "Requests refused on a session bound to a subject", {{"reason", d.rule}})
          .inc();
  }
  if (changed) impl_->refresh_views(*session);
  return b;
}

std::size_t Server::expire_rights(std::int64_t now) {
  std::vector<std::shared_ptr<Session>> expired;
  for (auto& sh : impl_->shards) {
    std::lock_guard lock(sh.mu);
    for (auto& [id, s] : sh.sessions) {
      bool gone = s->with_rights([&](Session::Rights& r) {
        if (!r.principal || !r.principal->expires_at || *r.principal->expires_at > now) return false;
        r.principal = nullptr;  // still bound to its subject: only a new token of the same subject restores it
        return true;
      });
      if (gone) expired.push_back(s);
    }
  }
  for (auto& s : expired) impl_->refresh_views(*s);
  return expired.size();
}

void Server::reevaluate_all() {
  if (!impl_->authorizing()) return;
  std::lock_guard serial(impl_->reevaluate_mu);  // listeners' views are compared and replaced here only
  impl_->for_each_session([&](Session& s) {
    if (s.with_rights([](Session::Rights& r) { return r.views_known; })) impl_->refresh_views(s);
  });
  for (auto& l : impl_->live_listeners())
    contain(impl_->options.metrics.get(), "mcp.views", [&] {
      auto v = impl_->views(*impl_->prepare(l->caller));
      bool tools = v[kTools] != l->views[kTools], prompts = v[kPrompts] != l->views[kPrompts];
      bool resources = v[kResources] != l->views[kResources] || v[kTemplates] != l->views[kTemplates];
      l->views = v;
      auto tell = [&](std::string_view method) {
        l->out->send(
            json::object{{"jsonrpc", "2.0"},
                         {"method", method},
                         {"params", json::object{{"_meta", json::object{{"io.modelcontextprotocol/subscriptionId", l->id}}}}}});
      };
      if (tools && l->tools) tell("notifications/tools/list_changed");
      if (prompts && l->prompts) tell("notifications/prompts/list_changed");
      if (resources && l->resources) tell("notifications/resources/list_changed");
    });
}

std::shared_ptr<Session> Server::create_session() {
  auto s = std::make_shared<Session>(random_session_id());
  auto& sh = impl_->shard_for(s->id());
  std::lock_guard lock(sh.mu);
  sh.sessions.emplace(s->id(), s);
  return s;
}

std::shared_ptr<Session> Server::find_session(const std::string& id) {
  auto& sh = impl_->shard_for(id);
  std::lock_guard lock(sh.mu);
  auto it = sh.sessions.find(id);
  return it == sh.sessions.end() ? nullptr : it->second;
}

bool Server::close_session(const std::string& id) {
  std::shared_ptr<Session> s;
  {
    auto& sh = impl_->shard_for(id);
    std::lock_guard lock(sh.mu);
    auto it = sh.sessions.find(id);
    if (it == sh.sessions.end()) return false;
    s = std::move(it->second);
    sh.sessions.erase(it);
  }
  s->close();
  if (impl_->on_closed) impl_->on_closed(s->id());
  return true;
}

std::size_t Server::session_count() const {
  std::size_t n = 0;
  for (auto& sh : impl_->shards) {
    std::lock_guard lock(sh.mu);
    n += sh.sessions.size();
  }
  return n;
}

std::size_t Server::expire_idle_sessions(std::chrono::steady_clock::duration idle) {
  auto cutoff = std::chrono::steady_clock::now() - idle;
  std::vector<std::shared_ptr<Session>> expired;
  for (auto& sh : impl_->shards) {
    std::lock_guard lock(sh.mu);
    for (auto it = sh.sessions.begin(); it != sh.sessions.end();) {
      if (it->second->last_active() < cutoff && it->second->calls_in_flight() == 0) {
        expired.push_back(std::move(it->second));
        it = sh.sessions.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& s : expired) {
    s->close();
    if (impl_->on_closed) impl_->on_closed(s->id());
  }
  impl_->live_listeners();  // drops listeners whose stream went away
  return expired.size();
}

void Server::close_all_sessions() {
  close_listeners();
  std::vector<std::shared_ptr<Session>> all;
  for (auto& sh : impl_->shards) {
    std::lock_guard lock(sh.mu);
    for (auto& [id, s] : sh.sessions) all.push_back(std::move(s));
    sh.sessions.clear();
  }
  for (auto& s : all) {
    s->close();
    if (impl_->on_closed) impl_->on_closed(s->id());
  }
}

policy::Inventory Server::inventory() const {
  auto reg = impl_->snapshot();
  policy::Inventory inv;
  for (const auto& t : reg->tools) {
    inv.tools.push_back(t.tool.name);
    inv.tool_schemas.emplace_back(t.tool.name, t.tool.input_schema);  // for the warnings on paths
  }
  for (const auto& r : reg->resources) inv.resources.push_back(r.resource.uri);
  for (const auto& t : reg->templates) inv.resource_templates.push_back(t.tmpl.uri_template);
  for (const auto& p : reg->prompts) inv.prompts.push_back(p.prompt.name);
  return inv;
}

json::object Server::capabilities() const {
  // A family is declared when something of it is registered; listChanged because registrations and
  // (later) authorization can change what a session sees.
  auto reg = impl_->snapshot();
  json::object caps{{"logging", json::object{}}};
  if (!reg->tools.empty()) caps["tools"] = json::object{{"listChanged", true}};
  if (!reg->resources.empty() || !reg->templates.empty())
    caps["resources"] = json::object{{"subscribe", true}, {"listChanged", true}};
  if (!reg->prompts.empty()) caps["prompts"] = json::object{{"listChanged", true}};
  if (!reg->prompts.empty() || !reg->templates.empty()) caps["completions"] = json::object{};
  return caps;
}

// ---------------------------------------------------------------------------------------------
// Dispatch

namespace {

constexpr std::string_view kMetaVersion = "io.modelcontextprotocol/protocolVersion";
constexpr std::string_view kMetaCapabilities = "io.modelcontextprotocol/clientCapabilities";
constexpr std::string_view kMetaClientInfo = "io.modelcontextprotocol/clientInfo";
constexpr std::string_view kMetaLogLevel = "io.modelcontextprotocol/logLevel";

const json::object* meta_of(const json::value& params) {
  const auto* p = params.if_object();
  if (!p) return nullptr;
  const auto* m = p->if_contains("_meta");
  return m ? m->if_object() : nullptr;
}

// The 2026-07-28 envelope members of a _meta object, found in one pass (keys are unique after parsing).
struct EnvelopeFields {
  const json::value* version = nullptr;
  const json::value* capabilities = nullptr;
  const json::value* client_info = nullptr;
  const json::value* log_level = nullptr;
};
EnvelopeFields envelope_fields(const json::object& meta) {
  constexpr std::string_view kPrefix = "io.modelcontextprotocol/";
  static_assert(kMetaVersion.starts_with(kPrefix) && kMetaCapabilities.starts_with(kPrefix) &&
                kMetaClientInfo.starts_with(kPrefix) && kMetaLogLevel.starts_with(kPrefix));
  EnvelopeFields f;
  for (const auto& kv : meta) {
    std::string_view k = kv.key();
    if (!k.starts_with(kPrefix)) continue;
    if (k == kMetaVersion)
      f.version = &kv.value();
    else if (k == kMetaCapabilities)
      f.capabilities = &kv.value();
    else if (k == kMetaClientInfo)
      f.client_info = &kv.value();
    else if (k == kMetaLogLevel)
      f.log_level = &kv.value();
  }
  return f;
}

void reply_error(Outbound& out, const jsonrpc::Id& id, std::int32_t code, std::string message,
                 std::optional<json::value> data = std::nullopt) {
  out.complete(jsonrpc::error_response(id, jsonrpc::Error{code, std::move(message), std::move(data)}));
}

template <typename Entries>
json::value list_page(const Entries& entries, std::string_view family, std::string_view key, const json::object& p,
                      std::size_t page_size, const CursorSealer& cursors) {
  std::size_t offset = 0;
  if (const auto* c = p.if_contains("cursor")) {
    if (!c->is_string())
      throw ProtocolError(static_cast<std::int32_t>(ErrorCode::invalid_params), "Invalid params: cursor must be a string");
    auto o = cursors.open(family, {}, c->get_string());
    if (!o || *o > entries.size())
      throw ProtocolError(static_cast<std::int32_t>(ErrorCode::invalid_params), "Invalid params: unknown cursor");
    offset = *o;
  }
  json::array items;
  std::size_t end = std::min(entries.size(), offset + page_size);
  items.reserve(end - offset);
  for (std::size_t i = offset; i < end; ++i) items.push_back(entries[i].listed);
  // Room for nextCursor and the keys a 2026-07-28 result gets (resultType, ttlMs, cacheScope, _meta),
  // so that decorating the page does not reallocate and rehash it.
  json::object result;
  result.reserve(6);
  result.emplace(key, std::move(items));
  if (end < entries.size()) result.emplace("nextCursor", cursors.seal(family, {}, end));
  return result;
}

// A list page as one caller may see it: entries are decided one by one (discovery), the cursor is an
// offset into the whole list bound to the caller's rights, and a page ends where the next visible
// entry is found, so a last page never hints at entries the caller cannot see.
template <typename Entries>
json::value filtered_page(const Entries& entries, std::string_view family, std::string_view key, const json::object& p,
                          std::size_t page_size, const Server::Impl& impl, const policy::PolicyEngine::Caller& who,
                          const Session* session, std::string_view method) {
  std::string binding = rights_binding(*impl.policy, who.principal());
  std::size_t offset = 0;
  if (const auto* c = p.if_contains("cursor")) {
    if (!c->is_string())
      throw ProtocolError(static_cast<std::int32_t>(ErrorCode::invalid_params), "Invalid params: cursor must be a string");
    auto o = impl.cursors.open(family, binding, c->get_string());
    if (!o || *o > entries.size())
      throw ProtocolError(static_cast<std::int32_t>(ErrorCode::invalid_params),
                          "Invalid params: unknown cursor (cursors are bound to the rights they were issued for)");
    offset = *o;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto mode = impl.policy->locked();
  bool tools = std::is_same_v<typename Entries::value_type, ToolEntry>;
  json::array items;
  items.reserve(std::min(page_size, entries.size() - offset));
  std::size_t i = offset, hidden = 0, next = entries.size();
  for (; i < entries.size(); ++i) {
    auto a = discovery_action(entries[i]);
    a.explain = mode == policy::Locked::advertise;  // hidden entries need no scope hint
    auto d = impl.policy->decide(who, a);
    bool show = d.listed(), locked = !show && advertisable(d, mode);
    if (!show && !locked) {
      ++hidden;
      continue;
    }
    if (items.size() == page_size) {
      next = i;
      break;
    }
    items.push_back(show ? json::value(entries[i].listed) : json::value(advertised(entries[i].listed, d, tools)));
  }
  json::object result;
  result.reserve(6);
  result.emplace(key, std::move(items));
  if (next < entries.size()) result.emplace("nextCursor", impl.cursors.seal(family, binding, next));
  if (auto& m = impl.options.metrics)
    m->histogram("jitgate_list_filter_seconds", "Time to filter one list page", observe::latency_buckets_seconds(),
                 {{"family", family}})
        .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  policy::Decision summary;
  summary.outcome = policy::Outcome::allow;
  summary.rule = "list";
  policy::Action a{policy::Kind::method, policy::Phase::discovery, method, {}, {}, nullptr, nullptr};
  impl.audit(summary, a, who.principal(), session, {}, result.at(key).as_array().size(), hidden);
  return result;
}

bool cacheable(std::string_view method) {
  return method == "server/discover" || method == "tools/list" || method == "prompts/list" || method == "resources/list" ||
         method == "resources/templates/list" || method == "resources/read";
}

// 2026-07-28 results carry resultType, the server's identity in _meta and, for discover, lists and
// reads, caching hints; a missing resource is -32602 there. One decorator keeps the handlers shared.
class StatelessOutbound : public Outbound {
 public:
  // `per_caller`: the answer depends on the credential (a policy filters lists and guards reads), so
  // caches must key it by authorization context: cacheScope "private".
  // `tail`: the decoration below, pre-serialized for these arguments (stateless_result_tail), spliced
  // in by transports that can (Outbound::complete_with_result_tail); empty: always decorate.
  StatelessOutbound(std::shared_ptr<Outbound> inner, bool cacheable, const json::object& server_info, std::int64_t ttl_ms,
                    bool per_caller = false, std::string_view tail = {})
      : inner_(std::move(inner)),
        cacheable_(cacheable),
        per_caller_(per_caller),
        server_info_(server_info),
        ttl_ms_(ttl_ms),
        tail_(tail) {}

  void send(json::object message) override { inner_->send(std::move(message)); }

  void complete(std::optional<json::object> response) override {
    if (response) {
      if (auto* r = response->if_contains("result"); r && r->is_object()) {
        auto& result = r->get_object();
        // The handler set none of the keys below: they are constant, so the transport splices
        // their serialized text in instead (same members, same order as the decoration).
        if (!tail_.empty() && !sets_decoration(result) && inner_->complete_with_result_tail(*response, tail_)) return;
        result.reserve(result.size() + 4);  // one growth for the keys added below
        const json::value* type = result.if_contains("resultType");
        bool complete = !type || *type == "complete";
        if (!type) result.emplace("resultType", "complete");
        if (cacheable_ && complete) {
          result.emplace("ttlMs", ttl_ms_);  // emplace keeps a value the handler set
          result.emplace("cacheScope", per_caller_ ? "private" : "public");
        }
        // One lookup for _meta; a new one is built whole and moved in (same storage: no copy).
        if (json::value* meta = result.if_contains("_meta"); meta && meta->is_object())
          meta->get_object().emplace(kServerInfoKey, server_info_);
        else if (meta)
          *meta = json::object{{kServerInfoKey, server_info_}};
        else
          result.emplace("_meta", json::object{{kServerInfoKey, server_info_}});
      } else if (auto* e = response->if_contains("error"); e && e->is_object()) {
        auto& code = e->get_object()["code"];
        if (code == kResourceNotFound) code = static_cast<std::int32_t>(ErrorCode::invalid_params);
      }
    }
    inner_->complete(std::move(response));
  }

  bool close_stream(std::chrono::milliseconds retry) override { return inner_->close_stream(retry); }
  void refuse(const jsonrpc::Id& id, auth::Remedy remedy, std::span<const std::string> scopes) override {
    inner_->refuse(id, remedy, scopes);
  }

  // A forwarded result as text: the decoration is spliced in as text too, unless the text may set
  // one of its members (any mention of their names: then it is decorated as a tree).
  void complete_result_text(const jsonrpc::Id& id, std::string_view result, std::string_view tail) override {
    bool mentions =
        result.find("\"resultType\"") != std::string_view::npos || result.find("\"_meta\"") != std::string_view::npos ||
        (cacheable_ &&
         (result.find("\"ttlMs\"") != std::string_view::npos || result.find("\"cacheScope\"") != std::string_view::npos));
    if (!tail.empty() || tail_.empty() || mentions) return Outbound::complete_result_text(id, result, tail);
    inner_->complete_result_text(id, result, tail_);
  }

 private:
  // Whether the handler set any member the decoration would add (one pass over a small object).
  bool sets_decoration(const json::object& result) const {
    for (const auto& kv : result) {
      std::string_view k = kv.key();
      if (k == "resultType" || k == "_meta" || (cacheable_ && (k == "ttlMs" || k == "cacheScope"))) return true;
    }
    return false;
  }

  static constexpr std::string_view kServerInfoKey = "io.modelcontextprotocol/serverInfo";
  std::shared_ptr<Outbound> inner_;
  bool cacheable_;
  bool per_caller_;
  const json::object& server_info_;  // owned by the server, which outlives every request
  std::int64_t ttl_ms_;
  std::string_view tail_;  // owned by the server too
};

// What an input-required round needs: the answers so far and what they are bound to.
struct Mrtr {
  bool allowed = false;
  std::string binding;
  json::object answers;
};

}  // namespace

bool Server::has_envelope(const json::value& params) {
  const auto* meta = meta_of(params);
  return meta && meta->contains(kMetaVersion);
}

std::optional<jsonrpc::Error> Server::check_envelope(const json::value& params,
                                                     std::optional<std::string_view> header_version) const {
  auto invalid = [](std::string msg) {
    return jsonrpc::Error{static_cast<std::int32_t>(ErrorCode::invalid_params), "Invalid params: " + msg, std::nullopt};
  };
  const auto* meta = meta_of(params);
  if (!meta) return invalid("_meta with the protocol version and client capabilities is required");
  const auto f = envelope_fields(*meta);
  const auto* version = f.version;
  if (!version || !version->is_string()) return invalid("_meta." + std::string(kMetaVersion) + " must be a string");
  if (!f.capabilities || !f.capabilities->is_object())
    return invalid("_meta." + std::string(kMetaCapabilities) + " must be an object");
  if (f.client_info && !f.client_info->is_object())
    return invalid("_meta." + std::string(kMetaClientInfo) + " must be an object");
  if (const auto* level = f.log_level; level && !(level->is_string() && parse_log_level(level->get_string())))
    return invalid("_meta." + std::string(kMetaLogLevel) + " must be a logging level");
  if (header_version && *header_version != version->get_string())
    return jsonrpc::Error{-32020, "Header mismatch: MCP-Protocol-Version does not match _meta protocolVersion", std::nullopt};
  if (!is_stateless_revision(version->get_string())) {
    // Inside an envelope only the stateless revisions can be offered; session revisions start with initialize.
    json::array supported;
    for (auto v : all_revisions())
      if (is_stateless_revision(v)) supported.push_back(json::string(v));
    return jsonrpc::Error{-32022, "Unsupported protocol version",
                          json::object{{"supported", std::move(supported)}, {"requested", *version}}};
  }
  return std::nullopt;
}

bool Server::stateless_method_available(std::string_view m) const {
  auto reg = impl_->snapshot();
  if (m == "server/discover" || m == "subscriptions/listen") return true;
  if (m == "tools/list" || m == "tools/call") return !reg->tools.empty();
  if (m == "prompts/list" || m == "prompts/get") return !reg->prompts.empty();
  if (m == "resources/list" || m == "resources/templates/list" || m == "resources/read")
    return !reg->resources.empty() || !reg->templates.empty();
  if (m == "completion/complete") return !reg->prompts.empty() || !reg->templates.empty();
  return false;
}

void Server::close_listeners() {
  std::vector<std::shared_ptr<Listener>> all;
  {
    std::lock_guard lock(impl_->listeners_mu);
    all.swap(impl_->listeners);
  }
  for (auto& l : all)
    l->out->complete(jsonrpc::result_response(
        l->id,
        json::object{{"resultType", "complete"}, {"_meta", json::object{{"io.modelcontextprotocol/subscriptionId", l->id}}}}));
}

std::size_t Server::listener_count() const { return impl_->live_listeners().size(); }

// Runs `work` on the blocking pool, keeps the call cancellable, and completes `out` with its result.
// A request that runs past the dispatcher: registered as in flight (so it can be cancelled) with
// its context. Nullopt, the client already answered, when its id is in use by another request.
struct InFlight {
  std::string key;
  std::shared_ptr<RequestContext> ctx;
};
static std::optional<InFlight> begin_request(Server& server, const std::shared_ptr<Session>& session, const jsonrpc::Request& req,
                                             const std::shared_ptr<Outbound>& out, Envelope env, json::object answers = {}) {
  std::string key = jsonrpc::id_key(req.id);
  std::stop_source stop;
  if (!session->begin_call(key, stop)) {
    reply_error(*out, req.id, static_cast<std::int32_t>(ErrorCode::invalid_request),
                "Invalid Request: id is already in use by a request in progress");
    return std::nullopt;
  }
  json::value progress_token = nullptr;
  if (const auto* m = meta_of(req.params))
    if (const auto* t = m->if_contains("progressToken")) progress_token = *t;
  auto ctx = std::make_shared<RequestContext>(server, session, req.id, std::move(progress_token), stop.get_token(), out,
                                              std::move(env), std::move(answers));
  return InFlight{std::move(key), std::move(ctx)};
}

static void run_blocking(Server& server, Server::Impl& impl, const std::shared_ptr<Session>& session, jsonrpc::Request req,
                         std::shared_ptr<Outbound> out, Envelope env, Mrtr mrtr,
                         std::function<json::value(RequestContext&)> work) {
  auto started = begin_request(server, session, req, out, std::move(env), mrtr.answers);
  if (!started) return;
  auto [key, ctx] = std::move(*started);
  if (impl.queued.fetch_add(1) >= impl.options.max_queued_calls) {
    impl.queued.fetch_sub(1);
    session->end_call(key);
    reply_error(*out, req.id, static_cast<std::int32_t>(ErrorCode::internal_error), "Server busy: too many calls queued");
    return;
  }
  boost::asio::post(
      impl.pool, [&impl, session, key, ctx, out, id = req.id, mrtr = std::move(mrtr), work = std::move(work)]() mutable {
        impl.queued.fetch_sub(1);
        std::optional<json::object> response;
        try {
          if (!ctx->cancelled()) response = jsonrpc::result_response(id, work(*ctx));
        } catch (const InputRequired& need) {
          if (mrtr.allowed) {
            response = jsonrpc::result_response(id, json::object{{"resultType", "input_required"},
                                                                 {"inputRequests", need.input_requests},
                                                                 {"requestState", impl.sealer.seal(mrtr.binding, mrtr.answers)}});
          } else {
            response =
                jsonrpc::error_response(id, jsonrpc::Error{static_cast<std::int32_t>(ErrorCode::internal_error),
                                                           "Internal error: input requests are not allowed here", std::nullopt});
          }
        } catch (const ProtocolError& e) {
          response = jsonrpc::error_response(id, jsonrpc::Error{e.code(), e.what(), e.data()});
        } catch (const std::exception& e) {
          response = jsonrpc::error_response(id, jsonrpc::Error{static_cast<std::int32_t>(ErrorCode::internal_error),
                                                                std::string("Internal error: ") + e.what(), std::nullopt});
        } catch (...) {
          observe::count_contained(impl.options.metrics.get(), "mcp.handler", "an exception of unknown type");
          response = jsonrpc::error_response(
              id, jsonrpc::Error{static_cast<std::int32_t>(ErrorCode::internal_error), "Internal error", std::nullopt});
        }
        session->end_call(key);
        out->complete(ctx->cancelled() ? std::nullopt : std::move(response));
      });
}

// Hands a request to a published entry's forwarder, keeps it cancellable, and completes `out` with
// what comes back. `then` runs before completing when the answer is a result.
// The forwarder gets the request's params (moved out of `req` once its context is taken).
static void run_forward(Server& server, const std::shared_ptr<Session>& session, jsonrpc::Request& req,
                        std::shared_ptr<Outbound> out, Envelope env, const Forwarder& forward, std::function<void()> then = {}) {
  auto started = begin_request(server, session, req, out, std::move(env));
  if (!started) return;
  json::object params = req.params.is_object() ? std::move(req.params.get_object()) : json::object{};
  auto [key, ctx] = std::move(*started);
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto done = [session, key, ctx, out, once, id = req.id, then = std::move(then)](ForwardReply r) {
    if (once->exchange(true)) return;
    session->end_call(key);
    if (ctx->cancelled()) return out->complete(std::nullopt);
    if (!r.result_text.empty()) {
      if (then) then();
      return out->complete_result_text(id, r.result_text);
    }
    if (r.result) {
      if (then) then();
      return out->complete(jsonrpc::result_response(id, std::move(*r.result)));
    }
    out->complete(
        jsonrpc::error_response(id, r.error.value_or(jsonrpc::Error{static_cast<std::int32_t>(ErrorCode::internal_error),
                                                                    "Internal error: no answer", std::nullopt})));
  };
  try {
    forward(req.method, std::move(params), ctx, done);
  } catch (const ProtocolError& e) {
    done(ForwardReply{std::nullopt, jsonrpc::Error{e.code(), e.what(), e.data()}});
  } catch (const std::exception& e) {
    done(ForwardReply{std::nullopt, jsonrpc::Error{static_cast<std::int32_t>(ErrorCode::internal_error),
                                                   std::string("Internal error: ") + e.what(), std::nullopt}});
  } catch (...) {
    observe::count_contained(server.options().metrics.get(), "mcp.forward", "an exception of unknown type");
    done(ForwardReply{std::nullopt,
                      jsonrpc::Error{static_cast<std::int32_t>(ErrorCode::internal_error), "Internal error", std::nullopt}});
  }
}

// The one place a request's unexpected exception stops: that request fails with an internal
// error, the process and every other request go on, and the metric counts it.
void Server::handle(const std::shared_ptr<Session>& session, jsonrpc::Message message, std::shared_ptr<Outbound> out,
                    std::shared_ptr<const auth::Principal> caller) {
  std::string what;
  try {
    return dispatch(session, message, out, std::move(caller));
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "an exception of unknown type";
  }
  observe::count_contained(impl_->options.metrics.get(), "mcp.request", what);
  if (auto* r = std::get_if<jsonrpc::Request>(&message); r && out)
    reply_error(*out, r->id, static_cast<std::int32_t>(ErrorCode::internal_error), "Internal error");
}

void Server::dispatch(const std::shared_ptr<Session>& session, jsonrpc::Message& message, std::shared_ptr<Outbound> out,
                      std::shared_ptr<const auth::Principal> caller) {
  session->touch();
  auto& impl = *impl_;

  if (auto* n = std::get_if<jsonrpc::Notification>(&message)) {
    const auto& p = params_object(n->params);
    if (n->method == "notifications/initialized") {
      session->with_state([](Session::State& st) { st.initialized = true; });
    } else if (n->method == "notifications/cancelled") {
      if (const auto* id = p.if_contains("requestId"); id && jsonrpc::valid_id(*id)) session->cancel_call(jsonrpc::id_key(*id));
    } else if (impl.on_notification) {
      impl.on_notification(*session, *n);
    }
    return;
  }
  if (auto* r = std::get_if<jsonrpc::Response>(&message)) {
    if (!r->id.is_string()) return;
    ClientReply reply{r->result, r->error};
    session->resolve_outgoing(std::string(r->id.get_string()), std::move(reply));
    return;
  }

  auto& req = std::get<jsonrpc::Request>(message);
  const std::string& m = req.method;
  const json::object& p = params_object(req.params);
  auto invalid_params = [&](std::string msg) {
    reply_error(*out, req.id, static_cast<std::int32_t>(ErrorCode::invalid_params), "Invalid params: " + msg);
  };
  auto method_not_found = [&] {
    reply_error(*out, req.id, static_cast<std::int32_t>(ErrorCode::method_not_found), "Method not found: " + m);
  };
  if (!req.params.is_null() && !req.params.is_object()) return invalid_params("params must be an object");

  // The era is chosen per request: a 2026-07-28 envelope, or the session's negotiated revision.
  Envelope env;
  const json::object* envelope = meta_of(req.params);
  if (EnvelopeFields ef = envelope ? envelope_fields(*envelope) : EnvelopeFields{}; ef.version) {  // has_envelope
    // The HTTP transport has checked the envelope (against its header too) and the method already;
    // everything else (stdio) is checked here.
    const bool checked = session->envelope_checked();
    if (!checked)
      if (auto err = check_envelope(req.params, std::nullopt))
        return reply_error(*out, req.id, err->code, err->message, err->data);
    env.protocol_version = std::string(ef.version->get_string());
    env.stateless = true;
    env.client_capabilities = ef.capabilities->get_object();
    env.logging = ef.log_level != nullptr;
    if (ef.log_level) env.log_level = parse_log_level(ef.log_level->get_string());
    if (!checked && !stateless_method_available(m)) return method_not_found();
    const bool cache = cacheable(m), per_caller = impl.authorizing() && m != "server/discover";
    out = std::make_shared<StatelessOutbound>(std::move(out), cache, impl.server_info,
                                              static_cast<std::int64_t>(impl.options.cache_ttl.count()), per_caller,
                                              impl.stateless_tails[cache ? (per_caller ? 2 : 1) : 0]);
  } else {
    if (m == "server/discover" || m == "subscriptions/listen") return method_not_found();
    auto st = session->snapshot();
    env.protocol_version = st.protocol_version;
    env.client_capabilities = st.client_capabilities;
    env.log_level = st.log_level;
  }

  // Just-in-time authorization: every request is decided before it runs. In a session the caller is
  // the one bound to it (the transport presents each request's token first).
  // In a session the rights are the session's: the transport has just bound the request's token to
  // it, and a token past its expiry (still inside the verifier's clock skew) grants nothing.
  if (!env.stateless) caller = session->principal();
  std::unique_ptr<policy::PolicyEngine::Caller> who;
  if (impl.authorizing()) who = impl.prepare(caller);
  const Session* audited_session = env.stateless ? nullptr : session.get();
  // True when allowed; otherwise the request is refused (before anything was sent for it).
  // What a target that does not exist gets; a primitive hidden from this caller answers the same.
  auto reply_unknown = [&](const policy::Action& a) {
    std::string target(a.name);
    if (m == "resources/read" || m == "resources/subscribe" || m == "resources/unsubscribe")
      return reply_error(*out, req.id, kResourceNotFound, "Resource not found", json::object{{"uri", target}});
    if (a.kind == policy::Kind::tool) return invalid_params("unknown tool '" + target + "'");
    if (a.kind == policy::Kind::prompt) return invalid_params("unknown prompt '" + target + "'");
    invalid_params("unknown resource template '" + target + "'");
  };
  auto allowed = [&](const policy::Action& a) {
    if (!who) return true;
    policy::Decision d = impl.decide(*who, a, audited_session);
    if (d.listed() && (d.allowed() || a.phase == policy::Phase::discovery)) return true;
    if (impl.hidden(*who, a, d)) {
      reply_unknown(a);
      return false;
    }
    impl.count_challenge(*who, d);
    out->refuse(req.id, d.remedy, d.scopes);
    return false;
  };
  static const std::set<std::string, std::less<>> kPrimitiveMethods{
      "tools/call", "resources/read", "resources/subscribe", "resources/unsubscribe", "prompts/get", "completion/complete"};
  if (who && !kPrimitiveMethods.contains(m)) {
    policy::Action a{policy::Kind::method, policy::Phase::invocation, m, m, {}, nullptr, nullptr};
    if (!allowed(a)) return;
  }

  // Arguments of an input-required retry (2026-07-28): earlier answers sealed in requestState plus new ones.
  auto mrtr_for = [&](std::string_view name, const json::value& args) -> std::optional<Mrtr> {
    Mrtr r;
    if (!env.stateless) return r;
    r.allowed = true;
    r.binding = m + "\n" + std::string(name) + "\n" + json::serialize(args);
    if (const auto* rs = p.if_contains("requestState")) {
      auto opened = rs->is_string() ? impl.sealer.open(r.binding, rs->get_string()) : std::nullopt;
      if (!opened) {
        invalid_params("requestState is invalid, expired or belongs to another request");
        return std::nullopt;
      }
      r.answers = std::move(*opened);
    }
    if (const auto* ir = p.if_contains("inputResponses"); ir && ir->is_object())
      for (const auto& [k, v] : ir->get_object()) r.answers[k] = v;
    return r;
  };

  try {
    if (m == "initialize") {
      const auto* ver = p.if_contains("protocolVersion");
      if (!ver || !ver->is_string()) return invalid_params("protocolVersion must be a string");
      const auto* caps = p.if_contains("capabilities");
      if (caps && !caps->is_object()) return invalid_params("capabilities must be an object");
      const auto* info = p.if_contains("clientInfo");
      if (info && !info->is_object()) return invalid_params("clientInfo must be an object");
      std::string version = negotiate_revision(ver->get_string());
      bool again = session->with_state([&](Session::State& st) {
        if (!st.protocol_version.empty()) return true;
        st.protocol_version = version;
        if (caps) st.client_capabilities = caps->get_object();
        if (info) st.client_info = info->get_object();
        return false;
      });
      if (again)
        return reply_error(*out, req.id, static_cast<std::int32_t>(ErrorCode::invalid_request),
                           "Invalid Request: the session is already initialized");
      json::object server_info{{"name", impl.options.info.name}, {"version", impl.options.info.version}};
      if (!impl.options.info.title.empty()) server_info["title"] = impl.options.info.title;
      json::object result{{"protocolVersion", version}, {"capabilities", capabilities()}, {"serverInfo", server_info}};
      if (!impl.options.instructions.empty()) result["instructions"] = impl.options.instructions;
      if (impl.authorizing() && !session->with_rights([](Session::Rights& r) { return r.views_known; }))
        impl.refresh_views(*session);
      return out->complete(jsonrpc::result_response(req.id, std::move(result)));
    }
    if (m == "ping") return out->complete(jsonrpc::result_response(req.id, json::object{}));

    if (!env.stateless && env.protocol_version.empty())
      return reply_error(*out, req.id, static_cast<std::int32_t>(ErrorCode::invalid_request),
                         "Invalid Request: initialize must come first");

    auto reg = impl.snapshot();
    std::size_t page = impl.options.page_size;

    if (m == "server/discover") {
      json::array versions;
      for (auto v : all_revisions()) versions.push_back(json::string(v));
      json::object result{{"supportedVersions", std::move(versions)}, {"capabilities", capabilities()}};
      if (!impl.options.instructions.empty()) result["instructions"] = impl.options.instructions;
      return out->complete(jsonrpc::result_response(req.id, std::move(result)));
    }

    if (m == "subscriptions/listen") {
      const auto* n = p.if_contains("notifications");
      if (!n || !n->is_object()) return invalid_params("notifications must be an object");
      const auto& filter = n->get_object();
      auto wants = [&](std::string_view k) {
        const auto* v = filter.if_contains(k);
        return v && v->is_bool() && v->get_bool();
      };
      auto l = std::make_shared<Listener>();
      l->id = req.id;
      json::object honored;
      bool has_resources = !reg->resources.empty() || !reg->templates.empty();
      if (wants("toolsListChanged") && !reg->tools.empty()) honored["toolsListChanged"] = l->tools = true;
      if (wants("promptsListChanged") && !reg->prompts.empty()) honored["promptsListChanged"] = l->prompts = true;
      if (wants("resourcesListChanged") && has_resources) honored["resourcesListChanged"] = l->resources = true;
      if (const auto* rs = filter.if_contains("resourceSubscriptions")) {
        if (!rs->is_array()) return invalid_params("resourceSubscriptions must be an array of URIs");
        json::array uris;
        for (const auto& u : rs->get_array()) {
          if (!u.is_string()) return invalid_params("resourceSubscriptions must be an array of URIs");
          if (has_resources) {
            l->uris.insert(std::string(u.get_string()));
            uris.push_back(u);
          }
        }
        if (has_resources) honored["resourceSubscriptions"] = std::move(uris);
      }
      std::string key = jsonrpc::id_key(req.id);
      std::stop_source stop;
      if (!session->begin_call(key, stop))
        return reply_error(*out, req.id, static_cast<std::int32_t>(ErrorCode::invalid_request),
                           "Invalid Request: id is already in use by a request in progress");
      if (impl.live_listeners().size() >= impl.options.max_listeners) {
        session->end_call(key);
        return reply_error(*out, req.id, static_cast<std::int32_t>(ErrorCode::internal_error), "Too many open subscriptions");
      }
      l->stop = stop.get_token();
      l->holder = session;
      l->out = out;
      l->caller = caller;
      if (who) l->views = impl.views(*who);
      // The acknowledgement is the first message of the stream; only then can notifications follow.
      out->send(
          json::object{{"jsonrpc", "2.0"},
                       {"method", "notifications/subscriptions/acknowledged"},
                       {"params", json::object{{"notifications", std::move(honored)},
                                               {"_meta", json::object{{"io.modelcontextprotocol/subscriptionId", req.id}}}}}});
      std::lock_guard lock(impl.listeners_mu);
      impl.listeners.push_back(std::move(l));
      return;
    }

    if (who) {
      if (m == "tools/list")
        return out->complete(jsonrpc::result_response(
            req.id, filtered_page(reg->tools, "tools", "tools", p, page, impl, *who, audited_session, m)));
      if (m == "resources/list")
        return out->complete(jsonrpc::result_response(
            req.id, filtered_page(reg->resources, "resources", "resources", p, page, impl, *who, audited_session, m)));
      if (m == "resources/templates/list")
        return out->complete(jsonrpc::result_response(
            req.id, filtered_page(reg->templates, "templates", "resourceTemplates", p, page, impl, *who, audited_session, m)));
      if (m == "prompts/list")
        return out->complete(jsonrpc::result_response(
            req.id, filtered_page(reg->prompts, "prompts", "prompts", p, page, impl, *who, audited_session, m)));
    }
    if (m == "tools/list")
      return out->complete(jsonrpc::result_response(req.id, list_page(reg->tools, "tools", "tools", p, page, impl.cursors)));
    if (m == "resources/list")
      return out->complete(
          jsonrpc::result_response(req.id, list_page(reg->resources, "resources", "resources", p, page, impl.cursors)));
    if (m == "resources/templates/list")
      return out->complete(
          jsonrpc::result_response(req.id, list_page(reg->templates, "templates", "resourceTemplates", p, page, impl.cursors)));
    if (m == "prompts/list")
      return out->complete(
          jsonrpc::result_response(req.id, list_page(reg->prompts, "prompts", "prompts", p, page, impl.cursors)));

    if (m == "logging/setLevel") {
      const auto* lv = p.if_contains("level");
      std::optional<LogLevel> level = lv && lv->is_string() ? parse_log_level(lv->get_string()) : std::nullopt;
      if (!level) return invalid_params("level must be one of debug, info, notice, warning, error, critical, alert, emergency");
      session->with_state([&](Session::State& st) { st.log_level = level; });
      return out->complete(jsonrpc::result_response(req.id, json::object{}));
    }

    if (m == "resources/subscribe" || m == "resources/unsubscribe") {
      std::string uri = required_string(p, "uri");
      auto target = resolve_resource(*reg, uri);
      if (!target.found()) {
        const Forwarder* fb = reg->fallback(uri, &Catalog::Fallback::uri_prefix, &Catalog::Fallback::resource);
        if (!fb) return reply_error(*out, req.id, kResourceNotFound, "Resource not found", json::object{{"uri", uri}});
        if (!allowed(target.action(m, uri))) return;
        auto record = [session, uri, subscribe = m == "resources/subscribe"] {
          session->with_state([&](Session::State& st) {
            if (subscribe)
              st.subscriptions.insert(uri);
            else
              st.subscriptions.erase(uri);
          });
        };
        return run_forward(*this, session, req, std::move(out), std::move(env), *fb, record);
      }
      if (!allowed(target.action(m, uri))) return;
      auto record = [session, uri, subscribe = m == "resources/subscribe"] {
        session->with_state([&](Session::State& st) {
          if (subscribe)
            st.subscriptions.insert(uri);
          else
            st.subscriptions.erase(uri);
        });
      };
      const Published& pub = target.direct ? target.direct->pub : target.via->pub;
      if (pub.subscribe) return run_forward(*this, session, req, std::move(out), std::move(env), pub.subscribe, record);
      record();
      return out->complete(jsonrpc::result_response(req.id, json::object{}));
    }

    if (m == "tools/call") {
      std::string name = required_string(p, "name");
      auto it = reg->tool_index.find(name);
      // The arguments stay in the request (a forwarded call sends them on as they are); a local
      // handler gets them moved out of it.
      static const json::object kNoArguments;
      json::object* given = nullptr;
      if (auto* a = req.params.get_object().if_contains("arguments")) {  // params is an object: `p` found "name"
        if (!a->is_object() && !a->is_null()) return invalid_params("arguments must be an object");
        if (a->is_object()) given = &a->get_object();
      }
      const json::object* seen = given ? given : &kNoArguments;
      if (it == reg->tool_index.end()) {
        const Forwarder* fb = reg->fallback(name, &Catalog::Fallback::tool_prefix, &Catalog::Fallback::tool);
        if (!fb) return invalid_params("unknown tool '" + name + "'");
        if (!allowed({policy::Kind::tool, policy::Phase::invocation, m, name, {}, seen, nullptr})) return;
        return run_forward(*this, session, req, std::move(out), std::move(env), *fb);
      }
      const ToolEntry& entry = reg->tools[it->second];
      if (!allowed({policy::Kind::tool, policy::Phase::invocation, m, name, {}, seen, &entry.tool.access})) return;
      // A published tool's own server checks its arguments and answers as it would directly.
      if (entry.pub.forward) return run_forward(*this, session, req, std::move(out), std::move(env), entry.pub.forward);
      json::object args = given ? std::move(*given) : json::object{};
      if (auto problem = check_arguments(entry.tool.input_schema, args))
        return out->complete(
            jsonrpc::result_response(req.id, tool_result_json(ToolResult::error("Invalid arguments: " + *problem))));
      if (entry.async) {
        auto started = begin_request(*this, session, req, out, std::move(env));
        if (!started) return;
        auto [key, ctx] = std::move(*started);
        auto once = std::make_shared<std::atomic<bool>>(false);
        auto done = [session, key, ctx, out, once, id = req.id](ToolResult r) {
          if (once->exchange(true)) return;
          session->end_call(key);
          out->complete(ctx->cancelled() ? std::nullopt
                                         : std::optional<json::object>(jsonrpc::result_response(id, tool_result_json(r))));
        };
        try {
          entry.async(args, ctx, done);
        } catch (const std::exception& e) {
          // A handler that throws still ends its call, once, as a failed tool.
          observe::count_contained(impl.options.metrics.get(), "mcp.handler", e.what());
          done(ToolResult::error("Internal error"));
        } catch (...) {
          observe::count_contained(impl.options.metrics.get(), "mcp.handler", "an exception of unknown type");
          done(ToolResult::error("Internal error"));
        }
        return;
      }
      auto mrtr = mrtr_for(name, args);
      if (!mrtr) return;
      ToolHandler h = entry.sync;
      return run_blocking(*this, impl, session, std::move(req), std::move(out), std::move(env), std::move(*mrtr),
                          [h, args = std::move(args)](RequestContext& ctx) -> json::value {
                            try {
                              return tool_result_json(h(args, ctx));
                            } catch (const ProtocolError&) {
                              throw;
                            } catch (const std::exception& e) {
                              // A failing tool is a tool execution error the model can see, not a protocol error.
                              return tool_result_json(ToolResult::error(e.what()));
                            }
                          });
    }

    if (m == "resources/read") {
      std::string uri = required_string(p, "uri");
      if (auto target = resolve_resource(*reg, uri); !target.found()) {
        if (const Forwarder* fb = reg->fallback(uri, &Catalog::Fallback::uri_prefix, &Catalog::Fallback::resource)) {
          if (who && !allowed(target.action(m, uri))) return;
          return run_forward(*this, session, req, std::move(out), std::move(env), *fb);
        }
      }
      if (who) {
        auto target = resolve_resource(*reg, uri);
        if (!target.found())
          return reply_error(*out, req.id, kResourceNotFound, "Resource not found", json::object{{"uri", uri}});
        if (!allowed(target.action(m, uri))) return;
      }
      if (auto target = resolve_resource(*reg, uri); target.found()) {
        const Published& pub = target.direct ? target.direct->pub : target.via->pub;
        if (pub.forward) return run_forward(*this, session, req, std::move(out), std::move(env), pub.forward);
      }
      auto mrtr = mrtr_for(uri, nullptr);
      if (!mrtr) return;
      if (auto it = reg->resource_index.find(uri); it != reg->resource_index.end()) {
        ResourceReader reader = reg->resources[it->second].reader;
        return run_blocking(*this, impl, session, std::move(req), std::move(out), std::move(env), std::move(*mrtr),
                            [reader, uri](RequestContext& ctx) {
                              json::array contents;
                              for (const auto& c : reader(uri, ctx)) contents.push_back(c.to_json());
                              return json::value(json::object{{"contents", std::move(contents)}});
                            });
      }
      for (const auto& t : reg->templates) {
        auto vars = t.matcher.match(uri);
        if (!vars) continue;
        TemplateReader reader = t.reader;
        return run_blocking(*this, impl, session, std::move(req), std::move(out), std::move(env), std::move(*mrtr),
                            [reader, uri, vars = std::move(*vars)](RequestContext& ctx) {
                              auto got = reader(uri, vars, ctx);
                              if (!got) throw ProtocolError(kResourceNotFound, "Resource not found", json::object{{"uri", uri}});
                              json::array contents;
                              for (const auto& c : *got) contents.push_back(c.to_json());
                              return json::value(json::object{{"contents", std::move(contents)}});
                            });
      }
      return reply_error(*out, req.id, kResourceNotFound, "Resource not found", json::object{{"uri", uri}});
    }

    if (m == "prompts/get") {
      std::string name = required_string(p, "name");
      auto it = reg->prompt_index.find(name);
      if (it == reg->prompt_index.end()) {
        const Forwarder* fb = reg->fallback(name, &Catalog::Fallback::prompt_prefix, &Catalog::Fallback::prompt);
        if (!fb) return invalid_params("unknown prompt '" + name + "'");
        const auto* a = p.if_contains("arguments");
        if (!allowed({policy::Kind::prompt, policy::Phase::invocation, m, name, {}, a ? a->if_object() : nullptr, nullptr}))
          return;
        return run_forward(*this, session, req, std::move(out), std::move(env), *fb);
      }
      const PromptEntry& entry = reg->prompts[it->second];
      StringMap args;
      json::value raw_args = nullptr;
      if (const auto* a = p.if_contains("arguments"); a && !a->is_null()) {
        if (!a->is_object()) return invalid_params("arguments must be an object");
        raw_args = *a;
        for (const auto& [k, v] : a->get_object()) {
          if (!v.is_string()) return invalid_params("argument '" + std::string(k) + "' must be a string");
          args.emplace(std::string(k), std::string(v.get_string()));
        }
      }
      if (!allowed({policy::Kind::prompt, policy::Phase::invocation, m, name, {}, raw_args.if_object(), &entry.prompt.access}))
        return;
      if (entry.pub.forward) return run_forward(*this, session, req, std::move(out), std::move(env), entry.pub.forward);
      for (const auto& a : entry.prompt.arguments)
        if (a.required && !args.contains(a.name)) return invalid_params("missing required argument '" + a.name + "'");
      auto mrtr = mrtr_for(name, raw_args);
      if (!mrtr) return;
      PromptHandler h = entry.handler;
      return run_blocking(*this, impl, session, std::move(req), std::move(out), std::move(env), std::move(*mrtr),
                          [h, args = std::move(args)](RequestContext& ctx) {
                            PromptResult r = h(args, ctx);
                            json::object o{{"messages", std::move(r.messages)}};
                            if (!r.description.empty()) o["description"] = r.description;
                            return json::value(std::move(o));
                          });
    }

    if (m == "completion/complete") {
      const auto* ref = p.if_contains("ref");
      const auto* arg = p.if_contains("argument");
      if (!ref || !ref->is_object()) return invalid_params("ref must be an object");
      if (!arg || !arg->is_object()) return invalid_params("argument must be an object");
      std::string type = required_string(ref->get_object(), "type");
      std::string arg_name = required_string(arg->get_object(), "name");
      std::string value = required_string(arg->get_object(), "value");
      StringMap context;
      if (const auto* c = p.if_contains("context"); c && c->is_object())
        if (const auto* a = c->get_object().if_contains("arguments"); a && a->is_object())
          for (const auto& [k, v] : a->get_object())
            if (v.is_string()) context.emplace(std::string(k), std::string(v.get_string()));
      Completer completer;
      const Forwarder* forward = nullptr;
      if (type == "ref/prompt") {
        std::string name = required_string(ref->get_object(), "name");
        auto pi = reg->prompt_index.find(name);
        if (pi == reg->prompt_index.end()) return invalid_params("unknown prompt '" + name + "'");
        // Completing a prompt's arguments is seeing the prompt: decided as its listing is.
        if (!allowed(
                {policy::Kind::prompt, policy::Phase::discovery, m, name, {}, nullptr, &reg->prompts[pi->second].prompt.access}))
          return;
        if (auto c = reg->prompt_completers.find(name); c != reg->prompt_completers.end()) completer = c->second;
        forward = &reg->prompts[pi->second].pub.complete;
      } else if (type == "ref/resource") {
        std::string uri = required_string(ref->get_object(), "uri");
        const TemplateEntry* tmpl = nullptr;
        for (const auto& t : reg->templates)
          if (t.tmpl.uri_template == uri) tmpl = &t;
        auto ri = reg->resource_index.find(uri);
        if (!tmpl && ri == reg->resource_index.end()) return invalid_params("unknown resource template '" + uri + "'");
        if (tmpl ? !allowed({policy::Kind::resource_template, policy::Phase::discovery, m, uri, {}, nullptr, &tmpl->tmpl.access})
                 : !allowed({policy::Kind::resource,
                             policy::Phase::discovery,
                             m,
                             uri,
                             {},
                             nullptr,
                             &reg->resources[ri->second].resource.access}))
          return;
        if (auto c = reg->template_completers.find(uri); c != reg->template_completers.end()) completer = c->second;
        forward = tmpl ? &tmpl->pub.complete : &reg->resources[ri->second].pub.complete;
      } else {
        return invalid_params("ref.type must be ref/prompt or ref/resource");
      }
      if (forward && *forward) return run_forward(*this, session, req, std::move(out), std::move(env), *forward);
      return run_blocking(*this, impl, session, std::move(req), std::move(out), std::move(env), Mrtr{},
                          [completer, arg_name, value, context](RequestContext&) {
                            std::vector<std::string> values;
                            if (completer) values = completer(arg_name, value, context);
                            std::size_t total = values.size();
                            json::array arr;
                            for (std::size_t i = 0; i < values.size() && i < 100; ++i) arr.push_back(json::string(values[i]));
                            json::object c{{"values", std::move(arr)}, {"total", total}, {"hasMore", total > 100}};
                            return json::value(json::object{{"completion", std::move(c)}});
                          });
    }
  } catch (const ProtocolError& e) {
    return reply_error(*out, req.id, e.code(), e.what(), e.data());
  }

  method_not_found();
}

}  // namespace jitgate::mcp
