#include "server/wal_sender.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/mono_clock.h"
#include "common/str_error.h"
#include "persistence/wal_log.h"
#include "persistence/wal_record.h"
#include "server/listen_socket.h"
#include "server/log.h"
#include "server/log_tail.h"

namespace seatlock {
namespace {

constexpr int64_t kHeartbeatMs = 200;  // a Records frame with count 0 when idle
// Hold changes are polled this often (they wake no one: a HOLD must not pay
// for a futex wake), and sent at most this many to a frame.
constexpr int64_t kHoldPollMs = 10;
constexpr size_t kHoldChangesPerFrame = 4096;

// `changes` as a HoldChanges frame; times moved on to `now`.
void FillHoldChanges(const std::vector<HoldChange>& changes, bool reset, int64_t now,
                     repl::Frame* f) {
  repl::HoldChanges* out = f->mutable_holds();
  out->set_reset(reset);
  for (const HoldChange& c : changes) {
    repl::HoldChange* h = out->add_changes();
    h->set_after_lsn(c.after_lsn);
    h->set_hold_id(c.hold.hold_id);
    if (c.gone) {
      h->set_gone(true);
      continue;
    }
    h->set_fencing_token(c.hold.fencing_token);
    h->set_event_id(c.hold.event_id);
    h->set_holder(c.hold.holder);
    for (const SeatKey k : c.hold.seats) {
      h->add_seats(k.section);
      h->add_seats(k.seat);
    }
    h->set_remaining_ms(c.hold.remaining_ms - (now - c.at_ms));
    h->set_age_ms(c.hold.age_ms + (now - c.at_ms));
  }
}
constexpr int64_t kHelloTimeoutMs = 5'000;

}  // namespace

WalSender::WalSender(Options options, ReplicationHub* hub)
    : options_(std::move(options)), hub_(hub) {}

WalSender::~WalSender() { Stop(); }

absl::Status WalSender::Start(const std::string& bind, uint16_t port) {
  auto fd = Listen(bind, port, false, 5'000);
  if (!fd.ok()) return fd.status();
  listen_fd_ = *fd;
  port_ = BoundPort(listen_fd_);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void WalSender::Stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  std::list<std::unique_ptr<Conn>> conns;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conns.swap(conns_);
  }
  for (auto& c : conns) c->stream->Shutdown();
  for (auto& c : conns) {
    if (c->sender.joinable()) c->sender.join();
    if (c->acker.joinable()) c->acker.join();
  }
  hub_->SetReplStreams(0);
}

size_t WalSender::ReapLocked() {
  for (auto it = conns_.begin(); it != conns_.end();) {
    if ((*it)->done.load()) {
      (*it)->sender.join();
      if ((*it)->acker.joinable()) (*it)->acker.join();
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
  hub_->SetReplStreams(conns_.size());
  return conns_.size();
}

void WalSender::AcceptLoop() {
  SetLogThreadName("repl accept");
  int64_t last_reap = MonoMs();
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) != 1) {
      if (MonoMs() - last_reap >= 1000) {
        last_reap = MonoMs();
        std::lock_guard<std::mutex> lock(mu_);
        ReapLocked();  // keeps the stream gauge right while nobody connects
      }
      continue;
    }
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) continue;
    // Frames go out at once: a HoldChanges frame gets no reply, so with
    // Nagle the next Records frame would wait for the replica's delayed ACK
    // (40 ms), and every CONFIRM with it.
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto conn = std::make_unique<Conn>();
    conn->stream = std::make_unique<ReplStream>(fd);
    Conn* c = conn.get();
    std::lock_guard<std::mutex> lock(mu_);
    // Reap finished streams so a replica that reconnects often costs nothing.
    if (ReapLocked() >= options_.max_streams) {
      repl::Frame f;
      f.mutable_start()->set_error(absl::StrCat(
          "this primary already has ", options_.max_streams,
          " replication streams open (--repl_max_streams); a replica needs one per shard"));
      c->stream->Send(f).IgnoreError();  // a fresh socket's buffer takes it at once
      c->stream->Shutdown();
      hub_->CountReplRefused();
      LogWarning("replication: refused a stream from ", c->stream->peer(), ": already ",
                 options_.max_streams, " open (--repl_max_streams)");
      continue;
    }
    conns_.push_back(std::move(conn));
    hub_->SetReplStreams(conns_.size());
    c->sender = std::thread([this, c] { Serve(c); });
  }
}

