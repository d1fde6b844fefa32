// JSON-RPC 2.0 messages on Boost.JSON: classification, validation and construction.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace jitgate::jsonrpc {

namespace json = boost::json;

// Standard JSON-RPC error codes.
enum class ErrorCode : std::int32_t {
  parse_error = -32700,
  invalid_request = -32600,
  method_not_found = -32601,
  invalid_params = -32602,
  internal_error = -32603,
};

// A request id: a string or a number, echoed back exactly as received.
using Id = json::value;

struct Error {
  std::int32_t code = 0;
  std::string message;
  std::optional<json::value> data;

  static Error make(ErrorCode c, std::string msg, std::optional<json::value> d = std::nullopt) {
    return Error{static_cast<std::int32_t>(c), std::move(msg), std::move(d)};
  }
};

struct Request {
  Id id;
  std::string method;
  json::value params;  // object, array or null when absent
};

struct Notification {
  std::string method;
  json::value params;
};

struct Response {
  Id id;
  std::optional<json::value> result;  // set on success
  std::optional<Error> error;         // set on failure
};

using Message = std::variant<Request, Notification, Response>;

// One element of a decoded body: either a valid message or the error to answer it with.
struct Invalid {
  Id id;  // null when the id could not be recovered
  Error error;
};
using Decoded = std::variant<Message, Invalid>;

struct Limits {
  std::size_t max_depth = 64;
  std::size_t max_batch = 100;
};

// Result of decoding a whole body. `parse_error` set means the body is not JSON at all.
struct DecodedBody {
  std::optional<Error> parse_error;
  bool batch = false;
  std::vector<Decoded> items;
};

DecodedBody decode(std::string_view body, const Limits& limits = {});

// A successful response whose result can travel on as text: `{"jsonrpc":"2.0","id":<integer>,
// "result":{...}}`, those three members in any order and nothing else, the whole text checked to be
// JSON (within `limits.max_depth`). `result` views the result object's text inside `text`.
struct ResultText {
  std::int64_t id = 0;
  std::string_view result;
};
// Nullopt for anything else (decode it): other members, another id type, an error, a result that
// is not an object, escapes in the top-level keys, malformed JSON.
std::optional<ResultText> scan_result_text(std::string_view text, const Limits& limits = {});
Decoded classify(const json::value& v);

json::object to_json(const Request& r);
json::object to_json(const Notification& n);
json::object to_json(const Response& r);
json::object to_json(const Message& m);
json::object error_response(const Id& id, const Error& e);
json::object result_response(const Id& id, json::value result);
std::string serialize(const json::value& v);

// True when `id` is a legal request id (string or integer number).
bool valid_id(const json::value& id);
// A stable textual key for an id, distinguishing 1 from "1".
std::string id_key(const json::value& id);

}  // namespace jitgate::jsonrpc
