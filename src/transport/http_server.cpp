#include "jitgate/transport/http_server.hpp"

#include <sched.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <system_error>
#include <thread>

#include "common/clock.hpp"
#include "jitgate/auth/challenge.hpp"
#include "jitgate/auth/request_guard.hpp"
#include "jitgate/auth/www_authenticate.hpp"
#include "jitgate/jsonrpc/message.hpp"
#include "jitgate/mcp/revision.hpp"
#include "jitgate/mcp/server.hpp"
#include "jitgate/observe/metrics.hpp"
#include "transport/http_rules.hpp"

namespace jitgate::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

// Cores this process may run on (honours taskset), which hardware_concurrency() does not.
unsigned usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

void log_line(std::string_view what) { std::cerr << "jitgate: " << what << '\n'; }

using auth::refusal_body;

class Connection;

// One SSE stream of a session: a POST response stream or the standalone GET stream. Events are
// buffered (bounded) so a client can resume with Last-Event-ID after its connection dropped.
class SseStream : public std::enable_shared_from_this<SseStream> {
 public:
  // `resumable` streams (session revisions) number their events and keep them for Last-Event-ID;
  // 2026-07-28 streams do neither.
  SseStream(std::uint64_t id, std::size_t capacity, bool standalone, bool resumable = true)
      : id_(id), capacity_(resumable ? capacity : 0), standalone_(standalone), resumable_(resumable) {}

  std::uint64_t id() const { return id_; }
  bool standalone() const { return standalone_; }

  void append(const json::object& message);
  void append_serialized(std::string_view message);  // `message` is one serialized JSON-RPC message
  void finish();
  // Attaches a connection and replays events after `after_seq`. False if another live connection holds it.
  bool attach(const std::shared_ptr<Connection>& conn, std::optional<std::uint64_t> after_seq);
  void detach(const Connection* conn);
  bool attached_alive();
  bool finished() {
    std::lock_guard lock(mu_);
    return finished_;
  }
  std::shared_ptr<Connection> attached() {
    std::lock_guard lock(mu_);
    return conn_.lock();
  }

 private:
  const std::uint64_t id_;
  const std::size_t capacity_;
  const bool standalone_;
  const bool resumable_;
  std::mutex mu_;
  std::deque<std::pair<std::uint64_t, std::string>> buffer_;
  std::uint64_t next_seq_ = 1;
  bool finished_ = false;
  std::weak_ptr<Connection> conn_;
};

// The transport's side of a session: its streams, and messages that wait for a stream.
class HttpSessionLink : public mcp::SessionLink {
 public:
  explicit HttpSessionLink(std::size_t capacity) : capacity_(capacity) {}

  void deliver(json::object message) override;
  void closed() override { close_all(); }
  std::shared_ptr<SseStream> new_stream(bool standalone);
  std::shared_ptr<SseStream> find(std::uint64_t id);
  std::shared_ptr<SseStream> standalone();
  // Messages that arrived while no stream could take them, handed to the next stream that opens.
  std::vector<json::object> take_pending();
  bool has_pending() {
    std::lock_guard lock(mu_);
    return !pending_.empty();
  }
  void close_all();

 private:
  const std::size_t capacity_;
  std::mutex mu_;
  std::map<std::uint64_t, std::shared_ptr<SseStream>> streams_;
  std::shared_ptr<SseStream> standalone_;
  std::deque<json::object> pending_;
  std::uint64_t next_id_ = 1;
  static constexpr std::size_t kMaxStreams = 64;
  static constexpr std::size_t kMaxPending = 256;
};

struct Shared;  // server-wide transport state

// One TCP connection. Requests are read one at a time; a response (JSON or an SSE stream)
// completes before the next request is read. All work runs on the connection's strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Caller = std::shared_ptr<const auth::Principal>;
  Connection(tcp::socket&& socket, std::shared_ptr<Shared> shared);
  void start();

  // Thread-safe entry points (they post to the strand).
  void send_response(std::string bytes, bool keep_alive);
  void start_sse(std::vector<std::string> extra_headers, std::string first_events);
  void sse_write(std::string event);
  void sse_end();
  void close();
  // Shutdown: a connection waiting for its next request closes now; a busy one finishes first.
  void close_if_idle();
  bool alive() const { return alive_.load(); }
  // 2026-07-28: closing the response stream cancels the request.
  void cancel_on_disconnect(std::shared_ptr<mcp::Session> holder);

 private:
  void do_read();
  void on_read(beast::error_code ec);
  void handle();
  // Runs one step of a request; an exception it did not expect fails that request (500) and is counted.
  template <typename F>
  void guarded(F&& f);
  void enqueue(std::string bytes, bool ends_response, bool keep_alive);
  void do_write();
  void on_write(beast::error_code ec, std::size_t n);
  // Reads one byte while a response is pending or streaming, to learn when the client leaves.
  void start_probe();
  void on_probe(beast::error_code ec, std::size_t n);
  // The MCP request headers, found in one pass over the fields (the first of each name, as
  // `req_[name]` would give) instead of one case-insensitive tree lookup per name.
  struct McpHeaders {
    std::string_view version;  // MCP-Protocol-Version
    std::string_view method;   // Mcp-Method
    std::string_view name;     // Mcp-Name
    bool has_name = false;
  };
  McpHeaders mcp_headers() const;
  // `envelope`: the lone message's params carry a 2026-07-28 envelope (dispatch_post has looked).
  void handle_stateless(jsonrpc::DecodedBody body, const McpHeaders& headers, bool envelope, Caller caller);
  void fail(beast::error_code ec, std::string_view what);

  // Request routing (on the strand).
  void reply(unsigned status, std::string body = {}, std::vector<std::string> headers = {},
             std::string content_type = "application/json");
  void reply_rpc_error(unsigned status, const jsonrpc::Id& id, std::int32_t code, std::string message);
  void handle_post();
  bool serve_resource_metadata(std::string_view path);
  struct Refusal {
    unsigned status;
    std::string challenge, error, description;
  };
  struct Verdict {
    std::optional<Refusal> refusal;
    Caller caller;  // who sent the request (null: anonymous)
  };
  // The guard's verdict over every request of the body (reads only the request: safe off the strand).
  // `quick`: only decisions that need no verification work; nullopt then means "check off-thread".
  std::optional<Verdict> decide(const jsonrpc::DecodedBody& body, bool quick);
  // decide() with any exception from the guard or a verifier contained (`where` names the thread
  // for the metric): the request fails closed and the connection goes on.
  std::optional<Verdict> decide_contained(const jsonrpc::DecodedBody& body, bool quick, std::string_view where);
  void refuse(const Refusal& r);
  // Runs `next` once the request is authorized (on the strand), or answers with the challenge.
  void with_authorization(std::shared_ptr<jsonrpc::DecodedBody> body, std::function<void(Caller)> next);
  // Presents the caller on its session (live upgrade, hijack protection); false when refused.
  bool bind(const std::shared_ptr<mcp::Session>& session, const Caller& caller);
  void dispatch_post(jsonrpc::DecodedBody body, Caller caller);
  void dispatch_get(Caller caller);
  void dispatch_delete(Caller caller);
  void handle_get();
  void handle_delete();
  std::shared_ptr<mcp::Session> session_for_request(bool& replied);

  beast::tcp_stream stream_;
  std::shared_ptr<Shared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  struct Pending {
    std::string bytes;
    bool ends_response;
    bool keep_alive;
  };
  std::deque<Pending> writes_;
  std::size_t pending_bytes_ = 0;
  bool writing_ = false;
  bool in_sse_ = false;
  bool closing_ = false;
  std::atomic<bool> alive_{true};
  std::shared_ptr<SseStream> sse_stream_;  // the stream this connection carries, if any
  std::array<char, 1> probe_{};
  bool idle_ = false;  // waiting for the next request
  bool probe_active_ = false;
  bool read_after_probe_ = false;
  std::shared_ptr<mcp::Session> cancel_holder_;  // closed (cancelling its calls) if the client leaves
  std::string peer_;                             // the client's IP address, for per-client limits in the guard
  std::vector<std::string> cors_;  // CORS header lines for the current request's responses (HttpOptions::cors_origins)
  friend class SseStream;
  friend class Exchange;
};

