// HttpUpstream: one Asio io_context on one thread of its own. Every call is a coroutine with its
// own connection (taken from a small keep-alive pool or opened), so calls run concurrently and a
// hung one holds nothing but its socket; its deadline is the socket's expiry. Bookkeeping that
// callers touch (state, calls in flight, counters) is under `mu`; the network objects belong to
// the I/O thread alone. Callbacks run on the I/O thread, never under `mu`.
#include <jitgate/gateway/http_upstream.hpp>
#include <jitgate/observe/metrics.hpp>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <condition_variable>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <sys/socket.h>

namespace jitgate::gateway {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Parser = http::response_parser<http::buffer_body>;

constexpr std::string_view kMetaVersion = "io.modelcontextprotocol/protocolVersion";
constexpr std::string_view kMetaCapabilities = "io.modelcontextprotocol/clientCapabilities";
constexpr std::string_view kMetaClientInfo = "io.modelcontextprotocol/clientInfo";

auto tok(beast::error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

bool is_stateless_protocol(std::string_view v) { return v >= "2026-07-28"; }

// Where requests go. The URL's user info (credentials) is never kept.
struct Endpoint {
  bool tls = false;
  std::string host, port, host_header, target, shown;  // `shown`: for messages
};

std::optional<Endpoint> parse_endpoint(const std::string& url, std::string& error) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) {
    error = "bad upstream URL";
    return std::nullopt;
  }
  Endpoint e;
  e.tls = u->scheme() == "https";
  if (!e.tls && u->scheme() != "http") {
    error = "unsupported URL scheme " + std::string(u->scheme()) + " (http or https)";
    return std::nullopt;
  }
  e.host = std::string(u->encoded_host());
  if (e.host.size() > 2 && e.host.front() == '[') e.host = e.host.substr(1, e.host.size() - 2);
  if (e.host.empty()) {
    error = "upstream URL has no host";
    return std::nullopt;
  }
  e.port = u->has_port() ? std::string(u->port()) : (e.tls ? "443" : "80");
  e.host_header = std::string(u->encoded_host()) + (u->has_port() ? ":" + e.port : "");
  e.target = u->encoded_path().empty() ? "/" : std::string(u->encoded_path());
  if (u->has_query()) e.target += "?" + std::string(u->encoded_query());
  e.shown = std::string(u->scheme()) + "://" + e.host_header + std::string(u->encoded_path());
  return e;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto n = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8) | std::uint8_t(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(n >> s) & 63];
  }
  if (i < in.size()) {
    std::uint32_t n = std::uint32_t(std::uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) n |= std::uint32_t(std::uint8_t(in[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// A header value as 2026-07-28 routing headers carry it: verbatim when it is plain visible ASCII,
// otherwise in the =?base64?…?= sentinel.
std::string header_value(std::string_view v) {
  bool plain = !v.empty() && v.front() != ' ' && v.back() != ' ' && !v.starts_with("=?");
  for (unsigned char c : v) plain = plain && c >= 0x20 && c < 0x7f;
  return plain ? std::string(v) : "=?base64?" + base64(v) + "?=";
}

std::string status_text(unsigned status) {
  auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return "HTTP " + std::to_string(status) + (reason.empty() ? "" : " " + std::string(reason));
}

bool is_event_stream(std::string_view content_type) {
  auto semi = content_type.find(';');
  auto base = content_type.substr(0, semi);
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  return beast::iequals(base, "text/event-stream");
}

// One server-sent event (only the fields MCP uses).
struct SseEvent {
  std::string event, data, id;
  std::optional<milliseconds> retry;
  bool oversized = false;
};

// Incremental text/event-stream parser: lines end in LF, CRLF or CR; an empty line ends an event.
class SseParser {
 public:
  explicit SseParser(std::size_t max_event) : max_(max_event) {}

  void feed(std::string_view bytes, std::vector<SseEvent>& out) {
    for (char c : bytes) {
      if (after_cr_ && c == '\n') {
        after_cr_ = false;
        continue;
      }
      after_cr_ = c == '\r';
      if (c == '\r' || c == '\n') {
        line_done(out);
        continue;
      }
      if (line_.size() <= max_) line_ += c;
    }
  }

 private:
  void line_done(std::vector<SseEvent>& out) {
    std::string line = std::exchange(line_, {});
    if (line.empty()) {
      if (has_data_ || cur_.retry || !cur_.id.empty()) out.push_back(std::move(cur_));
      cur_ = {};
      has_data_ = false;
      return;
    }
    if (line.front() == ':') return;  // comment (keep-alive)
    auto colon = line.find(':');
    std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (field == "data") {
      if (has_data_) cur_.data += '\n';
      has_data_ = true;
      if (cur_.data.size() + value.size() > max_ || line.size() > max_) {
        cur_.oversized = true;
        cur_.data.clear();
      } else if (!cur_.oversized) {
        cur_.data += value;
      }
    } else if (field == "event") {
      cur_.event = value;
    } else if (field == "id") {
      cur_.id = value;
    } else if (field == "retry") {
      if (!value.empty() && value.find_first_not_of("0123456789") == std::string::npos && value.size() < 10)
        cur_.retry = milliseconds(std::stoll(value));
    }
  }

  std::size_t max_;
  std::string line_;
  SseEvent cur_;
  bool has_data_ = false, after_cr_ = false;
};

// One HTTP connection, plain or TLS.
struct Conn {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buf;
  bool reused = false;

  beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  void close() {
    beast::error_code ec;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    tcp().close();
  }
  template <typename F>
  auto on_stream(F&& f) {
    if (secure) return f(*secure);
    return f(*plain);
  }
  // An idle keep-alive connection the server has closed reads as end of file at once.
  bool looks_alive() {
    if (!tcp().socket().is_open()) return false;
    char c;
    auto n = ::recv(tcp().socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};
using ConnPtr = std::shared_ptr<Conn>;

// How an exchange with the upstream ended, before it becomes a CallResult.
enum class Fault { none, connect, lost, timeout, session_gone, bad };

struct Answer {
  Fault fault = Fault::none;
  UpstreamError code = UpstreamError::bad_response;
  std::string why;                            // set with a fault
  std::optional<jsonrpc::Response> response;  // the answer to the request, when one was expected
  unsigned status = 0;
  std::string session_id;  // the response's Mcp-Session-Id
};

}  // namespace

struct HttpUpstream::Impl : std::enable_shared_from_this<HttpUpstream::Impl> {
  struct Pending {
    std::function<void(CallResult)> done;
    std::string authorization;  // this call's own Authorization value; empty: the connection's
  };

  HttpUpstreamConfig cfg;
  UpstreamHandlers handlers;
  bool stateless;
  std::optional<Endpoint> endpoint;
  std::string endpoint_error;

  asio::io_context ioc;  // first: outlives every socket and timer below
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  ssl::context tls{ssl::context::tls_client};
  std::thread io;

  mutable std::mutex mu;
  mutable std::condition_variable state_cv;
  // Guarded by mu.
  UpstreamState state = UpstreamState::stopped;
  bool started = false, stopping = false;
  std::map<CallId, Pending> pending;
  CallId next_id = 1;
  std::uint64_t generation = 0;  // one per handshake; answers for an older session drop
  std::string session;           // Mcp-Session-Id
  std::string negotiated;        // MCP-Protocol-Version for later requests
  json::value init_result;
  UpstreamHealth stats;

  // I/O thread only.
  std::vector<ConnPtr> idle;
  std::map<CallId, ConnPtr> call_conns;  // the connection each call is using (cancel closes it)
  std::set<ConnPtr> streams;             // GET streams, closed on stop
  asio::steady_timer restart_timer{ioc};
  bool restart_planned = false;
  unsigned consecutive_failures = 0;
  milliseconds backoff{0};

  Impl(HttpUpstreamConfig c, UpstreamHandlers h)
      : cfg(std::move(c)), handlers(std::move(h)), stateless(is_stateless_protocol(cfg.protocol)), backoff(cfg.backoff_initial) {
    endpoint = parse_endpoint(cfg.url, endpoint_error);
    boost::system::error_code ec;
    if (cfg.ca_file.empty()) {
      tls.set_default_verify_paths(ec);
    } else {
      tls.load_verify_file(cfg.ca_file, ec);
      if (ec && endpoint) {  // no CA to trust: every connection would fail, so say why once
        endpoint_error = "cannot read the CA file " + cfg.ca_file + ": " + ec.message();
        endpoint.reset();
      }
    }
    tls.set_verify_mode(ssl::verify_peer);
  }

  // ---- shared helpers -------------------------------------------------------------------

  // The completion of every coroutine: an exception that escaped one is a bug worth a log line.
  auto reporter() {
    return [this](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log(LogLevel::error, std::string("internal error: ") + x.what());
      }
    };
  }

  jsonrpc::Error fault(UpstreamError code, std::string message) const {
    return jsonrpc::Error{static_cast<std::int32_t>(code), std::move(message), json::value(json::object{{"upstream", cfg.name}})};
  }
  CallResult failure(UpstreamError code, std::string message) const {
    return CallResult{std::nullopt, fault(code, std::move(message))};
  }

  void log(LogLevel level, std::string_view text) const {
    if (handlers.on_log) {
      handlers.on_log(LogSource::upstream, level, text);
      return;
    }
    std::cerr << "gateway[" << cfg.name << "]: " << text << '\n';
  }

  void set_state(UpstreamState s) {
    {
      std::lock_guard lock(mu);
      if (state == s) return;
      if (stopping && s != UpstreamState::stopped) return;
      state = s;
    }
    state_cv.notify_all();
    if (handlers.on_state) handlers.on_state(s);
  }

  bool finish(CallId id, CallResult result) {
    std::function<void(CallResult)> done;
    {
      std::lock_guard lock(mu);
      auto it = pending.find(id);
      if (it == pending.end()) return false;
      done = std::move(it->second.done);
      pending.erase(it);
    }
    if (done) done(std::move(result));
    return true;
  }

  bool is_pending(CallId id) const {
    std::lock_guard lock(mu);
    return pending.count(id) > 0;
  }

  // The call a message names as its own (params._meta), for messages on no call's stream (the GET
  // stream); on a call's stream the stream says it.
  CallId related_of(CallId on_stream, const json::value& params) const {
    if (on_stream) return on_stream;
    const auto* p = params.if_object();
    const auto* meta = p ? p->if_contains("_meta") : nullptr;
    const auto* id = meta && meta->is_object() ? meta->get_object().if_contains(kRelatedRequestMeta) : nullptr;
    if (!id || !id->is_int64() || id->get_int64() <= 0) return 0;
    auto call = static_cast<CallId>(id->get_int64());
    return is_pending(call) ? call : 0;
  }

  bool stopping_now() const {
    std::lock_guard lock(mu);
    return stopping;
  }

  // 2026-07-28: the envelope every request and notification carries in params._meta.
  json::value with_envelope(json::value params) const {
    if (!stateless) return params;
    if (params.is_null()) params = json::object{};
    if (!params.is_object()) return params;  // an array cannot carry _meta; the upstream refuses it
    auto& p = params.as_object();
    if (!p["_meta"].is_object()) p["_meta"] = json::object{};
    auto& meta = p["_meta"].as_object();
    meta[kMetaVersion] = cfg.protocol;
    meta[kMetaCapabilities] = cfg.client_capabilities;
    meta[kMetaClientInfo] = cfg.client_info;
    return params;
  }

  // The HTTP request for one JSON-RPC message.
  http::request<http::string_body> make_post(const json::object& message, bool with_session, CallId call) const {
    http::request<http::string_body> req{http::verb::post, endpoint->target, 11};
    decorate(req, with_session, call);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json, text/event-stream");
    if (stateless) {
      const auto* method = message.if_contains("method");
      std::string_view m = method && method->is_string() ? std::string_view(method->get_string()) : "";
      if (!m.empty()) req.set("Mcp-Method", header_value(m));
      std::string_view key = m == "tools/call" || m == "prompts/get" ? "name" : m == "resources/read" ? "uri" : "";
      if (!key.empty())
        if (const auto* params = message.if_contains("params"); params && params->is_object())
          if (const auto* v = params->as_object().if_contains(key); v && v->is_string())
            req.set("Mcp-Name", header_value(v->get_string()));
    }
    req.body() = jsonrpc::serialize(message);
    req.prepare_payload();
    return req;
  }

  // `call`: the call whose request this is (0: none), for its own Authorization value.
  template <typename Req>
  void decorate(Req& req, bool with_session, CallId call = 0) const {
    req.set(http::field::host, endpoint->host_header);
    req.set(http::field::user_agent, "jitgate");
    for (const auto& [k, v] : cfg.headers) req.set(k, v);
    if (handlers.authorization)
      if (std::string a = handlers.authorization(); !a.empty()) req.set(http::field::authorization, a);
    std::lock_guard lock(mu);
    if (call != 0)
      if (auto it = pending.find(call); it != pending.end() && !it->second.authorization.empty())
        req.set(http::field::authorization, it->second.authorization);
    if (stateless) {
      req.set("MCP-Protocol-Version", cfg.protocol);
    } else if (with_session) {
      if (!negotiated.empty()) req.set("MCP-Protocol-Version", negotiated);
      if (!session.empty()) req.set("Mcp-Session-Id", session);
    }
  }

  // ---- connections ----------------------------------------------------------------------

  asio::awaitable<ConnPtr> connect(Clock::time_point deadline, std::string& error) {
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto endpoints = co_await resolver.async_resolve(endpoint->host, endpoint->port, tok(ec));
    if (ec) {
      error = "cannot resolve " + endpoint->host + ": " + ec.message();
      co_return nullptr;
    }
    auto c = std::make_shared<Conn>();
    if (endpoint->tls) {
      c->secure.emplace(ioc, tls);
      if (!SSL_set_tlsext_host_name(c->secure->native_handle(), endpoint->host.c_str())) {
        error = "cannot set TLS server name";
        co_return nullptr;
      }
      c->secure->set_verify_callback(ssl::host_name_verification(endpoint->host));
    } else {
      c->plain.emplace(ioc);
    }
    c->tcp().expires_at(std::min(deadline, Clock::now() + cfg.connect_timeout));
    co_await c->tcp().async_connect(endpoints, tok(ec));
    if (!ec && c->secure) co_await c->secure->async_handshake(ssl::stream_base::client, tok(ec));
    if (ec) {
      error = "cannot connect to " + endpoint->shown + ": " +
              (ec == beast::error::timeout ? std::string("connect timed out") : ec.message());
      co_return nullptr;
    }
    beast::error_code ignored;
    c->tcp().socket().set_option(tcp::no_delay(true), ignored);
    co_return c;
  }

  ConnPtr take_idle() {
    while (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      if (c->looks_alive()) {
        c->reused = true;
        return c;
      }
      c->close();
    }
    return nullptr;
  }

  void release(const ConnPtr& c, const Parser& p) {
    if (!p.is_done() || !p.keep_alive() || stopping_now() || idle.size() >= cfg.max_idle_connections) {
      c->close();
      return;
    }
    c->buf.consume(c->buf.size());
    c->tcp().expires_never();
    idle.push_back(c);
  }

  void drop_idle() {
    for (auto& c : idle) c->close();
    idle.clear();
  }

  // Reads the next piece of a message body into `out`; false at the end of the body or on error.
  asio::awaitable<bool> read_body_some(Conn& c, Parser& p, std::string& out, beast::error_code& ec) {
    if (p.is_done()) co_return false;
    char chunk[16384];
    p.get().body().data = chunk;
    p.get().body().size = sizeof chunk;
    co_await c.on_stream(
        [&](auto& s) { return http::async_read_some(s, c.buf, p, tok(ec)); });  // not async_read: that waits for a full buffer
    if (ec == http::error::need_buffer) ec = {};
    out.append(chunk, sizeof chunk - p.get().body().size);
    co_return !ec;
  }

  // ---- incoming messages ----------------------------------------------------------------

  void garbage(std::string_view text, std::string_view why, bool oversized = false) {
    {
      std::lock_guard lock(mu);
      ++stats.garbage_lines;
      if (oversized) ++stats.oversized_lines;
    }
    log(LogLevel::warning, "garbage from upstream (" + std::string(why) + "): " + std::string(text.substr(0, 200)));
  }

  // Routes one SSE event's messages; returns the response to `expect` (0: none expected) when it
  // is among them.
  std::optional<jsonrpc::Response> route_event(const SseEvent& ev, CallId expect, CallId related) {
    if (ev.oversized) {
      garbage("", "an event over " + std::to_string(cfg.max_response_bytes) + " bytes", true);
      return std::nullopt;
    }
    if (!ev.event.empty() && ev.event != "message") return std::nullopt;
    if (ev.data.find_first_not_of(" \t\r\n") == std::string::npos) return std::nullopt;  // priming event
    auto body = jsonrpc::decode(ev.data);
    if (body.parse_error) {
      garbage(ev.data, "event data is not JSON");
      return std::nullopt;
    }
    std::optional<jsonrpc::Response> answer;
    for (auto& item : body.items) {
      if (auto* bad = std::get_if<jsonrpc::Invalid>(&item)) {
        garbage(ev.data, bad->error.message);
        // A malformed answer to the call fails it now, not when its stream ends (a request of the
        // upstream's own with that id names a method, and is no answer).
        if (expect != 0 && !body.batch && bad->id.is_int64() && bad->id.as_int64() == static_cast<std::int64_t>(expect) &&
            ev.data.find("\"method\"") == std::string::npos)
          answer = jsonrpc::Response{bad->id, std::nullopt,
                                     fault(UpstreamError::bad_response,
                                           "upstream " + cfg.name + " answered with a malformed message: " + bad->error.message)};
        continue;
      }
      try {
        route_message(std::get<jsonrpc::Message>(item), expect, related, answer);
      } catch (const std::exception& e) {  // one message's handling never ends the call's coroutine
        garbage(ev.data, std::string("its handling failed: ") + e.what());
      }
    }
    return answer;
  }

  void route_message(jsonrpc::Message& msg, CallId expect, CallId related, std::optional<jsonrpc::Response>& answer) {
    if (auto* r = std::get_if<jsonrpc::Response>(&msg)) {
      if (expect != 0 && r->id.is_int64() && r->id.as_int64() == static_cast<std::int64_t>(expect)) {
        answer = std::move(*r);
      } else {
        {
          std::lock_guard lock(mu);
          ++stats.unmatched_responses;
        }
        log(LogLevel::warning, "response to unknown id " + jsonrpc::serialize(r->id));
      }
    } else if (auto* q = std::get_if<jsonrpc::Request>(&msg)) {
      on_upstream_request(*q, related_of(related, q->params));
    } else if (handlers.on_notification) {
      auto& n = std::get<jsonrpc::Notification>(msg);
      handlers.on_notification(n, related_of(related, n.params));
    }
  }

  void on_upstream_request(const jsonrpc::Request& q, CallId related) {
    std::uint64_t gen;
    {
      std::lock_guard lock(mu);
      gen = generation;
    }
    if (!handlers.on_request) {
      answer(gen, q.id, failure_of(jsonrpc::ErrorCode::method_not_found, "client does not handle " + q.method));
      return;
    }
    std::weak_ptr<Impl> self = weak_from_this();
    handlers.on_request(
        q,
        [self, gen, id = q.id](CallResult r) {
          if (auto impl = self.lock())
            asio::post(impl->ioc, [self, gen, id, r = std::move(r)]() mutable {
              if (auto impl = self.lock()) impl->answer(gen, id, std::move(r));
            });
        },
        related);
  }

  static CallResult failure_of(jsonrpc::ErrorCode code, std::string message) {
    return CallResult{std::nullopt, jsonrpc::Error::make(code, std::move(message))};
  }

  // I/O thread: POSTs the answer to an upstream request (202 expected).
  void answer(std::uint64_t gen, const jsonrpc::Id& id, CallResult result) {
    {
      std::lock_guard lock(mu);
      if (gen != generation || stopping) return;  // that session is gone
    }
    json::object msg =
        result.ok() ? jsonrpc::result_response(id, std::move(*result.result))
                    : jsonrpc::error_response(
                          id, result.error.value_or(jsonrpc::Error::make(jsonrpc::ErrorCode::internal_error, "no answer")));
    send_one_way(std::move(msg), "answer");
  }

  void send_one_way(json::object msg, std::string what) {
    asio::co_spawn(ioc, one_way(std::move(msg), std::move(what)), reporter());
  }

  asio::awaitable<void> one_way(json::object msg, std::string what) {
    Answer a = co_await exchange(std::move(msg), 0, 0, Clock::now() + cfg.default_timeout, true);
    if (a.fault != Fault::none) log(LogLevel::warning, what + " not delivered: " + a.why);
  }

  // ---- one exchange ---------------------------------------------------------------------

  // POSTs one message. `expect` is the request id whose response to wait for (0 for a
  // notification or a response, which want 202); `related` the call whose connection this is.
  asio::awaitable<Answer> exchange(json::object message, CallId expect, CallId related, Clock::time_point deadline,
                                   bool with_session) {
    auto req = make_post(message, with_session, expect);
    Answer a;
    ConnPtr c;
    std::optional<Parser> parser;
    beast::error_code ec;
    for (int attempt = 0;; ++attempt) {
      c = attempt == 0 ? take_idle() : nullptr;
      if (!c) {
        std::string error;
        c = co_await connect(deadline, error);
        if (!c) {
          a.fault = Clock::now() >= deadline ? Fault::timeout : Fault::connect;
          a.code = a.fault == Fault::timeout ? UpstreamError::timeout : UpstreamError::unavailable;
          a.why = error;
          co_return a;
        }
      }
      if (related) {
        if (!is_pending(related)) {  // cancelled or failed while connecting
          c->close();
          a.fault = Fault::lost;
          a.code = UpstreamError::cancelled;
          a.why = "call no longer in flight";
          co_return a;
        }
        call_conns[related] = c;
      }
      c->tcp().expires_at(deadline);
      parser.emplace();
      parser->body_limit(boost::none);  // enforced per body / per event below
      co_await c->on_stream([&](auto& s) { return http::async_write(s, req, tok(ec)); });
      if (!ec) co_await c->on_stream([&](auto& s) { return http::async_read_header(s, c->buf, *parser, tok(ec)); });
      // A reused keep-alive connection the server closed meanwhile: once more on a fresh one.
      bool stale = c->reused && attempt == 0 &&
                   (ec == http::error::end_of_stream || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                    ec == asio::error::eof);
      if (!stale) break;
      c->close();
      ec = {};
    }
    auto fail_io = [&](std::string_view during) {
      c->close();
      if (ec == beast::error::timeout) {
        a.fault = Fault::timeout;
        a.code = UpstreamError::timeout;
        a.why = "upstream " + cfg.name + " did not answer in time";
      } else {
        a.fault = Fault::lost;
        a.code = UpstreamError::unavailable;
        a.why = "connection to upstream " + cfg.name + " lost " + std::string(during) + ": " + ec.message();
      }
    };
    if (ec) {
      fail_io("before the response");
      co_return a;
    }

    Parser& p = *parser;
    const auto& head = p.get();
    a.status = head.result_int();
    a.session_id = std::string(head["Mcp-Session-Id"]);

    if (a.status == 200 && is_event_stream(head[http::field::content_type])) {
      SseParser sse(cfg.max_response_bytes);
      std::vector<SseEvent> events;
      std::string bytes;
      while (!a.response) {
        bytes.clear();
        bool more = co_await read_body_some(*c, p, bytes, ec);
        events.clear();
        sse.feed(bytes, events);
        if (p.is_done()) sse.feed("\n\n", events);  // a last event without its blank line
        for (auto& ev : events)
          if (auto r = route_event(ev, expect, related)) a.response = std::move(r);
        if (!more) break;
      }
      if (a.response || (expect == 0 && !ec)) {
        release(c, p);
        co_return a;
      }
      if (ec) {
        fail_io("mid-stream");
        co_return a;
      }
      c->close();
      a.fault = Fault::lost;
      a.code = UpstreamError::unavailable;
      a.why = "upstream " + cfg.name + " ended the response stream before the response";
      co_return a;
    }

    std::string body;
    bool oversized = false;
    while (co_await read_body_some(*c, p, body, ec))
      if (body.size() > cfg.max_response_bytes) {
        oversized = true;
        break;
      }
    if (oversized) {
      c->close();
      garbage("", "a body over " + std::to_string(cfg.max_response_bytes) + " bytes", true);
      a.fault = Fault::bad;
      a.why = "upstream " + cfg.name + " answered with a body over " + std::to_string(cfg.max_response_bytes) + " bytes";
      co_return a;
    }
    if (ec) {
      fail_io(ec == http::error::partial_message ? "mid-body (truncated body)" : "mid-body");
      a.why += " (" + status_text(a.status) + ")";
      co_return a;
    }
    release(c, p);

    if (a.status == 404 && with_session && !stateless && !session_snapshot().empty()) {
      a.fault = Fault::session_gone;
      a.code = UpstreamError::unavailable;
      a.why = "upstream " + cfg.name + " session expired (HTTP 404); re-initializing";
      co_return a;
    }
    if (expect == 0) {
      if (a.status / 100 != 2) {
        a.fault = Fault::bad;
        a.why = "upstream " + cfg.name + " answered " + status_text(a.status);
      }
      co_return a;
    }
    // The upstream's own JSON-RPC answer, even on a 4xx (2026-07-28 maps protocol errors there).
    auto decoded = body.empty() ? jsonrpc::DecodedBody{} : jsonrpc::decode(body);
    bool json_type = beast::iequals(std::string_view(head[http::field::content_type]).substr(0, 16), "application/json");
    if (!decoded.parse_error && !decoded.batch && decoded.items.size() == 1)
      if (auto* m = std::get_if<jsonrpc::Message>(&decoded.items.front()))
        if (auto* r = std::get_if<jsonrpc::Response>(m))
          if (r->id.is_int64() && r->id.as_int64() == static_cast<std::int64_t>(expect) && (a.status / 100 == 2 || r->error)) {
            a.response = std::move(*r);
            co_return a;
          }
    a.fault = Fault::bad;
    if (a.status / 100 == 5) {
      a.code = UpstreamError::unavailable;
      a.why = "upstream " + cfg.name + " answered " + status_text(a.status);
    } else if (a.status / 100 != 2) {
      a.why = "upstream " + cfg.name + " answered " + status_text(a.status);
    } else if (body.empty()) {
      a.why = "upstream " + cfg.name + " answered " + status_text(a.status) + " without a response";
    } else {
      garbage(body, decoded.parse_error ? "not JSON" : "not the JSON-RPC response to the call");
      a.why = "upstream " + cfg.name + " answered " + status_text(a.status) + " with " +
              (decoded.parse_error ? (json_type ? "malformed JSON" : "a body that is not JSON")
                                   : "something that is not the JSON-RPC response to the call");
    }
    co_return a;
  }

  std::string session_snapshot() const {
    std::lock_guard lock(mu);
    return session;
  }

  // ---- calls ----------------------------------------------------------------------------

  CallId request(std::string method, json::value params, std::function<void(CallResult)> done,
                 std::optional<milliseconds> timeout, std::string authorization = {}) {
    CallResult refused;
    CallId id = 0;
    {
      std::lock_guard lock(mu);
      if (state != UpstreamState::ready || stopping) {
        refused = failure(UpstreamError::unavailable, "upstream " + cfg.name + " is " + std::string(to_string(state)));
      } else if (pending.size() >= cfg.max_in_flight) {
        refused = failure(UpstreamError::overloaded,
                          "upstream " + cfg.name + " has " + std::to_string(cfg.max_in_flight) + " calls in flight");
      } else {
        id = next_id++;
        pending.emplace(id, Pending{std::move(done), std::move(authorization)});
      }
    }
    if (refused.error) {
      if (done) done(std::move(refused));
      return 0;
    }
    auto deadline = Clock::now() + timeout.value_or(cfg.default_timeout);
    json::object msg =
        jsonrpc::to_json(jsonrpc::Request{static_cast<std::int64_t>(id), std::move(method), with_envelope(std::move(params))});
    asio::post(ioc, [this, id, msg = std::move(msg), deadline]() mutable {
      asio::co_spawn(ioc, run_call(id, std::move(msg), deadline), reporter());
    });
    return id;
  }

  asio::awaitable<void> run_call(CallId id, json::object msg, Clock::time_point deadline) {
    Answer a = co_await exchange(std::move(msg), id, id, deadline, true);
    call_conns.erase(id);
    if (!is_pending(id)) co_return;  // cancelled, or failed by stop()
    if (a.response) {
      CallResult r;
      if (a.response->error)
        r.error = std::move(a.response->error);
      else
        r.result = std::move(a.response->result);
      finish(id, std::move(r));
      co_return;
    }
    switch (a.fault) {
      case Fault::timeout: {
        std::lock_guard lock(mu);
        ++stats.timeouts;
      }
        if (!stateless) send_cancelled(id, "timeout");  // 2026-07-28: the closed stream says it
        break;
      case Fault::connect: upstream_down(a.why); break;
      case Fault::session_gone: session_expired(); break;
      case Fault::lost: drop_idle(); break;  // the others to that server are likely dead too
      default: break;
    }
    finish(id, failure(a.code, a.why));
  }

  void send_cancelled(CallId id, std::string_view reason) {
    send_one_way(jsonrpc::to_json(jsonrpc::Notification{
                     "notifications/cancelled",
                     json::object{{"requestId", static_cast<std::int64_t>(id)}, {"reason", std::string(reason)}}}),
                 "notifications/cancelled");
  }

  bool cancel(CallId call, std::string_view reason) {
    std::function<void(CallResult)> done;
    {
      std::lock_guard lock(mu);
      auto it = pending.find(call);
      if (it == pending.end()) return false;
      done = std::move(it->second.done);
      pending.erase(it);
    }
    asio::post(ioc, [this, call, reason = std::string(reason)] {
      if (!stateless) send_cancelled(call, reason);
      if (auto it = call_conns.find(call); it != call_conns.end()) {
        it->second->close();  // 2026-07-28: this is the cancellation
        call_conns.erase(it);
      }
    });
    if (done) done(failure(UpstreamError::cancelled, "call to upstream " + cfg.name + " cancelled"));
    return true;
  }

  bool notify(std::string method, json::value params) {
    {
      std::lock_guard lock(mu);
      if (state != UpstreamState::ready || stopping) return false;
    }
    json::object msg = jsonrpc::to_json(jsonrpc::Notification{method, with_envelope(std::move(params))});
    asio::post(ioc, [this, msg = std::move(msg), method = std::move(method)]() mutable { send_one_way(std::move(msg), method); });
    return true;
  }

  // ---- lifecycle ------------------------------------------------------------------------

  asio::awaitable<void> handshake() {
    std::uint64_t gen;
    {
      std::lock_guard lock(mu);
      if (stopping) co_return;
      if (stats.starts++ > 0) ++stats.restarts;
      gen = ++generation;
      session.clear();
      negotiated.clear();
    }
    set_state(UpstreamState::starting);
    drop_idle();
    auto deadline = Clock::now() + cfg.initialize_timeout;
    CallId id;
    {
      std::lock_guard lock(mu);
      id = next_id++;
    }
    json::object msg;
    if (stateless)
      msg = jsonrpc::to_json(jsonrpc::Request{static_cast<std::int64_t>(id), "server/discover", with_envelope(nullptr)});
    else
      msg = jsonrpc::to_json(jsonrpc::Request{
          static_cast<std::int64_t>(id), "initialize",
          json::object{
              {"protocolVersion", cfg.protocol}, {"capabilities", cfg.client_capabilities}, {"clientInfo", cfg.client_info}}});
    const char* what = stateless ? "server/discover" : "initialize";
    Answer a = co_await exchange(std::move(msg), id, 0, deadline, false);
    if (stopping_now()) co_return;
    std::string problem;
    if (!a.response)
      problem = std::string(what) + " failed: " + (a.fault == Fault::timeout ? "no answer in time" : a.why);
    else if (a.response->error)
      problem = std::string(what) + " failed: " + a.response->error->message;
    else if (!a.response->result || !a.response->result->is_object())
      problem = std::string(what) + " result is not an object";
    else if (!stateless && !a.response->result->as_object().contains("protocolVersion"))
      problem = "initialize result has no protocolVersion";
    else if (!stateless && !a.response->result->as_object().at("protocolVersion").is_string())
      problem = "initialize result's protocolVersion is not a string";
    if (!problem.empty()) {
      handshake_failed(problem);
      co_return;
    }
    json::value result = std::move(*a.response->result);
    if (!stateless) {
      const auto& v = result.as_object().at("protocolVersion");
      {
        std::lock_guard lock(mu);
        session = a.session_id;
        negotiated = v.is_string() ? std::string(v.get_string()) : cfg.protocol;
      }
      // Named, not a temporary inside the co_await expression (GCC 12 destroys those twice).
      json::object initialized = jsonrpc::to_json(jsonrpc::Notification{"notifications/initialized", nullptr});
      Answer n = co_await exchange(std::move(initialized), 0, 0, deadline, true);
      if (stopping_now()) co_return;
      if (n.fault != Fault::none) {
        handshake_failed("notifications/initialized failed: " + n.why);
        co_return;
      }
    }
    {
      std::lock_guard lock(mu);
      if (gen != generation) co_return;
      init_result = std::move(result);
    }
    consecutive_failures = 0;
    backoff = cfg.backoff_initial;
    set_state(UpstreamState::ready);
    log(LogLevel::info, "ready (" + endpoint->shown + (stateless ? ", stateless)" : ", session)"));
    if (!stateless && cfg.open_get_stream && !session_snapshot().empty()) asio::co_spawn(ioc, get_stream(gen), reporter());
  }

  void handshake_failed(std::string reason) {
    {
      std::lock_guard lock(mu);
      stats.last_error = reason;
    }
    log(LogLevel::error, reason);
    schedule_restart(true);
  }

  void schedule_restart(bool with_backoff) {
    if (restart_planned || stopping_now()) return;
    ++consecutive_failures;
    if (cfg.max_consecutive_failures > 0 && consecutive_failures >= cfg.max_consecutive_failures) {
      log(LogLevel::error, "giving up after " + std::to_string(consecutive_failures) + " failed attempts");
      set_state(UpstreamState::failed);
      return;
    }
    milliseconds delay = with_backoff ? backoff : milliseconds(0);
    if (with_backoff) {
      log(LogLevel::warning, "reconnecting in " + std::to_string(delay.count()) + " ms");
      backoff = std::min(backoff * 2, cfg.backoff_max);
    }
    restart_planned = true;
    set_state(UpstreamState::restarting);
    restart_timer.expires_after(delay);
    restart_timer.async_wait([this](beast::error_code ec) {
      restart_planned = false;
      if (!ec) asio::co_spawn(ioc, handshake(), reporter());
    });
  }

  // The upstream cannot be reached: out of `ready`, handshake again after the backoff.
  void upstream_down(const std::string& reason) {
    {
      std::lock_guard lock(mu);
      if (state != UpstreamState::ready || stopping) return;
      stats.last_error = reason;
      ++generation;  // the GET stream of that session ends
    }
    log(LogLevel::warning, reason);
    drop_idle();
    close_streams();
    schedule_restart(true);
  }

  void session_expired() {
    {
      std::lock_guard lock(mu);
      if (state != UpstreamState::ready || stopping) return;
      stats.last_error = "session expired (HTTP 404)";
      ++generation;
    }
    log(LogLevel::warning, "session expired (HTTP 404); initializing a new one");
    close_streams();
    schedule_restart(false);
  }

  void close_streams() {
    for (auto& s : streams) s->close();
    streams.clear();
  }

  bool current(std::uint64_t gen) const {
    std::lock_guard lock(mu);
    return gen == generation && !stopping;
  }

  // Session revisions: the GET stream for messages unrelated to any call, reconnected with
  // backoff while the session lasts.
  asio::awaitable<void> get_stream(std::uint64_t gen) {
    milliseconds delay = cfg.backoff_initial;
    asio::steady_timer wait(ioc);
    while (current(gen)) {
      std::string error;
      ConnPtr c = co_await connect(Clock::now() + cfg.connect_timeout, error);
      if (!current(gen)) co_return;
      if (!c) {
        upstream_down(error);
        co_return;
      }
      streams.insert(c);
      http::request<http::empty_body> req{http::verb::get, endpoint->target, 11};
      decorate(req, true);
      req.set(http::field::accept, "text/event-stream");
      Parser p;
      p.body_limit(boost::none);
      beast::error_code ec;
      c->tcp().expires_after(cfg.connect_timeout);
      co_await c->on_stream([&](auto& s) { return http::async_write(s, req, tok(ec)); });
      if (!ec) co_await c->on_stream([&](auto& s) { return http::async_read_header(s, c->buf, p, tok(ec)); });
      c->tcp().expires_never();
      std::string why;
      if (ec) {
        why = ec.message();
      } else if (p.get().result_int() == 405) {
        log(LogLevel::info, "upstream has no GET stream (HTTP 405)");
        streams.erase(c);
        c->close();
        co_return;
      } else if (p.get().result_int() == 404) {
        streams.erase(c);
        c->close();
        session_expired();
        co_return;
      } else if (p.get().result_int() != 200 || !is_event_stream(p.get()[http::field::content_type])) {
        why = "GET stream refused: " + status_text(p.get().result_int());
      } else {
        delay = cfg.backoff_initial;
        SseParser sse(cfg.max_response_bytes);
        std::vector<SseEvent> events;
        std::string bytes;
        while (current(gen)) {
          bytes.clear();
          bool more = co_await read_body_some(*c, p, bytes, ec);
          if (!current(gen)) break;
          events.clear();
          sse.feed(bytes, events);
          for (auto& ev : events) {
            if (ev.retry) delay = *ev.retry;
            route_event(ev, 0, 0);
          }
          if (!more) break;
        }
        why = ec ? ec.message() : "ended by the upstream";
      }
      streams.erase(c);
      c->close();
      if (!current(gen)) co_return;
      log(LogLevel::warning, "GET stream: " + why + "; reconnecting in " + std::to_string(delay.count()) + " ms");
      wait.expires_after(delay);
      beast::error_code wec;
      co_await wait.async_wait(tok(wec));
      delay = std::min(delay * 2, cfg.backoff_max);
    }
  }

  // On the I/O thread: fail what is in flight, end the session, stop the loop.
  asio::awaitable<void> shutdown() {
    std::vector<std::function<void(CallResult)>> done;
    std::string sid;
    {
      std::lock_guard lock(mu);
      for (auto& [id, p] : pending) done.push_back(std::move(p.done));
      pending.clear();
      sid = session;
      ++generation;
    }
    for (auto& d : done)
      if (d) d(failure(UpstreamError::unavailable, "upstream " + cfg.name + " stopped"));
    restart_timer.cancel();
    for (auto& [id, c] : call_conns) c->close();
    call_conns.clear();
    close_streams();
    if (!stateless && !sid.empty()) {
      std::string error;
      auto deadline = Clock::now() + cfg.stop_timeout;
      ConnPtr c = co_await connect(deadline, error);
      if (c) {
        http::request<http::empty_body> req{http::verb::delete_, endpoint->target, 11};
        decorate(req, true);
        req.set("Mcp-Session-Id", sid);
        beast::error_code ec;
        Parser p;
        c->tcp().expires_at(deadline);
        co_await c->on_stream([&](auto& s) { return http::async_write(s, req, tok(ec)); });
        if (!ec) co_await c->on_stream([&](auto& s) { return http::async_read_header(s, c->buf, p, tok(ec)); });
        c->close();
      }
    }
    drop_idle();
    set_state(UpstreamState::stopped);
    ioc.stop();
  }
};

HttpUpstream::HttpUpstream(HttpUpstreamConfig config, UpstreamHandlers handlers)
    : impl_(std::make_shared<Impl>(std::move(config), std::move(handlers))) {}

HttpUpstream::~HttpUpstream() { stop(); }

void HttpUpstream::start() {
  auto& impl = *impl_;
  {
    std::lock_guard lock(impl.mu);
    if (impl.started) return;
    impl.started = true;
    if (!impl.endpoint) {
      impl.state = UpstreamState::failed;
      impl.stats.last_error = impl.endpoint_error;
    } else {
      impl.state = UpstreamState::starting;
    }
  }
  impl.state_cv.notify_all();
  if (!impl.endpoint) {
    impl.log(LogLevel::error, impl.endpoint_error);
    if (impl.handlers.on_state) impl.handlers.on_state(UpstreamState::failed);
    return;
  }
  impl.work.emplace(impl.ioc.get_executor());
  asio::co_spawn(impl.ioc, impl.handshake(), impl.reporter());
  impl.io = std::thread([p = impl_.get()] {
    // Each message's handling catches its own; one that still gets here is logged, and the
    // upstream's I/O goes on rather than ending the process.
    for (;;) {
      try {
        p->ioc.run();
        return;
      } catch (const std::exception& e) {
        observe::count_contained(nullptr, "gateway.http_upstream", e.what());
      } catch (...) {
        observe::count_contained(nullptr, "gateway.http_upstream", "an exception of unknown type");
      }
    }
  });
}

void HttpUpstream::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->io.joinable()) {
      if (impl_->started) impl_->state = UpstreamState::stopped;  // a bad URL never got a thread
      return;
    }
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  auto* impl = impl_.get();
  asio::post(impl->ioc, [impl] { asio::co_spawn(impl->ioc, impl->shutdown(), impl->reporter()); });
  impl->io.join();
  {
    std::lock_guard lock(impl->mu);
    impl->state = UpstreamState::stopped;  // also when shutdown() was cut short
  }
  impl->state_cv.notify_all();
}

bool HttpUpstream::wait_ready(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  impl_->state_cv.wait_for(lock, timeout, [&] {
    auto s = impl_->state;
    return s == UpstreamState::ready || s == UpstreamState::failed || s == UpstreamState::stopped;
  });
  return impl_->state == UpstreamState::ready;
}

const std::string& HttpUpstream::name() const { return impl_->cfg.name; }

CallId HttpUpstream::request(std::string method, json::value params, std::function<void(CallResult)> done,
                             std::optional<std::chrono::milliseconds> timeout) {
  return impl_->request(std::move(method), std::move(params), std::move(done), timeout);
}

CallId HttpUpstream::request_as(std::string authorization, std::string method, json::value params,
                                std::function<void(CallResult)> done, std::optional<std::chrono::milliseconds> timeout) {
  return impl_->request(std::move(method), std::move(params), std::move(done), timeout, std::move(authorization));
}

bool HttpUpstream::cancel(CallId call, std::string_view reason) { return impl_->cancel(call, reason); }

bool HttpUpstream::notify(std::string method, json::value params) { return impl_->notify(std::move(method), std::move(params)); }

UpstreamState HttpUpstream::state() const {
  std::lock_guard lock(impl_->mu);
  return impl_->state;
}

UpstreamHealth HttpUpstream::health() const {
  std::lock_guard lock(impl_->mu);
  UpstreamHealth h = impl_->stats;
  h.state = impl_->state;
  h.in_flight = impl_->pending.size();
  h.pid = -1;
  return h;
}

json::value HttpUpstream::initialize_result() const {
  std::lock_guard lock(impl_->mu);
  return impl_->init_result;
}

std::string HttpUpstream::session_id() const {
  std::lock_guard lock(impl_->mu);
  return impl_->session;
}

}  // namespace jitgate::gateway
