// MonoNs: CLOCK_MONOTONIC in nanoseconds, for measuring durations
// (latency histograms, benchmark timing). Any thread.
#ifndef SEATLOCK_COMMON_MONO_CLOCK_H_
#define SEATLOCK_COMMON_MONO_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace seatlock {

inline uint64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The same clock in milliseconds.
inline int64_t MonoMs() { return static_cast<int64_t>(MonoNs() / 1'000'000); }

}  // namespace seatlock

#endif  // SEATLOCK_COMMON_MONO_CLOCK_H_
