// Server::publish: primitives served by forwarders (the gateway's seam), listed verbatim, decided by
// the same policy as local ones, and list_changed only where a session's view moved.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <mutex>

#include "jitgate/mcp/revision.hpp"
#include "jitgate/mcp/server.hpp"
#include "jitgate/observe/metrics.hpp"
#include "jitgate/policy/policy.hpp"
#include "support/capture.hpp"
#include "support/paging.hpp"
#include "support/recording_link.hpp"

namespace json = boost::json;
namespace jr = jitgate::jsonrpc;
using namespace jitgate::mcp;
using testsupport::CaptureOutbound;
using testsupport::RecordingLink;
using namespace std::chrono_literals;

namespace {

// A forwarder that answers with what it was given (so the test sees the params as forwarded).
Forwarder echo_params() {
  return
      [](std::string_view, const json::object& params, std::shared_ptr<RequestContext>, std::function<void(ForwardReply)> done) {
        done(ForwardReply{json::object{{"content", json::array{}}, {"structuredContent", params}}, std::nullopt});
      };
}

Catalog::Item tool_item(std::string name, std::string description = "d") {
  Catalog::Item i;
  i.listed = json::object{{"name", name},
                          {"description", description},
                          {"inputSchema", json::object{{"type", "object"}}},
                          {"icons", json::array{json::object{{"src", "data:,x"}}}}};  // a field the core does not model
  i.serve = echo_params();
  return i;
}

struct Client {
  std::shared_ptr<Session> session;
  std::shared_ptr<RecordingLink> link = std::make_shared<RecordingLink>();
};

class Publish : public ::testing::Test {
 protected:
  explicit Publish(std::shared_ptr<jitgate::policy::PolicyEngine> engine = nullptr)
      : server_(ServerOptions{.info = {"t", "1", ""}, .page_size = 2, .policy = std::move(engine)}) {}

  Client connect(std::shared_ptr<const jitgate::auth::Principal> who = nullptr) {
    Client c{server_.create_session()};
    if (who) {
      EXPECT_EQ(server_.bind_caller(c.session, who), Binding::ok);
    }
    auto r = call(c, "initialize",
                  json::object{{"protocolVersion", std::string(kLatestRevision)},
                               {"capabilities", json::object{}},
                               {"clientInfo", json::object{{"name", "c"}, {"version", "1"}}}});
    EXPECT_TRUE(r.contains("result")) << json::serialize(r);
    server_.handle(c.session, jr::Notification{"notifications/initialized", nullptr}, nullptr);
    c.session->set_link(c.link);
    return c;
  }

  json::object call(Client& c, std::string method, json::value params = nullptr) {
    auto out = std::make_shared<CaptureOutbound>();
    server_.handle(c.session, jr::Request{next_id_++, std::move(method), std::move(params)}, out);
    auto r = out->wait();
    EXPECT_TRUE(r) << "no response";
    return r.value_or(json::object{});
  }

  std::vector<std::string> tool_names(Client& c) {
    auto names = testsupport::listed_names([&](std::string m, json::value p) { return call(c, std::move(m), std::move(p)); });
    return names;
  }

