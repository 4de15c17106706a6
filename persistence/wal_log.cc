// WalDir: segment files, recovery and rolling (docs/wal.md).
#include "persistence/wal_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "persistence/file_util.h"

namespace seatlock::wal {
namespace {

namespace fs = std::filesystem;
using files::ReadFile;
using files::RemoveFile;
using files::SyncDir;

constexpr char kPrefix[] = "wal-";
constexpr char kSuffix[] = ".log";
constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;
constexpr size_t kSuffixLen = sizeof(kSuffix) - 1;
constexpr size_t kLsnDigits = 20;

// This project's Abseil predates ABSL_RETURN_IF_ERROR.
#define WAL_RETURN_IF_ERROR(expr)              \
  do {                                         \
    absl::Status wal_status_ = (expr);         \
    if (!wal_status_.ok()) return wal_status_; \
  } while (0)

absl::Status Errno(int err, const std::string& what) { return absl::ErrnoToStatus(err, what); }

struct Segment {
  uint64_t first_lsn;
  std::string path;
};

// Every segment in `dir`, in LSN order. Other files are ignored.
absl::Status ListSegments(const std::string& dir, std::vector<Segment>* out) {
  out->clear();
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    uint64_t lsn = 0;
    if (ParseSegmentName(it->path().filename().string(), &lsn)) {
      out->push_back({lsn, it->path().string()});
    }
  }
  if (ec) return Errno(ec.value(), absl::StrCat("wal: listing ", dir));
  std::sort(out->begin(), out->end(),
            [](const Segment& a, const Segment& b) { return a.first_lsn < b.first_lsn; });
  return absl::OkStatus();
}

// Cuts `path` to `size` bytes and makes the cut durable.
absl::Status TruncateFile(const std::string& path, uint64_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, absl::StrCat("wal: open ", path));
  absl::Status status;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    status = Errno(errno, absl::StrCat("wal: truncate ", path));
  } else if (::fsync(fd) != 0) {
    status = Errno(errno, absl::StrCat("wal: fsync ", path));
  }
  ::close(fd);
  return status;
}

const char* Describe(RecordReader::Result r) {
  return r == RecordReader::Result::kTruncated ? "truncated record" : "corrupt record";
}

}  // namespace

std::string SegmentName(uint64_t first_lsn) {
  char name[kPrefixLen + kLsnDigits + kSuffixLen + 1];
  std::snprintf(name, sizeof(name), "wal-%020" PRIu64 ".log", first_lsn);
  return name;
}

bool ParseSegmentName(const std::string& name, uint64_t* first_lsn) {
  if (name.size() != kPrefixLen + kLsnDigits + kSuffixLen) return false;
  if (name.compare(0, kPrefixLen, kPrefix) != 0) return false;
  if (name.compare(kPrefixLen + kLsnDigits, kSuffixLen, kSuffix) != 0) return false;
  uint64_t v = 0;
  for (size_t i = kPrefixLen; i < kPrefixLen + kLsnDigits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;  // does not fit in 64 bits
    v = v * 10 + digit;
  }
  *first_lsn = v;
  return true;
}

absl::StatusOr<WalDir> WalDir::Open(const std::string& dir, uint64_t segment_bytes) {
  if (segment_bytes == 0) return absl::InvalidArgumentError("wal: segment_bytes must be > 0");
  WAL_RETURN_IF_ERROR(files::CreateDirs(dir));
  WalDir wal;
  wal.dir_ = dir;
  wal.segment_bytes_ = segment_bytes;
  return wal;
}

WalDir::WalDir(WalDir&& other) noexcept
    : dir_(std::move(other.dir_)),
      segment_bytes_(other.segment_bytes_),
      fd_(std::exchange(other.fd_, -1)),
      offset_(std::exchange(other.offset_, 0)),
      open_first_lsn_(std::exchange(other.open_first_lsn_, 0)),
      next_lsn_(std::exchange(other.next_lsn_, 0)) {}

