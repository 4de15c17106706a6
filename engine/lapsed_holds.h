// LapsedHolds: the holds that ran out, remembered so that a late CONFIRM can
// still sell their seats if nobody took them (the "payment took 12 minutes"
// case, docs/engine.md). Each entry keeps only what a late confirm, a GET_HOLD
// or a RELEASE needs: the id, the event, the holder, the seats and the two
// times.
//
// Two bounds keep it from growing with churn:
//  * a byte cap (EngineLimits::max_lapsed_hold_bytes): adding past it evicts
//    the oldest lapsed holds first;
//  * an age: PurgeLapsedBefore(t) forgets holds whose deadline was <= t.
// Entries are kept in the order they lapsed, in a slab with an intrusive
// list, so eviction, purge and erase are O(1) each.
//
// `EventT` is the engine's private event type; the table only stores the
// pointer and never dereferences it. Owned by one SeatEngine; same thread.
#ifndef SEATLOCK_ENGINE_LAPSED_HOLDS_H_
#define SEATLOCK_ENGINE_LAPSED_HOLDS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "engine/layout.h"

namespace seatlock {

template <typename EventT>
class LapsedHolds {
 public:
  struct Entry {
    uint64_t hold_id = 0;
    EventT* event = nullptr;
    std::string holder;
    absl::InlinedVector<SeatKey, 4> seats;
    int64_t created_ms = 0;
    int64_t expires_ms = 0;
  };

  explicit LapsedHolds(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Remembers `e`, then evicts the oldest entries while over the cap (the new
  // one included, if the cap is smaller than one entry). An id already
  // present is replaced.
  void Add(Entry e) {
    Erase(e.hold_id);
    uint32_t i;
    if (free_ != kNone) {
      i = free_;
      free_ = slab_[i].next;
    } else {
      i = static_cast<uint32_t>(slab_.size());
      slab_.emplace_back();
    }
    Node& n = slab_[i];
    n.entry = std::move(e);
    n.used = true;
    n.prev = tail_;
    n.next = kNone;
    if (tail_ != kNone) slab_[tail_].next = i;
    tail_ = i;
    if (head_ == kNone) head_ = i;
    index_.emplace(n.entry.hold_id, i);
    bytes_ += EntryBytes(n.entry);
    ++size_;
    while (bytes_ > max_bytes_ && head_ != kNone) {
      Unlink(head_);
      ++evicted_;
    }
  }

  // nullptr if `hold_id` is not remembered. Valid until the next Add/Erase.
  Entry* Find(uint64_t hold_id) {
    auto it = index_.find(hold_id);
    return it == index_.end() ? nullptr : &slab_[it->second].entry;
  }

  bool Erase(uint64_t hold_id) {
    auto it = index_.find(hold_id);
    if (it == index_.end()) return false;
    Unlink(it->second);
    return true;
  }

  // Forgets the entries whose deadline is <= cutoff_ms, oldest first; stops
  // at the first younger one (entries lapse in deadline order, to within the
  // timer wheel's tick). Returns how many were forgotten.
  size_t PurgeLapsedBefore(int64_t cutoff_ms) {
    size_t n = 0;
    while (head_ != kNone && slab_[head_].entry.expires_ms <= cutoff_ms) {
      Unlink(head_);
      ++n;
    }
    return n;
  }

  // Forgets every entry for which pred(entry) is true (e.g. an event's).
  template <typename Pred>
  size_t EraseIf(Pred pred) {
    size_t n = 0;
    for (uint32_t i = head_; i != kNone;) {
      const uint32_t next = slab_[i].next;
      if (pred(slab_[i].entry)) {
        Unlink(i);
        ++n;
      }
      i = next;
    }
    return n;
  }

  size_t size() const { return size_; }
  // Bytes the entries account for (what the cap is checked against).
  size_t bytes() const { return bytes_; }
  uint64_t evicted() const { return evicted_; }
  size_t max_bytes() const { return max_bytes_; }
  // Heap held, including the slab's and index's spare capacity.
  size_t MemoryBytes() const {
    return slab_.capacity() * sizeof(Node) + index_.capacity() * kIndexSlotRawBytes + bytes_ -
           size_ * (sizeof(Node) + kIndexSlotBytes);
  }

  // What one entry costs: its slab node, its index slot (at the table's
  // maximum load of 7/8) and the heap its strings and seat list use.
  static size_t EntryBytes(const Entry& e) {
    size_t b = sizeof(Node) + kIndexSlotBytes;
    if (e.holder.capacity() > kSsoCapacity) b += e.holder.capacity() + 1;
    if (e.seats.capacity() > 4) b += e.seats.capacity() * sizeof(SeatKey);
    return b;
  }

 private:
  static constexpr uint32_t kNone = ~0u;
  // One slot of the index (key, value, control byte), and per entry at the
  // table's maximum load of 7/8.
  static constexpr size_t kIndexSlotRawBytes = sizeof(uint64_t) + sizeof(uint32_t) + 1;
  static constexpr size_t kIndexSlotBytes = kIndexSlotRawBytes * 8 / 7 + 1;
  static inline const size_t kSsoCapacity = std::string().capacity();
  struct Node {
    Entry entry;
    uint32_t prev = kNone, next = kNone;
    bool used = false;
  };

  void Unlink(uint32_t i) {
    Node& n = slab_[i];
    if (n.prev != kNone) slab_[n.prev].next = n.next;
    if (n.next != kNone) slab_[n.next].prev = n.prev;
    if (head_ == i) head_ = n.next;
    if (tail_ == i) tail_ = n.prev;
    bytes_ -= EntryBytes(n.entry);
    --size_;
    index_.erase(n.entry.hold_id);
    n.entry = Entry{};  // frees the holder's and seats' heap now
    n.used = false;
    n.prev = kNone;
    n.next = free_;
    free_ = i;
  }

  size_t max_bytes_;
  std::vector<Node> slab_;
  absl::flat_hash_map<uint64_t, uint32_t> index_;  // hold id -> slab index
  uint32_t head_ = kNone, tail_ = kNone;           // oldest, newest
  uint32_t free_ = kNone;                          // free slab nodes, linked by `next`
  size_t size_ = 0;
  size_t bytes_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_LAPSED_HOLDS_H_
