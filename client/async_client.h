// AsyncClient: the pipelined seatlock client. Many requests in flight on few
// connections; each call's callback runs once, with the response or an
// error status (timeout, connection lost, not connected).
//
//   ClientOptions opts;                 // 127.0.0.1:7400, shard-aware
//   auto client = AsyncClient::Connect(opts);
//   wire::Request req;
//   req.mutable_ping();
//   (*client)->Call(std::move(req), [](absl::StatusOr<wire::Response> r) { ... });
//
// Shard-aware routing: after HELLO the client computes ShardFor exactly as
// the server does and sends each request to its owner shard's port, so no
// request hops between server threads. Requests that span shards, or that
// fan out (DEFINE_EVENT, STATS, ...), go to the main port.
//
// Threads: every public method is thread-safe. The client owns one I/O
// thread, which runs all callbacks; a callback must not block on another
// call of the same client (use the blocking Client from other threads).
// Reconnects: a lost connection fails its in-flight calls with UNAVAILABLE
// and is re-dialled with exponential backoff; calls queued meanwhile wait
// (bounded by their timeout). Requests are never re-sent automatically:
// retry CONFIRM with the same idempotency key (Client::ConfirmWithRetry).
#ifndef SEATLOCK_CLIENT_ASYNC_CLIENT_H_
#define SEATLOCK_CLIENT_ASYNC_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/seatlock.pb.h"

namespace seatlock {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7400;
  std::string auth_token;          // sent with AUTH on every connection when set
  bool shard_aware = true;         // route to shard ports after HELLO
  int64_t call_timeout_ms = 5000;  // default per-call deadline
  int64_t connect_timeout_ms = 2000;
  int64_t backoff_initial_ms = 50;
  int64_t backoff_max_ms = 2000;
  std::string client_name = "libseatlock_client";
  // Sockets to each port (the main port, and each shard's), 1..64, all
  // served by the client's one I/O thread; calls to a port take its sockets
  // in turn. More than 1 spreads a busy client over more of the server's
  // connections; calls that were not waited for may then be answered out of
  // order (one socket keeps their order). A SUBSCRIBE stream uses the first.
  int connections_per_port = 1;
  // A replica group (docs/cluster.md): every node's "host:port". When set,
  // the blocking Client ignores host/port, connects to whichever node's
  // HELLO says "primary", and finds it again after NOT_PRIMARY or a lost
  // connection. AsyncClient itself uses host/port only.
  std::vector<std::string> nodes;
};

class AsyncClient {
 public:
  using Callback = std::function<void(absl::StatusOr<wire::Response>)>;

  // Connects to the main port, says HELLO, and (shard-aware) prepares
  // connections_per_port connections per shard, dialled on first use.
  // INVALID_ARGUMENT if connections_per_port is out of range.
  static absl::StatusOr<std::unique_ptr<AsyncClient>> Connect(const ClientOptions& options);
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // Sends `req` (its request_id is assigned here) and calls `done` exactly
  // once on the I/O thread. timeout_ms < 0: the default from the options.
  void Call(wire::Request req, Callback done, int64_t timeout_ms = -1);

  // Opens a SUBSCRIBE stream (req.subscribe() names the event and shard; it
  // is sent to that shard's port). `on_message` runs for every message of
  // the stream, on the I/O thread, until one that is not OK (for example
  // RESYNC_REQUIRED) or an error status, which is the last. No timeout.
  void Subscribe(wire::Request req, Callback on_message);

  const wire::HelloReply& hello() const { return hello_; }
  // Which connection a request goes to: -1 main port, else a shard index.
  int RouteFor(const wire::Request& req) const;
  // Requests sent but not yet answered, over all connections.
  size_t in_flight() const;

  // Runs `fn` once on the I/O thread at `when_ns` (CLOCK_MONOTONIC, in ns) or
  // as soon after as the thread is free; at once if that time has passed.
  // For work that must share the I/O thread with the callbacks, such as an
  // open-loop pacer: a second thread doing it would contend with the I/O
  // thread for the core and send late. `fn` may call RunAt and Call. Timers
  // not yet run when the client is destroyed are dropped, not run.
  void RunAt(uint64_t when_ns, std::function<void()> fn);

 private:
  struct Endpoint;
  struct Pending;
  explicit AsyncClient(const ClientOptions& options);
  absl::Status Start();
  void IoLoop();
  void Send(wire::Request req, Callback done, int64_t timeout_ms, bool stream);
  int Dial(Endpoint& ep, int64_t now);  // 0, or the errno that failed
  void FailEndpoint(Endpoint& ep, const absl::Status& why);
  void HandleReadable(Endpoint& ep);
  void FlushWrites(Endpoint& ep);
  void ExpireDeadlines(int64_t now);
  void WakeIo();
  void RunDueTimers();
  // Sets the timerfd to fire at `when_ns` (CLOCK_MONOTONIC, absolute; 0
  // disarms it) and records it in armed_ns_. Caller holds timers_mu_.
  void ArmTimerLocked(uint64_t when_ns);

  ClientOptions options_;
  wire::HelloReply hello_;
  // connections_per_port endpoints per port: [0, per) the main port, then
  // shard i's at [(1 + i) * per, (2 + i) * per).
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  // Per port (endpoints_.size() / connections_per_port of them): the next of
  // its sockets, round robin.
  std::unique_ptr<std::atomic<uint32_t>[]> next_socket_;
  std::atomic<uint64_t> next_id_{1};
  int epfd_ = -1;
  int evfd_ = -1;
  // RunAt's timers, by time; timerfd_ is armed for the earliest
  // (armed_ns_, 0 when disarmed). Guarded by timers_mu_.
  std::mutex timers_mu_;
  std::multimap<uint64_t, std::function<void()>> timers_;
  uint64_t armed_ns_ = 0;
  int timerfd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread io_;
};

}  // namespace seatlock

#endif  // SEATLOCK_CLIENT_ASYNC_CLIENT_H_
