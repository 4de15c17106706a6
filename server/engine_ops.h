// Engine ops: the per-shard half of every request. Each function translates
// one wire request into SeatEngine calls on the owning shard and fills the
// wire response. They do no I/O and no routing (that is Shard's job), so
// they are tested without sockets (tests/server/engine_ops_test.cc).
//
// Called only on the shard thread that owns `engine`.
#ifndef SEATLOCK_SERVER_ENGINE_OPS_H_
#define SEATLOCK_SERVER_ENGINE_OPS_H_

#include <string>
#include <vector>

#include "engine/seat_engine.h"
#include "protocol/hold_codec.h"
#include "protocol/seatlock.pb.h"

namespace seatlock {

// Executes `req` (an engine op, not HELLO/AUTH/PING) against this shard's
// engine. For fan-out ops (DEFINE_EVENT, GET_AVAILABILITY, LIST_HOLDS,
// LIST_EVENTS, STATS) it fills this shard's part, which the router merges.
void ExecuteEngineOp(SeatEngine& engine, uint32_t shard_index, const wire::Request& req,
                     wire::Response* resp);

// Scratch space ExecuteHoldCall reuses from call to call (one per shard), so
// a HOLD on the fast path allocates nothing once it has grown.
struct HoldCallScratch {
  SeatList keys;
  std::vector<protocol::ReplySeat> seats;
  std::vector<protocol::ReplyConflict> conflicts;
};

// HOLD from a HoldCall (protocol/hold_codec.h: every seat by index): the
// same engine call as ExecuteEngineOp makes for the equivalent wire Request,
// and the same reply, serialized as one frame at the end of *out. Returns the
// reply's code.
wire::ResultCode ExecuteHoldCall(SeatEngine& engine, const protocol::HoldCall& call,
                                 HoldCallScratch* scratch, std::string* out);

// Whether every seat of `call` exists and is FREE now, as PeekSeat shows it
// (a hold past its deadline and not yet expired counts as held). Then the
// HOLD cannot be refused with SEAT_UNAVAILABLE, the one HOLD refusal that
// must wait for the log (CommitPipeline::ShowsSeatStates).
bool HoldCallSeatsFree(const SeatEngine& engine, const protocol::HoldCall& call);

wire::ResultCode ToWire(ResultCode code);

// The engine's layout for a DEFINE_EVENT request (also used to replay the log).
EventLayout LayoutFromWire(const wire::DefineEventRequest& define);
// And back (snapshots write layouts as DEFINE_EVENT requests).
wire::DefineEventRequest WireFromLayout(const EventLayout& layout);

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_ENGINE_OPS_H_
