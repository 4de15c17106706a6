// Shard: one thread, one event loop, one SeatEngine. The shard's own code is
// the thread body (recover, open the log, listen, run the loop) and the
// schedule of one loop pass (expire holds, flush the change feed, step the
// snapshot, tick the waiting rooms, group-commit the log, close idle
// connections, drain at shutdown). The work is done by its named parts:
//   - ConnectionTable: connections, frames, auth, HELLO/PING, /metrics;
//   - Router: which shard runs a request (with coordinators and merges);
//   - ShardBus: typed messages to and from the other shards;
//   - CommitPipeline: log records, replies held until durable, fencing;
//   - recovery.h: snapshot + log replay, resharding;
//   - ReplicaApplier: a replica's standby shard applies its copy, for reads;
//   - RunOp (here): an op this shard owns, run on its engine.
//
// Ownership: a Shard owns its loop, engine, rooms, change feed and parts.
// Every member is touched only by the shard's own thread, except Wake (any
// thread). Other shards reach this shard's data only through the bus.
#ifndef SEATLOCK_SERVER_SHARD_H_
#define SEATLOCK_SERVER_SHARD_H_

#include <array>
#include <future>
#include <memory>
#include <string>

#include "common/histogram.h"
#include "engine/seat_engine.h"
#include "google/protobuf/arena.h"
#include "protocol/op_table.h"
#include "protocol/seatlock.pb.h"
#include "server/change_feed.h"
#include "server/commit_pipeline.h"
#include "server/config.h"
#include "server/connection_table.h"
#include "server/engine_ops.h"
#include "server/event_loop.h"
#include "server/recovery.h"
#include "server/replica_applier.h"
#include "server/replicated_holds.h"
#include "server/rooms.h"
#include "server/router.h"
#include "server/shard_bus.h"
#include "server/shard_group.h"
#include "server/snapshotter.h"

namespace seatlock {

class Shard final : public LoopHandler,
                    private ConnectionTable::Handler,
                    private ShardBus::Receiver {
 public:
  // `metrics_listen_fd` is -1 except on the shard that serves /metrics.
  // group->bus must exist.
  Shard(uint32_t index, const ServerConfig& config, ShardGroup* group, int main_listen_fd,
        int shard_listen_fd, int metrics_listen_fd);
  ~Shard() override;

  // The thread body: builds the loop, reports on `started`, serves until the
  // server stops. Returns after every connection is closed.
  void Run(std::promise<absl::Status>* started);
  // Any thread: makes the loop call OnWake soon (bus messages, shutdown).
  void Wake();

  uint32_t index() const { return index_; }
  // Every live hold of this shard. Only once its thread has returned from
  // Run (Server::LiveHolds, for a promoted node).
  std::vector<HoldImage> LiveHolds() const { return engine_->LiveHolds(); }

  // LoopHandler.
  void OnAccept(int listener_tag, int fd) override;
  void OnData(uint64_t conn, const char* data, size_t n) override;
  void OnPeerClosed(uint64_t conn, int error) override;
  void OnWake() override;
  int64_t OnPass() override;

 private:
  // ConnectionTable::Handler.
  void Dispatch(wire::Request&& req, Callback done) override;
  wire::Response Subscribe(uint64_t conn, const wire::Request& req) override;
  void OnClosed(uint64_t conn) override;
  bool RunHoldCall(const protocol::HoldCall& call, std::string* out) override;
  // ShardBus::Receiver.
  void OnRunOp(const wire::Request& req, Callback reply) override;
  void OnGateHold(wire::Request&& req, Callback reply) override;
  void OnPurchase(const std::string& event_id, uint64_t hold_id) override;

  // Runs an op owned by this shard and calls `done` with its response: at
  // once, or, for an op that must be durable first, once its log record is
  // on disk.
  void RunOp(const wire::Request& req, Callback done);
  void FillStats(wire::Response* resp);
  // NOT_PRIMARY, naming the primary when this node knows it.
  wire::Response NotPrimary(uint64_t request_id) const;
  // Whether a replica answers `op` from its applied copy.
  static bool IsReplicaRead(wire::Request::OpCase op);
  void StepSnapshot();
  // A replica's standby shard: snapshots the applied copy every
  // --snapshot_bytes of log; the receiver then drops what it covers.
  void StepReplicaSnapshot();
  // A promoted node: re-creates the holds its standby shard had.
  void AdoptHolds(const std::vector<HoldImage>& holds);
  void BeginShutdown();
  // Shard 0, once a second: logs when the host's wall clock stepped.
  void WarnIfWallClockStepped();
  // Shutdown's part of a pass; returns the loop's wait, or -1 to go on.
  int64_t DrainPass(int64_t now);

  // The engine reads time from here: refreshed once per batch of input
  // rather than once per call (a syscall-free vDSO read is still ~20 ns).
  class PassClock final : public Clock {
   public:
    int64_t NowMs() const override { return now_ms_; }
    void Refresh() { now_ms_ = SystemClock::Get()->NowMs(); }

   private:
    int64_t now_ms_ = SystemClock::Get()->NowMs();
  };

  const uint32_t index_;
  const ServerConfig& config_;
  ShardGroup* group_;
  int main_listen_fd_;
  int shard_listen_fd_;
  int metrics_listen_fd_;
  std::array<uint64_t, protocol::kOpCount> ops_{};  // by protocol::OpIndex
  LatencyHistogram hold_latency_;
  HoldCallScratch hold_scratch_;  // RunHoldCall's
  uint64_t holds_fast_path_ = 0;  // HOLDs RunHoldCall answered (STATS holds_fast_path)
  LatencyHistogram confirm_latency_;
  std::unique_ptr<EventLoop> loop_;
  PassClock clock_;
  ChangeFeed feed_;  // the engine's change sink: declared before the engine
  // A primary's hold journal (replica groups only): declared before the engine.
  std::unique_ptr<ReplicatedHolds> journal_;
  std::unique_ptr<SeatEngine> engine_;
  Rooms rooms_;
  bool rooms_active_ = false;
  // Requests and local responses of one input batch live here; reset after
  // the batch (responses are serialized before the batch ends). The arena
  // starts in arena_block_, which a reset keeps: a batch that fits in it
  // allocates nothing.
  static constexpr size_t kArenaBlockBytes = 64 << 10;
  std::unique_ptr<char[]> arena_block_ = std::make_unique<char[]>(kArenaBlockBytes);
  google::protobuf::Arena arena_{arena_block_.get(), kArenaBlockBytes};
  ShardBus bus_;
  CommitPipeline commit_;
  ConnectionTable conns_;
  Router router_;
  std::unique_ptr<Snapshotter> snapshotter_;
  // A replica's standby shard: applies the copy so it can serve reads.
  std::unique_ptr<ReplicaApplier> applier_;
  RecoveredShard recovered_;  // from Recover until the log opens
  // Shutdown.
  bool draining_ = false;
  bool counted_idle_ = false;
  bool closing_all_ = false;
  int64_t drain_deadline_ms_ = 0;
  int64_t last_idle_check_ms_ = 0;
  int64_t wall_skew_warned_ms_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_SHARD_H_
