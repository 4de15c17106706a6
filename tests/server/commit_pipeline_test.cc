// CommitPipeline (server/commit_pipeline.h) on the FakeLoop: a sale's reply
// waits for its log record to be durable, a replayed CONFIRM waits for the
// first attempt's record, a failed log answers UNAVAILABLE, and fencing
// tokens are reserved in the log ahead of the ones handed out.
#include "server/commit_pipeline.h"

#include <stdlib.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "persistence/wal_record.h"
#include "server/engine_ops.h"
#include "tests/server/fake_loop.h"

namespace seatlock {
namespace {

using wire::Request;
using wire::Response;

class CommitPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/commit-pipeline-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    SeatEngine::Options o;
    o.clock = &clock_;
    engine_ = std::make_unique<SeatEngine>(std::move(o));
    pipeline_ = std::make_unique<CommitPipeline>(engine_.get(), &clock_);
    auto wal_dir = wal::WalDir::Open(dir_, 1 << 20);
    ASSERT_TRUE(wal_dir.ok());
    auto report = wal_dir->Recover(false, [](uint64_t, const wal::Record&) {});
    ASSERT_TRUE(report.ok());
    pipeline_->Open(std::make_unique<ShardLog>(std::move(*wal_dir), report->next_lsn, &loop_,
                                               FsyncMode::kAlways),
                    kFencingBlock);
    Request define;
    auto* d = define.mutable_define_event();
    d->set_event_id("gig");
    auto* s = d->add_sections();
    s->set_label("A");
    auto* row = s->add_rows();
    row->set_label("1");
    row->set_seat_count(10);
    Run(define, /*new_event=*/true);
  }
  void TearDown() override {
    pipeline_.reset();
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }

  // Runs `req` on the engine, then through the pipeline; returns the LSN.
  uint64_t Run(const Request& req, bool new_event = false) {
    Response resp;
    ExecuteEngineOp(*engine_, 0, req, &resp);
    const uint64_t lsn = pipeline_->Record(req, resp, new_event);
    pipeline_->ReplyWhenDurable(lsn, resp, [this](Response&& r) { replies_.push_back(r); });
    return lsn;
  }
  uint64_t HoldSeat(uint32_t index, const std::string& holder) {
    Request h;
    h.mutable_hold()->set_event_id("gig");
    h.mutable_hold()->set_holder(holder);
    h.mutable_hold()->set_ttl_ms(60000);
    auto* seat = h.mutable_hold()->add_seats();
    seat->set_section("A");
    seat->set_index(index);
    Response resp;
    ExecuteEngineOp(*engine_, 0, h, &resp);
    EXPECT_EQ(resp.code(), wire::OK) << resp.detail();
    EXPECT_EQ(pipeline_->Record(h, resp, false), 0u);  // holds are not logged
    return resp.hold().hold_id();
  }
  Request Confirm(uint64_t hold_id, const std::string& holder, const std::string& key) {
    Request c;
    c.set_request_id(hold_id);
    c.mutable_confirm()->set_hold_id(hold_id);
    c.mutable_confirm()->set_holder(holder);
    c.mutable_confirm()->set_idempotency_key(key);
    return c;
  }
  // Completes every write the log submitted so far.
  void Sync(int result = 0) {
    pipeline_->Flush();
    for (size_t i = synced_; i < loop_.writes.size(); ++i) loop_.Complete(i, result);
    synced_ = loop_.writes.size();
  }

  std::string dir_;
  ManualClock clock_;
  FakeLoop loop_;
  std::unique_ptr<SeatEngine> engine_;
  std::unique_ptr<CommitPipeline> pipeline_;
  std::vector<Response> replies_;
  size_t synced_ = 0;
};

TEST_F(CommitPipelineTest, ANewEventIsAnsweredOnlyOnceItsDefinitionIsDurable) {
  EXPECT_TRUE(replies_.empty());
  Sync();
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_EQ(replies_[0].code(), wire::OK);
}

TEST_F(CommitPipelineTest, ASaleIsAnsweredOnlyAfterItsRecordIsDurable) {
  Sync();
  replies_.clear();
  const uint64_t hold = HoldSeat(1, "ann");
  EXPECT_NE(Run(Confirm(hold, "ann", "k1")), 0u);
  EXPECT_TRUE(replies_.empty());
  pipeline_->Flush();
  EXPECT_TRUE(replies_.empty());  // written, not yet synced
  Sync();
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_EQ(replies_[0].code(), wire::OK);
  EXPECT_NE(replies_[0].confirm().booking_id(), 0u);
}

TEST_F(CommitPipelineTest, AReplayWaitsForTheFirstAttemptsRecord) {
  Sync();
  replies_.clear();
  const uint64_t hold = HoldSeat(2, "ann");
  const uint64_t first = Run(Confirm(hold, "ann", "k2"));
  const uint64_t replay = Run(Confirm(hold, "ann", "k2"));
  EXPECT_EQ(replay, first);  // not logged again, but waits for the same LSN
  EXPECT_TRUE(replies_.empty());
  Sync();
  ASSERT_EQ(replies_.size(), 2u);
  EXPECT_FALSE(replies_[0].confirm().replayed());
  EXPECT_TRUE(replies_[1].confirm().replayed());
  EXPECT_EQ(replies_[1].confirm().booking_id(), replies_[0].confirm().booking_id());
  // Once durable, a replay is answered at once.
  EXPECT_EQ(Run(Confirm(hold, "ann", "k2")), 0u);
  EXPECT_EQ(replies_.size(), 3u);
}

TEST_F(CommitPipelineTest, AFailedLogAnswersUnavailableAndStaysFailed) {
  Sync();
  replies_.clear();
  const uint64_t hold = HoldSeat(3, "ann");
  Run(Confirm(hold, "ann", "k3"));
  Sync(-EIO);
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_EQ(replies_[0].code(), wire::UNAVAILABLE);
  EXPECT_EQ(replies_[0].request_id(), hold);
  EXPECT_TRUE(pipeline_->failed());
  EXPECT_FALSE(pipeline_->status().ok());
}

TEST_F(CommitPipelineTest, FencingIsReservedAheadOfTheTokensHandedOut) {
  Sync();
  EXPECT_EQ(pipeline_->fencing_reserved(), kFencingBlock);
  HoldSeat(4, "ann");
  EXPECT_GT(pipeline_->fencing_reserved(), engine_->fencing_high_water());
}

}  // namespace
}  // namespace seatlock
