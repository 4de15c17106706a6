// ReplicatedHolds: a primary shard's HoldJournal. Every hold its engine
// sets or ends goes into the shard's ring in the ReplicationHub
// (ReplicationHub::holds), stamped with the shard's last appended LSN and
// the time, for the replication streams to send (docs/cluster.md, "Holds
// reach the replicas"). A replica's ReplicaApplier applies them.
//
// Ownership: owned by its Shard, which hands it to its engine (primary
// shards of a replica group only). Called on the shard's thread only, by
// the engine.
#ifndef SEATLOCK_SERVER_REPLICATED_HOLDS_H_
#define SEATLOCK_SERVER_REPLICATED_HOLDS_H_

#include <cstdint>
#include <functional>

#include "engine/seat_engine.h"
#include "server/replication_hub.h"

namespace seatlock {

class ReplicatedHolds final : public HoldJournal {
 public:
  // `last_lsn`: the shard's last appended LSN (0 before its log opens).
  ReplicatedHolds(ReplicationHub* hub, uint32_t shard, std::function<uint64_t()> last_lsn)
      : ring_(&hub->holds(shard)), last_lsn_(std::move(last_lsn)) {}

  void OnHoldSet(const HoldImage& hold) override;
  void OnHoldGone(uint64_t hold_id) override;

 private:
  HoldChangeRing* ring_;
  std::function<uint64_t()> last_lsn_;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_REPLICATED_HOLDS_H_
