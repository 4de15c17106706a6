// WalDir: one shard's log directory (<data-dir>/shard-<i>/): its segment
// files, opening the segment to append to, and recovery.
//
// Recovery (Recover) reads every segment in LSN order and hands each good
// record to a callback. A torn or corrupt tail of the LAST segment is cut off
// (the file is truncated to the last good record) and reported in
// RecoveryReport. Damage before that is an error naming the file and offset,
// unless `repair` is set: then the log is cut at the damage (the damaged
// segment is truncated there and every later segment is deleted), and the
// report says how many bytes were dropped.
//
// A WalDir is used by one thread at a time (recovery at start, then the
// shard thread). It owns the fd of the open segment. Its file operations go
// through the file layer (file_util.h).
#ifndef SEATLOCK_PERSISTENCE_WAL_LOG_H_
#define SEATLOCK_PERSISTENCE_WAL_LOG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "persistence/wal_record.h"

namespace seatlock::wal {

struct RecoveryReport {
  uint64_t records = 0;
  uint64_t segments = 0;
  uint64_t bytes = 0;          // bytes of good records replayed
  uint64_t dropped_bytes = 0;  // cut off (torn tail, or repair)
  std::string dropped_where;   // "file:offset" of the cut, when any
  uint64_t next_lsn = 0;       // LSN the next appended record gets
};

// "wal-<first LSN, 20 digits>.log", and its inverse (false: not a segment).
std::string SegmentName(uint64_t first_lsn);
bool ParseSegmentName(const std::string& name, uint64_t* first_lsn);

class WalDir {
 public:
  // `dir` is created if missing.
  static absl::StatusOr<WalDir> Open(const std::string& dir, uint64_t segment_bytes);
  WalDir(WalDir&&) noexcept;
  WalDir& operator=(WalDir&&) noexcept;
  ~WalDir();

  // Replays the log. Call once, before Append/roll. The callback gets each
  // record and its LSN (records are numbered from 1 in log order).
  absl::StatusOr<RecoveryReport> Recover(
      bool repair, const std::function<void(uint64_t lsn, const Record&)>& apply);

  // For a log with no segment yet (a replica's copy that starts after a
  // snapshot): opens a new segment whose first record gets `first_lsn`,
  // instead of Recover. FailedPrecondition if the directory has segments.
  absl::Status StartAt(uint64_t first_lsn);

  // The segment to append to: after Recover, the last segment (or a new one
  // if there is none, or if the last is at least segment_bytes long).
  int fd() const { return fd_; }
  uint64_t offset() const { return offset_; }  // append position in fd()
  // Call after `n` bytes were durably written at offset(); rolls to a new
  // segment (named for `next_lsn`) when the current one is full. The new
  // segment's directory entry is fsynced before this returns.
  absl::Status Advance(uint64_t n, uint64_t next_lsn);
  // The LSN the next appended record gets: RecoveryReport::next_lsn after
  // Recover, then the `next_lsn` of the latest Advance.
  uint64_t next_lsn() const { return next_lsn_; }

  // Appends one record synchronously, for use before the event loop runs
  // (the fencing record at startup): frames it (AppendRecord), pwrites it at
  // offset() (retrying short writes and EINTR), fdatasyncs if `sync`, then
  // Advance(size, lsn + 1), which may roll to a new segment. Returns the
  // record's LSN (next_lsn() before the call). An error is final for this
  // WalDir (do not append again): the record may be partly on disk, which a
  // later Recover cuts as a torn tail, or whole with the roll that followed
  // it failed.
  absl::StatusOr<uint64_t> AppendSync(RecordType type, std::string_view payload, bool sync);

  // Deletes every segment whose records all have LSN < `lsn` (after a
  // snapshot that covers them). Never deletes the open segment.
  absl::Status DropBefore(uint64_t lsn);

  const std::string& path() const { return dir_; }
  std::vector<std::string> SegmentPaths() const;  // in LSN order
  // The LSN the log on disk starts at: the first segment's name, or 1 when
  // there is no segment. Recovery checks that a snapshot reaches it.
  absl::StatusOr<uint64_t> FirstLsn() const;

 private:
  WalDir() = default;
  absl::Status OpenSegment(uint64_t first_lsn);

  std::string dir_;
  uint64_t segment_bytes_ = kDefaultSegmentBytes;
  int fd_ = -1;
  uint64_t offset_ = 0;
  uint64_t open_first_lsn_ = 0;
  uint64_t next_lsn_ = 0;
};

}  // namespace seatlock::wal

#endif  // SEATLOCK_PERSISTENCE_WAL_LOG_H_
