#include "protocol/op_table.h"

#include <array>

#include "protocol/sharding.h"

namespace seatlock::protocol {
namespace {

using R = wire::Request;

// The table. Keep it in field-number order and in step with
// docs/protocol.md §3 (routing) and §4 (auth, durability).
constexpr std::array<OpInfo, kOpCount> kOps = {{
    // op, name, routing, durable, needs_auth, gated, large_reply, grows_state
    {R::kHello, "HELLO", Routing::kReceiver, false, false, false, false, false},
    {R::kAuth, "AUTH", Routing::kReceiver, false, false, false, false, false},
    {R::kPing, "PING", Routing::kReceiver, false, false, false, false, false},
    {R::kDefineEvent, "DEFINE_EVENT", Routing::kFanOut, true, true, false, false, false},
    {R::kHold, "HOLD", Routing::kSeats, false, true, true, false, true},
    {R::kHoldBestAvailable, "HOLD_BEST_AVAILABLE", Routing::kBestSection, false, true, true, false,
     true},
    {R::kExtend, "EXTEND", Routing::kHoldId, false, true, false, false, false},
    {R::kRelease, "RELEASE", Routing::kHoldId, false, true, false, false, false},
    {R::kConfirm, "CONFIRM", Routing::kConfirm, true, true, false, false, false},
    {R::kCancelBooking, "CANCEL_BOOKING", Routing::kFanOut, true, true, false, false, false},
    {R::kGetSeats, "GET_SEATS", Routing::kSection, false, true, false, true, false},
    {R::kGetAvailability, "GET_AVAILABILITY", Routing::kFanOut, false, true, false, true, false},
    {R::kGetHold, "GET_HOLD", Routing::kHoldId, false, true, false, false, false},
    {R::kListHolds, "LIST_HOLDS", Routing::kFanOut, false, true, false, true, false},
    {R::kStats, "STATS", Routing::kFanOut, false, true, false, true, false},
    {R::kListEvents, "LIST_EVENTS", Routing::kFanOut, false, true, false, true, false},
    {R::kSubscribe, "SUBSCRIBE", Routing::kNamedShard, false, true, false, false, false},
    {R::kConfigureRoom, "CONFIGURE_ROOM", Routing::kFanOut, true, true, false, false, false},
    {R::kJoinQueue, "JOIN_QUEUE", Routing::kRoomHome, true, true, false, false, true},
    {R::kQueueStatus, "QUEUE_STATUS", Routing::kRoomHome, true, true, false, false, false},
    {R::kLeaveQueue, "LEAVE_QUEUE", Routing::kRoomHome, true, true, false, false, false},
    {R::kRoomInfo, "ROOM_INFO", Routing::kRoomHome, false, true, false, false, false},
    {R::kDeleteEvent, "DELETE_EVENT", Routing::kFanOut, true, true, false, false, false},
    {R::kListBookings, "LIST_BOOKINGS", Routing::kNamedShard, false, true, false, true, false},
}};

// Field numbers 10..33 map onto the table in order.
constexpr int kFirstField = 10;
static_assert(static_cast<int>(R::kHello) == kFirstField);
static_assert(static_cast<int>(R::kListBookings) == kFirstField + static_cast<int>(kOpCount) - 1);

constexpr bool TableIsDense() {
  for (size_t i = 0; i < kOps.size(); ++i) {
    if (static_cast<int>(kOps[i].op) != kFirstField + static_cast<int>(i)) return false;
  }
  return true;
}
static_assert(TableIsDense(), "kOps must list every op once, in field-number order");

const std::string& EmptyString() {
  static const std::string* const empty = new std::string();
  return *empty;
}

}  // namespace

std::span<const OpInfo> AllOps() { return kOps; }

size_t OpIndex(wire::Request::OpCase op) {
  const int i = static_cast<int>(op) - kFirstField;
  return i >= 0 && i < static_cast<int>(kOpCount) ? static_cast<size_t>(i) : kOpCount;
}

const OpInfo* FindOp(wire::Request::OpCase op) {
  const size_t i = OpIndex(op);
  return i < kOpCount ? &kOps[i] : nullptr;
}

const std::string& EventOf(const wire::Request& req) {
  switch (req.op_case()) {
    case R::kDefineEvent:
      return req.define_event().event_id();
    case R::kHold:
      return req.hold().event_id();
    case R::kHoldBestAvailable:
      return req.hold_best_available().event_id();
    case R::kGetSeats:
      return req.get_seats().event_id();
    case R::kGetAvailability:
      return req.get_availability().event_id();
    case R::kSubscribe:
      return req.subscribe().event_id();
    case R::kConfigureRoom:
      return req.configure_room().event_id();
    case R::kJoinQueue:
      return req.join_queue().event_id();
    case R::kQueueStatus:
      return req.queue_status().event_id();
    case R::kLeaveQueue:
      return req.leave_queue().event_id();
    case R::kRoomInfo:
      return req.room_info().event_id();
    case R::kDeleteEvent:
      return req.delete_event().event_id();
    case R::kListBookings:
      return req.list_bookings().event_id();
    default:
      return EmptyString();
  }
}

uint64_t HoldIdOf(const wire::Request& req) {
  switch (req.op_case()) {
    case R::kExtend:
      return req.extend().hold_id();
    case R::kRelease:
      return req.release().hold_id();
    case R::kGetHold:
      return req.get_hold().hold_id();
    case R::kConfirm:
      return req.confirm().hold_id();
    default:
      return 0;
  }
}

Target TargetOf(const wire::Request& req, uint32_t n, uint64_t seed, bool gated) {
  const OpInfo* info = FindOp(req.op_case());
  if (info == nullptr) return {Target::kReceiver, 0};
  const std::string& event = EventOf(req);
  if (info->gated && gated) return {Target::kShard, ShardFor(event, "", n, seed)};
  auto by_id = [n](uint64_t id, Target::Kind kind) -> Target {
    const uint32_t owner = ShardOfId(id);
    return {owner < n ? kind : Target::kReceiver, owner};
  };
  switch (info->routing) {
    case Routing::kReceiver:
      return {Target::kReceiver, 0};
    case Routing::kNamedShard:
      return {Target::kShard, req.op_case() == R::kListBookings ? req.list_bookings().shard()
                                                                : req.subscribe().shard()};
    case Routing::kSection:
      return {Target::kShard, ShardFor(event, req.get_seats().section(), n, seed)};
    case Routing::kSeats: {
      const auto& seats = req.hold().seats();
      if (seats.empty()) return {Target::kReceiver, 0};
      const uint32_t first = ShardFor(event, seats[0].section(), n, seed);
      for (const wire::SeatRef& s : seats) {
        if (ShardFor(event, s.section(), n, seed) != first) return {Target::kSpread, 0};
      }
      return {Target::kShard, first};
    }
    case Routing::kBestSection: {
      const std::string& section = req.hold_best_available().section();
      if (section.empty()) return {Target::kSpread, 0};
      return {Target::kShard, ShardFor(event, section, n, seed)};
    }
    case Routing::kHoldId:
      return by_id(HoldIdOf(req), Target::kShard);
    case Routing::kConfirm:
      return {Target::kConfirm, ShardOfId(HoldIdOf(req))};
    case Routing::kFanOut:
      return {Target::kFanOut, 0};
    case Routing::kRoomHome:
      return {Target::kShard, ShardFor(event, "", n, seed)};
  }
  return {Target::kReceiver, 0};
}

}  // namespace seatlock::protocol
