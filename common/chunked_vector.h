// ChunkedVector: an array that grows at the back without moving what it
// holds, for tables that only grow in steady state (the engine's bookings).
//
// Why not std::vector: doubling moves every element in one go, and at half a
// million bookings that was tens of milliseconds with the shard's thread
// stopped, a stall for every request queued behind it (docs/benchmarks.md).
// A ChunkedVector allocates kChunk elements at a time and only ever copies
// the array of chunk pointers; an element's address never changes.
//
// Elements of a chunk are default-constructed when it is allocated; one
// removed by truncate() is reset to T{} (so it keeps none of its memory),
// and chunks left wholly unused are freed. T must be default-constructible
// and move-assignable.
//
// Owns its elements. Not thread-safe: one thread at a time.
#ifndef SEATLOCK_COMMON_CHUNKED_VECTOR_H_
#define SEATLOCK_COMMON_CHUNKED_VECTOR_H_

#include <cstddef>
#include <memory>
#include <vector>

namespace seatlock {

template <typename T>
class ChunkedVector {
 public:
  static constexpr size_t kChunk = 256;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Elements allocated, in use or not.
  size_t capacity() const { return chunks_.size() * kChunk; }

  T& operator[](size_t i) { return chunks_[i / kChunk][i % kChunk]; }
  const T& operator[](size_t i) const { return chunks_[i / kChunk][i % kChunk]; }
  T& back() { return (*this)[size_ - 1]; }

  // Appends a default element and returns it.
  T& emplace_back() {
    if (size_ == capacity()) chunks_.push_back(std::make_unique<T[]>(kChunk));
    return (*this)[size_++];
  }
  // Keeps the first `n` elements (n <= size()).
  void truncate(size_t n) {
    for (size_t i = n; i < size_; ++i) (*this)[i] = T{};
    size_ = n;
    chunks_.resize((n + kChunk - 1) / kChunk);
  }
  void clear() { truncate(0); }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  size_t size_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_COMMON_CHUNKED_VECTOR_H_