struct Shared {
  Shared(mcp::Server& s, HttpOptions o) : server(s), options(std::move(o)) {}
  mcp::Server& server;
  HttpOptions options;
  bool loopback = true;
  std::mutex conns_mu;  // connection set: touched on connect and disconnect only
  std::set<std::weak_ptr<Connection>, std::owner_less<std::weak_ptr<Connection>>> conns;
  std::atomic<bool> stopping{false};
  asio::thread_pool* auth_pool = nullptr;  // owned by HttpServer::Impl; checks that may block run here
};

// The Outbound of one POST: answers in JSON when the handler produced nothing but the
// response, switches to an SSE stream as soon as it sends anything else.
class Exchange : public mcp::Outbound {
 public:
  Exchange(std::shared_ptr<Connection> conn, std::shared_ptr<mcp::Session> session, std::shared_ptr<HttpSessionLink> link,
           std::size_t outstanding, bool batch, bool prime, std::vector<std::string> headers, std::chrono::milliseconds retry,
           bool stateless = false)
      : stateless_(stateless),
        conn_(std::move(conn)),
        session_(std::move(session)),
        link_(std::move(link)),
        outstanding_(outstanding),
        batch_(batch),
        prime_(prime),
        headers_(std::move(headers)),
        retry_(retry) {}

  void send(json::object message) override {
    std::lock_guard lock(mu_);
    if (done_) return;
    if (!stream_) open_stream_locked();
    stream_->append(message);
  }

  void complete(std::optional<json::object> response) override {
    std::lock_guard lock(mu_);
    if (done_) return;
    if (response) {
      if (stream_)
        stream_->append(*response);
      else
        collected_.push_back(std::move(*response));
    }
    finish_locked();
  }

  // The response serialized with `tail` spliced into its result (2026-07-28 decoration): as
  // `complete`, on the JSON answer or the SSE stream alike. Not inside a batch.
  bool complete_with_result_tail(json::object& response, std::string_view tail) override {
    std::lock_guard lock(mu_);
    if (done_ || batch_ || outstanding_ != 1 || !collected_.empty() || serialized_) return false;
    if (!stream_ && conn_ && !(flush_pending_ && link_ && link_->has_pending())) {
      // The usual case, a JSON answer: serialized into a stack buffer, spliced into the message.
      std::array<char, 4096> buf;
      json::serializer sr;
      sr.reset(&response);
      std::string_view text = sr.read(buf.data(), buf.size());
      if (sr.done()) {
        auto parts = result_tail_parts(response, text, tail);
        if (!parts) return false;
        --outstanding_;
        done_ = true;
        conn_->send_response(
            response_with_body(200, headers_, "Content-Type: application/json", {parts->head, parts->comma, tail, "}}"}, true),
            true);
        conn_.reset();
        return true;
      }
    }
    auto text = serialize_with_result_tail(response, tail);
    if (!text) return false;
    if (stream_)
      stream_->append_serialized(*text);
    else
      serialized_ = std::move(*text);
    finish_locked();
    return true;
  }

