// Record encoding and decoding. The layout is in wal_format.h and
// docs/wal.md; this file is the only code that knows the byte offsets.
#include "persistence/wal_record.h"

#include <xxhash.h>

#include <cstdio>
#include <cstdlib>

namespace seatlock::wal {
namespace {

// Offsets inside the 16-byte header.
constexpr size_t kChecksumAt = 0;
constexpr size_t kLengthAt = 8;
constexpr size_t kTypeAt = 12;
constexpr size_t kReservedAt = 13;
constexpr size_t kReservedBytes = 3;
static_assert(kReservedAt + kReservedBytes == kHeaderBytes);

void PutFixed32(uint32_t v, char* dst) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<char>(v >> (8 * i));
}
void PutFixed64(uint64_t v, char* dst) {
  for (int i = 0; i < 8; ++i) dst[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetFixed32(const char* src) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(src[i])} << (8 * i);
  return v;
}
uint64_t GetFixed64(const char* src) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(src[i])} << (8 * i);
  return v;
}

// The checksum covers everything after itself: length, type, reserved and
// payload. `record` points at the record's first (checksum) byte.
uint64_t ChecksumOf(const char* record, uint32_t length) {
  return XXH3_64bits(record + kLengthAt, kHeaderBytes - kLengthAt + length);
}

bool KnownType(uint8_t type) { return type >= 1 && type <= kMaxRecordType; }

}  // namespace

void AppendRecord(RecordType type, std::string_view payload, std::string* out) {
  // A record the reader would refuse must never reach the disk: recovery
  // would cut the log there. Both are programming errors, so stop loudly.
  if (payload.size() > kMaxPayloadBytes || !KnownType(static_cast<uint8_t>(type))) {
    std::fprintf(stderr, "wal: AppendRecord: bad record (type %u, %zu payload bytes)\n",
                 static_cast<unsigned>(type), payload.size());
    std::abort();
  }
  const auto length = static_cast<uint32_t>(payload.size());
  const size_t start = out->size();
  out->resize(start + kHeaderBytes);
  char* header = out->data() + start;
  PutFixed32(length, header + kLengthAt);
  header[kTypeAt] = static_cast<char>(type);
  for (size_t i = 0; i < kReservedBytes; ++i) header[kReservedAt + i] = 0;
  out->append(payload.data(), payload.size());
  // Re-take the pointer: append may have reallocated.
  char* record = out->data() + start;
  PutFixed64(ChecksumOf(record, length), record + kChecksumAt);
}

RecordReader::Result RecordReader::Next(Record* rec) {
  // pos_ only moves past whole good records, so after kTruncated or kCorrupt
  // every later call returns the same answer.
  const uint64_t left = data_.size() - pos_;
  if (left == 0) return Result::kEof;
  bad_ = pos_;
  if (left < kHeaderBytes) return Result::kTruncated;

  const char* record = data_.data() + pos_;
  const uint32_t length = GetFixed32(record + kLengthAt);
  const auto type = static_cast<uint8_t>(record[kTypeAt]);
  // The header's own fields are checked before its length is trusted, so that
  // a garbage header is reported as corrupt rather than as a record that
  // merely runs past the end of the input. A zero-filled tail fails here
  // (type 0).
  if (length > kMaxPayloadBytes || !KnownType(type)) return Result::kCorrupt;
  for (size_t i = 0; i < kReservedBytes; ++i) {
    if (record[kReservedAt + i] != 0) return Result::kCorrupt;
  }
  if (left - kHeaderBytes < length) return Result::kTruncated;
  if (GetFixed64(record + kChecksumAt) != ChecksumOf(record, length)) return Result::kCorrupt;

  rec->type = static_cast<RecordType>(type);
  rec->payload = data_.substr(pos_ + kHeaderBytes, length);
  rec->offset = pos_;
  pos_ += kHeaderBytes + length;
  good_ = pos_;
  return Result::kRecord;
}

}  // namespace seatlock::wal
