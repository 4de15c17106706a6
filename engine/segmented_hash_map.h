// SegmentedHashMap: a hash map in kSegments independent tables, chosen by the
// key's hash, so that growing it never stops the thread for long.
//
// Why: absl::flat_hash_map grows by rehashing every entry in one step (and
// rehashes in place, just as long, when erased slots fill it). The engine's
// per-sale tables reach millions of entries within the idempotency
// retention, and each such step stalled a shard for tens to hundreds of
// milliseconds (docs/benchmarks.md). Here each segment grows on its own: a
// step moves about 1/kSegments of the entries, and since the segments fill
// at about the same rate, their steps fall on different inserts.
//
// Lookups take a key or anything Hash and Eq accept for it (transparent
// functors allow heterogeneous lookup, as with StringMap). The cost over one
// table is a second use of the hash per call and kSegments empty tables.
//
// Owns its entries. Not thread-safe: one thread at a time.
#ifndef SEATLOCK_ENGINE_SEGMENTED_HASH_MAP_H_
#define SEATLOCK_ENGINE_SEGMENTED_HASH_MAP_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"

namespace seatlock {

template <typename K, typename V, typename Hash = absl::Hash<K>, typename Eq = std::equal_to<K>>
class SegmentedHashMap {
 public:
  static constexpr size_t kSegments = 64;
  using Table = absl::flat_hash_map<K, V, Hash, Eq>;

  template <typename Q>
  V* Find(const Q& key) {
    Table& t = segments_[SegmentOf(key)];
    auto it = t.find(key);
    return it == t.end() ? nullptr : &it->second;
  }
  template <typename Q>
  const V* Find(const Q& key) const {
    const Table& t = segments_[SegmentOf(key)];
    auto it = t.find(key);
    return it == t.end() ? nullptr : &it->second;
  }
  template <typename Q>
  bool contains(const Q& key) const {
    return segments_[SegmentOf(key)].contains(key);
  }
  // Adds (key, value) unless `key` is there; returns whether it was added.
  bool Emplace(K key, V value) {
    Table& t = segments_[SegmentOf(key)];
    return t.try_emplace(std::move(key), std::move(value)).second;
  }
  // Removes `key`; returns whether it was there.
  template <typename Q>
  bool Erase(const Q& key) {
    return segments_[SegmentOf(key)].erase(key) > 0;
  }
  // Calls f(key, value) for every entry, in no particular order. `f` may
  // change the value, not the map.
  template <typename F>
  void ForEach(F&& f) {
    for (Table& t : segments_) {
      for (auto& [k, v] : t) f(k, v);
    }
  }
  size_t size() const {
    size_t n = 0;
    for (const Table& t : segments_) n += t.size();
    return n;
  }
  bool empty() const { return size() == 0; }
  // Slots allocated over all segments.
  size_t capacity() const {
    size_t n = 0;
    for (const Table& t : segments_) n += t.capacity();
    return n;
  }
  // The largest segment, for tests: how big one growth step can be.
  size_t largest_segment() const {
    size_t n = 0;
    for (const Table& t : segments_) n = std::max(n, t.size());
    return n;
  }

 private:
  // The hash's top bits after a multiply: the table inside a segment indexes
  // by the hash's low bits, so the two choices stay independent.
  template <typename Q>
  size_t SegmentOf(const Q& key) const {
    const uint64_t h = static_cast<uint64_t>(Hash{}(key)) * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h >> 58);  // 64 - log2(kSegments)
  }
  static_assert(kSegments == 64, "SegmentOf takes the top 6 bits");

  std::array<Table, kSegments> segments_;
};

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_SEGMENTED_HASH_MAP_H_
