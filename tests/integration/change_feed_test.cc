// SUBSCRIBE, the change feed: gapless per-event sequence numbers, every kind
// of change (held, released, expired, sold, cancelled), resuming after a
// disconnect from the ring, and RESYNC_REQUIRED when the ring no longer has
// what a subscriber asks for.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "client/client.h"
#include "gtest/gtest.h"
#include "protocol/sharding.h"
#include "tests/integration/daemon.h"

namespace seatlock {
namespace {

using testing::Daemon;
using testing::DaemonOptions;

// Collects a subscription's messages; thread-safe. The state is shared with
// the callback, which the client may still call after the test is done.
class Stream {
 public:
  AsyncClient::Callback Callback() {
    return [st = state_](absl::StatusOr<wire::Response> r) {
      std::lock_guard<std::mutex> l(st->mu);
      st->messages.push_back(std::move(r));
      st->cv.notify_all();
    };
  }
  // Waits until `n` changes arrived (or 5 s); returns them.
  std::vector<wire::ChangeEvent> Changes(size_t n) {
    std::unique_lock<std::mutex> l(state_->mu);
    state_->cv.wait_for(l, std::chrono::seconds(5), [&] { return CountLocked() >= n; });
    std::vector<wire::ChangeEvent> out;
    for (const auto& m : state_->messages) {
      if (!m.ok()) continue;
      for (const auto& c : m->subscribe().changes()) out.push_back(c);
    }
    return out;
  }
  absl::StatusOr<wire::Response> First() {
    std::unique_lock<std::mutex> l(state_->mu);
    state_->cv.wait_for(l, std::chrono::seconds(5), [&] { return !state_->messages.empty(); });
    if (state_->messages.empty()) return absl::DeadlineExceededError("no message");
    return state_->messages.front();
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<absl::StatusOr<wire::Response>> messages;
  };
  size_t CountLocked() const {
    size_t n = 0;
    for (const auto& m : state_->messages) n += m.ok() ? m->subscribe().changes_size() : 0;
    return n;
  }
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

wire::Request SubscribeReq(const std::string& event, uint32_t shard, uint64_t from_seq,
                           bool from_now) {
  wire::Request r;
  r.mutable_subscribe()->set_event_id(event);
  r.mutable_subscribe()->set_shard(shard);
  r.mutable_subscribe()->set_from_seq(from_seq);
  r.mutable_subscribe()->set_from_now(from_now);
  return r;
}

class ChangeFeedTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args = {}) {
    daemon_ = std::make_unique<Daemon>(DaemonOptions{.shards = 2, .extra_args = std::move(args)});
    ASSERT_TRUE(daemon_->Start()) << daemon_->Log();
    ClientOptions opts;
    opts.port = daemon_->port();
    auto c = Client::Connect(opts);
    ASSERT_TRUE(c.ok());
    client_ = std::move(*c);
    wire::DefineEventRequest def;
    def.set_event_id("feed");
    auto* sec = def.add_sections();
    sec->set_label("S");
    auto* row = sec->add_rows();
    row->set_label("A");
    row->set_seat_count(20);
    ASSERT_EQ(client_->DefineEvent(def)->code(), wire::OK);
    shard_ = protocol::ShardFor("feed", "S", 2, client_->hello().hash_seed());
  }
  void TearDown() override {
    client_.reset();
    if (daemon_) {
      EXPECT_EQ(daemon_->Stop(), 0);
    }
  }
  // HELD, RELEASED, HELD, EXPIRED, HELD, SOLD, CANCELLED: 7 changes.
  void MakeEveryKindOfChange(int64_t* expiry_deadline) {
    auto h = client_->Hold("feed", {SeatAt("S", "A", "1")}, "a", 60000);
    ASSERT_EQ(h->code(), wire::OK);
    ASSERT_EQ(client_->Release(h->hold().hold_id(), "a")->code(), wire::OK);
    h = client_->Hold("feed", {SeatAt("S", "A", "2")}, "b", 150);
    ASSERT_EQ(h->code(), wire::OK);
    *expiry_deadline = h->hold().expires_ms();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    h = client_->Hold("feed", {SeatAt("S", "A", "3"), SeatAt("S", "A", "4")}, "c", 60000);
    ASSERT_EQ(h->code(), wire::OK);
    auto sale = client_->Confirm(h->hold().hold_id(), "c", "key", "pay");
    ASSERT_EQ(sale->code(), wire::OK);
    ASSERT_EQ(client_->CancelBooking(sale->confirm().booking_id())->code(), wire::OK);
  }

  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Client> client_;
  uint32_t shard_ = 0;
};

TEST_F(ChangeFeedTest, EveryChangeArrivesOnceInOrderWithGaplessNumbers) {
  Start();
  Stream stream;
  client_->async().Subscribe(SubscribeReq("feed", shard_, 0, true), stream.Callback());
  auto first = stream.First();
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->code(), wire::OK) << first->detail();
  EXPECT_EQ(first->subscribe().latest_seq(), 0u);
  int64_t deadline = 0;
  MakeEveryKindOfChange(&deadline);
  auto changes = stream.Changes(7);
  ASSERT_EQ(changes.size(), 7u);
  const wire::ChangeKind want[] = {wire::CHANGE_HELD,     wire::CHANGE_RELEASED, wire::CHANGE_HELD,
                                   wire::CHANGE_EXPIRED,  wire::CHANGE_HELD,     wire::CHANGE_SOLD,
                                   wire::CHANGE_CANCELLED};
  for (size_t i = 0; i < changes.size(); ++i) {
    EXPECT_EQ(changes[i].seq(), i + 1) << "sequence numbers start at 1 with no gaps";
    EXPECT_EQ(changes[i].kind(), want[i]) << i;
  }
  EXPECT_EQ(changes[3].time_ms(), deadline) << "an expiry is reported at the hold's deadline";
  EXPECT_EQ(changes[3].new_state(), wire::FREE);
  EXPECT_EQ(changes[5].new_state(), wire::SOLD);
  ASSERT_EQ(changes[5].seats_size(), 2);
  EXPECT_EQ(changes[5].seats(0).seat(), "3");
}

