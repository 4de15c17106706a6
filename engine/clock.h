// Clock: the engine's source of time, injected so tests drive time by hand.
//
// Times are integer milliseconds since the Unix epoch, and they never step:
// SystemClock reads the wall clock (CLOCK_REALTIME) once, when it is made,
// and from then on advances with CLOCK_BOOTTIME, which is monotonic and keeps
// counting across a suspend. So an NTP step of the host's clock moves no
// deadline: a hold lasts its TTL whatever the wall clock does. The absolute
// times in replies and logs are wall-clock times as of the process's start,
// plus the time elapsed since; WallSkewMs() says how far the host's wall
// clock has moved away from them (a step or a slew since the start).
//
// ManualClock only moves when a test tells it to. Neither owns anything; a
// clock must outlive the engine that reads it. SystemClock is safe from any
// thread; ManualClock is not thread-safe.
#ifndef SEATLOCK_ENGINE_CLOCK_H_
#define SEATLOCK_ENGINE_CLOCK_H_

#include <cstdint>

namespace seatlock {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  // Millisecond sources; tests pass fakes that step.
  using Source = int64_t (*)();
  static int64_t RealtimeMs();  // CLOCK_REALTIME
  static int64_t BoottimeMs();  // CLOCK_BOOTTIME

  // Anchors the clock: NowMs() is wall() now, then advances with steady().
  SystemClock(Source wall, Source steady);
  SystemClock() : SystemClock(RealtimeMs, BoottimeMs) {}

  int64_t NowMs() const override { return anchor_wall_ms_ + (steady_() - anchor_steady_ms_); }
  // The host's wall clock minus NowMs(): 0 unless it stepped since the anchor.
  int64_t WallSkewMs() const { return wall_() - NowMs(); }

  static SystemClock* Get();  // a process-wide instance, never destroyed

 private:
  Source wall_;
  Source steady_;
  int64_t anchor_wall_ms_;
  int64_t anchor_steady_ms_;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms = 1'700'000'000'000) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_; }
  void AdvanceMs(int64_t delta_ms) { now_ms_ += delta_ms; }
  void SetMs(int64_t now_ms) { now_ms_ = now_ms; }

 private:
  int64_t now_ms_;
};

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_CLOCK_H_
