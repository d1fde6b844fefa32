#include "demo/demo_tools.hpp"

#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <vector>

#include "jitgate/mcp/server.hpp"
#include "jitgate/mcp/session.hpp"

namespace demo {

namespace json = boost::json;
using namespace jitgate::mcp;

namespace {

struct Store {
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> notes{{"alice", {"Buy milk"}}, {"bob", {"Rotate the demo keys"}}};
  std::string announcement;
};

Tool tool(std::string name, std::string description, json::object props = {}, std::vector<std::string> required = {}) {
  Tool t;
  t.name = std::move(name);
  t.description = std::move(description);
  json::array req;
  for (auto& r : required) req.push_back(json::string(r));
  t.input_schema = json::object{{"type", "object"}, {"properties", std::move(props)}, {"required", std::move(req)}};
  return t;
}

json::object text_prop(const char* description) { return json::object{{"type", "string"}, {"description", description}}; }

std::string arg(const json::object& a, const char* name) {
  const auto* v = a.if_contains(name);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::string caller(RequestContext& ctx) {
  auto p = ctx.session().principal();
  return p ? p->subject : std::string();
}

}  // namespace

void register_demo_tools(Server& server) {
  auto store = std::make_shared<Store>();
  static const std::vector<std::pair<std::string, std::string>> kDocs{
      {"Just-in-time authorization", "jitgate asks for a scope only when a tool needs it: sign in, then step up."},
      {"Tiers", "The demo has three tiers: public, signed_in (notes:read) and elevated (admin:write + the admin role)."},
      {"Step-up", "A 403 with insufficient_scope names the scopes the call needs; the client asks for them and retries."}};

  server.add_tool(
      tool("search_docs", "Search the public demo docs (public tier)", {{"query", text_prop("words to look for")}}, {"query"}),
      [](const json::object& a, RequestContext&) {
        std::string q = arg(a, "query"), out;
        for (auto& c : q) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        for (const auto& [title, body] : kDocs) {
          std::string hay = title + " " + body;
          for (auto& c : hay) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (q.empty() || hay.find(q) != std::string::npos) out += "- " + title + ": " + body + "\n";
        }
        return ToolResult::text(out.empty() ? "No match." : out);
      });

  server.add_tool(tool("list_my_notes", "List your own notes (signed_in tier: notes:read)"),
                  [store](const json::object&, RequestContext& ctx) {
                    std::string who = caller(ctx), out = "Notes of " + who + ":\n";
                    std::lock_guard lock(store->mu);
                    for (const auto& n : store->notes[who]) out += "- " + n + "\n";
                    if (!store->announcement.empty()) out += "Announcement: " + store->announcement + "\n";
                    return ToolResult::text(out);
                  });

  server.add_tool(tool("add_note", "Add a note of your own (notes:write)", {{"text", text_prop("the note")}}, {"text"}),
                  [store](const json::object& a, RequestContext& ctx) {
                    std::string who = caller(ctx), text = arg(a, "text");
                    if (text.empty()) return ToolResult::error("text is empty");
                    std::lock_guard lock(store->mu);
                    store->notes[who].push_back(text);
                    return ToolResult::text("Added a note for " + who + ".");
                  });

  server.add_tool(tool("admin_announce", "Show an announcement to every user (elevated tier: admin:write and the admin role)",
                       {{"message", text_prop("the announcement")}}, {"message"}),
                  [store](const json::object& a, RequestContext& ctx) {
                    std::lock_guard lock(store->mu);
                    store->announcement = arg(a, "message");
                    return ToolResult::text("Announcement set by " + caller(ctx) + ".");
                  });

  server.add_tool(tool("admin_purge_notes", "Delete all notes of a user (elevated tier; never an admin's notes)",
                       {{"user", text_prop("whose notes")}}, {"user"}),
                  [store](const json::object& a, RequestContext&) {
                    std::string user = arg(a, "user");
                    std::lock_guard lock(store->mu);
                    auto n = store->notes[user].size();
                    store->notes[user].clear();
                    return ToolResult::text("Purged " + std::to_string(n) + " note(s) of " + user + ".");
                  });
}

}  // namespace demo
