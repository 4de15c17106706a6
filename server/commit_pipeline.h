// CommitPipeline: the path from an engine op's result to a reply the client
// may trust. It writes the log record an op needs (a sale, a refused late
// confirm, a cancellation, a new or deleted event), holds the reply until
// that record is durable (ShardLog's group commit), answers a replayed
// CONFIRM only once the first attempt's record is durable too (the
// idempotency keys not yet durable), and reserves fencing tokens in the log
// a block ahead of the ones the engine hands out, so a restart never repeats
// one. Durable before visible (docs/durability.md): no reply shows a sale or
// refund before its record is durable.
//
// A sale allocates nothing here once the pipeline has warmed up: the record
// is built in reused scratch messages, and a reply waiting for the disk sits
// in a recycled slot (at most kSpareReplySlots idle slots are kept).
//
// Ownership: owns the shard's ShardLog once Open() gave it one, and the
// copies of the replies it holds. Reads and writes the engine it was built
// with. Threads: the shard's thread only.
#ifndef SEATLOCK_SERVER_COMMIT_PIPELINE_H_
#define SEATLOCK_SERVER_COMMIT_PIPELINE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "common/histogram.h"
#include "engine/clock.h"
#include "engine/seat_engine.h"
#include "google/protobuf/arena.h"
#include "persistence/wal.pb.h"
#include "protocol/seatlock.pb.h"
#include "server/coordinators.h"
#include "server/shard_log.h"

namespace seatlock {

// Fencing tokens are reserved in the log a block at a time, and the next
// block is reserved when half of this one is used, so a restart never hands
// out a token twice (the floor after a crash is the last reservation).
inline constexpr uint64_t kFencingBlock = uint64_t{1} << 30;

class CommitPipeline {
 public:
  // `engine` and `clock` must outlive the pipeline.
  CommitPipeline(SeatEngine* engine, const Clock* clock) : engine_(engine), clock_(clock) {}

  // Starts logging, after recovery wrote the reservation `fencing_reserved`.
  void Open(std::unique_ptr<ShardLog> log, uint64_t fencing_reserved);
  // nullptr before Open.
  ShardLog* log() const { return log_.get(); }
  // A failed log refuses every durable op (sticky; docs/wal.md).
  bool failed() const { return log_ != nullptr && log_->failed(); }
  absl::Status status() const { return log_ != nullptr ? log_->status() : absl::OkStatus(); }
  uint64_t fencing_reserved() const { return fencing_reserved_; }

  // After an engine op ran: appends the record its result needs and returns
  // the LSN its reply must wait for (0: answer now). `new_event`: a
  // DEFINE_EVENT of an event that did not exist before it ran.
  uint64_t Record(const wire::Request& req, const wire::Response& resp, bool new_event);
  // After an engine op that appends no record (a HOLD on the fast path,
  // which has no wire::Request): Record's other duty, reserving the next
  // block of fencing tokens once the engine nears the reserved mark.
  void TopUpFencing();
  // Whether `resp` shows seat states a sale or refund not yet durable could
  // have changed: seat and availability reads, and refused holds (their
  // conflicts say SOLD). Such a reply waits for ReadBarrier().
  static bool ShowsSeatStates(const wire::Request& req, const wire::Response& resp);
  // The engine's fencing ceiling follows the reservations as they become
  // durable (Open, then Flush).
  // The LSN a reply that shows seat states waits for: the last record
  // appended, if it is not durable yet (0: none, answer now).
  uint64_t ReadBarrier() const;
  // Calls done(resp) once `lsn` is durable, or done(UNAVAILABLE) if the log
  // failed first. `lsn` 0 answers at once. A copy of `resp` waits in a
  // recycled slot, so `resp` may live in a batch arena. If `latency` is set,
  // the time since `started_ns` (MonoNs) is recorded in it just before done
  // runs.
  void ReplyWhenDurable(uint64_t lsn, const wire::Response& resp, Callback done,
                        LatencyHistogram* latency = nullptr, uint64_t started_ns = 0);
  // Reply slots: in use, and idle ones kept for reuse (for tests and STATS).
  size_t replies_waiting() const { return reply_slots_.size() - free_reply_slots_.size(); }
  size_t spare_reply_slots() const { return spare_reply_slots_; }
  static constexpr size_t kSpareReplySlots = 2048;

  // End of a loop pass: one write + fdatasync for everything appended.
  void Flush();

 private:
  // A reply waiting for its record to be durable. The copy lives in the
  // slot's own arena, which a reset returns to its first block: a Response
  // on the heap would free its oneof reply on every Clear.
  struct PendingReply {
    static constexpr size_t kBlockBytes = 1024;
    alignas(16) char block[kBlockBytes];
    google::protobuf::Arena arena{block, kBlockBytes};
    wire::Response* resp = nullptr;  // on `arena` while the slot is taken
    Callback done;
    LatencyHistogram* latency = nullptr;
    uint64_t started_ns = 0;
  };

  uint64_t LogConfirm(const wire::Request& req, const wire::Response& resp);
  void ReserveFencing();
  void FinishReply(uint32_t slot, const absl::Status& status);

  SeatEngine* const engine_;
  const Clock* const clock_;
  std::unique_ptr<ShardLog> log_;
  uint64_t fencing_reserved_ = 0;  // tokens up to here are reserved (maybe not durably)
  uint64_t reservation_lsn_ = 0;   // the newest reservation's record, until durable
  // Hash of a confirm's idempotency key -> the highest LSN, not yet
  // durable, of a confirm with a key of that hash. A collision only makes a
  // replay wait for a later LSN, which is still correct.
  absl::flat_hash_map<uint64_t, uint64_t> undurable_keys_;
  BookingInfo booking_scratch_;  // LogConfirm's copy of the sale
  wal::Confirm record_scratch_;  // and its record
  // Slots of replies waiting for the disk; free_reply_slots_ indexes the idle
  // ones. An idle slot keeps its PendingReply (and the Response's memory)
  // while there are at most kSpareReplySlots of them, and is emptied beyond.
  std::vector<std::unique_ptr<PendingReply>> reply_slots_;
  std::vector<uint32_t> free_reply_slots_;
  size_t spare_reply_slots_ = 0;  // idle slots that still hold a PendingReply
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_COMMIT_PIPELINE_H_