WalDir& WalDir::operator=(WalDir&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    dir_ = std::move(other.dir_);
    segment_bytes_ = other.segment_bytes_;
    fd_ = std::exchange(other.fd_, -1);
    offset_ = std::exchange(other.offset_, 0);
    open_first_lsn_ = std::exchange(other.open_first_lsn_, 0);
    next_lsn_ = std::exchange(other.next_lsn_, 0);
  }
  return *this;
}

WalDir::~WalDir() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<RecoveryReport> WalDir::Recover(
    bool repair, const std::function<void(uint64_t lsn, const Record&)>& apply) {
  if (fd_ >= 0) return absl::FailedPreconditionError("wal: Recover called twice");
  std::vector<Segment> segments;
  WAL_RETURN_IF_ERROR(ListSegments(dir_, &segments));

  RecoveryReport report;
  // The oldest segment's name is where numbering starts: DropBefore may have
  // deleted the segments before it. LSN 0 is never used, so a segment named
  // for it fails the name check below.
  uint64_t lsn = segments.empty() ? 1 : std::max<uint64_t>(1, segments.front().first_lsn);
  size_t kept = segments.size();  // segments left after a repair cut
  uint64_t last_size = 0;         // size of segments[kept - 1] after recovery
  std::string data;

  for (size_t i = 0; i < segments.size(); ++i) {
    const Segment& seg = segments[i];
    const bool last = i + 1 == segments.size();
    WAL_RETURN_IF_ERROR(ReadFile(seg.path, &data));

    // Each segment must begin where the previous one ended. A crash cannot
    // produce a gap (a segment is only created once the one before it is
    // durable), so a mismatch is damage even in the last segment; repair
    // drops the whole misnamed segment.
    std::string why;
    uint64_t good = 0;
    bool name_ok = seg.first_lsn == lsn;
    if (!name_ok) {
      why = absl::StrCat("segment named for LSN ", seg.first_lsn, " where LSN ", lsn,
                         " was expected");
    } else {
      RecordReader reader(data);
      Record rec;
      RecordReader::Result r;
      while ((r = reader.Next(&rec)) == RecordReader::Result::kRecord) {
        apply(lsn, rec);
        ++lsn;
        ++report.records;
        report.bytes += kHeaderBytes + rec.payload.size();
      }
      ++report.segments;
      good = reader.good_offset();
      if (r == RecordReader::Result::kEof) {
        last_size = data.size();
        continue;
      }
      why = absl::StrCat(Describe(r), " (LSN ", lsn, ")");
    }

    const std::string where = absl::StrCat(seg.path, ":", good);
    if ((!last || !name_ok) && !repair) {
      return absl::DataLossError(absl::StrCat(
          "wal: ", why, " at ", where, ", before the end of the log (", segments.size() - i - 1,
          " later segment(s) follow). Records from here on "
          "cannot be replayed. Restart with --wal-repair to cut the log there, losing "
          "every record after it."));
    }
    // Cut here: a torn tail of the last segment, or a repair. Later segments
    // go first, newest first, and their removal is durable before the cut, so
    // a crash part-way leaves a prefix of the log and running the repair
    // again finishes the job.
    report.dropped_bytes += data.size() - good;
    report.dropped_where = where;
    for (size_t j = segments.size() - 1; j > i; --j) {
      struct stat st;
      if (::stat(segments[j].path.c_str(), &st) == 0) {
        report.dropped_bytes += static_cast<uint64_t>(st.st_size);
      }
      WAL_RETURN_IF_ERROR(RemoveFile(segments[j].path));
    }
    if (name_ok) {
      if (!last) WAL_RETURN_IF_ERROR(SyncDir(dir_));
      WAL_RETURN_IF_ERROR(TruncateFile(seg.path, good));
      kept = i + 1;
      last_size = good;
    } else {
      WAL_RETURN_IF_ERROR(RemoveFile(seg.path));
      WAL_RETURN_IF_ERROR(SyncDir(dir_));
      kept = i;
    }
    break;
  }
  report.next_lsn = lsn;

  if (kept > 0 && last_size < segment_bytes_) {
    const Segment& seg = segments[kept - 1];
    const int fd = ::open(seg.path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Errno(errno, absl::StrCat("wal: open ", seg.path));
    fd_ = fd;
    offset_ = last_size;
    open_first_lsn_ = seg.first_lsn;
  } else {
    WAL_RETURN_IF_ERROR(OpenSegment(lsn));
  }
  next_lsn_ = lsn;
  return report;
}

absl::Status WalDir::OpenSegment(uint64_t first_lsn) {
  const std::string path = absl::StrCat(dir_, "/", SegmentName(first_lsn));
  // O_EXCL: a segment is created once; finding one already there is a bug.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Errno(errno, absl::StrCat("wal: create ", path));
  if (absl::Status s = SyncDir(dir_); !s.ok()) {
    ::close(fd);
    return s;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  offset_ = 0;
  open_first_lsn_ = first_lsn;
  return absl::OkStatus();
}

absl::Status WalDir::StartAt(uint64_t first_lsn) {
  if (fd_ >= 0) return absl::FailedPreconditionError("wal: StartAt on a log already open");
  if (first_lsn == 0) return absl::InvalidArgumentError("wal: StartAt LSN 0");
  std::vector<Segment> segments;
  WAL_RETURN_IF_ERROR(ListSegments(dir_, &segments));
  if (!segments.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("wal: StartAt needs an empty log, but ", dir_,
                                                      " has ", segments.size(), " segment(s)"));
  }
  WAL_RETURN_IF_ERROR(OpenSegment(first_lsn));
  next_lsn_ = first_lsn;
  return absl::OkStatus();
}

absl::Status WalDir::Advance(uint64_t n, uint64_t next_lsn) {
  if (fd_ < 0) return absl::FailedPreconditionError("wal: Advance before Recover");
  offset_ += n;
  next_lsn_ = next_lsn;
  if (offset_ < segment_bytes_) return absl::OkStatus();
  if (next_lsn <= open_first_lsn_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "wal: rolling to LSN ", next_lsn, " but the open segment starts at ", open_first_lsn_));
  }
  return OpenSegment(next_lsn);
}

