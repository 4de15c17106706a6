// Tests for TimerWheel: exact-tick firing, cancellation, re-entrancy from
// callbacks, deadlines past the wheel's span, and a randomized soak of one
// million timers over four hours of simulated 1 ms ticks.
#include "engine/timer_wheel.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace seatlock {
namespace {

constexpr int64_t kSpan = int64_t{1} << (TimerWheel::kSlotBits * TimerWheel::kLevels);  // 64^6

// Small, fast, deterministic PRNG (splitmix64): std::mt19937_64 is slow in
// unoptimized sanitizer builds.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] (inclusive); the modulo bias is irrelevant here.
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool OneIn(uint64_t n) { return Next() % n == 0; }

 private:
  uint64_t state_;
};

// Records (payload, tick at which it fired) for small tests.
struct Fired {
  uint64_t payload;
  int64_t tick;
  bool operator==(const Fired&) const = default;
};

TEST(TimerWheelTest, FiresInItsDeadlineTickWhenAdvancedOneTickAtATime) {
  TimerWheel wheel(0);
  const std::vector<int64_t> deadlines = {1,    2,    63,   64,   65,     127,    128,    129,
                                          4095, 4096, 4097, 5000, 262143, 262144, 262145, 300000};
  for (size_t i = 0; i < deadlines.size(); ++i) wheel.Arm(deadlines[i], i);
  std::vector<Fired> fired;
  for (int64_t t = 1; t <= 300001; ++t) {
    wheel.Advance(t, [&](uint64_t p) { fired.push_back({p, wheel.now()}); });
    for (const Fired& f : fired) ASSERT_EQ(f.tick, t);
    for (const Fired& f : fired) ASSERT_EQ(deadlines[f.payload], t) << "payload " << f.payload;
    fired.clear();
  }
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, FiresAtExactTickAcrossEveryLevelBoundaryFromManyStartTicks) {
  std::vector<int64_t> deltas;
  for (int level = 0; level <= TimerWheel::kLevels; ++level) {
    const int64_t p = int64_t{1} << (TimerWheel::kSlotBits * level);
    for (int64_t d : {p - 1, p, p + 1, 2 * p - 1, 2 * p + 3, 63 * p, 64 * p - 1}) {
      if (d >= 1) deltas.push_back(d);
    }
  }
  std::sort(deltas.begin(), deltas.end());
  deltas.erase(std::unique(deltas.begin(), deltas.end()), deltas.end());
  const std::vector<int64_t> starts = {
      0, 1, 63, 64, 65, 4095, 4096, 123456789, kSpan - 1, kSpan, 3 * kSpan + 17};
  for (int64_t start : starts) {
    for (int64_t delta : deltas) {
      SCOPED_TRACE("start " + std::to_string(start) + " delta " + std::to_string(delta));
      TimerWheel wheel(start);
      const int64_t deadline = start + delta;
      wheel.Arm(deadline, 7);
      int64_t fired_at = -1;
      auto record = [&](uint64_t) { fired_at = wheel.now(); };
      EXPECT_EQ(wheel.Advance(deadline - 1, record), 0u);
      EXPECT_EQ(fired_at, -1);
      EXPECT_EQ(wheel.Advance(deadline, record), 1u);
      EXPECT_EQ(fired_at, deadline);
      EXPECT_EQ(wheel.size(), 0u);
    }
  }
}

TEST(TimerWheelTest, TimersFireInTheirOwnTicksDuringOneLargeAdvance) {
  TimerWheel wheel(10);
  Rng rng(42);
  std::vector<int64_t> deadlines;
  for (int i = 0; i < 5000; ++i) deadlines.push_back(10 + rng.Between(1, 5'000'000));
  for (size_t i = 0; i < deadlines.size(); ++i) wheel.Arm(deadlines[i], i);
  int64_t last = 0;
  size_t count = 0;
  const size_t n = wheel.Advance(5'000'010, [&](uint64_t p) {
    EXPECT_EQ(wheel.now(), deadlines[p]);
    EXPECT_GE(wheel.now(), last);  // deadline order, tick by tick
    last = wheel.now();
    ++count;
  });
  EXPECT_EQ(n, deadlines.size());
  EXPECT_EQ(count, deadlines.size());
  EXPECT_EQ(wheel.now(), 5'000'010);
}

