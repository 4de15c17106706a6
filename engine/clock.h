// Clock: the engine's source of time, injected so tests drive time by hand.
//
// Times are integer milliseconds since the Unix epoch. SystemClock reads
// CLOCK_REALTIME (holds carry absolute expiry times that clients display);
// ManualClock only moves when a test tells it to. Neither owns anything; a
// clock must outlive the engine that reads it. ManualClock is not thread-safe.
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
  int64_t NowMs() const override;
  static SystemClock* Get();  // a process-wide instance, never destroyed
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
