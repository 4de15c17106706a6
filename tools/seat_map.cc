#include "tools/seat_map.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"

namespace seatlock::tools {
namespace {

char SeatChar(wire::SeatState state) {
  switch (state) {
    case wire::FREE:
      return kFreeSeat;
    case wire::HELD:
      return kHeldSeat;
    case wire::SOLD:
      return kSoldSeat;
    default:
      return '?';
  }
}

struct Row {
  std::string label;
  std::string cells;  // one char per seat
  std::vector<std::string> seat_labels;
};

// "..........", inserting a space every kSeatGroup seats.
std::string Grouped(const std::string& cells) {
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0 && i % kSeatGroup == 0) out += ' ';
    out += cells[i];
  }
  return out;
}

// True when every row's seats are labelled "1".."n" in order.
bool NumberedFromOne(const std::vector<Row>& rows) {
  for (const Row& r : rows) {
    for (size_t i = 0; i < r.seat_labels.size(); ++i) {
      if (r.seat_labels[i] != std::to_string(i + 1)) return false;
    }
  }
  return true;
}

std::string Plural(uint32_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

}  // namespace

SeatCounts CountSeats(const wire::GetSeatsReply& reply) {
  SeatCounts c;
  std::set<uint64_t> holds;
  std::set<uint64_t> bookings;
  for (const wire::SeatInfo& s : reply.seats()) {
    ++c.total;
    switch (s.state()) {
      case wire::FREE:
        ++c.free;
        break;
      case wire::HELD:
        ++c.held;
        holds.insert(s.owner_id());
        break;
      case wire::SOLD:
        ++c.sold;
        bookings.insert(s.owner_id());
        break;
      default:
        break;
    }
  }
  c.holds = static_cast<uint32_t>(holds.size());
  c.bookings = static_cast<uint32_t>(bookings.size());
  return c;
}

std::string RenderSeatMap(const std::string& event_id, const wire::GetSeatsReply& reply) {
  // Rows in layout order; seats arrive in index order, row by row.
  std::vector<Row> rows;
  std::map<std::string, size_t> row_at;
  for (const std::string& label : reply.rows()) {
    row_at.emplace(label, rows.size());
    rows.push_back({label, "", {}});
  }
  for (const wire::SeatInfo& s : reply.seats()) {
    auto it = row_at.find(s.row());
    if (it == row_at.end()) {  // not announced in rows[]: keep it anyway
      it = row_at.emplace(s.row(), rows.size()).first;
      rows.push_back({s.row(), "", {}});
    }
    rows[it->second].cells += SeatChar(s.state());
    rows[it->second].seat_labels.push_back(s.seat());
  }

  size_t label_width = 0;
  size_t map_width = 0;
  for (const Row& r : rows) {
    label_width = std::max(label_width, r.label.size());
    map_width = std::max(map_width, Grouped(r.cells).size());
  }
  const std::string indent(2 + label_width + 2, ' ');

  std::string out = absl::StrCat(event_id, " / section ", reply.section(), "\n\n");
  const std::string stage = "[ STAGE ]";
  const size_t stage_at = map_width > stage.size() ? (map_width - stage.size()) / 2 : 0;
  absl::StrAppend(&out, indent, std::string(stage_at, ' '), stage, "\n");
  if (NumberedFromOne(rows) && map_width > 0) {
    // The number of each group's first seat, above it.
    std::string ruler;
    for (size_t first = 0; first < map_width; first += kSeatGroup) {
      const size_t column = first / kSeatGroup * (kSeatGroup + 1);
      if (ruler.size() < column)
        ruler.resize(column, ' ');
      else if (!ruler.empty())
        ruler += ' ';
      ruler += std::to_string(first + 1);
      // Stop once past the widest row.
      if ((first / kSeatGroup + 1) * (kSeatGroup + 1) >= map_width) break;
    }
    absl::StrAppend(&out, indent, ruler, "\n");
  }
  for (const Row& r : rows) {
    absl::StrAppend(&out, "  ", r.label, std::string(label_width - r.label.size(), ' '), "  ",
                    Grouped(r.cells), "\n");
  }
  const SeatCounts c = CountSeats(reply);
  absl::StrAppend(&out, "\n", std::string(1, kFreeSeat), " free ", c.free, "   ",
                  std::string(1, kHeldSeat), " held ", c.held, "   ", std::string(1, kSoldSeat),
                  " sold ", c.sold, "   of ", Plural(c.total, "seat", "seats"), " (",
                  Plural(c.holds, "hold", "holds"), ", ", Plural(c.bookings, "booking", "bookings"),
                  ")\n");
  return out;
}

}  // namespace seatlock::tools
