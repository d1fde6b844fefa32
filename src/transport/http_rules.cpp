#include "transport/http_rules.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/beast/http/status.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>

namespace jitgate::transport {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  return iequals(host, "localhost") || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

std::string_view host_without_port(std::string_view h) {
  h = trim(h);
  if (h.starts_with('[')) {
    auto close = h.find(']');
    return close == std::string_view::npos ? h : h.substr(0, close + 1);
  }
  auto colon = h.find(':');
  return colon == std::string_view::npos ? h : h.substr(0, colon);
}

bool host_allowed(std::string_view host_header, bool bound_to_loopback, const std::vector<std::string>& allowed) {
  std::string_view host = host_without_port(host_header);
  if (host.empty()) return false;
  if (!allowed.empty()) {
    return std::any_of(allowed.begin(), allowed.end(),
                       [&](const std::string& a) { return iequals(a, host) || iequals(a, trim(host_header)); });
  }
  return !bound_to_loopback || is_loopback_host(host);
}

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed) {
  origin = trim(origin);
  if (!allowed.empty())
    return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return iequals(a, origin) || a == "*"; });
  auto u = boost::urls::parse_absolute_uri(origin);
  if (!u) return false;
  if (u->scheme() != "http" && u->scheme() != "https") return false;
  return is_loopback_host(u->encoded_host());
}

std::vector<std::string> cors_headers(std::string_view origin, const std::vector<std::string>& cors_origins, bool preflight) {
  origin = trim(origin);
  if (origin.empty() ||
      std::none_of(cors_origins.begin(), cors_origins.end(), [&](const std::string& a) { return iequals(a, origin); }))
    return {};
  std::vector<std::string> h{"Access-Control-Allow-Origin: " + std::string(origin), "Vary: Origin"};
  if (preflight) {
    h.emplace_back("Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS");
    h.emplace_back(
        "Access-Control-Allow-Headers: Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, "
        "Last-Event-ID, Mcp-Method, Mcp-Name");
    h.emplace_back("Access-Control-Max-Age: 600");
  } else {
    // Without these a browser client cannot read its session id or the challenge it must answer.
    h.emplace_back("Access-Control-Expose-Headers: Mcp-Session-Id, WWW-Authenticate, MCP-Protocol-Version");
  }
  return h;
}

