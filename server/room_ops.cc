#include "server/room_ops.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace seatlock {

using wire::Request;

uint64_t RunRoomOp(const Request& req, const SeatEngine& engine, Rooms& rooms, ShardLog* log,
                   wire::Response* resp, bool* rooms_active) {
  resp->set_request_id(req.request_id());
  if (req.op_case() != Request::kConfigureRoom) {
    const uint64_t lsn = rooms.Execute(req, resp, log);
    if (req.op_case() == Request::kJoinQueue) *rooms_active = true;
    return lsn;
  }
  const std::string& event_id = req.configure_room().event_id();
  const RoomConfig config = RoomConfigFromWire(req.configure_room().config());
  if (engine.Layout(event_id) == nullptr) {
    resp->set_code(wire::EVENT_NOT_FOUND);
    resp->set_detail(absl::StrCat("no event '", event_id, "'"));
    return 0;
  }
  if (std::string why = ValidateRoomConfig(config); !why.empty()) {
    resp->set_code(wire::INVALID_ARGUMENT);
    resp->set_detail(std::move(why));
    return 0;
  }
  const uint64_t lsn = rooms.Configure(event_id, config, log);
  resp->set_code(wire::OK);
  if (rooms.HomeOf(event_id) == rooms.shard()) {
    Request info;
    info.mutable_room_info()->set_event_id(event_id);
    rooms.Execute(info, resp, nullptr);
  }
  *rooms_active = true;
  return lsn;
}

}  // namespace seatlock
