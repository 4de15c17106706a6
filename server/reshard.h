// Resharding: starting seatlockd with another --shards (or hash seed) than
// its data dir was written with. Sections move between shards, so every new
// shard replays every old shard's snapshot and log (keeping only the sections
// it now owns), writes its state as a snapshot into a staging dir, and then
// the main thread swaps the staged dirs in. A RESHARD marker makes the swap
// resumable after a crash (docs/wal.md, "Resharding").
//
// Free functions; each says which thread may call it.
#ifndef SEATLOCK_SERVER_RESHARD_H_
#define SEATLOCK_SERVER_RESHARD_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/seat_engine.h"
#include "persistence/wal_record.h"
#include "server/rooms.h"

namespace seatlock::reshard {

struct Layout {
  uint32_t shards = 0;
  uint64_t seed = 0;
  bool operator==(const Layout&) const = default;
};

// <data-dir>/SHARDS ("shards=N seed=S"), through the file layer
// (persistence/file_util.h). Any thread. ReadLayout gives nullopt when there
// is no SHARDS file (a new data dir) and an error when it cannot be read or
// parsed. WriteLayout replaces it atomically and durably.
absl::StatusOr<std::optional<Layout>> ReadLayout(const std::string& data_dir);
absl::Status WriteLayout(const std::string& data_dir, const Layout& layout);

std::string StagingDir(const std::string& data_dir);

// Main thread, before shards start: finishes a swap a crash interrupted, and
// removes a staging dir a crash left half-written.
absl::Status ResumeOrClean(const std::string& data_dir);
// Main thread: cuts torn tails of the old shards' logs (as a normal start
// would), so shards can then read them concurrently and read-only.
absl::Status PrepareOldLogs(const std::string& data_dir, uint32_t old_shards, bool repair);
// Any thread: replays one old shard dir read-only, snapshot first.
absl::Status ReplayReadOnly(const std::string& dir,
                            const std::function<absl::Status(const wal::Record&)>& apply);
// Shard thread: writes the engine's whole state, synchronously and
// fdatasync'ed, as <dir>/snapshot-<1>.snap (a fresh log starts at LSN 1).
absl::Status WriteSnapshotSync(const SeatEngine& engine, const Rooms& rooms, uint64_t fencing_mark,
                               const std::string& dir);
// Main thread, once every shard staged its snapshot: replaces
// shard-0..old-1 with the staged shard-0..new-1 and records the new layout.
absl::Status Swap(const std::string& data_dir, uint32_t old_shards, const Layout& to);

}  // namespace seatlock::reshard

#endif  // SEATLOCK_SERVER_RESHARD_H_
