#include "engine/seat_picker.h"

#include <cstdlib>

namespace seatlock {
namespace {

// Twice the distance between the block's centre and the row's centre, so it
// stays an integer.
uint64_t CentreDistance(const PickRow& row, uint32_t start, uint32_t count) {
  const int64_t block2 = 2 * static_cast<int64_t>(start) + count;
  const int64_t row2 = 2 * static_cast<int64_t>(row.first) + row.count;
  return static_cast<uint64_t>(std::llabs(block2 - row2));
}

}  // namespace

BlockPick FindBestBlock(absl::Span<const PickRow> rows, IsFreeFn is_free, uint32_t count) {
  BlockPick best_orphan;  // first row's best block that leaves an orphan
  uint64_t best_orphan_dist = 0;
  if (count == 0) return {};
  for (uint32_t r = 0; r < rows.size(); ++r) {
    const PickRow& row = rows[r];
    if (row.free < count) continue;
    BlockPick best;  // best block in this row without an orphan
    uint64_t best_dist = 0;
    BlockPick row_orphan;
    uint64_t row_orphan_dist = 0;
    const uint32_t end = row.first + row.count;
    uint32_t s = row.first;
    while (s < end) {
      if (!is_free(s)) {
        ++s;
        continue;
      }
      uint32_t e = s;  // free run [s, e)
      while (e < end && is_free(e)) ++e;
      if (e - s >= count) {
        for (uint32_t b = s; b + count <= e; ++b) {
          const bool orphan = (b - s == 1) || (e - (b + count) == 1);
          const uint64_t d = CentreDistance(row, b, count);
          if (!orphan) {
            if (!best.found || d < best_dist) {
              best = {true, false, r, b};
              best_dist = d;
            }
          } else if (!row_orphan.found || d < row_orphan_dist) {
            row_orphan = {true, true, r, b};
            row_orphan_dist = d;
          }
        }
      }
      s = e;
    }
    if (best.found) return best;  // nearer rows win among orphan-free blocks
    if (row_orphan.found && !best_orphan.found) {
      best_orphan = row_orphan;
      best_orphan_dist = row_orphan_dist;
    }
  }
  (void)best_orphan_dist;
  return best_orphan;
}

uint32_t PickScattered(absl::Span<const PickRow> rows, IsFreeFn is_free, uint32_t count,
                       std::vector<uint32_t>* out) {
  uint32_t taken = 0;
  for (const PickRow& row : rows) {
    if (taken == count) break;
    if (row.free == 0 || row.count == 0) continue;
    // Middle outward: mid, mid-1, mid+1, mid-2, ...
    const int64_t mid = row.first + (row.count - 1) / 2;
    for (uint32_t k = 0; k < 2 * row.count && taken < count; ++k) {
      const int64_t off =
          (k % 2 == 0) ? static_cast<int64_t>(k / 2) : -static_cast<int64_t>(k / 2 + 1);
      const int64_t seat = mid + off;
      if (seat < row.first || seat >= static_cast<int64_t>(row.first) + row.count) continue;
      if (is_free(static_cast<uint32_t>(seat))) {
        out->push_back(static_cast<uint32_t>(seat));
        ++taken;
      }
    }
  }
  return taken;
}

}  // namespace seatlock
