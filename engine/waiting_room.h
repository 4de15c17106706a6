// WaitingRoom: one event's virtual queue in front of its seats (docs/waiting-room.md).
//
// Buyers JOIN with a buyer key and get a queue number, issued in arrival
// order; joining again with the same key returns the same number. Joins made
// before the on-sale time form a pre-queue that is shuffled once, uniformly,
// when the sale opens; later joiners follow in FIFO order. Admission moves a
// serving point down the queue in batches: `rate` mode admits batch_size
// buyers every batch_size / rate_per_sec seconds; `capacity` mode keeps at
// most max_active buyers admitted at once. An admitted buyer gets a pass (an
// unguessable token with an expiry) that gated holds must present; a pass
// allows at most max_seats_per_pass seats over all its holds. A waiting
// buyer who does not poll within grace_ms loses the place. While the event
// has no free seats admission pauses; with no free seats and no live holds it
// is sold out: waiting buyers are told so and new joins are refused.
//
// Positions are counted with a Fenwick tree over the serving order, so a
// STATUS is O(log n) even with buyers leaving from the middle of the line.
//
// The room changes only through its methods; each mutating method reports
// what changed so the owner can log it, and the Restore* methods replay
// those reports during recovery (they are idempotent).
//
// Ownership: owned by the shard that is the event's room home; that shard's
// thread is the only one that touches it. The clock must outlive the room.
#ifndef SEATLOCK_ENGINE_WAITING_ROOM_H_
#define SEATLOCK_ENGINE_WAITING_ROOM_H_

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/clock.h"
#include "engine/result_code.h"
#include "engine/string_util.h"

namespace seatlock {

enum class AdmissionMode : uint8_t { kRate = 0, kCapacity = 1 };

inline constexpr uint32_t kMaxBatchSize = 100'000;
inline constexpr uint32_t kMaxQueueLimit = 100'000'000;

struct RoomConfig {
  AdmissionMode mode = AdmissionMode::kRate;
  uint32_t rate_per_sec = 100;      // rate mode: buyers admitted per second
  uint32_t max_active = 1000;       // capacity mode: admitted buyers at once
  uint32_t batch_size = 10;         // buyers admitted together
  int64_t on_sale_ms = 0;           // joins before this form the shuffled pre-queue
  int64_t pass_ttl_ms = 600'000;    // a pass lives this long after admission
  int64_t grace_ms = 60'000;        // a waiting buyer must poll this often
  uint32_t max_seats_per_pass = 6;  // over all the holds made with one pass
  uint32_t max_queue = 10'000'000;  // numbers issued at most (JOIN: CAPACITY_EXHAUSTED)

  bool operator==(const RoomConfig&) const = default;
};

// "" when the config is usable, else what is wrong with it.
std::string ValidateRoomConfig(const RoomConfig& config);

// Where one queue number stands.
enum class QueueState : uint8_t {
  kWaiting = 0,
  kAdmitted = 1,     // holds a live pass
  kLapsed = 2,       // did not poll within the grace period: place lost
  kLeft = 3,         // LEAVE
  kPassExpired = 4,  // admitted, but the pass ran out
  kDone = 5,         // bought: a hold made with the pass was confirmed
  kSoldOut = 6,      // reported to waiting buyers once the event is sold out
};
std::string_view QueueStateName(QueueState state);

struct QueueStatus {
  ResultCode code = ResultCode::kOk;
  std::string detail;
  QueueState state = QueueState::kWaiting;
  uint64_t number = 0;
  uint64_t position = 0;  // waiting buyers ahead
  int64_t eta_p50_ms = 0;
  int64_t eta_p90_ms = 0;
  bool paused = false;  // admission waits for seats to come back
  std::string pass;     // when admitted
  int64_t pass_expires_ms = 0;
  uint32_t seats_left = 0;  // on the pass
};

struct RoomStats {
  uint64_t joined = 0;  // numbers issued
  uint64_t waiting = 0;
  uint64_t admitted = 0;  // passes live now
  uint64_t admitted_total = 0;
  uint64_t lapsed = 0;
  uint64_t left = 0;
  uint64_t done = 0;
  uint64_t pass_expired = 0;
  bool opened = false;
  bool sold_out = false;
  bool paused = false;
  double admit_rate_per_sec = 0;  // measured
  uint64_t memory_bytes = 0;      // estimate of the room's heap use
};

class WaitingRoom {
 public:
  // Fills `n` bytes with unpredictable randomness (getrandom in the server,
  // a seeded generator in tests).
  using RandomFn = std::function<void(void* out, size_t n)>;

  WaitingRoom(std::string event_id, const RoomConfig& config, const Clock* clock, RandomFn random);

  const std::string& event_id() const { return event_id_; }
  const RoomConfig& config() const { return config_; }
  // Takes effect at once: the next batch, new passes' lifetime, and the
  // grace and seat limits of buyers already queued or admitted.
  void Reconfigure(const RoomConfig& config);

  struct JoinResult {
    ResultCode code = ResultCode::kOk;
    std::string detail;
    uint64_t number = 0;
    bool fresh = false;  // a new number (log it); false: the key had joined before
    int64_t joined_ms = 0;
  };
  JoinResult Join(std::string_view buyer_key);

