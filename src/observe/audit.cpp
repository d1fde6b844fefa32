#include "jitgate/observe/audit.hpp"

#include <openssl/evp.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>
#include "common/digest.hpp"

namespace jitgate::observe {
namespace {

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is not one (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i);
  std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (c >= 0xF5 || n == 0 || i + n > s.size()) return 0;
  unsigned char c1 = at(i + 1);
  unsigned char lo = 0x80, hi = 0xBF;
  if (c == 0xE0) lo = 0xA0;
  if (c == 0xED) hi = 0x9F;
  if (c == 0xF0) lo = 0x90;
  if (c == 0xF4) hi = 0x8F;
  if (c1 < lo || c1 > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((at(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

// A JSON string literal per RFC 8259: quotes, backslash and every control character escaped.
void append_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_sequence(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          common::append_hex(out, c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

void append_key(std::string& out, std::string_view key) {
  if (out.size() > 1) out.push_back(',');
  out.push_back('"');
  out.append(key);
  out += "\":";
}

void append_field(std::string& out, std::string_view key, std::string_view value) {
  append_key(out, key);
  append_string(out, value);
}

void append_optional(std::string& out, std::string_view key, std::string_view value) {
  if (!value.empty()) append_field(out, key, value);
}

void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto secs = floor<seconds>(t);
  auto millis = duration_cast<milliseconds>(t - secs).count();
  std::time_t tt = system_clock::to_time_t(time_point_cast<system_clock::duration>(secs));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  out.append(buf, static_cast<std::size_t>(n));
}

// One background thread drains a bounded queue into a FILE*. Producers hold the mutex only to
// move a formatted line into the queue; the writer swaps the whole queue out and writes it
// without the lock.
class QueuedFileSink final : public AuditSink {
 public:
  QueuedFileSink(std::FILE* f, bool owned, std::size_t capacity)
      : file_(f), owned_(owned), capacity_(capacity), writer_([this] { run(); }) {}

  ~QueuedFileSink() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_one();
    writer_.join();
    if (owned_) std::fclose(file_);
  }

  void record(const AuditRecord& r) override {
    std::string line = audit_line(r);
    line.push_back('\n');
    bool was_empty;
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= capacity_) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      was_empty = queue_.empty();
      queue_.push_back(std::move(line));
    }
    // The writer only sleeps when it found the queue empty.
    if (was_empty) wake_.notify_one();
  }

  std::uint64_t dropped() const override { return dropped_.load(std::memory_order_relaxed); }

 private:
  void run() {
    std::vector<std::string> batch;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything is written
        batch.swap(queue_);
      }
      for (const auto& line : batch)
        if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) dropped_.fetch_add(1, std::memory_order_relaxed);
      std::fflush(file_);
      batch.clear();
    }
  }

  std::FILE* file_;
  bool owned_;
  std::size_t capacity_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<std::string> queue_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> dropped_{0};
  std::thread writer_;  // last: starts once every other member exists
};

}  // namespace

std::string audit_line(const AuditRecord& r) {
  std::string out;
  out.reserve(256 + r.subject.size() + r.primitive.size() + r.reason.size());
  out.push_back('{');
  append_key(out, "time");
  append_time(out, r.time);
  append_key(out, "subject");
  if (r.subject.empty())
    out += "null";
  else
    append_string(out, r.subject);
  append_optional(out, "issuer", r.issuer);
  append_optional(out, "client_id", r.client_id);
  append_optional(out, "session", r.session);
  append_field(out, "method", r.method);
  append_optional(out, "primitive", r.primitive);
  append_field(out, "phase", r.phase);
  append_field(out, "decision", r.decision);
  append_field(out, "rule", r.rule);
  append_key(out, "missing_scopes");
  out.push_back('[');
  for (std::size_t i = 0; i < r.missing_scopes.size(); ++i) {
    if (i) out.push_back(',');
    append_string(out, r.missing_scopes[i]);
  }
  out.push_back(']');
  append_optional(out, "token_hash", r.token_hash);
  append_optional(out, "reason", r.reason);
  if (r.listed) {
    append_key(out, "listed");
    out += std::to_string(*r.listed);
  }
  if (r.hidden) {
    append_key(out, "hidden");
    out += std::to_string(*r.hidden);
  }
  if (!r.shadow_decision.empty()) {
    append_key(out, "shadow");
    out += "{\"decision\":";
    append_string(out, r.shadow_decision);
    if (!r.shadow_rule.empty()) {
      out += ",\"rule\":";
      append_string(out, r.shadow_rule);
    }
    out.push_back('}');
  }
  out.push_back('}');
  return out;
}

std::unique_ptr<AuditSink> make_audit_file(const std::string& path, std::size_t queue_lines) {
  // "e": close-on-exec, so tool child processes do not inherit the audit log.
  std::FILE* f = std::fopen(path.c_str(), "ae");
  if (!f) throw std::runtime_error("audit log " + path + ": cannot open: " + std::strerror(errno));
  try {
    return std::make_unique<QueuedFileSink>(f, true, queue_lines);
  } catch (const std::exception&) {  // no writer thread: do not leak the descriptor
    std::fclose(f);
    throw;
  }
}

std::unique_ptr<AuditSink> make_audit_stream(std::FILE* f, std::size_t queue_lines) {
  if (!f) throw std::invalid_argument("audit log: null stream");
  return std::make_unique<QueuedFileSink>(f, false, queue_lines);
}

std::string session_hash(std::string_view session_id) { return common::log_label(session_id); }

}  // namespace jitgate::observe
