// The file layer (file_util.h).
#include "persistence/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"

namespace seatlock::files {
namespace {

namespace fs = std::filesystem;

absl::Status Errno(int err, const char* what, const std::string& path) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

// close(2) of a file that was written: its error can report a failed write.
absl::Status Close(int fd, const std::string& path) {
  if (::close(fd) != 0) return Errno(errno, "close", path);
  return absl::OkStatus();
}

std::atomic<SyncDirHook> sync_dir_hook{nullptr};

}  // namespace

void SetSyncDirHookForTest(SyncDirHook hook) { sync_dir_hook.store(hook); }

absl::Status SyncDir(const std::string& dir) {
  if (const SyncDirHook hook = sync_dir_hook.load(std::memory_order_relaxed); hook != nullptr) {
    return hook(dir);
  }
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, "open directory", dir);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Errno(err, "fsync directory", dir);
  return absl::OkStatus();
}

absl::Status ReadFile(const std::string& path, std::string* out) {
  out->clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, "open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Errno(err, "stat", path);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Errno(EISDIR, "read", path);
  }
  if (st.st_size > 0) out->reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      out->clear();
      return Errno(err, "read", path);
    }
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::Status WriteAt(int fd, std::string_view data, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(errno, "write", path);
    }
    if (n == 0) return Errno(EIO, "write (no progress)", path);
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomic(const std::string& path, std::string_view data, bool sync) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno(errno, "create", tmp);
  absl::Status st = WriteAt(fd, data, 0, tmp);
  if (st.ok() && sync && ::fdatasync(fd) != 0) st = Errno(errno, "fdatasync", tmp);
  if (absl::Status closed = Close(fd, tmp); st.ok()) st = closed;
  if (st.ok()) st = RenameFile(tmp, path);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return sync ? SyncDir(DirName(path)) : absl::OkStatus();
}

absl::Status RenameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("rename ", from, " to ", to));
  }
  return absl::OkStatus();
}

absl::Status CreateDirs(const std::string& dir) {
  // The directories this call creates, deepest first.
  std::vector<fs::path> created;
  std::error_code ec;
  for (fs::path p = fs::path(dir).lexically_normal(); !p.empty();) {
    if (fs::exists(p, ec)) break;
    created.push_back(p);
    if (!p.has_relative_path()) break;  // the root
    fs::path parent = p.parent_path();
    if (parent == p) break;
    p = parent;
  }
  if (!fs::create_directories(dir, ec) && ec) return Errno(ec.value(), "create directory", dir);
  if (!fs::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(dir, " is not a directory"));
  }
  for (const fs::path& p : created) {
    fs::path parent = p.parent_path();
    if (parent.empty()) parent = ".";
    if (absl::Status st = SyncDir(parent.string()); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return Errno(errno, "unlink", path);
  return absl::OkStatus();
}

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  const size_t end = path.find_last_not_of('/', slash);
  if (end == std::string::npos) return "/";
  return path.substr(0, end + 1);
}

}  // namespace seatlock::files
