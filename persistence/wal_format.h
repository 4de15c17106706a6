// The write-ahead log's on-disk format, shared by the writer and the reader.
// Specified in prose in docs/wal.md; keep the two in step.
//
// A segment file is a sequence of records, each:
//
//   checksum  8 bytes  little-endian XXH3-64 (seed 0) of bytes [8, 16 + length)
//   length    4 bytes  little-endian payload length
//   type      1 byte   RecordType
//   reserved  3 bytes  zero
//   payload   `length` bytes (a serialized seatlock.wal.* message)
//
// Records are never split across segments. Segments are named
// wal-<first LSN, 20 decimal digits>.log inside <data-dir>/shard-<i>/.
#ifndef SEATLOCK_PERSISTENCE_WAL_FORMAT_H_
#define SEATLOCK_PERSISTENCE_WAL_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace seatlock::wal {

inline constexpr size_t kHeaderBytes = 16;
inline constexpr uint32_t kMaxPayloadBytes = 16u << 20;  // 16 MiB
inline constexpr uint64_t kDefaultSegmentBytes = 64ull << 20;

enum class RecordType : uint8_t {
  kDefineEvent = 1,
  kConfirm = 2,
  kConfirmRefused = 3,
  kCancel = 4,
  kFencing = 5,
  kRoom = 6,
  kDeleteEvent = 7,
  kEpoch = 8,
};
inline constexpr uint8_t kMaxRecordType = 8;

}  // namespace seatlock::wal

#endif  // SEATLOCK_PERSISTENCE_WAL_FORMAT_H_
