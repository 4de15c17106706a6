// Micro benchmarks for TimerWheel at the scale of a busy shard: a million
// live timers (holds) with 1 ms ticks.
//
//   build/release/bench/timer_wheel_bench --benchmark_counters_tabular=true
#include <cstdint>
#include <vector>

#include "benchmark/benchmark.h"
#include "engine/timer_wheel.h"

namespace seatlock {
namespace {

constexpr size_t kLive = 1'000'000;

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  int64_t Below(int64_t n) { return static_cast<int64_t>(Next() % static_cast<uint64_t>(n)); }

 private:
  uint64_t state_;
};

// One Cancel of a random live timer plus one Arm of its replacement, with
// 10^6 timers live throughout (deadlines up to range(0) ticks ahead).
// items = one arm + one cancel.
void BM_ArmCancel(benchmark::State& state) {
  const int64_t range = state.range(0);
  Rng rng(1);
  TimerWheel wheel(0);
  std::vector<TimerId> ids(kLive);
  for (size_t i = 0; i < kLive; ++i) ids[i] = wheel.Arm(1 + rng.Below(range), i);
  for (auto _ : state) {
    const size_t i = static_cast<size_t>(rng.Below(kLive));
    benchmark::DoNotOptimize(wheel.Cancel(ids[i]));
    ids[i] = wheel.Arm(1 + rng.Below(range), i);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["live"] = static_cast<double>(wheel.size());
}
BENCHMARK(BM_ArmCancel)->Arg(600'000)->Arg(7'200'000)->Unit(benchmark::kNanosecond);

// Steady state: 10^6 live timers with deadlines spread over range(0) ticks;
// each iteration advances one tick, and every timer that fires is re-armed
// at a random deadline up to range(0) ticks ahead (so ~2*10^6/range(0)
// expiries per tick, each cascading down the levels on its way).
// items = expiries (each followed by one re-arm).
void BM_ArmExpire(benchmark::State& state) {
  const int64_t range = state.range(0);
  Rng rng(2);
  TimerWheel wheel(0);
  for (size_t i = 0; i < kLive; ++i) wheel.Arm(1 + rng.Below(range), i);
  // Warm up past one full span so deadlines reach their steady-state spread.
  int64_t now = 0;
  auto rearm = [&](uint64_t payload) { wheel.Arm(wheel.now() + 1 + rng.Below(range), payload); };
  for (; now < range; now += 97) wheel.Advance(now, rearm);
  size_t fired = 0;
  for (auto _ : state) fired += wheel.Advance(++now, rearm);
  state.SetItemsProcessed(static_cast<int64_t>(fired));
  state.counters["expiries_per_tick"] =
      static_cast<double>(fired) / static_cast<double>(state.iterations());
  state.counters["live"] = static_cast<double>(wheel.size());
}
BENCHMARK(BM_ArmExpire)->Arg(4096)->Arg(65'536)->Arg(600'000)->Unit(benchmark::kNanosecond);

// Advance over ticks in which nothing fires: 10^6 timers are live but all far
// in the future (an idle shard holding long holds). range(0) ticks per call.
// items = ticks advanced.
void BM_AdvanceEmptyTicks(benchmark::State& state) {
  const int64_t step = state.range(0);
  Rng rng(3);
  TimerWheel wheel(0);
  constexpr int64_t kFar = int64_t{1} << 40;  // never reached
  for (size_t i = 0; i < kLive; ++i) wheel.Arm(kFar + rng.Below(kFar), i);
  int64_t now = 0;
  for (auto _ : state) {
    now += step;
    benchmark::DoNotOptimize(wheel.Advance(now, [](uint64_t) {}));
  }
  state.SetItemsProcessed(state.iterations() * step);
}
BENCHMARK(BM_AdvanceEmptyTicks)->Arg(1)->Arg(64)->Arg(1000)->Unit(benchmark::kNanosecond);

// Advance one tick at a time through a wheel whose timers sit in level 1-3
// slots (due 1 s - 5 min out) so empty ticks are interleaved with cascades.
// items = ticks advanced.
void BM_AdvanceOneTickSparse(benchmark::State& state) {
  Rng rng(4);
  TimerWheel wheel(0);
  for (size_t i = 0; i < 10'000; ++i) wheel.Arm(1000 + rng.Below(300'000), i);
  int64_t now = 0;
  auto rearm = [&](uint64_t payload) {
    wheel.Arm(wheel.now() + 1000 + rng.Below(300'000), payload);
  };
  for (auto _ : state) benchmark::DoNotOptimize(wheel.Advance(++now, rearm));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdvanceOneTickSparse)->Unit(benchmark::kNanosecond);

}  // namespace
}  // namespace seatlock