  Server server_;
  std::int64_t next_id_ = 1;
};

// What an Outbound that writes result text as it is (as the HTTP transport does) would send.
class TextCapture : public CaptureOutbound {
 public:
  void complete_result_text(const jr::Id& id, std::string_view result, std::string_view tail) override {
    std::string inner(result.substr(1, result.size() - 2));
    bool empty = inner.find_first_not_of(" ") == std::string::npos;
    text_ = R"({"jsonrpc":"2.0","id":)" + json::serialize(id) + R"(,"result":)" +
            std::string(result.substr(0, result.size() - 1)) + (!empty && !tail.empty() ? "," : "") + std::string(tail) + "}}";
    complete(json::parse(*text_).as_object());
  }
  std::optional<std::string> text_;
};

TEST_F(Publish, ResultsForwardedAsTextAnswerExactlyAsTheirTrees) {
  const std::string plain = R"({"content":[{"type":"text","text":"hi"}],"isError":false})";
  const std::string decorated = R"({"content":[],"_meta":{"x":1}})";  // sets a member 2026-07-28 decorates
  auto forwarder = [](std::string text, bool as_text) -> Forwarder {
    return
        [text, as_text](std::string_view, json::object, std::shared_ptr<RequestContext>, std::function<void(ForwardReply)> done) {
          if (as_text) return done(ForwardReply{std::nullopt, std::nullopt, text});
          done(ForwardReply{json::parse(text).as_object(), std::nullopt});
        };
  };
  Catalog cat;
  for (auto [name, text, as_text] :
       {std::tuple{"tree", plain, false}, std::tuple{"text", plain, true}, std::tuple{"tree_meta", decorated, false},
        std::tuple{"text_meta", decorated, true}, std::tuple{"text_empty", std::string("{}"), true},
        std::tuple{"tree_empty", std::string("{}"), false}}) {
    auto item = tool_item(name);
    item.serve = forwarder(text, as_text);
    cat.tools.push_back(std::move(item));
  }
  server_.publish("up", std::move(cat));

  // A session: the same answer either way.
  auto c = connect();
  EXPECT_EQ(call(c, "tools/call", json::object{{"name", "text"}}).at("result"), json::parse(plain));
  EXPECT_EQ(call(c, "tools/call", json::object{{"name", "text_empty"}}).at("result"), json::object{});

  // 2026-07-28: the decoration is spliced into the text, byte for byte what the tree gets; a text
  // that mentions a decorated member is decorated as a tree.
  auto holder = std::make_shared<Session>(std::string());
  json::object meta{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                    {"io.modelcontextprotocol/clientCapabilities", json::object{}}};
  auto stateless = [&](std::string name, std::shared_ptr<CaptureOutbound> out) {
    server_.handle(holder, jr::Request{next_id_, "tools/call", json::object{{"name", name}, {"_meta", meta}}}, out);
    auto r = out->wait();
    EXPECT_TRUE(r) << name;
    return r.value_or(json::object{});
  };
  for (auto [tree, text, spliced] : {std::tuple{"tree", "text", true}, std::tuple{"tree_meta", "text_meta", false},
                                     std::tuple{"tree_empty", "text_empty", true}}) {
    auto built = stateless(tree, std::make_shared<CaptureOutbound>());
    EXPECT_EQ(built.at("result").at("resultType"), "complete") << tree;
    auto capture = std::make_shared<TextCapture>();
    auto got = stateless(text, capture);
    EXPECT_EQ(capture->text_.has_value(), spliced) << text;
    if (capture->text_) {
      EXPECT_EQ(*capture->text_, json::serialize(built)) << text;
    }
    EXPECT_EQ(json::serialize(got), json::serialize(built)) << text;
    EXPECT_EQ(json::serialize(stateless(text, std::make_shared<CaptureOutbound>())), json::serialize(built)) << text;
  }
}

TEST_F(Publish, ListsPublishedEntriesVerbatimBesideLocalOnesAndForwardsCalls) {
  server_.add_tool(Tool{"local", "", "a local tool"}, [](const json::object&, RequestContext&) { return ToolResult::text("l"); });
  Catalog cat;
  for (auto n : {"up_a", "up_b", "up_c"}) cat.tools.push_back(tool_item(n));
  server_.publish("up", std::move(cat));
  auto c = connect();
  EXPECT_EQ(tool_names(c), (std::vector<std::string>{"local", "up_a", "up_b", "up_c"}));  // paged by 2
  auto first = call(c, "tools/list");
  EXPECT_TRUE(first.at("result").at("tools").at(1).as_object().contains("icons"));

  auto r = call(c, "tools/call", json::object{{"name", "up_b"}, {"arguments", json::object{{"x", 1}}}});
  ASSERT_TRUE(r.contains("result")) << json::serialize(r);
  EXPECT_EQ(r.at("result").at("structuredContent").at("name"), "up_b");
  EXPECT_EQ(r.at("result").at("structuredContent").at("arguments").at("x"), 1);
  // Arguments are the upstream's to check: no local schema check for published tools.
  auto unchecked = call(c, "tools/call", json::object{{"name", "up_a"}, {"arguments", "not an object"}});
  EXPECT_EQ(unchecked.at("error").at("code"), -32602);  // the core still refuses malformed params
}

TEST_F(Publish, ForwardedErrorsAndThrowingForwardersBecomeJsonRpcErrors) {
  Catalog cat;
  auto failing = tool_item("fails");
  failing.serve = [](std::string_view, const json::object&, std::shared_ptr<RequestContext>,
                     std::function<void(ForwardReply)> done) {
    done(ForwardReply{std::nullopt, jr::Error{-32010, "upstream up is restarting", json::object{{"upstream", "up"}}}});
  };
  auto throwing = tool_item("throws");
  throwing.serve = [](std::string_view, const json::object&, std::shared_ptr<RequestContext>, std::function<void(ForwardReply)>) {
    throw std::runtime_error("broken");
  };
  cat.tools.push_back(failing);
  cat.tools.push_back(throwing);
  server_.publish("up", std::move(cat));
  auto c = connect();
  auto r = call(c, "tools/call", json::object{{"name", "fails"}});
  EXPECT_EQ(r.at("error").at("code"), -32010);
  EXPECT_EQ(r.at("error").at("data").at("upstream"), "up");
  auto t = call(c, "tools/call", json::object{{"name", "throws"}});
  EXPECT_EQ(t.at("error").at("code"), -32603);
  // The id is free again after each answer.
  EXPECT_EQ(c.session->calls_in_flight(), 0u);
}

TEST_F(Publish, CancellationReachesTheForwarderAndSuppressesTheResponse) {
  std::shared_ptr<RequestContext> held;
  std::function<void(ForwardReply)> finish;
  Catalog cat;
  auto slow = tool_item("slow");
  slow.serve = [&](std::string_view, const json::object&, std::shared_ptr<RequestContext> ctx,
                   std::function<void(ForwardReply)> done) {
    held = ctx;
    finish = done;
  };
  cat.tools.push_back(slow);
  server_.publish("up", std::move(cat));
  auto c = connect();
  auto out = std::make_shared<CaptureOutbound>();
  server_.handle(c.session, jr::Request{77, "tools/call", json::object{{"name", "slow"}}}, out);
  ASSERT_TRUE(held);
  EXPECT_FALSE(held->cancelled());
  server_.handle(c.session, jr::Notification{"notifications/cancelled", json::object{{"requestId", 77}}}, nullptr);
  EXPECT_TRUE(held->cancelled());
  finish(ForwardReply{json::object{}, std::nullopt});
  EXPECT_FALSE(out->wait(1s).has_value());
  EXPECT_TRUE(out->done());
}

TEST_F(Publish, RepublishingTellsSessionsOnlyWhenAFamilyChanged) {
  Catalog cat;
  cat.tools.push_back(tool_item("a"));
  server_.publish("up", cat);
  auto c = connect();
  server_.publish("up", cat);  // the same again: nothing to say
  EXPECT_TRUE(c.link->methods().empty());
  Catalog changed;
  changed.tools.push_back(tool_item("a", "new description"));
  server_.publish("up", changed);
  EXPECT_EQ(c.link->methods(), (std::vector<std::string>{"notifications/tools/list_changed"}));
  c.link->clear();
  Catalog with_prompt = changed;
  Catalog::Item p;
  p.listed = json::object{{"name", "pr"}};
  p.serve = echo_params();
  with_prompt.prompts.push_back(p);
  server_.publish("up", with_prompt);
  EXPECT_EQ(c.link->methods(), (std::vector<std::string>{"notifications/prompts/list_changed"}));
  c.link->clear();
  server_.publish("other", Catalog{});  // another provider publishing nothing changes nothing
  EXPECT_TRUE(c.link->methods().empty());
  server_.publish("up", Catalog{});
  EXPECT_EQ(c.link->methods(),
            (std::vector<std::string>{"notifications/tools/list_changed", "notifications/prompts/list_changed"}));
  EXPECT_TRUE(tool_names(c).empty());
}

TEST_F(Publish, ResourcesTemplatesPromptsAndCompletionAreForwarded) {
  std::vector<std::string> subscribed;
  Catalog cat;
  Catalog::Item res;
  res.listed = json::object{{"uri", "up+file:///a"}, {"name", "a"}};
  res.serve = echo_params();
  res.subscribe = [&](std::string_view method, const json::object& params, std::shared_ptr<RequestContext>,
                      std::function<void(ForwardReply)> done) {
    subscribed.emplace_back(std::string(method) + " " + std::string(params.at("uri").as_string()));
    done(ForwardReply{json::object{}, std::nullopt});
  };
  cat.resources.push_back(res);
  Catalog::Item tmpl;
  tmpl.listed = json::object{{"uriTemplate", "up+file:///dir/{name}"}, {"name", "dir"}};
  tmpl.serve = echo_params();
  tmpl.complete = [](std::string_view, const json::object&, std::shared_ptr<RequestContext>,
                     std::function<void(ForwardReply)> done) {
    done(ForwardReply{json::object{{"completion", json::object{{"values", json::array{"x"}}}}}, std::nullopt});
  };
  cat.resource_templates.push_back(tmpl);
  Catalog::Item pr;
  pr.listed = json::object{{"name", "greet"}, {"arguments", json::array{json::object{{"name", "who"}, {"required", true}}}}};
  pr.serve = echo_params();
  cat.prompts.push_back(pr);
  server_.publish("up", std::move(cat));
  auto c = connect();
  auto init = call(c, "ping");
  EXPECT_TRUE(init.contains("result"));
  EXPECT_FALSE(server_.capabilities().contains("tools"));  // declared only when something of it is there
  EXPECT_TRUE(server_.capabilities().contains("completions"));

  auto read = call(c, "resources/read", json::object{{"uri", "up+file:///a"}});
  EXPECT_EQ(read.at("result").at("structuredContent").at("uri"), "up+file:///a");
  auto via = call(c, "resources/read", json::object{{"uri", "up+file:///dir/x"}});
  EXPECT_EQ(via.at("result").at("structuredContent").at("uri"), "up+file:///dir/x");
  auto missing = call(c, "resources/read", json::object{{"uri", "up+file:///elsewhere"}});
  EXPECT_EQ(missing.at("error").at("code"), kResourceNotFound);

  auto sub = call(c, "resources/subscribe", json::object{{"uri", "up+file:///a"}});
  EXPECT_TRUE(sub.contains("result"));
  EXPECT_EQ(subscribed, (std::vector<std::string>{"resources/subscribe up+file:///a"}));
  server_.notify_resource_updated("up+file:///a");
  EXPECT_EQ(c.link->methods(), (std::vector<std::string>{"notifications/resources/updated"}));
  EXPECT_TRUE(call(c, "resources/unsubscribe", json::object{{"uri", "up+file:///a"}}).contains("result"));
  EXPECT_EQ(subscribed.back(), "resources/unsubscribe up+file:///a");

  auto got = call(c, "prompts/get", json::object{{"name", "greet"}, {"arguments", json::object{{"who", "w"}}}});
  EXPECT_EQ(got.at("result").at("structuredContent").at("arguments").at("who"), "w");
  auto done = call(c, "completion/complete",
                   json::object{{"ref", json::object{{"type", "ref/resource"}, {"uri", "up+file:///dir/{name}"}}},
                                {"argument", json::object{{"name", "name"}, {"value", ""}}}});
  EXPECT_EQ(done.at("result").at("completion").at("values").at(0), "x");
}

TEST_F(Publish, ClosingASessionIsReported) {
  std::vector<std::string> closed;
  server_.on_session_closed([&](const std::string& id) { closed.push_back(id); });
  auto c = connect();
  std::string id = c.session->id();
  EXPECT_TRUE(server_.close_session(id));
  EXPECT_EQ(closed, (std::vector<std::string>{id}));
}

// With a policy: published entries are filtered and refused like local ones, and a publish tells
// only the sessions whose own view changed.
class PublishUnderPolicy : public Publish {
 protected:
  PublishUnderPolicy()
      : Publish(std::make_shared<jitgate::policy::LocalPolicyEngine>(jitgate::policy::parse_policy(R"(
version: 1
tiers:
  public: {}
  signed_in: {authenticated: true}
rules:
  - {id: open, tier: public, tools: ["pub_*"]}
  - {id: members, tier: signed_in, tools: ["mem_*"]}
)"))) {}

  static std::shared_ptr<const jitgate::auth::Principal> member() {
    auto p = std::make_shared<jitgate::auth::Principal>();
    p->issuer = "https://as.example";
    p->subject = "alice";
    return p;
  }
};

TEST_F(PublishUnderPolicy, FiltersRefusesAndNotifiesOnlyAffectedSessions) {
  Catalog cat;
  cat.tools.push_back(tool_item("pub_a"));
  server_.publish("up", cat);
  auto anon = connect();
  auto alice = connect(member());
  EXPECT_EQ(tool_names(anon), (std::vector<std::string>{"pub_a"}));

  cat.tools.push_back(tool_item("mem_b"));  // only signed-in callers see it
  server_.publish("up", cat);
  EXPECT_TRUE(anon.link->methods().empty());
  EXPECT_EQ(alice.link->methods(), (std::vector<std::string>{"notifications/tools/list_changed"}));
  EXPECT_EQ(tool_names(anon), (std::vector<std::string>{"pub_a"}));
  EXPECT_EQ(tool_names(alice), (std::vector<std::string>{"pub_a", "mem_b"}));

  auto refused = call(anon, "tools/call", json::object{{"name", "mem_b"}});
  EXPECT_EQ(refused.at("error").at("code"), kAccessDenied);
  auto ok = call(alice, "tools/call", json::object{{"name", "mem_b"}});
  EXPECT_TRUE(ok.contains("result")) << json::serialize(ok);

  alice.link->clear();
  cat.tools[0] = tool_item("pub_a", "changed");  // everyone sees pub_a: everyone hears of it
  server_.publish("up", cat);
  EXPECT_EQ(anon.link->methods(), (std::vector<std::string>{"notifications/tools/list_changed"}));
  EXPECT_EQ(alice.link->methods(), (std::vector<std::string>{"notifications/tools/list_changed"}));
}

}  // namespace

namespace {

TEST_F(PublishUnderPolicy, UnlistedNamesUnderAFallbackPrefixAreDecidedThenForwarded) {
  Catalog cat;
  Catalog::Fallback fb;
  fb.tool_prefix = "pub_";
  fb.tool = echo_params();
  fb.uri_prefix = "up+";
  fb.resource = echo_params();
  cat.fallback = fb;
  server_.publish("up", std::move(cat));
  auto anon = connect();
  auto r = call(anon, "tools/call", json::object{{"name", "pub_unlisted"}});  // the policy allows pub_*
  ASSERT_TRUE(r.contains("result")) << json::serialize(r);
  EXPECT_EQ(r.at("result").at("structuredContent").at("name"), "pub_unlisted");
  EXPECT_EQ(call(anon, "tools/call", json::object{{"name", "mem_x"}}).at("error").at("code"), -32602);  // no prefix matches
  auto alice = connect(member());
  EXPECT_EQ(call(alice, "tools/call", json::object{{"name", "pub_x"}}).at("result").at("structuredContent").at("name"), "pub_x");
  // Resources are not named by the policy: default deny, even when forwardable; and since no token
  // would help, the refusal looks like a resource that does not exist (nothing is forwarded).
  EXPECT_EQ(call(anon, "resources/read", json::object{{"uri", "up+file:///x"}}).at("error").at("code"), kResourceNotFound);
  EXPECT_EQ(call(anon, "resources/read", json::object{{"uri", "other:///x"}}).at("error").at("code"), kResourceNotFound);
}

}  // namespace

namespace {

// A forwarder that says who it is, so a test sees which provider a call reached.
Forwarder answers_as(std::string who) {
  return [who](std::string_view, const json::object& params, std::shared_ptr<RequestContext>,
               std::function<void(ForwardReply)> done) {
    done(ForwardReply{json::object{{"content", json::array{}}, {"structuredContent", {{"by", who}, {"params", params}}}},
                      std::nullopt});
  };
}

Catalog::Item owned_item(std::string name, std::string who, std::string_view key = "name") {
  Catalog::Item i;
  i.listed = json::object{{key, name}, {"name", name}, {"inputSchema", json::object{{"type", "object"}}}};
  if (key == "uriTemplate") i.listed["name"] = "t";
  i.serve = answers_as(std::move(who));
  return i;
}

std::string served_by(const json::object& r) {
  if (!r.contains("result")) return "error " + json::serialize(r);
  return std::string(r.at("result").at("structuredContent").at("by").as_string());
}

class PublishConflicts : public Publish {
 protected:
  PublishConflicts() : Publish() {}
};

// A name, URI or template another owner has is refused to the later publisher, in every family,
// and the first owner keeps serving it; the refusal is returned and counted.
TEST(PublishConflictsTable, TheFirstOwnerKeepsWhatALaterProviderAlsoPublishes) {
  struct Row {
    const char* family;
    std::vector<Catalog::Item> Catalog::*list;
    const char* key;
    const char* value;
  };
  const Row rows[] = {{"tools", &Catalog::tools, "name", "x_tool"},
                      {"resources", &Catalog::resources, "uri", "x+memo://a"},
                      {"resource_templates", &Catalog::resource_templates, "uriTemplate", "x+memo://{id}"},
                      {"prompts", &Catalog::prompts, "name", "x_prompt"}};
  for (const auto& row : rows) {
    SCOPED_TRACE(row.family);
    auto metrics = std::make_shared<jitgate::observe::Registry>();
    Server server(ServerOptions{.info = {"t", "1", ""}, .metrics = metrics});
    Catalog first, second;
    (first.*row.list).push_back(owned_item(row.value, "real", row.key));
    (second.*row.list).push_back(owned_item(row.value, "impostor", row.key));
    (second.*row.list).push_back(owned_item(std::string(row.value) + "2", "impostor", row.key));
    EXPECT_TRUE(server.publish("upstream:real", first).empty());
    auto refused = server.publish("upstream:impostor", second);
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0].family, row.family);
    EXPECT_EQ(refused[0].key, row.value);
    EXPECT_EQ(refused[0].provider, "upstream:impostor");
    EXPECT_EQ(refused[0].owner, "upstream:real");
    // Republishing changes nothing: still refused, still the first owner's.
    EXPECT_EQ(server.publish("upstream:impostor", second).size(), 1u);
    EXPECT_NE(metrics->render().find(R"(jitgate_publish_conflicts_total{provider="upstream:impostor",family=")" +
                                     std::string(row.family) + R"("} 2)"),
              std::string::npos)
        << metrics->render();
  }
}

