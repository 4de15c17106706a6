// Inbox (server/inbox.h) under real threads: one producer and one consumer
// per lane, as the shard bus uses it. Run under TSan in CI (label
// threaded): no item is lost or duplicated, each lane keeps its order, no
// lane ever holds more than its capacity, and a producer that waits for
// room is always told.
#include "server/inbox.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace seatlock {
namespace {

struct Item {
  Item* next = nullptr;
  uint32_t producer = 0;
  uint64_t seq = 0;
};

TEST(Inbox, SingleThreadedPushReportsEmptyAndFull) {
  Inbox<Item> inbox(2);
  Item* a = new Item;
  Item* b = new Item;
  Item* c = new Item;
  EXPECT_EQ(inbox.Push(a), Inbox<Item>::kWasEmpty);
  EXPECT_EQ(inbox.Push(b), Inbox<Item>::kPushed);
  EXPECT_EQ(inbox.Push(c), Inbox<Item>::kFull);
  EXPECT_FALSE(inbox.MarkProducerWaiting());
  std::vector<Item*> got;
  EXPECT_EQ(inbox.DrainAll(&got), 2u);
  EXPECT_EQ(got[0], a);
  EXPECT_EQ(got[1], b);
  EXPECT_TRUE(inbox.TakeProducerWaiting());
  EXPECT_FALSE(inbox.TakeProducerWaiting());  // once
  EXPECT_EQ(inbox.Push(c), Inbox<Item>::kWasEmpty);
  for (Item* i : got) delete i;
  // c is freed with the inbox.
}

// Producers each own one lane into one consumer; the consumer drains all
// lanes in a loop. Producers that find their lane full wait for the
// consumer's "room" signal, as a shard waits for a wake.
TEST(Inbox, StressManyLanesIntoOneConsumerLosesAndReordersNothing) {
  constexpr uint32_t kProducers = 4;
  constexpr uint64_t kItems = 20000;
  constexpr uint64_t kCapacity = 64;
  std::vector<std::unique_ptr<Inbox<Item>>> lanes;
  for (uint32_t p = 0; p < kProducers; ++p)
    lanes.push_back(std::make_unique<Inbox<Item>>(kCapacity));
  std::vector<std::atomic<bool>> room(kProducers);
  std::atomic<uint32_t> producers_done{0};
  std::vector<std::thread> producers;
  for (uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      for (uint64_t s = 0; s < kItems; ++s) {
        Item* it = new Item{nullptr, p, s};
        while (lanes[p]->Push(it) == Inbox<Item>::kFull) {
          if (lanes[p]->MarkProducerWaiting()) continue;  // room appeared meanwhile
          while (!room[p].exchange(false)) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "producer never woken";
            std::this_thread::yield();
          }
        }
      }
      producers_done.fetch_add(1);
    });
  }
  std::vector<uint64_t> next(kProducers, 0);
  uint64_t total = 0;
  std::vector<Item*> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (total < kProducers * kItems) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "consumer stalled at " << total;
    for (uint32_t p = 0; p < kProducers; ++p) {
      got.clear();
      const size_t n = lanes[p]->DrainAll(&got);
      ASSERT_LE(n, kCapacity);
      for (Item* it : got) {
        ASSERT_EQ(it->producer, p);
        ASSERT_EQ(it->seq, next[p]) << "lane " << p << " out of order";
        ++next[p];
        delete it;
      }
      total += n;
      if (lanes[p]->TakeProducerWaiting()) room[p].store(true);
    }
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(producers_done.load(), kProducers);
  for (uint32_t p = 0; p < kProducers; ++p) {
    EXPECT_EQ(next[p], kItems);
    EXPECT_TRUE(lanes[p]->empty());
  }
}

}  // namespace
}  // namespace seatlock