  // A result that arrives as JSON text (forwarded): the JSON answer is written around it, as it
  // is. Anything else (a stream, a batch, pending messages) takes the tree path.
  void complete_result_text(const jsonrpc::Id& id, std::string_view result, std::string_view tail) override {
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      bool plain = !stream_ && conn_ && !batch_ && outstanding_ == 1 && collected_.empty() && !serialized_ &&
                   !(flush_pending_ && link_ && link_->has_pending());
      std::array<char, 128> idbuf;
      json::serializer sr;
      sr.reset(&id);
      std::string_view id_text = sr.read(idbuf.data(), idbuf.size());
      if (plain && sr.done() && result.size() >= 2 && result.front() == '{' && result.back() == '}') {
        // The result's members, then the tail's: a comma between when both have some.
        std::string_view inner = result.substr(1, result.size() - 2);
        bool empty = inner.find_first_not_of(" \t\r\n") == std::string_view::npos;
        --outstanding_;
        done_ = true;
        conn_->send_response(
            response_with_body(200, headers_, "Content-Type: application/json",
                               {R"({"jsonrpc":"2.0","id":)", id_text, R"(,"result":)", result.substr(0, result.size() - 1),
                                !empty && !tail.empty() ? "," : "", tail, "}}"},
                               true),
            true);
        conn_.reset();
        return;
      }
    }
    mcp::Outbound::complete_result_text(id, result, tail);
  }

 private:
  // Where `tail` goes in `text`, `response` serialized (see Outbound::serialize_with_result_tail).
  struct TailParts {
    std::string_view head;   // text up to the result's closing brace
    std::string_view comma;  // "," unless the result is empty or the tail is
  };
  static std::optional<TailParts> result_tail_parts(const json::object& response, std::string_view text, std::string_view tail) {
    if (response.empty() || (response.end() - 1)->key() != "result" || !(response.end() - 1)->value().is_object())
      return std::nullopt;
    if (text.size() < 2 || !text.ends_with("}}")) return std::nullopt;
    bool empty = (response.end() - 1)->value().get_object().empty();
    return TailParts{text.substr(0, text.size() - 2), !empty && !tail.empty() ? "," : ""};
  }

  void finish_locked() {
    if (--outstanding_ > 0) return;
    if (!stream_ && flush_pending_ && link_ && link_->has_pending()) open_stream_locked();
    done_ = true;
    if (stream_) {
      stream_->finish();
    } else if (conn_) {
      if (collected_.empty() && !serialized_) {
        conn_->send_response(response_head(202, headers_, 0, true), true);
      } else if (serialized_) {
        conn_->send_response(
            response_with_body(status_locked(), headers_, "Content-Type: application/json", {*serialized_}, true), true);
      } else if (batch_) {
        std::string body = json::serialize(json::array(collected_.begin(), collected_.end()));
        conn_->send_response(response_with_body(status_locked(), headers_, "Content-Type: application/json", {body}, true), true);
      } else {
        // One message: serialized into a stack buffer when it fits, copied once into the response.
        std::array<char, 4096> buf;
        json::serializer sr;
        sr.reset(&collected_.front());
        std::string_view text = sr.read(buf.data(), buf.size());
        std::string whole;
        if (!sr.done()) text = whole = json::serialize(collected_.front());
        conn_->send_response(response_with_body(status_locked(), headers_, "Content-Type: application/json", {text}, true), true);
      }
    }
    conn_.reset();
  }

 public:
  bool done() {
    std::lock_guard lock(mu_);
    return done_;
  }

  // A lone request the policy refused, before any byte of its answer: the HTTP challenge. Inside a
  // batch, or once a stream is open, the status is no longer ours to choose: a JSON-RPC error.
  void refuse(const jsonrpc::Id& id, auth::Remedy remedy, std::span<const std::string> scopes) override {
    std::unique_lock lock(mu_);
    const auth::RequestGuard* guard = conn_ ? conn_->shared_->options.guard.get() : nullptr;
    if (done_ || batch_ || stream_ || !conn_ || !guard || !collected_.empty()) {
      lock.unlock();
      return mcp::Outbound::refuse(id, remedy, scopes);
    }
    done_ = true;
    auto c = auth::challenge_for(remedy, scopes, guard->metadata());
    std::vector<std::string> h = headers_;
    if (!c.www_authenticate.empty()) h.push_back("WWW-Authenticate: " + c.www_authenticate);
    h.emplace_back("Content-Type: application/json");
    std::string bytes = response_head(c.status, h, c.body.size(), true);
    bytes += c.body;
    conn_->send_response(std::move(bytes), true);
    conn_.reset();
  }

  // Messages the session queued while it had no stream (a list_changed after an upgrade) go out
  // on this response, which becomes an SSE stream for them when it completes. Not earlier: a
  // refusal must still be able to choose its status.
  void flush_pending() {
    std::lock_guard lock(mu_);
    flush_pending_ = true;
  }

  bool close_stream(std::chrono::milliseconds retry) override {
    std::lock_guard lock(mu_);
    if (done_ || stateless_) return false;
    if (!stream_) open_stream_locked();
    auto c = stream_->attached();
    if (!c) return true;
    stream_->detach(c.get());
    c->sse_write("retry: " + std::to_string(retry.count()) + "\n\n");
    c->sse_end();
    return true;
  }

 private:
  // 2026-07-28 maps a few protocol errors onto HTTP statuses; everything else is answered in-band.
  unsigned status_locked() const {
    if (!stateless_ || batch_ || collected_.size() != 1) return 200;
    const auto* e = collected_.front().if_contains("error");
    if (!e || !e->is_object()) return 200;
    const auto* c = e->get_object().if_contains("code");
    if (!c || !c->is_int64()) return 200;
    auto code = c->get_int64();
    if (code == -32601) return 404;
    if (code == -32020 || code == -32021 || code == -32022) return 400;
    return 200;
  }

  void open_stream_locked() {
    stream_ = link_ ? link_->new_stream(false) : std::make_shared<SseStream>(0, 0, false, false);
    std::string first;
    if (prime_)
      first = "id: " + format_event_id({stream_->id(), 0}) + "\nretry: " + std::to_string(retry_.count()) + "\ndata: \n\n";
    std::vector<std::string> h = headers_;
    h.emplace_back("Content-Type: text/event-stream");
    h.emplace_back("Cache-Control: no-cache");
    h.emplace_back("X-Accel-Buffering: no");
    if (conn_) {
      conn_->start_sse(std::move(h), std::move(first));
      stream_->attach(conn_, std::nullopt);
    }
    if (link_)
      for (auto& m : link_->take_pending()) stream_->append(m);
    for (auto& m : collected_) stream_->append(m);
    collected_.clear();
    if (serialized_) stream_->append_serialized(*serialized_);
    serialized_.reset();
  }

  const bool stateless_;
  std::mutex mu_;
  std::shared_ptr<Connection> conn_;
  std::shared_ptr<mcp::Session> session_;
  std::shared_ptr<HttpSessionLink> link_;
  std::size_t outstanding_;
  bool batch_;
  bool prime_;
  std::vector<std::string> headers_;
  std::chrono::milliseconds retry_;
  std::vector<json::object> collected_;
  std::optional<std::string> serialized_;  // the response, when it came serialized (complete_with_result_tail)
  std::shared_ptr<SseStream> stream_;
  bool done_ = false;
  bool flush_pending_ = false;
};

// ---------------------------------------------------------------------------------------------
// SseStream

void SseStream::append(const json::object& message) { append_serialized(json::serialize(message)); }

void SseStream::append_serialized(std::string_view message) {
  std::lock_guard lock(mu_);
  if (finished_) return;
  std::uint64_t seq = next_seq_++;
  std::string event = sse_event(resumable_ ? format_event_id({id_, seq}) : std::string(), message);
  if (auto c = conn_.lock(); c && c->alive()) c->sse_write(event);
  if (!resumable_) return;
  buffer_.emplace_back(seq, std::move(event));
  if (buffer_.size() > capacity_) buffer_.pop_front();
}

void SseStream::finish() {
  std::lock_guard lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (auto c = conn_.lock(); c && c->alive()) c->sse_end();
}

bool SseStream::attach(const std::shared_ptr<Connection>& conn, std::optional<std::uint64_t> after_seq) {
  std::lock_guard lock(mu_);
  if (auto c = conn_.lock(); c && c != conn && c->alive()) return false;
  conn_ = conn;
  if (after_seq) {
    for (const auto& [seq, ev] : buffer_)
      if (seq > *after_seq) conn->sse_write(ev);
  }
  if (finished_) conn->sse_end();
  return true;
}

void SseStream::detach(const Connection* conn) {
  std::lock_guard lock(mu_);
  if (auto c = conn_.lock(); c.get() == conn) conn_.reset();
}

bool SseStream::attached_alive() {
  std::lock_guard lock(mu_);
  auto c = conn_.lock();
  return c && c->alive();
}

// ---------------------------------------------------------------------------------------------
// HttpSessionLink

void HttpSessionLink::deliver(json::object message) {
  std::shared_ptr<SseStream> s;
  {
    std::lock_guard lock(mu_);
    s = standalone_;
    if (!s) {
      pending_.push_back(std::move(message));
      if (pending_.size() > kMaxPending) pending_.pop_front();
      return;
    }
  }
  s->append(message);
}

std::shared_ptr<SseStream> HttpSessionLink::new_stream(bool standalone) {
  std::lock_guard lock(mu_);
  auto s = std::make_shared<SseStream>(next_id_++, capacity_, standalone);
  streams_[s->id()] = s;
  if (standalone) standalone_ = s;
  // Bound the number of remembered streams: forget the oldest finished ones first.
  for (auto it = streams_.begin(); streams_.size() > kMaxStreams && it != streams_.end();) {
    if (it->second->finished() && it->second != s)
      it = streams_.erase(it);
    else
      ++it;
  }
  while (streams_.size() > kMaxStreams) streams_.erase(streams_.begin());
  return s;
}

std::shared_ptr<SseStream> HttpSessionLink::find(std::uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second;
}

std::shared_ptr<SseStream> HttpSessionLink::standalone() {
  std::lock_guard lock(mu_);
  return standalone_;
}

std::vector<json::object> HttpSessionLink::take_pending() {
  std::lock_guard lock(mu_);
  std::vector<json::object> out(std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.end()));
  pending_.clear();
  return out;
}

