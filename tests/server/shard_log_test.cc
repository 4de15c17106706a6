// ShardLog on a fake event loop: group commit (records appended while one
// write+fdatasync is in flight share the next), waiters run only after their
// record is durable, and a failed write/fdatasync is sticky.
#include "server/shard_log.h"

#include <errno.h>
#include <stdlib.h>

#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "persistence/wal.pb.h"
#include "tests/server/fake_loop.h"

namespace seatlock {
namespace {

class ShardLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/shard-log-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto wal_dir = wal::WalDir::Open(dir_, 1 << 20);
    ASSERT_TRUE(wal_dir.ok());
    auto report = wal_dir->Recover(false, [](uint64_t, const wal::Record&) {});
    ASSERT_TRUE(report.ok());
    log_ = std::make_unique<ShardLog>(std::move(*wal_dir), report->next_lsn, &loop_,
                                      FsyncMode::kAlways);
  }
  void TearDown() override {
    log_.reset();
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  uint64_t AppendSale(uint64_t booking) {
    wal::Confirm c;
    c.set_booking_id(booking);
    return log_->Append(wal::RecordType::kConfirm, c);
  }

  std::string dir_;
  FakeLoop loop_;
  std::unique_ptr<ShardLog> log_;
};

TEST_F(ShardLogTest, RecordsAppendedDuringASyncShareTheNextOne) {
  std::vector<std::string> answered;
  auto waiter = [&](std::string name) {
    return [&answered, name](const absl::Status& st) {
      ASSERT_TRUE(st.ok());
      answered.push_back(name);
    };
  };
  for (int i = 0; i < 3; ++i)
    log_->WhenDurable(AppendSale(i + 1), waiter("first-" + std::to_string(i)));
  log_->Flush();
  ASSERT_EQ(loop_.writes.size(), 1u);
  EXPECT_TRUE(loop_.writes[0].sync);
  // Two more arrive while the first group is being synced.
  for (int i = 0; i < 2; ++i)
    log_->WhenDurable(AppendSale(i + 10), waiter("second-" + std::to_string(i)));
  log_->Flush();
  EXPECT_EQ(loop_.writes.size(), 1u) << "one write+fdatasync in flight at a time";
  EXPECT_TRUE(answered.empty()) << "nothing is answered before its fdatasync";
  loop_.Complete(0, 0);
  EXPECT_EQ(answered.size(), 3u);
  ASSERT_EQ(loop_.writes.size(), 2u) << "the waiting records go out as the next group at once";
  loop_.Complete(1, 0);
  EXPECT_EQ(answered.size(), 5u);
  EXPECT_EQ(log_->durable_lsn(), log_->last_lsn());
  EXPECT_EQ(log_->groups_written(), 2u);
}

TEST_F(ShardLogTest, WaiterForAnAlreadyDurableRecordRunsAtOnce) {
  const uint64_t lsn = AppendSale(1);
  log_->Flush();
  loop_.Complete(0, 0);
  bool ran = false;
  log_->WhenDurable(lsn, [&](const absl::Status& st) { ran = st.ok(); });
  EXPECT_TRUE(ran);
}

TEST_F(ShardLogTest, FailedSyncIsSticky) {
  absl::Status first;
  log_->WhenDurable(AppendSale(1), [&](const absl::Status& st) { first = st; });
  log_->Flush();
  absl::Status queued;
  log_->WhenDurable(AppendSale(2), [&](const absl::Status& st) { queued = st; });
  loop_.Complete(0, -EIO);
  EXPECT_EQ(first.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(queued.code(), absl::StatusCode::kDataLoss)
      << "records behind the failed sync fail too";
  EXPECT_TRUE(log_->failed());
  // Later records are never written and never acknowledged.
  absl::Status later;
  log_->WhenDurable(AppendSale(3), [&](const absl::Status& st) { later = st; });
  log_->Flush();
  EXPECT_EQ(loop_.writes.size(), 1u);
  EXPECT_EQ(later.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(log_->status().message()).find("no longer acknowledges"),
            std::string::npos);
}

}  // namespace
}  // namespace seatlock
