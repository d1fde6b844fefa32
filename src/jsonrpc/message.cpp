#include "jitgate/jsonrpc/message.hpp"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <cstdint>
#include <type_traits>

namespace jitgate::jsonrpc {

bool valid_id(const json::value& id) { return id.is_string() || id.is_int64() || id.is_uint64() || id.is_double(); }

std::string id_key(const json::value& id) {
  if (id.is_string()) return "s:" + std::string(id.get_string());
  return "n:" + json::serialize(id);
}

namespace {

Invalid invalid(const json::value& id, std::string msg) {
  return Invalid{valid_id(id) ? id : json::value(nullptr), Error::make(ErrorCode::invalid_request, std::move(msg))};
}

}  // namespace

namespace {

// `V` const: params are copied; non-const (decode owns the parsed tree): params are moved out of it
// instead of deep-copied (a 2026-07-28 request's _meta envelope, a call's arguments).
template <typename V>
Decoded classify_impl(V& v) {
  auto* obj = v.if_object();
  if (!obj) return invalid(nullptr, "Invalid Request: a message must be a JSON object");
  const json::value* idp = obj->if_contains("id");
  json::value id = idp ? *idp : json::value(nullptr);
  const json::value* ver = obj->if_contains("jsonrpc");
  if (!ver || !ver->is_string() || ver->get_string() != "2.0") return invalid(id, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
  if (idp && !valid_id(*idp)) return invalid(nullptr, "Invalid Request: id must be a string or a number");

  const json::value* method = obj->if_contains("method");
  if (method) {
    if (!method->is_string()) return invalid(id, "Invalid Request: \"method\" must be a string");
    if (obj->contains("result") || obj->contains("error"))
      return invalid(id, "Invalid Request: a request cannot carry result or error");
    json::value params = nullptr;
    if (auto* p = obj->if_contains("params")) {
      if (!p->is_object() && !p->is_array()) return invalid(id, "Invalid Request: \"params\" must be an object or an array");
      if constexpr (std::is_const_v<V>)
        params = *p;
      else
        params = std::move(*p);
    }
    std::string m(method->get_string());
    if (idp) return Message{Request{*idp, std::move(m), std::move(params)}};
    return Message{Notification{std::move(m), std::move(params)}};
  }

  const json::value* result = obj->if_contains("result");
  const json::value* error = obj->if_contains("error");
  if (!result && !error) return invalid(id, "Invalid Request: no method, result or error");
  if (result && error) return invalid(id, "Invalid Request: both result and error");
  if (!idp) return invalid(nullptr, "Invalid Request: a response needs an id");
  Response r{*idp, std::nullopt, std::nullopt};
  if (result) {
    if constexpr (std::is_const_v<V>)
      r.result = *result;
    else
      r.result = std::move(*const_cast<json::value*>(result));  // `result` points into `v`, not const here
  } else {
    const auto* eo = error->if_object();
    // The code is an integer that fits the int32 the protocol uses: 2^32-32601 is no -32601.
    const auto* code = eo ? eo->if_contains("code") : nullptr;
    if (!code || !code->is_int64() || code->get_int64() < INT32_MIN || code->get_int64() > INT32_MAX ||
        !eo->contains("message") || !eo->at("message").is_string())
      return invalid(id, "Invalid Request: malformed error object");
    Error e{static_cast<std::int32_t>(eo->at("code").get_int64()), std::string(eo->at("message").get_string()), std::nullopt};
    if (const auto* d = eo->if_contains("data")) {
      if constexpr (std::is_const_v<V>)
        e.data = *d;
      else
        e.data = std::move(*const_cast<json::value*>(d));  // `d` points into `v`, which is not const here
    }
    r.error = std::move(e);
  }
  return Message{std::move(r)};
}

}  // namespace

Decoded classify(const json::value& v) { return classify_impl(v); }

namespace {

// Checks a JSON text and notes, at the top level, the members scan_result_text needs, without
// building anything. Strings and keys the parser hands over whole point into the text.
struct ResultScan {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  enum class Key { none, jsonrpc, id, result, other };
  std::size_t depth = 0;
  Key current = Key::none;  // the top-level member whose value comes next
  bool unusual = false;     // anything that is not the plain shape
  bool version_ok = false, has_id = false;
  std::int64_t id = 0;
  const char* result_key_end = nullptr;  // just past the key "result" (its closing quote excluded)
  const char* after_result = nullptr;    // the key that follows the result's value, if any
  bool in_result = false;
  bool result_done = false;
  unsigned seen = 0;  // top-level keys met, one bit per Key

