// RingDeque against std::deque: random pushes, pops, clears and reads, with
// growth over many chunks; chunk reuse, stable addresses, memory given back.
#include "common/ring_deque.h"

#include <deque>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace seatlock {
namespace {

TEST(RingDequeTest, BehavesAsADequeUnderRandomOps) {
  // Mostly pushes (the queue grows over many chunks), then mostly pops.
  for (int push_share : {55, 75, 45}) {
    std::mt19937 rng(static_cast<uint32_t>(push_share));
    RingDeque<std::string> ring;
    std::deque<std::string> model;
    for (int step = 0; step < 20000; ++step) {
      const int op = static_cast<int>(rng() % 100);
      if (op < push_share) {
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

TEST(RingDequeTest, ASteadyQueueReusesItsChunks) {
  RingDeque<int> ring;
  for (int i = 0; i < 1000; ++i) ring.push_back(int{i});
  const size_t chunks = ring.chunks();
  EXPECT_EQ(chunks, 4u);  // 1,000 elements in chunks of 256
  for (int i = 1000; i < 200000; ++i) {
    ring.pop_front();
    ring.push_back(int{i});
  }
  EXPECT_LE(ring.chunks(), chunks + RingDeque<int>::kSpareChunks);
  EXPECT_EQ(ring.front(), 200000 - 1000);
  EXPECT_EQ(ring.back(), 199999);
}

TEST(RingDequeTest, GrowingNeverMovesAnElement) {
  RingDeque<int> ring;
  ring.push_back(7);
  const int* first = &ring.front();
  for (int i = 0; i < 100000; ++i) ring.push_back(int{i});
  EXPECT_EQ(&ring.front(), first);
  EXPECT_EQ(*first, 7);
}

TEST(RingDequeTest, AnEmptiedQueueKeepsOnlyItsSpareChunks) {
  RingDeque<int> ring;
  for (int i = 0; i < 100000; ++i) ring.push_back(int{i});
  EXPECT_EQ(ring.chunks(), (100000 + RingDeque<int>::kChunk - 1) / RingDeque<int>::kChunk);
  ring.clear();
  EXPECT_TRUE(ring.empty());
  EXPECT_LE(ring.chunks(), RingDeque<int>::kSpareChunks + 1);
  ring.push_back(1);
  EXPECT_EQ(ring.front(), 1);
}

// Counts the live objects of its type, to check that every element pushed is
// destroyed exactly once: by pop_front, clear or the queue's destructor.
struct Counted {
  static inline int live = 0;
  explicit Counted(int v) : value(v) { ++live; }
  Counted(Counted&& o) noexcept : value(o.value) { ++live; }
  Counted(const Counted&) = delete;
  ~Counted() { --live; }
  int value;
};

TEST(RingDequeTest, EveryElementIsDestroyedOnce) {
  {
    RingDeque<Counted> ring;
    for (int i = 0; i < 1000; ++i) ring.push_back(Counted(i));
    EXPECT_EQ(Counted::live, 1000);
    for (int i = 0; i < 600; ++i) {
      EXPECT_EQ(ring.front().value, i);
      ring.pop_front();
    }
    EXPECT_EQ(Counted::live, 400);
    ring.clear();
    EXPECT_EQ(Counted::live, 0);
    for (int i = 0; i < 300; ++i) ring.push_back(Counted(i));
    EXPECT_EQ(Counted::live, 300);
  }  // the destructor destroys the 300 left
  EXPECT_EQ(Counted::live, 0);
}

}  // namespace
}  // namespace seatlock
