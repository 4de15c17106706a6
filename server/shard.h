// Shard: one thread, one event loop, one SeatEngine. It accepts connections
// (on the shared main port and on its own shard port), decodes frames, runs
// requests for the sections it owns, forwards the others to their owner
// shard's inbox, and merges fan-out replies (DEFINE_EVENT, STATS, ...).
//
// Ownership: a Shard owns its loop, engine, connections and pending calls.
// Every member is touched only by the shard's own thread, except the inbox
// (Post, any thread) and RequestStop (any thread). Other shards reach this
// shard's data only through Post.
#ifndef SEATLOCK_SERVER_SHARD_H_
#define SEATLOCK_SERVER_SHARD_H_

#include <array>
#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/seat_engine.h"
#include "google/protobuf/arena.h"
#include "protocol/framing.h"
#include "protocol/seatlock.pb.h"
#include "server/change_feed.h"
#include "server/config.h"
#include "server/event_loop.h"
#include "server/inbox.h"
#include "server/rooms.h"
#include "server/shard_log.h"
#include "server/snapshotter.h"

namespace seatlock {

class Shard;

// A request forwarded to another shard, or the reply coming back.
// kGatedHold: a hold on a gated event, sent to the event's room home shard,
// which checks the pass before routing it on. kPurchased: a CONFIRM of a
// gated event's hold succeeded (request carries the confirm; no reply).
struct ShardMessage {
  enum class Kind { kCall, kReply, kGatedHold, kPurchased };
  Kind kind = Kind::kCall;
  uint32_t from = 0;   // shard that is waiting for the reply
  uint64_t token = 0;  // names the waiting continuation on `from`
  wire::Request request;
  wire::Response response;
};

// State every shard can see. Written by the server before the shard threads
// start; afterwards only the atomics change.
struct ShardGroup {
  std::vector<Shard*> shards;
  std::vector<uint16_t> shard_ports;
  uint16_t main_port = 0;
  uint64_t hash_seed = 0;
  int64_t start_ms = 0;
  std::shared_future<void> go;  // ready once every shard has its loop
  std::atomic<bool> stopping{false};
  std::atomic<int> busy_shards{0};       // shards still answering during shutdown
  std::atomic<uint32_t> connections{0};  // across all shards
  // Resharding at start (reshard.h): the old shard count (0: none), each
  // shard's "staged" report, and the main thread's "swapped" answer.
  uint32_t reshard_from = 0;
  std::vector<std::promise<absl::Status>> staged;
  std::shared_future<absl::Status> swapped;
};

class Shard final : public LoopHandler {
 public:
  // `metrics_listen_fd` is -1 except on the shard that serves /metrics.
  Shard(uint32_t index, const ServerConfig& config, ShardGroup* group, int main_listen_fd,
        int shard_listen_fd, int metrics_listen_fd);
  ~Shard() override;

  // The thread body: builds the loop, reports on `started`, serves until the
  // server stops. Returns after every connection is closed.
  void Run(std::promise<absl::Status>* started);
  // Any thread.
  void Post(std::unique_ptr<ShardMessage> msg);
  // Any thread: begin graceful shutdown of this shard.
  void Wake();

  uint32_t index() const { return index_; }

  // LoopHandler.
  void OnAccept(int listener_tag, int fd) override;
  void OnData(uint64_t conn, const char* data, size_t n) override;
  void OnPeerClosed(uint64_t conn, int error) override;
  void OnWake() override;
  int64_t OnPass() override;

 private:
  using Callback = std::function<void(wire::Response&&)>;
  struct Conn {
    explicit Conn(uint32_t max_frame) : decoder(max_frame) {}
    protocol::FrameDecoder decoder;
    uint32_t in_flight = 0;
    bool authed = false;
    bool closing = false;   // protocol error: answer what is in flight, then close
    bool paused = false;    // reading paused for backpressure
    bool http = false;      // a /metrics connection, not the seatlock protocol
    bool draining = false;  // inside DrainFrames (replies must not recurse into it)
    std::string http_in;
    int64_t last_active_ms = 0;
  };

