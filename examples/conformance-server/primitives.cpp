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

constexpr const char* kPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
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

void add_tools(Server& s) {
  s.add_tool(tool("test_simple_text", "Tests simple text content response"),
             [](const json::object&, RequestContext&) {
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
  s.add_tool(tool("test_embedded_resource", "Tests embedded resource content response"),
             [](const json::object&, RequestContext&) {
               ToolResult r;
               r.add_resource(json::object{{"uri", "test://embedded-resource"},
                                           {"mimeType", "text/plain"},
                                           {"text", "This is an embedded resource content."}});
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
               json::object params{{"messages", json::array{json::object{
                                                    {"role", "user"},
                                                    {"content", json::object{{"type", "text"}, {"text", prompt}}}}}},
                                   {"maxTokens", 100}};
               ClientReply reply = ctx.request_sync("sampling/createMessage", std::move(params));
               if (!reply.ok()) return ToolResult::error("Sampling failed: " + reply.error->message);
               std::string text = "(no text)";
               if (const auto* o = reply.result->if_object())
                 if (const auto* c = o->if_contains("content"); c && c->is_object())
                   if (const auto* t = c->get_object().if_contains("text"); t && t->is_string())
                     text = std::string(t->get_string());
               return ToolResult::text("LLM response: " + text);
             });
  s.add_tool(tool("test_elicitation", "Tests server-initiated elicitation (user input request)",
                  string_props({{"message", "The message to show the user"}}, {"message"})),
             [](const json::object& args, RequestContext& ctx) {
               json::object schema{{"type", "object"},
                                   {"properties", json::object{{"username", json::object{{"type", "string"}, {"description", "User's response"}}},
                                                               {"email", json::object{{"type", "string"}, {"description", "User's email address"}}}}},
                                   {"required", json::array{"username", "email"}}};
               ClientReply reply = ctx.request_sync(
                   "elicitation/create", json::object{{"message", args.at("message")}, {"requestedSchema", std::move(schema)}});
               if (!reply.ok()) return ToolResult::error("Elicitation failed: " + reply.error->message);
               const auto& o = reply.result->as_object();
               std::string action = o.contains("action") && o.at("action").is_string() ? std::string(o.at("action").as_string()) : "unknown";
               std::string content = o.contains("content") ? json::serialize(o.at("content")) : "{}";
               return ToolResult::text("User response: action=" + action + ", content=" + content);
             });
  s.add_tool(tool("test_elicitation_sep1034_defaults", "Tests elicitation with default values for all primitive types (SEP-1034)"),
             [](const json::object&, RequestContext& ctx) {
               json::object props{
                   {"name", json::object{{"type", "string"}, {"description", "User name"}, {"default", "John Doe"}}},
                   {"age", json::object{{"type", "integer"}, {"description", "User age"}, {"default", 30}}},
                   {"score", json::object{{"type", "number"}, {"description", "User score"}, {"default", 95.5}}},
                   {"status", json::object{{"type", "string"}, {"description", "User status"},
                                           {"enum", json::array{"active", "inactive", "pending"}}, {"default", "active"}}},
                   {"verified", json::object{{"type", "boolean"}, {"description", "Verification status"}, {"default", true}}}};
               ClientReply reply = ctx.request_sync(
                   "elicitation/create",
                   json::object{{"message", "Please review and update the form fields with defaults"},
                                {"requestedSchema", json::object{{"type", "object"}, {"properties", std::move(props)}}}});
               if (!reply.ok()) return ToolResult::error("Elicitation failed: " + reply.error->message);
               return ToolResult::text("Elicitation completed: " + json::serialize(*reply.result));
             });
  s.add_tool(tool("test_elicitation_sep1330_enums", "Tests elicitation with enum schema improvements (SEP-1330)"),
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
                   {"untitledSingle", json::object{{"type", "string"}, {"description", "Select one option"},
                                                   {"enum", json::array{"option1", "option2", "option3"}}}},
                   {"titledSingle", json::object{{"type", "string"}, {"description", "Select one option with titles"},
                                                 {"oneOf", titled("value", "Option")}}},
                   {"legacyEnum", json::object{{"type", "string"}, {"description", "Select one option (legacy)"},
                                               {"enum", json::array{"opt1", "opt2", "opt3"}},
                                               {"enumNames", json::array{"Option One", "Option Two", "Option Three"}}}},
                   {"untitledMulti", json::object{{"type", "array"}, {"description", "Select multiple options"},
                                                  {"items", json::object{{"type", "string"}, {"enum", json::array{"option1", "option2", "option3"}}}}}},
                   {"titledMulti", json::object{{"type", "array"}, {"description", "Select multiple options with titles"},
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
                     "$defs":{"address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}}}},
                     "properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"}},
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
  structured.output_schema = json::parse(
      R"({"type":"object","properties":{"temperature":{"type":"number"},"conditions":{"type":"string"}},"required":["temperature","conditions"]})")
                                 .as_object();
  structured.annotations = json::object{{"readOnlyHint", true}, {"idempotentHint", true}};
  s.add_tool(std::move(structured), [](const json::object&, RequestContext&) {
    ToolResult r = ToolResult::text(R"({"temperature":22.5,"conditions":"sunny"})");
    r.structured_content = json::object{{"temperature", 22.5}, {"conditions", "sunny"}};
    return r;
  });
  s.add_tool(tool("test_slow", "Sleeps for durationMs milliseconds; stops early when cancelled",
                  json::parse(R"({"type":"object","properties":{"durationMs":{"type":"number","description":"How long to run"}}})").as_object()),
             [](const json::object& args, RequestContext& ctx) {
               double ms = 10000;
               if (const auto* d = args.if_contains("durationMs"); d && d->is_number()) ms = d->to_number<double>();
               if (!ctx.sleep_for(std::chrono::milliseconds(static_cast<std::int64_t>(ms)))) {
                 g_cancelled.fetch_add(1);
                 return ToolResult::error("cancelled");
               }
               return ToolResult::text("slept " + std::to_string(static_cast<std::int64_t>(ms)) + " ms");
             });
  s.add_tool(tool("test_cancelled_count", "How many test_slow calls were stopped by cancellation"),
             [](const json::object&, RequestContext&) { return ToolResult::text(std::to_string(g_cancelled.load())); });
}

void add_resources(Server& s) {
  s.add_resource(Resource{"test://static-text", "Static Text Resource", "", "A static text resource for testing", "text/plain"},
                 [](const std::string& uri, RequestContext&) {
                   return std::vector<ResourceContents>{
                       {uri, "text/plain", std::string("This is the content of the static text resource."), std::nullopt}};
                 });
  s.add_resource(Resource{"test://static-binary", "Static Binary Resource", "", "A static binary resource (image) for testing", "image/png"},
                 [](const std::string& uri, RequestContext&) {
                   return std::vector<ResourceContents>{{uri, "image/png", std::nullopt, std::string(kPng)}};
                 });
  s.add_resource(Resource{"test://watched-resource", "Watched Resource", "", "A resource that can be subscribed to", "text/plain"},
                 [](const std::string& uri, RequestContext&) {
                   return std::vector<ResourceContents>{{uri, "text/plain", std::string("Watched resource content"), std::nullopt}};
                 });
  s.add_resource_template(
      ResourceTemplate{"test://template/{id}/data", "Resource Template", "", "A resource template with parameter substitution", "application/json"},
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
  s.add_prompt(Prompt{"test_simple_prompt", "", "A simple prompt without arguments", {}},
               [](const StringMap&, RequestContext&) {
                 return PromptResult{"", json::array{text_message("This is a simple prompt for testing.")}};
               });
  s.add_prompt(Prompt{"test_prompt_with_arguments", "", "A prompt with required arguments",
                      {{"arg1", "First test argument", true}, {"arg2", "Second test argument", true}}},
               [](const StringMap& a, RequestContext&) {
                 return PromptResult{"", json::array{text_message("Prompt with arguments: arg1='" + a.at("arg1") +
                                                                  "', arg2='" + a.at("arg2") + "'")}};
               });
  s.set_prompt_completer("test_prompt_with_arguments", [](const std::string& arg, const std::string& value, const StringMap&) {
    std::vector<std::string> out;
    for (std::string v : {"paris", "park", "party"}) {
      v = arg + "-" + v;
      if (v.starts_with(value)) out.push_back(v);
    }
    return out;
  });
  s.add_prompt(Prompt{"test_prompt_with_embedded_resource", "", "A prompt that includes an embedded resource",
                      {{"resourceUri", "URI of the resource to embed", true}}},
               [](const StringMap& a, RequestContext&) {
                 json::object res{{"uri", a.at("resourceUri")}, {"mimeType", "text/plain"}, {"text", "Embedded resource content for testing."}};
                 return PromptResult{"", json::array{json::object{{"role", "user"}, {"content", json::object{{"type", "resource"}, {"resource", res}}}},
                                                     text_message("Please process the embedded resource above.")}};
               });
  s.add_prompt(Prompt{"test_prompt_with_image", "", "A prompt that includes image content", {}},
               [](const StringMap&, RequestContext&) {
                 json::object img{{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}};
                 return PromptResult{"", json::array{json::object{{"role", "user"}, {"content", img}},
                                                     text_message("Please analyze the image above.")}};
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
  server.add_tool_async(std::move(echo), [](const json::object& args, std::shared_ptr<RequestContext>, std::function<void(ToolResult)> done) {
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
