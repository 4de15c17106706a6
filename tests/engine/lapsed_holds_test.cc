// LapsedHolds on its own: a randomized run against a plain model (the order
// entries lapsed in, the byte cap, purge by age, erase), across many slab
// chunks so that growth, reuse of freed nodes and eviction all happen.
#include "engine/lapsed_holds.h"

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <unordered_set>

#include "gtest/gtest.h"

namespace seatlock {
namespace {

struct FakeEvent {};
using Table = LapsedHolds<FakeEvent>;

Table::Entry MakeEntry(uint64_t id, int64_t expires_ms, std::mt19937_64& rng) {
  Table::Entry e;
  e.hold_id = id;
  // Some holders past std::string's inline buffer, some seat lists past the
  // inline 4: their heap counts against the cap.
  e.holder = rng() % 4 == 0 ? std::string(40, 'h') : "buyer";
  const size_t seats = 1 + rng() % 6;
  for (size_t i = 0; i < seats; ++i) e.seats.push_back(SeatKey{0, static_cast<uint32_t>(id + i)});
  e.created_ms = expires_ms - 1000;
  e.expires_ms = expires_ms;
  return e;
}

// The model: ids in the order they lapsed, with their entries' byte cost.
struct ModelEntry {
  uint64_t id;
  int64_t expires_ms;
  size_t bytes;
};

TEST(LapsedHoldsTest, MatchesAModelThroughGrowthEvictionPurgeAndErase) {
  for (const size_t cap : {size_t{0}, size_t{4} << 10, size_t{2} << 20, size_t{64} << 20}) {
    std::mt19937_64 rng(cap + 7);
    Table table(cap);
    std::deque<ModelEntry> model;
    std::unordered_set<uint64_t> kept_ids;
    size_t model_bytes = 0;
    uint64_t evicted = 0;
    uint64_t next_id = 1;
    int64_t now = 0;
    for (int step = 0; step < 20'000; ++step) {
      const uint64_t r = rng() % 100;
      if (r < 70) {  // a hold lapses
        now += static_cast<int64_t>(rng() % 3);
        Table::Entry e = MakeEntry(next_id++, now, rng);
        const size_t b = Table::EntryBytes(e);
        table.Add(std::move(e));
        model.push_back({next_id - 1, now, b});
        kept_ids.insert(next_id - 1);
        model_bytes += b;
        while (model_bytes > cap && !model.empty()) {
          model_bytes -= model.front().bytes;
          kept_ids.erase(model.front().id);
          model.pop_front();
          ++evicted;
        }
      } else if (r < 85 && !model.empty()) {  // a late confirm or release forgets one
        const size_t k = rng() % model.size();
        ASSERT_TRUE(table.Erase(model[k].id));
        model_bytes -= model[k].bytes;
        kept_ids.erase(model[k].id);
        model.erase(model.begin() + static_cast<std::ptrdiff_t>(k));
      } else if (r < 88) {  // the age bound
        const int64_t cutoff = now - static_cast<int64_t>(rng() % 400);
        size_t purged = 0;
        while (!model.empty() && model.front().expires_ms <= cutoff) {
          model_bytes -= model.front().bytes;
          kept_ids.erase(model.front().id);
          model.pop_front();
          ++purged;
        }
        ASSERT_EQ(table.PurgeLapsedBefore(cutoff), purged);
      } else {  // lookups: one kept, one forgotten or never issued
        if (!model.empty()) {
          const ModelEntry& m = model[rng() % model.size()];
          const Table::Entry* e = table.Find(m.id);
          ASSERT_NE(e, nullptr) << m.id;
          ASSERT_EQ(e->expires_ms, m.expires_ms);
          ASSERT_EQ(e->seats.front().seat, static_cast<uint32_t>(m.id));
        }
        const uint64_t absent = rng() % (next_id + 10);
        ASSERT_EQ(table.Find(absent) != nullptr, kept_ids.contains(absent)) << absent;
      }
      ASSERT_EQ(table.size(), model.size());
      ASSERT_EQ(table.bytes(), model_bytes);
      ASSERT_LE(table.bytes(), cap);
      ASSERT_EQ(table.evicted(), evicted);
    }
    // What is kept is kept in the order it lapsed: purging everything up to
    // each kept deadline in turn forgets the model's front each time.
    while (!model.empty()) {
      const int64_t t = model.front().expires_ms;
      size_t n = 0;
      while (!model.empty() && model.front().expires_ms <= t) {
        model.pop_front();
        ++n;
      }
      ASSERT_EQ(table.PurgeLapsedBefore(t), n);
    }
    EXPECT_EQ(table.size(), 0u);
    EXPECT_EQ(table.bytes(), 0u);
  }
}

// Growth never moves an entry: a pointer Find returned stays valid, and
// keeps its contents, while tens of thousands more are added.
TEST(LapsedHoldsTest, GrowthNeverMovesAnEntry) {
  std::mt19937_64 rng(1);
  Table table(size_t{64} << 20);
  table.Add(MakeEntry(1, 10, rng));
  const Table::Entry* first = table.Find(1);
  ASSERT_NE(first, nullptr);
  for (uint64_t id = 2; id < 50'000; ++id)
    table.Add(MakeEntry(id, 10 + static_cast<int64_t>(id), rng));
  EXPECT_EQ(table.Find(1), first);
  EXPECT_EQ(first->hold_id, 1u);
  EXPECT_EQ(first->expires_ms, 10);
  EXPECT_EQ(table.size(), 49'999u);
}

}  // namespace
}  // namespace seatlock
