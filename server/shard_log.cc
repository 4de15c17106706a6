#include "server/shard_log.h"

#include <string.h>
#include <time.h>

#include <google/protobuf/message_lite.h>

#include "absl/strings/str_cat.h"
#include "common/mono_clock.h"
#include "common/str_error.h"
#include "persistence/wal_record.h"
#include "server/log.h"

namespace seatlock {

ShardLog::ShardLog(wal::WalDir dir, uint64_t next_lsn, EventLoop* loop, FsyncMode mode)
    : dir_(std::move(dir)),
      loop_(loop),
      mode_(mode),
      next_lsn_(next_lsn),
      durable_lsn_(next_lsn - 1) {}

uint64_t ShardLog::Append(wal::RecordType type, const google::protobuf::MessageLite& payload) {
  const uint64_t lsn = next_lsn_++;
  const size_t before = buffer_.size();
  payload.SerializeToString(&encoded_);  // reuses encoded_'s capacity
  wal::AppendRecord(type, encoded_, &buffer_);
  bytes_since_snapshot_ += buffer_.size() - before;
  buffer_last_lsn_ = lsn;
  return lsn;
}

void ShardLog::WhenDurable(uint64_t lsn, Waiter done) {
  if (failed()) {
    done(status_);
    return;
  }
  if (lsn <= durable_lsn()) {
    done(absl::OkStatus());
    return;
  }
  waiters_.push_back(Waiting{lsn, MonoMs(), std::move(done)});
}

void ShardLog::SetReplication(ReplicationHub* hub, uint32_t shard, int64_t sync_timeout_ms) {
  hub_ = hub;
  shard_ = shard;
  sync_timeout_ms_ = sync_timeout_ms;
  if (hub_ != nullptr) hub_->PublishDurable(shard_, durable_lsn_);
}

void ShardLog::ReleaseDurable() {
  // Waiters are mostly in LSN order; a replayed confirm may wait for an older
  // LSN further back, which is released no later than the entries before it.
  const uint64_t durable = durable_lsn();
  while (!waiters_.empty() && waiters_.front().lsn <= durable) {
    Waiter w = std::move(waiters_.front().done);
    waiters_.pop_front();
    w(absl::OkStatus());
  }
}

void ShardLog::Poll() {
  if (hub_ == nullptr || waiters_.empty() || failed()) return;
  ReleaseDurable();
  const int64_t now = MonoMs();
  while (!waiters_.empty() && now - waiters_.front().since_ms >= sync_timeout_ms_) {
    Waiting w = std::move(waiters_.front());
    waiters_.pop_front();
    ++sync_timeouts_;
    const bool local = w.lsn <= durable_lsn_;
    w.done(absl::UnavailableError(absl::StrCat(
        "not acknowledged: the record is ", local ? "on this node's disk" : "not yet on disk",
        " but the synchronous replica has not confirmed it within ", sync_timeout_ms_,
        " ms (replica down or behind, or none named yet); retry with the same idempotency key")));
  }
}

void ShardLog::Flush() {
  if (in_flight_ || buffer_.empty() || failed()) return;
  writing_.swap(buffer_);
  buffer_.clear();
  writing_last_lsn_ = buffer_last_lsn_;
  in_flight_ = true;
  write_started_ns_ = MonoNs();
  loop_->WriteAndSync(dir_.fd(), writing_.data(), writing_.size(), dir_.offset(),
                      mode_ == FsyncMode::kAlways, [this](int result) { OnWritten(result); });
}

void ShardLog::OnWritten(int result) {
  in_flight_ = false;
  if (result < 0) {
    Fail(absl::DataLossError(absl::StrCat("write-ahead log ",
                                          mode_ == FsyncMode::kAlways ? "write/fdatasync" : "write",
                                          " failed in ", dir_.path(), ": ", StrError(-result),
                                          "; this shard no longer acknowledges sales")));
    return;
  }
  sync_latency_.Record(MonoNs() - write_started_ns_);
  groups_++;
  if (absl::Status st = dir_.Advance(writing_.size(), writing_last_lsn_ + 1); !st.ok()) {
    Fail(st);
    return;
  }
  writing_.clear();
  durable_lsn_ = writing_last_lsn_;
  if (hub_ != nullptr) hub_->PublishDurable(shard_, durable_lsn_);
  ReleaseDurable();
  Flush();  // the next group, if confirms arrived while this one synced
}

void ShardLog::Fail(absl::Status status) {
  LogError(status.message());
  status_ = std::move(status);
  std::deque<Waiting> waiters;
  waiters.swap(waiters_);
  for (Waiting& w : waiters) w.done(status_);
}

}  // namespace seatlock
