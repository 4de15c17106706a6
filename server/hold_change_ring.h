// HoldChangeRing: a bounded FIFO of one shard's hold changes (a hold set or
// gone), numbered. On a primary, the shard's HoldJournal pushes every change
// and each replication stream of that shard reads on with its own cursor
// (WalSender); on a replica, the WalReceiver pushes what the stream brings
// and the standby shard's ReplicaApplier reads it. Past `capacity` the
// oldest change is dropped, and a reader whose next change was dropped is
// told so: its holds may be wrong, so it forgets them all (safe: a lost hold
// only frees seats) and goes on from the oldest kept. docs/cluster.md,
// "Holds reach the replicas".
//
// Ownership: owned by the ReplicationHub. Thread-safe (one mutex per ring:
// one shard's thread and that shard's streams only).
#ifndef SEATLOCK_SERVER_HOLD_CHANGE_RING_H_
#define SEATLOCK_SERVER_HOLD_CHANGE_RING_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "engine/seat_engine.h"

namespace seatlock {

struct HoldChange {
  // The primary shard's last appended LSN when the change happened: a
  // replica applies it once its copy is applied up to there, so the change
  // meets the seat states it was made on.
  uint64_t after_lsn = 0;
  // MonoMs() on this node when the change was pushed: hold.remaining_ms
  // counts from then.
  int64_t at_ms = 0;
  bool gone = false;  // the hold ended; only hold.hold_id is set
  // On a replica: the stream missed changes before this one, so every hold
  // applied so far is forgotten first (nothing else is set).
  bool forget_all = false;
  HoldImage hold;
};

class HoldChangeRing {
 public:
  explicit HoldChangeRing(size_t capacity) : capacity_(capacity) {}

  void Push(HoldChange change);
  // Copies up to `max` changes, from the one numbered *cursor on (0: the
  // oldest kept), into *out, and moves *cursor past them. Returns false if
  // changes from *cursor on were dropped before this read (past capacity,
  // or Clear): the reader has missed some.
  bool Read(uint64_t* cursor, size_t max, std::vector<HoldChange>* out) const;
  // Drops every change; each reader is told at its next Read.
  void Clear();

  size_t size() const;
  uint64_t dropped() const;  // changes dropped past capacity, ever
  uint64_t missed() const;   // Reads that returned false, ever

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::deque<HoldChange> changes_;  // numbered first_ .. first_ + size - 1
  uint64_t first_ = 1;
  uint64_t dropped_ = 0;
  mutable uint64_t missed_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_HOLD_CHANGE_RING_H_
