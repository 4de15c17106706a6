#include "server/shard.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/mono_clock.h"
#include "protocol/sharding.h"
#include "server/engine_ops.h"
#include "server/error_response.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/replication_hub.h"
#include "server/room_ops.h"

namespace seatlock {
namespace {

using wire::Request;
using wire::Response;

std::unique_ptr<SeatEngine> MakeEngine(uint32_t index, const ServerConfig& config, uint64_t seed,
                                       const Clock* clock, ChangeSink* sink, HoldJournal* journal) {
  SeatEngine::Options opts;
  opts.clock = clock;
  opts.sink = sink;
  opts.journal = journal;
  opts.limits = config.limits;
  // --max_lapsed_hold_bytes is for the whole server.
  opts.limits.max_lapsed_hold_bytes = config.limits.max_lapsed_hold_bytes / config.shards;
  opts.shard_index = static_cast<uint8_t>(index);
  const uint32_t count = config.shards;
  opts.owns_section = [index, count, seed](std::string_view event, std::string_view section) {
    return protocol::ShardFor(event, section, count, seed) == index;
  };
  return std::make_unique<SeatEngine>(std::move(opts));
}

bool IsRoomOp(Request::OpCase op) {
  const protocol::OpInfo* info = protocol::FindOp(op);
  return op == Request::kConfigureRoom ||
         (info != nullptr && info->routing == protocol::Routing::kRoomHome);
}

}  // namespace

Shard::Shard(uint32_t index, const ServerConfig& config, ShardGroup* group, int main_listen_fd,
             int shard_listen_fd, int metrics_listen_fd)
    : index_(index),
      config_(config),
      group_(group),
      main_listen_fd_(main_listen_fd),
      shard_listen_fd_(shard_listen_fd),
      metrics_listen_fd_(metrics_listen_fd),
      feed_(index, config.feed_ring),
      journal_(config.replication != nullptr && !config.standby
                   ? std::make_unique<ReplicatedHolds>(config.replication, index,
                                                       [this] {
                                                         const ShardLog* log = commit_.log();
                                                         return log ? log->last_lsn() : 0;
                                                       })
                   : nullptr),
      engine_(MakeEngine(index, config, group->hash_seed, &clock_, &feed_, journal_.get())),
      rooms_(index, config.shards, group->hash_seed, &clock_),
      bus_(group->bus.get(), index),
      commit_(engine_.get(), &clock_),
      conns_(config, group, &clock_, &arena_, this),
      router_(Router::Parts{
          .self = index,
          .config = &config,
          .group = group,
          .engine = engine_.get(),
          .rooms = &rooms_,
          .bus = &bus_,
          .commit = &commit_,
          .run_local = [this](const Request& req, Callback done) { RunOp(req, std::move(done)); },
      }) {
  feed_.set_engine(engine_.get());
}

Shard::~Shard() {
  // The loop first: its pending file writes (and the epoll backend's writer
  // thread) refer to the log's and snapshotter's buffers and file descriptors.
  loop_.reset();
}

void Shard::Run(std::promise<absl::Status>* started) {
  SetLogThreadName(absl::StrCat("shard ", index_));
  if (config_.pin) {
    cpu_set_t set;
    CPU_ZERO(&set);
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    CPU_SET(static_cast<int>(index_ % static_cast<uint32_t>(ncpu > 0 ? ncpu : 1)), &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
      LogWarning("could not pin shard ", index_, " to a CPU");
    }
  }
  if (group_->reshard_from > 0) {
    clock_.Refresh();
    const absl::Status staged =
        StageReshard(config_, index_, group_->reshard_from, *engine_, rooms_);
    group_->staged[index_].set_value(staged);
    const absl::Status swapped = group_->swapped.get();
    if (!staged.ok() || !swapped.ok()) {
      started->set_value(!staged.ok() ? staged : swapped);
      return;
    }
  }
  clock_.Refresh();  // recovery stamps restored queue entries with the time
  absl::StatusOr<RecoveredShard> recovered = RecoveredShard{};
  if (!config_.standby) recovered = RecoverShard(config_, index_, *engine_, rooms_);
  if (!recovered.ok()) {
    started->set_value(recovered.status());
    return;
  }
  rooms_active_ = !rooms_.empty();
  auto loop = MakeEventLoop(config_.io);
  if (!loop.ok()) {
    started->set_value(loop.status());
    return;
  }
  loop_ = std::move(*loop);
  feed_.set_loop(loop_.get());
  conns_.set_loop(loop_.get());
  router_.set_loop(loop_.get());
  if (!config_.standby) {
    auto log =
        std::make_unique<ShardLog>(std::move(*recovered->dir), recovered->next_lsn, loop_.get(),
                                   config_.fsync ? FsyncMode::kAlways : FsyncMode::kNone);
    if (config_.replication != nullptr) {
      log->SetReplication(config_.replication, index_, config_.sync_timeout_ms);
    }
    commit_.Open(std::move(log), recovered->fencing_reserved);
    if (config_.adopt_holds != nullptr && index_ < config_.adopt_holds->size()) {
      AdoptHolds((*config_.adopt_holds)[index_]);
    }
  }
  snapshotter_ =
      std::make_unique<Snapshotter>(absl::StrCat(config_.data_dir, "/shard-", index_), loop_.get());
  if (config_.standby && config_.replication != nullptr) {
    applier_ = std::make_unique<ReplicaApplier>(absl::StrCat(config_.data_dir, "/shard-", index_));
  }
  absl::Status st = loop_->AddListener(main_listen_fd_, kMainListener);
  if (st.ok()) st = loop_->AddListener(shard_listen_fd_, kShardListener);
  if (st.ok() && metrics_listen_fd_ >= 0)
    st = loop_->AddListener(metrics_listen_fd_, kMetricsListener);
  started->set_value(st);
  if (!st.ok()) return;
  group_->go.wait();  // every shard's loop exists before any shard routes
  loop_->Run(this);
  // loop_ stays alive (other shards may still Wake it) until ~Shard, which
  // the server runs after every shard thread has exited.
}

void Shard::Wake() {
  // loop_ is set before the server starts routing (it waits for every shard
  // to report started), and reset only after all shards went idle.
  if (loop_ != nullptr) loop_->Wake();
}

void Shard::OnAccept(int listener_tag, int fd) { conns_.Accept(listener_tag, fd); }

void Shard::OnData(uint64_t id, const char* data, size_t n) {
  clock_.Refresh();
  conns_.OnData(id, data, n);
  arena_.Reset();
}

void Shard::OnPeerClosed(uint64_t id, int /*error*/) { conns_.Close(id); }

void Shard::Dispatch(Request&& req, Callback done) {
  if (const ReplicationHub* hub = config_.replication;
      hub != nullptr && !hub->writes_allowed() && req.op_case() != Request::kStats &&
      !(applier_ != nullptr && IsReplicaRead(req.op_case()))) {
    done(NotPrimary(req.request_id()));
    return;
  }
  router_.Route(std::move(req), std::move(done));
}

bool Shard::IsReplicaRead(Request::OpCase op) {
  return op == Request::kGetSeats || op == Request::kGetAvailability || op == Request::kListEvents;
}

Response Shard::NotPrimary(uint64_t request_id) const {
  const ReplicationHub* hub = config_.replication;
  const std::string primary = hub->primary_address();
  return ErrorResponse(
      request_id, wire::NOT_PRIMARY,
      hub->role() == NodeRole::kReplica
          ? absl::StrCat("this node is a replica; the primary is ",
                         primary.empty() ? "not known yet" : primary, " (HELLO primary_address)")
          : absl::StrCat("this node is no longer sure it is the primary (its etcd lease was not "
                         "renewed in time); find the primary with HELLO on the other nodes"));
}

Response Shard::Subscribe(uint64_t conn, const Request& req) {
  if (config_.replication != nullptr && !config_.replication->writes_allowed()) {
    return NotPrimary(req.request_id());
  }
  if (req.subscribe().shard() != index_) {
    return ErrorResponse(req.request_id(), wire::WRONG_SHARD,
                         absl::StrCat("this is shard ", index_, "; send SUBSCRIBE for shard ",
                                      req.subscribe().shard(), " to its port (see HELLO)"));
  }
  if (engine_->Layout(req.subscribe().event_id()) == nullptr) {
    return ErrorResponse(req.request_id(), wire::EVENT_NOT_FOUND,
                         absl::StrCat("no event '", req.subscribe().event_id(), "'"));
  }
  wire::Response resp = feed_.Subscribe(conn, req);
  if (resp.has_subscribe()) resp.mutable_subscribe()->set_feed_epoch(group_->feed_epoch);
  return resp;
}

void Shard::OnClosed(uint64_t conn) { feed_.DropConnection(conn); }

bool Shard::RunHoldCall(const protocol::HoldCall& call, std::string* out) {
  // What Dispatch and the router would not run here at once goes to them.
  if (const ReplicationHub* hub = config_.replication; hub != nullptr && !hub->writes_allowed()) {
    return false;  // NOT_PRIMARY
  }
  if (rooms_.gated(call.event_id)) return false;  // the room's home checks the pass
  if (config_.shards > 1) {
    for (const protocol::HoldCall::Seat& s : call.seats) {
      if (protocol::ShardFor(call.event_id, s.section, config_.shards, group_->hash_seed) !=
          index_) {
        return false;  // another shard's seats: SoleHoldShard, or a multi-shard hold
      }
    }
  }
  // RunOp holds a SEAT_UNAVAILABLE refusal (it shows seat states) until the
  // log is durable, the fencing reservation Record may append included.
  // Nothing to wait for when nothing is undurable, or when every seat is
  // free, so that this refusal cannot come. (A refusal takes no token, so
  // the TopUpFencing after the op appends nothing a refusal would wait for.)
  commit_.TopUpFencing();
  if (commit_.ReadBarrier() != 0 && !HoldCallSeatsFree(*engine_, call)) return false;
  ++ops_[protocol::OpIndex(wire::Request::kHold)];
  ++holds_fast_path_;
  const uint64_t started_ns = MonoNs();
  ExecuteHoldCall(*engine_, call, &hold_scratch_, out);
  hold_latency_.Record(MonoNs() - started_ns);
  commit_.TopUpFencing();
  return true;
}

void Shard::OnRunOp(const Request& req, Callback reply) { RunOp(req, std::move(reply)); }

void Shard::OnGateHold(Request&& req, Callback reply) {
  router_.GateHold(std::move(req), std::move(reply));
}

void Shard::OnPurchase(const std::string& event_id, uint64_t hold_id) {
  rooms_.Purchased(event_id, hold_id, commit_.log());
}

void Shard::RunOp(const Request& req, Callback done) {
  const auto op = req.op_case();
  const size_t op_index = protocol::OpIndex(op);
  if (op_index >= ops_.size()) {  // the connection table lets only known ops through
    done(ErrorResponse(req.request_id(), wire::UNKNOWN_OP, "unknown operation"));
    return;
  }
  uint64_t& count = ops_[op_index];
  const uint64_t changes_before = feed_.emitted();
  if (IsRoomOp(op)) {
    ++count;
    Response resp;
    const uint64_t lsn = RunRoomOp(req, *engine_, rooms_, commit_.log(), &resp, &rooms_active_);
    if (lsn == 0) {
      done(std::move(resp));
      return;
    }
    feed_.HoldUntilDurable(changes_before, lsn);
    commit_.ReplyWhenDurable(lsn, resp, std::move(done));
    return;
  }
  if (applier_ != nullptr && !applier_->status().ok() && IsReplicaRead(op)) {
    done(ErrorResponse(req.request_id(), wire::UNAVAILABLE,
                       absl::StrCat("this replica could not apply its copy (",
                                    applier_->status().message(), "); read from the primary")));
    return;
  }
  const protocol::OpInfo* info = protocol::FindOp(op);
  if (info != nullptr && info->durable && commit_.failed()) {
    done(ErrorResponse(req.request_id(), wire::UNAVAILABLE,
                       std::string(commit_.status().message())));
    return;
  }
  const bool new_event =
      op == Request::kDefineEvent && engine_->Layout(req.define_event().event_id()) == nullptr;
  Response* resp = google::protobuf::Arena::CreateMessage<Response>(&arena_);
  ++count;
  const uint64_t started_ns = MonoNs();
  if (op == Request::kDeleteEvent) feed_.PinLabels(req.delete_event().event_id());
  ExecuteEngineOp(*engine_, index_, req, resp);
  feed_.UnpinLabels();
  if (op == Request::kDeleteEvent && resp->code() == wire::OK) {
    rooms_.Delete(req.delete_event().event_id());  // logged with the event's kDeleteEvent
  }
  if (op == Request::kStats) FillStats(resp);
  if (op == Request::kHold || op == Request::kHoldBestAvailable) {
    hold_latency_.Record(MonoNs() - started_ns);
  }
  uint64_t lsn = commit_.Record(req, *resp, new_event);
  if (lsn != 0) {
    feed_.HoldUntilDurable(changes_before, lsn);  // a sale or refund goes out once durable
  } else if (CommitPipeline::ShowsSeatStates(req, *resp)) {
    lsn = commit_.ReadBarrier();  // shows no sale or refund before it is durable
  }
  if (lsn == 0) {
    if (op == Request::kConfirm) confirm_latency_.Record(MonoNs() - started_ns);
    done(std::move(*resp));
    return;
  }
  // The pipeline keeps a copy: it outlives this batch's arena.
  commit_.ReplyWhenDurable(lsn, *resp, std::move(done),
                           op == Request::kConfirm ? &confirm_latency_ : nullptr, started_ns);
}

void Shard::FillStats(Response* resp) {
  if (resp->stats().shards_size() != 1) return;
  wire::ShardStats* s = resp->mutable_stats()->mutable_shards(0);
  s->set_connections(conns_.size());
  s->set_requests(conns_.requests());
  s->set_forwarded_out(bus_.calls_sent());
  s->set_in_flight(conns_.in_flight());
  auto ops = [this](Request::OpCase c) { return ops_[protocol::OpIndex(c)]; };
  s->set_ops_hold(ops(Request::kHold));
  s->set_ops_hold_best_available(ops(Request::kHoldBestAvailable));
  s->set_ops_extend(ops(Request::kExtend));
  s->set_ops_release(ops(Request::kRelease));
  s->set_ops_confirm(ops(Request::kConfirm));
  s->set_ops_cancel_booking(ops(Request::kCancelBooking));
  s->set_ops_get_seats(ops(Request::kGetSeats));
  s->set_ops_get_hold(ops(Request::kGetHold));
  uint64_t all = 0;
  for (uint64_t n : ops_) all += n;
  s->set_ops_other(all - s->ops_hold() - s->ops_hold_best_available() - s->ops_extend() -
                   s->ops_release() - s->ops_confirm() - s->ops_cancel_booking() -
                   s->ops_get_seats() - s->ops_get_hold());
  s->set_forward_queue(bus_.calls_waiting());
  s->set_bus_backlog(bus_.backlog());
  s->set_output_blocked(conns_.blocked_on_output());
  s->set_closed_for_stall(conns_.closed_for_stall());
  const ShardLog* log = commit_.log();
  s->set_wal_queue(log != nullptr ? log->waiting() : 0);
  s->set_subscriptions(feed_.subscriptions());
  s->set_feed_pending(feed_.pending());
  s->set_feed_overflows(feed_.overflows());
  s->set_holds_fast_path(holds_fast_path_);
  FillLatencyBuckets(hold_latency_, s->mutable_hold_latency());
  FillLatencyBuckets(confirm_latency_, s->mutable_confirm_latency());
  if (log != nullptr) {
    FillLatencyBuckets(log->sync_latency(), s->mutable_fsync_latency());
    s->set_wal_groups(log->groups_written());
    s->set_wal_failed(log->failed());
  }
}

void Shard::OnWake() {
  clock_.Refresh();
  bus_.Drain(this);
  if (group_->stopping.load() && !draining_) BeginShutdown();
}

void Shard::BeginShutdown() {
  draining_ = true;
  drain_deadline_ms_ = clock_.NowMs() + 4000;
  loop_->StopListening();
  conns_.BeginDrain();
  LogInfo("shutting down: stopped accepting; answering requests in flight");
}

void Shard::StepSnapshot() {
  ShardLog* log = commit_.log();
  if (snapshotter_->active()) {
    if (const uint64_t covered = snapshotter_->Step(*engine_); covered != 0) {
      if (absl::Status st = log->DropBefore(covered); !st.ok()) {
        LogWarning("could not drop log segments covered by the snapshot: ", st.message());
      }
    }
  } else if (config_.snapshot_bytes > 0 && log->bytes_since_snapshot() >= config_.snapshot_bytes &&
             !log->failed()) {
    log->MarkSnapshotStarted();
    absl::Status st =
        snapshotter_->Start(*engine_, rooms_, log->last_lsn() + 1, commit_.fencing_reserved());
    if (!st.ok()) LogError("cannot start a snapshot: ", st.message());
  }
}

void Shard::StepReplicaSnapshot() {
  if (snapshotter_->active()) {
    if (const uint64_t covered = snapshotter_->Step(*engine_); covered != 0) {
      config_.replication->SetCopyDropBefore(index_, covered);
    }
  } else if (config_.snapshot_bytes > 0 &&
             applier_->bytes_since_snapshot() >= config_.snapshot_bytes &&
             applier_->status().ok()) {
    applier_->MarkSnapshotStarted();
    absl::Status st = snapshotter_->Start(*engine_, rooms_, applier_->applied_lsn() + 1,
                                          applier_->fencing_seen());
    if (!st.ok()) LogError("replica: cannot start a snapshot of its copy: ", st.message());
  }
}

int64_t Shard::DrainPass(int64_t now) {
  const bool idle = conns_.in_flight() == 0 && bus_.calls_waiting() == 0 && bus_.backlog() == 0;
  if ((idle || now >= drain_deadline_ms_) && !counted_idle_) {
    counted_idle_ = true;
    if (group_->busy_shards.fetch_sub(1) == 1) {
      for (Shard* s : group_->shards) {
        if (s != this) s->Wake();
      }
    }
  }
  if (!counted_idle_ || group_->busy_shards.load() > 0) return -1;
  if (!closing_all_) {
    closing_all_ = true;
    conns_.CloseAll();
  }
  bus_.Flush();
  if (loop_->connection_count() == 0 || now >= drain_deadline_ms_ + 500) {
    loop_->Stop();
    return 0;
  }
  return 10;
}

void Shard::AdoptHolds(const std::vector<HoldImage>& holds) {
  size_t adopted = 0;
  for (const HoldImage& h : holds) adopted += engine_->RestoreHold(h);
  if (!holds.empty()) {
    LogInfo("took over ", adopted, " of the ", holds.size(),
            " live hold(s) this node had as a replica (the rest had expired, or their seats "
            "were sold)");
  }
}

int64_t Shard::OnPass() {
  if (bus_.HasIncoming()) OnWake();  // messages that raced with the last wake
  arena_.Reset();
  clock_.Refresh();
  group_->memory.Poll(MonoMs());
  const bool turns_left = conns_.RunTurns(clock_.NowMs());
  const bool copy_left =
      applier_ != nullptr && applier_->Poll(config_.replication->copy_durable(index_), *engine_,
                                            rooms_, &config_.replication->copy_holds(index_));
  engine_->ExpireDue();
  if (commit_.log() != nullptr && !draining_) StepSnapshot();
  if (applier_ != nullptr && !draining_) StepReplicaSnapshot();
  if (rooms_active_ && !draining_) {
    rooms_active_ = rooms_.Tick(commit_.log());
    router_.PollSupply(clock_.NowMs());
  }
  commit_.Flush();  // group commit: everything appended this pass, one write + fdatasync
  if (ShardLog* log = commit_.log()) log->Poll();  // replica acks, sync timeouts
  // Changes of this pass (requests and expiries), up to the first not yet
  // durable, one message per subscriber.
  if (const ShardLog* log = commit_.log()) {
    feed_.Flush(log->durable_lsn(), log->status());
  } else {
    feed_.Flush(~uint64_t{0}, absl::OkStatus());
  }
  const int64_t now = clock_.NowMs();
  if (now - last_idle_check_ms_ >= 1000) {
    last_idle_check_ms_ = now;
    conns_.CloseIdle(now);
    if (index_ == 0) WarnIfWallClockStepped();
  }
  if (draining_) {
    if (const int64_t wait = DrainPass(now); wait >= 0) return wait;
  }
  bus_.Flush();
  int64_t wait = engine_->MsUntilNextTimer();
  if (wait < 0 || wait > 1000) wait = 1000;
  if (snapshotter_ != nullptr && snapshotter_->active() && !snapshotter_->waiting_for_io()) {
    wait = 0;  // keep encoding between requests
  }
  if (draining_ || rooms_active_) wait = std::min<int64_t>(wait, 10);  // rooms admit every 10 ms
  if (applier_ != nullptr) wait = std::min<int64_t>(wait, 10);         // the copy grows
  if (turns_left || copy_left) wait = 0;  // connections wait for their next turn
  if (config_.replication != nullptr && commit_.log() != nullptr && commit_.log()->waiting() > 0) {
    wait = std::min<int64_t>(wait, 20);  // sync timeouts (acks themselves wake the loop)
  }
  return wait;
}

void Shard::WarnIfWallClockStepped() {
  const int64_t skew = SystemClock::Get()->WallSkewMs();
  if (std::abs(skew - wall_skew_warned_ms_) < 1000) return;
  wall_skew_warned_ms_ = skew;
  LogWarning("the host's wall clock is ", skew,
             " ms away from seatlockd's clock (wall clock at start + CLOCK_BOOTTIME): it stepped. "
             "Hold deadlines are unaffected; times in replies keep seatlockd's clock until a "
             "restart");
}

}  // namespace seatlock
