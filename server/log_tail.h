// LogTail: reads one shard's write-ahead log back from its segment files
// (docs/wal.md), whole records at a time, following rolls to the next
// segment. It reads only up to an LSN the caller knows is durable, so every
// record it reads is complete on disk; it never writes or removes a file.
// WalSender reads a primary's log with it to stream it; ReplicaApplier reads
// a replica's copy with it to apply it.
//
// NewestSnapshotName: the newest complete snapshot of a shard directory,
// read-only (unlike Snapshotter::Latest, it never removes a *.tmp, which may
// be a snapshot being written).
//
// Ownership: a LogTail owns the descriptor of the segment it reads. It is
// not thread-safe: one thread uses it.
#ifndef SEATLOCK_SERVER_LOG_TAIL_H_
#define SEATLOCK_SERVER_LOG_TAIL_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace seatlock {

// About how much one Read returns (and WalSender's snapshot chunk).
inline constexpr size_t kLogTailChunkBytes = 1 << 20;

// "snapshot-<20 digits>.snap" of the newest snapshot in `dir` (its LSN in
// *lsn), or "".
std::string NewestSnapshotName(const std::string& dir, uint64_t* lsn);

class LogTail {
 public:
  explicit LogTail(std::string dir) : dir_(std::move(dir)) {}
  ~LogTail();
  LogTail(const LogTail&) = delete;
  LogTail& operator=(const LogTail&) = delete;

  // Positions the tail at `lsn`: opens the segment holding it and skips the
  // records before it. NotFound when no segment holds it.
  absl::Status Seek(uint64_t lsn);
  // The LSN of the next record Read returns (0 before Seek).
  uint64_t next_lsn() const { return next_lsn_; }
  // Appends whole records with LSN in [next_lsn, limit] to *out (about
  // kLogTailChunkBytes) and counts them in *count. `limit` must be durable.
  absl::Status Read(uint64_t limit, std::string* out, uint32_t* count);

 private:
  absl::Status Open(uint64_t first);

  const std::string dir_;
  std::string path_;
  int fd_ = -1;
  uint64_t offset_ = 0;
  uint64_t next_lsn_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_LOG_TAIL_H_
