#include "engine/clock.h"

#include <time.h>

namespace seatlock {
namespace {

int64_t ReadMs(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace

int64_t SystemClock::RealtimeMs() { return ReadMs(CLOCK_REALTIME); }
int64_t SystemClock::BoottimeMs() { return ReadMs(CLOCK_BOOTTIME); }

SystemClock::SystemClock(Source wall, Source steady)
    : wall_(wall), steady_(steady), anchor_wall_ms_(wall()), anchor_steady_ms_(steady()) {}

SystemClock* SystemClock::Get() {
  static SystemClock* clock = new SystemClock();
  return clock;
}

}  // namespace seatlock
