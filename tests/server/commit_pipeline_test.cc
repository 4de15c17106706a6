// CommitPipeline (server/commit_pipeline.h) on the FakeLoop: a sale's reply
// waits for its log record to be durable, a replayed CONFIRM waits for the
// first attempt's record, a failed log answers UNAVAILABLE, and fencing
// tokens are reserved in the log ahead of the ones handed out.
#include "server/commit_pipeline.h"

#include <stdlib.h>

#include <memory>
#include <string>
#include <vector>

#include "common/histogram.h"
#include "common/mono_clock.h"
#include "gtest/gtest.h"
#include "persistence/wal_record.h"
#include "server/engine_ops.h"
#include "tests/server/pipeline_fixture.h"

namespace seatlock {
namespace {

using wire::Request;
using wire::Response;

class CommitPipelineTest : public PipelineFixture {
 protected:
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

TEST_F(CommitPipelineTest, RepliesWaitInSlotsThatAreReused) {
  Sync();
  replies_.clear();
  LatencyHistogram latency;
  for (int round = 0; round < 2; ++round) {
    std::vector<uint64_t> holds;
    for (uint32_t i = 0; i < 4; ++i) {
      const uint64_t hold = HoldSeat(round * 4 + i, "ann");
      holds.push_back(hold);
      const Request c = Confirm(hold, "ann", "key-" + std::to_string(hold));
      Response resp;
      ExecuteEngineOp(*engine_, 0, c, &resp);
      const uint64_t lsn = pipeline_->Record(c, resp, false);
      ASSERT_NE(lsn, 0u);
      pipeline_->ReplyWhenDurable(
          lsn, resp, [this](Response&& r) { replies_.push_back(r); }, &latency, MonoNs());
    }
    EXPECT_EQ(pipeline_->replies_waiting(), 4u);
    EXPECT_TRUE(replies_.empty());
    Sync();
    // Each reply is the one its request got, in order, and the slots are
    // idle again: the second round reuses the first round's four.
    ASSERT_EQ(replies_.size(), 4u);
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(replies_[i].request_id(), holds[i]);
      EXPECT_EQ(replies_[i].code(), wire::OK);
      ASSERT_EQ(replies_[i].confirm().seats_size(), 1);
      EXPECT_EQ(replies_[i].confirm().seats(0).index(), round * 4 + i);
    }
    EXPECT_EQ(pipeline_->replies_waiting(), 0u);
    EXPECT_EQ(pipeline_->spare_reply_slots(), 4u);
    replies_.clear();
  }
  EXPECT_EQ(latency.count(), 8u);
}

TEST_F(CommitPipelineTest, IdleReplySlotsBeyondTheSpareBoundAreFreed) {
  Sync();
  replies_.clear();
  // One sale, then more replies waiting for its record than the pipeline
  // keeps idle slots for.
  const uint64_t hold = HoldSeat(9, "ann");
  const uint64_t lsn = Run(Confirm(hold, "ann", "k-bound"));
  ASSERT_NE(lsn, 0u);
  const size_t kWaiting = CommitPipeline::kSpareReplySlots + 100;
  for (size_t i = 1; i < kWaiting; ++i) {
    Response r;
    r.set_request_id(i);
    pipeline_->ReplyWhenDurable(lsn, r, [this](Response&& got) { replies_.push_back(got); });
  }
  EXPECT_EQ(pipeline_->replies_waiting(), kWaiting);
  Sync();
  ASSERT_EQ(replies_.size(), kWaiting);
  for (size_t i = 1; i < kWaiting; ++i) ASSERT_EQ(replies_[i].request_id(), i);
  EXPECT_EQ(pipeline_->replies_waiting(), 0u);
  EXPECT_EQ(pipeline_->spare_reply_slots(), CommitPipeline::kSpareReplySlots);
}

TEST_F(CommitPipelineTest, FencingIsReservedAheadOfTheTokensHandedOut) {
  Sync();
  EXPECT_EQ(pipeline_->fencing_reserved(), kFencingBlock);
  HoldSeat(4, "ann");
  EXPECT_GT(pipeline_->fencing_reserved(), engine_->fencing_high_water());
}

}  // namespace
}  // namespace seatlock
