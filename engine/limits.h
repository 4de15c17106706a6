// EngineLimits: the configurable bounds the seat engine enforces. Breaking one
// yields ResultCode::kLimitExceeded with a detail naming the limit. Defaults
// suit a large arena on-sale; seatlockd exposes them as flags.
#ifndef SEATLOCK_ENGINE_LIMITS_H_
#define SEATLOCK_ENGINE_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace seatlock {

struct EngineLimits {
  uint32_t max_seats_per_hold = 32;
  int64_t max_ttl_ms = 60LL * 60 * 1000;                // one HOLD or EXTEND request
  int64_t max_hold_lifetime_ms = 2LL * 60 * 60 * 1000;  // creation to final deadline
  size_t max_label_len = 64;                            // event id, section, row and seat labels
  size_t max_holder_len = 128;
  size_t max_idempotency_key_len = 128;
  size_t max_payment_ref_len = 256;
  uint32_t max_sections_per_event = 10'000;
  uint32_t max_rows_per_section = 10'000;  // at most 65,535
  uint64_t max_seats_per_event = 2'000'000;
  uint32_t max_live_holds = 8'000'000;  // per engine (shard); < 2^30
  uint32_t max_list_results = 10'000;   // LIST_HOLDS page cap
  // How long a confirm's result is kept for idempotent replay.
  int64_t idempotency_retention_ms = 24LL * 60 * 60 * 1000;
  // How long an expired hold is remembered so a late CONFIRM can still find
  // its seats (the "payment took 12 minutes" case).
  int64_t lapsed_hold_retention_ms = 60LL * 60 * 1000;
  // And at most this many bytes of them (per engine): past it the oldest are
  // forgotten first, and a late CONFIRM of one gets HOLD_NOT_FOUND.
  size_t max_lapsed_hold_bytes = size_t{64} << 20;
  // Timer-wheel resolution: a hold is released within one tick of its deadline.
  int64_t tick_ms = 1;
};

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_LIMITS_H_