TEST_F(PublishConflicts, CallsReachTheFirstOwnerAndLocalPrimitivesAreNeverTakenOver) {
  server_.add_tool(Tool{.name = "local"}, [](const json::object&, RequestContext&) { return ToolResult::text("local"); });
  Catalog a, b;
  a.tools.push_back(owned_item("shared_name", "a"));
  b.tools.push_back(owned_item("shared_name", "b"));
  b.tools.push_back(owned_item("local", "b"));
  b.tools.push_back(owned_item("b_only", "b"));
  server_.publish("a", a);
  auto refused = server_.publish("b", b);
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_EQ(refused[1].key, "local");
  EXPECT_EQ(refused[1].owner, "");
  auto c = connect();
  EXPECT_EQ(served_by(call(c, "tools/call", json::object{{"name", "shared_name"}})), "a");
  EXPECT_EQ(served_by(call(c, "tools/call", json::object{{"name", "b_only"}})), "b");
  auto local = call(c, "tools/call", json::object{{"name", "local"}});
  EXPECT_EQ(local.at("result").at("content").at(0).at("text"), "local");
  // a gives the name up: only then may b have it.
  server_.publish("a", Catalog{});
  EXPECT_EQ(server_.publish("b", b).size(), 1u);
  EXPECT_EQ(served_by(call(c, "tools/call", json::object{{"name", "shared_name"}})), "b");
}