void HttpSessionLink::close_all() {
  std::map<std::uint64_t, std::shared_ptr<SseStream>> streams;
  {
    std::lock_guard lock(mu_);
    streams.swap(streams_);
    standalone_.reset();
    pending_.clear();
  }
  for (auto& [id, s] : streams) s->finish();
}

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(tcp::socket&& socket, std::shared_ptr<Shared> shared)
    : stream_(std::move(socket)), shared_(std::move(shared)) {
  beast::error_code ec;
  auto remote = stream_.socket().remote_endpoint(ec);
  if (!ec) peer_ = remote.address().to_string();
}

void Connection::start() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void Connection::do_read() {
  if (closing_ || shared_->stopping) return close();
  parser_.emplace();
  parser_->body_limit(shared_->options.max_body_bytes);
  parser_->header_limit(static_cast<std::uint32_t>(shared_->options.max_header_bytes));
  stream_.expires_after(shared_->options.read_timeout);
  idle_ = true;
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void Connection::on_read(beast::error_code ec) {
  idle_ = false;
  if (ec == http::error::end_of_stream || ec == asio::error::eof) return close();
  if (ec == http::error::body_limit) {
    reply_rpc_error(413, nullptr, -32600, "Invalid Request: body exceeds the size limit");
    closing_ = true;
    return;
  }
  if (ec == http::error::header_limit) {
    std::string body = "{\"error\":\"request headers too large\"}";
    enqueue(response_head(431, {"Content-Type: application/json"}, body.size(), false) + body, true, false);
    closing_ = true;
    return;
  }
  if (ec == beast::error::timeout) return close();
  if (ec) {
    if (ec.category() == beast::error_code(http::error::bad_target).category()) {
      std::string body = "{\"error\":\"malformed HTTP request\"}";
      enqueue(response_head(400, {"Content-Type: application/json"}, body.size(), false) + body, true, false);
      closing_ = true;
      return;
    }
    return fail(ec, "read");
  }
  stream_.expires_never();
  req_ = parser_->release();
  guarded([this] { handle(); });
}

template <typename F>
void Connection::guarded(F&& f) {
  std::string what;
  try {
    return f();
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "an exception of unknown type";
  }
  // The request fails closed, alone: an internal error, and the connection is not reused.
  observe::count_contained(shared_->options.metrics.get(), "http.request", what);
  reply_rpc_error(500, nullptr, -32603, "Internal error");
}

void Connection::enqueue(std::string bytes, bool ends_response, bool keep_alive) {
  if (!alive_) return;
  pending_bytes_ += bytes.size();
  if (pending_bytes_ > shared_->options.max_pending_write_bytes) {
    log_line("closing a connection whose client stopped reading");
    return close();
  }
  writes_.push_back(Pending{std::move(bytes), ends_response, keep_alive});
  if (!writing_) do_write();
}

void Connection::do_write() {
  if (writes_.empty() || !alive_) return;
  writing_ = true;
  stream_.expires_after(shared_->options.write_timeout);
  asio::async_write(stream_, asio::buffer(writes_.front().bytes),
                    [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_write(ec, n); });
}

void Connection::on_write(beast::error_code ec, std::size_t) {
  writing_ = false;
  if (ec) return fail(ec, "write");
  Pending done = std::move(writes_.front());
  writes_.pop_front();
  pending_bytes_ -= done.bytes.size();
  if (!done.ends_response) {
    if (in_sse_) stream_.expires_never();
    return do_write();
  }
  if (!done.keep_alive || closing_ || shared_->stopping) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    return close();
  }
  stream_.expires_never();
  cancel_holder_.reset();
  if (!writes_.empty()) return do_write();
  if (probe_active_) {
    // The probe's read must end before the next request is read.
    read_after_probe_ = true;
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
    return;
  }
  do_read();
}

void Connection::send_response(std::string bytes, bool keep_alive) {
  asio::post(stream_.get_executor(), [self = shared_from_this(), bytes = std::move(bytes), keep_alive]() mutable {
    self->enqueue(std::move(bytes), true, keep_alive && !self->req_.need_eof());
  });
}

void Connection::start_sse(std::vector<std::string> headers, std::string first_events) {
  asio::post(stream_.get_executor(),
             [self = shared_from_this(), headers = std::move(headers), first = std::move(first_events)]() mutable {
               self->in_sse_ = true;
               std::string bytes = response_head(200, headers, std::nullopt, false, true);
               if (!first.empty()) bytes += chunk(first);
               self->enqueue(std::move(bytes), false, false);
               self->start_probe();
             });
}

void Connection::sse_write(std::string event) {
  asio::post(stream_.get_executor(), [self = shared_from_this(), event = std::move(event)]() mutable {
    if (!self->in_sse_) return;
    self->enqueue(chunk(event), false, false);
  });
}

void Connection::sse_end() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (!self->in_sse_) return;
    self->in_sse_ = false;
    self->enqueue(std::string(kLastChunk), true, false);
  });
}

void Connection::start_probe() {
  if (probe_active_ || !alive_) return;
  probe_active_ = true;
  stream_.socket().async_read_some(
      asio::buffer(probe_),
      asio::bind_executor(stream_.get_executor(),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_probe(ec, n); }));
}

void Connection::on_probe(beast::error_code ec, std::size_t n) {
  probe_active_ = false;
  if (ec == asio::error::operation_aborted && read_after_probe_) {
    read_after_probe_ = false;
    return do_read();
  }
  if (ec) {
    if (cancel_holder_) cancel_holder_->close();
    cancel_holder_.reset();
    return close();
  }
  if (in_sse_) return start_probe();  // a client does not send while it reads a stream
  // The client sent its next request early: keep the byte for the parser and stop probing.
  auto dst = buffer_.prepare(n);
  std::memcpy(dst.data(), probe_.data(), n);
  buffer_.commit(n);
  if (read_after_probe_) {
    read_after_probe_ = false;
    do_read();
  }
}

void Connection::cancel_on_disconnect(std::shared_ptr<mcp::Session> holder) {
  asio::post(stream_.get_executor(), [self = shared_from_this(), holder = std::move(holder)]() mutable {
    if (!self->alive_) return holder->close();
    self->cancel_holder_ = std::move(holder);
    self->start_probe();
  });
}

void Connection::close() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (!self->alive_.exchange(false)) return;
    if (self->sse_stream_) self->sse_stream_->detach(self.get());
    if (self->cancel_holder_) self->cancel_holder_->close();
    self->cancel_holder_.reset();
    beast::error_code ignored;
    self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    self->stream_.socket().close(ignored);
    std::lock_guard lock(self->shared_->conns_mu);
    self->shared_->conns.erase(self);
  });
}

void Connection::close_if_idle() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->idle_ && self->buffer_.size() == 0) self->close();
  });
}

void Connection::fail(beast::error_code ec, std::string_view what) {
  if (ec != asio::error::operation_aborted && ec != beast::error::timeout && ec != asio::error::broken_pipe &&
      ec != asio::error::connection_reset)
    log_line(std::string(what) + ": " + ec.message());
  close();
}

void Connection::reply(unsigned status, std::string body, std::vector<std::string> headers, std::string content_type) {
  headers.insert(headers.end(), cors_.begin(), cors_.end());
  if (!body.empty()) headers.push_back("Content-Type: " + content_type);
  bool keep = req_.keep_alive() && status < 500 && status != 413;
  enqueue(response_head(status, headers, body.size(), keep) + body, true, keep);
}

