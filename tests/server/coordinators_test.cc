// Coordinators (server/coordinators.h) against a fake set of shards: each
// call is recorded and answered by the test, in any order it likes, so the
// specs below can say exactly which shard is asked when, and what is rolled
// back after a refusal.
#include "server/coordinators.h"

#include <deque>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "protocol/sharding.h"

namespace seatlock {
namespace {

using wire::Request;
using wire::Response;

// Shards that answer when the test says so.
class FakeShards {
 public:
  struct Call {
    uint32_t shard;
    Request request;
    Callback done;
  };
  CallFn fn() {
    return [this](uint32_t shard, Request&& req, Callback done) {
      calls.push_back({shard, std::move(req), std::move(done)});
    };
  }
  // Answers the oldest unanswered call with `r`.
  void Answer(Response r) {
    ASSERT_FALSE(calls.empty());
    Call c = std::move(calls.front());
    calls.pop_front();
    answered.push_back(c.shard);
    answered_ops.push_back(c.request.op_case());
    c.done(std::move(r));
  }
  std::deque<Call> calls;
  std::vector<uint32_t> answered;
  std::vector<Request::OpCase> answered_ops;
};

Response Code(wire::ResultCode code, const std::string& detail = "") {
  Response r;
  r.set_code(code);
  r.set_detail(detail);
  return r;
}

Response Held(uint64_t hold_id, uint64_t fencing, int64_t expires, std::string seat) {
  Response r = Code(wire::OK);
  r.mutable_hold()->set_hold_id(hold_id);
  r.mutable_hold()->set_fencing_token(fencing);
  r.mutable_hold()->set_expires_ms(expires);
  r.mutable_hold()->set_remaining_ms(expires - 1000);
  r.mutable_hold()->add_seats()->set_section(seat);
  return r;
}

TEST(CallInTurn, CallsOneTargetAtATimeUntilAReplySaysStop) {
  FakeShards shards;
  std::vector<size_t> seen;
  bool ended = false;
  CallSteps steps;
  steps.targets = {2, 0, 1};
  steps.request = [](size_t i) {
    Request r;
    r.set_request_id(i);
    return r;
  };
  steps.on_reply = [&](size_t i, Response&&) {
    seen.push_back(i);
    return i == 1 ? CallSteps::Next::kStop : CallSteps::Next::kContinue;
  };
  steps.on_end = [&] { ended = true; };
  CallInTurn(shards.fn(), std::move(steps));
  ASSERT_EQ(shards.calls.size(), 1u);  // one at a time
  EXPECT_EQ(shards.calls.front().shard, 2u);
  shards.Answer(Code(wire::OK));
  ASSERT_EQ(shards.calls.size(), 1u);
  EXPECT_EQ(shards.calls.front().shard, 0u);
  EXPECT_EQ(shards.calls.front().request.request_id(), 1u);
  shards.Answer(Code(wire::OK));
  EXPECT_TRUE(shards.calls.empty());
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1}));
  EXPECT_FALSE(ended);
}

TEST(CallInTurn, RunsOnEndWhenEveryReplySaysContinue) {
  FakeShards shards;
  bool ended = false;
  CallSteps steps;
  steps.targets = {0, 1};
  steps.request = [](size_t) { return Request(); };
  steps.on_reply = [](size_t, Response&&) { return CallSteps::Next::kContinue; };
  steps.on_end = [&] { ended = true; };
  CallInTurn(shards.fn(), std::move(steps));
  shards.Answer(Code(wire::OK));
  EXPECT_FALSE(ended);
  shards.Answer(Code(wire::OK));
  EXPECT_TRUE(ended);
}

// gig/101 lives on shard 0 and gig/A on shard 5 of 8 (docs/protocol.md §3).
Request TwoShardHold() {
  Request r;
  r.set_request_id(77);
  auto* h = r.mutable_hold();
  h->set_event_id("gig");
  h->set_holder("ann");
  h->set_ttl_ms(60000);
  for (const char* s : {"A", "101", "A"}) {
    auto* seat = h->add_seats();
    seat->set_section(s);
    seat->set_row("1");
    seat->set_seat("1");
  }
  return r;
}

TEST(SplitHoldByShard, GroupsSeatsByOwnerKeepingHolderAndTtl) {
  auto parts = SplitHoldByShard(TwoShardHold(), 8, protocol::kDefaultHashSeed);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts.at(0).hold().seats_size(), 1);
  EXPECT_EQ(parts.at(5).hold().seats_size(), 2);
  EXPECT_EQ(parts.at(5).hold().holder(), "ann");
  EXPECT_EQ(parts.at(5).hold().ttl_ms(), 60000);
  EXPECT_EQ(parts.at(5).request_id(), 77u);
}

