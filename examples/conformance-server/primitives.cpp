#include "conformance-server/primitives.hpp"

#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <thread>

#include "jitgate/mcp/server.hpp"

namespace conformance {

namespace json = boost::json;
using namespace jitgate::mcp;
using namespace std::chrono_literals;

namespace {

constexpr const char* kPng = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
constexpr const char* kWav = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

std::atomic<std::uint64_t> g_cancelled{0};

Tool tool(std::string name, std::string description, json::object schema = {{"type", "object"}}) {
  Tool t;
  t.name = std::move(name);
  t.description = std::move(description);
  t.input_schema = std::move(schema);
  return t;
}

json::object string_props(std::initializer_list<std::pair<const char*, const char*>> props,
                          std::initializer_list<const char*> required) {
  json::object p;
  for (auto [name, desc] : props) p[name] = json::object{{"type", "string"}, {"description", desc}};
  json::array req;
  for (auto r : required) req.push_back(json::string(r));
  return json::object{{"type", "object"}, {"properties", std::move(p)}, {"required", std::move(req)}};
}

json::object text_message(std::string text) {
  return json::object{{"role", "user"}, {"content", json::object{{"type", "text"}, {"text", std::move(text)}}}};
}

json::object elicit(std::string message, json::object properties, std::initializer_list<const char*> required) {
  json::array req;
  for (auto r : required) req.push_back(json::string(r));
  json::object schema{{"type", "object"}, {"properties", std::move(properties)}};
  if (!req.empty()) schema["required"] = std::move(req);
  return json::object{{"mode", "form"}, {"message", std::move(message)}, {"requestedSchema", std::move(schema)}};
}

json::object ask_llm(std::string question) {
  return json::object{
      {"messages",
       json::array{json::object{{"role", "user"}, {"content", json::object{{"type", "text"}, {"text", std::move(question)}}}}}},
      {"maxTokens", 100}};
}

std::string content_string(const ClientReply& r, std::string_view field) {
  if (!r.ok()) return "";
  const auto* o = r.result->if_object();
  const auto* c = o ? o->if_contains("content") : nullptr;
  const auto* f = c && c->is_object() ? c->get_object().if_contains(field) : nullptr;
  if (!f) return "";
  return f->is_string() ? std::string(f->get_string()) : json::serialize(*f);
}

// Tools written with RequestContext::ask: a server-to-client request in a session, an
// input-required result (answered by the client's retry) in 2026-07-28.
void add_input_required_tools(Server& s) {
  s.add_tool(tool("test_input_required_result_elicitation", "Asks the user's name, then greets them"),
             [](const json::object&, RequestContext& ctx) {
               auto r = ctx.ask("user_name", "elicitation/create",
                                elicit("What is your name?", json::object{{"name", json::object{{"type", "string"}}}}, {"name"}));
               if (!r.ok()) return ToolResult::error(r.error->message);
               if (r.result->at("action") != "accept") return ToolResult::text("The user did not give a name");
               return ToolResult::text("Hello, " + content_string(r, "name") + "!");
             });
  s.add_tool(tool("test_input_required_result_sampling", "Asks the client's model a question"),
             [](const json::object&, RequestContext& ctx) {
               auto r = ctx.ask("capital_question", "sampling/createMessage", ask_llm("What is the capital of France?"));
               if (!r.ok()) return ToolResult::error(r.error->message);
               return ToolResult::text("The model answered: " + content_string(r, "text"));
             });
  s.add_tool(tool("test_input_required_result_list_roots", "Asks the client for its roots"),
             [](const json::object&, RequestContext& ctx) {
               auto r = ctx.ask("client_roots", "roots/list", {});
               if (!r.ok()) return ToolResult::error(r.error->message);
               return ToolResult::text("Client roots: " + json::serialize(r.result->at("roots")));
             });
  auto confirm = [](const json::object&, RequestContext& ctx) {
    auto r = ctx.ask("confirm", "elicitation/create",
                     elicit("Please confirm", json::object{{"ok", json::object{{"type", "boolean"}}}}, {"ok"}));
    if (!r.ok()) return ToolResult::error(r.error->message);
    return ToolResult::text("state-ok: confirmed=" + content_string(r, "ok"));
  };
  s.add_tool(tool("test_input_required_result_request_state", "Confirms through a round trip that carries request state"),
             confirm);
  s.add_tool(tool("test_input_required_result_tampered_state", "Refuses request state that was altered"), confirm);
  s.add_tool(tool("test_input_required_result_multiple_inputs", "Asks for a name, a greeting and the roots at once"),
             [](const json::object&, RequestContext& ctx) {
               auto answers = ctx.ask_all({
                   {"user_name", "elicitation/create",
                    elicit("What is your name?", json::object{{"name", json::object{{"type", "string"}}}}, {"name"})},
                   {"greeting", "sampling/createMessage", ask_llm("Write a one-line greeting")},
                   {"client_roots", "roots/list", {}},
               });
               for (auto& [k, r] : answers)
                 if (!r.ok()) return ToolResult::error(k + ": " + r.error->message);
               return ToolResult::text("Name " + content_string(answers.at("user_name"), "name") + ", greeting " +
                                       content_string(answers.at("greeting"), "text"));
             });
  s.add_tool(tool("test_input_required_result_multi_round", "Asks two questions, one round each"), [](const json::object&,
                                                                                                      RequestContext& ctx) {
    auto name = ctx.ask("step1", "elicitation/create",
                        elicit("What is your name?", json::object{{"name", json::object{{"type", "string"}}}}, {"name"}));
    if (!name.ok()) return ToolResult::error(name.error->message);
    auto color =
        ctx.ask("step2", "elicitation/create",
                elicit("What is your favourite colour?", json::object{{"color", json::object{{"type", "string"}}}}, {"color"}));
    if (!color.ok()) return ToolResult::error(color.error->message);
    return ToolResult::text(content_string(name, "name") + " likes " + content_string(color, "color"));
  });
  s.add_tool(
      tool("test_input_required_result_capabilities", "Asks only for what the client declared it can answer"),
      [](const json::object&, RequestContext& ctx) {
        std::vector<InputRequest> asks;
        if (ctx.client_supports("elicitation"))
          asks.push_back({"user_name", "elicitation/create",
                          elicit("What is your name?", json::object{{"name", json::object{{"type", "string"}}}}, {"name"})});
        if (ctx.client_supports("sampling"))
          asks.push_back({"capital_question", "sampling/createMessage", ask_llm("What is the capital of France?")});
        if (ctx.client_supports("roots")) asks.push_back({"client_roots", "roots/list", {}});
        if (asks.empty()) return ToolResult::text("The client declared no way to answer questions");
        auto answers = ctx.ask_all(std::move(asks));
        return ToolResult::text("Answered " + std::to_string(answers.size()) + " question(s)");
      });
}

void add_tools(Server& s) {
  s.add_tool(tool("test_simple_text", "Tests simple text content response"), [](const json::object&, RequestContext&) {
    return ToolResult::text("This is a simple text response for testing.");
  });
  s.add_tool(tool("test_image_content", "Tests image content response"), [](const json::object&, RequestContext&) {
    ToolResult r;
    r.add_image(kPng, "image/png");
    return r;
  });
  s.add_tool(tool("test_audio_content", "Tests audio content response"), [](const json::object&, RequestContext&) {
    ToolResult r;
    r.add_audio(kWav, "audio/wav");
    return r;
  });
  s.add_tool(
      tool("test_embedded_resource", "Tests embedded resource content response"), [](const json::object&, RequestContext&) {
        ToolResult r;
        r.add_resource(json::object{
            {"uri", "test://embedded-resource"}, {"mimeType", "text/plain"}, {"text", "This is an embedded resource content."}});
        return r;
      });
  s.add_tool(tool("test_multiple_content_types", "Tests response with multiple content types (text, image, resource)"),
             [](const json::object&, RequestContext&) {
               ToolResult r;
               r.add_text("Multiple content types test:");
               r.add_image(kPng, "image/png");
               r.add_resource(json::object{{"uri", "test://mixed-content-resource"},
                                           {"mimeType", "application/json"},
                                           {"text", "{\"test\":\"data\",\"value\":123}"}});
               return r;
             });
  s.add_tool(tool("test_tool_with_logging", "Tests tool that emits log messages during execution"),
             [](const json::object&, RequestContext& ctx) {
               ctx.log(LogLevel::info, "Tool execution started", "conformance");
               ctx.sleep_for(50ms);
               ctx.log(LogLevel::info, "Tool processing data", "conformance");
               ctx.sleep_for(50ms);
               ctx.log(LogLevel::info, "Tool execution completed", "conformance");
               return ToolResult::text("Tool with logging executed successfully");
             });
  s.add_tool(tool("test_error_handling", "Tests error response handling"), [](const json::object&, RequestContext&) {
    return ToolResult::error("This tool intentionally returns an error for testing");
  });
  s.add_tool(tool("test_tool_with_progress", "Tests tool that reports progress notifications"),
             [](const json::object&, RequestContext& ctx) {
               ctx.progress(0, 100, "Starting");
               ctx.sleep_for(50ms);
               ctx.progress(50, 100, "Halfway");
               ctx.sleep_for(50ms);
               ctx.progress(100, 100, "Done");
               return ToolResult::text("Tool with progress completed");
             });
  s.add_tool(tool("test_sampling", "Tests server-initiated sampling (LLM completion request)",
                  string_props({{"prompt", "The prompt to send to the LLM"}}, {"prompt"})),
             [](const json::object& args, RequestContext& ctx) {
               std::string prompt(args.at("prompt").as_string());
               json::object params{
                   {"messages",
                    json::array{json::object{{"role", "user"}, {"content", json::object{{"type", "text"}, {"text", prompt}}}}}},
                   {"maxTokens", 100}};
               ClientReply reply = ctx.ask("sampling", "sampling/createMessage", std::move(params));
               if (!reply.ok()) return ToolResult::error("Sampling failed: " + reply.error->message);
               std::string text = "(no text)";
               if (const auto* o = reply.result->if_object())
                 if (const auto* c = o->if_contains("content"); c && c->is_object())
                   if (const auto* t = c->get_object().if_contains("text"); t && t->is_string())
                     text = std::string(t->get_string());
               return ToolResult::text("LLM response: " + text);
             });
  s.add_tool(
      tool("test_elicitation", "Tests server-initiated elicitation (user input request)",
           string_props({{"message", "The message to show the user"}}, {"message"})),
      [](const json::object& args, RequestContext& ctx) {
        json::object schema{
            {"type", "object"},
            {"properties", json::object{{"username", json::object{{"type", "string"}, {"description", "User's response"}}},
                                        {"email", json::object{{"type", "string"}, {"description", "User's email address"}}}}},
            {"required", json::array{"username", "email"}}};
        ClientReply reply = ctx.ask("user_info", "elicitation/create",
                                    json::object{{"message", args.at("message")}, {"requestedSchema", std::move(schema)}});
        if (!reply.ok()) return ToolResult::error("Elicitation failed: " + reply.error->message);
        const auto& o = reply.result->as_object();
        std::string action =
            o.contains("action") && o.at("action").is_string() ? std::string(o.at("action").as_string()) : "unknown";
        std::string content = o.contains("content") ? json::serialize(o.at("content")) : "{}";
        return ToolResult::text("User response: action=" + action + ", content=" + content);
      });
  s.add_tool(
      tool("test_elicitation_sep1034_defaults", "Tests elicitation with default values for all primitive types (SEP-1034)"),
      [](const json::object&, RequestContext& ctx) {
        json::object props{
            {"name", json::object{{"type", "string"}, {"description", "User name"}, {"default", "John Doe"}}},
            {"age", json::object{{"type", "integer"}, {"description", "User age"}, {"default", 30}}},
            {"score", json::object{{"type", "number"}, {"description", "User score"}, {"default", 95.5}}},
            {"status", json::object{{"type", "string"},
                                    {"description", "User status"},
                                    {"enum", json::array{"active", "inactive", "pending"}},
                                    {"default", "active"}}},
            {"verified", json::object{{"type", "boolean"}, {"description", "Verification status"}, {"default", true}}}};
        ClientReply reply = ctx.request_sync(
            "elicitation/create",
            json::object{{"message", "Please review and update the form fields with defaults"},
                         {"requestedSchema", json::object{{"type", "object"}, {"properties", std::move(props)}}}});
        if (!reply.ok()) return ToolResult::error("Elicitation failed: " + reply.error->message);
        return ToolResult::text("Elicitation completed: " + json::serialize(*reply.result));
      });
  s.add_tool(
      tool("test_elicitation_sep1330_enums", "Tests elicitation with enum schema improvements (SEP-1330)"),
      [](const json::object&, RequestContext& ctx) {
        auto titled = [](const char* prefix, const char* kind) {
          json::array a;
          const char* names[] = {"First", "Second", "Third"};
          for (int i = 0; i < 3; ++i)
            a.push_back(json::object{{"const", std::string(prefix) + std::to_string(i + 1)},
                                     {"title", std::string(names[i]) + " " + kind}});
          return a;
        };
        json::object props{
            {"untitledSingle", json::object{{"type", "string"},
                                            {"description", "Select one option"},
                                            {"enum", json::array{"option1", "option2", "option3"}}}},
            {"titledSingle",
             json::object{
                 {"type", "string"}, {"description", "Select one option with titles"}, {"oneOf", titled("value", "Option")}}},
            {"legacyEnum", json::object{{"type", "string"},
                                        {"description", "Select one option (legacy)"},
                                        {"enum", json::array{"opt1", "opt2", "opt3"}},
                                        {"enumNames", json::array{"Option One", "Option Two", "Option Three"}}}},
            {"untitledMulti",
             json::object{{"type", "array"},
                          {"description", "Select multiple options"},
                          {"items", json::object{{"type", "string"}, {"enum", json::array{"option1", "option2", "option3"}}}}}},
            {"titledMulti", json::object{{"type", "array"},
                                         {"description", "Select multiple options with titles"},
                                         {"items", json::object{{"anyOf", titled("value", "Choice")}}}}}};
        ClientReply reply = ctx.request_sync(
            "elicitation/create",
            json::object{{"message", "Please select options from the enum fields"},
                         {"requestedSchema", json::object{{"type", "object"}, {"properties", std::move(props)}}}});
        if (!reply.ok()) return ToolResult::error("Elicitation failed: " + reply.error->message);
        return ToolResult::text("Elicitation completed: " + json::serialize(*reply.result));
      });
  s.add_tool(tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features",
                  json::parse(R"({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
                     "$defs":{"address":{"$anchor":"addressDef","type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}}}},
                     "properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"},
                                   "contactMethod":{"type":"string","enum":["phone","email"]},
                                   "phone":{"type":"string"},"email":{"type":"string"}},
                     "allOf":[{"anyOf":[{"required":["phone"]},{"required":["email"]}]}],
                     "if":{"properties":{"contactMethod":{"const":"phone"}}},
                     "then":{"required":["phone"]},"else":{"required":["email"]},
                     "additionalProperties":false})")
                      .as_object()),
             [](const json::object& args, RequestContext&) {
               return ToolResult::text("JSON Schema 2020-12 tool called with: " + json::serialize(args));
             });
  s.add_tool(tool("test_reconnection", "Tests SSE stream disconnection and client reconnection (SEP-1699)"),
             [](const json::object&, RequestContext& ctx) {
               // Close the response stream mid-call; the client resumes with Last-Event-ID and gets the result there.
               ctx.close_stream(std::chrono::milliseconds(500));
               ctx.sleep_for(100ms);
               return ToolResult::text("Reconnection test completed successfully");
             });
  Tool structured = tool("test_structured_output", "Returns structured content that matches its output schema");
  structured.output_schema =
      json::parse(
          R"({"type":"object","properties":{"temperature":{"type":"number"},"conditions":{"type":"string"}},"required":["temperature","conditions"]})")
          .as_object();
  structured.annotations = json::object{{"readOnlyHint", true}, {"idempotentHint", true}};
  s.add_tool(std::move(structured), [](const json::object&, RequestContext&) {
    ToolResult r = ToolResult::text(R"({"temperature":22.5,"conditions":"sunny"})");
    r.structured_content = json::object{{"temperature", 22.5}, {"conditions", "sunny"}};
    return r;
  });
  s.add_tool(
      tool("test_slow", "Sleeps for durationMs milliseconds; stops early when cancelled",
           json::parse(R"({"type":"object","properties":{"durationMs":{"type":"number","description":"How long to run"}}})")
               .as_object()),
      [](const json::object& args, RequestContext& ctx) {
        double ms = 10000;
        if (const auto* d = args.if_contains("durationMs"); d && d->is_number()) ms = d->to_number<double>();
        ctx.progress(0, ms, "sleeping");  // opens the response stream when progress was asked for
        if (!ctx.sleep_for(std::chrono::milliseconds(static_cast<std::int64_t>(ms)))) {
          g_cancelled.fetch_add(1);
          return ToolResult::error("cancelled");
        }
        return ToolResult::text("slept " + std::to_string(static_cast<std::int64_t>(ms)) + " ms");
      });
  s.add_tool(tool("test_cancelled_count", "How many test_slow calls were stopped by cancellation"),
             [](const json::object&, RequestContext&) { return ToolResult::text(std::to_string(g_cancelled.load())); });