void Connection::reply_rpc_error(unsigned status, const jsonrpc::Id& id, std::int32_t code, std::string message) {
  reply(status, json::serialize(jsonrpc::error_response(id, jsonrpc::Error{code, std::move(message), std::nullopt})));
}

void Connection::handle() {
  const auto& opts = shared_->options;
  // DNS rebinding protection: Host first, then Origin.
  auto host = req_[http::field::host];
  if (host.empty()) return reply_rpc_error(400, nullptr, -32600, "Bad Request: missing Host header");
  if (!host_allowed(host, shared_->loopback, opts.allowed_hosts))
    return reply_rpc_error(403, nullptr, -32600, "Forbidden: Host not allowed");
  // Protected Resource Metadata is public and readable from any origin (CORS), token or not.
  if (opts.guard && serve_resource_metadata(req_.target().substr(0, req_.target().find('?')))) return;
  auto origin = req_[http::field::origin];
  if (!origin.empty() && !origin_allowed(origin, opts.allowed_origins))
    return reply_rpc_error(403, nullptr, -32600, "Forbidden: Origin not allowed");

  std::string_view target = req_.target();
  std::string_view path = target.substr(0, target.find('?'));
  cors_.clear();
  if (path == opts.path && !opts.cors_origins.empty()) {
    bool preflight = req_.method() == http::verb::options;
    cors_ = cors_headers(origin, opts.cors_origins, preflight);
    if (preflight && !cors_.empty()) return reply(204);
  }
  if (path == "/healthz" || path == "/readyz") {
    if (req_.method() != http::verb::get) return reply(405, "{\"error\":\"method not allowed\"}", {"Allow: GET"});
    if (!opts.health) return reply(200, "{\"status\":\"ok\"}");
    // Alive as long as it answers; ready when what it serves is (the gateway: every upstream).
    auto [ready, detail] = opts.health();
    return reply(path == "/readyz" && !ready ? 503 : 200, std::move(detail), {"Cache-Control: no-store"});
  }
  if (path == "/metrics" && opts.metrics) {
    if (req_.method() != http::verb::get) return reply(405, "{\"error\":\"method not allowed\"}", {"Allow: GET"});
    return reply(200, opts.metrics->render(), {}, std::string(observe::Registry::content_type));
  }
  if (path != opts.path) return reply(404, "{\"error\":\"not found\"}");

  switch (req_.method()) {
    case http::verb::post: return handle_post();
    case http::verb::get: return handle_get();
    case http::verb::delete_: return handle_delete();
    default:
      return reply(405,
                   json::serialize(jsonrpc::error_response(nullptr, jsonrpc::Error{-32600, "Method Not Allowed", std::nullopt})),
                   {"Allow: GET, POST, DELETE"});
  }
}

std::shared_ptr<mcp::Session> Connection::session_for_request(bool& replied) {
  replied = true;
  auto sid = req_["Mcp-Session-Id"];
  if (sid.empty()) {
    reply_rpc_error(400, nullptr, -32600, "Bad Request: Mcp-Session-Id header is required");
    return nullptr;
  }
  auto session = shared_->server.find_session(std::string(sid));
  if (!session) {
    reply_rpc_error(404, nullptr, -32001, "Session not found");
    return nullptr;
  }
  auto version = req_["MCP-Protocol-Version"];
  if (!version.empty() && !mcp::is_supported_revision(version)) {
    reply_rpc_error(400, nullptr, -32600, "Bad Request: unsupported MCP-Protocol-Version " + std::string(version));
    return nullptr;
  }
  replied = false;
  return session;
}

void Connection::handle_post() {
  if (!is_json_content_type(req_[http::field::content_type]))
    return reply_rpc_error(415, nullptr, -32600, "Unsupported Media Type: Content-Type must be application/json");
  auto accept = req_[http::field::accept];
  if (!accepts(accept, "application/json") || !accepts(accept, "text/event-stream"))
    return reply_rpc_error(406, nullptr, -32600, "Not Acceptable: Accept must list both application/json and text/event-stream");

  auto decoded = std::make_shared<jsonrpc::DecodedBody>(jsonrpc::decode(req_.body()));
  if (decoded->parse_error) return reply_rpc_error(400, nullptr, decoded->parse_error->code, decoded->parse_error->message);
  // The authorization decision comes before any session work and before any response byte.
  with_authorization(decoded, [self = shared_from_this(), decoded](Caller caller) {
    self->dispatch_post(std::move(*decoded), std::move(caller));
  });
}

bool Connection::bind(const std::shared_ptr<mcp::Session>& session, const Caller& caller) {
  if (!shared_->options.guard) return true;
  switch (shared_->server.bind_caller(session, caller)) {
    case mcp::Binding::ok: return true;
    case mcp::Binding::other_subject:
      // Hijack protection: the session answers to the subject it is bound to, nobody else.
      refuse(Refusal{403, {}, "forbidden", "this session belongs to another subject"});
      return false;
    case mcp::Binding::anonymous_on_bound:
      refuse(Refusal{401,
                     auth::to_header(auth::Challenge::missing_token(shared_->options.guard->metadata().well_known_url(), "")),
                     {},
                     "this session is bound to a subject: send its token"});
      return false;
  }
  return false;
}

Connection::McpHeaders Connection::mcp_headers() const {
  McpHeaders h;
  bool version = false, method = false;
  for (const auto& f : req_) {
    if (f.name() != http::field::unknown) continue;
    std::string_view n = f.name_string();
    if (!version && header_name_is(n, "mcp-protocol-version")) {
      version = true;
      h.version = f.value();
    } else if (!method && header_name_is(n, "mcp-method")) {
      method = true;
      h.method = f.value();
    } else if (!h.has_name && header_name_is(n, "mcp-name")) {
      h.has_name = true;
      h.name = f.value();
    }
  }
  return h;
}

