// Coordinators: the requests one shard answers by calling other shards one
// after another (docs/protocol.md §3 and §5).
//   - HoldAcrossShards: a HOLD whose seats live on several shards, all or
//     nothing: the parts are taken in shard order, and on the first refusal
//     the parts already taken are released.
//   - ConfirmAcrossShards: a CONFIRM goes to its hold's shard; on
//     HOLD_NOT_FOUND the others are asked in turn (after a reshard a sale's
//     idempotency record may live elsewhere, docs/wal.md).
//   - HoldBestAnywhere: HOLD_BEST_AVAILABLE without a section: the
//     receiving shard first, then the others, until one has the seats.
// All three are built on CallInTurn, the one sequential-call helper.
//
// A coordinator keeps its state in a shared block that the pending call's
// callback owns, so nothing outlives the last answer. They run on the
// receiving shard's thread: `call` must invoke its callback on that thread
// (at once for a local part, or later from the shard bus).
#ifndef SEATLOCK_SERVER_COORDINATORS_H_
#define SEATLOCK_SERVER_COORDINATORS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "protocol/seatlock.pb.h"

namespace seatlock {

using Callback = std::function<void(wire::Response&&)>;
// Runs `req` on shard `shard` (the owner) and calls `done` with its answer.
using CallFn = std::function<void(uint32_t shard, wire::Request&& req, Callback done)>;

// The sequential-call helper: calls targets[0], then, if on_reply says
// kContinue, targets[1], and so on. on_end runs if every call said kContinue.
struct CallSteps {
  enum class Next { kContinue, kStop };
  std::vector<uint32_t> targets;
  std::function<wire::Request(size_t i)> request;  // the i-th call's request
  std::function<Next(size_t i, wire::Response&& reply)> on_reply;
  std::function<void()> on_end;
};
void CallInTurn(CallFn call, CallSteps steps);

// The one shard that owns every seat of a HOLD (shard 0 if it names none,
// for its engine to refuse), or nullopt if its seats span shards. Most holds
// name one section, so the router sends them on as they are: no split, no
// copy.
std::optional<uint32_t> SoleHoldShard(const wire::Request& hold, uint32_t shard_count,
                                      uint64_t seed);

// Splits a HOLD's seats by owner shard; each part keeps the request id,
// event, holder and TTL. Ordered by shard.
std::map<uint32_t, wire::Request> SplitHoldByShard(const wire::Request& hold, uint32_t shard_count,
                                                   uint64_t seed);

// `parts` from SplitHoldByShard, at least two. On success the reply names
// the first part's hold id, every part's id in part_hold_ids, the highest
// fencing token, the earliest expiry and every seat.
void HoldAcrossShards(CallFn call, uint64_t request_id, std::string holder,
                      std::map<uint32_t, wire::Request>&& parts, Callback done);

// With one shard the CONFIRM goes on as it is; with more, the owner is asked
// first, and a copy is kept only for the others its HOLD_NOT_FOUND sends it to.
void ConfirmAcrossShards(CallFn call, wire::Request&& confirm, uint32_t shard_count, Callback done);

// `self` is the receiving shard. The refusal reported when no shard has the
// seats is the most specific one seen (NO_ADJACENT_SEATS over
// NOT_ENOUGH_SEATS); any other refusal ends the search at once.
void HoldBestAnywhere(CallFn call, wire::Request&& req, uint32_t self, uint32_t shard_count,
                      Callback done);

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_COORDINATORS_H_
