#include "server/request_validation.h"

namespace seatlock {

// Returns a non-empty message when a request is malformed: a required field
// is missing or out of range. Domain limits are the engine's business.
std::string Malformed(const wire::Request& req) {
  using wire::Request;
  switch (req.op_case()) {
    case Request::kDefineEvent:
      if (req.define_event().event_id().empty()) return "define_event.event_id is empty";
      if (req.define_event().sections_size() == 0) return "define_event.sections is empty";
      return "";
    case Request::kHold: {
      const auto& h = req.hold();
      if (h.event_id().empty()) return "hold.event_id is empty";
      if (h.seats_size() == 0) return "hold.seats is empty";
      for (const auto& s : h.seats()) {
        if (s.section().empty()) return "hold.seats[].section is empty";
        if (!s.has_index() && (s.row().empty() || s.seat().empty())) {
          return "hold.seats[] needs row and seat labels, or an index";
        }
      }
      if (h.holder().empty()) return "hold.holder is empty";
      if (h.ttl_ms() <= 0) return "hold.ttl_ms must be positive";
      return "";
    }
    case Request::kHoldBestAvailable: {
      const auto& h = req.hold_best_available();
      if (h.event_id().empty()) return "hold_best_available.event_id is empty";
      if (h.count() == 0) return "hold_best_available.count must be positive";
      if (h.holder().empty()) return "hold_best_available.holder is empty";
      if (h.ttl_ms() <= 0) return "hold_best_available.ttl_ms must be positive";
      return "";
    }
    case Request::kExtend:
      if (req.extend().hold_id() == 0) return "extend.hold_id is 0";
      if (req.extend().holder().empty()) return "extend.holder is empty";
      if (req.extend().ttl_ms() <= 0) return "extend.ttl_ms must be positive";
      return "";
    case Request::kRelease:
      if (req.release().hold_id() == 0) return "release.hold_id is 0";
      if (req.release().holder().empty()) return "release.holder is empty";
      return "";
    case Request::kConfirm:
      if (req.confirm().hold_id() == 0) return "confirm.hold_id is 0";
      if (req.confirm().holder().empty()) return "confirm.holder is empty";
      if (req.confirm().idempotency_key().empty()) return "confirm.idempotency_key is empty";
      return "";
    case Request::kCancelBooking:
      if (req.cancel_booking().booking_id() == 0) return "cancel_booking.booking_id is 0";
      return "";
    case Request::kGetSeats:
      if (req.get_seats().event_id().empty()) return "get_seats.event_id is empty";
      if (req.get_seats().section().empty()) return "get_seats.section is empty";
      return "";
    case Request::kGetAvailability:
      if (req.get_availability().event_id().empty()) return "get_availability.event_id is empty";
      return "";
    case Request::kGetHold:
      if (req.get_hold().hold_id() == 0) return "get_hold.hold_id is 0";
      return "";
    case Request::kSubscribe:
      if (req.subscribe().event_id().empty()) return "subscribe.event_id is empty";
      return "";
    case Request::kListBookings:
      if (req.list_bookings().event_id().empty()) return "list_bookings.event_id is empty";
      return "";
    case Request::kConfigureRoom:
      if (req.configure_room().event_id().empty()) return "configure_room.event_id is empty";
      return "";
    case Request::kJoinQueue:
      if (req.join_queue().event_id().empty()) return "join_queue.event_id is empty";
      if (req.join_queue().buyer_key().empty()) return "join_queue.buyer_key is empty";
      return "";
    case Request::kQueueStatus:
      if (req.queue_status().event_id().empty()) return "queue_status.event_id is empty";
      if (req.queue_status().number() == 0) return "queue_status.number is 0";
      return "";
    case Request::kLeaveQueue:
      if (req.leave_queue().event_id().empty()) return "leave_queue.event_id is empty";
      if (req.leave_queue().number() == 0) return "leave_queue.number is 0";
      return "";
    case Request::kRoomInfo:
      if (req.room_info().event_id().empty()) return "room_info.event_id is empty";
      return "";
    case Request::kDeleteEvent:
      if (req.delete_event().event_id().empty()) return "delete_event.event_id is empty";
      return "";
    default:
      return "";
  }
}

}  // namespace seatlock
