// The file layer: the few filesystem operations the log, the snapshots and
// the data dir's small files (SHARDS, RESHARD, the port file) are built on,
// in one place, like LevelDB's Env. Every caller goes through these instead
// of open/read/rename/fsync of its own, so that every error is checked the
// same way.
//
// Errors are returned as absl::Status, never swallowed; the message names
// the operation, the path and strerror. A missing file is NotFoundError
// (absl::ErrnoToStatus(ENOENT)), so callers can tell "absent" from
// "unreadable".
//
// Plain functions with no shared state: any thread.
#ifndef SEATLOCK_PERSISTENCE_FILE_UTIL_H_
#define SEATLOCK_PERSISTENCE_FILE_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace seatlock::files {

// fsyncs the directory `dir`, making the entries created, renamed or removed
// in it durable.
absl::Status SyncDir(const std::string& dir);

// Tests only: while set, SyncDir(dir) returns hook(dir) instead of syncing
// (an error injects a failed directory fsync). nullptr restores the real
// one. Set it before the threads that sync start, clear it after they stop.
using SyncDirHook = absl::Status (*)(const std::string& dir);
void SetSyncDirHookForTest(SyncDirHook hook);

// Replaces *out with the whole content of `path`. Any read error is an
// error (an unreadable file is never read as empty); a missing file is
// NotFoundError, a directory an error.
absl::Status ReadFile(const std::string& path, std::string* out);

// Writes all of `data` to `fd` at `offset` (pwrite, retrying short writes
// and EINTR). `path` only names the file in the error.
absl::Status WriteAt(int fd, std::string_view data, uint64_t offset, const std::string& path);

// Replaces `path` with `data`, atomically: readers see the old content or
// the new, never a mix. Writes <path>.tmp, then renames it over `path`.
// With `sync`, the data is fdatasync'ed before the rename and the parent
// directory is fsynced after it, so the new content survives a crash once
// this returns OK. On error <path>.tmp is removed (best effort) and `path`
// is left as it was, unless the rename itself was done (then only the
// directory sync failed, and the new content may or may not survive a
// crash).
absl::Status WriteFileAtomic(const std::string& path, std::string_view data, bool sync);

// rename(2). Not durable until the directory is synced (SyncDir).
absl::Status RenameFile(const std::string& from, const std::string& to);

// mkdir -p: creates `dir` and any missing parents, fsyncing the parent of
// each directory it creates so the new entries survive a crash. An existing
// directory is fine; an existing non-directory is FailedPreconditionError.
absl::Status CreateDirs(const std::string& dir);

// unlink(2). A missing file is NotFoundError. Not durable until the
// directory is synced (SyncDir).
absl::Status RemoveFile(const std::string& path);

// The directory holding `path`: "a/b/c" -> "a/b", "c" -> ".", "/c" -> "/".
std::string DirName(const std::string& path);

}  // namespace seatlock::files

#endif  // SEATLOCK_PERSISTENCE_FILE_UTIL_H_