void Connection::dispatch_post(jsonrpc::DecodedBody body, Caller caller) {
  // One endpoint, two generations: a 2026-07-28 envelope (or a version header that is not a
  // session revision) selects the stateless protocol for this request.
  const McpHeaders mcp = mcp_headers();
  std::string_view header_version = mcp.version;
  bool envelope = false;
  if (!body.batch)
    if (const auto* m = std::get_if<jsonrpc::Message>(&body.items.front())) {
      if (const auto* r = std::get_if<jsonrpc::Request>(m)) envelope = mcp::Server::has_envelope(r->params);
      if (const auto* n = std::get_if<jsonrpc::Notification>(m)) envelope = mcp::Server::has_envelope(n->params);
    }
  if (envelope || (!header_version.empty() && !mcp::is_supported_revision(header_version)))
    return handle_stateless(std::move(body), mcp, envelope, std::move(caller));

  // initialize opens a session; it must be sent alone.
  bool is_init = false;
  for (const auto& item : body.items)
    if (const auto* m = std::get_if<jsonrpc::Message>(&item))
      if (const auto* r = std::get_if<jsonrpc::Request>(m); r && r->method == "initialize") is_init = true;

  std::shared_ptr<mcp::Session> session;
  std::vector<std::string> headers = cors_;
  if (is_init) {
    if (body.batch) return reply_rpc_error(400, nullptr, -32600, "Invalid Request: initialize cannot be part of a batch");
    std::string_view version = mcp.version;
    if (!version.empty() && !mcp::is_supported_revision(version))
      return reply_rpc_error(400, nullptr, -32600, "Bad Request: unsupported MCP-Protocol-Version " + std::string(version));
    if (!req_["Mcp-Session-Id"].empty())
      return reply_rpc_error(400, nullptr, -32600, "Bad Request: initialize must not carry an Mcp-Session-Id");
    if (shared_->server.session_count() >= shared_->options.max_sessions)
      return reply_rpc_error(503, nullptr, -32603, "Service Unavailable: too many sessions");
    session = shared_->server.create_session();
    session->set_link(std::make_shared<HttpSessionLink>(shared_->options.stream_buffer_events));
    headers.push_back("Mcp-Session-Id: " + session->id());
    if (!bind(session, caller)) return;  // a fresh session binds to any caller
  } else {
    bool replied = false;
    session = session_for_request(replied);
    if (replied) return;
    if (!bind(session, caller)) return;
  }

  auto link = std::dynamic_pointer_cast<HttpSessionLink>(session->link());
  if (!link) return reply_rpc_error(404, nullptr, -32001, "Session not found");

  std::string version = session->snapshot().protocol_version;
  if (body.batch && !version.empty() && !mcp::revision_allows_batches(version))
    return reply_rpc_error(400, nullptr, -32600, "Invalid Request: JSON-RPC batches are not supported in revision " + version);

  // A lone invalid message is a 400; inside a batch it gets an error entry.
  if (!body.batch && std::holds_alternative<jsonrpc::Invalid>(body.items.front())) {
    const auto& inv = std::get<jsonrpc::Invalid>(body.items.front());
    if (is_init) shared_->server.close_session(session->id());
    return reply_rpc_error(400, inv.id, inv.error.code, inv.error.message);
  }

  std::size_t requests = 0;
  for (const auto& item : body.items)
    if (const auto* m = std::get_if<jsonrpc::Message>(&item); m && std::holds_alternative<jsonrpc::Request>(*m)) ++requests;
  std::size_t invalid = 0;
  for (const auto& item : body.items) invalid += std::holds_alternative<jsonrpc::Invalid>(item);

  if (requests + invalid == 0) {
    for (auto& item : body.items) shared_->server.handle(session, std::get<jsonrpc::Message>(std::move(item)), nullptr, caller);
    return reply(202);
  }

  bool prime = mcp::revision_primes_sse(version.empty() ? std::string(mcp::kLatestRevision) : version);
  auto exchange = std::make_shared<Exchange>(shared_from_this(), session, link, requests + invalid, body.batch, prime,
                                             std::move(headers), shared_->options.sse_retry);
  if (!is_init) exchange->flush_pending();
  for (auto& item : body.items) {
    if (auto* inv = std::get_if<jsonrpc::Invalid>(&item)) {
      exchange->complete(jsonrpc::error_response(inv->id, inv->error));
      continue;
    }
    auto& msg = std::get<jsonrpc::Message>(item);
    bool is_request = std::holds_alternative<jsonrpc::Request>(msg);
    shared_->server.handle(session, std::move(msg), is_request ? exchange : nullptr, caller);
  }
  if (is_init && session->snapshot().protocol_version.empty()) shared_->server.close_session(session->id());
}

bool Connection::serve_resource_metadata(std::string_view path) {
  // Both metadata paths start with the well-known prefix: most requests are told by it, without
  // building the path-inserted one.
  if (!path.starts_with("/.well-known/oauth-protected-resource")) return false;
  const auto& md = shared_->options.guard->metadata();
  if (path != md.well_known_path() && path != "/.well-known/oauth-protected-resource") return false;
  std::vector<std::string> cors{"Access-Control-Allow-Origin: *", "Access-Control-Allow-Methods: GET, OPTIONS",
                                "Access-Control-Allow-Headers: Authorization, Content-Type, MCP-Protocol-Version"};
  if (req_.method() == http::verb::options) {
    reply(204, {}, cors);
    return true;
  }
  if (req_.method() != http::verb::get) {
    cors.emplace_back("Allow: GET, OPTIONS");
    reply(405, "{\"error\":\"method not allowed\"}", cors);
    return true;
  }
  cors.emplace_back("Cache-Control: max-age=300");
  reply(200, json::serialize(md.to_json()), cors);
  return true;
}

std::optional<Connection::Verdict> Connection::decide(const jsonrpc::DecodedBody& body, bool quick) {
  auto& guard = shared_->options.guard;
  if (!guard) return Verdict{};
  // Tokens travel only in one Authorization header (RFC 6750 §2.1); never in the URL.
  std::string_view target = req_.target();
  auto q = target.find('?');
  if (q != std::string_view::npos && target.substr(q).find("access_token=") != std::string_view::npos)
    return Verdict{Refusal{400, "Bearer error=\"invalid_request\"", "invalid_request",
                           "tokens are accepted only in the Authorization header"},
                   nullptr};
  // One pass over the few header fields (by their parsed field code) instead of two lookups by name.
  std::size_t authorizations = 0;
  std::string_view authorization;
  for (const auto& f : req_)
    if (f.name() == http::field::authorization && ++authorizations == 1) authorization = f.value();
  if (authorizations > 1)
    return Verdict{Refusal{400, "Bearer error=\"invalid_request\"", "invalid_request", "more than one Authorization header"},
                   nullptr};
  auto check = [&](std::string_view method, std::string_view name) -> std::optional<auth::AccessDecision> {
    auth::AccessRequest r{method, name, peer_};
    return quick ? guard->check_quickly(authorization, r) : guard->check(authorization, r);
  };
  bool any = false;
  Caller caller;
  for (const auto& item : body.items) {
    const auto* m = std::get_if<jsonrpc::Message>(&item);
    const auto* r = m ? std::get_if<jsonrpc::Request>(m) : nullptr;
    if (!r) continue;
    any = true;
    std::string_view name;
    if (const auto* p = r->params.if_object()) {
      const auto* n = p->if_contains(r->method == "resources/read" || r->method == "resources/subscribe" ? "uri" : "name");
      if (n && n->is_string()) name = n->get_string();
    }
    auto d = check(r->method, name);
    if (!d) return std::nullopt;
    if (!d->allowed) return Verdict{Refusal{d->status, d->www_authenticate, d->error, d->description}, nullptr};
    caller = d->principal;
  }
  if (!any) {
    // Notifications, responses, GET and DELETE: a token, when present, must still be valid.
    auto d = check("", "");
    if (!d) return std::nullopt;
    if (!d->allowed) return Verdict{Refusal{d->status, d->www_authenticate, d->error, d->description}, nullptr};
    caller = d->principal;
  }
  return Verdict{std::nullopt, std::move(caller)};
}

std::optional<Connection::Verdict> Connection::decide_contained(const jsonrpc::DecodedBody& body, bool quick,
                                                                std::string_view where) {
  auto contained = [&](bool environment, std::string_view what) {
    observe::count_contained(shared_->options.metrics.get(), where, what);
    // Out of memory or threads: the token may be fine, so the client is told to retry, not to
    // replace it. Anything else is a verifier that could not vouch for the token.
    if (environment) return Verdict{Refusal{503, "", "temporarily_unavailable", "the token could not be checked now"}, nullptr};
    std::string description = "the token could not be verified";
    return Verdict{
        Refusal{401,
                auth::to_header(auth::Challenge::invalid_token(shared_->options.guard->metadata().well_known_url(), description)),
                "invalid_token", description},
        nullptr};
  };
  try {
    return decide(body, quick);
  } catch (const std::bad_alloc& e) {
    return contained(true, e.what());
  } catch (const std::system_error& e) {
    return contained(true, e.what());
  } catch (const std::exception& e) {
    return contained(false, e.what());
  } catch (...) {
    return contained(false, "an exception of unknown type");
  }
}

