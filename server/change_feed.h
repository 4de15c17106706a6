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
// Owned by its shard; shard-thread only. The engine and loop it is given
// must outlive it.
#ifndef SEATLOCK_SERVER_CHANGE_FEED_H_
#define SEATLOCK_SERVER_CHANGE_FEED_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/seat_engine.h"
#include "engine/string_util.h"
#include "protocol/seatlock.pb.h"
#include "server/event_loop.h"

namespace seatlock {

class ChangeFeed final : public ChangeSink {
 public:
  static constexpr size_t kMaxBacklogBytes = 8u << 20;

  ChangeFeed(uint32_t shard, size_t ring_capacity) : shard_(shard), capacity_(ring_capacity) {}
  void set_engine(const SeatEngine* engine) { engine_ = engine; }
  void set_loop(EventLoop* loop) { loop_ = loop; }

  void OnChange(const ChangeRecord& record) override;
  // Writes the changes gathered since the last Flush, one message per
  // subscription. The shard calls it every loop pass, before output is sent.
  void Flush();
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
  };
  struct Sub {
    uint64_t conn;
    uint64_t request_id;
    std::string event_id;
  };
  void Fill(const Stored& s, wire::ChangeEvent* out) const;
  void Resync(const Sub& sub, uint64_t latest);

  uint32_t shard_;
  size_t capacity_;
  const SeatEngine* engine_ = nullptr;
  EventLoop* loop_ = nullptr;
  std::deque<Stored> ring_;
  StringMap<uint64_t> event_seq_;  // newest sequence number per event
  std::vector<Sub> subs_;
  // Per subscription (index into subs_ at gather time is unstable, so keyed
  // by connection and request id): the message being gathered this pass.
  absl::flat_hash_map<std::pair<uint64_t, uint64_t>, wire::Response> gathering_;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_CHANGE_FEED_H_
