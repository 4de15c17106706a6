// Encoding and decoding of WAL records (format in wal_format.h).
//
//   std::string buf;
//   AppendRecord(RecordType::kConfirm, payload, &buf);   // writer side
//
//   RecordReader reader(segment_bytes);                  // reader side
//   Record rec;
//   while (reader.Next(&rec) == RecordReader::Result::kRecord) { ... }
//
// A RecordReader does not own the bytes it reads; they must outlive it.
// Both are plain functions/values with no shared state: any thread.
#ifndef SEATLOCK_PERSISTENCE_WAL_RECORD_H_
#define SEATLOCK_PERSISTENCE_WAL_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/wal_format.h"

namespace seatlock::wal {

// Appends one encoded record to *out.
void AppendRecord(RecordType type, std::string_view payload, std::string* out);

struct Record {
  RecordType type;
  std::string_view payload;  // points into the reader's input
  uint64_t offset = 0;       // where the record starts in the input
};

class RecordReader {
 public:
  enum class Result {
    kRecord,     // *rec is the next record
    kEof,        // clean end: every byte was consumed by whole records
    kTruncated,  // the input ends inside a record (header or payload)
    kCorrupt,    // checksum mismatch, unknown type, bad length or reserved bytes
  };
  explicit RecordReader(std::string_view data) : data_(data) {}
  Result Next(Record* rec);
  // Offset just past the last good record returned: where a torn tail is cut.
  uint64_t good_offset() const { return good_; }
  // Offset of the record that produced kTruncated or kCorrupt.
  uint64_t bad_offset() const { return bad_; }

 private:
  std::string_view data_;
  uint64_t pos_ = 0;
  uint64_t good_ = 0;
  uint64_t bad_ = 0;
};

}  // namespace seatlock::wal

#endif  // SEATLOCK_PERSISTENCE_WAL_RECORD_H_
