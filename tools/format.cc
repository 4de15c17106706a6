#include "tools/format.h"

#include <time.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"

namespace seatlock::tools {

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> width(columns_.size(), 0);
  for (size_t c = 0; c < columns_.size(); ++c) {
    width[c] = columns_[c].title.size();
    for (const auto& row : rows_) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < columns_.size(); ++c) {
      const std::string pad(width[c] - cells[c].size(), ' ');
      if (c > 0) out += "  ";
      if (columns_[c].right) {
        absl::StrAppend(&out, pad, cells[c]);
      } else if (c + 1 < columns_.size()) {
        absl::StrAppend(&out, cells[c], pad);
      } else {
        out += cells[c];  // no trailing blanks
      }
    }
    return out + "\n";
  };
  std::vector<std::string> header;
  for (const Column& col : columns_) header.push_back(col.title);
  std::string out = line(header);
  for (const auto& row : rows_) out += line(row);
  return out;
}

std::string FormatDuration(int64_t ms) {
  if (ms < 0) return absl::StrCat("-", FormatDuration(-ms));
  if (ms < 1000) return absl::StrCat(ms, "ms");
  if (ms < 60'000) return absl::StrFormat("%.1fs", static_cast<double>(ms) / 1000.0);
  const int64_t s = ms / 1000;
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string FormatClock(int64_t unix_ms) {
  const time_t t = static_cast<time_t>(unix_ms / 1000);
  tm local{};
  localtime_r(&t, &local);
  return absl::StrFormat("%02d:%02d:%02d", local.tm_hour, local.tm_min, local.tm_sec);
}

std::string FormatUtc(int64_t unix_ms) {
  const time_t t = static_cast<time_t>(unix_ms / 1000);
  tm utc{};
  gmtime_r(&t, &utc);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                         utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                         static_cast<int>(unix_ms % 1000));
}

std::string FormatPercent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "-";
  return absl::StrFormat("%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  while (v >= 1024.0 && unit + 1 < std::size(kUnits)) {
    v /= 1024.0;
    ++unit;
  }
  if (unit == 0) return absl::StrCat(bytes, " B");
  return absl::StrFormat("%.1f %s", v, kUnits[unit]);
}

std::string SeatString(const wire::SeatRef& seat) {
  if (seat.row().empty() && seat.seat().empty() && seat.has_index()) {
    return absl::StrCat(seat.section(), "#", seat.index());
  }
  return absl::StrCat(seat.section(), "/", seat.row(), "/", seat.seat());
}

std::string SeatListString(const google::protobuf::RepeatedPtrField<wire::SeatRef>& seats) {
  // Consecutive seats of the same section and row share one "section/row:" prefix.
  std::vector<std::string> groups;
  std::string prefix;
  std::vector<std::string> labels;
  auto flush = [&] {
    if (!labels.empty()) groups.push_back(absl::StrCat(prefix, ":", absl::StrJoin(labels, ",")));
    labels.clear();
  };
  for (const wire::SeatRef& s : seats) {
    if (s.row().empty() && s.seat().empty() && s.has_index()) {
      flush();
      prefix.clear();
      groups.push_back(SeatString(s));
      continue;
    }
    const std::string p = absl::StrCat(s.section(), "/", s.row());
    if (p != prefix) flush();
    prefix = p;
    labels.push_back(s.seat());
  }
  flush();
  return absl::StrJoin(groups, " ");
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

google::protobuf::Value ToJsonValue(const google::protobuf::Message& message) {
  google::protobuf::Value v;
  if (!google::protobuf::util::JsonStringToMessage(ToJson(message), &v).ok()) v.set_null_value({});
  return v;
}

google::protobuf::Value JsonNumber(double v) {
  google::protobuf::Value out;
  out.set_number_value(v);
  return out;
}

google::protobuf::Value JsonString(const std::string& v) {
  google::protobuf::Value out;
  out.set_string_value(v);
  return out;
}

google::protobuf::Value JsonBool(bool v) {
  google::protobuf::Value out;
  out.set_bool_value(v);
  return out;
}

}  // namespace seatlock::tools