  // Revision 2026-07-28: tools the stateless scenarios call.
  s.add_tool(
      tool("test_missing_capability", "Needs the client's sampling capability; without it the call is refused with -32021"),
      [](const json::object&, RequestContext& ctx) {
        json::object params{{"messages", json::array{json::object{
                                             {"role", "user"}, {"content", json::object{{"type", "text"}, {"text", "Say hi"}}}}}},
                            {"maxTokens", 20}};
        ClientReply r = ctx.ask("sample", "sampling/createMessage", std::move(params));
        if (!r.ok()) return ToolResult::error("Sampling failed: " + r.error->message);
        return ToolResult::text("Sampling answered");
      });
  s.add_tool(
      tool("test_streaming_elicitation", "Asks the user for input (an input-required result in 2026-07-28)"),
      [](const json::object&, RequestContext& ctx) {
        json::object schema{{"type", "object"}, {"properties", json::object{{"answer", json::object{{"type", "string"}}}}}};
        ClientReply r =
            ctx.ask("user_input", "elicitation/create",
                    json::object{{"mode", "form"}, {"message", "Please answer"}, {"requestedSchema", std::move(schema)}});
        if (!r.ok()) return ToolResult::error("Elicitation failed: " + r.error->message);
        return ToolResult::text("Elicitation answered: " + json::serialize(*r.result));
      });
  s.add_tool(tool("test_logging_tool", "Logs two messages; only sent when the request asks for a log level"),
             [](const json::object&, RequestContext& ctx) {
               ctx.log(LogLevel::info, "Logging tool started", "conformance");
               ctx.log(LogLevel::info, "Logging tool finished", "conformance");
               return ToolResult::text("Logging tool completed");
             });
  s.add_tool(tool("test_trigger_tool_change", "Announces a change of the tool list"),
             [](const json::object&, RequestContext& ctx) {
               ctx.server().notify_tools_changed();
               return ToolResult::text("Tool list change announced");
             });
  s.add_tool(tool("test_trigger_prompt_change", "Announces a change of the prompt list"),
             [](const json::object&, RequestContext& ctx) {
               ctx.server().notify_prompts_changed();
               return ToolResult::text("Prompt list change announced");
             });
  add_input_required_tools(s);
}

