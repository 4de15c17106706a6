// EventLayout: the plain description of an event's seating, as a client sends
// it in DEFINE_EVENT: sections, each with rows in order from the stage, each
// row with either a seat count (seats labelled "1".."N") or explicit labels.
//
// A layout is a value type with no owner semantics. ValidateLayout checks it
// against the engine's limits before the engine builds any state from it.
#ifndef SEATLOCK_ENGINE_LAYOUT_H_
#define SEATLOCK_ENGINE_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace seatlock {

struct RowLayout {
  std::string label;                     // e.g. "F"
  uint32_t seat_count = 0;               // used when seat_labels is empty
  std::vector<std::string> seat_labels;  // explicit labels, in seat order
  uint32_t size() const {
    return seat_labels.empty() ? seat_count : static_cast<uint32_t>(seat_labels.size());
  }
  bool operator==(const RowLayout&) const = default;
};

struct SectionLayout {
  std::string label;            // e.g. "103"
  std::vector<RowLayout> rows;  // index 0 is nearest the stage
  uint32_t seat_count() const;
  bool operator==(const SectionLayout&) const = default;
};

struct EventLayout {
  std::string event_id;
  std::vector<SectionLayout> sections;  // order = preference for "any section"
  uint64_t seat_count() const;
  bool operator==(const EventLayout&) const = default;
};

// A seat addressed by its dense position: the section's index in the layout,
// and the seat's index inside its section (row by row, in row order).
struct SeatKey {
  uint32_t section = 0;
  uint32_t seat = 0;
  bool operator==(const SeatKey&) const = default;
  auto operator<=>(const SeatKey&) const = default;
};

// A seat addressed by its human labels: section "103", row "F", seat "12".
struct SeatLabel {
  std::string section;
  std::string row;
  std::string seat;
  bool operator==(const SeatLabel&) const = default;
};

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_LAYOUT_H_