void Connection::refuse(const Refusal& r) {
  if (auto& m = shared_->options.metrics)
    m->counter("jitgate_challenges_total", "Refused calls, by HTTP status and challenge",
               {{"status", std::to_string(r.status)}, {"kind", r.error.empty() ? std::string_view("authenticate") : r.error}})
        .inc();
  std::vector<std::string> h;
  if (!r.challenge.empty()) h.push_back("WWW-Authenticate: " + r.challenge);
  reply(r.status, refusal_body(r.error, r.description), std::move(h));
}

void Connection::with_authorization(std::shared_ptr<jsonrpc::DecodedBody> body, std::function<void(Caller)> next) {
  if (!shared_->options.guard) return next(nullptr);
  // Most requests carry no token or one already verified: decided here, in one pass.
  if (auto verdict = decide_contained(*body, /*quick=*/true, "auth.io"); verdict || !shared_->auth_pool) {
    if (!verdict) verdict = decide_contained(*body, false, "auth.io");
    if (verdict->refusal) return refuse(*verdict->refusal);
    return next(std::move(verdict->caller));
  }
  // Verifying may reach the authorization server (keys, introspection): not on an I/O thread.
  asio::post(*shared_->auth_pool, [self = shared_from_this(), body, next = std::move(next)]() mutable {
    auto verdict = *self->decide_contained(*body, false, "auth.pool");
    asio::post(self->stream_.get_executor(), [self, verdict = std::move(verdict), next = std::move(next)]() mutable {
      if (!self->alive_) return;
      // Back on the connection's strand, outside on_read's boundary: this step has its own.
      self->guarded([&] {
        if (verdict.refusal) return self->refuse(*verdict.refusal);
        next(std::move(verdict.caller));
      });
    });
  });
}

void Connection::handle_stateless(jsonrpc::DecodedBody body, const McpHeaders& headers, bool envelope, Caller caller) {
  std::string_view header_version = headers.version;
  auto fail = [&](unsigned status, const jsonrpc::Id& id, std::int32_t code, std::string msg,
                  std::optional<json::value> data = std::nullopt) {
    reply(status, json::serialize(jsonrpc::error_response(id, jsonrpc::Error{code, std::move(msg), std::move(data)})));
  };
  if (body.batch) return fail(400, nullptr, -32600, "Invalid Request: revision 2026-07-28 takes a single message per request");
  auto& item = body.items.front();
  if (auto* inv = std::get_if<jsonrpc::Invalid>(&item)) return fail(400, inv->id, inv->error.code, inv->error.message);
  auto& msg = std::get<jsonrpc::Message>(item);
  if (auto* r = std::get_if<jsonrpc::Response>(&msg))
    return fail(400, r->id, -32600, "Invalid Request: clients do not send responses in revision 2026-07-28");
  if (std::holds_alternative<jsonrpc::Notification>(msg)) return reply(202);  // cancellation is closing the stream

  auto& request = std::get<jsonrpc::Request>(msg);
  const auto& id = request.id;
  if (!envelope && !header_version.empty() && !mcp::is_stateless_revision(header_version)) {
    json::array supported;
    for (auto v : mcp::all_revisions()) supported.push_back(json::string(v));
    return fail(400, id, -32022, "Unsupported protocol version",
                json::object{{"supported", std::move(supported)}, {"requested", header_version}});
  }
  if (header_version.empty()) return fail(400, id, -32020, "Header mismatch: MCP-Protocol-Version header is required");
  if (auto err = shared_->server.check_envelope(request.params, header_version))
    return fail(400, id, err->code, err->message, err->data);
  std::string_view method_header = headers.method;
  if (method_header.empty()) return fail(400, id, -32020, "Header mismatch: Mcp-Method header is required");
  if (method_header != request.method)
    return fail(400, id, -32020, "Header mismatch: Mcp-Method does not match the request method");
  std::string_view name_key = request.method == "tools/call" || request.method == "prompts/get" ? "name"
                              : request.method == "resources/read"                              ? "uri"
                                                                                                : "";
  if (!name_key.empty()) {
    const auto* p = request.params.if_object();
    const auto* body_name = p ? p->if_contains(name_key) : nullptr;
    auto name_header = decode_header_value(headers.name);
    if (!name_header) return fail(400, id, -32020, "Header mismatch: Mcp-Name header is required or malformed");
    if (body_name && body_name->is_string() && *name_header != body_name->get_string())
      return fail(400, id, -32020, "Header mismatch: Mcp-Name does not match params." + std::string(name_key));
  }
  if (!shared_->server.stateless_method_available(request.method))
    return fail(404, id, -32601, "Method not found: " + request.method);

  // No session: an unregistered holder carries the call so that a closed stream can cancel it. It
  // tells Server::handle that the envelope and the method were checked above.
  auto holder = std::make_shared<mcp::Session>(std::string());
  holder->mark_envelope_checked();
  auto exchange =
      std::make_shared<Exchange>(shared_from_this(), holder, nullptr, 1, false, false, cors_, shared_->options.sse_retry, true);
  shared_->server.handle(holder, std::move(msg), exchange, std::move(caller));
  if (!exchange->done()) cancel_on_disconnect(holder);
}

void Connection::handle_get() {
  with_authorization(std::make_shared<jsonrpc::DecodedBody>(),
                     [self = shared_from_this()](Caller c) { self->dispatch_get(std::move(c)); });
}

void Connection::dispatch_get(Caller caller) {
  if (auto v = req_["MCP-Protocol-Version"]; !v.empty() && !mcp::is_supported_revision(v))
    return reply(405,
                 json::serialize(jsonrpc::error_response(
                     nullptr, jsonrpc::Error{-32600, "Method Not Allowed: revision 2026-07-28 has no GET stream", std::nullopt})),
                 {"Allow: POST"});
  if (!accepts(req_[http::field::accept], "text/event-stream"))
    return reply_rpc_error(406, nullptr, -32600, "Not Acceptable: Accept must list text/event-stream");
  bool replied = false;
  auto session = session_for_request(replied);
  if (replied) return;
  if (!bind(session, caller)) return;
  auto link = std::dynamic_pointer_cast<HttpSessionLink>(session->link());
  if (!link) return reply_rpc_error(404, nullptr, -32001, "Session not found");
  session->touch();

  std::vector<std::string> headers{"Content-Type: text/event-stream", "Cache-Control: no-cache", "X-Accel-Buffering: no",
                                   "Mcp-Session-Id: " + session->id()};
  headers.insert(headers.end(), cors_.begin(), cors_.end());
  auto last = req_["Last-Event-ID"];
  if (!last.empty()) {
    auto id = parse_event_id(last);
    auto s = id ? link->find(id->stream) : nullptr;
    if (!s) return reply_rpc_error(404, nullptr, -32600, "Unknown Last-Event-ID: the stream cannot be resumed");
    if (s->attached_alive()) return reply_rpc_error(409, nullptr, -32600, "Conflict: the stream is already connected");
    sse_stream_ = s;
    start_sse(std::move(headers), {});
    s->attach(shared_from_this(), id->seq);
    return;
  }
  auto s = link->standalone();
  if (s && s->attached_alive())
    return reply_rpc_error(409, nullptr, -32600, "Conflict: only one GET stream per session is allowed");
  if (!s) s = link->new_stream(true);
  sse_stream_ = s;
  std::string version = session->snapshot().protocol_version;
  std::string first;
  if (mcp::revision_primes_sse(version))
    first = "id: " + format_event_id({s->id(), 0}) + "\nretry: " + std::to_string(shared_->options.sse_retry.count()) +
            "\ndata: \n\n";
  start_sse(std::move(headers), std::move(first));
  s->attach(shared_from_this(), std::nullopt);
  for (auto& m : link->take_pending()) s->append(m);
}