TEST(TimerWheelTest, DeadlinesBeyondTheWheelSpanParkAndFireOnTime) {
  for (int64_t start : {int64_t{0}, int64_t{1}, int64_t{12345}, (int64_t{1} << 30) - 1,
                        int64_t{1} << 30, kSpan + 99}) {
    SCOPED_TRACE("start " + std::to_string(start));
    TimerWheel wheel(start);
    const std::vector<int64_t> deadlines = {start + kSpan - 1,      start + kSpan,
                                            start + kSpan + 1,      start + kSpan + 1000,
                                            start + 2 * kSpan + 77, start + 5 * kSpan + 123456};
    for (size_t i = 0; i < deadlines.size(); ++i) wheel.Arm(deadlines[i], i);
    EXPECT_EQ(wheel.size(), deadlines.size());
    std::vector<Fired> fired;
    auto record = [&](uint64_t p) { fired.push_back({p, wheel.now()}); };
    for (size_t i = 0; i < deadlines.size(); ++i) {
      wheel.Advance(deadlines[i] - 1, record);
      ASSERT_EQ(fired.size(), i) << "fired early";
      wheel.Advance(deadlines[i], record);
      ASSERT_EQ(fired.size(), i + 1);
      EXPECT_EQ(fired.back(), (Fired{i, deadlines[i]}));
      EXPECT_EQ(wheel.size(), deadlines.size() - i - 1);
    }
  }
}

TEST(TimerWheelTest, FarDeadlinesFireInOneHugeAdvance) {
  TimerWheel wheel(5);
  const std::vector<int64_t> deadlines = {5 + kSpan + 1, 5 + 3 * kSpan, 5 + 3 * kSpan + 1};
  for (size_t i = 0; i < deadlines.size(); ++i) wheel.Arm(deadlines[i], i);
  std::vector<Fired> fired;
  EXPECT_EQ(wheel.Advance(10 * kSpan, [&](uint64_t p) { fired.push_back({p, wheel.now()}); }), 3u);
  EXPECT_EQ(fired, (std::vector<Fired>{{0, deadlines[0]}, {1, deadlines[1]}, {2, deadlines[2]}}));
}

TEST(TimerWheelTest, CancelReturnsTrueOnceThenFalseForTheStaleId) {
  TimerWheel wheel(0);
  const TimerId id = wheel.Arm(100, 1);
  EXPECT_NE(id, 0u);
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_TRUE(wheel.Cancel(id));
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_FALSE(wheel.Cancel(id));
  bool fired = false;
  wheel.Advance(1000, [&](uint64_t) { fired = true; });
  EXPECT_FALSE(fired);
}

TEST(TimerWheelTest, CancelOfFiredTimerReturnsFalse) {
  TimerWheel wheel(0);
  const TimerId id = wheel.Arm(10, 1);
  EXPECT_EQ(wheel.Advance(10, [](uint64_t) {}), 1u);
  EXPECT_FALSE(wheel.Cancel(id));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, StaleIdDoesNotCancelTheTimerThatReusedItsNode) {
  TimerWheel wheel(0);
  const TimerId old_id = wheel.Arm(10, 1);
  ASSERT_TRUE(wheel.Cancel(old_id));
  const TimerId new_id = wheel.Arm(20, 2);  // reuses the freed node
  EXPECT_NE(new_id, old_id);
  EXPECT_EQ(static_cast<uint32_t>(new_id), static_cast<uint32_t>(old_id));  // same node
  EXPECT_FALSE(wheel.Cancel(old_id));
  EXPECT_EQ(wheel.size(), 1u);
  std::vector<uint64_t> fired;
  wheel.Advance(20, [&](uint64_t p) { fired.push_back(p); });
  EXPECT_EQ(fired, std::vector<uint64_t>{2});
  EXPECT_FALSE(wheel.Cancel(new_id));
}

