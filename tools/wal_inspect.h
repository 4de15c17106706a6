// Offline inspection of seatlockd's write-ahead logs (docs/wal.md), for
// `seatctl wal dump` and `seatctl wal verify`. Needs no server, and only
// reads: it never cuts, repairs or deletes a file (unlike recovery).
//
// DIR is a shard directory (<data-dir>/shard-<i>, holding wal-*.log and
// snapshot-*.snap files) or a data directory, whose shard-* directories are
// then taken in shard order. Per shard, the newest snapshot comes first,
// then every log segment in LSN order.
//
// Both return seatctl's exit code: 0 every record is intact, 1 damage found
// (a record that fails its checks or does not decode, or an LSN gap),
// 2 DIR holds no log at all. Single-threaded; writes only to the streams.
#ifndef SEATLOCK_TOOLS_WAL_INSPECT_H_
#define SEATLOCK_TOOLS_WAL_INSPECT_H_

#include <ostream>
#include <string>

namespace seatlock::tools {

// Every record, human-readable (or one JSON object per line with `json`):
// file, LSN (log records) and byte offset, type, and the decoded payload,
// with seat positions resolved to labels from the event layouts seen.
int WalDump(const std::string& dir, bool json, std::ostream& out, std::ostream& err);

// Checks every record's header and checksum, that its payload decodes, and
// that segment names follow on without LSN gaps. Reports the first damage
// in each shard (file and byte offset) or a per-shard summary.
int WalVerify(const std::string& dir, bool json, std::ostream& out, std::ostream& err);

}  // namespace seatlock::tools

#endif  // SEATLOCK_TOOLS_WAL_INSPECT_H_
