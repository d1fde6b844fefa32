// Pure rules of the Streamable HTTP transport, kept apart from sockets so they are unit-testable.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jitgate::transport {

bool is_loopback_host(std::string_view host);  // "127.0.0.1", "localhost", "::1", "[::1]"
// The host part of a Host header value ("localhost:8080" -> "localhost", "[::1]:80" -> "[::1]").
std::string_view host_without_port(std::string_view host_header);
bool host_allowed(std::string_view host_header, bool bound_to_loopback, const std::vector<std::string>& allowed);
bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed);
// CORS for the MCP endpoint: the header lines for a response to `origin` when it is one of
// `cors_origins` (exact, case-insensitive), none otherwise; `preflight` adds the OPTIONS answer's.
std::vector<std::string> cors_headers(std::string_view origin, const std::vector<std::string>& cors_origins, bool preflight);

// Accept header checks: POST needs both JSON and SSE, GET needs SSE.
bool accepts(std::string_view accept, std::string_view media_type);
bool is_json_content_type(std::string_view content_type);

// Whether `name`, a header name as parsed (a token), equals `lower` (lowercase letters and '-' only)
// ignoring case. Cheaper than a general case-insensitive compare, for one pass over a request's fields.
bool header_name_is(std::string_view name, std::string_view lower);

// A 2026-07-28 header value: plain (surrounding whitespace trimmed) or "=?base64?...?=" for values
// that are not safe ASCII. nullopt when absent or malformed.
std::optional<std::string> decode_header_value(std::string_view raw);

// "streamId_seq" event ids.
struct EventId {
  std::uint64_t stream = 0;
  std::uint64_t seq = 0;
};
std::string format_event_id(EventId id);
std::optional<EventId> parse_event_id(std::string_view s);

// SSE and chunked framing.
std::string sse_event(std::string_view id, std::string_view data);
std::string chunk(std::string_view payload);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// An HTTP/1.1 response head; `headers` are "Name: value" lines without CRLF.
std::string response_head(unsigned status, const std::vector<std::string>& headers, std::optional<std::size_t> length,
                          bool keep_alive, bool chunked = false);
// A whole response with a Content-Length body given in pieces, built in one allocation;
// `extra_header` is one more header line after `headers` (empty: none).
std::string response_with_body(unsigned status, const std::vector<std::string>& headers, std::string_view extra_header,
                               std::initializer_list<std::string_view> body, bool keep_alive);

}  // namespace jitgate::transport
