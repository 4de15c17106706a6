// Text and JSON formatting shared by seatctl's commands: plain-text tables,
// durations and times, seat references, and protobuf-to-JSON. Pure
// functions and a value type (Table); no shared state, any thread.
#ifndef SEATLOCK_TOOLS_FORMAT_H_
#define SEATLOCK_TOOLS_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/struct.pb.h"
#include "protocol/seatlock.pb.h"

namespace seatlock::tools {

// A plain-text table: a header row, then one line per row, columns padded to
// their widest cell and separated by two spaces. Owns its cells.
class Table {
 public:
  struct Column {
    std::string title;
    bool right = false;  // right-align (numbers)
  };
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
  // Missing cells print empty; extra cells are dropped.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  std::string Render() const;  // every line ends with '\n'

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// 850 -> "850ms", 59800 -> "59.8s", 598000 -> "9m58s", 3720000 -> "1h02m".
std::string FormatDuration(int64_t ms);
// Unix ms -> local wall-clock time "14:03:27".
std::string FormatClock(int64_t unix_ms);
// Unix ms -> "2025-06-01T12:00:00.123Z".
std::string FormatUtc(int64_t unix_ms);
// "12.5%" of part/whole ("-" when whole is 0).
std::string FormatPercent(uint64_t part, uint64_t whole);
// 1536 -> "1.5 KiB".
std::string FormatBytes(uint64_t bytes);

// "103/F/12", or "103#5" for a seat given by index only.
std::string SeatString(const wire::SeatRef& seat);
// Seats grouped by section and row: "103/F:12,13,14 104/A:1".
std::string SeatListString(const google::protobuf::RepeatedPtrField<wire::SeatRef>& seats);

// One-line protobuf JSON with proto field names and every field printed
// (zeros included). 64-bit integers are JSON strings, as protobuf JSON says.
std::string ToJson(const google::protobuf::Message& message);
// The same message as a JSON value, for composing bigger documents.
google::protobuf::Value ToJsonValue(const google::protobuf::Message& message);
// Helpers for composed documents (google.protobuf.Struct prints as plain JSON).
google::protobuf::Value JsonNumber(double v);
google::protobuf::Value JsonString(const std::string& v);
google::protobuf::Value JsonBool(bool v);

}  // namespace seatlock::tools

#endif  // SEATLOCK_TOOLS_FORMAT_H_
