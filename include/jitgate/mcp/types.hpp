// MCP primitives as the public API describes them: tools, resources, templates, prompts.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "jitgate/policy/requirement.hpp"

namespace jitgate::mcp {

namespace json = boost::json;

enum class LogLevel { debug, info, notice, warning, error, critical, alert, emergency };
std::optional<LogLevel> parse_log_level(std::string_view s);
std::string_view to_string(LogLevel l);

struct Implementation {
  std::string name = "jitgate";
  std::string version = "0.1.0";
  std::string title;
};

struct Tool {
  std::string name;
  std::string title;
  std::string description;
  json::object input_schema{{"type", "object"}};
  std::optional<json::object> output_schema;
  json::object annotations;  // ToolAnnotations: readOnlyHint, destructiveHint, ...
  json::object meta;
  policy::Requirement access;  // what calling it needs; a policy file can tighten it
};

struct ToolResult {
  json::array content;
  std::optional<json::value> structured_content;
  bool is_error = false;
  json::object meta;

  static ToolResult text(std::string t);
  static ToolResult error(std::string t);
  ToolResult& add_text(std::string t);
  ToolResult& add_image(std::string base64, std::string mime_type);
  ToolResult& add_audio(std::string base64, std::string mime_type);
  ToolResult& add_resource(json::object resource);
};

struct Resource {
  std::string uri;
  std::string name;
  std::string title;
  std::string description;
  std::string mime_type;
  std::optional<std::int64_t> size;
  json::object annotations;
  json::object meta;
  policy::Requirement access;
};

struct ResourceTemplate {
  std::string uri_template;  // RFC 6570 level 1 (simple {var} expressions)
  std::string name;
  std::string title;
  std::string description;
  std::string mime_type;
  json::object annotations;
  policy::Requirement access;  // reading URIs it serves, and completing it
};

struct ResourceContents {
  std::string uri;
  std::string mime_type;
  std::optional<std::string> text;
  std::optional<std::string> blob;  // base64
  json::object to_json() const;
};

struct PromptArgument {
  std::string name;
  std::string description;
  bool required = false;
};

struct Prompt {
  std::string name;
  std::string title;
  std::string description;
  std::vector<PromptArgument> arguments;
  policy::Requirement access;
};

struct PromptResult {
  std::string description;
  json::array messages;  // PromptMessage objects {role, content}
};

using StringMap = std::map<std::string, std::string, std::less<>>;

// Thrown by a handler to answer with a specific JSON-RPC error (for instance -32602).
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(std::int32_t code, std::string message, std::optional<json::value> data = std::nullopt)
      : std::runtime_error(message), code_(code), data_(std::move(data)) {}
  std::int32_t code() const { return code_; }
  const std::optional<json::value>& data() const { return data_; }

 private:
  std::int32_t code_;
  std::optional<json::value> data_;
};

// MCP-specific error code for an unknown resource (revisions up to 2025-11-25).
inline constexpr std::int32_t kResourceNotFound = -32002;

}  // namespace jitgate::mcp
