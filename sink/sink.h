// Sink: the loop of seatlock-sink. It mirrors every sale and refund of one
// seatlockd into PostgreSQL exactly once (docs/sink.md):
//
//  - It connects PostgreSQL (PgWriter), then seatlockd (FeedReader), lists
//    the events, and opens one SUBSCRIBE stream per (event, shard), from the
//    position stored for that stream and the server's feed epoch.
//  - Changes are applied in sequence order per stream, in batches: a batch's
//    sales and refunds and the positions they reach commit in one
//    transaction. SOLD changes are completed with the booking's holder,
//    idempotency key and payment reference (LIST_BOOKINGS).
//  - A stream with no stored position (first run, or a new seatlockd
//    process), RESYNC_REQUIRED, or a gap is reconciled: subscribe from now,
//    read every booking of that event and shard, commit them with the
//    position, and go on from there. Reconciles are logged and counted.
//  - Any failure (seatlockd or PostgreSQL gone) drops the connections and
//    starts again after a backoff, from the stored positions. Nothing is
//    skipped: a change is either committed with its position or read again.
//
// Run() returns OK when stopped or, with `once`, when every stream has
// reached the position it had when the sink started; it returns an error
// only for what retrying cannot fix (a schema mismatch, the unique index
// refusing a seat sold twice).
//
// Run() is called from one thread. MetricsText() may be called from any
// thread (the /metrics server's).
#ifndef SEATLOCK_SINK_SINK_H_
#define SEATLOCK_SINK_SINK_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "client/async_client.h"
#include "protocol/seatlock.pb.h"
#include "sink/feed_reader.h"
#include "sink/pg_writer.h"

namespace seatlock::sink {

struct SinkOptions {
  ClientOptions seatlockd;
  std::string pg_conninfo;
  size_t batch_size = 500;       // changes per transaction, at most
  bool once = false;             // apply what is there, then return
  int64_t event_poll_ms = 1000;  // LIST_EVENTS this often, for new events
  int64_t lag_log_ms = 10000;    // log the lag per stream this often (0: never)
  int64_t backoff_initial_ms = 100;
  int64_t backoff_max_ms = 5000;
  const std::atomic<bool>* stop = nullptr;  // set: Run() returns soon
};

class Sink {
 public:
  explicit Sink(SinkOptions options);
  absl::Status Run();
  // The Prometheus text of the counters and the per-stream lag.
  std::string MetricsText() const;

 private:
  struct Stream {
    std::string event_id;
    uint32_t shard = 0;
    uint64_t id = 0;               // the open stream (FeedReader's id); 0: none
    uint64_t applied = 0;          // committed position
    uint64_t received = 0;         // newest change taken into the pending batch
    uint64_t latest = 0;           // newest change the server has announced
    uint64_t target = 0;           // --once: caught up at this position
    int64_t pending_since_ms = 0;  // time of the oldest change not committed (0: none)
  };
  struct Pending {
    size_t stream;
    wire::ChangeEvent change;
  };

  bool stopping() const { return options_.stop != nullptr && options_.stop->load(); }
  void Log(const std::string& line) const;
  void SleepMs(int64_t ms) const;
  // One FeedReader's lifetime: returns when it fails, or OK when done.
  absl::Status RunSession();
  absl::Status SyncEvents(const std::map<std::pair<uint32_t, std::string>, uint64_t>& positions);
  absl::Status OpenStream(size_t index, const uint64_t* position);
  absl::Status Reconcile(size_t index, const std::string& why);
  // Takes a stream message's changes into the pending batch.
  absl::Status Take(size_t index, const wire::Response& message);
  absl::Status Flush();
  bool CaughtUp() const;
  void PublishMetrics();
  void MaybeLogLag();
  absl::Status PgFailed(absl::Status st);

  SinkOptions options_;
  PgWriter pg_;
  std::unique_ptr<FeedReader> feed_;
  std::string server_id_;
  std::vector<Stream> streams_;
  std::map<uint64_t, size_t> by_stream_id_;
  std::map<std::string, bool> known_events_;
  std::vector<Pending> pending_;
  bool pg_failed_ = false;
  int64_t last_lag_log_ms_ = 0;

  // Counters (main thread), published with the per-stream lag into
  // metrics_text_ under mu_.
  uint64_t changes_applied_ = 0, batches_ = 0, sales_ = 0, refunds_ = 0, duplicates_ = 0,
           unknown_refunds_ = 0, reconciles_ = 0, pg_errors_ = 0, feed_errors_ = 0, sessions_ = 0;
  mutable std::mutex mu_;
  std::string metrics_text_;
};

}  // namespace seatlock::sink

#endif  // SEATLOCK_SINK_SINK_H_