  void DrainFrames(uint64_t id);
  void DrainFramesLoop(uint64_t id);
  void HandleRequest(uint64_t id, Conn& conn, wire::Request&& req);
  void Route(wire::Request&& req, Callback done);
  void RouteHold(wire::Request&& req, Callback done);
  void RouteConfirm(wire::Request&& req, Callback done);
  void RouteHoldAnywhere(wire::Request&& req, Callback done);
  // Holds: gated events go to their room's home shard first (GateHold).
  void RouteAnyHold(wire::Request&& req, Callback done);
  void RouteUngatedHold(wire::Request&& req, Callback done);
  void GateHold(wire::Request&& req, Callback done);
  void NotePurchase(const wire::Request& confirm, const std::string& event_id);
  void RunRoomOp(const wire::Request& req, Callback done);
  void PollSupply();
  void FanOut(const wire::Request& req, std::function<void(std::vector<wire::Response>&&)> done);
  void CallShard(uint32_t target, wire::Request&& req, Callback done);
  // Sends `req` to another shard's inbox as `kind`; `done` runs on its reply.
  void PostCall(uint32_t target, ShardMessage::Kind kind, wire::Request&& req, Callback done);
  // Runs an engine op here. `out` may live on an arena.
  void ExecuteLocal(const wire::Request& req, wire::Response* out);
  // Runs an op owned by this shard and calls `done` with its response: at
  // once, or, for an op that must be durable first (CONFIRM, CANCEL_BOOKING,
  // a new DEFINE_EVENT), once its log record is on disk.
  void RunOp(const wire::Request& req, Callback done);
  uint64_t LogConfirm(const wire::Request& req, const wire::Response& resp);
  void ReserveFencing();
  absl::Status Recover();
  absl::Status StageReshard();
  void Reply(uint64_t id, const wire::Response& resp);
  void ProtocolError(uint64_t id, wire::ResultCode code, uint64_t request_id, std::string detail);
  void CloseConn(uint64_t id);
  void HandleHttp(uint64_t id, Conn& conn, const char* data, size_t n);
  void BeginShutdown();
  void FlushWakes();

  const uint32_t index_;
  const ServerConfig& config_;
  ShardGroup* group_;
  int main_listen_fd_;
  int shard_listen_fd_;
  int metrics_listen_fd_;
  std::array<uint64_t, 32> ops_by_case_{};  // indexed by Request::op_case()
  LatencyHistogram hold_latency_;
  LatencyHistogram confirm_latency_;
  std::unique_ptr<EventLoop> loop_;
  // The engine reads time from here: refreshed once per batch of input
  // rather than once per call (a syscall-free vDSO read is still ~20 ns).
  class PassClock final : public Clock {
   public:
    int64_t NowMs() const override { return now_ms_; }
    void Refresh() { now_ms_ = SystemClock::Get()->NowMs(); }

   private:
    int64_t now_ms_ = SystemClock::Get()->NowMs();
  };
  PassClock clock_;
  ChangeFeed feed_;  // the engine's change sink: declared before the engine
  std::unique_ptr<SeatEngine> engine_;
  Rooms rooms_;
  bool rooms_active_ = false;
  absl::flat_hash_map<uint64_t, Conn> conns_;
  uint64_t next_conn_id_ = 1;
  absl::flat_hash_map<uint64_t, Callback> pending_;
  uint64_t next_token_ = 1;
  Inbox<ShardMessage> inbox_;
  std::vector<std::unique_ptr<ShardMessage>> drained_;
  std::vector<uint32_t> wake_targets_;
  // Requests and local responses of one input batch live here; reset after
  // the batch (responses are serialized before the batch ends).
  google::protobuf::Arena arena_;
  // Shutdown.
  bool draining_ = false;
  bool counted_idle_ = false;
  bool closing_all_ = false;
  int64_t drain_deadline_ms_ = 0;
  int64_t last_idle_check_ms_ = 0;
  // Durability.
  std::unique_ptr<ShardLog> log_;
  std::unique_ptr<Snapshotter> snapshotter_;
  uint64_t fencing_reserved_ = 0;               // tokens up to here may be granted
  std::unique_ptr<wal::WalDir> recovered_dir_;  // from Recover() until the log opens
  uint64_t recovered_next_lsn_ = 1;
  StringMap<uint64_t> undurable_keys_;  // confirm key -> LSN not yet durable
  // Counters for STATS.
  uint64_t requests_ = 0;
  uint64_t forwarded_ = 0;
  uint64_t rejected_connections_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_SHARD_H_