void add_resources(Server& s) {
  s.add_resource(Resource{"test://static-text", "Static Text Resource", "", "A static text resource for testing", "text/plain"},
                 [](const std::string& uri, RequestContext&) {
                   return std::vector<ResourceContents>{
                       {uri, "text/plain", std::string("This is the content of the static text resource."), std::nullopt}};
                 });
  s.add_resource(
      Resource{"test://static-binary", "Static Binary Resource", "", "A static binary resource (image) for testing", "image/png"},
      [](const std::string& uri, RequestContext&) {
        return std::vector<ResourceContents>{{uri, "image/png", std::nullopt, std::string(kPng)}};
      });
  s.add_resource(
      Resource{"test://watched-resource", "Watched Resource", "", "A resource that can be subscribed to", "text/plain"},
      [](const std::string& uri, RequestContext&) {
        return std::vector<ResourceContents>{{uri, "text/plain", std::string("Watched resource content"), std::nullopt}};
      });
  s.add_resource_template(
      ResourceTemplate{"test://template/{id}/data", "Resource Template", "", "A resource template with parameter substitution",
                       "application/json"},
      [](const std::string& uri, const StringMap& vars, RequestContext&) -> std::optional<std::vector<ResourceContents>> {
        const std::string& id = vars.at("id");
        json::object body{{"id", id}, {"templateTest", true}, {"data", "Data for ID: " + id}};
        return std::vector<ResourceContents>{{uri, "application/json", json::serialize(body), std::nullopt}};
      });
  s.set_template_completer("test://template/{id}/data", [](const std::string&, const std::string& value, const StringMap&) {
    std::vector<std::string> out;
    for (const char* v : {"123", "456", "789"})
      if (std::string_view(v).starts_with(value)) out.emplace_back(v);
    return out;
  });
}

