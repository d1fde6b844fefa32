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
  if (origin.empty() || std::none_of(cors_origins.begin(), cors_origins.end(), [&](const std::string& a) { return iequals(a, origin); }))
    return {};
  std::vector<std::string> h{"Access-Control-Allow-Origin: " + std::string(origin), "Vary: Origin"};
  if (preflight) {
    h.emplace_back("Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS");
    h.emplace_back("Access-Control-Allow-Headers: Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, "
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
    if (item.size() == slash + 2 && iequals(item.substr(0, slash + 1), media_type.substr(0, slash + 1)) &&
        item.back() == '*')
      return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

bool is_json_content_type(std::string_view ct) {
  return iequals(trim(ct.substr(0, ct.find(';'))), "application/json");
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

std::string response_head(unsigned status, const std::vector<std::string>& headers, std::optional<std::size_t> length,
                          bool keep_alive, bool chunked) {
  std::string out = "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  out += "\r\nServer: jitgate\r\n";
  for (const auto& h : headers) {
    out += h;
    out += "\r\n";
  }
  if (length) {
    out += "Content-Length: ";
    out += std::to_string(*length);
    out += "\r\n";
  }
  if (chunked) out += "Transfer-Encoding: chunked\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "\r\n";
  return out;
}

}  // namespace jitgate::transport
