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
// Growth never stalls the shard: the slab grows a chunk of kChunk nodes at a
// time and never moves a node, and the index is a B-tree, which grows a node
// at a time. (A vector slab and a hash index moved or rehashed every entry
// at each doubling: with a 1 h retention the table grows for an hour, and at
// 100 K holds/s those stalls took hold1's open-loop p99.9 from 8-13 ms to
// 58-76 ms; docs/benchmarks.md, "Where the tail came from".)
//
// `EventT` is the engine's private event type; the table only stores the
// pointer and never dereferences it. Owned by one SeatEngine; same thread.
#ifndef SEATLOCK_ENGINE_LAPSED_HOLDS_H_
#define SEATLOCK_ENGINE_LAPSED_HOLDS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
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
      free_ = At(i).next;
    } else {
      if (slab_size_ == chunks_.size() * kChunk) {
        chunks_.push_back(std::make_unique<Node[]>(kChunk));
      }
      i = slab_size_++;
    }
    Node& n = At(i);
    n.entry = std::move(e);
    n.prev = tail_;
    n.next = kNone;
    if (tail_ != kNone) At(tail_).next = i;
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

  // nullptr if `hold_id` is not remembered. Valid until that entry is erased,
  // evicted or purged (growth never moves an entry).
  Entry* Find(uint64_t hold_id) {
    auto it = index_.find(hold_id);
    return it == index_.end() ? nullptr : &At(it->second).entry;
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
    while (head_ != kNone && At(head_).entry.expires_ms <= cutoff_ms) {
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
      const uint32_t next = At(i).next;
      if (pred(At(i).entry)) {
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
  // Heap held, including the slab's spare nodes (its last chunk, and the
  // nodes freed by eviction and purge, which are reused).
  size_t MemoryBytes() const {
    return chunks_.size() * kChunk * sizeof(Node) + bytes_ - size_ * sizeof(Node);
  }

  // What one entry costs: its slab node, its share of the index (an
  // estimate: a B-tree entry with its nodes' slack) and the heap its strings
  // and seat list use.
  static size_t EntryBytes(const Entry& e) {
    size_t b = sizeof(Node) + kIndexEntryBytes;
    if (e.holder.capacity() > kSsoCapacity) b += e.holder.capacity() + 1;
    if (e.seats.capacity() > 4) b += e.seats.capacity() * sizeof(SeatKey);
    return b;
  }

 private:
  static constexpr uint32_t kNone = ~0u;
  // Slab nodes per chunk: a new chunk is one allocation of about 128 KiB.
  static constexpr uint32_t kChunk = 1024;
  // One index entry: a 16-byte key and value in a B-tree node that is at
  // least half full, plus the inner nodes.
  static constexpr size_t kIndexEntryBytes = 40;
  static inline const size_t kSsoCapacity = std::string().capacity();
  struct Node {
    Entry entry;
    uint32_t prev = kNone, next = kNone;
  };

  Node& At(uint32_t i) { return chunks_[i / kChunk][i % kChunk]; }
  const Node& At(uint32_t i) const { return chunks_[i / kChunk][i % kChunk]; }

  void Unlink(uint32_t i) {
    Node& n = At(i);
    if (n.prev != kNone) At(n.prev).next = n.next;
    if (n.next != kNone) At(n.next).prev = n.prev;
    if (head_ == i) head_ = n.next;
    if (tail_ == i) tail_ = n.prev;
    bytes_ -= EntryBytes(n.entry);
    --size_;
    index_.erase(n.entry.hold_id);
    // Frees the holder's and seats' heap now (assigning an empty Entry would
    // keep a long holder's buffer for the node's next use).
    n.entry.~Entry();
    new (&n.entry) Entry();
    n.prev = kNone;
    n.next = free_;
    free_ = i;
  }

  size_t max_bytes_;
  std::vector<std::unique_ptr<Node[]>> chunks_;  // the slab; node i is in chunk i / kChunk
  uint32_t slab_size_ = 0;                       // nodes ever handed out
  absl::btree_map<uint64_t, uint32_t> index_;    // hold id -> slab index
  uint32_t head_ = kNone, tail_ = kNone;         // oldest, newest
  uint32_t free_ = kNone;                        // free slab nodes, linked by `next`
  size_t size_ = 0;
  size_t bytes_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_LAPSED_HOLDS_H_
