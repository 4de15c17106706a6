// WAL codec: turns engine state into log records (for the log and for
// snapshots) and applies log records to an engine (for recovery). Pure
// functions; call them on the thread that owns the engine.
#ifndef SEATLOCK_SERVER_WAL_CODEC_H_
#define SEATLOCK_SERVER_WAL_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/seat_engine.h"
#include "persistence/wal.pb.h"
#include "persistence/wal_record.h"
#include "server/rooms.h"

namespace seatlock {

// The highest fencing token a CONFIRM record, or mark a FENCING record, may
// carry (2^62). Recovery reserves a block of tokens above the highest value it
// reads, and the engine grants tokens above that; a value near 2^64 would wrap
// them back below tokens already handed out. 2^62 is centuries of grants, so
// ApplyRecord refuses a record above it as damage (docs/wal.md §3).
inline constexpr uint64_t kMaxFencingMark = uint64_t{1} << 62;

wal::Confirm ConfirmRecordOf(const BookingInfo& booking);
// ConfirmRecordOf into `rec` (cleared first), which keeps the memory it had:
// the sale path's encoder.
void FillConfirmRecord(const BookingInfo& booking, wal::Confirm* rec);
wal::ConfirmRefused RefusalRecordOf(const RefusalInfo& refusal);

// Snapshot encoding, shared by the background Snapshotter and resharding:
// the small part (event layouts, refused confirms, the fencing mark, next
// booking sequence and how many room records and sales follow), the waiting
// rooms, then each sale (followed by a kCancel record when it is
// cancelled). The caller appends exactly engine.booking_count() sales, as
// they are when AppendStateHeader runs.
void AppendStateHeader(const SeatEngine& engine, const Rooms& rooms, uint64_t fencing_mark,
                       std::string* out);
void AppendSale(const BookingInfo& booking, std::string* out);

// Checks that a snapshot was read whole: Note() each of its records, then
// Finish() says whether it ends where its header says (a FENCING record,
// and as many ROOM and CONFIRM records as it counted), naming `path`.
class SnapshotTally {
 public:
  void Note(const wal::Record& rec);
  absl::Status Finish(const std::string& path, uint64_t bytes) const;

 private:
  bool fencing_ = false;
  bool counted_ = false;
  uint64_t room_records_ = 0, sales_ = 0;  // counted in the header
  uint64_t room_records_seen_ = 0, sales_seen_ = 0;
};

// Applies one record to `engine` (kRoom records to `rooms`). Idempotent (a
// record the state already reflects changes nothing), so a log may be
// replayed over a snapshot that already holds some of it. `fencing_seen` is
// raised to any kFencing mark. An error names the problem; the caller adds
// where the record was. Call rooms.FinishRestore() after the last record.
absl::Status ApplyRecord(SeatEngine& engine, Rooms& rooms, const wal::Record& record,
                         uint64_t* fencing_seen);

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_WAL_CODEC_H_
