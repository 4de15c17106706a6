// SegmentedHashMap against std::unordered_map: random inserts, lookups,
// erases and value updates, with string keys looked up by string_view; and
// the point of it: entries spread over the segments, so that no segment's
// growth step moves much more than its share.
#include "engine/segmented_hash_map.h"

#include <random>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/string_util.h"
#include "gtest/gtest.h"

namespace seatlock {
namespace {

using StringSegments = SegmentedHashMap<std::string, uint64_t, StringHash, StringEq>;

TEST(SegmentedHashMapTest, BehavesAsAMapUnderRandomOps) {
  std::mt19937 rng(11);
  StringSegments map;
  std::unordered_map<std::string, uint64_t> model;
  for (int step = 0; step < 40000; ++step) {
    const std::string key = "key-" + std::to_string(rng() % 5000);
    const int op = static_cast<int>(rng() % 100);
    if (op < 50) {
      const bool added = model.try_emplace(key, step).second;
      ASSERT_EQ(map.Emplace(key, step), added);
    } else if (op < 75) {
      ASSERT_EQ(map.Erase(std::string_view(key)), model.erase(key) > 0);
    } else if (op < 85) {
      if (uint64_t* v = map.Find(std::string_view(key))) *v += 1;
      if (auto it = model.find(key); it != model.end()) it->second += 1;
    } else {
      const uint64_t* v = map.Find(std::string_view(key));
      auto it = model.find(key);
      ASSERT_EQ(v != nullptr, it != model.end());
      if (v != nullptr) {
        ASSERT_EQ(*v, it->second);
      }
      ASSERT_EQ(map.contains(std::string_view(key)), it != model.end());
    }
    ASSERT_EQ(map.size(), model.size());
  }
  size_t seen = 0;
  map.ForEach([&](const std::string& k, uint64_t& v) {
    ++seen;
    ASSERT_EQ(model.at(k), v);
  });
  EXPECT_EQ(seen, model.size());
}

TEST(SegmentedHashMapTest, ForEachMayChangeValues) {
  SegmentedHashMap<uint64_t, uint32_t> map;
  for (uint64_t id = 1; id <= 1000; ++id) ASSERT_TRUE(map.Emplace(id << 20, 1));
  map.ForEach([](uint64_t, uint32_t& v) { v = 2; });
  for (uint64_t id = 1; id <= 1000; ++id) ASSERT_EQ(*map.Find(id << 20), 2u);
  EXPECT_EQ(map.Find(uint64_t{7}), nullptr);
}

TEST(SegmentedHashMapTest, EntriesSpreadOverTheSegments) {
  // Booking ids as the engine makes them (shard in the top byte, then a
  // sequence): no segment may hold more than twice its share, so a growth
  // step moves at most about 2/kSegments of the entries.
  using Map = SegmentedHashMap<uint64_t, uint32_t>;
  Map map;
  constexpr size_t kEntries = 200000;
  for (uint64_t seq = 1; seq <= kEntries; ++seq) map.Emplace((uint64_t{3} << 56) | seq, 0);
  EXPECT_EQ(map.size(), kEntries);
  EXPECT_LE(map.largest_segment(), 2 * kEntries / Map::kSegments);
  EXPECT_GE(map.capacity(), kEntries);
}

}  // namespace
}  // namespace seatlock