TEST(TimerWheelTest, CancelOfNeverIssuedIdsReturnsFalse) {
  TimerWheel wheel(0);
  EXPECT_FALSE(wheel.Cancel(0));
  EXPECT_FALSE(wheel.Cancel(12345));
  const TimerId id = wheel.Arm(10, 1);
  EXPECT_FALSE(wheel.Cancel(id + 1));                     // node index out of range
  EXPECT_FALSE(wheel.Cancel(id + (uint64_t{7} << 32)));   // wrong generation
  EXPECT_FALSE(wheel.Cancel(static_cast<uint32_t>(id)));  // generation 0
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_TRUE(wheel.Cancel(id));
}

TEST(TimerWheelTest, ArmAtOrBeforeNowFiresOnTheNextAdvance) {
  TimerWheel wheel(1000);
  wheel.Arm(1000, 1);  // exactly now
  wheel.Arm(999, 2);   // in the past
  wheel.Arm(-50, 3);   // far in the past
  EXPECT_EQ(wheel.size(), 3u);
  std::vector<Fired> fired;
  // Even an Advance that does not move time fires them.
  EXPECT_EQ(wheel.Advance(1000, [&](uint64_t p) { fired.push_back({p, wheel.now()}); }), 3u);
  EXPECT_EQ(fired, (std::vector<Fired>{{1, 1000}, {2, 1000}, {3, 1000}}));
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.now(), 1000);

  wheel.Arm(1000, 4);
  fired.clear();
  EXPECT_EQ(wheel.Advance(1001, [&](uint64_t p) { fired.push_back({p, wheel.now()}); }), 1u);
  EXPECT_EQ(fired, (std::vector<Fired>{{4, 1000}}));
  EXPECT_EQ(wheel.now(), 1001);
}

TEST(TimerWheelTest, AdvanceToAnEarlierTickDoesNotMoveTime) {
  TimerWheel wheel(500);
  wheel.Arm(600, 1);
  EXPECT_EQ(wheel.Advance(100, [](uint64_t) { ADD_FAILURE() << "fired"; }), 0u);
  EXPECT_EQ(wheel.now(), 500);
  EXPECT_EQ(wheel.size(), 1u);
}

TEST(TimerWheelTest, TimersDueInTheSameTickAllFire) {
  TimerWheel wheel(0);
  for (uint64_t i = 0; i < 1000; ++i) wheel.Arm(777, i);
  std::vector<uint64_t> fired;
  EXPECT_EQ(wheel.Advance(776, [&](uint64_t p) { fired.push_back(p); }), 0u);
  EXPECT_EQ(wheel.Advance(777, [&](uint64_t p) { fired.push_back(p); }), 1000u);
  std::sort(fired.begin(), fired.end());
  for (uint64_t i = 0; i < 1000; ++i) ASSERT_EQ(fired[i], i);
}

