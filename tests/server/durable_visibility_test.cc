// Durable before visible (docs/durability.md): with a log whose writes the
// test completes by hand (FakeLoop), a subscriber (ChangeFeed) and a reader
// (a GET_SEATS through the CommitPipeline's read barrier) see no SOLD and no
// refund before the record is durable, and nothing at all of a sale whose
// write failed. Holds and expiries stay immediate when no sale is waiting.
#include <stdlib.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "protocol/framing.h"
#include "server/change_feed.h"
#include "server/commit_pipeline.h"
#include "server/engine_ops.h"
#include "tests/server/pipeline_fixture.h"

namespace seatlock {
namespace {

using wire::Request;
using wire::Response;

constexpr uint64_t kSubscriber = 7;

class DurableVisibilityTest : public PipelineFixture {
 protected:
  void SetUp() override {
    PipelineFixture::SetUp();
    feed_->set_engine(engine_.get());
    feed_->set_loop(&loop_);
    Sync();
    loop_.AddConnection(kSubscriber, -1);
    Request sub;
    sub.set_request_id(99);
    sub.mutable_subscribe()->set_event_id("gig");
    sub.mutable_subscribe()->set_from_now(true);
    ASSERT_EQ(feed_->Subscribe(kSubscriber, sub).code(), wire::OK);
    replies_.clear();
  }

  ChangeSink* sink() override { return feed_.get(); }
  // What Shard::RunOp does: the engine op, its record, the feed's tag, the
  // read barrier, and the reply once durable.
  uint64_t Run(const Request& req, bool new_event = false) override {
    const uint64_t before = feed_->emitted();
    Response resp;
    ExecuteEngineOp(*engine_, 0, req, &resp);
    uint64_t lsn = pipeline_->Record(req, resp, new_event);
    if (lsn != 0) {
      feed_->HoldUntilDurable(before, lsn);
    } else if (CommitPipeline::ShowsSeatStates(req, resp)) {
      lsn = pipeline_->ReadBarrier();
    }
    pipeline_->ReplyWhenDurable(lsn, resp, [this](Response&& r) { replies_.push_back(r); });
    return lsn;
  }
  // The end of a loop pass: group commit submitted, then the feed flushed.
  void Pass() {
    pipeline_->Flush();
    feed_->Flush(pipeline_->log()->durable_lsn(), pipeline_->log()->status());
  }
  // Completes every write submitted so far, then runs a pass.
  void Sync(int result = 0) {
    PipelineFixture::Sync(result);
    Pass();
  }
  // The change kinds the subscriber was sent since the last call; a frame
  // that is not OK is reported as its code's name.
  std::vector<std::string> Received() {
    std::vector<std::string> out;
    std::string& bytes = loop_.outputs[kSubscriber];
    protocol::FrameDecoder dec;
    dec.Append(bytes.data(), bytes.size());
    bytes.clear();
    std::string_view body;
    while (dec.Next(&body) == protocol::FrameDecoder::Result::kFrame) {
      Response r;
      EXPECT_TRUE(r.ParseFromArray(body.data(), static_cast<int>(body.size())));
      if (r.code() != wire::OK) out.push_back(wire::ResultCode_Name(r.code()));
      for (const auto& c : r.subscribe().changes()) out.push_back(wire::ChangeKind_Name(c.kind()));
    }
    return out;
  }
  Request HoldReq(uint32_t seat, const std::string& holder) {
    Request h;
    h.set_request_id(1000 + seat);
    h.mutable_hold()->set_event_id("gig");
    h.mutable_hold()->set_holder(holder);
    h.mutable_hold()->set_ttl_ms(60000);
    auto* s = h.mutable_hold()->add_seats();
    s->set_section("A");
    s->set_index(seat);
    return h;
  }
  uint64_t HoldSeat(uint32_t seat, const std::string& holder) {
    Run(HoldReq(seat, holder));
    EXPECT_EQ(replies_.back().code(), wire::OK) << replies_.back().detail();
    return replies_.back().hold().hold_id();
  }
  Request GetSeats() {
    Request g;
    g.set_request_id(3000);
    g.mutable_get_seats()->set_event_id("gig");
    g.mutable_get_seats()->set_section("A");
    return g;
  }

