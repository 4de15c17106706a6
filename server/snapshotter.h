// Snapshotter: writes one shard's state to <shard dir>/snapshot-<lsn>.snap
// so that a restart replays the snapshot plus the log after it, and the log
// segments the snapshot covers can be deleted.
//
// It never stalls the shard: Start() captures the small parts (event
// layouts, refused-confirm records, the fencing mark, and how many sales
// exist), then each Step() encodes the next few thousand sales and writes
// them through the event loop, one write in flight at a time. The snapshot
// is fuzzy: sales made or cancelled while it is written are in the log after
// `lsn`, and replaying them over the snapshot is idempotent (docs/wal.md).
// The file is written as snapshot-<lsn>.tmp, fdatasync'ed, then renamed and
// the directory synced (through the file layer, persistence/file_util.h).
//
// Owned by its shard; shard-thread only. The engine passed to Start and
// Step must be the same and outlive the snapshot.
#ifndef SEATLOCK_SERVER_SNAPSHOTTER_H_
#define SEATLOCK_SERVER_SNAPSHOTTER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/seat_engine.h"
#include "server/event_loop.h"
#include "server/rooms.h"

namespace seatlock {

class Snapshotter {
 public:
  Snapshotter(std::string dir, EventLoop* loop) : dir_(std::move(dir)), loop_(loop) {}
  ~Snapshotter();

  bool active() const { return active_; }
  // True while a write is in flight (its completion wakes the loop).
  bool waiting_for_io() const { return in_flight_; }
  // Begins a snapshot of every record with LSN < `lsn`; `fencing_mark` is
  // the highest fencing token the shard may have handed out.
  // The waiting rooms are written whole, here.
  absl::Status Start(const SeatEngine& engine, const Rooms& rooms, uint64_t lsn,
                     uint64_t fencing_mark);
  // Does the next piece of work. Returns the covered LSN once the snapshot
  // file is complete and durably in place (renamed, and the directory
  // synced; the snapshotter is idle again), 0 otherwise. On failure
  // (including a failed directory sync after the rename) it logs, abandons
  // the snapshot, goes idle and returns 0, so nothing is dropped for it. A
  // DELETE_EVENT while sales are still being encoded renumbers them, so it
  // abandons the snapshot too (the next one starts over).
  uint64_t Step(const SeatEngine& engine);

  // The newest complete snapshot in `dir`, or "" (and removes *.tmp leftovers).
  static std::string Latest(const std::string& dir, uint64_t* lsn);

  // The continuity rule of recovery (docs/wal.md, "Recovery"): when the log
  // in `dir` starts at LSN `log_first_lsn` > 1, the records before it are
  // only in a snapshot, so the newest snapshot `snap` (covering LSN <
  // `snap_lsn`; "" for none) must reach it: snap_lsn >= log_first_lsn.
  // Otherwise a FailedPreconditionError that names the files, the missing
  // LSNs and what the operator can do.
  static absl::Status CheckReachesLog(const std::string& dir, const std::string& snap,
                                      uint64_t snap_lsn, uint64_t log_first_lsn);

 private:
  void Submit(bool final);
  void Abandon(const std::string& why);

  std::string dir_;
  EventLoop* loop_;
  bool active_ = false;
  int fd_ = -1;
  std::string tmp_path_;
  uint64_t lsn_ = 0;
  uint64_t offset_ = 0;
  size_t next_ = 0;         // next sale to encode
  size_t end_ = 0;          // sales that existed at Start
  uint64_t deletions_ = 0;  // engine.deletions() at Start: sale indices hold while equal
  std::string pending_;     // encoded, not yet written
  std::string writing_;     // being written
  bool in_flight_ = false;
  bool final_sent_ = false;
  bool complete_ = false;
  int64_t started_ms_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_SNAPSHOTTER_H_
