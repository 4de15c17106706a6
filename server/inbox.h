// Inbox<T>: a bounded queue from exactly one producer thread to exactly one
// consumer thread, of intrusive nodes (T has a `T* next` member). The
// producer pushes onto a Treiber-style stack with one atomic exchange loop;
// the consumer takes the whole stack with one exchange and reverses it, so
// items come out in push order. A counter pair bounds how many items may be
// in the inbox at once.
//
//   Inbox<Msg> inbox(/*capacity=*/1024);
//   // producer thread                       // consumer thread
//   switch (inbox.Push(msg)) {               std::vector<Msg*> got;
//     case Inbox<Msg>::kFull: keep it; ...   inbox.DrainAll(&got);
//     case Inbox<Msg>::kWasEmpty: wake; ...  if (inbox.TakeProducerWaiting()) wake producer;
//   }
//
// Ownership: an item pushed belongs to the inbox until DrainAll hands it to
// the consumer; items still inside are deleted with the inbox.
// Threads: Push, MarkProducerWaiting and has_room only on the producer
// thread; DrainAll and TakeProducerWaiting only on the consumer thread;
// empty() on any thread.
#ifndef SEATLOCK_SERVER_INBOX_H_
#define SEATLOCK_SERVER_INBOX_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace seatlock {

template <class T>
class Inbox {
 public:
  enum PushResult { kWasEmpty, kPushed, kFull };

  explicit Inbox(uint64_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;
  ~Inbox() {
    T* n = head_.exchange(nullptr);
    while (n != nullptr) {
      T* next = n->next;
      delete n;
      n = next;
    }
  }

  uint64_t capacity() const { return capacity_; }

  // Producer. True if an item would fit now.
  bool has_room() const { return pushed_ - consumed_.load(std::memory_order_acquire) < capacity_; }

  // Producer. Pushes `item` unless the inbox holds `capacity` items
  // (kFull: the caller keeps it). kWasEmpty: the consumer may be asleep.
  PushResult Push(T* item) {
    if (!has_room()) return kFull;
    ++pushed_;
    // After the exchange the consumer may take and free `item` at once, so
    // only the local copy of the old head is read afterwards.
    T* old = head_.load(std::memory_order_relaxed);
    item->next = old;
    while (!head_.compare_exchange_weak(old, item, std::memory_order_release,
                                        std::memory_order_relaxed)) {
      item->next = old;
    }
    return old == nullptr ? kWasEmpty : kPushed;
  }

  // Producer, after a kFull: asks the consumer to report (through
  // TakeProducerWaiting) when it has made room. Returns true if there is
  // room already (then the flag may or may not be set; pushing again is
  // right either way).
  bool MarkProducerWaiting() {
    producer_waiting_.store(true, std::memory_order_seq_cst);
    return pushed_ - consumed_.load(std::memory_order_seq_cst) < capacity_;
  }

  // Consumer. Moves every queued item, oldest first, to the end of *out;
  // returns how many.
  size_t DrainAll(std::vector<T*>* out) {
    T* n = head_.exchange(nullptr, std::memory_order_acquire);
    const size_t start = out->size();
    while (n != nullptr) {
      out->push_back(n);
      n = n->next;
    }
    std::reverse(out->begin() + static_cast<std::ptrdiff_t>(start), out->end());
    const size_t got = out->size() - start;
    if (got > 0) consumed_.fetch_add(got, std::memory_order_seq_cst);
    return got;
  }

  // Consumer, after DrainAll: true once after the producer found the inbox
  // full and asked to be told about room.
  bool TakeProducerWaiting() {
    return producer_waiting_.load(std::memory_order_seq_cst) &&
           producer_waiting_.exchange(false, std::memory_order_seq_cst);
  }

  bool empty() const { return head_.load(std::memory_order_acquire) == nullptr; }

 private:
  const uint64_t capacity_;
  alignas(64) std::atomic<T*> head_{nullptr};
  alignas(64) std::atomic<uint64_t> consumed_{0};  // written by the consumer
  std::atomic<bool> producer_waiting_{false};
  alignas(64) uint64_t pushed_ = 0;  // producer only
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_INBOX_H_
