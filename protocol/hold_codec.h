// HoldCodec: HOLD requests and replies on the wire without protobuf
// messages, for the server's fast path (docs/engine.md, "The HOLD fast
// path"). The bytes are the same protobuf encoding docs/protocol.md
// specifies; only the work differs. A HOLD decoded through protobuf costs
// arena messages per seat, a UTF-8 pass over every string and a second
// walk to size the reply; this codec reads the frame body in place and
// writes the reply in one sized pass.
//
//   HoldCall call;                                   // reused: seats keep their capacity
//   if (DecodeHoldCall(body, max_seats, &call)) {
//     ... run it; fill a HoldReplyFields ...
//     AppendHoldReplyFrame(fields, &out);
//   } else {
//     ... parse `body` as a wire::Request as usual ...
//   }
//
// DecodeHoldCall accepts only the common shape of a well-formed HOLD, and
// says false for everything else (another op, a seat by labels, a field it
// does not know, a field given twice, a non-ASCII string, a missing or
// out-of-range field, more than max_seats seats). A caller that gets false
// parses the body with protobuf, which then decides, so no request is
// answered differently for taking this path. AppendHoldReplyFrame writes
// exactly the bytes protobuf's serializer writes for the same Response
// (tests/protocol/hold_codec_test.cc compares them).
//
// Pure functions on caller-owned data; any thread.
#ifndef SEATLOCK_PROTOCOL_HOLD_CODEC_H_
#define SEATLOCK_PROTOCOL_HOLD_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace seatlock::protocol {

// A decoded HOLD: the views point into the frame body and live as long as it.
struct HoldCall {
  struct Seat {
    std::string_view section;
    uint32_t index = 0;
  };
  uint64_t request_id = 0;
  std::string_view event_id;
  std::string_view holder;
  std::string_view pass;
  int64_t ttl_ms = 0;
  std::vector<Seat> seats;  // at most the max_seats given to DecodeHoldCall
};

// Decodes one frame body (a serialized wire::Request) into *call when it is
// a HOLD whose every seat names a non-empty section and an index (and no row
// or seat label), with a non-empty event_id and holder, ttl_ms > 0, 1 to
// max_seats seats, ASCII strings, and no field twice or unknown. Returns
// false otherwise; *call is then unspecified.
bool DecodeHoldCall(std::string_view body, size_t max_seats, HoldCall* call);

// A seat in a HOLD reply: SeatRef{section, index} (no row or seat label).
struct ReplySeat {
  std::string_view section;
  uint32_t index = 0;
};
// SeatConflict{seat, state, held_until_ms}; state is a wire::SeatState.
struct ReplyConflict {
  ReplySeat seat;
  uint32_t state = 0;
  int64_t held_until_ms = 0;
};
// Response{request_id, code, detail, hold: HoldReply{...}}; a field at its
// default (0, empty) is left out, as protobuf does. has_hold sets the body to
// `hold` even when every HoldReply field is at its default.
struct HoldReplyFields {
  uint64_t request_id = 0;
  uint32_t code = 0;  // a wire::ResultCode
  std::string_view detail;
  bool has_hold = false;
  uint64_t hold_id = 0;
  std::span<const uint64_t> part_hold_ids;
  uint64_t fencing_token = 0;
  int64_t expires_ms = 0;
  int64_t remaining_ms = 0;
  std::span<const ReplySeat> seats;
  std::span<const ReplyConflict> conflicts;
};

// Appends the Response as one frame (4-byte big-endian length, then the
// body) to *out. Returns the body's length.
size_t AppendHoldReplyFrame(const HoldReplyFields& reply, std::string* out);

}  // namespace seatlock::protocol

#endif  // SEATLOCK_PROTOCOL_HOLD_CODEC_H_
