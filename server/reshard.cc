#include "server/reshard.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "persistence/file_util.h"
#include "persistence/wal_log.h"
#include "server/log.h"
#include "server/snapshotter.h"
#include "server/wal_codec.h"

namespace seatlock::reshard {
namespace {

namespace fs = std::filesystem;

std::string ShardDir(const std::string& base, uint32_t i) {
  return absl::StrCat(base, "/shard-", i);
}

// Replays the records of `bytes` (the file `path`); the i-th record has LSN
// first_lsn + i, and records with LSN < skip_below are skipped (a snapshot
// holds them). Snapshots pass first_lsn = skip_below = 0.
absl::Status ReplayBytes(const std::string& path, const std::string& bytes, uint64_t first_lsn,
                         uint64_t skip_below,
                         const std::function<absl::Status(const wal::Record&)>& apply) {
  wal::RecordReader reader(bytes);
  wal::Record rec;
  wal::RecordReader::Result r;
  for (uint64_t lsn = first_lsn; (r = reader.Next(&rec)) == wal::RecordReader::Result::kRecord;
       ++lsn) {
    if (lsn < skip_below) continue;
    if (absl::Status st = apply(rec); !st.ok()) {
      return absl::DataLossError(absl::StrCat(path, " at offset ", rec.offset, ": ", st.message()));
    }
  }
  if (r != wal::RecordReader::Result::kEof) {
    return absl::DataLossError(absl::StrCat(path, " is damaged at offset ", reader.bad_offset()));
  }
  return absl::OkStatus();
}

constexpr char kMarker[] = "RESHARD";

// The RESHARD marker: "<old shards> <new shards> <seed>\n".
struct Marker {
  uint32_t old_shards = 0;
  Layout to;
};

std::string MarkerText(const Marker& m) {
  return absl::StrCat(m.old_shards, " ", m.to.shards, " ", m.to.seed, "\n");
}

absl::Status ParseMarker(const std::string& path, const std::string& text, Marker* m) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(text, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &m->old_shards) ||
      !absl::SimpleAtoi(parts[1], &m->to.shards) || !absl::SimpleAtoi(parts[2], &m->to.seed) ||
      m->old_shards == 0 || m->to.shards == 0) {
    return absl::DataLossError(
        absl::StrCat(path, " is damaged (expected \"<old shards> <new shards> <seed>\", found \"",
                     absl::CEscape(text), "\"); a reshard was interrupted and cannot be finished"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<Layout>> ReadLayout(const std::string& data_dir) {
  const std::string path = data_dir + "/SHARDS";
  std::string text;
  if (absl::Status st = files::ReadFile(path, &text); !st.ok()) {
    if (absl::IsNotFound(st)) return std::optional<Layout>();
    return st;
  }
  Layout l;
  bool ok = true;
  for (absl::string_view part : absl::StrSplit(text, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&part, "shards=")) ok = ok && absl::SimpleAtoi(part, &l.shards);
    if (absl::ConsumePrefix(&part, "seed=")) ok = ok && absl::SimpleAtoi(part, &l.seed);
  }
  if (!ok || l.shards == 0) {
    return absl::DataLossError(absl::StrCat(
        path, " is damaged (expected \"shards=N seed=S\", found \"", absl::CEscape(text), "\")"));
  }
  return std::optional<Layout>(l);
}

absl::Status WriteLayout(const std::string& data_dir, const Layout& layout) {
  return files::WriteFileAtomic(data_dir + "/SHARDS",
                                absl::StrCat("shards=", layout.shards, " seed=", layout.seed, "\n"),
                                /*sync=*/true);
}

std::string StagingDir(const std::string& data_dir) { return data_dir + "/reshard-staging"; }

absl::Status ResumeOrClean(const std::string& data_dir) {
  std::error_code ec;
  const std::string marker = absl::StrCat(data_dir, "/", kMarker);
  std::string text;
  if (absl::Status st = files::ReadFile(marker, &text); st.ok()) {
    Marker m;
    if (absl::Status parsed = ParseMarker(marker, text, &m); !parsed.ok()) return parsed;
    LogWarning("finishing a reshard from ", m.old_shards, " to ", m.to.shards,
               " shards that a crash interrupted");
    return Swap(data_dir, m.old_shards, m.to);
  } else if (!absl::IsNotFound(st)) {
    return st;
  }
  const std::string staging = StagingDir(data_dir);
  if (fs::exists(staging, ec)) {
    LogWarning("removing ", staging, " left by an interrupted reshard");
    fs::remove_all(staging, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot remove ", staging, ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status PrepareOldLogs(const std::string& data_dir, uint32_t old_shards, bool repair) {
  for (uint32_t k = 0; k < old_shards; ++k) {
    auto dir = wal::WalDir::Open(ShardDir(data_dir, k), wal::kDefaultSegmentBytes);
    if (!dir.ok()) return dir.status();
    auto report = dir->Recover(repair, [](uint64_t, const wal::Record&) {});
    if (!report.ok()) return report.status();
    if (report->dropped_bytes > 0) {
      LogWarning("write-ahead log ", ShardDir(data_dir, k), ": cut ", report->dropped_bytes,
                 " bytes at ", report->dropped_where);
    }
  }
  return absl::OkStatus();
}

absl::Status ReplayReadOnly(const std::string& dir,
                            const std::function<absl::Status(const wal::Record&)>& apply) {
  uint64_t snap_lsn = 0;
  const std::string snap = Snapshotter::Latest(dir, &snap_lsn);
  // Segments in LSN order (their names are 20-digit LSNs).
  std::vector<std::pair<uint64_t, std::string>> segments;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("wal-", 0) == 0 && name.size() == 4 + 20 + 4 &&
        name.compare(name.size() - 4, 4, ".log") == 0) {
      uint64_t first = 0;
      if (!absl::SimpleAtoi(absl::string_view(name).substr(4, 20), &first)) continue;
      segments.emplace_back(first, it->path().string());
    }
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  std::sort(segments.begin(), segments.end());
  const uint64_t first_lsn = segments.empty() ? 1 : std::max<uint64_t>(1, segments[0].first);
  if (absl::Status st = Snapshotter::CheckReachesLog(dir, snap, snap_lsn, first_lsn); !st.ok()) {
    return st;
  }
  std::string bytes;
  if (!snap.empty()) {
    if (absl::Status st = files::ReadFile(snap, &bytes); !st.ok()) return st;
    SnapshotTally tally;  // a snapshot cut at a record boundary is refused too
    absl::Status st = ReplayBytes(snap, bytes, 0, 0, [&](const wal::Record& rec) {
      tally.Note(rec);
      return apply(rec);
    });
    if (!st.ok()) return st;
    if (absl::Status whole = tally.Finish(snap, bytes.size()); !whole.ok()) return whole;
  }
  for (const auto& [first, seg] : segments) {
    if (absl::Status st = files::ReadFile(seg, &bytes); !st.ok()) return st;
    if (absl::Status st = ReplayBytes(seg, bytes, first, snap_lsn, apply); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status WriteSnapshotSync(const SeatEngine& engine, const Rooms& rooms, uint64_t fencing_mark,
                               const std::string& dir) {
  if (absl::Status st = files::CreateDirs(dir); !st.ok()) return st;
  std::string out;
  AppendStateHeader(engine, rooms, fencing_mark, &out);
  for (size_t i = 0; i < engine.booking_count(); ++i) AppendSale(engine.BookingAt(i), &out);
  return files::WriteFileAtomic(dir + "/snapshot-00000000000000000001.snap", out, /*sync=*/true);
}

absl::Status Swap(const std::string& data_dir, uint32_t old_shards, const Layout& to) {
  std::error_code ec;
  const std::string marker = absl::StrCat(data_dir, "/", kMarker);
  const std::string old_dir = data_dir + "/reshard-old";
  const std::string staging = StagingDir(data_dir);
  if (!fs::exists(marker, ec)) {
    // Durable (data and directory entry) before the first rename below.
    if (absl::Status st = files::WriteFileAtomic(marker, MarkerText({old_shards, to}), true);
        !st.ok()) {
      return st;
    }
  }
  // Each step is a rename that is skipped once done, so a crash anywhere
  // here is finished by the next start (ResumeOrClean).
  if (absl::Status st = files::CreateDirs(old_dir); !st.ok()) return st;
  for (uint32_t k = 0; k < old_shards; ++k) {
    if (fs::exists(ShardDir(data_dir, k), ec) && !fs::exists(ShardDir(old_dir, k), ec)) {
      if (absl::Status st = files::RenameFile(ShardDir(data_dir, k), ShardDir(old_dir, k));
          !st.ok()) {
        return absl::UnavailableError(
            absl::StrCat("reshard: moving shard-", k, ": ", st.message()));
      }
    }
  }
  for (uint32_t i = 0; i < to.shards; ++i) {
    if (fs::exists(ShardDir(staging, i), ec) && !fs::exists(ShardDir(data_dir, i), ec)) {
      if (absl::Status st = files::RenameFile(ShardDir(staging, i), ShardDir(data_dir, i));
          !st.ok()) {
        return absl::UnavailableError(
            absl::StrCat("reshard: installing shard-", i, ": ", st.message()));
      }
    }
  }
  // The renames touched three directories; all of them before SHARDS says
  // the new layout is in place.
  if (absl::Status st = files::SyncDir(old_dir); !st.ok()) return st;
  if (fs::exists(staging, ec)) {
    if (absl::Status st = files::SyncDir(staging); !st.ok()) return st;
  }
  if (absl::Status st = files::SyncDir(data_dir); !st.ok()) return st;
  if (absl::Status st = WriteLayout(data_dir, to); !st.ok()) return st;
  if (absl::Status st = files::RemoveFile(marker); !st.ok()) return st;
  if (absl::Status st = files::SyncDir(data_dir); !st.ok()) return st;
  // Leftovers only: the swap is complete and durable.
  for (const std::string& leftover : {old_dir, staging}) {
    fs::remove_all(leftover, ec);
    if (ec) LogWarning("reshard: could not remove ", leftover, ": ", ec.message());
  }
  LogInfo("resharded ", data_dir, " from ", old_shards, " to ", to.shards, " shards");
  return absl::OkStatus();
}

}  // namespace seatlock::reshard
