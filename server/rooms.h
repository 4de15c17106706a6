// Rooms: one shard's part of the waiting rooms (docs/waiting-room.md).
//
// Every shard knows which events are gated and their room config, so it can
// send their holds to the room first. The event's room home shard,
// HomeOf(event) (the shard of the event with an empty section label), also
// owns the WaitingRoom itself: it answers JOIN_QUEUE, QUEUE_STATUS,
// LEAVE_QUEUE and ROOM_INFO, checks passes for gated holds, admits buyers on
// Tick, and writes every queue change to its shard's log as a kRoom record.
// Recovery replays those records (Apply); snapshots carry each room's state
// (AppendState). When resharding, a shard keeps the queues it is now home of.
//
// Ownership: owned by its Shard; every method runs on that shard's thread.
// The clock must outlive it.
#ifndef SEATLOCK_SERVER_ROOMS_H_
#define SEATLOCK_SERVER_ROOMS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "engine/clock.h"
#include "engine/string_util.h"
#include "engine/waiting_room.h"
#include "persistence/wal.pb.h"
#include "protocol/seatlock.pb.h"
#include "server/shard_log.h"

namespace seatlock {

// The wire config with the documented defaults filled in (batch, pass
// lifetime, grace, seats per pass; the mode's rate or max_active is required).
RoomConfig RoomConfigFromWire(const wire::RoomConfig& in);
void RoomConfigToWire(const RoomConfig& in, wire::RoomConfig* out);

class Rooms {
 public:
  Rooms(uint32_t shard, uint32_t shards, uint64_t hash_seed, const Clock* clock);

  uint32_t shard() const { return shard_; }
  uint32_t shards() const { return shards_; }
  uint64_t hash_seed() const { return hash_seed_; }
  const Clock* clock() const { return clock_; }
  uint32_t HomeOf(std::string_view event_id) const;
  bool gated(std::string_view event_id) const { return configs_.contains(event_id); }
  bool empty() const { return configs_.empty(); }

  // CONFIGURE_ROOM's part on this shard (the caller checked the event
  // exists). Returns the LSN to wait for (0 without a log).
  uint64_t Configure(const std::string& event_id, const RoomConfig& config, ShardLog* log);

  // JOIN_QUEUE, QUEUE_STATUS, LEAVE_QUEUE and ROOM_INFO on the home shard.
  // Fills `resp` and returns the LSN the answer must wait for (0: none).
  uint64_t Execute(const wire::Request& req, wire::Response* resp, ShardLog* log);

  // Gated holds, on the home shard: checks the pass and reserves `seats` on
  // it. On OK, `*number` names the buyer for Refund / NoteHolds.
  wire::ResultCode UsePass(std::string_view event_id, std::string_view pass, uint32_t seats,
                           uint64_t* number, std::string* detail);
  void Refund(std::string_view event_id, uint64_t number, uint32_t seats);
  void NoteHolds(std::string_view event_id, uint64_t number, const std::vector<uint64_t>& hold_ids);
  // A hold of a gated event was confirmed: the buyer's slot frees.
  void Purchased(std::string_view event_id, uint64_t hold_id, ShardLog* log);

  // Opens, expires and admits. Returns true while this shard is the home of
  // some room (its seat supply is measured even while nobody is in line).
  bool Tick(ShardLog* log);
  // Events whose seat supply the home shard should measure now.
  std::vector<std::string> SupplyDue(int64_t now_ms);
  void SetSupply(std::string_view event_id, uint64_t free, uint64_t held);

  // DELETE_EVENT (and its replay): forgets the event's config and, on its
  // home, the room with its queue and passes.
  void Delete(std::string_view event_id);

  // Recovery (records of any shard; queue records of events this shard is
  // not home of are ignored) and snapshots.
  absl::Status Apply(const wal::RoomRecord& rec);
  void FinishRestore();
  void AppendState(std::string* out) const;

 private:
  struct Home {
    std::unique_ptr<WaitingRoom> room;
    absl::flat_hash_map<uint64_t, uint64_t> hold_buyer;  // gated hold id -> queue number
    uint64_t last_join_lsn = 0;                          // answers about joins wait for this
    uint64_t last_admit_lsn = 0;  // a pass is shown once its admission is durable
    int64_t next_supply_ms = 0;
    int64_t next_cleanup_ms = 0;  // of hold_buyer
    bool supply_in_flight = false;
  };
  Home* FindHome(std::string_view event_id);
  uint64_t Log(ShardLog* log, const wal::RoomRecord& rec);
  uint64_t LogAdvance(const std::string& event_id, const WaitingRoom& room,
                      const WaitingRoom::Advanced& a, ShardLog* log);

  const uint32_t shard_;
  const uint32_t shards_;
  const uint64_t hash_seed_;
  const Clock* clock_;
  StringMap<RoomConfig> configs_;
  StringMap<Home> homes_;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_ROOMS_H_
