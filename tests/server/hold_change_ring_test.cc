// HoldChangeRing: its bound, and how a reader learns it missed changes.
#include "server/hold_change_ring.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace seatlock {
namespace {

HoldChange Gone(uint64_t id) {
  HoldChange c;
  c.gone = true;
  c.hold.hold_id = id;
  return c;
}

std::vector<uint64_t> Ids(const std::vector<HoldChange>& v) {
  std::vector<uint64_t> out;
  for (const HoldChange& c : v) out.push_back(c.hold.hold_id);
  return out;
}

TEST(HoldChangeRingTest, ReadersGoOnFromTheirOwnCursor) {
  HoldChangeRing ring(8);
  for (uint64_t i = 1; i <= 3; ++i) ring.Push(Gone(i));
  uint64_t a = 0;
  uint64_t b = 0;
  std::vector<HoldChange> got;
  EXPECT_TRUE(ring.Read(&a, 2, &got));
  EXPECT_EQ(Ids(got), (std::vector<uint64_t>{1, 2}));
  got.clear();
  EXPECT_TRUE(ring.Read(&b, 10, &got));
  EXPECT_EQ(Ids(got), (std::vector<uint64_t>{1, 2, 3}));
  ring.Push(Gone(4));
  got.clear();
  EXPECT_TRUE(ring.Read(&a, 10, &got));
  EXPECT_EQ(Ids(got), (std::vector<uint64_t>{3, 4}));
  got.clear();
  EXPECT_TRUE(ring.Read(&a, 10, &got));
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(ring.missed(), 0u);
}

TEST(HoldChangeRingTest, PastItsCapacityTheOldestGoAndALateReaderIsTold) {
  HoldChangeRing ring(4);
  uint64_t slow = 0;
  std::vector<HoldChange> got;
  ring.Push(Gone(1));
  EXPECT_TRUE(ring.Read(&slow, 10, &got));
  for (uint64_t i = 2; i <= 10; ++i) ring.Push(Gone(i));
  EXPECT_EQ(ring.size(), 4u);
  EXPECT_EQ(ring.dropped(), 6u);
  got.clear();
  EXPECT_FALSE(ring.Read(&slow, 10, &got));  // 2..6 went unread
  EXPECT_EQ(Ids(got), (std::vector<uint64_t>{7, 8, 9, 10}));
  EXPECT_EQ(ring.missed(), 1u);
  // A new reader starts at the oldest kept, and has missed nothing.
  uint64_t fresh = 0;
  got.clear();
  EXPECT_TRUE(ring.Read(&fresh, 10, &got));
  EXPECT_EQ(got.size(), 4u);
}

TEST(HoldChangeRingTest, ClearTellsEveryReaderThatHadStarted) {
  HoldChangeRing ring(4);
  uint64_t r = 0;
  std::vector<HoldChange> got;
  ring.Push(Gone(1));
  EXPECT_TRUE(ring.Read(&r, 10, &got));
  ring.Clear();
  ring.Push(Gone(2));
  got.clear();
  EXPECT_FALSE(ring.Read(&r, 10, &got));
  EXPECT_EQ(Ids(got), (std::vector<uint64_t>{2}));
}

// One writer and two readers on their own threads (TSan), every change
// read once per reader, in order, or the reader told it missed some.
TEST(HoldChangeRingTest, OneWriterManyReadersUnderTSan) {
  HoldChangeRing ring(64);
  constexpr uint64_t kChanges = 20'000;
  auto reader = [&](uint64_t* last, uint64_t* misses) {
    uint64_t cursor = 0;
    std::vector<HoldChange> got;
    while (*last < kChanges) {
      got.clear();
      if (!ring.Read(&cursor, 16, &got)) ++*misses;
      for (const HoldChange& c : got) {
        EXPECT_GT(c.hold.hold_id, *last);
        *last = c.hold.hold_id;
      }
    }
  };
  uint64_t last1 = 0, misses1 = 0, last2 = 0, misses2 = 0;
  std::thread t1(reader, &last1, &misses1);
  std::thread t2(reader, &last2, &misses2);
  for (uint64_t i = 1; i <= kChanges; ++i) ring.Push(Gone(i));
  t1.join();
  t2.join();
  EXPECT_EQ(last1, kChanges);
  EXPECT_EQ(last2, kChanges);
  EXPECT_EQ(ring.missed(), misses1 + misses2);
}

}  // namespace
}  // namespace seatlock
