#include "server/reshard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

void SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

absl::Status ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return absl::OkStatus();
}

absl::Status ReplayBytes(const std::string& path, const std::string& bytes,
                         const std::function<absl::Status(const wal::Record&)>& apply) {
  wal::RecordReader reader(bytes);
  wal::Record rec;
  wal::RecordReader::Result r;
  while ((r = reader.Next(&rec)) == wal::RecordReader::Result::kRecord) {
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

}  // namespace

std::optional<Layout> ReadLayout(const std::string& data_dir) {
  std::ifstream in(data_dir + "/SHARDS");
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Layout l;
  for (absl::string_view part : absl::StrSplit(text, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&part, "shards=")) (void)absl::SimpleAtoi(part, &l.shards);
    if (absl::ConsumePrefix(&part, "seed=")) (void)absl::SimpleAtoi(part, &l.seed);
  }
  if (l.shards == 0) return std::nullopt;
  return l;
}

absl::Status WriteLayout(const std::string& data_dir, const Layout& layout) {
  const std::string path = data_dir + "/SHARDS";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << "shards=" << layout.shards << " seed=" << layout.seed << "\n";
    out.flush();
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  const int fd = open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot create ", path, ": ", strerror(errno)));
  }
  SyncDir(data_dir);
  return absl::OkStatus();
}

std::string StagingDir(const std::string& data_dir) { return data_dir + "/reshard-staging"; }

absl::Status ResumeOrClean(const std::string& data_dir) {
  std::error_code ec;
  const std::string marker = absl::StrCat(data_dir, "/", kMarker);
  std::ifstream in(marker);
  if (in) {
    uint32_t old_shards = 0, shards = 0;
    uint64_t seed = 0;
    in >> old_shards >> shards >> seed;
    LogWarning("finishing a reshard from ", old_shards, " to ", shards,
               " shards that a crash interrupted");
    return Swap(data_dir, old_shards, Layout{shards, seed});
  }
  if (fs::exists(StagingDir(data_dir), ec)) {
    LogWarning("removing ", StagingDir(data_dir), " left by an interrupted reshard");
    fs::remove_all(StagingDir(data_dir), ec);
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
  std::string bytes;
  if (!snap.empty()) {
    if (absl::Status st = ReadFile(snap, &bytes); !st.ok()) return st;
    if (absl::Status st = ReplayBytes(snap, bytes, apply); !st.ok()) return st;
  }
  std::vector<std::string> segments;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("wal-", 0) == 0 && name.size() > 8 &&
        name.compare(name.size() - 4, 4, ".log") == 0) {
      segments.push_back(entry.path().string());
    }
  }
  std::sort(segments.begin(), segments.end());
  for (const std::string& seg : segments) {
    if (absl::Status st = ReadFile(seg, &bytes); !st.ok()) return st;
    if (absl::Status st = ReplayBytes(seg, bytes, apply); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status WriteSnapshotSync(const SeatEngine& engine, const Rooms& rooms, uint64_t fencing_mark,
                               const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  std::string out;
  AppendStateHeader(engine, fencing_mark, &out);
  rooms.AppendState(&out);
  for (size_t i = 0; i < engine.booking_count(); ++i) AppendSale(engine.BookingAt(i), &out);
  const std::string path = dir + "/snapshot-00000000000000000001.snap";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return absl::UnavailableError(absl::StrCat("cannot create ", path, ": ", strerror(errno)));
  size_t off = 0;
  while (off < out.size()) {
    const ssize_t n = write(fd, out.data() + off, out.size() - off);
    if (n <= 0) {
      close(fd);
      return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", strerror(errno)));
    }
    off += static_cast<size_t>(n);
  }
  const bool synced = fdatasync(fd) == 0;
  close(fd);
  if (!synced)
    return absl::UnavailableError(absl::StrCat("fdatasync ", path, ": ", strerror(errno)));
  SyncDir(dir);
  return absl::OkStatus();
}

absl::Status Swap(const std::string& data_dir, uint32_t old_shards, const Layout& to) {
  std::error_code ec;
  const std::string marker = absl::StrCat(data_dir, "/", kMarker);
  const std::string old_dir = data_dir + "/reshard-old";
  const std::string staging = StagingDir(data_dir);
  if (!fs::exists(marker, ec)) {
    std::ofstream m(marker);
    m << old_shards << " " << to.shards << " " << to.seed << "\n";
    m.flush();
    if (!m) return absl::UnavailableError(absl::StrCat("cannot write ", marker));
    m.close();
    SyncDir(data_dir);
  }
  // Each step is a rename that is skipped once done, so a crash anywhere
  // here is finished by the next start (ResumeOrClean).
  fs::create_directories(old_dir, ec);
  for (uint32_t k = 0; k < old_shards; ++k) {
    if (fs::exists(ShardDir(data_dir, k), ec) && !fs::exists(ShardDir(old_dir, k), ec)) {
      fs::rename(ShardDir(data_dir, k), ShardDir(old_dir, k), ec);
      if (ec)
        return absl::UnavailableError(
            absl::StrCat("reshard: moving shard-", k, ": ", ec.message()));
    }
  }
  for (uint32_t i = 0; i < to.shards; ++i) {
    if (fs::exists(ShardDir(staging, i), ec) && !fs::exists(ShardDir(data_dir, i), ec)) {
      fs::rename(ShardDir(staging, i), ShardDir(data_dir, i), ec);
      if (ec)
        return absl::UnavailableError(
            absl::StrCat("reshard: installing shard-", i, ": ", ec.message()));
    }
  }
  SyncDir(data_dir);
  if (absl::Status st = WriteLayout(data_dir, to); !st.ok()) return st;
  unlink(marker.c_str());
  SyncDir(data_dir);
  fs::remove_all(old_dir, ec);
  fs::remove_all(staging, ec);
  LogInfo("resharded ", data_dir, " from ", old_shards, " to ", to.shards, " shards");
  return absl::OkStatus();
}

}  // namespace seatlock::reshard