void Connection::handle_delete() {
  with_authorization(std::make_shared<jsonrpc::DecodedBody>(),
                     [self = shared_from_this()](Caller c) { self->dispatch_delete(std::move(c)); });
}

void Connection::dispatch_delete(Caller caller) {
  if (auto v = req_["MCP-Protocol-Version"]; !v.empty() && !mcp::is_supported_revision(v))
    return reply(405,
                 json::serialize(jsonrpc::error_response(
                     nullptr, jsonrpc::Error{-32600, "Method Not Allowed: revision 2026-07-28 has no sessions", std::nullopt})),
                 {"Allow: POST"});
  bool replied = false;
  auto session = session_for_request(replied);
  if (replied) return;
  if (!bind(session, caller)) return;
  if (auto link = std::dynamic_pointer_cast<HttpSessionLink>(session->link())) link->close_all();
  shared_->server.close_session(session->id());
  reply(200);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HttpServer

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  asio::io_context ioc;
  asio::thread_pool auth_pool{2};  // declared after ioc: joined before it is destroyed
  std::shared_ptr<Shared> shared;
  tcp::acceptor acceptor{ioc};
  asio::steady_timer sweeper{ioc};
  asio::steady_timer ticker{ioc};
  asio::signal_set hangups{ioc};
  asio::steady_timer grace{ioc};
  asio::signal_set signals{ioc};
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  unsigned thread_count = 1;

  // An I/O thread outlives an exception that escaped a handler: requests catch their own, so one
  // that gets here is counted and logged, and the thread goes back to work (only that
  // connection's operation is lost; its timeouts still close it).
  void run_io() {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        observe::count_contained(shared->options.metrics.get(), "http.io", e.what());
      } catch (...) {
        observe::count_contained(shared->options.metrics.get(), "http.io", "an exception of unknown type");
      }
    }
  }

  void accept() {
    if (shared->stopping) return;
    acceptor.async_accept(asio::make_strand(ioc), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
        log_line("accept: " + ec.message());
      } else {
        beast::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        auto conn = std::make_shared<Connection>(std::move(s), self->shared);
        {
          std::lock_guard lock(self->shared->conns_mu);
          self->shared->conns.insert(conn);
        }
        conn->start();
      }
      self->accept();
    });
  }

  void sweep() {
    auto period =
        std::clamp(shared->options.session_idle_timeout / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(10'000));
    sweeper.expires_after(period);
    sweeper.async_wait([self = shared_from_this()](beast::error_code ec) {
      // A tick already queued when shutdown cancelled the timer must not re-arm it.
      if (ec || self->shared->stopping) return;
      self->expire();
      self->sweep();
    });
  }

  void tick() {
    ticker.expires_after(shared->options.tick);
    ticker.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->shared->stopping) return;
      auto now = common::epoch_seconds();
      if (self->shared->options.guard) self->shared->server.expire_rights(now);
      if (self->shared->options.on_tick) self->shared->options.on_tick();
      self->tick();
    });
  }

  void wait_hangup() {
    hangups.async_wait([self = shared_from_this()](beast::error_code ec, int) {
      if (ec || self->shared->stopping) return;
      log_line("SIGHUP");
      if (self->shared->options.on_hangup) self->shared->options.on_hangup();
      self->wait_hangup();
    });
  }

  void expire() {
    // Sessions being expired lose their streams too; the link closes them.
    std::size_t n = shared->server.expire_idle_sessions(shared->options.session_idle_timeout);
    if (n) log_line("expired " + std::to_string(n) + " idle session(s)");
  }

  std::vector<std::shared_ptr<Connection>> connections() {
    std::vector<std::shared_ptr<Connection>> out;
    std::lock_guard lock(shared->conns_mu);
    for (auto& w : shared->conns)
      if (auto c = w.lock()) out.push_back(c);
    return out;
  }

  void shutdown() {
    if (shared->stopping.exchange(true)) return;
    asio::post(ioc, [self = shared_from_this()] {
      beast::error_code ignored;
      self->acceptor.close(ignored);
      self->sweeper.cancel();
      self->ticker.cancel();
      self->signals.cancel();
      self->hangups.cancel();
      // Streams end with their final messages (listen results, closed session streams); idle
      // connections close now, busy ones get a grace period to write what they have.
      self->shared->server.close_all_sessions();
      for (auto& c : self->connections()) c->close_if_idle();
      self->grace.expires_after(std::chrono::milliseconds(500));
      self->grace.async_wait([self](beast::error_code) {
        for (auto& c : self->connections()) c->close();
      });
    });
  }
};

HttpServer::HttpServer(mcp::Server& server, HttpOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->shared = std::make_shared<Shared>(server, std::move(options));
  impl_->shared->loopback = is_loopback_host(impl_->shared->options.host);
  impl_->shared->auth_pool = &impl_->auth_pool;
  unsigned n = impl_->shared->options.threads;
  impl_->thread_count = n ? n : usable_cores();
}

HttpServer::~HttpServer() {
  stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->auth_pool.join();
}

std::uint16_t HttpServer::listen() {
  auto& o = impl_->shared->options;
  std::string host = o.host == "localhost" ? "127.0.0.1" : o.host;
  tcp::endpoint ep(asio::ip::make_address(host), o.port);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(asio::socket_base::max_listen_connections);
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->accept();
  impl_->sweep();
  impl_->tick();
  return impl_->port;
}

std::uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::start() {
  for (unsigned i = 0; i < impl_->thread_count; ++i) impl_->threads.emplace_back([impl = impl_] { impl->run_io(); });
}

void HttpServer::run(bool handle_signals) {
  if (handle_signals) {
    impl_->signals.add(SIGINT);
    impl_->signals.add(SIGTERM);
    impl_->signals.async_wait([impl = impl_](beast::error_code ec, int sig) {
      if (ec) return;
      log_line("signal " + std::to_string(sig) + ": shutting down");
      impl->shutdown();
    });
    if (impl_->shared->options.on_hangup) {
      impl_->hangups.add(SIGHUP);
      impl_->wait_hangup();
    }
  }
  for (unsigned i = 1; i < impl_->thread_count; ++i) impl_->threads.emplace_back([impl = impl_] { impl->run_io(); });
  impl_->run_io();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

void HttpServer::stop() { impl_->shutdown(); }

}  // namespace jitgate::transport
