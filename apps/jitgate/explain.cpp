// Mirrors what the server does with a decision (src/mcp/server.cpp picks the action,
// src/transport/http_server.cpp turns a refusal into its status and challenge), so that an operator
// can ask the policy file alone what a request would get.
#include "explain.hpp"

#include <boost/json.hpp>
#include <cctype>
#include <string_view>

#include "jitgate/auth/www_authenticate.hpp"

namespace jitgate::cli {

namespace json = boost::json;
using policy::Kind;
using policy::Phase;

namespace {

// A JSON-RPC method name as MCP spells them: segments of letters, digits, `_`, `-`, `.` joined by `/`.
bool valid_method(std::string_view m) {
  if (m.empty() || m.front() == '/' || m.back() == '/') return false;
  char prev = '/';
  for (char c : m) {
    if (c == '/') {
      if (prev == '/') return false;
    } else if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
    prev = c;
  }
  return true;
}

struct ListMethod {
  std::string_view method;
  Kind kind;
};
constexpr ListMethod kLists[] = {{"tools/list", Kind::tool},
                                 {"resources/list", Kind::resource},
                                 {"resources/templates/list", Kind::resource_template},
                                 {"prompts/list", Kind::prompt}};

std::string joined(const std::vector<std::string>& v, std::string_view sep = " ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

template <class Set>
json::array array_of(const Set& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

}  // namespace

std::string_view to_string(policy::Remedy r) {
  switch (r) {
    case policy::Remedy::none: return "none";
    case policy::Remedy::authenticate: return "authenticate";
    case policy::Remedy::step_up: return "step_up";
  }
  return "none";
}

Explanation explain(const policy::LocalPolicyEngine& engine, const auth::Principal& who, const Request& req,
                    const std::string& resource_metadata) {
  const std::string& m = req.method;
  if (!valid_method(m))
    throw UsageError("'" + m + "' is not an MCP method name (such as tools/call, resources/read or tools/list)");
  auto need_name = [&](std::string_view what) -> const std::string& {
    if (!req.name || req.name->empty()) throw UsageError(m + " needs --name (" + std::string(what) + ")");
    return *req.name;
  };
  auto no_args = [&] {
    if (req.args) throw UsageError("--args applies to tools/call and prompts/get, not " + m);
  };
  static const json::object kNoArguments;

  policy::Action a;
  a.method = m;
  Explanation e;
  const ListMethod* list = nullptr;
  for (const auto& l : kLists)
    if (l.method == m) list = &l;
  if (m == "tools/call" || m == "prompts/get") {
    a.kind = m == "tools/call" ? Kind::tool : Kind::prompt;
    a.phase = Phase::invocation;
    a.name = need_name(m == "tools/call" ? "the tool" : "the prompt");
    a.arguments = req.args ? &*req.args : &kNoArguments;
  } else if (m == "resources/read" || m == "resources/subscribe" || m == "resources/unsubscribe") {
    no_args();
    a.kind = Kind::resource;
    a.phase = Phase::invocation;
    a.name = need_name("the resource URI");
    a.via_template = req.via_template;
  } else if (m == "completion/complete") {
    // Completing a prompt's arguments is seeing the prompt: decided as its listing is.
    no_args();
    a.kind = Kind::prompt;
    a.phase = Phase::discovery;
    a.name = need_name("the prompt whose argument is completed");
  } else if (list && req.name) {
    no_args();
    a.kind = list->kind;
    a.phase = Phase::discovery;
    a.name = *req.name;
    e.list_entry = true;
  } else {
    no_args();
    if (req.name) throw UsageError("--name is not used by " + m + " (it names a list entry, a tool, prompt or resource)");
    a.kind = Kind::method;
    a.phase = Phase::invocation;
    a.name = m;
  }
  if (!req.via_template.empty() && a.kind != Kind::resource)
    throw UsageError("--via-template applies to resources/read, resources/subscribe and resources/unsubscribe");

  auto caller = engine.prepare(std::make_shared<const auth::Principal>(who));
  policy::Action decided = a;
  if (list) {
    // The list method is itself decided first, as every non-primitive method is.
    policy::Action method{Kind::method, Phase::invocation, m, m, {}, nullptr, nullptr};
    policy::Decision md = engine.decide(*caller, method);
    if (!md.allowed()) {
      e.decision = std::move(md);
      e.method_refused = true;
      e.list_entry = false;
      decided = method;
    }
  }
  if (!e.method_refused) e.decision = engine.decide(*caller, a);
  e.kind = policy::to_string(decided.kind);
  e.phase = policy::to_string(decided.phase);
  e.method = m;
  e.name = decided.name;

  const policy::Decision& d = e.decision;
  bool answered = decided.phase == Phase::discovery ? d.listed() : d.allowed();
  if (e.list_entry) {
    e.listing = d.listed()                                                       ? "listed"
                : (engine.locked() == policy::Locked::advertise && d.unlockable) ? "listed as locked"
                                                                                 : "hidden";
    answered = true;  // a list leaves an entry out; it does not refuse the request
  }
  if (answered) {
    e.status = 200;
    e.reason = "OK";
    return e;
  }
  if (policy::conceals(engine, *caller, decided, d)) {
    // The caller can neither see nor unlock it: a server answers as for a name it does not have.
    e.status = 200;
    e.reason = "OK";
    e.error = decided.kind == Kind::resource || decided.kind == Kind::resource_template ? "-32002 Resource not found"
                                                                                        : "-32602 unknown name";
    e.listing = "hidden from this caller";
    return e;
  }
  std::string scope = joined(d.scopes);
  e.status = 403;
  e.reason = "Forbidden";
  e.error = "forbidden";
  if (d.remedy == policy::Remedy::authenticate) {
    e.status = 401;
    e.reason = "Unauthorized";
    e.error.clear();  // no token: the challenge and the body name no error
    e.www_authenticate = auth::to_header(auth::Challenge::missing_token(resource_metadata, scope));
  } else if (d.remedy == policy::Remedy::step_up) {
    e.error = "insufficient_scope";
    e.www_authenticate = auth::to_header(auth::Challenge::insufficient_scope(resource_metadata, scope, "more scopes are needed"));
  }
  return e;
}

std::string to_text(const Explanation& e, const auth::Principal& who) {
  const policy::Decision& d = e.decision;
  auto list = [](const auto& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : " ") + std::string(x);
    return s.empty() ? std::string("-") : s;
  };
  std::string out;
  auto line = [&](std::string_view key, const std::string& value) {
    out += std::string(key) + ":";
    out.append(key.size() < 9 ? 9 - key.size() : 1, ' ');
    out += value + "\n";
  };
  std::string caller = "anonymous";
  if (!who.anonymous()) {
    caller = "subject " + who.subject;
    if (!who.client_id.empty()) caller += ", client " + who.client_id;
    caller += ", scopes " + list(who.scopes) + ", roles " + list(who.roles);
  }
  line("caller", caller);
  std::string action = e.method + ": " + e.kind;
  if (e.kind != "method") action += " '" + e.name + "'";
  action += " (" + e.phase + ")";
  if (e.method_refused) action += ", the list method itself";
  line("action", action);
  line("decision", std::string(policy::to_string(d.outcome)));
  line("rule", d.rule);
  line("remedy", std::string(to_string(d.remedy)));
  std::string http = std::to_string(e.status) + " " + e.reason;
  if (!e.error.empty()) http += " (" + e.error + ")";
  if (!e.listing.empty()) http += ", the entry is " + e.listing;
  line("http", http);
  if (!e.www_authenticate.empty()) line("header", "WWW-Authenticate: " + e.www_authenticate);
  line("scopes", list(d.scopes));
  line("missing", list(d.missing));
  line("tier", d.tier.empty() ? "-" : d.tier);
  if (d.shadow) line("shadow", std::string(policy::to_string(*d.shadow)) + " (rule " + d.shadow_rule + ")");
  return out;
}

json::object to_json(const Explanation& e, const auth::Principal& who) {
  const policy::Decision& d = e.decision;
  json::object o;
  o["decision"] = policy::to_string(d.outcome);
  o["rule"] = d.rule;
  o["remedy"] = to_string(d.remedy);
  o["status"] = e.status;
  o["error"] = e.error.empty() ? json::value(nullptr) : json::value(e.error);
  o["www_authenticate"] = e.www_authenticate.empty() ? json::value(nullptr) : json::value(e.www_authenticate);
  if (!e.listing.empty()) o["listing"] = e.listing;
  o["scopes"] = array_of(d.scopes);
  o["missing"] = array_of(d.missing);
  o["tier"] = d.tier.empty() ? json::value(nullptr) : json::value(d.tier);
  o["unlockable"] = d.unlockable;
  o["action"] = json::object{
      {"method", e.method}, {"kind", e.kind}, {"phase", e.phase}, {"name", e.name}, {"list_method_refused", e.method_refused}};
  json::object c{{"anonymous", who.anonymous()}};
  if (!who.anonymous()) {
    c["subject"] = who.subject;
    c["issuer"] = who.issuer;
    c["client_id"] = who.client_id;
    c["scopes"] = array_of(who.scopes);
    c["roles"] = array_of(who.roles);
  }
  o["caller"] = std::move(c);
  if (d.shadow)
    o["shadow"] = json::object{{"decision", policy::to_string(*d.shadow)}, {"rule", d.shadow_rule}};
  else
    o["shadow"] = nullptr;
  return o;
}

}  // namespace jitgate::cli
