// RecoverShard (server/recovery.h) on hand-made shard directories: the
// snapshot must be readable and reach the first log segment (docs/wal.md,
// "Recovery"), records the snapshot covers are not replayed again, and a
// Snapshotter whose directory fsync fails covers nothing, so no segment is
// dropped for it.
#include "server/recovery.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "persistence/file_util.h"
#include "persistence/wal.pb.h"
#include "persistence/wal_record.h"
#include "protocol/seatlock.pb.h"
#include "server/snapshotter.h"
#include "tests/server/fake_loop.h"

namespace seatlock {
namespace {

using ::testing::HasSubstr;

std::string Name(const char* prefix, uint64_t lsn, const char* ext) {
  char name[64];
  std::snprintf(name, sizeof(name), "%s-%020" PRIu64 ".%s", prefix, lsn, ext);
  return name;
}

std::string DefineRecord(const std::string& event_id) {
  wire::DefineEventRequest d;
  d.set_event_id(event_id);
  auto* row = d.add_sections();
  row->set_label("A");
  auto* r = row->add_rows();
  r->set_label("1");
  r->set_seat_count(10);
  wal::DefineEvent m;
  m.set_define_event_request(d.SerializeAsString());
  std::string out;
  wal::AppendRecord(wal::RecordType::kDefineEvent, m.SerializeAsString(), &out);
  return out;
}

std::string SaleRecord(uint64_t booking_id, uint32_t seat) {
  wal::Confirm c;
  c.set_booking_id(booking_id);
  c.set_hold_id(7);
  c.set_fencing_token(booking_id);
  c.set_event_id("gig");
  wal::SeatPos* p = c.add_seats();
  p->set_section(0);
  p->set_seat(seat);
  c.set_holder("h");
  std::string out;
  wal::AppendRecord(wal::RecordType::kConfirm, c.SerializeAsString(), &out);
  return out;
}

// `sales` >= 0: a header that counts the sales after it (no rooms).
std::string FencingRecord(int sales = -1) {
  wal::Fencing f;
  f.set_high_water(100);
  if (sales >= 0) {
    f.set_counted(true);
    f.set_sales(static_cast<uint64_t>(sales));
  }
  std::string out;
  wal::AppendRecord(wal::RecordType::kFencing, f.SerializeAsString(), &out);
  return out;
}

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/recovery-test-XXXXXX";
    data_ = mkdtemp(tmpl);
    shard_ = data_ + "/shard-0";
    ASSERT_TRUE(files::CreateDirs(shard_).ok());
    config_.data_dir = data_;
    config_.fsync = false;
  }
  void TearDown() override {
    files::SetSyncDirHookForTest(nullptr);
    std::string cmd = "rm -rf '" + data_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  void Write(const std::string& name, const std::string& bytes) {
    ASSERT_TRUE(files::WriteFileAtomic(shard_ + "/" + name, bytes, false).ok());
  }
  // A log of 4 records starting at LSN `first`: sales of seats 1..4.
  void WriteLog(uint64_t first) {
    std::string log;
    for (uint32_t i = 1; i <= 4; ++i) log += SaleRecord(100 + i, i);
    Write(Name("wal", first, "log"), log);
  }
  // A snapshot: the layout, the fencing mark, a sale of seat 0.
  std::string Snapshot() { return DefineRecord("gig") + FencingRecord() + SaleRecord(100, 0); }

  absl::Status Recover() {
    engine_ = std::make_unique<SeatEngine>(SeatEngine::Options{.clock = &clock_});
    rooms_ = std::make_unique<Rooms>(0, 1, 0, &clock_);
    auto r = RecoverShard(config_, 0, *engine_, *rooms_);
    return r.status();
  }

  ManualClock clock_{1'000'000};
  ServerConfig config_;
  std::string data_, shard_;
  std::unique_ptr<SeatEngine> engine_;
  std::unique_ptr<Rooms> rooms_;
};

// A replica group's primary starts its part of each shard's log with an
// EPOCH record, after the fencing reservation; a standalone server writes
// none. Both replay.
TEST_F(RecoveryTest, APrimaryMarksItsEpochInTheLog) {
  Write(Name("wal", 1, "log"), DefineRecord("gig"));
  config_.epoch = 42;
  config_.node_id = "node-b";
  ASSERT_TRUE(Recover().ok());
  config_.epoch = 0;
  ASSERT_TRUE(Recover().ok());  // the EPOCH record replays (and changes nothing)
  std::string bytes;
  ASSERT_TRUE(files::ReadFile(shard_ + "/" + Name("wal", 1, "log"), &bytes).ok());
  wal::RecordReader reader(bytes);
  wal::Record rec;
  std::vector<wal::RecordType> types;
  wal::Epoch epoch;
  while (reader.Next(&rec) == wal::RecordReader::Result::kRecord) {
    types.push_back(rec.type);
    if (rec.type == wal::RecordType::kEpoch) {
      ASSERT_TRUE(epoch.ParseFromString(std::string(rec.payload)));
    }
  }
  EXPECT_THAT(types,
              ::testing::ElementsAre(wal::RecordType::kDefineEvent, wal::RecordType::kFencing,
                                     wal::RecordType::kEpoch, wal::RecordType::kFencing));
  EXPECT_EQ(epoch.epoch(), 42);
  EXPECT_EQ(epoch.node_id(), "node-b");
  EXPECT_EQ(engine_->Stats().events, 1u);
}

TEST_F(RecoveryTest, SnapshotReachingTheLogRecovers) {
  Write(Name("snapshot", 5, "snap"), Snapshot());
  WriteLog(5);
  ASSERT_TRUE(Recover().ok());
  EXPECT_EQ(engine_->Stats().bookings, 5u);
}

TEST_F(RecoveryTest, LogFromLsnOneNeedsNoSnapshot) {
  Write(Name("wal", 1, "log"), DefineRecord("gig") + SaleRecord(101, 1));
  ASSERT_TRUE(Recover().ok());
  EXPECT_EQ(engine_->Stats().bookings, 1u);
}

TEST_F(RecoveryTest, RecordsTheSnapshotHoldsAreNotReplayed) {
  // The kept segment starts at LSN 3; the snapshot holds LSN < 5. Records 3
  // and 4 sell seats 1 and 2, which the snapshot says are free: replaying
  // them again would be wrong (after a DELETE_EVENT it would be), so they
  // must be skipped.
  Write(Name("snapshot", 5, "snap"), Snapshot());
  WriteLog(3);
  ASSERT_TRUE(Recover().ok());
  EXPECT_EQ(engine_->Stats().bookings, 3u);  // seat 0 and the records at LSN 5, 6
  EXPECT_FALSE(engine_->GetBooking(101).has_value());
  EXPECT_TRUE(engine_->GetBooking(103).has_value());
}

TEST_F(RecoveryTest, MissingSnapshotRefuses) {
  WriteLog(5);
  const absl::Status st = Recover();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("the log starts at LSN 5"));
  EXPECT_THAT(st.message(), HasSubstr("there is no snapshot: records 1..4 are missing"));
  EXPECT_THAT(st.message(), HasSubstr("Restore from a backup"));
}