  // A value at depth 1 (the top-level object's member) starts.
  void top_value() {
    if (depth != 1) return;
    if (current == Key::result) unusual = true;  // a result that is not an object
  }
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) {
    if (depth == 0) unusual = true;
    top_value();
    ++depth;
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    --depth;
    return true;
  }
  bool on_object_begin(boost::system::error_code&) {
    if (depth == 1) {
      if (current == Key::result) in_result = true;
    }
    ++depth;
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    --depth;
    if (depth == 1 && in_result) {
      in_result = false;
      result_done = true;
    }
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string(json::string_view s, std::size_t n, boost::system::error_code&) {
    if (depth == 1) {
      if (current == Key::jsonrpc && n == s.size() && s == "2.0")
        version_ok = true;
      else if (current != Key::other)
        unusual = true;
    }
    return true;
  }
  bool on_key_part(json::string_view, std::size_t, boost::system::error_code&) {
    if (depth == 1) unusual = true;  // split or escaped: not worth the trouble
    return true;
  }
  bool on_key(json::string_view s, std::size_t n, boost::system::error_code&) {
    if (depth != 1) return true;
    if (n != s.size()) unusual = true;
    if (result_done && !after_result) after_result = s.data();
    if (s == "jsonrpc")
      current = Key::jsonrpc;
    else if (s == "id")
      current = Key::id;
    else if (s == "result") {
      current = Key::result;
      result_key_end = s.data() + s.size();
    } else {
      unusual = true;
      current = Key::other;
    }
    unsigned bit = 1u << static_cast<unsigned>(current);
    if (seen & bit) unusual = true;  // a repeated member
    seen |= bit;
    return true;
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, boost::system::error_code&) {
    if (depth == 1) {
      if (current == Key::id) {
        has_id = true;
        id = i;
      } else {
        unusual = true;
      }
    }
    return true;
  }
  bool on_uint64(std::uint64_t, json::string_view, boost::system::error_code&) {
    if (depth == 1) unusual = true;
    return true;
  }
  bool on_double(double, json::string_view, boost::system::error_code&) {
    if (depth == 1) unusual = true;
    return true;
  }
  bool on_bool(bool, boost::system::error_code&) {
    if (depth == 1) unusual = true;
    return true;
  }
  bool on_null(boost::system::error_code&) {
    if (depth == 1) unusual = true;
    return true;
  }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }
};

bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

std::optional<ResultText> scan_result_text(std::string_view text, const Limits& limits) {
  json::parse_options opts;
  opts.max_depth = limits.max_depth;
  json::basic_parser<ResultScan> p(opts);
  boost::system::error_code ec;
  std::size_t n = p.write_some(false, text.data(), text.size(), ec);
  if (ec || n != text.size() || !p.done()) return std::nullopt;
  const ResultScan& h = p.handler();
  if (h.unusual || !h.version_ok || !h.has_id || !h.result_done || !h.result_key_end) return std::nullopt;
  const char* begin = text.data();
  const char* end = begin + text.size();
  // The value starts after the key's closing quote, blanks, ':' and blanks.
  const char* v = h.result_key_end;
  if (v < begin || v >= end || *v != '"') return std::nullopt;
  ++v;
  while (v < end && json_space(*v)) ++v;
  if (v == end || *v != ':') return std::nullopt;
  ++v;
  while (v < end && json_space(*v)) ++v;
  if (v == end || *v != '{') return std::nullopt;
  // It ends before the next member's '"' and ',' or, being the last, before the closing brace.
  const char* e = nullptr;
  if (h.after_result) {
    e = h.after_result;
    if (e <= v || e > end) return std::nullopt;
    --e;  // the opening quote of the next key
    while (e > v && json_space(e[-1])) --e;
    if (e == v || e[-1] != ',') return std::nullopt;
    --e;
  } else {
    e = end;
    while (e > v && json_space(e[-1])) --e;
    if (e == v || e[-1] != '}') return std::nullopt;
    --e;  // the top-level closing brace
  }
  while (e > v && json_space(e[-1])) --e;
  if (e == v || e[-1] != '}') return std::nullopt;
  return ResultText{h.id, std::string_view(v, static_cast<std::size_t>(e - v))};
}

DecodedBody decode(std::string_view body, const Limits& limits) {
  DecodedBody out;
  json::parse_options opts;
  opts.max_depth = limits.max_depth;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, {}, opts);
  if (ec) {
    out.parse_error = Error::make(ErrorCode::parse_error, "Parse error: " + ec.message());
    return out;
  }
  if (auto* arr = v.if_array()) {
    out.batch = true;
    if (arr->empty()) {
      out.items.push_back(invalid(nullptr, "Invalid Request: empty batch"));
      return out;
    }
    if (arr->size() > limits.max_batch) {
      out.items.push_back(invalid(nullptr, "Invalid Request: batch too large"));
      return out;
    }
    for (auto& e : *arr) out.items.push_back(classify_impl(e));
    return out;
  }
  out.items.push_back(classify_impl(v));
  return out;
}

json::object error_response(const Id& id, const Error& e) {
  json::object err{{"code", e.code}, {"message", e.message}};
  if (e.data) err["data"] = *e.data;
  return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}};
}

json::object result_response(const Id& id, json::value result) {
  return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json::object to_json(const Request& r) {
  json::object o{{"jsonrpc", "2.0"}, {"id", r.id}, {"method", r.method}};
  if (!r.params.is_null()) o["params"] = r.params;
  return o;
}

json::object to_json(const Notification& n) {
  json::object o{{"jsonrpc", "2.0"}, {"method", n.method}};
  if (!n.params.is_null()) o["params"] = n.params;
  return o;
}

json::object to_json(const Response& r) {
  if (r.error) return error_response(r.id, *r.error);
  return result_response(r.id, r.result.value_or(json::object{}));
}

json::object to_json(const Message& m) {
  return std::visit([](const auto& x) { return to_json(x); }, m);
}

std::string serialize(const json::value& v) { return json::serialize(v); }

}  // namespace jitgate::jsonrpc
