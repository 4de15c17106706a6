#include "server/recovery.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "persistence/file_util.h"
#include "persistence/wal.pb.h"
#include "persistence/wal_record.h"
#include "server/commit_pipeline.h"
#include "server/log.h"
#include "server/reshard.h"
#include "server/snapshotter.h"
#include "server/wal_codec.h"

namespace seatlock {
namespace {

// Applies the records of snapshot file `snap`; counts them in *records.
// `log_first_lsn` (where the log on disk starts) says whether the log alone
// could replace the snapshot, for the operator's message.
absl::Status ReplaySnapshot(const std::string& snap, uint64_t log_first_lsn, SeatEngine& engine,
                            Rooms& rooms, uint64_t* fencing_seen, uint64_t* records) {
  const std::string remedy =
      log_first_lsn <= 1
          ? "; the log still starts at LSN 1, so moving the snapshot out of the way recovers "
            "from the log alone"
          : absl::StrCat("; the log starts at LSN ", log_first_lsn,
                         ", so the records before it are only in this snapshot: restore it "
                         "from a backup (docs/wal.md, \"Recovery\")");
  std::string bytes;
  if (absl::Status st = files::ReadFile(snap, &bytes); !st.ok()) {
    return absl::DataLossError(
        absl::StrCat("cannot read snapshot ", snap, ": ", st.message(), remedy));
  }
  wal::RecordReader reader(bytes);
  wal::Record rec;
  wal::RecordReader::Result r;
  SnapshotTally tally;  // the header says how much follows it
  while ((r = reader.Next(&rec)) == wal::RecordReader::Result::kRecord) {
    if (absl::Status st = ApplyRecord(engine, rooms, rec, fencing_seen); !st.ok()) {
      return absl::DataLossError(
          absl::StrCat(snap, " at offset ", rec.offset, ": ", st.message(), remedy));
    }
    tally.Note(rec);
    ++*records;
  }
  if (r != wal::RecordReader::Result::kEof) {
    return absl::DataLossError(
        absl::StrCat("snapshot ", snap, " is damaged (",
                     r == wal::RecordReader::Result::kTruncated ? "truncated" : "corrupt",
                     ") at offset ", reader.bad_offset(), remedy));
  }
  if (absl::Status st = tally.Finish(snap, bytes.size()); !st.ok()) {
    return absl::DataLossError(absl::StrCat(st.message(), remedy));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReplaySnapshotFile(const std::string& path, SeatEngine& engine, Rooms& rooms,
                                uint64_t* fencing_seen) {
  uint64_t records = 0;
  return ReplaySnapshot(path, /*log_first_lsn=*/0, engine, rooms, fencing_seen, &records);
}

absl::StatusOr<RecoveredShard> RecoverShard(const ServerConfig& config, uint32_t index,
                                            SeatEngine& engine, Rooms& rooms) {
  const std::string dir = absl::StrCat(config.data_dir, "/shard-", index);
  auto wal_dir = wal::WalDir::Open(dir, config.wal_segment_bytes);
  if (!wal_dir.ok()) return wal_dir.status();
  uint64_t fencing_seen = 0;
  // The newest snapshot first, then the log from the snapshot's LSN on:
  // records before it that are still in a kept segment are already in the
  // snapshot and are skipped. The snapshot must reach the log's first LSN.
  uint64_t snap_lsn = 0;
  const std::string snap = Snapshotter::Latest(dir, &snap_lsn);
  auto log_first_lsn = wal_dir->FirstLsn();
  if (!log_first_lsn.ok()) return log_first_lsn.status();
  if (absl::Status st = Snapshotter::CheckReachesLog(dir, snap, snap_lsn, *log_first_lsn);
      !st.ok()) {
    return st;
  }
  uint64_t snap_records = 0;
  if (!snap.empty()) {
    absl::Status st =
        ReplaySnapshot(snap, *log_first_lsn, engine, rooms, &fencing_seen, &snap_records);
    if (!st.ok()) return st;
  }
  absl::Status apply_error;
  auto apply = [&](uint64_t lsn, const wal::Record& rec) {
    if (!apply_error.ok() || lsn < snap_lsn) return;
    if (absl::Status st = ApplyRecord(engine, rooms, rec, &fencing_seen); !st.ok()) {
      apply_error = absl::DataLossError(
          absl::StrCat(dir, ": record ", lsn, " at offset ", rec.offset, ": ", st.message()));
    }
  };
  const int64_t t0 = SystemClock::Get()->NowMs();
  auto report = wal_dir->Recover(config.wal_repair, apply);
  if (!report.ok()) return report.status();
  if (!apply_error.ok()) return apply_error;
  rooms.FinishRestore();
  if (report->dropped_bytes > 0) {
    LogWarning("write-ahead log ", dir, ": cut ", report->dropped_bytes, " bytes at ",
               report->dropped_where,
               config.wal_repair ? " (--wal-repair)" : " (torn tail from a crash)");
  }
  const EngineStats stats = engine.Stats();
  LogInfo("recovered ", dir, ": ",
          snap.empty() ? std::string("no snapshot")
                       : absl::StrCat(snap_records, " records from ", snap),
          ", then ", report->records, " records in ", report->segments, " segments (",
          report->bytes, " bytes), ", stats.events, " events, ", stats.bookings, " bookings, in ",
          SystemClock::Get()->NowMs() - t0, " ms");
  // Reserve a block of fencing tokens above anything granted before the
  // restart, durably, before any hold is granted.
  RecoveredShard out;
  out.fencing_reserved = std::max(fencing_seen, engine.fencing_high_water()) + kFencingBlock;
  wal::Fencing f;
  f.set_high_water(out.fencing_reserved);
  auto lsn = wal_dir->AppendSync(wal::RecordType::kFencing, f.SerializeAsString(), config.fsync);
  if (!lsn.ok()) return absl::DataLossError(absl::StrCat(dir, ": ", lsn.status().message()));
  if (config.epoch > 0) {
    // Where this primary's part of the log begins: the copy a replica takes
    // from here on is this epoch's.
    wal::Epoch e;
    e.set_epoch(config.epoch);
    e.set_node_id(config.node_id);
    e.set_at_ms(SystemClock::Get()->NowMs());
    lsn = wal_dir->AppendSync(wal::RecordType::kEpoch, e.SerializeAsString(), config.fsync);
    if (!lsn.ok()) return absl::DataLossError(absl::StrCat(dir, ": ", lsn.status().message()));
  }
  out.next_lsn = wal_dir->next_lsn();
  out.dir = std::make_unique<wal::WalDir>(std::move(*wal_dir));
  return out;
}

absl::Status StageReshard(const ServerConfig& config, uint32_t index, uint32_t old_shards,
                          SeatEngine& engine, Rooms& rooms) {
  // Every old shard's sales, keeping the sections this shard now owns (the
  // engine skips the others); then this shard's state as a fresh snapshot.
  // Each old shard is replayed into an engine of its own first, and only its
  // final state is merged: its DELETE_EVENT records must delete that shard's
  // part of the event, not what other old shards' logs (replayed earlier,
  // not interleaved in time) hold for an event defined again since.
  const int64_t t0 = SystemClock::Get()->NowMs();
  uint64_t fencing_seen = 0;
  for (uint32_t k = 0; k < old_shards; ++k) {
    const std::string dir = absl::StrCat(config.data_dir, "/shard-", k);
    SeatEngine::Options options = engine.options();
    options.sink = nullptr;
    SeatEngine part(std::move(options));
    Rooms part_rooms(rooms.shard(), rooms.shards(), rooms.hash_seed(), rooms.clock());
    uint64_t part_fencing = 0;
    absl::Status st = reshard::ReplayReadOnly(dir, [&](const wal::Record& rec) {
      return ApplyRecord(part, part_rooms, rec, &part_fencing);
    });
    if (!st.ok()) return st;
    part_rooms.FinishRestore();
    std::string state;
    AppendStateHeader(part, part_rooms, std::max(part_fencing, part.fencing_high_water()), &state);
    for (size_t i = 0; i < part.booking_count(); ++i) AppendSale(part.BookingAt(i), &state);
    wal::RecordReader reader(state);
    wal::Record rec;
    while (reader.Next(&rec) == wal::RecordReader::Result::kRecord) {
      if (absl::Status merged = ApplyRecord(engine, rooms, rec, &fencing_seen); !merged.ok()) {
        return absl::DataLossError(absl::StrCat("resharding: merging ", dir,
                                                " with the shards before it: ", merged.message()));
      }
    }
  }
  const std::string staged = absl::StrCat(reshard::StagingDir(config.data_dir), "/shard-", index);
  rooms.FinishRestore();
  absl::Status st = reshard::WriteSnapshotSync(
      engine, rooms, std::max(fencing_seen, engine.fencing_high_water()), staged);
  if (st.ok()) {
    LogInfo("resharding: staged ", engine.Stats().bookings, " bookings from ", old_shards,
            " old shards in ", SystemClock::Get()->NowMs() - t0, " ms");
  }
  return st;
}

}  // namespace seatlock