std::string WalSender::Refusal(const repl::Hello& h) const {
  if (h.node_id().empty()) return "a Hello with no node id";
  if (options_.accept_node && !options_.accept_node(h.node_id())) {
    return absl::StrCat("node '", h.node_id(),
                        "' is not a member of this group in etcd (start it with the same "
                        "--etcd and --group)");
  }
  if (hub_->role() != NodeRole::kPrimary) return "this node is not the primary";
  if (h.epoch() != hub_->epoch()) {
    return absl::StrCat("epoch ", h.epoch(), " asked, this primary's is ", hub_->epoch());
  }
  if (h.shards() != options_.shards || h.hash_seed() != options_.hash_seed) {
    return absl::StrCat("the replica has ", h.shards(), " shards (seed ", h.hash_seed(),
                        "), the primary ", options_.shards, " (seed ", options_.hash_seed,
                        "): start every node of a group with the same --shards");
  }
  if (h.shard() >= options_.shards) return absl::StrCat("no shard ", h.shard());
  return "";
}

void WalSender::Serve(Conn* conn) {
  SetLogThreadName("repl send");
  repl::Frame in;
  absl::Status st = conn->stream->Recv(&in, kHelloTimeoutMs, kMaxPeerFrameBytes);
  if (st.ok() && !in.has_hello()) st = absl::InvalidArgumentError("expected Hello");
  if (!st.ok()) {
    hub_->CountReplRefused();
    LogWarning("replication: dropped a connection from ", conn->stream->peer(), ": ", st.message());
  }
  if (st.ok()) {
    const repl::Hello& h = in.hello();
    const std::string refuse = Refusal(h);
    if (!refuse.empty()) {
      repl::Frame f;
      f.mutable_start()->set_error(refuse);
      conn->stream->Send(f).IgnoreError();
      hub_->CountReplRefused();
      LogWarning("replication: refused ", h.node_id(), " shard ", h.shard(), ": ", refuse);
      conn->stream->Shutdown();
      conn->done = true;
      return;
    }
    {
      // A node has one stream per shard: a new one (it reconnected) wins.
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& other : conns_) {
        if (other.get() != conn && !other->done.load() && other->node == h.node_id() &&
            other->shard == h.shard()) {
          other->stream->Shutdown();
        }
      }
      conn->node = h.node_id();
      conn->shard = h.shard();
    }
    st = Stream(conn, h);
    if (conn->hub_stream != 0) hub_->CloseStream(h.node_id(), h.shard(), conn->hub_stream);
    if (!stopping_.load()) {
      LogWarning("replication: stream of shard ", h.shard(), " to ", h.node_id(),
                 " ended: ", st.message());
    }
  }
  conn->stream->Shutdown();
  conn->done = true;
}

