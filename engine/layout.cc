#include "engine/layout.h"

namespace seatlock {

uint32_t SectionLayout::seat_count() const {
  uint32_t n = 0;
  for (const RowLayout& r : rows) n += r.size();
  return n;
}

uint64_t EventLayout::seat_count() const {
  uint64_t n = 0;
  for (const SectionLayout& s : sections) n += s.seat_count();
  return n;
}

}  // namespace seatlock
