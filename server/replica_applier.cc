#include "server/replica_applier.h"

#include "absl/strings/str_cat.h"
#include "persistence/wal_record.h"
#include "server/log.h"
#include "server/recovery.h"
#include "server/wal_codec.h"

namespace seatlock {

bool ReplicaApplier::Poll(uint64_t durable, SeatEngine& engine, Rooms& rooms) {
  if (!status_.ok() || durable == 0) return false;
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
  if (durable <= applied_) return false;
  if (tail_.next_lsn() == 0) {
    if (absl::Status st = tail_.Seek(first_lsn_); !st.ok()) {
      status_ = st;
      LogError("replica: cannot read its copy; reads answer UNAVAILABLE: ", st.message());
      return false;
    }
  }
  buf_.clear();
  uint32_t count = 0;
  const uint64_t first = tail_.next_lsn();
  if (absl::Status st = tail_.Read(durable, &buf_, &count); !st.ok()) {
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
  return applied_ < durable;
}

}  // namespace seatlock