void add_prompts(Server& s) {
  s.add_prompt(Prompt{"test_simple_prompt", "", "A simple prompt without arguments", {}}, [](const StringMap&, RequestContext&) {
    return PromptResult{"", json::array{text_message("This is a simple prompt for testing.")}};
  });
  s.add_prompt(Prompt{"test_prompt_with_arguments",
                      "",
                      "A prompt with required arguments",
                      {{"arg1", "First test argument", true}, {"arg2", "Second test argument", true}}},
               [](const StringMap& a, RequestContext&) {
                 return PromptResult{"", json::array{text_message("Prompt with arguments: arg1='" + a.at("arg1") + "', arg2='" +
                                                                  a.at("arg2") + "'")}};
               });
  s.set_prompt_completer("test_prompt_with_arguments", [](const std::string& arg, const std::string& value, const StringMap&) {
    std::vector<std::string> out;
    for (std::string v : {"paris", "park", "party"}) {
      v = arg + "-" + v;
      if (v.starts_with(value)) out.push_back(v);
    }
    return out;
  });
  s.add_prompt(
      Prompt{"test_prompt_with_embedded_resource",
             "",
             "A prompt that includes an embedded resource",
             {{"resourceUri", "URI of the resource to embed", true}}},
      [](const StringMap& a, RequestContext&) {
        json::object res{
            {"uri", a.at("resourceUri")}, {"mimeType", "text/plain"}, {"text", "Embedded resource content for testing."}};
        return PromptResult{
            "", json::array{json::object{{"role", "user"}, {"content", json::object{{"type", "resource"}, {"resource", res}}}},
                            text_message("Please process the embedded resource above.")}};
      });
  s.add_prompt(Prompt{"test_input_required_result_prompt", "", "A prompt that first asks the user for context", {}},
               [](const StringMap&, RequestContext& ctx) {
                 auto r = ctx.ask("user_context", "elicitation/create",
                                  elicit("What context should the prompt use?",
                                         json::object{{"context", json::object{{"type", "string"}}}}, {"context"}));
                 if (!r.ok()) throw ProtocolError(-32603, "the user gave no context: " + r.error->message);
                 return PromptResult{"", json::array{text_message("Use this context: " + content_string(r, "context"))}};
               });
  s.add_prompt(
      Prompt{"test_prompt_with_image", "", "A prompt that includes image content", {}}, [](const StringMap&, RequestContext&) {
        json::object img{{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}};
        return PromptResult{
            "", json::array{json::object{{"role", "user"}, {"content", img}}, text_message("Please analyze the image above.")}};
      });
}

}  // namespace

void register_conformance_primitives(Server& server) {
  add_tools(server);
  add_resources(server);
  add_prompts(server);
}

void register_bench_tools(Server& server) {
  Tool echo = tool("echo", "Echoes its text argument",
                   json::parse(R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})").as_object());
  server.add_tool_async(std::move(echo),
                        [](const json::object& args, std::shared_ptr<RequestContext>, std::function<void(ToolResult)> done) {
                          done(ToolResult::text(std::string(args.at("text").as_string())));
                        });
  for (int i = 1; i <= 49; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "filler_%02d", i);
    server.add_tool_async(tool(name, std::string("Filler tool number ") + std::to_string(i),
                               json::parse(R"({"type":"object","properties":{"value":{"type":"string"}}})").as_object()),
                          [](const json::object&, std::shared_ptr<RequestContext>, std::function<void(ToolResult)> done) {
                            done(ToolResult::text("ok"));
                          });
  }
}

}  // namespace conformance
