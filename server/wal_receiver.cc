#include "server/wal_receiver.h"

#include <fcntl.h>
#include <unistd.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/mono_clock.h"
#include "common/str_error.h"
#include "persistence/file_util.h"
#include "persistence/wal_log.h"
#include "server/log.h"

namespace seatlock {
namespace {

// A HoldChanges frame into the replica's ring, stamped with the time here.
absl::Status PushHolds(const repl::HoldChanges& in, HoldChangeRing& ring) {
  const int64_t now = MonoMs();
  if (in.reset()) {
    HoldChange c;
    c.forget_all = true;
    c.at_ms = now;
    ring.Push(std::move(c));
  }
  for (const repl::HoldChange& h : in.changes()) {
    if (h.hold_id() == 0 || h.seats_size() % 2 != 0) {
      return absl::DataLossError("a malformed hold change from the primary");
    }
    HoldChange c;
    c.after_lsn = h.after_lsn();
    c.at_ms = now;
    c.gone = h.gone();
    c.hold.hold_id = h.hold_id();
    c.hold.fencing_token = h.fencing_token();
    c.hold.event_id = h.event_id();
    c.hold.holder = h.holder();
    for (int i = 0; i + 1 < h.seats_size(); i += 2) {
      c.hold.seats.push_back(SeatKey{h.seats(i), h.seats(i + 1)});
    }
    c.hold.remaining_ms = h.remaining_ms();
    c.hold.age_ms = h.age_ms();
    ring.Push(std::move(c));
  }
  return absl::OkStatus();
}

}  // namespace

WalReceiver::WalReceiver(Options options) : options_(std::move(options)) {}

WalReceiver::~WalReceiver() { Stop(); }

void WalReceiver::Start() {
  thread_ = std::thread([this] { Run(); });
}

void WalReceiver::Stop() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_ != nullptr) stream_->Shutdown();
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status WalReceiver::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void WalReceiver::Run() {
  SetLogThreadName(absl::StrCat("repl recv ", options_.shard));
  absl::Status st = Copy();
  if (!stopping_.load()) {
    LogWarning("replication: copy of shard ", options_.shard, " from ", options_.primary,
               " ended: ", st.message());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = st;
  }
  ended_ = true;
}