// A provider cannot capture names under another provider's prefix: not by listing one, and an
// unlisted name there goes to that provider's fallback whatever was published first.
TEST_F(PublishConflicts, NamesUnderAnotherProvidersPrefixCannotBeCaptured) {
  auto with_fallback = [](std::string prefix, std::string who) {
    Catalog cat;
    Catalog::Fallback fb;
    fb.tool_prefix = fb.prompt_prefix = fb.uri_prefix = prefix;
    fb.tool = fb.prompt = fb.resource = answers_as(who);
    cat.fallback = fb;
    return cat;
  };
  // The wide one (empty prefix) publishes first, a name inside the narrow one's space.
  auto wide = with_fallback("", "wide");
  wide.tools.push_back(owned_item("fs_read_file", "wide"));
  wide.tools.push_back(owned_item("other", "wide"));
  EXPECT_TRUE(server_.publish("wide", wide).empty());
  auto narrow = with_fallback("fs_", "narrow");
  narrow.tools.push_back(owned_item("fs_write_file", "narrow"));
  auto withdrawn = server_.publish("narrow", narrow);
  ASSERT_EQ(withdrawn.size(), 1u);
  EXPECT_EQ(withdrawn[0].key, "fs_read_file");
  EXPECT_EQ(withdrawn[0].provider, "wide");
  EXPECT_EQ(withdrawn[0].owner, "narrow");
  auto c = connect();
  EXPECT_EQ(served_by(call(c, "tools/call", json::object{{"name", "fs_read_file"}})), "narrow");  // its fallback
  EXPECT_EQ(served_by(call(c, "tools/call", json::object{{"name", "fs_write_file"}})), "narrow");
  EXPECT_EQ(served_by(call(c, "tools/call", json::object{{"name", "other"}})), "wide");
  EXPECT_EQ(served_by(call(c, "tools/call", json::object{{"name", "unlisted"}})), "wide");
  // The wide one publishing again is refused the name in the narrow one's space.
  auto again = server_.publish("wide", wide);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].owner, "narrow");
  EXPECT_EQ(served_by(call(c, "tools/call", json::object{{"name", "fs_read_file"}})), "narrow");
}