TEST(SoleHoldShard, NamesTheOwnerOnlyWhenEverySeatIsOnIt) {
  const uint64_t seed = protocol::kDefaultHashSeed;
  EXPECT_EQ(SoleHoldShard(TwoShardHold(), 8, seed), std::nullopt);  // shards 5, 0, 5
  Request one = TwoShardHold();
  one.mutable_hold()->mutable_seats()->DeleteSubrange(1, 1);  // A, A: both on shard 5
  EXPECT_EQ(SoleHoldShard(one, 8, seed), std::optional<uint32_t>(5));
  EXPECT_EQ(SoleHoldShard(TwoShardHold(), 1, seed), std::optional<uint32_t>(0));
  Request none = TwoShardHold();
  none.mutable_hold()->clear_seats();  // shard 0's engine answers: no seats requested
  EXPECT_EQ(SoleHoldShard(none, 8, seed), std::optional<uint32_t>(0));
}

TEST(HoldAcrossShards, TakesThePartsInShardOrderAndMergesThem) {
  FakeShards shards;
  Response got;
  HoldAcrossShards(shards.fn(), 77, "ann",
                   SplitHoldByShard(TwoShardHold(), 8, protocol::kDefaultHashSeed),
                   [&](Response&& r) { got = std::move(r); });
  ASSERT_EQ(shards.calls.front().shard, 0u);
  shards.Answer(Held(11, 5, 9000, "101"));
  ASSERT_EQ(shards.calls.front().shard, 5u);
  shards.Answer(Held(22, 8, 7000, "A"));
  EXPECT_EQ(got.code(), wire::OK);
  EXPECT_EQ(got.request_id(), 77u);
  EXPECT_EQ(got.hold().hold_id(), 11u);
  EXPECT_EQ(got.hold().part_hold_ids_size(), 2);
  EXPECT_EQ(got.hold().fencing_token(), 8u);  // the highest
  EXPECT_EQ(got.hold().expires_ms(), 7000);   // the earliest
  EXPECT_EQ(got.hold().seats_size(), 2);
}

TEST(HoldAcrossShards, ARefusedPartReleasesThePartsTakenAndReportsTheRefusal) {
  FakeShards shards;
  Response got;
  bool answered = false;
  HoldAcrossShards(shards.fn(), 77, "ann",
                   SplitHoldByShard(TwoShardHold(), 8, protocol::kDefaultHashSeed),
                   [&](Response&& r) {
                     got = std::move(r);
                     answered = true;
                   });
  shards.Answer(Held(11, 5, 9000, "101"));
  shards.Answer(Code(wire::SEAT_UNAVAILABLE, "A/1/1 is held"));
  ASSERT_TRUE(answered);
  EXPECT_EQ(got.code(), wire::SEAT_UNAVAILABLE);
  EXPECT_EQ(got.request_id(), 77u);
  // The rollback: a RELEASE of shard 0's part, as its holder.
  ASSERT_EQ(shards.calls.size(), 1u);
  EXPECT_EQ(shards.calls.front().shard, 0u);
  EXPECT_EQ(shards.calls.front().request.release().hold_id(), 11u);
  EXPECT_EQ(shards.calls.front().request.release().holder(), "ann");
}

TEST(HoldAcrossShards, AFirstPartRefusedRollsBackNothing) {
  FakeShards shards;
  Response got;
  HoldAcrossShards(shards.fn(), 77, "ann",
                   SplitHoldByShard(TwoShardHold(), 8, protocol::kDefaultHashSeed),
                   [&](Response&& r) { got = std::move(r); });
  shards.Answer(Code(wire::EVENT_NOT_FOUND));
  EXPECT_EQ(got.code(), wire::EVENT_NOT_FOUND);
  EXPECT_TRUE(shards.calls.empty());
}

Request Confirm(uint32_t shard) {
  Request r;
  r.mutable_confirm()->set_hold_id((uint64_t{shard} << 56) | 3);
  return r;
}

TEST(ConfirmAcrossShards, AsksTheHoldsShardFirstThenTheOthersOnHoldNotFound) {
  FakeShards shards;
  Response got;
  ConfirmAcrossShards(shards.fn(), Confirm(2), 4, [&](Response&& r) { got = std::move(r); });
  shards.Answer(Code(wire::HOLD_NOT_FOUND));
  shards.Answer(Code(wire::HOLD_NOT_FOUND));
  Response ok = Code(wire::OK);
  ok.mutable_confirm()->set_replayed(true);
  shards.Answer(ok);
  EXPECT_EQ(shards.answered, (std::vector<uint32_t>{2, 0, 1}));
  EXPECT_TRUE(got.confirm().replayed());
  EXPECT_TRUE(shards.calls.empty());
}

