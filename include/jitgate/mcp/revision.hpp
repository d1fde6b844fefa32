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
inline constexpr std::string_view kLatestRevision = kRev20251125;

std::span<const std::string_view> supported_revisions();
bool is_supported_revision(std::string_view v);
// The revision to answer an initialize that asked for `requested`.
std::string negotiate_revision(std::string_view requested);
// JSON-RPC batches are part of 2025-03-26 only (2024-11-05 is accepted as its predecessor).
bool revision_allows_batches(std::string_view v);
// SSE priming events (an event id with empty data) were introduced in 2025-11-25.
bool revision_primes_sse(std::string_view v);

}  // namespace jitgate::mcp
