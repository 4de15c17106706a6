// Client: the blocking seatlock client for booking services. Each method
// sends one request and waits for its response.
//
// Return values: a non-OK absl::Status means the call itself failed
// (connection refused or lost, timeout, shutting down). Otherwise the
// wire::Response carries the server's domain outcome in code() (OK,
// SEAT_UNAVAILABLE, HOLD_EXPIRED_SEATS_TAKEN, ...) and detail().
//
//   auto client = Client::Connect({.host = "127.0.0.1", .port = 7400});
//   auto hold = (*client)->Hold("gig", {SeatAt("103", "F", "12")}, "buyer-1", 600'000);
//   if (hold.ok() && hold->code() == wire::OK) { ... hold->hold().hold_id() ... }
//
// Replica groups: with ClientOptions::nodes, Connect finds the primary (its
// HELLO role), a NOT_PRIMARY answer makes the client find it again and
// resend (nothing was done), and a lost connection makes the next call find
// it again; the failed call itself returns its error, since the server may
// have run it (ConfirmWithRetry resends a CONFIRM with its key, which is
// safe). docs/cluster.md, "Clients".
//
// Threads: thread-safe; calls from many threads share the connections and
// are pipelined. Owns an AsyncClient (and so its I/O thread), replaced when
// the primary moves.
#ifndef SEATLOCK_CLIENT_CLIENT_H_
#define SEATLOCK_CLIENT_CLIENT_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/async_client.h"
#include "protocol/seatlock.pb.h"

namespace seatlock {

wire::SeatRef SeatAt(std::string section, std::string row, std::string seat);
wire::SeatRef SeatIndex(std::string section, uint32_t index);

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientOptions& options);

  // Sends any request and waits. timeout_ms < 0: the options' default.
  absl::StatusOr<wire::Response> Call(wire::Request req, int64_t timeout_ms = -1);

  absl::StatusOr<wire::Response> Ping();
  absl::StatusOr<wire::Response> DefineEvent(const wire::DefineEventRequest& layout);
  // Deletes the event everywhere (docs/protocol.md, DELETE_EVENT). Without
  // `force`, EVENT_HAS_LIVE_HOLDS while it has live holds; with it, they are
  // released first.
  absl::StatusOr<wire::Response> DeleteEvent(const std::string& event_id, bool force = false);
  absl::StatusOr<wire::Response> Hold(const std::string& event_id,
                                      const std::vector<wire::SeatRef>& seats,
                                      const std::string& holder, int64_t ttl_ms,
                                      const std::string& pass = "");
  absl::StatusOr<wire::Response> HoldBestAvailable(const std::string& event_id,
                                                   const std::string& section, uint32_t count,
                                                   bool scattered_ok, const std::string& holder,
                                                   int64_t ttl_ms, const std::string& pass = "");
  absl::StatusOr<wire::Response> Extend(uint64_t hold_id, const std::string& holder,
                                        int64_t ttl_ms);
  absl::StatusOr<wire::Response> Release(uint64_t hold_id, const std::string& holder);
  absl::StatusOr<wire::Response> Confirm(uint64_t hold_id, const std::string& holder,
                                         const std::string& idempotency_key,
                                         const std::string& payment_ref);
  // Confirm, re-sent with the same idempotency key when the call itself
  // fails (lost response, timeout, reconnect) or the answer is UNAVAILABLE
  // (a replica group's primary could not get the sale to its replica in
  // time, or failed over), up to `attempts` times. Safe: the server returns
  // the first result for a repeated key.
  absl::StatusOr<wire::Response> ConfirmWithRetry(uint64_t hold_id, const std::string& holder,
                                                  const std::string& idempotency_key,
                                                  const std::string& payment_ref, int attempts = 5);
  absl::StatusOr<wire::Response> CancelBooking(uint64_t booking_id);
  absl::StatusOr<wire::Response> GetSeats(const std::string& event_id, const std::string& section);
  absl::StatusOr<wire::Response> GetAvailability(const std::string& event_id);
  absl::StatusOr<wire::Response> GetHold(uint64_t hold_id);
  absl::StatusOr<wire::Response> ListHolds(const std::string& event_id, const std::string& holder,
                                           uint32_t limit = 0);
  absl::StatusOr<wire::Response> ListEvents();
  absl::StatusOr<wire::Response> Stats();

  // The waiting room (docs/waiting-room.md). A gated event's holds need the
  // pass that QueueStatus returns once the buyer is admitted (the `pass`
  // argument of Hold and HoldBestAvailable).
  absl::StatusOr<wire::Response> ConfigureRoom(const std::string& event_id,
                                               const wire::RoomConfig& config);
  absl::StatusOr<wire::Response> JoinQueue(const std::string& event_id,
                                           const std::string& buyer_key);
  absl::StatusOr<wire::Response> QueueStatus(const std::string& event_id, uint64_t number,
                                             const std::string& buyer_key);
  absl::StatusOr<wire::Response> LeaveQueue(const std::string& event_id, uint64_t number,
                                            const std::string& buyer_key);
  absl::StatusOr<wire::Response> RoomInfo(const std::string& event_id);

  // The connection in use now (with ClientOptions::nodes: to the primary
  // found last).
  AsyncClient& async() { return *Current(); }
  const wire::HelloReply& hello() const { return Current()->hello(); }

 private:
  Client(const ClientOptions& options, std::shared_ptr<AsyncClient> async)
      : options_(options), async_(std::move(async)) {}
  std::shared_ptr<AsyncClient> Current() const;
  // Replaces `seen` by a connection to the primary (if another call has not
  // already); false if none was found in time.
  bool FindPrimaryAgain(const std::shared_ptr<AsyncClient>& seen);

  const ClientOptions options_;
  mutable std::mutex mu_;  // guards async_
  std::shared_ptr<AsyncClient> async_;
  bool lost_ = false;  // a call lost its connection: find the primary before the next
};

}  // namespace seatlock

#endif  // SEATLOCK_CLIENT_CLIENT_H_