absl::Status WalReceiver::Copy() {
  const std::string& dir = options_.dir;
  // A resumed copy: what is on disk, its torn tail cut, goes on from there.
  std::optional<wal::WalDir> resumed;
  if (options_.resume) {
    auto w = wal::WalDir::Open(dir, options_.segment_bytes);
    if (!w.ok()) return w.status();
    auto report = w->Recover(/*repair=*/false, [](uint64_t, const wal::Record&) {});
    if (!report.ok()) {
      needs_fresh_copy_ = true;
      return report.status();
    }
    if (report->segments == 0) {
      needs_fresh_copy_ = true;
      return absl::FailedPreconditionError(absl::StrCat(dir, ": nothing to resume"));
    }
    // A batch written just before a crash may not have been fdatasynced:
    // sync before acknowledging any of it.
    if (options_.fsync && ::fdatasync(w->fd()) != 0) {
      return absl::UnavailableError(absl::StrCat("fdatasync in ", dir, ": ", StrError(errno)));
    }
    resumed = std::move(*w);
  }
  auto connected = ReplStream::Connect(options_.primary, 2'000);
  if (!connected.ok()) return connected.status();
  ReplStream* stream = connected->get();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = std::move(*connected);
    if (stopping_.load()) return absl::CancelledError("stopping");
  }
  repl::Frame f;
  repl::Hello* hello = f.mutable_hello();
  hello->set_node_id(options_.node_id);
  hello->set_shard(options_.shard);
  hello->set_shards(options_.shards);
  hello->set_hash_seed(options_.hash_seed);
  hello->set_epoch(options_.epoch);
  if (resumed) hello->set_from_lsn(resumed->next_lsn());
  if (absl::Status st = stream->Send(f); !st.ok()) return st;
  if (absl::Status st = stream->Recv(&f, 10'000); !st.ok()) return st;
  if (!f.has_start()) return absl::DataLossError("the primary sent no Start");
  const repl::Start start = f.start();
  if (!start.error().empty()) {
    if (start.copy_from_scratch()) needs_fresh_copy_ = true;
    return absl::FailedPreconditionError(absl::StrCat("the primary refused: ", start.error()));
  }
  if (start.epoch() != options_.epoch) {
    return absl::FailedPreconditionError(
        absl::StrCat("the primary streams epoch ", start.epoch(), ", etcd names ", options_.epoch));
  }
  if (resumed && (start.first_lsn() != resumed->next_lsn() || !start.snapshot_name().empty())) {
    needs_fresh_copy_ = true;
    return absl::DataLossError("the primary did not resume where asked");
  }
  if (absl::Status st = files::CreateDirs(dir); !st.ok()) return st;
  if (!start.snapshot_name().empty()) {
    const std::string& name = start.snapshot_name();
    if (name.size() != 34 || name.rfind("snapshot-", 0) != 0 ||
        name.find('/') != std::string::npos || name.compare(29, 5, ".snap") != 0) {
      return absl::DataLossError(absl::StrCat("bad snapshot name '", name, "'"));
    }
    const std::string tmp = absl::StrCat(dir, "/", name.substr(0, 29), ".tmp");
    const std::string path = absl::StrCat(dir, "/", name);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return absl::UnavailableError(absl::StrCat("create ", tmp, ": ", StrError(errno)));
    uint64_t written = 0;
    absl::Status st;
    while (st.ok() && written < start.snapshot_bytes()) {
      st = stream->Recv(&f, options_.silence_ms);
      if (st.ok() && !f.has_snapshot()) st = absl::DataLossError("expected a snapshot chunk");
      if (st.ok()) st = files::WriteAt(fd, f.snapshot().data(), written, tmp);
      written += f.snapshot().data().size();
    }
    if (st.ok() && ::fdatasync(fd) != 0) {
      st = absl::UnavailableError(absl::StrCat("fdatasync ", tmp, ": ", StrError(errno)));
    }
    ::close(fd);
    if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
      st = absl::UnavailableError(absl::StrCat("rename ", tmp, ": ", StrError(errno)));
    }
    if (st.ok()) st = files::SyncDir(dir);
    if (!st.ok()) return st;
  }
  absl::StatusOr<wal::WalDir> wal =
      resumed ? std::move(*resumed) : wal::WalDir::Open(dir, options_.segment_bytes);
  if (!wal.ok()) return wal.status();
  if (!resumed) {
    if (absl::Status st = wal->StartAt(start.first_lsn()); !st.ok()) return st;
  }
  const uint64_t target = start.primary_durable_lsn();
  uint64_t dropped = 0;  // the last copy_drop_before acted on
  durable_ = start.first_lsn() - 1;
  if (options_.hub != nullptr) options_.hub->SetCopyDurable(options_.shard, durable_.load());
  primary_durable_ = target;
  if (durable_.load() >= target) caught_up_ = true;
  // What the snapshot (or the resumed log) holds is on disk now: say so at
  // once. Otherwise a shard with nothing new to stream would never ack, and
  // the primary would count this replica behind (never caught up, never
  // named `sync`) until the next record on that shard.
  if (durable_.load() > 0) {
    f.Clear();
    f.mutable_ack()->set_durable_lsn(durable_.load());
    if (absl::Status st = stream->Send(f); !st.ok()) return st;
  }
  LogInfo("replication: copying shard ", options_.shard, " from ", options_.primary, " (epoch ",
          options_.epoch, ") from LSN ", start.first_lsn(),
          start.snapshot_name().empty() ? "" : absl::StrCat(" after ", start.snapshot_name()));
  while (!stopping_.load()) {
    absl::Status st = stream->Recv(&f, options_.silence_ms);
    if (st.code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::UnavailableError(
          absl::StrCat("the primary sent nothing for ", options_.silence_ms, " ms"));
    }
    if (!st.ok()) return st;
    if (f.has_holds()) {
      if (options_.hub == nullptr) continue;
      if (st = PushHolds(f.holds(), options_.hub->copy_holds(options_.shard)); !st.ok()) return st;
      continue;
    }
    if (!f.has_records()) return absl::DataLossError("expected records or hold changes");
    const repl::Records& r = f.records();
    primary_durable_ = r.primary_durable_lsn();
    if (r.count() == 0) {
      if (durable_.load() >= r.primary_durable_lsn() && durable_.load() >= target)
        caught_up_ = true;
      continue;
    }
    if (r.first_lsn() != wal->next_lsn()) {
      return absl::DataLossError(
          absl::StrCat("records from LSN ", r.first_lsn(), ", expected ", wal->next_lsn()));
    }
    const std::string segment = absl::StrCat(dir, "/", "(open segment)");
    if (st = files::WriteAt(wal->fd(), r.data(), wal->offset(), segment); !st.ok()) return st;
    if (options_.fsync && ::fdatasync(wal->fd()) != 0) {
      return absl::UnavailableError(absl::StrCat("fdatasync in ", dir, ": ", StrError(errno)));
    }
    const uint64_t last = r.first_lsn() + r.count() - 1;
    if (st = wal->Advance(r.data().size(), last + 1); !st.ok()) return st;
    durable_ = last;
    if (options_.hub != nullptr) {
      options_.hub->SetCopyDurable(options_.shard, last);
      // The standby shard snapshotted the copy: the segments it covers go.
      if (const uint64_t drop = options_.hub->copy_drop_before(options_.shard); drop > dropped) {
        dropped = drop;
        if (absl::Status ds = wal->DropBefore(drop); !ds.ok()) {
          LogWarning("replication: could not drop segments of shard ", options_.shard,
                     " covered by its snapshot: ", ds.message());
        }
      }
    }
    if (last >= target) caught_up_ = true;
    f.Clear();
    f.mutable_ack()->set_durable_lsn(last);
    if (st = stream->Send(f); !st.ok()) return st;
  }
  return absl::CancelledError("stopping");
}

}  // namespace seatlock
