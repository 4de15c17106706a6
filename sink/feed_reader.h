// FeedReader: seatlock-sink's seatlockd side. One connection set to one
// seatlockd process (a Client: HELLO, AUTH, a connection per shard port):
// it lists events, opens SUBSCRIBE streams per (event, shard) and reads
// bookings with LIST_BOOKINGS (a SOLD change's details, or a reconcile's
// full read).
//
// Stream messages arrive on the client's I/O thread and wait in a queue
// that the owner drains with Next(). Each stream has an id (returned by
// Subscribe); a stream's first message is returned by Subscribe itself.
//
// A FeedReader is good for one seatlockd process: `epoch()` is that
// process's feed_epoch. When a call fails, a stream ends with an error, or
// a SUBSCRIBE answers from another epoch, the owner drops the FeedReader and
// makes a new one.
//
// Owned by the sink's main loop; its methods are called from that one
// thread (the queue itself is thread-safe).
#ifndef SEATLOCK_SINK_FEED_READER_H_
#define SEATLOCK_SINK_FEED_READER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "protocol/seatlock.pb.h"

namespace seatlock::sink {

struct StreamMessage {
  uint64_t stream = 0;
  absl::StatusOr<wire::Response> message;
};

class FeedReader {
 public:
  static absl::StatusOr<std::unique_ptr<FeedReader>> Connect(const ClientOptions& options);

  uint64_t epoch() const { return client_->hello().feed_epoch(); }
  uint32_t shard_count() const { return client_->hello().shard_count(); }

  // LIST_EVENTS: every event's id and seat total.
  absl::StatusOr<std::vector<wire::EventSummary>> ListEvents();
  // GET_AVAILABILITY: the number of sections of an event.
  absl::StatusOr<uint32_t> SectionCount(const std::string& event_id);
  // Opens a stream; returns its id and first message (code OK with
  // latest_seq, or RESYNC_REQUIRED, EVENT_NOT_FOUND, ...). A code other than
  // OK means the stream did not open.
  absl::StatusOr<std::pair<uint64_t, wire::Response>> Subscribe(const std::string& event_id,
                                                                uint32_t shard, uint64_t from_seq,
                                                                bool from_now);
  // The next message of any open stream, waiting up to `timeout_ms`;
  // nullopt if none came.
  std::optional<StreamMessage> Next(int64_t timeout_ms);
  // Stream messages waiting now.
  size_t queued() const;
  // LIST_BOOKINGS: the named bookings of `event_id` on `shard`.
  absl::StatusOr<std::vector<wire::BookingRecord>> Bookings(const std::string& event_id,
                                                            uint32_t shard,
                                                            const std::vector<uint64_t>& ids);
  // LIST_BOOKINGS, every page: all of the event's bookings on `shard`.
  absl::StatusOr<std::vector<wire::BookingRecord>> AllBookings(const std::string& event_id,
                                                               uint32_t shard);

 private:
  struct Queue {
    mutable std::mutex mu;
    std::condition_variable cv;
    std::deque<StreamMessage> messages;
    // Streams whose first message is still awaited by Subscribe.
    uint64_t awaiting = 0;
    std::optional<absl::StatusOr<wire::Response>> first;
  };
  explicit FeedReader(std::unique_ptr<Client> client) : client_(std::move(client)) {}
  absl::StatusOr<wire::Response> CallOk(wire::Request req, const char* what);

  std::unique_ptr<Client> client_;
  std::shared_ptr<Queue> queue_ = std::make_shared<Queue>();
  uint64_t next_stream_ = 1;
};

}  // namespace seatlock::sink

#endif  // SEATLOCK_SINK_FEED_READER_H_