TEST(TimerWheelTest, CallbackCanCancelAnotherTimerDueInTheSameTick) {
  TimerWheel wheel(0);
  TimerId ids[3];
  ids[0] = wheel.Arm(50, 0);
  ids[1] = wheel.Arm(50, 1);
  ids[2] = wheel.Arm(50, 2);
  std::vector<uint64_t> fired;
  std::vector<bool> cancel_results;
  wheel.Advance(50, [&](uint64_t p) {
    fired.push_back(p);
    // Whichever fires first cancels the other two (the second of which may
    // already have fired only if it came first, which it cannot).
    if (fired.size() == 1) {
      for (int i = 0; i < 3; ++i) {
        if (static_cast<uint64_t>(i) != p) cancel_results.push_back(wheel.Cancel(ids[i]));
      }
      cancel_results.push_back(wheel.Cancel(ids[p]));  // itself: already fired, stale
    }
  });
  EXPECT_EQ(fired.size(), 1u);
  EXPECT_EQ(cancel_results, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, CallbackCanCancelTimersDueLaterInTheSameAdvance) {
  TimerWheel wheel(0);
  const TimerId later = wheel.Arm(5000, 2);
  const TimerId much_later = wheel.Arm(9000, 3);
  wheel.Arm(10, 1);
  std::vector<uint64_t> fired;
  wheel.Advance(10000, [&](uint64_t p) {
    fired.push_back(p);
    if (p == 1) {
      EXPECT_TRUE(wheel.Cancel(later));
    }
  });
  EXPECT_EQ(fired, (std::vector<uint64_t>{1, 3}));
  EXPECT_FALSE(wheel.Cancel(much_later));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, CallbackCanArmTimersThatFireLaterInTheSameAdvance) {
  TimerWheel wheel(0);
  wheel.Arm(100, 0);
  std::vector<Fired> fired;
  wheel.Advance(100000, [&](uint64_t p) {
    fired.push_back({p, wheel.now()});
    // A chain: each timer arms the next one at growing distances, crossing
    // level boundaries; plus one due now (fires within this Advance too).
    if (p < 5) wheel.Arm(wheel.now() + (int64_t{1} << (3 * (p + 1))), p + 1);
    if (p == 2) wheel.Arm(wheel.now(), 100);
    if (p == 3) wheel.Arm(wheel.now() - 10, 101);
  });
  ASSERT_EQ(fired.size(), 8u);
  EXPECT_EQ(fired[0], (Fired{0, 100}));
  EXPECT_EQ(fired[1], (Fired{1, 108}));
  EXPECT_EQ(fired[2], (Fired{2, 172}));
  EXPECT_EQ(fired[3], (Fired{100, 172}));  // armed "now" from a callback: same tick
  EXPECT_EQ(fired[4], (Fired{3, 684}));
  EXPECT_EQ(fired[5], (Fired{101, 684}));  // armed in the past from a callback
  EXPECT_EQ(fired[6], (Fired{4, 4780}));
  EXPECT_EQ(fired[7], (Fired{5, 4780 + 32768}));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, CallbackArmingInThePastWhileDrainingOverdueFiresByTheNextTick) {
  TimerWheel wheel(0);
  wheel.Arm(0, 0);  // overdue
  std::vector<Fired> fired;
  auto record = [&](uint64_t p) {
    fired.push_back({p, wheel.now()});
    if (p == 0) wheel.Arm(wheel.now(), 1);
  };
  wheel.Advance(0, record);  // time does not move: 1 waits for the next Advance
  EXPECT_EQ(fired, (std::vector<Fired>{{0, 0}}));
  EXPECT_EQ(wheel.size(), 1u);
  wheel.Advance(5, record);
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[1].payload, 1u);
  EXPECT_LE(fired[1].tick, 1);  // never more than one tick late
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, SizeCountsArmedTimersOnly) {
  TimerWheel wheel(0);
  EXPECT_EQ(wheel.size(), 0u);
  std::vector<TimerId> ids;
  for (int i = 1; i <= 100; ++i) ids.push_back(wheel.Arm(i * 10, i));
  EXPECT_EQ(wheel.size(), 100u);
  for (int i = 0; i < 100; i += 2) EXPECT_TRUE(wheel.Cancel(ids[i]));
  EXPECT_EQ(wheel.size(), 50u);
  for (int i = 0; i < 100; i += 2) EXPECT_FALSE(wheel.Cancel(ids[i]));
  EXPECT_EQ(wheel.size(), 50u);
  // Survivors have deadlines 20, 40, ..., 1000.
  EXPECT_EQ(wheel.Advance(500, [](uint64_t) {}), 25u);
  EXPECT_EQ(wheel.size(), 25u);
  // A callback observes size() already decremented for the firing timer.
  size_t seen = 0;
  wheel.Arm(610, 0);
  EXPECT_EQ(wheel.size(), 26u);
  wheel.Advance(610, [&](uint64_t p) {
    if (p == 0) seen = wheel.size();
  });
  EXPECT_EQ(seen, 20u);  // 520..600 fired (5), and the firing timer is not counted
  wheel.Advance(1000, [](uint64_t) {});
  EXPECT_EQ(wheel.size(), 0u);
  const size_t bytes = wheel.MemoryBytes();
  EXPECT_GE(bytes, 100u * 16u);
  // Nodes are recycled: re-arming 100 timers does not grow the pool.
  for (int i = 0; i < 100; ++i) wheel.Arm(2000 + i, i);
  EXPECT_EQ(wheel.MemoryBytes(), bytes);
  EXPECT_EQ(wheel.size(), 100u);
}

