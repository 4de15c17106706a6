// Inbox<T>: an unbounded multi-producer, single-consumer queue of heap nodes
// (Vyukov's intrusive MPSC design, without the stub trick: producers push
// onto a Treiber-style stack with one atomic exchange loop; the consumer takes
// the whole stack at once and reverses it to restore FIFO order).
//
// Any thread may Push; only the owning shard thread may DrainAll. The inbox
// owns nodes between Push and DrainAll; DrainAll hands them back in push
// order. No mutex: one CAS per push, one exchange per drain.
#ifndef SEATLOCK_SERVER_INBOX_H_
#define SEATLOCK_SERVER_INBOX_H_

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

namespace seatlock {

template <class T>
class Inbox {
 public:
  Inbox() = default;
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;
  ~Inbox() {
    Node* n = head_.exchange(nullptr);
    while (n) {
      Node* next = n->next;
      delete n;
      n = next;
    }
  }

  // Returns true if the inbox was empty before this push (the consumer may
  // be asleep and should be woken).
  bool Push(std::unique_ptr<T> item) {
    // After the exchange the consumer may take and free `node` at once, so
    // only the local copy of the old head is read afterwards.
    Node* old = head_.load(std::memory_order_relaxed);
    Node* node = new Node{std::move(item), old};
    while (!head_.compare_exchange_weak(old, node, std::memory_order_release,
                                        std::memory_order_relaxed)) {
      node->next = old;
    }
    return old == nullptr;
  }

  // Moves every queued item, oldest first, to the end of *out.
  void DrainAll(std::vector<std::unique_ptr<T>>* out) {
    Node* n = head_.exchange(nullptr, std::memory_order_acquire);
    const size_t start = out->size();
    while (n) {
      out->push_back(std::move(n->item));
      Node* next = n->next;
      delete n;
      n = next;
    }
    std::reverse(out->begin() + static_cast<std::ptrdiff_t>(start), out->end());
  }

  bool empty() const { return head_.load(std::memory_order_acquire) == nullptr; }

 private:
  struct Node {
    std::unique_ptr<T> item;
    Node* next;
  };
  std::atomic<Node*> head_{nullptr};
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_INBOX_H_
