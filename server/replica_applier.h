// ReplicaApplier: keeps a replica's standby shard up to date with its copy
// (docs/cluster.md, "Reads on replicas"). The shard's WalReceiver writes the
// primary's snapshot and records into <data-dir>/shard-<i>/ and publishes
// the LSN it has fsynced (ReplicationHub::copy_durable); the applier reads
// the copy back from those files (LogTail) and applies it to the standby
// shard's engine and rooms with the recovery code (ApplyRecord), so the
// replica can answer GET_SEATS and GET_AVAILABILITY. What it shows is the
// sales, refunds and definitions the replica has fsynced, a little behind
// the primary. It also applies the primary's hold changes the stream brought
// (ReplicationHub::copy_holds), each once the copy is applied up to the LSN
// the primary had appended when the hold changed, so a hold meets the seat
// states it was granted on: the standby shows the primary's live holds, and
// a promoted node takes them over (Server::LiveHolds).
//
// A copy from scratch starts a new standby server, hence a new applier: one
// applier only ever sees one copy grow. The standby shard snapshots the
// applied state every --snapshot_bytes of log, and the receiver then drops
// the segments the snapshot covers (ReplicationHub::SetCopyDropBefore), so a
// replica's disk is bounded like a primary's.
//
// Ownership: owned by its standby Shard; touched only by the shard's thread.
// It never writes a file.
#ifndef SEATLOCK_SERVER_REPLICA_APPLIER_H_
#define SEATLOCK_SERVER_REPLICA_APPLIER_H_

#include <cstdint>
#include <deque>
#include <string>

#include "absl/status/status.h"
#include "engine/seat_engine.h"
#include "server/hold_change_ring.h"
#include "server/log_tail.h"
#include "server/rooms.h"

namespace seatlock {

class ReplicaApplier {
 public:
  explicit ReplicaApplier(std::string dir) : dir_(dir), tail_(std::move(dir)) {}

  // Applies the copy up to `durable` (the receiver's fsynced LSN), about a
  // chunk per call so the shard's loop stays responsive, and the hold
  // changes of `holds` (may be null) whose turn has come. Returns whether
  // more is left to apply.
  bool Poll(uint64_t durable, SeatEngine& engine, Rooms& rooms, HoldChangeRing* holds = nullptr);

  // Every record up to here is applied (0: nothing yet).
  uint64_t applied_lsn() const { return applied_; }
  // The highest fencing mark applied: a snapshot of the copy records it.
  uint64_t fencing_seen() const { return fencing_seen_; }
  // Log bytes applied since the last MarkSnapshotStarted: the standby shard
  // snapshots its copy after --snapshot_bytes, so the copy's log is bounded.
  uint64_t bytes_since_snapshot() const { return bytes_since_snapshot_; }
  void MarkSnapshotStarted() { bytes_since_snapshot_ = 0; }
  // Not ok once the copy could not be applied; the applier then stops, and
  // the shard answers reads UNAVAILABLE with this reason.
  const absl::Status& status() const { return status_; }

 private:
  const std::string dir_;
  LogTail tail_;
  bool started_ = false;    // the snapshot (if any) is applied
  uint64_t first_lsn_ = 1;  // where the log part of the copy starts
  uint64_t applied_ = 0;
  uint64_t fencing_seen_ = 0;
  uint64_t bytes_since_snapshot_ = 0;
  absl::Status status_;
  std::string buf_;

  // Hold changes taken from the ring, waiting for the copy to reach their
  // after_lsn (at most kMaxPendingHolds: the ring keeps the rest).
  static constexpr size_t kMaxPendingHolds = 4096;
  void TakeHolds(HoldChangeRing& ring, SeatEngine& engine);
  void ApplyDueHolds(SeatEngine& engine);
  bool HoldsDue() const { return !pending_.empty() && pending_.front().after_lsn <= applied_; }
  static void ForgetHolds(SeatEngine& engine);
  std::deque<HoldChange> pending_;
  uint64_t hold_cursor_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_REPLICA_APPLIER_H_