absl::Status WalSender::Stream(Conn* conn, const repl::Hello& hello) {
  const uint32_t shard = hello.shard();
  const std::string dir = absl::StrCat(options_.data_dir, "/shard-", shard);
  // Where the copy starts: where the replica resumes, else LSN 1 while the
  // log still has it, else the newest snapshot (the shard may drop segments
  // meanwhile: try again).
  LogTail tail(dir);
  std::string snap_name;
  uint64_t snap_lsn = 0;
  absl::Status st;
  if (hello.from_lsn() > 0) {
    if (hello.from_lsn() > hub_->local_durable(shard) + 1) {
      st = absl::OutOfRangeError("the replica is ahead of the primary");
    } else {
      st = tail.Seek(hello.from_lsn());
    }
    if (!st.ok()) {
      repl::Frame refuse;
      refuse.mutable_start()->set_error(
          absl::StrCat("cannot resume at LSN ", hello.from_lsn(), ": ", st.message()));
      refuse.mutable_start()->set_copy_from_scratch(true);
      conn->stream->Send(refuse).IgnoreError();
      return st;
    }
  } else {
    for (int attempt = 0; attempt < 5; ++attempt) {
      snap_name.clear();
      st = tail.Seek(1);
      if (st.ok()) break;
      snap_name = NewestSnapshotName(dir, &snap_lsn);
      if (snap_name.empty()) continue;
      st = tail.Seek(snap_lsn);
      if (st.ok()) break;
    }
    if (!st.ok()) return st;
  }
  // The snapshot is renamed into place only once complete, and kept open
  // by this read even if a newer snapshot replaces it. It is read and sent a
  // chunk at a time: several replicas copying at once cost a chunk each.
  int snap_fd = -1;
  uint64_t snap_bytes = 0;
  if (!snap_name.empty()) {
    const std::string path = absl::StrCat(dir, "/", snap_name);
    snap_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (snap_fd < 0) {
      return absl::NotFoundError(absl::StrCat("open ", path, ": ", StrError(errno)));
    }
    struct stat sb {};
    fstat(snap_fd, &sb);
    snap_bytes = static_cast<uint64_t>(sb.st_size);
  }
  auto close_snap = absl::MakeCleanup([&] {
    if (snap_fd >= 0) ::close(snap_fd);
  });
  repl::Frame f;
  repl::Start* start = f.mutable_start();
  start->set_epoch(hub_->epoch());
  start->set_first_lsn(tail.next_lsn());
  start->set_snapshot_name(snap_name);
  start->set_snapshot_bytes(snap_bytes);
  start->set_primary_durable_lsn(hub_->local_durable(shard));
  if (st = conn->stream->Send(f); !st.ok()) return st;
  std::string chunk;
  for (uint64_t off = 0; off < snap_bytes;) {
    chunk.resize(static_cast<size_t>(std::min<uint64_t>(kLogTailChunkBytes, snap_bytes - off)));
    const ssize_t r = ::pread(snap_fd, chunk.data(), chunk.size(), static_cast<off_t>(off));
    if (r <= 0) {
      return absl::DataLossError(absl::StrCat("short read of ", dir, "/", snap_name, " at ", off));
    }
    chunk.resize(static_cast<size_t>(r));
    off += static_cast<uint64_t>(r);
    f.Clear();
    f.mutable_snapshot()->set_data(chunk);
    if (st = conn->stream->Send(f); !st.ok()) return st;
  }
  std::string().swap(chunk);
  // The replica has what came before the first record it is sent.
  conn->sent_lsn = tail.next_lsn() - 1;
  conn->hub_stream = hub_->OpenStream(hello.node_id(), shard, hello.from_lsn() == 0);
  LogInfo("replication: streaming shard ", shard, " to ", hello.node_id(), " (",
          conn->stream->peer(), ") from LSN ", tail.next_lsn(),
          snap_name.empty() ? "" : absl::StrCat(" after ", snap_name));
  // Acks arrive on their own thread.
  const std::string node = hello.node_id();
  conn->acker = std::thread([this, conn, node, shard] {
    SetLogThreadName("repl acks");
    repl::Frame a;
    while (!conn->done.load() && !stopping_.load()) {
      absl::Status rs = conn->stream->Recv(&a, 500, kMaxPeerFrameBytes);
      if (rs.code() == absl::StatusCode::kDeadlineExceeded) continue;
      if (!rs.ok()) break;
      if (!a.has_ack()) continue;
      if (a.ack().durable_lsn() > conn->sent_lsn.load()) {
        // It cannot have fsynced what it was not sent: a broken or hostile
        // peer, whose acks must not release any reply.
        hub_->CountReplRefused();
        LogWarning("replication: ", node, " acknowledged LSN ", a.ack().durable_lsn(), " of shard ",
                   shard, " but was sent only up to ", conn->sent_lsn.load(),
                   "; closing its stream");
        break;
      }
      hub_->Ack(node, shard, conn->hub_stream, a.ack().durable_lsn());
    }
    conn->stream->Shutdown();  // the sender notices at its next send
    conn->done = true;
  });
  std::string data;
  // Hold changes: from the oldest the ring keeps, after a reset (so a
  // replica that reconnects drops what it may have missed meanwhile).
  uint64_t hold_cursor = 0;
  bool hold_reset = true;
  std::vector<HoldChange> changes;
  int64_t last_sent_ms = MonoMs();
  while (!stopping_.load() && !conn->done.load()) {
    if (hub_->role() != NodeRole::kPrimary) {
      return absl::FailedPreconditionError("this node is no longer the primary");
    }
    const uint64_t durable = hub_->WaitDurable(shard, tail.next_lsn() - 1, kHoldPollMs);
    bool sent = false;
    data.clear();
    uint32_t count = 0;
    if (tail.next_lsn() <= durable) {
      const uint64_t first = tail.next_lsn();
      if (st = tail.Read(durable, &data, &count); !st.ok()) return st;
      f.Clear();
      repl::Records* r = f.mutable_records();
      r->set_first_lsn(first);
      r->set_count(count);
      r->set_data(std::move(data));
      r->set_primary_durable_lsn(durable);
      conn->sent_lsn = first + count - 1;
      if (st = conn->stream->Send(f); !st.ok()) return st;
      sent = true;
    }
    changes.clear();
    if (!hub_->holds(shard).Read(&hold_cursor, kHoldChangesPerFrame, &changes)) {
      hold_reset = true;  // the ring overflowed past this stream
    }
    if (!changes.empty() || hold_reset) {
      f.Clear();
      FillHoldChanges(changes, hold_reset, MonoMs(), &f);
      hold_reset = false;
      if (st = conn->stream->Send(f); !st.ok()) return st;
      sent = true;
    }
    if (!sent && MonoMs() - last_sent_ms >= kHeartbeatMs) {
      f.Clear();
      repl::Records* r = f.mutable_records();  // heartbeat
      r->set_first_lsn(tail.next_lsn());
      r->set_primary_durable_lsn(durable);
      if (st = conn->stream->Send(f); !st.ok()) return st;
      sent = true;
    }
    if (sent) last_sent_ms = MonoMs();
  }
  return absl::CancelledError("stopping");
}

}  // namespace seatlock
