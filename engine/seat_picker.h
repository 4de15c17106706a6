// Seat picking for HOLD_BEST_AVAILABLE: which `count` seats of a section to
// offer. Pure functions over a section's rows and a "is this seat free" test;
// they change nothing and own nothing. Called on the engine's thread.
//
// Preference, for seats together: a block that leaves no single orphan seat
// (a lone free seat between taken ones or at a row end) beats one that does;
// then the row nearest the stage (lowest row index); then the block whose
// centre is nearest the row's centre; then the lower seat index.
#ifndef SEATLOCK_ENGINE_SEAT_PICKER_H_
#define SEATLOCK_ENGINE_SEAT_PICKER_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"

namespace seatlock {

// One row of a section: seats [first, first + count) in section indices.
struct PickRow {
  uint32_t first = 0;
  uint32_t count = 0;
  uint32_t free = 0;  // free seats in the row, used to skip full rows
};

struct BlockPick {
  bool found = false;
  bool leaves_orphan = false;
  uint32_t row = 0;
  uint32_t start = 0;  // first seat index of the block
};

using IsFreeFn = absl::FunctionRef<bool(uint32_t seat)>;

// The best block of `count` adjacent free seats in one row, or found=false.
BlockPick FindBestBlock(absl::Span<const PickRow> rows, IsFreeFn is_free, uint32_t count);

// Appends up to `count` free seats, row by row from the stage, each row from
// its middle outward. Returns the number appended.
uint32_t PickScattered(absl::Span<const PickRow> rows, IsFreeFn is_free, uint32_t count,
                       std::vector<uint32_t>* out);

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_SEAT_PICKER_H_
