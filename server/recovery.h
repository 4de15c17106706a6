// Recovery: how a shard rebuilds its state before it serves. Recover()
// replays the newest snapshot and then the whole log into the shard's
// engine and rooms, cuts a torn tail, and durably reserves the next block of
// fencing tokens before any hold can be granted. StageReshard() is the
// shard's part of a start with another shard count (reshard.h): it replays
// every old shard and writes what this shard now owns as a fresh snapshot.
// docs/wal.md describes both.
//
// Free functions, called on the shard's own thread before its loop runs;
// they touch only the engine and rooms they are given and the shard's files.
#ifndef SEATLOCK_SERVER_RECOVERY_H_
#define SEATLOCK_SERVER_RECOVERY_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "engine/seat_engine.h"
#include "persistence/wal_log.h"
#include "server/config.h"
#include "server/rooms.h"

namespace seatlock {

struct RecoveredShard {
  std::unique_ptr<wal::WalDir> dir;  // open for appending after the last record
  uint64_t next_lsn = 1;             // the LSN the next record gets
  uint64_t fencing_reserved = 0;     // tokens up to here may be granted
};

// Replays <data_dir>/shard-<index> into `engine` and `rooms`.
absl::StatusOr<RecoveredShard> RecoverShard(const ServerConfig& config, uint32_t index,
                                            SeatEngine& engine, Rooms& rooms);

// Applies every record of snapshot file `path` to `engine` and `rooms`
// (a replica's copy: ReplicaApplier). Raises *fencing_seen to the marks seen.
absl::Status ReplaySnapshotFile(const std::string& path, SeatEngine& engine, Rooms& rooms,
                                uint64_t* fencing_seen);

// Replays shard-0..old_shards-1 (read-only; the engine keeps only the
// sections this shard owns) and writes the result as the staged snapshot of
// shard `index` (reshard::StagingDir).
absl::Status StageReshard(const ServerConfig& config, uint32_t index, uint32_t old_shards,
                          SeatEngine& engine, Rooms& rooms);

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_RECOVERY_H_
