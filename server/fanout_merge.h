// Fan-out merges: how the parts of a request sent to every shard become one
// reply (docs/protocol.md §3). Each function takes the parts in shard order
// (parts[i] came from shard i) and the request id, and returns the reply.
//
// Pure functions, no I/O and no shard state; any thread
// (tests/server/fanout_merge_test.cc).
#ifndef SEATLOCK_SERVER_FANOUT_MERGE_H_
#define SEATLOCK_SERVER_FANOUT_MERGE_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/layout.h"
#include "protocol/seatlock.pb.h"

namespace seatlock::merge {

// What the merge of DEFINE_EVENT, GET_AVAILABILITY, LIST_HOLDS, LIST_EVENTS
// and STATS needs besides the parts.
struct Context {
  // GET_AVAILABILITY: sections are listed in this layout's order (any
  // shard's copy: every shard has every layout). nullptr: in shard order.
  const EventLayout* layout = nullptr;
  // LIST_HOLDS: most holds in the merged page.
  uint32_t list_limit = 1000;
  // STATS: the server-wide fields.
  int64_t uptime_ms = 0;
  std::string_view server_version;
  std::string_view io_backend;
  uint64_t rss_bytes = 0;
  uint64_t max_memory_bytes = 0;
  bool memory_exceeded = false;
};

// DEFINE_EVENT, GET_AVAILABILITY, LIST_HOLDS, LIST_EVENTS and STATS: the
// first non-OK part in shard order is the reply (code and detail), else the
// parts are summed or concatenated as the op says.
wire::Response MergeParts(wire::Request::OpCase op, const std::vector<wire::Response>& parts,
                          uint64_t request_id, const Context& context);

// CANCEL_BOOKING: the OK part if a shard had the booking, else the last
// refusal other than BOOKING_NOT_FOUND, else BOOKING_NOT_FOUND.
wire::Response MergeCancelBooking(std::vector<wire::Response>&& parts, uint64_t request_id);

// CONFIGURE_ROOM: the first non-OK part, else the home shard's part (it
// carries the room's figures).
wire::Response MergeConfigureRoom(std::vector<wire::Response>&& parts, uint64_t request_id,
                                  uint32_t home);

// A waiting room's seat supply, from every shard's GET_AVAILABILITY part.
struct Supply {
  bool known = false;  // false if any part failed
  uint64_t free = 0;
  uint64_t held = 0;
};
Supply MergeSupply(const std::vector<wire::Response>& parts);

}  // namespace seatlock::merge

#endif  // SEATLOCK_SERVER_FANOUT_MERGE_H_