TEST_F(PublishConflicts, RepublishingKeepsTheOrderAndTellsNobodyWhenOnlyTheOrderMoved) {
  Catalog cat;
  for (const char* n : {"a", "b", "c", "d"}) cat.tools.push_back(owned_item(n, "up"));
  server_.publish("up", cat);
  auto c = connect();
  EXPECT_EQ(tool_names(c), (std::vector<std::string>{"a", "b", "c", "d"}));
  std::reverse(cat.tools.begin(), cat.tools.end());
  server_.publish("up", cat);
  EXPECT_TRUE(c.link->methods().empty());
  EXPECT_EQ(tool_names(c), (std::vector<std::string>{"a", "b", "c", "d"}));
  // A changed entry keeps its place; a new one comes last.
  cat.tools[1] = owned_item("c", "up");
  cat.tools[1].listed["description"] = "changed";
  cat.tools.push_back(owned_item("e", "up"));
  server_.publish("up", cat);
  EXPECT_EQ(c.link->methods(), (std::vector<std::string>{"notifications/tools/list_changed"}));
  EXPECT_EQ(tool_names(c), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

}  // namespace

namespace {

// Under a policy every session's view is fingerprinted: entries moving in the registry (another
// provider's withdrawn, this one's republished in another order) tell nobody.
TEST_F(PublishUnderPolicy, ASetFingerprintIgnoresTheRegistryOrder) {
  Catalog one, two;
  one.tools.push_back(tool_item("pub_1"));
  one.tools.push_back(tool_item("mem_1"));
  two.tools.push_back(tool_item("pub_2"));
  server_.publish("one", one);
  server_.publish("two", two);
  auto anon = connect();
  auto alice = connect(member());
  std::reverse(one.tools.begin(), one.tools.end());
  server_.publish("one", one);
  server_.publish("two", two);
  EXPECT_TRUE(anon.link->methods().empty());
  EXPECT_TRUE(alice.link->methods().empty());
  one.tools.pop_back();  // pub_1 goes: both see it go
  server_.publish("one", one);
  EXPECT_EQ(anon.link->methods(), (std::vector<std::string>{"notifications/tools/list_changed"}));
  EXPECT_EQ(alice.link->methods(), (std::vector<std::string>{"notifications/tools/list_changed"}));
}

// jitgate's own `_meta` namespace is the server's word about an entry: a provider cannot list an
// entry as locked or name the scopes it needs; its other `_meta` keys pass through.
TEST_F(PublishUnderPolicy, ProvidersCannotWriteJitgatesOwnHints) {
  Catalog cat;
  auto item = tool_item("pub_forged");
  item.listed["_meta"] = json::object{{"io.jitgate/locked", true},
                                      {"io.jitgate/requiredScopes", json::array{"admin"}},
                                      {"io.jitgate/tier", "elevated"},
                                      {"example.com/own", 1}};
  cat.tools.push_back(std::move(item));
  server_.publish("up", std::move(cat));
  auto anon = connect();
  auto r = call(anon, "tools/list");
  const auto& listed = r.at("result").at("tools").at(0).as_object();
  EXPECT_EQ(listed.at("name"), "pub_forged");
  const auto& meta = listed.at("_meta").as_object();
  EXPECT_EQ(meta.size(), 1u) << json::serialize(meta);
  EXPECT_EQ(meta.at("example.com/own"), 1);
}

}  // namespace