bool accepts(std::string_view accept, std::string_view media_type) {
  std::size_t pos = 0;
  while (pos <= accept.size()) {
    std::size_t comma = accept.find(',', pos);
    std::string_view item = accept.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    item = trim(item.substr(0, item.find(';')));
    if (iequals(item, media_type) || item == "*/*") return true;
    auto slash = media_type.find('/');
    if (item.size() == slash + 2 && iequals(item.substr(0, slash + 1), media_type.substr(0, slash + 1)) && item.back() == '*')
      return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

bool is_json_content_type(std::string_view ct) { return iequals(trim(ct.substr(0, ct.find(';'))), "application/json"); }

bool header_name_is(std::string_view name, std::string_view lower) {
  // OR-ing 0x20 folds exactly a letter's two cases; of the token characters, none other lands on a
  // letter or on '-' (only CR would, and a parsed name holds none).
  if (name.size() != lower.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if ((static_cast<unsigned char>(name[i]) | 0x20) != static_cast<unsigned char>(lower[i])) return false;
  return true;
}

std::optional<std::string> decode_header_value(std::string_view raw) {
  raw = trim(raw);
  if (raw.empty()) return std::nullopt;
  constexpr std::string_view kOpen = "=?base64?", kClose = "?=";
  if (!raw.starts_with(kOpen)) return std::string(raw);
  if (!raw.ends_with(kClose) || raw.size() < kOpen.size() + kClose.size()) return std::nullopt;
  std::string_view b64 = raw.substr(kOpen.size(), raw.size() - kOpen.size() - kClose.size());
  if (b64.size() % 4 != 0) return std::nullopt;
  std::string out(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return std::nullopt;
  std::size_t pad = b64.ends_with("==") ? 2 : b64.ends_with("=") ? 1 : 0;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string format_event_id(EventId id) { return std::to_string(id.stream) + "_" + std::to_string(id.seq); }

std::optional<EventId> parse_event_id(std::string_view s) {
  s = trim(s);
  auto sep = s.find('_');
  if (sep == std::string_view::npos || s.size() > 64) return std::nullopt;
  EventId id;
  auto a = std::from_chars(s.data(), s.data() + sep, id.stream);
  auto b = std::from_chars(s.data() + sep + 1, s.data() + s.size(), id.seq);
  if (a.ec != std::errc() || a.ptr != s.data() + sep || b.ec != std::errc() || b.ptr != s.data() + s.size() || sep == 0 ||
      sep + 1 == s.size())
    return std::nullopt;
  return id;
}

std::string sse_event(std::string_view id, std::string_view data) {
  std::string out;
  out.reserve(data.size() + id.size() + 32);
  if (!id.empty()) {
    out += "id: ";
    out += id;
    out += '\n';
  }
  out += "event: message\ndata: ";
  out += data;  // serialized JSON never contains a raw newline
  out += "\n\n";
  return out;
}

std::string chunk(std::string_view payload) {
  char size[20];
  auto [p, ec] = std::to_chars(size, size + sizeof size, payload.size(), 16);
  std::string out(size, p);
  out += "\r\n";
  out += payload;
  out += "\r\n";
  return out;
}

namespace {

// The head of a response, appended to `out` (which the caller sized); `extra` is one more header line
// (may be empty), `length` the Content-Length if any.
void append_head(std::string& out, unsigned status, std::string_view reason, const std::vector<std::string>& headers,
                 std::string_view extra, std::optional<std::size_t> length, bool keep_alive, bool chunked) {
  char num[24];
  out += "HTTP/1.1 ";
  out.append(num, static_cast<std::size_t>(std::to_chars(num, num + sizeof num, status).ptr - num));
  out += ' ';
  out += reason;
  out += "\r\nServer: jitgate\r\n";
  for (const auto& h : headers) {
    out += h;
    out += "\r\n";
  }
  if (!extra.empty()) {
    out += extra;
    out += "\r\n";
  }
  if (length) {
    out += "Content-Length: ";
    out.append(num, static_cast<std::size_t>(std::to_chars(num, num + sizeof num, *length).ptr - num));
    out += "\r\n";
  }
  if (chunked) out += "Transfer-Encoding: chunked\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "\r\n";
}

// An upper bound of append_head's output beside the header lines themselves.
constexpr std::size_t kHeadFixed = 9 + 3 + 1 + 2 + 18 + 16 + 20 + 2 + 28 + 24 + 2;

std::size_t header_bytes(const std::vector<std::string>& headers) {
  std::size_t n = 0;
  for (const auto& h : headers) n += h.size() + 2;
  return n;
}

}  // namespace

std::string response_head(unsigned status, const std::vector<std::string>& headers, std::optional<std::size_t> length,
                          bool keep_alive, bool chunked) {
  auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  std::string out;
  out.reserve(kHeadFixed + reason.size() + header_bytes(headers));
  append_head(out, status, reason, headers, {}, length, keep_alive, chunked);
  return out;
}

std::string response_with_body(unsigned status, const std::vector<std::string>& headers, std::string_view extra_header,
                               std::initializer_list<std::string_view> body, bool keep_alive) {
  auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  std::size_t length = 0;
  for (auto part : body) length += part.size();
  std::string out;
  out.reserve(kHeadFixed + reason.size() + header_bytes(headers) + extra_header.size() + 2 + length);
  append_head(out, status, reason, headers, extra_header, length, keep_alive, false);
  for (auto part : body) out += part;
  return out;
}

}  // namespace jitgate::transport
