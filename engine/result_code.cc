#include "engine/result_code.h"

namespace seatlock {

std::string_view ResultCodeName(ResultCode code) {
  switch (code) {
    case ResultCode::kOk:
      return "OK";
    case ResultCode::kSeatUnavailable:
      return "SEAT_UNAVAILABLE";
    case ResultCode::kUnknownSeat:
      return "UNKNOWN_SEAT";
    case ResultCode::kEventNotFound:
      return "EVENT_NOT_FOUND";
    case ResultCode::kEventExists:
      return "EVENT_EXISTS";
    case ResultCode::kHoldNotFound:
      return "HOLD_NOT_FOUND";
    case ResultCode::kNotHolder:
      return "NOT_HOLDER";
    case ResultCode::kHoldExpired:
      return "HOLD_EXPIRED";
    case ResultCode::kHoldExpiredSeatsTaken:
      return "HOLD_EXPIRED_SEATS_TAKEN";
    case ResultCode::kIdempotencyMismatch:
      return "IDEMPOTENCY_MISMATCH";
    case ResultCode::kNoAdjacentSeats:
      return "NO_ADJACENT_SEATS";
    case ResultCode::kNotEnoughSeats:
      return "NOT_ENOUGH_SEATS";
    case ResultCode::kLimitExceeded:
      return "LIMIT_EXCEEDED";
    case ResultCode::kLifetimeExceeded:
      return "LIFETIME_EXCEEDED";
    case ResultCode::kBookingNotFound:
      return "BOOKING_NOT_FOUND";
    case ResultCode::kBookingCancelled:
      return "BOOKING_CANCELLED";
    case ResultCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case ResultCode::kCapacityExhausted:
      return "CAPACITY_EXHAUSTED";
    case ResultCode::kWrongShard:
      return "WRONG_SHARD";
    case ResultCode::kDuplicateSeat:
      return "DUPLICATE_SEAT";
    case ResultCode::kInProgress:
      return "IN_PROGRESS";
    case ResultCode::kUnavailable:
      return "UNAVAILABLE";
    case ResultCode::kUnauthenticated:
      return "UNAUTHENTICATED";
    case ResultCode::kInternal:
      return "INTERNAL";
    case ResultCode::kResyncRequired:
      return "RESYNC_REQUIRED";
    case ResultCode::kSoldOut:
      return "SOLD_OUT";
    case ResultCode::kPassInvalid:
      return "PASS_INVALID";
    case ResultCode::kRoomNotFound:
      return "ROOM_NOT_FOUND";
    case ResultCode::kNotInQueue:
      return "NOT_IN_QUEUE";
    case ResultCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case ResultCode::kNotPrimary:
      return "NOT_PRIMARY";
    case ResultCode::kEventHasLiveHolds:
      return "EVENT_HAS_LIVE_HOLDS";
  }
  return "UNKNOWN_RESULT_CODE";
}

}  // namespace seatlock
