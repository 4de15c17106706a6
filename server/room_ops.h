// Room ops: the owner's half of the waiting-room requests (CONFIGURE_ROOM
// on every shard; JOIN_QUEUE, QUEUE_STATUS, LEAVE_QUEUE and ROOM_INFO on
// the room's home), between the wire and Rooms (docs/waiting-room.md).
//
// A free function on the shard's thread; it touches the engine (to check
// the event exists), the rooms and the log it is given.
#ifndef SEATLOCK_SERVER_ROOM_OPS_H_
#define SEATLOCK_SERVER_ROOM_OPS_H_

#include <cstdint>

#include "engine/seat_engine.h"
#include "protocol/seatlock.pb.h"
#include "server/rooms.h"
#include "server/shard_log.h"

namespace seatlock {

// Runs a room op and fills `resp`. Returns the LSN the reply must wait for
// (0: answer now). Sets *rooms_active when the shard must tick its rooms.
uint64_t RunRoomOp(const wire::Request& req, const SeatEngine& engine, Rooms& rooms, ShardLog* log,
                   wire::Response* resp, bool* rooms_active);

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_ROOM_OPS_H_
