// Protocol revisions this server speaks and their differences.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace jitgate::mcp {

inline constexpr std::string_view kRev20241105 = "2024-11-05";
inline constexpr std::string_view kRev20250326 = "2025-03-26";
inline constexpr std::string_view kRev20250618 = "2025-06-18";
inline constexpr std::string_view kRev20251125 = "2025-11-25";
// The stateless revision: no initialize, no sessions; every request carries its own envelope.
inline constexpr std::string_view kRev20260728 = "2026-07-28";
// The newest revision negotiated through initialize (the session-based generation).
inline constexpr std::string_view kLatestRevision = kRev20251125;

// Every revision served, oldest first (what server/discover and -32022 name).
std::span<const std::string_view> all_revisions();
// The session-based revisions, negotiated through initialize.
std::span<const std::string_view> supported_revisions();
bool is_supported_revision(std::string_view v);  // session-based ones only
bool is_stateless_revision(std::string_view v);
// The revision to answer an initialize that asked for `requested`.
std::string negotiate_revision(std::string_view requested);
// JSON-RPC batches are part of 2025-03-26 only (2024-11-05 is accepted as its predecessor).
bool revision_allows_batches(std::string_view v);
// SSE priming events (an event id with empty data) were introduced in 2025-11-25.
bool revision_primes_sse(std::string_view v);

}  // namespace jitgate::mcp
