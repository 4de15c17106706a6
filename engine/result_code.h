// ResultCode: every domain outcome of a seat-engine operation.
//
// Domain outcomes (a seat is taken, a hold expired) are values, not errors:
// the protocol carries them to the client as they are (see docs/protocol.md),
// and their numeric values are part of the wire format. Never renumber; only
// append.
#ifndef SEATLOCK_ENGINE_RESULT_CODE_H_
#define SEATLOCK_ENGINE_RESULT_CODE_H_

#include <cstdint>
#include <string_view>

namespace seatlock {

enum class ResultCode : uint16_t {
  kOk = 0,
  kSeatUnavailable = 1,  // at least one seat is HELD or SOLD; see conflicts
  kUnknownSeat = 2,      // a seat, row or section does not exist
  kEventNotFound = 3,
  kEventExists = 4,            // redefinition with a different layout
  kHoldNotFound = 5,           // unknown, released, confirmed, or purged hold id
  kNotHolder = 6,              // the hold belongs to another holder
  kHoldExpired = 7,            // extend/release of a hold whose deadline passed
  kHoldExpiredSeatsTaken = 8,  // late confirm: a seat was taken since; nothing sold
  kIdempotencyMismatch = 9,    // same idempotency key, different parameters
  kNoAdjacentSeats = 10,       // best-available: no block of `count` together
  kNotEnoughSeats = 11,        // best-available: fewer than `count` free seats
  kLimitExceeded = 12,         // a configured limit (seats per hold, TTL, lengths)
  kLifetimeExceeded = 13,      // extend past the maximum total hold lifetime
  kBookingNotFound = 14,
  kBookingCancelled = 15,   // cancel of an already-cancelled booking
  kInvalidArgument = 16,    // malformed request (empty holder, ttl <= 0, ...)
  kCapacityExhausted = 17,  // too many live holds on this shard
  kWrongShard = 18,         // the section is owned by another shard
  kDuplicateSeat = 19,      // the same seat twice in one request
  kInProgress = 20,         // idempotent confirm still being made durable
  kUnavailable = 21,        // server-side: shutting down, WAL failed, ...
  kUnauthenticated = 22,
  kInternal = 23,
  kResyncRequired = 24,     // change feed: the asked-for changes are gone
  kSoldOut = 25,            // waiting room: no free seats and no live holds
  kPassInvalid = 26,        // gated hold: no pass, an unknown pass, or an expired one
  kRoomNotFound = 27,       // the event has no waiting room
  kNotInQueue = 28,         // no such queue number for this buyer key
  kResourceExhausted = 29,  // the server is over its memory guard (--max_memory)
  kEventHasLiveHolds = 31,  // DELETE_EVENT without force: the event has live holds
  kNotPrimary = 32,         // server-side: a replica, or a primary that lost its lease
};

// Stable upper-case name, e.g. "HOLD_EXPIRED_SEATS_TAKEN".
std::string_view ResultCodeName(ResultCode code);

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_RESULT_CODE_H_
