// ChangeFeed: one shard's stream of seat changes for SUBSCRIBE (the
// notification service). It receives the engine's change records, numbers
// them per event (1, 2, 3, ... without gaps), keeps the newest
// `ring_capacity` in a ring so a subscriber that reconnects can resume, and
// writes each change to the subscribers of its event at once (an expiry goes
// out in the same loop pass the timer wheel fires it; the changes of one pass
// travel as one message per subscriber).
//
// A subscriber that falls behind (more than kMaxBacklogBytes unsent on its
// connection) or asks to resume from a change no longer in the ring gets
// RESYNC_REQUIRED: re-read the seats, then subscribe again. Nothing is
// dropped silently.
//
// Durable before visible (docs/durability.md): a sale or a refund goes out
// only once its log record is durable. The shard tags the changes of an op
// that wrote a record with that record's LSN (HoldUntilDurable); Flush
// releases changes in order, stopping at the first whose LSN is not durable
// yet, so a hold or expiry that follows a sale waits for the sale. The
// changes waiting are bounded by the ring's capacity (at least
// kMinPendingCapacity): past it every subscriber gets RESYNC_REQUIRED and the
// waiting changes are dropped (a re-read, which waits for the log too, gives
// their effect). If the log fails, the sales it lost are never sent: every
// subscription ends with UNAVAILABLE.
//
// Owned by its shard; shard-thread only. The engine and loop it is given
// must outlive it.
#ifndef SEATLOCK_SERVER_CHANGE_FEED_H_
#define SEATLOCK_SERVER_CHANGE_FEED_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "common/ring_deque.h"
#include "engine/seat_engine.h"
#include "engine/string_util.h"
#include "protocol/seatlock.pb.h"
#include "server/event_loop.h"

namespace seatlock {

class ChangeFeed final : public ChangeSink {
 public:
  static constexpr size_t kMaxBacklogBytes = 8u << 20;
  static constexpr size_t kMinPendingCapacity = 4096;

  ChangeFeed(uint32_t shard, size_t ring_capacity) : shard_(shard), capacity_(ring_capacity) {}
  void set_engine(const SeatEngine* engine) { engine_ = engine; }
  void set_loop(EventLoop* loop) { loop_ = loop; }

  void OnChange(const ChangeRecord& record) override;
  // How many changes the engine has reported so far (a mark for
  // HoldUntilDurable).
  uint64_t emitted() const { return emitted_; }
  // The changes reported since mark `since` wait until LSN `lsn` is durable.
  void HoldUntilDurable(uint64_t since, uint64_t lsn);
  // Releases the waiting changes whose record is durable (LSN <= durable_lsn),
  // in order, and writes them, one message per subscription. `log_status`
  // not OK: the log failed, so the changes waiting for it never go out. The
  // shard calls it every loop pass, after the group commit is submitted.
  void Flush(uint64_t durable_lsn, const absl::Status& log_status);
  // Changes waiting for the log now, and times the wait overflowed.
  size_t pending() const { return pending_.size(); }
  // Before DELETE_EVENT of `event_id` runs: the labels of its changes still
  // waiting or kept are looked up now, while the layout exists, and so are
  // those of the changes the delete itself reports, until UnpinLabels().
  void PinLabels(std::string_view event_id);
  void UnpinLabels() { pin_event_.clear(); }
  uint64_t overflows() const { return overflows_; }
  // Answers a SUBSCRIBE that arrived on connection `conn`: the first message
  // of the stream (with any backlog), or RESYNC_REQUIRED / an error.
  wire::Response Subscribe(uint64_t conn, const wire::Request& req);
  void DropConnection(uint64_t conn);
  size_t subscriptions() const { return subs_.size(); }

 private:
  struct Stored {
    uint64_t seq;
    std::string event_id;
    int64_t time_ms;
    ChangeKind kind;
    uint64_t hold_id, booking_id, fencing_token;
    SeatList seats;
    uint64_t lsn = 0;  // released once this LSN is durable (0: at once)
    // The seats' labels, when pinned (PinLabels); else looked up when sent.
    std::vector<SeatLabel> labels;
  };
  struct Sub {
    uint64_t conn;
    uint64_t request_id;
    std::string event_id;
  };
  void Fill(const Stored& s, wire::ChangeEvent* out) const;
  void Resync(const Sub& sub, uint64_t latest);
  // Sends a released change to its event's subscribers and keeps it in the ring.
  void Release(Stored&& s);
  // Ends every subscription with `code` and drops the waiting changes.
  void EndAll(wire::ResultCode code, const std::string& detail);

  uint32_t shard_;
  size_t capacity_;
  const SeatEngine* engine_ = nullptr;
  EventLoop* loop_ = nullptr;
  RingDeque<Stored> ring_;         // released changes, newest last
  RingDeque<Stored> pending_;      // changes waiting for the log, in order
  uint64_t emitted_ = 0;           // changes reported by the engine
  StringMap<uint64_t> event_seq_;  // newest sequence number given, per event
  StringMap<uint64_t> released_;   // newest sequence number released, per event
  uint64_t overflows_ = 0;
  absl::Status failed_;    // the log's error, once it failed
  std::string pin_event_;  // PinLabels' event while its delete runs
  std::vector<Sub> subs_;
  // Per subscription (index into subs_ at gather time is unstable, so keyed
  // by connection and request id): the message being gathered this pass.
  absl::flat_hash_map<std::pair<uint64_t, uint64_t>, wire::Response> gathering_;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_CHANGE_FEED_H_