TEST(TimerWheelTest, NextWakeHintIsNeverAfterTheEarliestDeadline) {
  Rng rng(7);
  for (int round = 0; round < 100; ++round) {
    const int64_t start = rng.Between(0, 1 << 20);
    TimerWheel wheel(start);
    std::vector<int64_t> deadlines;
    const int n = static_cast<int>(rng.Between(1, 20));
    for (int i = 0; i < n; ++i) {
      const int64_t d = start + rng.Between(1, int64_t{1} << rng.Between(1, 18));
      deadlines.push_back(d);
      wheel.Arm(d, 0);
    }
    std::sort(deadlines.begin(), deadlines.end());
    size_t next = 0;
    while (next < deadlines.size()) {
      const int64_t hint = wheel.NextWakeHint();
      ASSERT_LE(hint, deadlines[next]) << "now " << wheel.now();
      ASSERT_GT(hint, wheel.now());
      // Step to the hint (or a bit before, to land on odd positions too).
      const int64_t to = rng.OneIn(3) ? std::max(wheel.now() + 1, hint - 1) : hint;
      wheel.Advance(to, [](uint64_t) {});
      while (next < deadlines.size() && deadlines[next] <= wheel.now()) ++next;
    }
    EXPECT_EQ(wheel.size(), 0u);
  }
}

TEST(TimerWheelTest, NextWakeHintAtALevelZeroWrapDoesNotSkipCascadedTimers) {
  TimerWheel wheel(0);
  wheel.Arm(65, 1);  // filed in level 1 until the wrap at tick 64
  wheel.Advance(63, [](uint64_t) {});
  EXPECT_LE(wheel.NextWakeHint(), 65);
  TimerWheel overdue(10);
  overdue.Arm(3, 1);
  EXPECT_EQ(overdue.NextWakeHint(), 10);
}

