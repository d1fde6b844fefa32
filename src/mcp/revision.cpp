#include "jitgate/mcp/revision.hpp"

#include <algorithm>
#include <array>

namespace jitgate::mcp {

namespace {
constexpr std::array<std::string_view, 4> kRevisions{kRev20241105, kRev20250326, kRev20250618, kRev20251125};
}

std::span<const std::string_view> supported_revisions() { return kRevisions; }

bool is_supported_revision(std::string_view v) {
  return std::find(kRevisions.begin(), kRevisions.end(), v) != kRevisions.end();
}

std::string negotiate_revision(std::string_view requested) {
  if (is_supported_revision(requested)) return std::string(requested);
  return std::string(kLatestRevision);
}

bool revision_allows_batches(std::string_view v) { return v <= kRev20250326; }

bool revision_primes_sse(std::string_view v) { return v >= kRev20251125; }

}  // namespace jitgate::mcp
