// Micro benchmarks for SeatEngine on one thread, at arena scale: one event of
// 50,000 seats (50 sections x 20 rows x 50 seats), 600 s hold TTLs, and a
// ManualClock so time only moves when a benchmark moves it.
//
//   build/release/bench/engine_bench --benchmark_counters_tabular=true
//
// items_per_second counts the unit named in each benchmark's comment (a
// hold+release pair, a hold+confirm pair, an expiry, ...).
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "benchmark/benchmark.h"
#include "engine/clock.h"
#include "engine/layout.h"
#include "engine/seat_engine.h"

namespace seatlock {
namespace {

constexpr std::string_view kEvent = "arena";
constexpr std::string_view kHolder = "buyer-1";
constexpr uint32_t kSections = 50;
constexpr uint32_t kRows = 20;
constexpr uint32_t kSeatsPerRow = 50;
constexpr uint32_t kSeatsPerSection = kRows * kSeatsPerRow;  // 1,000
constexpr uint32_t kSeats = kSections * kSeatsPerSection;    // 50,000
constexpr int64_t kTtlMs = 600'000;

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(Next() % n); }

 private:
  uint64_t state_;
};

EventLayout ArenaLayout() {
  EventLayout layout;
  layout.event_id = std::string(kEvent);
  for (uint32_t s = 0; s < kSections; ++s) {
    SectionLayout section;
    section.label = std::to_string(101 + s);
    for (uint32_t r = 0; r < kRows; ++r) {
      RowLayout row;
      row.label = std::string(1, static_cast<char>('A' + r));
      row.seat_count = kSeatsPerRow;
      section.rows.push_back(std::move(row));
    }
    layout.sections.push_back(std::move(section));
  }
  return layout;
}

// An engine with the arena defined, and the clock it reads.
struct Arena {
  explicit Arena(EngineLimits limits = {}) {
    SeatEngine::Options options;
    options.clock = &clock;
    options.limits = limits;
    engine = std::make_unique<SeatEngine>(std::move(options));
    const SimpleResult r = engine->DefineEvent(ArenaLayout());
    if (!r.ok()) std::abort();
  }
  ManualClock clock;
  std::unique_ptr<SeatEngine> engine;
};

SeatKey KeyOf(uint32_t flat) { return SeatKey{flat / kSeatsPerSection, flat % kSeatsPerSection}; }

// All 50,000 seats in a fixed random order.
std::vector<SeatKey> ShuffledSeats(uint64_t seed) {
  std::vector<uint32_t> flat(kSeats);
  std::iota(flat.begin(), flat.end(), 0u);
  Rng rng(seed);
  for (uint32_t i = kSeats - 1; i > 0; --i) std::swap(flat[i], flat[rng.Below(i + 1)]);
  std::vector<SeatKey> keys;
  keys.reserve(kSeats);
  for (uint32_t f : flat) keys.push_back(KeyOf(f));
  return keys;
}

// Writes "<prefix><n>" into buf and returns it as a view.
std::string_view NumberedKey(char (&buf)[32], std::string_view prefix, uint64_t n) {
  std::copy(prefix.begin(), prefix.end(), buf);
  char* end = std::to_chars(buf + prefix.size(), buf + sizeof(buf), n).ptr;
  return std::string_view(buf, static_cast<size_t>(end - buf));
}

// Sells `seats` (in holds of at most 32) so the event looks part sold.
void Sell(SeatEngine& engine, const std::vector<SeatKey>& seats, uint64_t* key_counter) {
  char buf[32];
  for (size_t i = 0; i < seats.size(); i += 32) {
    const size_t n = std::min<size_t>(32, seats.size() - i);
    const HoldResult h =
        engine.Hold(kEvent, absl::MakeConstSpan(seats.data() + i, n), kHolder, kTtlMs);
    if (!h.ok()) std::abort();
    const ConfirmResult c =
        engine.Confirm(h.hold_id, kHolder, NumberedKey(buf, "fill-", (*key_counter)++), "pay");
    if (!c.ok()) std::abort();
  }
}

// Sells about half the arena the way on-sales go: the 7 rows nearest the stage
// of every section, then ~23% of the seats further back at random.
void SellHalf(SeatEngine& engine) {
  Rng rng(99);
  std::vector<SeatKey> seats;
  for (uint32_t s = 0; s < kSections; ++s) {
    for (uint32_t seat = 0; seat < kSeatsPerSection; ++seat) {
      const uint32_t row = seat / kSeatsPerRow;
      if (row < 7 || rng.Below(100) < 23) seats.push_back({s, seat});
    }
  }
  uint64_t counter = 0;
  Sell(engine, seats, &counter);
}