// The soak test. One million logical timers with random deadlines over four
// hours of 1 ms ticks, random cancels and re-arms between Advance calls and
// from inside callbacks, and time moved mostly one tick at a time with
// occasional jumps of up to ~2^20 ticks.
//
// Checked for every fire: the payload's version is current (no fire after a
// cancel or re-arm), the timer is armed (exactly once), wheel.now() inside the
// callback equals the deadline (or the arm-time now for timers armed at or
// before now), and with a one-tick Advance the target tick is the deadline.
// After every Advance no timer due at or before its target is still pending.
TEST(TimerWheelTest, MillionRandomTimersOverFourHoursFireExactlyOnceOnTime) {
  constexpr int64_t kHorizon = 4LL * 60 * 60 * 1000;  // 14,400,000 ticks of 1 ms
  constexpr uint32_t kTimers = 1'000'000;
  constexpr uint64_t kSeed = 0x5ea7'10c6ULL;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  Rng rng(kSeed);

  enum State : uint8_t { kIdle = 0, kArmed, kFired, kCancelled };
  // Struct-of-arrays bookkeeping, ~26 bytes per timer plus 2 bytes per tick.
  std::vector<int64_t> expected_tick(kTimers);  // wheel.now() expected in the callback
  std::vector<int64_t> deadline(kTimers);
  std::vector<TimerId> id(kTimers);
  std::vector<uint16_t> version(kTimers);
  std::vector<uint8_t> state(kTimers, kIdle);
  std::vector<uint16_t> pending_at(kHorizon + 1, 0);  // armed future timers per deadline
  uint64_t pending_overdue = 0;                       // armed at/before now, not fired
  uint64_t armed = 0, fires = 0, arms = 0, cancels = 0, stale_cancels = 0, callback_arms = 0,
           callback_cancels = 0;

  TimerWheel wheel(0);

  // Whether timer i was armed at or before now (counted in pending_overdue)
  // or into the future (counted in pending_at[deadline]).
  std::vector<bool> overdue(kTimers, false);

  auto arm = [&](uint32_t i, int64_t d) {
    const int64_t now = wheel.now();
    ++version[i];
    deadline[i] = d;
    expected_tick[i] = std::max(d, now);
    overdue[i] = d <= now;
    if (overdue[i]) {
      ++pending_overdue;
    } else {
      ++pending_at[d];
    }
    id[i] = wheel.Arm(d, (uint64_t{version[i]} << 32) | i);
    state[i] = kArmed;
    ++armed;
    ++arms;
  };
  auto settle = [&](uint32_t i) {  // timer i leaves the armed state
    if (overdue[i]) {
      --pending_overdue;
    } else {
      --pending_at[deadline[i]];
    }
    --armed;
  };

  for (uint32_t i = 0; i < kTimers; ++i) arm(i, rng.Between(1, kHorizon));

  // Failures are counted, and the first few described, rather than asserted
  // one by one: a broken wheel would otherwise print millions of lines.
  uint64_t failures = 0;
  std::string first_failures;
  auto fail = [&](const std::string& what) {
    if (++failures <= 10) first_failures += what + "\n";
  };

  int64_t target = 0, prev_now = 0, last_fire_tick = 0;
  uint64_t advance_calls = 0, unit_steps = 0, jumps = 0;
  auto on_fire = [&](uint64_t payload) {
    const uint32_t i = static_cast<uint32_t>(payload);
    const uint16_t v = static_cast<uint16_t>(payload >> 32);
    const int64_t now = wheel.now();
    ++fires;
    if (i >= kTimers || v != version[i]) {
      fail("stale fire of timer " + std::to_string(i));
      return;
    }
    if (state[i] != kArmed) {
      fail("timer " + std::to_string(i) + " fired twice or after cancel");
      return;
    }
    if (now != expected_tick[i]) {
      fail("timer " + std::to_string(i) + " deadline " + std::to_string(deadline[i]) +
           " fired in tick " + std::to_string(now) + ", expected " +
           std::to_string(expected_tick[i]));
    }
    if (!overdue[i] && (deadline[i] <= prev_now || deadline[i] > target)) {
      fail("timer " + std::to_string(i) + " deadline " + std::to_string(deadline[i]) +
           " fired in Advance (" + std::to_string(prev_now) + ", " + std::to_string(target) + "]");
    }
    if (target - prev_now == 1 && !overdue[i] && target != deadline[i]) {
      fail("one-tick Advance to " + std::to_string(target) + " fired deadline " +
           std::to_string(deadline[i]));
    }
    if (now < last_fire_tick) fail("fired out of tick order at " + std::to_string(now));
    last_fire_tick = now;
    settle(i);
    state[i] = kFired;
    // Occasionally re-arm from the callback (a strictly future deadline, which
    // must fire in its own tick, possibly later in this same Advance).
    if (rng.OneIn(64) && now + 1 <= kHorizon) {
      arm(i, std::min(kHorizon, now + rng.Between(1, 5000)));
      ++callback_arms;
    }
    // Occasionally cancel some other timer from the callback; sometimes one
    // due in this very tick.
    if (rng.OneIn(128)) {
      const uint32_t j = static_cast<uint32_t>(rng.Next() % kTimers);
      const bool was_armed = state[j] == kArmed;
      if (wheel.Cancel(id[j]) != was_armed) fail("Cancel from callback returned wrong result");
      if (was_armed) {
        settle(j);
        state[j] = kCancelled;
        ++callback_cancels;
      }
    }
  };

  while (wheel.now() < kHorizon) {
    // Random cancels and re-arms between Advance calls.
    if (rng.OneIn(8)) {
      const uint32_t i = static_cast<uint32_t>(rng.Next() % kTimers);
      if (state[i] == kArmed) {
        if (!wheel.Cancel(id[i])) fail("Cancel of armed timer returned false");
        settle(i);
        state[i] = kCancelled;
        ++cancels;
        if (wheel.Cancel(id[i])) fail("second Cancel returned true");
      } else if (state[i] != kIdle) {
        if (wheel.Cancel(id[i])) fail("Cancel of stale id returned true");
        ++stale_cancels;
      }
      if (state[i] != kArmed && rng.OneIn(2)) {
        const int64_t now = wheel.now();
        const int64_t d = rng.OneIn(50) ? now - rng.Between(0, 100)  // at or before now
                                        : rng.Between(now + 1, kHorizon);
        arm(i, d);
      }
    }

    // Mostly one tick; sometimes a jump of up to 2^14 or (rarely) 2^20 ticks.
    int64_t step = 1;
    const uint64_t r = rng.Next() % 100'000;
    if (r < 100) {
      step = rng.Between(2, int64_t{2} << rng.Between(0, 13));
    } else if (r < 101) {
      step = rng.Between(int64_t{1} << 14, int64_t{1} << 20);
    }
    prev_now = wheel.now();
    target = std::min(kHorizon, prev_now + step);
    last_fire_tick = prev_now;
    const uint64_t fires_before = fires;
    const size_t n = wheel.Advance(target, on_fire);
    ++advance_calls;
    (target - prev_now == 1 ? unit_steps : jumps) += 1;
    if (n != fires - fires_before) fail("Advance returned the wrong count");
    if (wheel.now() != target) fail("now() != target after Advance");
    // Nothing due at or before the target may still be pending.
    if (pending_overdue != 0)
      fail("overdue timer not fired by Advance to " + std::to_string(target));
    for (int64_t t = prev_now + 1; t <= target; ++t) {
      if (pending_at[t] != 0) {
        fail(std::to_string(pending_at[t]) + " timers due at " + std::to_string(t) +
             " not fired by Advance to " + std::to_string(target));
        break;
      }
    }
    if ((advance_calls & 0xffff) == 0 && wheel.size() != armed) fail("size() mismatch");
    if (failures > 100) break;
  }
  wheel.Advance(kHorizon + 1, on_fire);

  EXPECT_EQ(failures, 0u) << first_failures;
  EXPECT_EQ(armed, 0u);
  EXPECT_EQ(wheel.size(), 0u);
  uint64_t fired_count = 0, cancelled_count = 0;
  for (uint32_t i = 0; i < kTimers; ++i) {
    ASSERT_NE(state[i], kArmed) << "timer " << i << " deadline " << deadline[i] << " never fired";
    fired_count += state[i] == kFired;
    cancelled_count += state[i] == kCancelled;
  }
  EXPECT_EQ(fired_count + cancelled_count, uint64_t{kTimers});
  EXPECT_EQ(fires + cancels + callback_cancels, arms);
  // The run must actually have exercised what it claims to.
  EXPECT_GT(unit_steps, 1'000'000u);
  EXPECT_GT(jumps, 1'000u);
  EXPECT_GT(cancels, 50'000u);
  EXPECT_GT(stale_cancels, 10'000u);
  EXPECT_GT(callback_arms, 1'000u);
  EXPECT_GT(callback_cancels, 1'000u);
  RecordProperty("advance_calls", std::to_string(advance_calls));
  RecordProperty("unit_steps", std::to_string(unit_steps));
  RecordProperty("jumps", std::to_string(jumps));
  RecordProperty("fires", std::to_string(fires));
  RecordProperty("cancels", std::to_string(cancels + callback_cancels));
}

}  // namespace
}  // namespace seatlock
