// The shard bus: how shards talk to each other. Each ordered pair of shards
// (from, to) has its own bounded Inbox (a lane), with one producer and one
// consumer, so a message costs one CAS to send and is drained with the
// rest of its lane in one exchange. Messages are typed (BusMessage) and a
// call's answer travels back in the same allocation. Seastar's smp queues
// (one bounded queue per pair of cores) are the model.
//
// When a lane is full the sender keeps the message in a backlog of its own,
// in order, and moves it into the lane once the receiver has drained it;
// the receiver wakes the sender for that. The backlog is bounded by what
// can be in flight at all: connections x requests in flight per connection
// x shards per request (docs/protocol.md §8), and STATS reports it
// (bus_backlog).
//
//   ShardBus bus(&fabric, /*self=*/0);
//   bus.Call(2, std::move(request), [](wire::Response&& r) { ... });  // runs on shard 0
//   ...
//   bus.Drain(&receiver);   // in OnWake: runs calls from others, delivers replies
//   bus.Flush();            // at the end of a pass: backlog into lanes, wake peers
//
// Ownership: the BusFabric owns the lanes and the messages in them; a
// ShardBus owns its backlog and the callbacks of its calls in flight.
// Threads: a ShardBus is used only by its own shard's thread. The fabric is
// built before the shard threads start and outlives them; its waker may be
// called from any shard thread.
#ifndef SEATLOCK_SERVER_SHARD_BUS_H_
#define SEATLOCK_SERVER_SHARD_BUS_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "protocol/seatlock.pb.h"
#include "server/coordinators.h"
#include "server/inbox.h"

namespace seatlock {

struct BusMessage {
  // Run an op the receiver owns and send back its Reply.
  struct RunOp {
    wire::Request request;
  };
  // A hold on an event with a waiting room, at the room's home: check the
  // pass, route the hold on, send back its Reply.
  struct GateHold {
    wire::Request request;
  };
  // The answer to a RunOp or GateHold.
  struct Reply {
    wire::Response response;
  };
  // One way: a hold of a gated event was confirmed (the home frees the
  // buyer's place in its room).
  struct Purchase {
    std::string event_id;
    uint64_t hold_id = 0;
  };

  BusMessage* next = nullptr;  // the Inbox's link
  uint32_t from = 0;           // the sender
  uint64_t token = 0;          // names the caller's callback (not for Purchase)
  std::variant<RunOp, GateHold, Reply, Purchase> body;
};

class BusFabric {
 public:
  // `lane_capacity`: most messages in one lane at once (--shard_queue_depth).
  BusFabric(uint32_t shards, uint64_t lane_capacity);
  BusFabric(const BusFabric&) = delete;
  BusFabric& operator=(const BusFabric&) = delete;

  uint32_t shards() const { return shards_; }
  Inbox<BusMessage>& lane(uint32_t from, uint32_t to) { return *lanes_[from * shards_ + to]; }
  // Set once, before any shard thread starts: wakes shard `to`'s loop.
  void set_waker(std::function<void(uint32_t to)> waker) { waker_ = std::move(waker); }
  void Wake(uint32_t to) const {
    if (waker_) waker_(to);
  }

 private:
  const uint32_t shards_;
  std::vector<std::unique_ptr<Inbox<BusMessage>>> lanes_;
  std::function<void(uint32_t)> waker_;
};

class ShardBus {
 public:
  // What a shard does with messages from its peers. Each `reply` callback
  // owns its message until it runs: call it exactly once.
  class Receiver {
   public:
    virtual ~Receiver() = default;
    virtual void OnRunOp(const wire::Request& request, Callback reply) = 0;
    virtual void OnGateHold(wire::Request&& request, Callback reply) = 0;
    virtual void OnPurchase(const std::string& event_id, uint64_t hold_id) = 0;
  };

  ShardBus(BusFabric* fabric, uint32_t self);
  ~ShardBus();
  ShardBus(const ShardBus&) = delete;
  ShardBus& operator=(const ShardBus&) = delete;

  // Sends a call to `target` (not self); `done` runs here with the reply.
  void Call(uint32_t target, wire::Request&& request, Callback done);
  void CallGateHold(uint32_t target, wire::Request&& request, Callback done);
  void NotePurchase(uint32_t target, std::string event_id, uint64_t hold_id);

  // Takes every message from every lane into this shard and handles it:
  // calls go to `receiver`, replies to their callbacks.
  void Drain(Receiver* receiver);
  // Moves backlog into lanes that have room and wakes every shard that got
  // a message into an empty lane, or that is waiting for room we made.
  void Flush();

  // Any lane into this shard holds a message.
  bool HasIncoming() const;
  // Calls sent and not yet answered.
  size_t calls_waiting() const { return pending_.size(); }
  // Messages waiting for room in a full lane.
  size_t backlog() const { return backlog_count_; }
  uint64_t calls_sent() const { return calls_sent_; }

 private:
  void SendCall(uint32_t target, BusMessage* m, Callback&& done);
  void Send(uint32_t target, BusMessage* m);
  Callback ReplyTo(BusMessage* m);

  BusFabric* const fabric_;
  const uint32_t self_;
  absl::flat_hash_map<uint64_t, Callback> pending_;
  uint64_t next_token_ = 1;
  uint64_t calls_sent_ = 0;
  std::vector<std::deque<BusMessage*>> backlog_;  // per target, in send order
  size_t backlog_count_ = 0;
  std::vector<uint32_t> wake_;
  std::vector<BusMessage*> drained_;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_SHARD_BUS_H_