TEST_F(ChangeFeedTest, ResumesAfterADisconnectFromTheRing) {
  Start();
  int64_t deadline = 0;
  MakeEveryKindOfChange(&deadline);
  // A subscriber that saw changes 1..2 reconnects and asks for the rest.
  Stream stream;
  client_->async().Subscribe(SubscribeReq("feed", shard_, 2, false), stream.Callback());
  auto changes = stream.Changes(5);
  ASSERT_EQ(changes.size(), 5u);
  for (size_t i = 0; i < changes.size(); ++i) EXPECT_EQ(changes[i].seq(), i + 3);
  // And it keeps receiving new ones after the backlog.
  ASSERT_EQ(client_->Hold("feed", {SeatAt("S", "A", "9")}, "d", 60000)->code(), wire::OK);
  changes = stream.Changes(6);
  ASSERT_EQ(changes.size(), 6u);
  EXPECT_EQ(changes[5].seq(), 8u);
}

TEST_F(ChangeFeedTest, TooFarBehindIsToldToResync) {
  Start({"--feed_ring=3"});
  int64_t deadline = 0;
  MakeEveryKindOfChange(&deadline);
  Stream stream;
  client_->async().Subscribe(SubscribeReq("feed", shard_, 1, false), stream.Callback());
  auto first = stream.First();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->code(), wire::RESYNC_REQUIRED);
  EXPECT_EQ(first->subscribe().latest_seq(), 7u);
  EXPECT_EQ(first->subscribe().oldest_seq(), 5u);
  // Re-read the seats, then subscribe from the newest number: that works.
  ASSERT_EQ(client_->GetSeats("feed", "S")->code(), wire::OK);
  Stream again;
  client_->async().Subscribe(SubscribeReq("feed", shard_, 7, false), again.Callback());
  auto ok = again.First();
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->code(), wire::OK);
}

TEST_F(ChangeFeedTest, AForcedDeleteReleasesLiveHoldsThenTheStreamContinuesWithTheNewEvent) {
  Start();
  Stream stream;
  client_->async().Subscribe(SubscribeReq("feed", shard_, 0, true), stream.Callback());
  ASSERT_TRUE(stream.First().ok());
  auto h = client_->Hold("feed", {SeatAt("S", "A", "5")}, "a", 60000);
  ASSERT_EQ(h->code(), wire::OK);
  auto del = client_->DeleteEvent("feed", /*force=*/true);
  ASSERT_EQ(del->code(), wire::OK) << del->detail();
  // A new SUBSCRIBE to the deleted event is refused; the open one stays.
  Stream late;
  client_->async().Subscribe(SubscribeReq("feed", shard_, 0, true), late.Callback());
  auto refused = late.First();
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->code(), wire::EVENT_NOT_FOUND);
  // Defined again: its changes follow on the same stream, numbered on.
  wire::DefineEventRequest def;
  def.set_event_id("feed");
  auto* sec = def.add_sections();
  sec->set_label("S");
  auto* row = sec->add_rows();
  row->set_label("A");
  row->set_seat_count(20);
  ASSERT_EQ(client_->DefineEvent(def)->code(), wire::OK);
  ASSERT_EQ(client_->Hold("feed", {SeatAt("S", "A", "5")}, "b", 60000)->code(), wire::OK);
  auto changes = stream.Changes(3);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].kind(), wire::CHANGE_HELD);
  EXPECT_EQ(changes[1].kind(), wire::CHANGE_RELEASED);
  EXPECT_EQ(changes[1].hold_id(), h->hold().hold_id());
  // Sent after the delete's record was durable, with the labels the seats had.
  ASSERT_EQ(changes[1].seats_size(), 1);
  EXPECT_EQ(changes[1].seats(0).section(), "S");
  EXPECT_EQ(changes[1].seats(0).row(), "A");
  EXPECT_EQ(changes[1].seats(0).seat(), "5");
  EXPECT_EQ(changes[2].kind(), wire::CHANGE_HELD);
  EXPECT_EQ(changes[2].seq(), 3u);
}

TEST_F(ChangeFeedTest, SubscribeNamingAnotherShardIsWrongShard) {
  Start();
  // Shard 7 does not exist: the client sends it to the main port, and the
  // shard that answers says which port to use instead.
  auto r = client_->Call(SubscribeReq("feed", 7, 0, true));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->code(), wire::WRONG_SHARD);
  EXPECT_NE(r->detail().find("port"), std::string::npos);
}

}  // namespace
}  // namespace seatlock
