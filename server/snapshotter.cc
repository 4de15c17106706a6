#include "server/snapshotter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
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

void SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

// Snapshot files in `dir`: (lsn, path), for names snapshot-<20 digits>.<ext>.
std::vector<std::pair<uint64_t, std::string>> List(const std::string& dir, const char* ext) {
  std::vector<std::pair<uint64_t, std::string>> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    const std::string suffix = std::string(".") + ext;
    if (name.size() != 9 + 20 + suffix.size() || name.rfind("snapshot-", 0) != 0 ||
        name.compare(29, suffix.size(), suffix) != 0) {
      continue;
    }
    out.emplace_back(std::strtoull(name.c_str() + 9, nullptr, 10), dir + "/" + name);
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
  for (const auto& [l, path] : List(dir, "tmp")) unlink(path.c_str());
  auto snaps = List(dir, "snap");
  if (snaps.empty()) return "";
  *lsn = snaps.back().first;
  return snaps.back().second;
}

absl::Status Snapshotter::Start(const SeatEngine& engine, const Rooms& rooms, uint64_t lsn,
                                uint64_t fencing_mark) {
  tmp_path_ = SnapName(dir_, lsn, "tmp");
  fd_ = open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0)
    return absl::UnavailableError(absl::StrCat("cannot create ", tmp_path_, ": ", strerror(errno)));
  active_ = true;
  lsn_ = lsn;
  offset_ = 0;
  next_ = 0;
  end_ = engine.booking_count();
  pending_.clear();
  in_flight_ = final_sent_ = complete_ = false;
  started_ms_ = SystemClock::Get()->NowMs();
  // The small parts now: layouts, refused confirms, the fencing mark.
  AppendStateHeader(engine, fencing_mark, &pending_);
  rooms.AppendState(&pending_);
  return absl::OkStatus();
}

uint64_t Snapshotter::Step(const SeatEngine& engine) {
  if (!active_ || in_flight_) return 0;
  if (complete_) {
    const std::string final_path = SnapName(dir_, lsn_, "snap");
    close(fd_);
    fd_ = -1;
    if (rename(tmp_path_.c_str(), final_path.c_str()) != 0) {
      Abandon(absl::StrCat("rename to ", final_path, ": ", strerror(errno)));
      return 0;
    }
    SyncDir(dir_);
    for (const auto& [l, path] : List(dir_, "snap")) {
      if (l < lsn_) unlink(path.c_str());
    }
    active_ = false;
    LogInfo("snapshot ", final_path, ": ", end_, " sales, ", offset_, " bytes, in ",
            SystemClock::Get()->NowMs() - started_ms_, " ms");
    return lsn_;
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
      Abandon(absl::StrCat("write ", tmp_path_, ": ", strerror(-result)));
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
  unlink(tmp_path_.c_str());
  active_ = false;
}

}  // namespace seatlock
