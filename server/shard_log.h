// ShardLog: one shard's write-ahead log in use: it buffers records appended
// during a loop pass, writes them as one group (one write + one fdatasync,
// submitted on the shard's event loop), and calls each waiter once its record
// is durable. Every confirm that arrives while one group is being synced
// shares the next group (group commit). A failed write or fsync is sticky:
// every waiter, then and later, gets the error, and the shard stops
// acknowledging durable operations (docs/wal.md).
//
// In a replica group (docs/cluster.md) a record is "durable" only once it is
// on this node's disk AND, in strict mode, acknowledged by the synchronous
// replica (ReplicationHub::committed_limit): durable_lsn() and every waiter
// follow that, and a waiter the replica has not acknowledged within the
// sync timeout gets UNAVAILABLE (not sticky: the record stays and may be
// acknowledged later).
//
// Owns its WalDir and buffers. Shard-thread only.
#ifndef SEATLOCK_SERVER_SHARD_LOG_H_
#define SEATLOCK_SERVER_SHARD_LOG_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "common/histogram.h"
#include "persistence/wal_log.h"
#include "server/event_loop.h"
#include "server/replication_hub.h"

namespace google::protobuf {
class MessageLite;
}

namespace seatlock {

enum class FsyncMode { kAlways, kNone };

class ShardLog {
 public:
  using Waiter = std::function<void(const absl::Status&)>;

  ShardLog(wal::WalDir dir, uint64_t next_lsn, EventLoop* loop, FsyncMode mode);

  // Buffers a record; returns its LSN. Written at the next Flush().
  uint64_t Append(wal::RecordType type, const google::protobuf::MessageLite& payload);
  // Runs `done` once every record up to `lsn` is durable (at once if it is
  // already), or with the log's error if it failed.
  void WhenDurable(uint64_t lsn, Waiter done);
  // Starts writing the buffered records if no group is in flight. Called at
  // the end of every loop pass.
  void Flush();
  // Replication: publish local durability to `hub` as shard `shard`, and
  // count a record durable only within hub->committed_limit(shard). Waiters
  // older than `sync_timeout_ms` get UNAVAILABLE.
  void SetReplication(ReplicationHub* hub, uint32_t shard, int64_t sync_timeout_ms);
  // Releases the waiters the replica's acks made durable and times out the
  // ones waiting too long for them. Every loop pass.
  void Poll();

  bool failed() const { return !status_.ok(); }
  const absl::Status& status() const { return status_; }
  // Durable here and, in a replica group, acknowledged as the ack rule asks.
  uint64_t durable_lsn() const {
    return hub_ == nullptr ? durable_lsn_ : std::min(durable_lsn_, hub_->committed_limit(shard_));
  }
  // On this node's disk (what a WalSender may ship).
  uint64_t local_durable_lsn() const { return durable_lsn_; }
  uint64_t last_lsn() const { return next_lsn_ - 1; }
  bool idle() const { return !in_flight_ && buffer_.empty(); }
  uint64_t groups_written() const { return groups_; }
  size_t waiting() const { return waiters_.size(); }
  // Waiters failed with UNAVAILABLE because no synchronous replica acked.
  uint64_t sync_timeouts() const { return sync_timeouts_; }
  // Bytes appended since the last snapshot was taken (see MarkSnapshot).
  uint64_t bytes_since_snapshot() const { return bytes_since_snapshot_; }
  void MarkSnapshotStarted() { bytes_since_snapshot_ = 0; }
  // Deletes the segments a snapshot covering LSNs < `lsn` makes redundant.
  absl::Status DropBefore(uint64_t lsn) { return dir_.DropBefore(lsn); }
  // fdatasync (write + sync) latency per group, in nanoseconds.
  const LatencyHistogram& sync_latency() const { return sync_latency_; }

 private:
  void OnWritten(int result);
  void Fail(absl::Status status);
  void ReleaseDurable();

  struct Waiting {
    uint64_t lsn;
    int64_t since_ms;  // MonoMs() when it began to wait
    Waiter done;
  };

  wal::WalDir dir_;
  EventLoop* loop_;
  FsyncMode mode_;
  uint64_t next_lsn_;
  uint64_t durable_lsn_;
  std::string buffer_;   // records appended since the last submit
  std::string encoded_;  // Append's payload scratch, kept between calls
  uint64_t buffer_last_lsn_ = 0;
  std::string writing_;  // the group being written
  uint64_t writing_last_lsn_ = 0;
  bool in_flight_ = false;
  uint64_t write_started_ns_ = 0;
  std::deque<Waiting> waiters_;  // in arrival order (so by since_ms)
  ReplicationHub* hub_ = nullptr;
  uint32_t shard_ = 0;
  int64_t sync_timeout_ms_ = 0;
  uint64_t sync_timeouts_ = 0;
  absl::Status status_;
  uint64_t groups_ = 0;
  uint64_t bytes_since_snapshot_ = 0;
  LatencyHistogram sync_latency_;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_SHARD_LOG_H_