void SetPairCounters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());
  state.counters["ops_per_second"] = benchmark::Counter(
      2.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// HOLD of one random seat, then RELEASE of that hold. items = pairs.
void BM_HoldRelease1Seat(benchmark::State& state) {
  Arena arena;
  SeatEngine& engine = *arena.engine;
  Rng rng(1);
  for (auto _ : state) {
    const SeatKey seat = KeyOf(rng.Below(kSeats));
    const HoldResult h = engine.Hold(kEvent, {&seat, 1}, kHolder, kTtlMs);
    if (!h.ok()) {
      state.SkipWithError("hold failed");
      break;
    }
    if (!engine.Release(h.hold_id, kHolder).ok()) {
      state.SkipWithError("release failed");
      break;
    }
  }
  SetPairCounters(state);
}
BENCHMARK(BM_HoldRelease1Seat);

// HOLD of four adjacent seats in a random row, then RELEASE. items = pairs.
void BM_HoldRelease4Adjacent(benchmark::State& state) {
  Arena arena;
  SeatEngine& engine = *arena.engine;
  Rng rng(2);
  SeatKey seats[4];
  for (auto _ : state) {
    const uint32_t section = rng.Below(kSections);
    const uint32_t first = rng.Below(kRows) * kSeatsPerRow + rng.Below(kSeatsPerRow - 3);
    for (uint32_t i = 0; i < 4; ++i) seats[i] = {section, first + i};
    const HoldResult h = engine.Hold(kEvent, seats, kHolder, kTtlMs);
    if (!h.ok()) {
      state.SkipWithError("hold failed");
      break;
    }
    if (!engine.Release(h.hold_id, kHolder).ok()) {
      state.SkipWithError("release failed");
      break;
    }
  }
  SetPairCounters(state);
}
BENCHMARK(BM_HoldRelease4Adjacent);

// HOLD of one seat, then CONFIRM with a fresh idempotency key. Seats are taken
// in a random order; when all 50,000 are sold a fresh engine and event replace
// the old ones (outside the timed region), so bookings and idempotency
// records grow as they would during a real on-sale. items = pairs.
void BM_HoldConfirm(benchmark::State& state) {
  const std::vector<SeatKey> order = ShuffledSeats(3);
  std::unique_ptr<Arena> arena;
  size_t next = kSeats;
  uint64_t key_counter = 0;
  char key[32];
  for (auto _ : state) {
    if (next == kSeats) {
      state.PauseTiming();
      arena.reset();
      arena = std::make_unique<Arena>();
      next = 0;
      state.ResumeTiming();
    }
    const SeatKey seat = order[next++];
    const HoldResult h = arena->engine->Hold(kEvent, {&seat, 1}, kHolder, kTtlMs);
    if (!h.ok()) {
      state.SkipWithError("hold failed");
      break;
    }
    const ConfirmResult c = arena->engine->Confirm(
        h.hold_id, kHolder, NumberedKey(key, "idem-", key_counter++), "pay-77");
    if (!c.ok()) {
      state.SkipWithError("confirm failed");
      break;
    }
  }
  SetPairCounters(state);
}
BENCHMARK(BM_HoldConfirm);

// HOLD_BEST_AVAILABLE of 4 seats together in an arena that is ~half sold
// (front rows first), then RELEASE. range(0) is the section index, -1 for
// "any section". items = pairs.
void BM_HoldBestAvailable4(benchmark::State& state) {
  const int section = static_cast<int>(state.range(0));
  Arena arena;
  SeatEngine& engine = *arena.engine;
  SellHalf(engine);
  const Availability before = engine.GetAvailability(kEvent);
  for (auto _ : state) {
    const HoldResult h =
        engine.HoldBestAvailable(kEvent, section, 4, /*together=*/true, kHolder, kTtlMs);
    if (!h.ok()) {
      state.SkipWithError("best available failed");
      break;
    }
    if (!engine.Release(h.hold_id, kHolder).ok()) {
      state.SkipWithError("release failed");
      break;
    }
  }
  SetPairCounters(state);
  state.counters["sold_fraction"] =
      static_cast<double>(before.sold) / static_cast<double>(before.total);
}
BENCHMARK(BM_HoldBestAvailable4)->Arg(-1)->Arg(17);

// Steady state of short holds lapsing: each iteration moves the clock 1 ms and
// takes a one-seat hold with a 10 s TTL, so ~10,000 holds are live and one
// expires per iteration (in the next HOLD's ExpireDue); lapsed holds are
// forgotten 60 s later (one purge timer per iteration too). The work per
// iteration is one HOLD + one expiry + one purge. items = expiries.
void BM_HoldThenExpireSteady(benchmark::State& state) {
  EngineLimits limits;
  limits.lapsed_hold_retention_ms = 60'000;  // the 1 h default would pile up slots
  Arena arena(limits);
  SeatEngine& engine = *arena.engine;
  const std::vector<SeatKey> order = ShuffledSeats(4);
  size_t next = 0;
  auto step = [&] {
    arena.clock.AdvanceMs(1);
    const SeatKey seat = order[next];
    next = next + 1 == order.size() ? 0 : next + 1;
    return engine.Hold(kEvent, {&seat, 1}, kHolder, /*ttl_ms=*/10'000).ok();
  };
  for (int i = 0; i < 80'000; ++i) {  // reach steady state: expiries and purges running
    if (!step()) std::abort();
  }
  const uint64_t expired_before = engine.Stats().holds_expired;
  for (auto _ : state) {
    if (!step()) {
      state.SkipWithError("hold failed");
      break;
    }
  }
  const EngineStats stats = engine.Stats();
  state.SetItemsProcessed(static_cast<int64_t>(stats.holds_expired - expired_before));
  state.counters["holds_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["live_holds"] = static_cast<double>(stats.live_holds);
  state.counters["lapsed_holds"] = static_cast<double>(stats.lapsed_holds);
}
BENCHMARK(BM_HoldThenExpireSteady);

// Bulk expiry: 10,000 one-seat holds with TTLs spread over 1 s are taken
// (untimed), then the clock jumps 1 s and one ExpireDue() releases them all.
// Lapsed-hold retention is 0, so each expiry's purge runs in the same call.
// items = expiries.
void BM_ExpireBatch(benchmark::State& state) {
  constexpr size_t kBatch = 10'000;
  EngineLimits limits;
  limits.lapsed_hold_retention_ms = 0;
  Arena arena(limits);
  SeatEngine& engine = *arena.engine;
  const std::vector<SeatKey> order = ShuffledSeats(5);
  Rng rng(5);
  size_t next = 0;
  int64_t expired = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (size_t i = 0; i < kBatch; ++i) {
      const SeatKey seat = order[next];
      next = next + 1 == order.size() ? 0 : next + 1;
      if (!engine.Hold(kEvent, {&seat, 1}, kHolder, 1 + rng.Below(1000)).ok()) std::abort();
    }
    arena.clock.AdvanceMs(1000);
    state.ResumeTiming();
    engine.ExpireDue();
    expired += static_cast<int64_t>(kBatch);
  }
  // Purges armed while the wheel drained its overdue list in the final tick
  // of an ExpireDue run on the next call (the wheel's documented behaviour
  // for timers armed at or before now() from a callback); flush them.
  engine.ExpireDue();
  const EngineStats stats = engine.Stats();
  if (stats.live_holds != 0 || stats.lapsed_holds != 0 ||
      stats.holds_expired != static_cast<uint64_t>(expired)) {
    state.SkipWithError("not every hold expired");
  }
  state.SetItemsProcessed(expired);
}
BENCHMARK(BM_ExpireBatch)->Unit(benchmark::kMicrosecond);

// DEFINE_EVENT of the 50,000-seat arena into a fresh engine (timed), and the
// engine's MemoryBytes() per seat: empty, and ~half sold. items = seats.
void BM_DefineEventAndMemoryPerSeat(benchmark::State& state) {
  size_t empty_bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    ManualClock clock;
    SeatEngine::Options options;
    options.clock = &clock;
    auto engine = std::make_unique<SeatEngine>(std::move(options));
    const EventLayout layout = ArenaLayout();
    state.ResumeTiming();
    if (!engine->DefineEvent(layout).ok()) {
      state.SkipWithError("define failed");
      break;
    }
    state.PauseTiming();
    empty_bytes = engine->MemoryBytes();
    engine.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kSeats);
  Arena arena;
  SellHalf(*arena.engine);
  const Availability a = arena.engine->GetAvailability(kEvent);
  state.counters["bytes_per_seat"] = static_cast<double>(empty_bytes) / kSeats;
  state.counters["bytes_per_seat_half_sold"] =
      static_cast<double>(arena.engine->MemoryBytes()) / kSeats;
  state.counters["sold_fraction"] = static_cast<double>(a.sold) / static_cast<double>(a.total);
}
BENCHMARK(BM_DefineEventAndMemoryPerSeat)->Unit(benchmark::kMicrosecond);

// MemoryBytes() per seat with 25,000 single-seat live holds (half the arena
// held, none sold).
void BM_MemoryPerSeatHalfHeld(benchmark::State& state) {
  Arena arena;
  const std::vector<SeatKey> order = ShuffledSeats(6);
  for (uint32_t i = 0; i < kSeats / 2; ++i) {
    if (!arena.engine->Hold(kEvent, {&order[i], 1}, kHolder, kTtlMs).ok()) std::abort();
  }
  for (auto _ : state) benchmark::DoNotOptimize(arena.engine->MemoryBytes());
  state.counters["bytes_per_seat"] = static_cast<double>(arena.engine->MemoryBytes()) / kSeats;
}
BENCHMARK(BM_MemoryPerSeatHalfHeld);

}  // namespace
}  // namespace seatlock