TEST_F(RecoveryTest, SnapshotNotReachingTheLogRefuses) {
  Write(Name("snapshot", 3, "snap"), Snapshot());
  WriteLog(5);
  const absl::Status st = Recover();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr(Name("snapshot", 3, "snap")));
  EXPECT_THAT(st.message(),
              HasSubstr("covers only up to LSN 2: records 3..4 are missing (a stale snapshot"));
}

TEST_F(RecoveryTest, StaleSnapshotNextToNewerLogRefuses) {
  // An old snapshot restored next to a log that has moved far past it (its
  // older segments dropped for a newer snapshot that is gone).
  Write(Name("snapshot", 5, "snap"), Snapshot());
  WriteLog(4000);
  const absl::Status st = Recover();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("records 5..3999 are missing"));
}

TEST_F(RecoveryTest, UnreadableSnapshotRefuses) {
  // A snapshot that cannot be read (here: a directory by that name).
  ASSERT_EQ(mkdir((shard_ + "/" + Name("snapshot", 5, "snap")).c_str(), 0755), 0);
  WriteLog(5);
  const absl::Status st = Recover();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("cannot read snapshot"));
  EXPECT_THAT(st.message(), HasSubstr("restore it from a backup"));
}

TEST_F(RecoveryTest, TruncatedSnapshotRefuses) {
  const std::string snap = Snapshot();
  Write(Name("snapshot", 5, "snap"), snap.substr(0, snap.size() - 3));
  WriteLog(5);
  const absl::Status st = Recover();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("is damaged (truncated)"));
  EXPECT_THAT(st.message(), HasSubstr("the log starts at LSN 5"));
}

