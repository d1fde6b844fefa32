#include "jitgate/mcp/revision.hpp"

#include <algorithm>
#include <array>

namespace jitgate::mcp {

namespace {
constexpr std::array<std::string_view, 5> kAll{kRev20241105, kRev20250326, kRev20250618, kRev20251125, kRev20260728};
constexpr std::span<const std::string_view> kRevisions{kAll.data(), 4};
}  // namespace

std::span<const std::string_view> all_revisions() { return kAll; }
std::span<const std::string_view> supported_revisions() { return kRevisions; }
bool is_stateless_revision(std::string_view v) { return v == kRev20260728; }

bool is_supported_revision(std::string_view v) { return std::find(kRevisions.begin(), kRevisions.end(), v) != kRevisions.end(); }

std::string negotiate_revision(std::string_view requested) {
  if (is_supported_revision(requested)) return std::string(requested);
  return std::string(kLatestRevision);
}

bool revision_allows_batches(std::string_view v) { return v <= kRev20250326; }

bool revision_primes_sse(std::string_view v) { return v >= kRev20251125; }

}  // namespace jitgate::mcp
