// The audit log: one JSON object per line for every authorization decision. Lines are formatted
// on the caller's thread and handed to one background writer through a bounded queue, so a slow
// disk costs the request path a short lock, never an fwrite; when the queue is full the line is
// dropped and counted rather than blocking the caller.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace jitgate::observe {

// One authorization decision. Every view borrows from the caller and only has to live for the
// duration of AuditSink::record (the line is formatted before record returns).
struct AuditRecord {
  std::chrono::system_clock::time_point time;
  std::string_view subject;  // empty = anonymous (written as null)
  std::string_view issuer;
  std::string_view client_id;
  std::string_view session;    // already a hash (session_hash), never a raw session id
  std::string_view method;     // JSON-RPC method
  std::string_view primitive;  // tool/prompt name or resource URI, may be empty
  std::string_view phase;      // "invocation" | "discovery"
  std::string_view decision;   // "allow" | "deny" | "conditional" | "filtered"
  std::string_view rule;       // deciding rule id
  std::span<const std::string> missing_scopes;
  std::string_view token_hash;                    // short hash for correlation, never a token
  std::string_view reason;                        // optional free text
  std::optional<std::size_t> listed, hidden;      // discovery of a whole list
  std::string_view shadow_decision, shadow_rule;  // shadow policy result, empty when none
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Thread-safe; never blocks on I/O.
  virtual void record(const AuditRecord& r) = 0;
  // Lines lost so far: the queue was full, or the write failed. Sinks that cannot lose lines say 0.
  virtual std::uint64_t dropped() const { return 0; }
};

inline constexpr std::size_t default_audit_queue_lines = 65'536;

// Appends to the file at path (created when absent). Throws std::runtime_error naming the path
// when it cannot be opened. The destructor writes every queued line, flushes, and closes.
std::unique_ptr<AuditSink> make_audit_file(const std::string& path, std::size_t queue_lines = default_audit_queue_lines);
// Writes to a stream the caller owns and keeps open for the sink's lifetime (e.g. stderr).
std::unique_ptr<AuditSink> make_audit_stream(std::FILE* f, std::size_t queue_lines = default_audit_queue_lines);

// The exact line a sink writes for r, without the newline. Key order: time, subject, issuer,
// client_id, session, method, primitive, phase, decision, rule, missing_scopes, token_hash,
// reason, listed, hidden, shadow ({"decision":…,"rule":…}). subject is null when anonymous;
// method, phase, decision, rule and missing_scopes are always present; every other field only
// when set (non-empty, or engaged). time is RFC 3339 UTC with milliseconds. Invalid UTF-8 in
// any string becomes U+FFFD so every line stays valid JSON.
std::string audit_line(const AuditRecord& r);

// First 12 hex digits of SHA-256(session_id): enough to correlate lines, useless to hijack.
std::string session_hash(std::string_view session_id);

}  // namespace jitgate::observe