TEST_F(RecoveryTest, SnapshotCutBeforeItsFencingRecordRefuses) {
  // Cut at a record boundary: every record left is whole, but a snapshot
  // always has its FENCING record after the layouts.
  Write(Name("snapshot", 5, "snap"), DefineRecord("gig"));
  WriteLog(5);
  const absl::Status st = Recover();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("no FENCING record"));
}

TEST_F(RecoveryTest, SnapshotCutAfterAWholeSaleRefuses) {
  // Every record left is whole, but the header counted two sales.
  Write(Name("snapshot", 5, "snap"), DefineRecord("gig") + FencingRecord(2) + SaleRecord(100, 0));
  WriteLog(5);
  const absl::Status st = Recover();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("is truncated: it ends after 0 of 0 room records and 1 of "
                                      "2 sales"));
  EXPECT_THAT(st.message(), HasSubstr("restore it from a backup"));
}

TEST_F(RecoveryTest, CountedSnapshotRecovers) {
  Write(Name("snapshot", 5, "snap"), DefineRecord("gig") + FencingRecord(1) + SaleRecord(100, 0));
  WriteLog(5);
  ASSERT_TRUE(Recover().ok());
  EXPECT_EQ(engine_->Stats().bookings, 5u);
}

TEST_F(RecoveryTest, EmptySnapshotRefuses) {
  Write(Name("snapshot", 5, "snap"), "");
  WriteLog(5);
  EXPECT_EQ(Recover().code(), absl::StatusCode::kDataLoss);
}

absl::Status FailSync(const std::string& dir) {
  return absl::UnavailableError("fsync directory " + dir + ": Input/output error (injected)");
}

TEST_F(RecoveryTest, FailedDirectorySyncCoversNothing) {
  SeatEngine engine(SeatEngine::Options{.clock = &clock_});
  Rooms rooms(0, 1, 0, &clock_);
  FakeLoop loop;
  Snapshotter snap(shard_, &loop);
  ASSERT_TRUE(snap.Start(engine, rooms, 42, 100).ok());
  EXPECT_EQ(snap.Step(engine), 0u);  // submits the last (only) write
  ASSERT_EQ(loop.writes.size(), 1u);
  loop.Complete(0, static_cast<int>(loop.writes[0].len));
  files::SetSyncDirHookForTest(&FailSync);
  // Renamed, but the directory sync fails: the snapshot covers nothing, so
  // the shard drops no segment for it.
  EXPECT_EQ(snap.Step(engine), 0u);
  EXPECT_FALSE(snap.active());
  files::SetSyncDirHookForTest(nullptr);

  // The same with the sync working covers LSN < 42.
  Snapshotter ok(shard_, &loop);
  ASSERT_TRUE(ok.Start(engine, rooms, 43, 100).ok());
  EXPECT_EQ(ok.Step(engine), 0u);
  ASSERT_EQ(loop.writes.size(), 2u);
  loop.Complete(1, static_cast<int>(loop.writes[1].len));
  EXPECT_EQ(ok.Step(engine), 43u);
}

TEST_F(RecoveryTest, FailedDirectorySyncFailsDropBefore) {
  auto dir = wal::WalDir::Open(shard_, 4096);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(dir->Recover(false, [](uint64_t, const wal::Record&) {}).ok());
  // Fill two segments so that one can be dropped.
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(dir->AppendSync(wal::RecordType::kFencing, FencingRecord(), false).ok());
  }
  ASSERT_GE(dir->SegmentPaths().size(), 2u);
  files::SetSyncDirHookForTest(&FailSync);
  const absl::Status st = dir->DropBefore(dir->next_lsn());
  files::SetSyncDirHookForTest(nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(st.message(), HasSubstr("injected"));
}

}  // namespace
}  // namespace seatlock
