#include "jitgate/transport/stdio.hpp"

#include <boost/json.hpp>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "jitgate/jsonrpc/message.hpp"
#include "jitgate/mcp/server.hpp"

namespace jitgate::transport {

namespace {

namespace json = boost::json;

// Serializes whole lines onto the output stream from any thread.
class LineWriter {
 public:
  explicit LineWriter(std::ostream& out) : out_(out) {}
  void write(const json::value& v) {
    std::string line = json::serialize(v);
    line += '\n';
    std::lock_guard lock(mu_);
    out_ << line << std::flush;
  }

 private:
  std::mutex mu_;
  std::ostream& out_;
};

class StdioLink : public mcp::SessionLink {
 public:
  explicit StdioLink(std::shared_ptr<LineWriter> w) : w_(std::move(w)) {}
  void deliver(json::object message) override { w_->write(message); }

 private:
  std::shared_ptr<LineWriter> w_;
};

// Over stdio there is one stream: every message, related or not, is a line on stdout.
class StdioOutbound : public mcp::Outbound {
 public:
  explicit StdioOutbound(std::shared_ptr<LineWriter> w) : w_(std::move(w)) {}
  void send(json::object message) override { w_->write(message); }
  void complete(std::optional<json::object> response) override {
    if (response) w_->write(*response);
  }

 private:
  std::shared_ptr<LineWriter> w_;
};

// A 2025-03-26 batch is answered with one array once every request in it has completed.
class BatchOutbound : public mcp::Outbound {
 public:
  BatchOutbound(std::shared_ptr<LineWriter> w, std::size_t outstanding) : w_(std::move(w)), outstanding_(outstanding) {}
  void send(json::object message) override { w_->write(message); }
  void complete(std::optional<json::object> response) override {
    std::lock_guard lock(mu_);
    if (response) answers_.push_back(std::move(*response));
    if (--outstanding_ == 0 && !answers_.empty()) w_->write(answers_);
  }

 private:
  std::shared_ptr<LineWriter> w_;
  std::mutex mu_;
  std::size_t outstanding_;
  json::array answers_;
};

}  // namespace

int serve_stdio(mcp::Server& server, std::istream& in, std::ostream& out) {
  // Only the writer touches `out` (under its lock, flushing every line). An input stream tied to it
  // (std::cin is, to std::cout) would flush it from this thread before each read, racing the handler
  // threads' writes once the streams are not synchronized with stdio.
  std::ostream* tied = in.tie(nullptr);
  auto writer = std::make_shared<LineWriter>(out);
  auto session = server.create_session();
  session->set_link(std::make_shared<StdioLink>(writer));
  auto outbound = std::make_shared<StdioOutbound>(writer);  // one stream: responses are lines
  constexpr std::size_t kMaxLine = 4 * 1024 * 1024;

  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line.size() > kMaxLine) {
      writer->write(jsonrpc::error_response(nullptr, jsonrpc::Error{-32600, "Invalid Request: message too large", std::nullopt}));
      continue;
    }
    jsonrpc::DecodedBody body = jsonrpc::decode(line);
    if (body.parse_error) {
      writer->write(jsonrpc::error_response(nullptr, *body.parse_error));
      continue;
    }
    std::string version =
        body.batch ? session->with_state([](mcp::Session::State& st) { return st.protocol_version; }) : std::string();
    if (body.batch && !version.empty() && version > "2025-03-26") {
      writer->write(jsonrpc::error_response(
          nullptr,
          jsonrpc::Error{-32600, "Invalid Request: JSON-RPC batches are not supported in revision " + version, std::nullopt}));
      continue;
    }
    if (!body.batch) {
      auto& item = body.items.front();
      if (auto* inv = std::get_if<jsonrpc::Invalid>(&item))
        writer->write(jsonrpc::error_response(inv->id, inv->error));
      else
        server.handle(session, std::get<jsonrpc::Message>(std::move(item)), outbound);
      continue;
    }
    std::size_t answers = 0;
    for (const auto& item : body.items) {
      const auto* m = std::get_if<jsonrpc::Message>(&item);
      answers += !m || std::holds_alternative<jsonrpc::Request>(*m);
    }
    auto batch = std::make_shared<BatchOutbound>(writer, answers);
    for (auto& item : body.items) {
      if (auto* inv = std::get_if<jsonrpc::Invalid>(&item)) {
        batch->complete(jsonrpc::error_response(inv->id, inv->error));
        continue;
      }
      auto& msg = std::get<jsonrpc::Message>(item);
      bool is_request = std::holds_alternative<jsonrpc::Request>(msg);
      server.handle(session, std::move(msg), is_request ? batch : nullptr);
    }
  }
  // End of input: let calls already running answer (bounded), then end the session.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (session->calls_in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server.close_session(session->id());
  server.join();
  in.tie(tied);
  return 0;
}

}  // namespace jitgate::transport
