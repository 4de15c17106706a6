// RingDeque against std::deque: random pushes, pops, clears and reads, with
// growth past the slot limit; and slot reuse in a steady queue.
#include "common/ring_deque.h"

#include <deque>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace seatlock {
namespace {

TEST(RingDequeTest, BehavesAsADequeUnderRandomOps) {
  for (size_t limit : {size_t{0}, size_t{5}, size_t{40}}) {
    std::mt19937 rng(static_cast<uint32_t>(limit) + 7);
    RingDeque<std::string> ring(limit);
    std::deque<std::string> model;
    for (int step = 0; step < 20000; ++step) {
      const int op = static_cast<int>(rng() % 100);
      if (op < 55) {
        // Long enough to live on the heap, so a leak would show under ASan.
        std::string v = std::to_string(step) + std::string(rng() % 40, 'x');
        model.push_back(v);
        ring.push_back(std::move(v));
      } else if (op < 95) {
        if (!model.empty()) {
          ASSERT_EQ(ring.front(), model.front());
          model.pop_front();
          ring.pop_front();
        }
      } else if (op < 96) {
        model.clear();
        ring.clear();
      }
      ASSERT_EQ(ring.size(), model.size());
      ASSERT_EQ(ring.empty(), model.empty());
      if (!model.empty()) {
        ASSERT_EQ(ring.back(), model.back());
        const size_t i = rng() % model.size();
        ASSERT_EQ(ring[i], model[i]);
      }
      if (step % 997 == 0) {
        size_t i = 0;
        for (const std::string& s : ring) ASSERT_EQ(s, model[i++]);
        ASSERT_EQ(i, model.size());
      }
    }
  }
}

TEST(RingDequeTest, ASteadyQueueStopsGrowingAndReusesItsSlots) {
  RingDeque<int> ring;
  for (int i = 0; i < 100; ++i) ring.push_back(int{i});
  const size_t slots = ring.slots();
  EXPECT_GE(slots, 100u);
  for (int i = 100; i < 100000; ++i) {
    ring.pop_front();
    ring.push_back(int{i});
  }
  EXPECT_EQ(ring.slots(), slots);
  EXPECT_EQ(ring.front(), 100000 - 100);
  EXPECT_EQ(ring.back(), 99999);
}

TEST(RingDequeTest, GrowsToItsSlotLimitNotPastIt) {
  RingDeque<int> ring(/*slot_limit=*/100);
  for (int i = 0; i < 100; ++i) ring.push_back(int{i});
  EXPECT_EQ(ring.slots(), 100u);  // 16, 32, 64, then the limit
  ring.push_back(100);            // a limit is a hint: it grows past when full
  EXPECT_EQ(ring.size(), 101u);
  EXPECT_EQ(ring[100], 100);
}

}  // namespace
}  // namespace seatlock