  // STATUS counts as a poll (it keeps the place) when the key matches.
  QueueStatus Status(uint64_t number, std::string_view buyer_key);

  struct EndResult {
    ResultCode code = ResultCode::kOk;
    std::string detail;
    bool changed = false;  // log it
  };
  EndResult Leave(uint64_t number, std::string_view buyer_key);

  // Gated holds. UsePass checks the token and reserves `seats` on the pass;
  // RefundPass gives them back when the hold is refused.
  ResultCode UsePass(std::string_view token, uint32_t seats, uint64_t* number, std::string* detail);
  void RefundPass(uint64_t number, uint32_t seats);
  // A hold made with the pass was confirmed: the admitted slot frees at once.
  bool Purchased(uint64_t number);

  // Seats of the event across all shards, as last measured by the owner.
  void SetSupply(uint64_t free, uint64_t held);

  // Opens the sale when due, drops lapsed buyers and expired passes, and
  // admits the batches that are due. Everything it changed is reported.
  struct Advanced {
    bool opened = false;
    uint64_t shuffle_seed = 0;
    std::vector<uint32_t> admitted;
    std::vector<uint32_t> lapsed;
    std::vector<uint32_t> expired;
    bool empty() const { return !opened && admitted.empty() && lapsed.empty() && expired.empty(); }
  };
  Advanced Advance();
  // True when Advance may have work now or soon (the sale is open or opens
  // and someone is queued or admitted).
  bool active() const;

  // A pass as the owner logs it.
  struct Pass {
    std::array<uint64_t, 2> secret{};
    int64_t expires_ms = 0;
  };
  Pass PassOf(uint32_t number) const;
  bool IsAdmitted(uint64_t number) const {
    return number > 0 && number <= entries_.size() &&
           entries_[number - 1].state == QueueState::kAdmitted;
  }

  // Recovery (idempotent; a record already reflected changes nothing).
  void RestoreJoin(uint32_t number, std::string_view buyer_key, int64_t joined_ms);
  void RestoreOpen(uint64_t shuffle_seed);
  void RestoreAdmit(uint32_t number, const Pass& pass, int64_t admitted_ms);
  void RestoreEnd(uint32_t number, QueueState state);
  // After the last Restore*: rebuilds positions and the expiry order.
  void FinishRestore();

  // Snapshot: every entry in serving order.
  struct EntryView {
    uint32_t number;
    std::string_view buyer_key;
    int64_t joined_ms;
    QueueState state;
    Pass pass;
  };
  bool opened() const { return opened_; }
  size_t size() const { return order_.size(); }
  EntryView EntryInOrder(size_t i) const;

  RoomStats Stats() const;

  static std::string FormatPass(uint32_t number, const Pass& pass);

 private:
  struct Entry {
    std::string buyer_key;
    int64_t joined_ms = 0;
    int64_t last_seen_ms = 0;
    uint32_t order_index = 0;
    uint16_t seats_used = 0;
    QueueState state = QueueState::kWaiting;
  };

  // Fenwick tree over order_ indexes: 1 for a buyer still waiting.
  void IndexAdd(size_t i, int delta);
  uint64_t IndexPrefix(size_t i) const;  // waiting buyers at order indexes < i
  void RebuildIndex();
  void EndWaiting(uint32_t number, QueueState state);
  void EndAdmitted(uint32_t number, QueueState state);
  void Shuffle(uint64_t seed);
  void Admit(uint32_t number, int64_t now, Advanced* out);
  size_t AdmitUpTo(size_t n, int64_t now, Advanced* out);
  void Estimate(uint64_t position, int64_t now, int64_t* p50, int64_t* p90) const;
  bool Overdue(const Entry& e, int64_t now) const;
  bool SoldOut() const { return supply_known_ && free_ == 0 && held_ == 0; }
  bool Paused() const { return supply_known_ && free_ == 0; }

  std::string event_id_;
  RoomConfig config_;
  const Clock* clock_;
  RandomFn random_;

  // By number - 1. A deque, so the keys by_key_ points into never move.
  std::deque<Entry> entries_;
  absl::flat_hash_map<std::string_view, uint32_t, StringHash, StringEq> by_key_;
  std::vector<uint32_t> order_;                 // numbers in serving order
  std::vector<int32_t> index_;                  // Fenwick tree, 1-based, capacity >= order_.size()
  size_t head_ = 0;                             // order_ before this is no longer waiting
  size_t sweep_ = 0;                            // grace-period sweep cursor into order_
  absl::flat_hash_map<uint32_t, Pass> passes_;  // live passes by number
  std::deque<uint32_t> expiry_order_;           // admitted numbers, by pass expiry
  bool opened_ = false;
  int64_t next_batch_ms_ = 0;
  uint64_t active_ = 0;          // admitted with a live pass
  uint64_t key_heap_bytes_ = 0;  // buyer keys too long for the string's own buffer
  uint64_t waiting_ = 0;
  RoomStats counts_;
  bool supply_known_ = false;
  uint64_t free_ = 0;
  uint64_t held_ = 0;
  // Admissions of the last 30 s: (time, buyers), for the ETA.
  std::deque<std::pair<int64_t, uint32_t>> admissions_;
};

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_WAITING_ROOM_H_
