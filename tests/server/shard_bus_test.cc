// The shard bus (server/shard_bus.h), driven from one thread: two or three
// ShardBus endpoints on one fabric, each drained by hand. Specs for the
// order of messages in a lane, the bound on a lane, the sender's backlog,
// and which shards get woken.
#include "server/shard_bus.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace seatlock {
namespace {

using wire::Request;
using wire::Response;

// Runs every call at once and answers with the request id echoed back.
class EchoReceiver final : public ShardBus::Receiver {
 public:
  // A reply callback owns its message until it is called: answer the ones
  // held back, as a shard always does.
  ~EchoReceiver() override {
    for (Callback& reply : held) reply(Response());
  }
  void OnRunOp(const Request& req, Callback reply) override {
    ran.push_back(req.request_id());
    Response r;
    r.set_request_id(req.request_id());
    if (answer_now) {
      reply(std::move(r));
    } else {
      held.push_back(std::move(reply));
    }
  }
  void OnGateHold(Request&& req, Callback reply) override {
    gated.push_back(req.request_id());
    Response r;
    r.set_request_id(req.request_id());
    reply(std::move(r));
  }
  void OnPurchase(const std::string& event_id, uint64_t hold_id) override {
    purchases.push_back(event_id + "/" + std::to_string(hold_id));
  }
  bool answer_now = true;
  std::vector<uint64_t> ran, gated;
  std::vector<std::string> purchases;
  std::vector<Callback> held;
};

Request WithId(uint64_t id) {
  Request r;
  r.set_request_id(id);
  return r;
}

class ShardBusTest : public ::testing::Test {
 protected:
  void Make(uint32_t shards, uint64_t capacity) {
    fabric_ = std::make_unique<BusFabric>(shards, capacity);
    fabric_->set_waker([this](uint32_t to) { woken_.push_back(to); });
    for (uint32_t i = 0; i < shards; ++i)
      buses_.push_back(std::make_unique<ShardBus>(fabric_.get(), i));
  }
  std::unique_ptr<BusFabric> fabric_;
  std::vector<std::unique_ptr<ShardBus>> buses_;
  std::vector<uint32_t> woken_;
};

TEST_F(ShardBusTest, ACallRunsOnItsTargetAndTheReplyRunsTheCallersCallback) {
  Make(2, 16);
  EchoReceiver r0, r1;
  std::vector<uint64_t> replies;
  buses_[0]->Call(1, WithId(7), [&](Response&& r) { replies.push_back(r.request_id()); });
  EXPECT_EQ(buses_[0]->calls_waiting(), 1u);
  EXPECT_TRUE(buses_[1]->HasIncoming());
  buses_[0]->Flush();
  EXPECT_EQ(woken_, std::vector<uint32_t>{1});
  buses_[1]->Drain(&r1);
  EXPECT_EQ(r1.ran, std::vector<uint64_t>{7});
  buses_[1]->Flush();
  buses_[0]->Drain(&r0);
  EXPECT_EQ(replies, std::vector<uint64_t>{7});
  EXPECT_EQ(buses_[0]->calls_waiting(), 0u);
  EXPECT_EQ(buses_[0]->calls_sent(), 1u);
}

TEST_F(ShardBusTest, MessagesOfOneLaneArriveInSendOrder) {
  Make(2, 1000);
  EchoReceiver r1;
  for (uint64_t i = 1; i <= 100; ++i) buses_[0]->Call(1, WithId(i), [](Response&&) {});
  buses_[1]->Drain(&r1);
  ASSERT_EQ(r1.ran.size(), 100u);
  for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(r1.ran[i], i + 1);
}

TEST_F(ShardBusTest, AFullLaneKeepsTheRestInTheSendersBacklogInOrder) {
  Make(2, 4);
  EchoReceiver r1;
  r1.answer_now = false;
  for (uint64_t i = 1; i <= 10; ++i) buses_[0]->Call(1, WithId(i), [](Response&&) {});
  EXPECT_EQ(buses_[0]->backlog(), 6u);  // 4 in the lane
  buses_[0]->Flush();                   // the lane is still full
  EXPECT_EQ(buses_[0]->backlog(), 6u);
  buses_[1]->Drain(&r1);
  EXPECT_EQ(r1.ran.size(), 4u);  // never more than the lane's capacity at once
  buses_[0]->Flush();
  EXPECT_EQ(buses_[0]->backlog(), 2u);
  buses_[1]->Drain(&r1);
  buses_[0]->Flush();
  EXPECT_EQ(buses_[0]->backlog(), 0u);
  buses_[1]->Drain(&r1);
  ASSERT_EQ(r1.ran.size(), 10u);
  for (uint64_t i = 0; i < 10; ++i) EXPECT_EQ(r1.ran[i], i + 1);
  // A message sent while the backlog is not empty waits behind it.
}

TEST_F(ShardBusTest, TheReceiverWakesASenderThatWaitsForRoom) {
  Make(2, 2);
  EchoReceiver r1;
  r1.answer_now = false;
  for (uint64_t i = 1; i <= 3; ++i) buses_[0]->Call(1, WithId(i), [](Response&&) {});
  buses_[0]->Flush();  // backlog 1: asks shard 1 to wake it
  woken_.clear();
  buses_[1]->Drain(&r1);
  buses_[1]->Flush();
  EXPECT_EQ(woken_, std::vector<uint32_t>{0});
}

TEST_F(ShardBusTest, OnlyAMessageIntoAnEmptyLaneWakesItsReceiver) {
  Make(3, 16);
  buses_[0]->Call(1, WithId(1), [](Response&&) {});
  buses_[0]->Call(1, WithId(2), [](Response&&) {});
  buses_[0]->Call(2, WithId(3), [](Response&&) {});
  buses_[0]->Flush();
  EXPECT_EQ(woken_, (std::vector<uint32_t>{1, 2}));  // once each
  woken_.clear();
  buses_[0]->Call(1, WithId(4), [](Response&&) {});
  buses_[0]->Flush();
  EXPECT_TRUE(woken_.empty());  // shard 1 has not drained: it is awake
}

TEST_F(ShardBusTest, GatedHoldsAndPurchasesReachTheirHandlers) {
  Make(2, 16);
  EchoReceiver r0, r1;
  uint64_t reply = 0;
  buses_[0]->CallGateHold(1, WithId(9), [&](Response&& r) { reply = r.request_id(); });
  buses_[0]->NotePurchase(1, "gig", 42);
  EXPECT_EQ(buses_[0]->calls_waiting(), 1u);  // a purchase expects no reply
  buses_[1]->Drain(&r1);
  EXPECT_EQ(r1.gated, std::vector<uint64_t>{9});
  EXPECT_EQ(r1.purchases, std::vector<std::string>{"gig/42"});
  buses_[0]->Drain(&r0);
  EXPECT_EQ(reply, 9u);
}

TEST_F(ShardBusTest, MessagesStillQueuedAreFreedWithTheBus) {
  // Run under ASan: nothing leaks when shards stop with messages in flight.
  Make(2, 2);
  for (uint64_t i = 1; i <= 5; ++i) buses_[0]->Call(1, WithId(i), [](Response&&) {});
  EXPECT_EQ(buses_[0]->backlog(), 3u);
  buses_.clear();
  fabric_.reset();
}

}  // namespace
}  // namespace seatlock