TEST(ConfirmAcrossShards, EveryShardAskedGetsTheWholeRequest) {
  FakeShards shards;
  Request c = Confirm(1);
  c.set_request_id(42);
  c.mutable_confirm()->set_holder("ann");
  c.mutable_confirm()->set_idempotency_key("key-1");
  ConfirmAcrossShards(shards.fn(), Request(c), 2, [](Response&&) {});
  ASSERT_EQ(shards.calls.size(), 1u);
  EXPECT_EQ(shards.calls.front().shard, 1u);
  EXPECT_EQ(shards.calls.front().request.SerializeAsString(), c.SerializeAsString());
  shards.Answer(Code(wire::HOLD_NOT_FOUND));
  ASSERT_EQ(shards.calls.size(), 1u);
  EXPECT_EQ(shards.calls.front().shard, 0u);
  EXPECT_EQ(shards.calls.front().request.SerializeAsString(), c.SerializeAsString());
}

TEST(ConfirmAcrossShards, OneShardIsAskedOnceWhateverTheIdNames) {
  FakeShards shards;
  Response got;
  ConfirmAcrossShards(shards.fn(), Confirm(7), 1, [&](Response&& r) { got = std::move(r); });
  ASSERT_EQ(shards.calls.size(), 1u);
  EXPECT_EQ(shards.calls.front().request.confirm().hold_id(), (uint64_t{7} << 56) | 3);
  shards.Answer(Code(wire::HOLD_NOT_FOUND, "only"));
  EXPECT_EQ(shards.answered, (std::vector<uint32_t>{0}));
  EXPECT_EQ(got.detail(), "only");
  EXPECT_TRUE(shards.calls.empty());
}

TEST(ConfirmAcrossShards, AnyOtherAnswerEndsTheSearch) {
  FakeShards shards;
  Response got;
  ConfirmAcrossShards(shards.fn(), Confirm(1), 3, [&](Response&& r) { got = std::move(r); });
  shards.Answer(Code(wire::HOLD_EXPIRED_SEATS_TAKEN));
  EXPECT_EQ(got.code(), wire::HOLD_EXPIRED_SEATS_TAKEN);
  EXPECT_TRUE(shards.calls.empty());
}

TEST(ConfirmAcrossShards, HoldNotFoundEverywhereIsTheAnswer) {
  FakeShards shards;
  Response got;
  // An id naming shard 9 of 2: every shard is asked, in order.
  ConfirmAcrossShards(shards.fn(), Confirm(9), 2, [&](Response&& r) { got = std::move(r); });
  shards.Answer(Code(wire::HOLD_NOT_FOUND));
  shards.Answer(Code(wire::HOLD_NOT_FOUND, "last"));
  EXPECT_EQ(shards.answered, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(got.code(), wire::HOLD_NOT_FOUND);
  EXPECT_EQ(got.detail(), "last");
}

Request BestAnywhere() {
  Request r;
  r.set_request_id(5);
  r.mutable_hold_best_available()->set_event_id("gig");
  r.mutable_hold_best_available()->set_count(4);
  return r;
}

TEST(HoldBestAnywhere, TriesTheReceiverFirstThenTheOthersUntilOneHasSeats) {
  FakeShards shards;
  Response got;
  HoldBestAnywhere(shards.fn(), BestAnywhere(), 2, 3, [&](Response&& r) { got = std::move(r); });
  shards.Answer(Code(wire::NOT_ENOUGH_SEATS));
  shards.Answer(Held(40, 1, 100, "B"));
  EXPECT_EQ(shards.answered, (std::vector<uint32_t>{2, 0}));
  EXPECT_EQ(got.code(), wire::OK);
  EXPECT_TRUE(shards.calls.empty());
}

TEST(HoldBestAnywhere, ReportsTheMostSpecificRefusalWhenNoShardHasSeats) {
  FakeShards shards;
  Response got;
  HoldBestAnywhere(shards.fn(), BestAnywhere(), 0, 3, [&](Response&& r) { got = std::move(r); });
  shards.Answer(Code(wire::NOT_ENOUGH_SEATS, "only 2 free"));
  shards.Answer(Code(wire::NO_ADJACENT_SEATS, "no 4 together"));
  shards.Answer(Code(wire::NOT_ENOUGH_SEATS, "none free"));
  EXPECT_EQ(got.code(), wire::NO_ADJACENT_SEATS);
  EXPECT_EQ(got.detail(), "no 4 together");
  EXPECT_EQ(got.request_id(), 5u);
}

TEST(HoldBestAnywhere, AnErrorThatIsTheSameOnEveryShardEndsAtOnce) {
  FakeShards shards;
  Response got;
  HoldBestAnywhere(shards.fn(), BestAnywhere(), 1, 3, [&](Response&& r) { got = std::move(r); });
  shards.Answer(Code(wire::EVENT_NOT_FOUND));
  EXPECT_EQ(got.code(), wire::EVENT_NOT_FOUND);
  EXPECT_TRUE(shards.calls.empty());
}

}  // namespace
}  // namespace seatlock
