#include "server/replica_applier.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/mono_clock.h"
#include "persistence/wal_record.h"
#include "server/log.h"
#include "server/recovery.h"
#include "server/wal_codec.h"

namespace seatlock {

void ReplicaApplier::ForgetHolds(SeatEngine& engine) {
  for (const HoldImage& h : engine.LiveHolds()) engine.DropHold(h.hold_id);
}

void ReplicaApplier::TakeHolds(HoldChangeRing& ring, SeatEngine& engine) {
  if (pending_.size() >= kMaxPendingHolds) return;
  std::vector<HoldChange> got;
  if (!ring.Read(&hold_cursor_, kMaxPendingHolds - pending_.size(), &got)) {
    // Changes were dropped unread: what is applied may be stale. Forget it
    // all (a lost hold only frees seats) and go on from what is left.
    LogWarning(
        "replica: missed hold changes (--repl_hold_changes is too small for this "
        "rate); forgetting the replicated holds and going on");
    pending_.clear();
    ForgetHolds(engine);
  }
  for (HoldChange& c : got) pending_.push_back(std::move(c));
}

void ReplicaApplier::ApplyDueHolds(SeatEngine& engine) {
  const int64_t now = MonoMs();
  while (HoldsDue()) {
    HoldChange& c = pending_.front();
    if (c.forget_all) {
      ForgetHolds(engine);
    } else if (c.gone) {
      engine.DropHold(c.hold.hold_id);
    } else {
      const int64_t waited = now - c.at_ms;
      c.hold.remaining_ms -= waited;
      c.hold.age_ms += waited;
      // Expired meanwhile: a set that comes too late ends the hold here too.
      if (c.hold.remaining_ms <= 0 || !engine.RestoreHold(c.hold)) engine.DropHold(c.hold.hold_id);
    }
    pending_.pop_front();
  }
}

bool ReplicaApplier::Poll(uint64_t durable, SeatEngine& engine, Rooms& rooms,
                          HoldChangeRing* holds) {
  if (!status_.ok()) return false;
  if (holds != nullptr) TakeHolds(*holds, engine);
  if (durable == 0) return false;  // nothing of the copy yet: the changes wait
  if (!started_) {
    // The receiver writes the snapshot before any record, so once anything
    // is durable the snapshot (if the copy has one) is complete.
    started_ = true;
    uint64_t snap_lsn = 0;
    const std::string snap = NewestSnapshotName(dir_, &snap_lsn);
    if (!snap.empty()) {
      status_ = ReplaySnapshotFile(absl::StrCat(dir_, "/", snap), engine, rooms, &fencing_seen_);
      if (!status_.ok()) {
        LogError("replica: cannot apply its copy's snapshot; reads answer UNAVAILABLE: ",
                 status_.message());
        return false;
      }
      first_lsn_ = snap_lsn;
      applied_ = snap_lsn - 1;
    }
  }
  ApplyDueHolds(engine);
  if (durable <= applied_) return false;
  if (tail_.next_lsn() == 0) {
    if (absl::Status st = tail_.Seek(first_lsn_); !st.ok()) {
      status_ = st;
      LogError("replica: cannot read its copy; reads answer UNAVAILABLE: ", st.message());
      return false;
    }
  }
  // Up to the next waiting hold change's LSN at most, so it is applied on
  // the seat states it was made on.
  const uint64_t limit =
      pending_.empty() ? durable
                       : std::min(durable, std::max(pending_.front().after_lsn, applied_ + 1));
  buf_.clear();
  uint32_t count = 0;
  const uint64_t first = tail_.next_lsn();
  if (absl::Status st = tail_.Read(limit, &buf_, &count); !st.ok()) {
    status_ = st;
    LogError("replica: cannot read its copy; reads answer UNAVAILABLE: ", st.message());
    return false;
  }
  bytes_since_snapshot_ += buf_.size();
  wal::RecordReader reader(buf_);
  wal::Record rec;
  uint64_t lsn = first;
  while (reader.Next(&rec) == wal::RecordReader::Result::kRecord) {
    if (absl::Status st = ApplyRecord(engine, rooms, rec, &fencing_seen_); !st.ok()) {
      status_ =
          absl::DataLossError(absl::StrCat(dir_, ": record ", lsn, " of the copy: ", st.message()));
      LogError("replica: ", status_.message(), "; reads answer UNAVAILABLE");
      return false;
    }
    applied_ = lsn++;
  }
  ApplyDueHolds(engine);
  return applied_ < durable || HoldsDue();
}

}  // namespace seatlock