  std::unique_ptr<ChangeFeed> feed_ = std::make_unique<ChangeFeed>(0, /*ring_capacity=*/1000);
};

TEST_F(DurableVisibilityTest, HoldsAndExpiriesGoOutAtOnce) {
  HoldSeat(1, "ann");
  Pass();
  EXPECT_EQ(Received(), std::vector<std::string>{"CHANGE_HELD"});
  clock_.AdvanceMs(60001);
  engine_->ExpireDue();
  Pass();
  EXPECT_EQ(Received(), std::vector<std::string>{"CHANGE_EXPIRED"});
  Run(GetSeats());  // nothing waits for the log: answered at once
  ASSERT_EQ(replies_.size(), 2u);
}

TEST_F(DurableVisibilityTest, NoSoldBeforeTheConfirmIsAcknowledged) {
  const uint64_t hold = HoldSeat(1, "ann");
  Pass();
  EXPECT_EQ(Received(), std::vector<std::string>{"CHANGE_HELD"});
  replies_.clear();
  Run(Confirm(hold, "ann", "k1"));
  Run(GetSeats());
  Run(HoldReq(1, "bob"));          // refused: its conflict would say SOLD
  HoldSeat(2, "cat");              // after the sale in the feed: waits behind it
  ASSERT_EQ(replies_.size(), 1u);  // only cat's hold: it shows no sale
  Pass();                          // written, not yet synced
  EXPECT_TRUE(Received().empty());
  EXPECT_EQ(feed_->pending(), 2u);
  Sync();
  // The confirm's acknowledgement, the read and bob's refusal, and the
  // subscriber's SOLD, all in the same pass, in order.
  ASSERT_EQ(replies_.size(), 4u);
  EXPECT_EQ(replies_[1].code(), wire::OK);
  EXPECT_NE(replies_[1].confirm().booking_id(), 0u);
  EXPECT_EQ(replies_[2].get_seats().seats(1).state(), wire::SOLD);
  EXPECT_EQ(replies_[3].code(), wire::SEAT_UNAVAILABLE);
  EXPECT_EQ(Received(), (std::vector<std::string>{"CHANGE_SOLD", "CHANGE_HELD"}));
  EXPECT_EQ(feed_->pending(), 0u);
}

TEST_F(DurableVisibilityTest, ARefundIsVisibleOnlyOnceDurable) {
  Run(Confirm(HoldSeat(1, "ann"), "ann", "k1"));
  Sync();
  const uint64_t booking = replies_.back().confirm().booking_id();
  Received();
  replies_.clear();
  Request cancel;
  cancel.mutable_cancel_booking()->set_booking_id(booking);
  Run(cancel);
  Run(GetSeats());
  Pass();
  EXPECT_TRUE(replies_.empty());
  EXPECT_TRUE(Received().empty());
  Sync();
  ASSERT_EQ(replies_.size(), 2u);
  EXPECT_EQ(replies_[1].get_seats().seats(1).state(), wire::FREE);
  EXPECT_EQ(Received(), std::vector<std::string>{"CHANGE_CANCELLED"});
}

TEST_F(DurableVisibilityTest, AFailedWriteShowsNothingOfTheSale) {
  const uint64_t hold = HoldSeat(1, "ann");
  Pass();
  Received();
  replies_.clear();
  Run(Confirm(hold, "ann", "k1"));
  Run(GetSeats());
  Sync(-EIO);
  ASSERT_EQ(replies_.size(), 2u);
  EXPECT_EQ(replies_[0].code(), wire::UNAVAILABLE);
  EXPECT_EQ(replies_[1].code(), wire::UNAVAILABLE);  // the read does not show the lost sale
  EXPECT_EQ(Received(), std::vector<std::string>{"UNAVAILABLE"});  // the stream ends
  Request sub;
  sub.mutable_subscribe()->set_event_id("gig");
  EXPECT_EQ(feed_->Subscribe(kSubscriber, sub).code(), wire::UNAVAILABLE);
}

TEST_F(DurableVisibilityTest, TooManyWaitingChangesResyncTheSubscribers) {
  const uint64_t hold = HoldSeat(1, "ann");
  Pass();
  Received();
  Run(Confirm(hold, "ann", "k1"));
  // Holds and releases pile up behind the sale while the log is slow.
  const size_t cap = std::max<size_t>(1000, ChangeFeed::kMinPendingCapacity);
  for (size_t i = 0; i <= cap; i += 2) {
    Request release;
    release.mutable_release()->set_hold_id(HoldSeat(2, "bob"));
    release.mutable_release()->set_holder("bob");
    Run(release);
  }
  Pass();
  EXPECT_EQ(Received(), std::vector<std::string>{"RESYNC_REQUIRED"});
  EXPECT_EQ(feed_->pending(), 0u);
  EXPECT_EQ(feed_->overflows(), 1u);
  Sync();
  EXPECT_TRUE(Received().empty());  // the stream had ended
}

}  // namespace
}  // namespace seatlock
