// The op table: one row per operation of the wire protocol, saying how a
// request is routed between shards, whether its answer waits for the
// write-ahead log, and whether it needs AUTH. The server's router, its op
// counters and the C++ client's shard-aware routing all read this table, so
// they cannot disagree; docs/protocol.md §3 is the prose form of the same
// table (tests/protocol/op_table_test.cc checks the two against each other).
//
// Example: where should a client send a request?
//
//   const protocol::Target t = protocol::TargetOf(req, shard_count, seed,
//                                                 /*gated=*/!req.hold().pass().empty());
//   if (t.kind == protocol::Target::kShard) SendTo(shard_ports[t.shard], req);
//   else SendTo(main_port, req);
//
// Pure data and pure functions; any thread.
#ifndef SEATLOCK_PROTOCOL_OP_TABLE_H_
#define SEATLOCK_PROTOCOL_OP_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "protocol/seatlock.pb.h"

namespace seatlock::protocol {

// How the server finds the shard(s) that run an op.
enum class Routing : uint8_t {
  kReceiver,     // answered by the shard that received it (HELLO, AUTH, PING)
  kNamedShard,   // the shard the request names (SUBSCRIBE's and LIST_BOOKINGS' `shard`)
  kSection,      // ShardFor(event_id, section) (GET_SEATS)
  kSeats,        // ShardFor(event_id, seat.section) per seat; several owners: multi-shard hold
  kBestSection,  // HOLD_BEST_AVAILABLE: ShardFor(event_id, section); no section: every shard in
                 // turn
  kHoldId,       // hold_id >> 56 (EXTEND, RELEASE, GET_HOLD)
  kConfirm,      // hold_id >> 56, then the other shards in turn on HOLD_NOT_FOUND
  kFanOut,       // every shard; the parts are merged
  kRoomHome,     // the waiting room's home, ShardFor(event_id, "")
};

struct OpInfo {
  wire::Request::OpCase op;
  std::string_view name;  // as in docs/protocol.md §4, e.g. "HOLD_BEST_AVAILABLE"
  Routing routing;
  // The answer may wait until a log record the op wrote is durable.
  bool durable;
  // Refused with UNAUTHENTICATED on a connection that has not sent AUTH,
  // when the server requires a token.
  bool needs_auth;
  // On an event with a waiting room, the room's home checks the request's
  // pass before the op is routed as `routing` says.
  bool gated;
  // The reply may be large (seat maps, lists, stats): while it is in
  // flight the server reserves --max_reply_bytes of the connection's output
  // budget for it (docs/protocol.md §8).
  bool large_reply;
  // Makes new state a client may grow at will (a hold, a place in a queue):
  // refused with RESOURCE_EXHAUSTED while the server is over --max_memory.
  bool grows_state;
};

// Every op, in field-number order.
std::span<const OpInfo> AllOps();
// The row of `op`, or nullptr for OP_NOT_SET and unknown values.
const OpInfo* FindOp(wire::Request::OpCase op);
// Dense index of `op` in AllOps() (for counters), or kOpCount for unknown.
size_t OpIndex(wire::Request::OpCase op);
inline constexpr size_t kOpCount = 24;

// Where one request goes.
struct Target {
  enum Kind : uint8_t {
    kShard,     // run on `shard`
    kReceiver,  // answered by the receiving shard (also: an id naming no shard)
    kFanOut,    // every shard, merged
    kSpread,    // several shards, coordinated by the receiving shard (a
                // multi-shard hold, best-available over every section)
    kConfirm,   // `shard` first, then the others on HOLD_NOT_FOUND
  };
  Kind kind = kReceiver;
  uint32_t shard = 0;
};

// The target of `req` on a server with `shard_count` shards and `seed`.
// `gated`: the event has a waiting room (a server knows; a client assumes so
// when the hold carries a pass). A gated hold targets the room's home.
// EXTEND, RELEASE, GET_HOLD and CONFIRM whose id names a shard >= shard_count
// give kReceiver with shard = that id's shard: the receiver refuses them.
Target TargetOf(const wire::Request& req, uint32_t shard_count, uint64_t seed, bool gated);

// The event id a request is about ("" if none).
const std::string& EventOf(const wire::Request& req);
// The hold id that routes EXTEND, RELEASE, GET_HOLD and CONFIRM (0 for
// other ops).
uint64_t HoldIdOf(const wire::Request& req);

}  // namespace seatlock::protocol

#endif  // SEATLOCK_PROTOCOL_OP_TABLE_H_