absl::StatusOr<uint64_t> WalDir::AppendSync(RecordType type, std::string_view payload, bool sync) {
  if (fd_ < 0) return absl::FailedPreconditionError("wal: AppendSync before Recover");
  const uint64_t lsn = next_lsn_;
  std::string rec;
  AppendRecord(type, payload, &rec);
  const std::string path = absl::StrCat(dir_, "/", SegmentName(open_first_lsn_));
  WAL_RETURN_IF_ERROR(files::WriteAt(fd_, rec, offset_, path));
  if (sync && ::fdatasync(fd_) != 0) return Errno(errno, absl::StrCat("wal: fdatasync ", path));
  WAL_RETURN_IF_ERROR(Advance(rec.size(), lsn + 1));
  return lsn;
}

absl::Status WalDir::DropBefore(uint64_t lsn) {
  if (fd_ < 0) return absl::FailedPreconditionError("wal: DropBefore before Recover");
  std::vector<Segment> segments;
  WAL_RETURN_IF_ERROR(ListSegments(dir_, &segments));
  // Oldest first, so that a crash part-way leaves a contiguous run of
  // segments whose first name still says where numbering starts.
  bool removed = false;
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    if (segments[i + 1].first_lsn > lsn) break;           // segment i holds LSN >= lsn
    if (segments[i].first_lsn >= open_first_lsn_) break;  // never the open one
    WAL_RETURN_IF_ERROR(RemoveFile(segments[i].path));
    removed = true;
  }
  if (removed) WAL_RETURN_IF_ERROR(SyncDir(dir_));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> WalDir::FirstLsn() const {
  std::vector<Segment> segments;
  WAL_RETURN_IF_ERROR(ListSegments(dir_, &segments));
  return segments.empty() ? 1 : std::max<uint64_t>(1, segments.front().first_lsn);
}

std::vector<std::string> WalDir::SegmentPaths() const {
  std::vector<Segment> segments;
  std::vector<std::string> paths;
  if (!ListSegments(dir_, &segments).ok()) return paths;
  for (Segment& s : segments) paths.push_back(std::move(s.path));
  return paths;
}

}  // namespace seatlock::wal
