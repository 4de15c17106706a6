#include "server/snapshotter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/str_error.h"
#include "persistence/file_util.h"
#include "persistence/wal_record.h"
#include "server/log.h"
#include "server/wal_codec.h"

namespace seatlock {
namespace {

constexpr size_t kSalesPerStep = 4096;

std::string SnapName(const std::string& dir, uint64_t lsn, const char* ext) {
  char name[64];
  std::snprintf(name, sizeof(name), "snapshot-%020" PRIu64 ".%s", lsn, ext);
  return dir + "/" + name;
}

// Snapshot files in `dir`: (lsn, path), for names snapshot-<20 digits>.<ext>.
std::vector<std::pair<uint64_t, std::string>> List(const std::string& dir, const char* ext) {
  std::vector<std::pair<uint64_t, std::string>> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  // readdir is safe here: this DIR stream is used by this thread only.
  while (dirent* e = readdir(d)) {  // NOLINT(concurrency-mt-unsafe)
    const std::string name = e->d_name;
    const std::string suffix = std::string(".") + ext;
    if (name.size() != 9 + 20 + suffix.size() || name.rfind("snapshot-", 0) != 0 ||
        name.compare(29, suffix.size(), suffix) != 0) {
      continue;
    }
    out.emplace_back(std::strtoull(name.c_str() + 9, nullptr, 10), absl::StrCat(dir, "/", name));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Snapshotter::~Snapshotter() {
  if (fd_ >= 0) close(fd_);
}

std::string Snapshotter::Latest(const std::string& dir, uint64_t* lsn) {
  // A leftover is only a write that was never finished; failing to remove
  // it is harmless (the next snapshot at that LSN truncates it).
  for (const auto& [l, path] : List(dir, "tmp")) files::RemoveFile(path).IgnoreError();
  auto snaps = List(dir, "snap");
  if (snaps.empty()) return "";
  *lsn = snaps.back().first;
  return snaps.back().second;
}

absl::Status Snapshotter::CheckReachesLog(const std::string& dir, const std::string& snap,
                                          uint64_t snap_lsn, uint64_t log_first_lsn) {
  if (log_first_lsn <= 1 || (!snap.empty() && snap_lsn >= log_first_lsn)) {
    return absl::OkStatus();
  }
  char first_segment[64];
  std::snprintf(first_segment, sizeof(first_segment), "wal-%020" PRIu64 ".log", log_first_lsn);
  const std::string remedy = absl::StrCat(
      ". Their sales would be lost in silence, so the shard does not start. Restore from a "
      "backup into ",
      dir, " a snapshot-<L>.snap with L >= ", log_first_lsn, ", or the log segments before ",
      first_segment, " (docs/wal.md, \"Recovery\"); there is no option to start without them");
  if (snap.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, ": the log starts at LSN ", log_first_lsn, " (", first_segment,
        ") but there is no snapshot: records 1..", log_first_lsn - 1, " are missing", remedy));
  }
  return absl::FailedPreconditionError(
      absl::StrCat(dir, ": the log starts at LSN ", log_first_lsn, " (", first_segment,
                   ") but the newest snapshot ", snap, " covers only up to LSN ", snap_lsn - 1,
                   ": records ", snap_lsn, "..", log_first_lsn - 1,
                   " are missing (a stale snapshot next to a newer log)", remedy));
}

absl::Status Snapshotter::Start(const SeatEngine& engine, const Rooms& rooms, uint64_t lsn,
                                uint64_t fencing_mark) {
  tmp_path_ = SnapName(dir_, lsn, "tmp");
  fd_ = open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0)
    return absl::UnavailableError(absl::StrCat("cannot create ", tmp_path_, ": ", StrError(errno)));
  active_ = true;
  lsn_ = lsn;
  offset_ = 0;
  next_ = 0;
  end_ = engine.booking_count();
  deletions_ = engine.deletions();
  pending_.clear();
  in_flight_ = final_sent_ = complete_ = false;
  started_ms_ = SystemClock::Get()->NowMs();
  // The small parts now: layouts, refused confirms, the fencing mark.
  AppendStateHeader(engine, rooms, fencing_mark, &pending_);
  return absl::OkStatus();
}

uint64_t Snapshotter::Step(const SeatEngine& engine) {
  if (!active_ || in_flight_) return 0;
  if (complete_) {
    const std::string final_path = SnapName(dir_, lsn_, "snap");
    const int fd = std::exchange(fd_, -1);
    if (close(fd) != 0) {
      Abandon(std::string(absl::ErrnoToStatus(errno, absl::StrCat("close ", tmp_path_)).message()));
      return 0;
    }
    if (absl::Status st = files::RenameFile(tmp_path_, final_path); !st.ok()) {
      Abandon(std::string(st.message()));
      return 0;
    }
    // Until the directory is synced the rename may not survive a crash, so
    // the snapshot covers nothing yet: no log segment may be dropped for it,
    // and the older snapshots stay. The file itself is complete (its data
    // was fdatasync'ed), so it is left in place: if a restart finds it, it
    // replays it and then the whole log, which still holds everything.
    if (absl::Status st = files::SyncDir(dir_); !st.ok()) {
      LogError("snapshot abandoned: ", final_path, " was renamed into place but ", st.message(),
               "; keeping the log segments it would have covered");
      active_ = false;
      return 0;
    }
    for (const auto& [l, path] : List(dir_, "snap")) {
      if (l >= lsn_) continue;
      if (absl::Status st = files::RemoveFile(path); !st.ok()) {
        LogWarning("could not remove an older snapshot: ", st.message());
      }
    }
    active_ = false;
    LogInfo("snapshot ", final_path, ": ", end_, " sales, ", offset_, " bytes, in ",
            SystemClock::Get()->NowMs() - started_ms_, " ms");
    return lsn_;
  }
  if (engine.deletions() != deletions_) {
    Abandon(
        "an event was deleted while its sales were being written; the next snapshot starts "
        "over");
    return 0;
  }
  // Sales are encoded as they are now: a sale cancelled since Start is
  // written as cancelled, one cancelled later gets its cancel from the log.
  for (size_t n = 0; n < kSalesPerStep && next_ < end_; ++n, ++next_) {
    AppendSale(engine.BookingAt(next_), &pending_);
  }
  Submit(next_ == end_);
  return 0;
}

void Snapshotter::Submit(bool final) {
  if (pending_.empty() && !final) return;
  writing_.swap(pending_);
  pending_.clear();
  in_flight_ = true;
  final_sent_ = final;
  loop_->WriteAndSync(fd_, writing_.data(), writing_.size(), offset_, final, [this](int result) {
    in_flight_ = false;
    if (result < 0) {
      Abandon(absl::StrCat("write ", tmp_path_, ": ", StrError(-result)));
      return;
    }
    offset_ += writing_.size();
    writing_.clear();
    if (final_sent_) complete_ = true;
  });
}

void Snapshotter::Abandon(const std::string& why) {
  LogError("snapshot abandoned: ", why);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  files::RemoveFile(tmp_path_).IgnoreError();  // gone already if the rename was done
  active_ = false;
}

}  // namespace seatlock
