// RingDeque: a first-in first-out queue in fixed-size chunks that are
// recycled, for queues pushed and popped at a steady rate (the change feed's
// ring and its changes waiting for the log, the engine's idempotency
// records).
//
// Why not std::deque: a deque allocates a block every few pushes and frees
// one every few pops, so a queue in steady state calls malloc and free
// without end. Why not one circular array: growing it moves every element,
// and a queue of 100,000 changes took up to 100 ms to move, a stall for
// every request queued behind it. A RingDeque never moves an element: it
// grows a chunk (kChunk elements) at a time, a chunk emptied at the front is
// kept (up to kSpareChunks of them) for the next chunk at the back, and only
// the array of chunk pointers is ever copied.
//
// Elements live in raw chunk storage: push_back move-constructs one in
// place and pop_front destroys it, so a popped element keeps none of its
// memory and no element is ever default-constructed or reset (resetting to
// T{} cost 2% of an open-loop profile). T must be move-constructible.
//
// Owns its elements. Not copyable or movable. Not thread-safe: one thread at
// a time.
#ifndef SEATLOCK_COMMON_RING_DEQUE_H_
#define SEATLOCK_COMMON_RING_DEQUE_H_

#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace seatlock {

template <typename T>
class RingDeque {
 public:
  static constexpr size_t kChunk = 256;
  // Emptied chunks kept for reuse; beyond this they are freed, so a queue
  // gives back what a burst made it take. 16, not 2: the change feed's
  // waiting changes swing by several chunks each group commit (hold-confirm),
  // and with 2 spares AddChunk's malloc and free were 6% of the server's CPU.
  static constexpr size_t kSpareChunks = 16;

  RingDeque() = default;
  RingDeque(const RingDeque&) = delete;
  RingDeque& operator=(const RingDeque&) = delete;
  ~RingDeque() { clear(); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Chunks allocated, in use or spare.
  size_t chunks() const { return map_size_ + spare_.size(); }

  // Element `i` from the front (0) to the back (size() - 1).
  T& operator[](size_t i) { return At(head_ + i); }
  const T& operator[](size_t i) const { return At(head_ + i); }
  T& front() { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }

  void push_back(T&& v) {
    const size_t p = head_ + size_;
    if (p == map_size_ * kChunk) AddChunk();
    ::new (static_cast<void*>(SlotAt(p))) T(std::move(v));
    ++size_;
  }
  void pop_front() {
    std::destroy_at(&At(head_));
    ++head_;
    --size_;
    if (head_ == kChunk) {  // the front chunk is empty: recycle it
      std::unique_ptr<Slot[]>& first = map_[map_head_];
      if (spare_.size() < kSpareChunks) spare_.push_back(std::move(first));
      first.reset();
      map_head_ = map_head_ + 1 == map_.size() ? 0 : map_head_ + 1;
      --map_size_;
      head_ = 0;
    }
  }
  // Empties the queue.
  void clear() {
    while (!empty()) pop_front();
  }

  template <typename Ring, typename Value>
  class Iter {
   public:
    Iter(Ring* r, size_t i) : r_(r), i_(i) {}
    Value& operator*() const { return (*r_)[i_]; }
    Value* operator->() const { return &(*r_)[i_]; }
    Iter& operator++() {
      ++i_;
      return *this;
    }
    bool operator!=(const Iter& o) const { return i_ != o.i_; }
    bool operator==(const Iter& o) const { return i_ == o.i_; }

   private:
    Ring* r_;
    size_t i_;
  };
  using iterator = Iter<RingDeque, T>;
  using const_iterator = Iter<const RingDeque, const T>;
  iterator begin() { return iterator(this, 0); }
  iterator end() { return iterator(this, size_); }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size_); }

 private:
  // Storage for one element, constructed or not.
  struct Slot {
    alignas(T) unsigned char bytes[sizeof(T)];
  };

  // Position `p` counts from the start of the front chunk.
  Slot* SlotAt(size_t p) const { return &map_[MapSlot(p / kChunk)][p % kChunk]; }
  T& At(size_t p) { return *std::launder(reinterpret_cast<T*>(SlotAt(p)->bytes)); }
  const T& At(size_t p) const {
    return *std::launder(reinterpret_cast<const T*>(SlotAt(p)->bytes));
  }
  // The index in map_ of the i-th chunk from the front.
  size_t MapSlot(size_t i) const {
    const size_t c = map_head_ + i;
    return c >= map_.size() ? c - map_.size() : c;
  }
  // Appends a chunk at the back: a spare one if there is one.
  void AddChunk() {
    if (map_size_ == map_.size()) {  // the chunk map is full: double it, front first
      std::vector<std::unique_ptr<Slot[]>> bigger(map_.empty() ? 4 : map_.size() * 2);
      for (size_t i = 0; i < map_size_; ++i) bigger[i] = std::move(map_[MapSlot(i)]);
      map_.swap(bigger);
      map_head_ = 0;
    }
    std::unique_ptr<Slot[]> chunk;
    if (!spare_.empty()) {
      chunk = std::move(spare_.back());
      spare_.pop_back();
    } else {
      chunk = std::make_unique_for_overwrite<Slot[]>(kChunk);
    }
    map_[MapSlot(map_size_)] = std::move(chunk);
    ++map_size_;
  }

  std::vector<std::unique_ptr<Slot[]>> map_;  // circular: map_size_ chunks from map_head_
  size_t map_head_ = 0;
  size_t map_size_ = 0;
  std::vector<std::unique_ptr<Slot[]>> spare_;
  size_t head_ = 0;  // the front element's index in the front chunk
  size_t size_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_COMMON_RING_DEQUE_H_
