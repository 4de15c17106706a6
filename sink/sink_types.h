// The values seatlock-sink moves from the change feed into PostgreSQL: a
// sale, a refund, a feed position, and the batch that commits them together.
// Plain data; any thread.
#ifndef SEATLOCK_SINK_SINK_TYPES_H_
#define SEATLOCK_SINK_SINK_TYPES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace seatlock::sink {

struct SeatRow {
  std::string section, row, seat;
  int64_t index = -1;  // -1: unknown
};

// A booking as the bookings table stores it. From a SOLD change plus the
// shard's BookingRecord (LIST_BOOKINGS), or from a reconcile's full read.
struct Sale {
  uint64_t booking_id = 0;
  std::string event_id;
  uint32_t shard = 0;
  uint64_t hold_id = 0;
  uint64_t fencing_token = 0;
  std::string holder;
  std::string idempotency_key;
  std::string payment_ref;
  int64_t confirmed_ms = 0;
  bool cancelled = false;    // a reconcile found it already refunded
  int64_t cancelled_ms = 0;  // 0: unknown (the time of the reconcile is stored)
  std::vector<SeatRow> seats;
};

struct Refund {
  uint64_t booking_id = 0;
  int64_t cancelled_ms = 0;
};

// The newest change applied of one (event, shard) stream.
struct FeedPosition {
  uint32_t shard = 0;
  std::string event_id;
  uint64_t seq = 0;
};

// One transaction: the changes in feed order, then the positions they reach.
struct Batch {
  struct Op {
    enum Kind { kSale, kRefund } kind;
    Sale sale;      // kSale
    Refund refund;  // kRefund
  };
  std::vector<Op> ops;
  std::vector<FeedPosition> positions;
};

// What one committed batch did (for logs and metrics).
struct ApplyResult {
  uint64_t sales_inserted = 0;   // new bookings rows (each notified)
  uint64_t refunds_applied = 0;  // bookings turned cancelled (each notified)
  uint64_t duplicates = 0;       // changes the database already reflected
  uint64_t unknown_refunds = 0;  // refunds of a booking the database does not have
};

}  // namespace seatlock::sink

#endif  // SEATLOCK_SINK_SINK_TYPES_H_
