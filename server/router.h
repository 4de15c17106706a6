// Router: sends each request to the shard(s) that must run it, by the op
// table (protocol/op_table.h, docs/protocol.md §3): to the owner, to every
// shard with a fan-out merge (fanout_merge.h), or through a coordinator
// (coordinators.h). On events with a waiting room it sends holds to the
// room's home first, which checks the pass (GateHold). As the home of a
// room it measures the room's seat supply across shards (PollSupply).
//
// Ownership: owns nothing; it uses its shard's rooms, bus and engine (for
// event layouts), and runs local parts through `run_local`. Threads: the
// shard's thread only; every callback it is given runs on that thread.
#ifndef SEATLOCK_SERVER_ROUTER_H_
#define SEATLOCK_SERVER_ROUTER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/seat_engine.h"
#include "protocol/seatlock.pb.h"
#include "server/commit_pipeline.h"
#include "server/config.h"
#include "server/coordinators.h"
#include "server/event_loop.h"
#include "server/rooms.h"
#include "server/shard_bus.h"
#include "server/shard_group.h"

namespace seatlock {

class Router {
 public:
  // Runs an op this shard owns (Shard::RunOp).
  using RunLocal = std::function<void(const wire::Request& req, Callback done)>;

  struct Parts {
    uint32_t self = 0;
    const ServerConfig* config = nullptr;
    const ShardGroup* group = nullptr;
    const SeatEngine* engine = nullptr;
    Rooms* rooms = nullptr;
    ShardBus* bus = nullptr;
    CommitPipeline* commit = nullptr;  // its log records room purchases
    RunLocal run_local;
  };
  explicit Router(Parts parts) : p_(std::move(parts)) {}

  void set_loop(const EventLoop* loop) { loop_ = loop; }

  // Routes a well-formed request (not HELLO, AUTH, PING or SUBSCRIBE).
  void Route(wire::Request&& req, Callback done);
  // On the room's home: checks a gated hold's pass, then routes the hold.
  void GateHold(wire::Request&& req, Callback done);
  // On the room's home: starts the supply measurements that are due.
  void PollSupply(int64_t now_ms);

  // Runs `req` on `target`: here at once, or through the bus.
  void CallShard(uint32_t target, wire::Request&& req, Callback done);

 private:
  // STATS: this node's role, epoch and, on a primary, its replicas.
  void FillReplication(wire::StatsReply* s) const;
  // Routes as if the event had no waiting room (after GateHold).
  void RouteUngated(wire::Request&& req, Callback done);
  void RouteHold(wire::Request&& req, Callback done);
  void RouteFanOut(wire::Request&& req, Callback done);
  // DELETE_EVENT: without force, a GET_AVAILABILITY fan-out first refuses
  // with EVENT_HAS_LIVE_HOLDS while any seat is held; then every shard
  // deletes its part (docs/protocol.md, DELETE_EVENT).
  void DeleteEvent(wire::Request&& req, Callback done);
  void FanOut(const wire::Request& req, std::function<void(std::vector<wire::Response>&&)> done);
  void NotePurchase(const wire::Request& confirm, const std::string& event_id);
  CallFn Caller();

  Parts p_;
  const EventLoop* loop_ = nullptr;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_ROUTER_H_
