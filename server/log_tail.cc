#include "server/log_tail.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/str_error.h"
#include "persistence/wal_format.h"
#include "persistence/wal_log.h"
#include "persistence/wal_record.h"

namespace seatlock {

// The newest complete snapshot in `dir` (snapshot-<20 digits>.snap), or ""
// Read-only: unlike Snapshotter::Latest it never removes a *.tmp, which may
// be the shard's snapshot being written.
std::string NewestSnapshotName(const std::string& dir, uint64_t* lsn) {
  std::string best;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() != 9 + 20 + 5 || name.rfind("snapshot-", 0) != 0 ||
        name.compare(29, 5, ".snap") != 0) {
      continue;
    }
    uint64_t v = 0;
    bool digits = true;
    for (size_t i = 9; i < 29; ++i) {
      if (name[i] < '0' || name[i] > '9') digits = false;
      v = v * 10 + static_cast<uint64_t>(name[i] - '0');
    }
    if (digits && (best.empty() || v > *lsn)) {
      best = name;
      *lsn = v;
    }
  }
  return best;
}

LogTail::~LogTail() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status LogTail::Seek(uint64_t lsn) {
  std::vector<uint64_t> firsts;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    uint64_t first = 0;
    if (wal::ParseSegmentName(it->path().filename().string(), &first)) firsts.push_back(first);
  }
  std::sort(firsts.begin(), firsts.end());
  uint64_t start = 0;
  for (uint64_t f : firsts) {
    if (f <= lsn) start = f;
  }
  if (start == 0) {
    return absl::NotFoundError(absl::StrCat(dir_, ": no log segment holds LSN ", lsn));
  }
  if (absl::Status st = Open(start); !st.ok()) return st;
  std::string skip;
  while (next_lsn_ < lsn) {
    uint32_t n = 0;
    skip.clear();
    absl::Status st = Read(lsn - 1, &skip, &n);
    if (!st.ok()) return st;
    if (n == 0) return absl::DataLossError(absl::StrCat(dir_, ": LSN ", lsn, " not found"));
  }
  return absl::OkStatus();
}

absl::Status LogTail::Read(uint64_t limit, std::string* out, uint32_t* count) {
  *count = 0;
  size_t want = kLogTailChunkBytes;
  while (next_lsn_ <= limit) {
    std::string buf(want, '\0');
    const ssize_t got = ::pread(fd_, buf.data(), want, static_cast<off_t>(offset_));
    if (got < 0) return absl::DataLossError(absl::StrCat("read ", path_, ": ", StrError(errno)));
    buf.resize(static_cast<size_t>(got));
    wal::RecordReader reader(buf);
    wal::Record rec;
    uint64_t used = 0;
    wal::RecordReader::Result r;
    while (next_lsn_ <= limit && (r = reader.Next(&rec)) == wal::RecordReader::Result::kRecord) {
      used = reader.good_offset();
      ++next_lsn_;
      ++*count;
    }
    if (used > 0) {
      out->append(buf, 0, used);
      offset_ += used;
      return absl::OkStatus();
    }
    if (next_lsn_ > limit) return absl::OkStatus();
    if (r == wal::RecordReader::Result::kEof) {
      // This segment is done; the durable record next_lsn_ starts the next.
      if (absl::Status st = Open(next_lsn_); !st.ok()) return st;
      continue;
    }
    if (r == wal::RecordReader::Result::kTruncated && static_cast<size_t>(got) == want &&
        want < 2 * wal::kMaxPayloadBytes) {
      want *= 2;  // one record bigger than the chunk
      continue;
    }
    return absl::DataLossError(
        absl::StrCat(path_, ": unreadable record at offset ", offset_, " (LSN ", next_lsn_, ")"));
  }
  return absl::OkStatus();
}

absl::Status LogTail::Open(uint64_t first) {
  const std::string path = absl::StrCat(dir_, "/", wal::SegmentName(first));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat(
        "open ", path, ": ", StrError(errno),
        " (dropped after a snapshot? the replica starts over from the newest snapshot)"));
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  path_ = path;
  offset_ = 0;
  next_lsn_ = first;
  return absl::OkStatus();
}

}  // namespace seatlock
