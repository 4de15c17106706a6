// RingDeque: a first-in first-out queue on one circular array of slots,
// for queues that are pushed and popped at a steady rate (the change feed's
// ring and its changes waiting for the log).
//
// Why not std::deque: a deque allocates a block every few pushes and frees
// one every few pops, so a queue in steady state calls malloc and free
// without end. A RingDeque allocates only when it grows past its slots, and
// a popped slot is reused by a later push.
//
// Slots grow by doubling, up to `slot_limit` if one is given (a queue kept
// at most N long need never have more than N slots). A popped or cleared
// slot is reset to T{}, so it keeps none of the element's memory. T must be
// default-constructible and move-assignable.
//
// Owns its elements. Not thread-safe: one thread at a time.
#ifndef SEATLOCK_COMMON_RING_DEQUE_H_
#define SEATLOCK_COMMON_RING_DEQUE_H_

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace seatlock {

template <typename T>
class RingDeque {
 public:
  // `slot_limit` 0: no limit on growth beyond doubling.
  explicit RingDeque(size_t slot_limit = 0) : slot_limit_(slot_limit) {}

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Slots allocated: the most elements held without growing.
  size_t slots() const { return slots_.size(); }

  // Element `i` from the front (0) to the back (size() - 1).
  T& operator[](size_t i) { return slots_[Slot(i)]; }
  const T& operator[](size_t i) const { return slots_[Slot(i)]; }
  T& front() { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }

  void push_back(T&& v) {
    if (size_ == slots_.size()) Grow();
    slots_[Slot(size_)] = std::move(v);
    ++size_;
  }
  void pop_front() {
    slots_[head_] = T{};
    head_ = head_ + 1 == slots_.size() ? 0 : head_ + 1;
    --size_;
  }
  // Empties the queue; the slots stay allocated.
  void clear() {
    while (!empty()) pop_front();
    head_ = 0;
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
  size_t Slot(size_t i) const {
    const size_t s = head_ + i;
    return s >= slots_.size() ? s - slots_.size() : s;
  }
  // Moves the elements, front first, into a larger array starting at slot 0.
  void Grow() {
    size_t n = std::max<size_t>(16, slots_.size() * 2);
    if (slot_limit_ > slots_.size()) n = std::min(n, slot_limit_);
    std::vector<T> bigger(n);
    for (size_t i = 0; i < size_; ++i) bigger[i] = std::move((*this)[i]);
    slots_.swap(bigger);
    head_ = 0;
  }

  size_t slot_limit_;
  std::vector<T> slots_;
  size_t head_ = 0;  // slot of the front element
  size_t size_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_COMMON_RING_DEQUE_H_
