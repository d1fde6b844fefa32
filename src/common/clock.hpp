// Wall-clock seconds since the Unix epoch: the unit of JWT and OAuth dates (NumericDate).
#pragma once

#include <chrono>
#include <cstdint>

namespace jitgate::common {

inline std::int64_t epoch_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Monotonic milliseconds: for rates and intervals, which must not jump with the wall clock.
inline std::int64_t steady_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace jitgate::common
