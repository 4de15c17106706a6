// ChunkedVector against std::vector: random appends, writes, reads and
// truncations over many chunks; addresses that never change; chunks freed.
#include "common/chunked_vector.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace seatlock {
namespace {

TEST(ChunkedVectorTest, BehavesAsAVectorUnderRandomOps) {
  std::mt19937 rng(7);
  ChunkedVector<std::string> chunked;
  std::vector<std::string> model;
  for (int step = 0; step < 30000; ++step) {
    const int op = static_cast<int>(rng() % 100);
    if (op < 70) {
      // Long enough to live on the heap, so a leak would show under ASan.
      std::string v = std::to_string(step) + std::string(rng() % 40, 'x');
      model.push_back(v);
      std::string& slot = chunked.emplace_back();
      ASSERT_TRUE(slot.empty());  // a new element is a default one
      slot = std::move(v);
    } else if (op < 90) {
      if (!model.empty()) {
        const size_t i = rng() % model.size();
        model[i] += "!";
        chunked[i] += "!";
      }
    } else if (op < 99) {
      if (!model.empty()) {
        const size_t n = rng() % (model.size() + 1);
        model.resize(n);
        chunked.truncate(n);
      }
    } else {
      model.clear();
      chunked.clear();
    }
    ASSERT_EQ(chunked.size(), model.size());
    ASSERT_EQ(chunked.empty(), model.empty());
    // Only the chunk at the back may have unused room.
    ASSERT_LE(chunked.capacity(), model.size() + ChunkedVector<std::string>::kChunk - 1);
    if (!model.empty()) {
      ASSERT_EQ(chunked.back(), model.back());
      const size_t i = rng() % model.size();
      ASSERT_EQ(chunked[i], model[i]);
    }
  }
  for (size_t i = 0; i < model.size(); ++i) ASSERT_EQ(chunked[i], model[i]) << i;
}

TEST(ChunkedVectorTest, ElementsNeverMoveAsItGrows) {
  ChunkedVector<int> v;
  v.emplace_back() = 1;
  const int* first = &v[0];
  for (int i = 0; i < 10000; ++i) v.emplace_back() = i;
  EXPECT_EQ(&v[0], first);
  EXPECT_EQ(v[0], 1);
  EXPECT_EQ(v.size(), 10001u);
}

TEST(ChunkedVectorTest, TruncateResetsElementsAndFreesWholeChunks) {
  constexpr size_t kChunk = ChunkedVector<std::string>::kChunk;
  ChunkedVector<std::string> v;
  for (size_t i = 0; i < 3 * kChunk; ++i) v.emplace_back() = std::string(50, 'a');
  EXPECT_EQ(v.capacity(), 3 * kChunk);
  v.truncate(kChunk + 1);
  EXPECT_EQ(v.capacity(), 2 * kChunk);  // the third chunk is freed
  // An element truncated away and appended again comes back empty.
  EXPECT_TRUE(v.emplace_back().empty());
  v.clear();
  EXPECT_EQ(v.capacity(), 0u);
  EXPECT_TRUE(v.empty());
}

}  // namespace
}  // namespace seatlock
