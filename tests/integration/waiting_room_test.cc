// Waiting room integration tests: a real seatlockd (2 shards) gating an
// event's holds behind a virtual queue (docs/waiting-room.md). FIFO numbering
// under concurrent joins, positions, passes on gated holds, pass expiry and
// grace lapses, sold out, and the queue surviving restarts (graceful, kill -9,
// from snapshots) and resharding. Every wait is a poll loop bounded in time.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
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

constexpr auto kPollFor = std::chrono::seconds(20);

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// `sections` sections "S0".. with one row "A" of `seats` seats each.
wire::DefineEventRequest Venue(const std::string& id, int sections, int seats) {
  wire::DefineEventRequest d;
  d.set_event_id(id);
  for (int s = 0; s < sections; ++s) {
    auto* sec = d.add_sections();
    sec->set_label("S" + std::to_string(s));
    auto* row = sec->add_rows();
    row->set_label("A");
    row->set_seat_count(static_cast<uint32_t>(seats));
  }
  return d;
}

wire::RoomConfig RateRoom(uint32_t rate, uint32_t batch) {
  wire::RoomConfig c;
  c.set_mode(wire::ADMIT_RATE);
  c.set_rate_per_sec(rate);
  c.set_batch_size(batch);
  c.set_grace_ms(-1);  // never lapse unless a test says so
  return c;
}

wire::RoomConfig CapacityRoom(uint32_t max_active, uint32_t batch) {
  wire::RoomConfig c;
  c.set_mode(wire::ADMIT_CAPACITY);
  c.set_max_active(max_active);
  c.set_batch_size(batch);
  c.set_grace_ms(-1);
  return c;
}

std::unique_ptr<Client> Connect(const Daemon& d) {
  ClientOptions opts;
  opts.port = d.port();
  opts.call_timeout_ms = 20000;
  auto c = Client::Connect(opts);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(*c) : nullptr;
}

std::string Key(int i) { return "buyer-" + std::to_string(i); }

// Joins and expects OK; returns the number (0 on failure).
uint64_t Join(Client& c, const std::string& event, const std::string& key) {
  auto r = c.JoinQueue(event, key);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return 0;
  EXPECT_EQ(r->code(), wire::OK) << key << ": " << r->detail();
  return r->join_queue().number();
}

wire::QueueStatusReply Status(Client& c, const std::string& event, uint64_t number,
                              const std::string& key) {
  auto r = c.QueueStatus(event, number, key);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  EXPECT_EQ(r->code(), wire::OK) << number << ": " << r->detail();
  return r->queue_status();
}

// Polls STATUS (which also keeps the place) until `done` holds or 20 s pass.
wire::QueueStatusReply PollStatus(Client& c, const std::string& event, uint64_t number,
                                  const std::string& key,
                                  const std::function<bool(const wire::QueueStatusReply&)>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kPollFor;
  wire::QueueStatusReply s;
  while (std::chrono::steady_clock::now() < deadline) {
    s = Status(c, event, number, key);
    if (done(s)) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "buyer " << number << " stuck in state " << wire::QueueState_Name(s.state());
  return s;
}

wire::QueueStatusReply WaitForState(Client& c, const std::string& event, uint64_t number,
                                    const std::string& key, wire::QueueState state) {
  return PollStatus(c, event, number, key,
                    [state](const wire::QueueStatusReply& s) { return s.state() == state; });
}

wire::RoomInfoReply Info(Client& c, const std::string& event) {
  auto r = c.RoomInfo(event);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  EXPECT_EQ(r->code(), wire::OK) << r->detail();
  return r->room_info();
}

wire::RoomInfoReply PollInfo(Client& c, const std::string& event,
                             const std::function<bool(const wire::RoomInfoReply&)>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kPollFor;
  wire::RoomInfoReply info;
  while (std::chrono::steady_clock::now() < deadline) {
    info = Info(c, event);
    if (done(info)) return info;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "room of '" << event << "' never got there: " << info.ShortDebugString();
  return info;
}

void Configure(Client& c, const std::string& event, const wire::RoomConfig& config) {
  auto r = c.ConfigureRoom(event, config);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->code(), wire::OK) << r->detail();
}

class WaitingRoomTest : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(DaemonOptions{.shards = 2});
    ASSERT_TRUE(daemon_->Start()) << daemon_->Log();
    client_ = Connect(*daemon_);
    ASSERT_NE(client_, nullptr);
  }
  void TearDown() override {
    client_.reset();
    if (daemon_ && daemon_->Running()) {
      EXPECT_EQ(daemon_->Stop(), 0) << daemon_->Log();
    }
  }

  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Client> client_;
};

// ---------------------------------------------------------------------------

TEST_F(WaitingRoomTest, ConcurrentJoinsGetGaplessNumbersAndAreAdmittedInJoinOrder) {
  ASSERT_EQ(client_->DefineEvent(Venue("fifo", 4, 50))->code(), wire::OK);
  Configure(*client_, "fifo", RateRoom(5000, 50));
  constexpr int kThreads = 8, kPerThread = 60, kTotal = kThreads * kPerThread;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(Connect(*daemon_));
    ASSERT_NE(clients.back(), nullptr);
  }
  std::vector<std::vector<uint64_t>> numbers(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client& c = *clients[t % clients.size()];
      for (int i = 0; i < kPerThread; ++i) {
        numbers[t].push_back(Join(c, "fifo", Key(t * kPerThread + i)));
      }
    });
  }
  for (auto& th : threads) th.join();

  std::map<uint64_t, std::string> key_of;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(numbers[t].size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) {
      // One thread's joins are sequential: each one got a later number.
      if (i > 0) {
        EXPECT_GT(numbers[t][i], numbers[t][i - 1]) << "thread " << t;
      }
      EXPECT_TRUE(key_of.emplace(numbers[t][i], Key(t * kPerThread + i)).second)
          << "number issued twice";
    }
  }
  ASSERT_EQ(key_of.size(), static_cast<size_t>(kTotal));
  EXPECT_EQ(key_of.begin()->first, 1u);
  EXPECT_EQ(key_of.rbegin()->first, static_cast<uint64_t>(kTotal));  // unique + 1..N = gapless

  // Joining again with the same key returns the same number.
  for (uint64_t n : {1, 77, 480}) {
    auto again = client_->JoinQueue("fifo", key_of[n]);
    ASSERT_EQ(again->code(), wire::OK);
    EXPECT_EQ(again->join_queue().number(), n);
    EXPECT_TRUE(again->join_queue().rejoined());
  }

  // Everyone gets admitted; a waiting buyer never has more ahead than
  // smaller numbers; passes expire in number order (admitted in order).
  std::map<uint64_t, int64_t> expires;
  const auto deadline = std::chrono::steady_clock::now() + kPollFor;
  while (expires.size() < key_of.size() && std::chrono::steady_clock::now() < deadline) {
    for (const auto& [n, key] : key_of) {
      if (expires.contains(n)) continue;
      const wire::QueueStatusReply s = Status(*client_, "fifo", n, key);
      if (s.state() == wire::QUEUE_ADMITTED) {
        EXPECT_FALSE(s.pass().empty());
        expires[n] = s.pass_expires_ms();
      } else {
        ASSERT_EQ(s.state(), wire::QUEUE_WAITING) << n;
        EXPECT_LT(s.position(), n) << n;
      }
    }
  }
  ASSERT_EQ(expires.size(), key_of.size()) << "not everyone was admitted in time";
  int64_t last = 0;
  for (const auto& [n, e] : expires) {
    EXPECT_GE(e, last) << "buyer " << n << " admitted before a smaller number";
    last = e;
  }
  const wire::RoomInfoReply info = Info(*client_, "fifo");
  EXPECT_EQ(info.joined(), static_cast<uint64_t>(kTotal));
  EXPECT_EQ(info.waiting(), 0u);
  EXPECT_EQ(info.admitted_total(), static_cast<uint64_t>(kTotal));
  EXPECT_TRUE(info.opened());
}

TEST_F(WaitingRoomTest, PositionsCountWaitingBuyersAheadAndLeaveFreesASlotAtOnce) {
  ASSERT_EQ(client_->DefineEvent(Venue("pos", 2, 20))->code(), wire::OK);
  // Without a room: no queue.
  EXPECT_EQ(client_->JoinQueue("pos", "x")->code(), wire::ROOM_NOT_FOUND);
  EXPECT_EQ(client_->RoomInfo("pos")->code(), wire::ROOM_NOT_FOUND);
  EXPECT_EQ(client_->ConfigureRoom("nosuch", CapacityRoom(5, 5))->code(), wire::EVENT_NOT_FOUND);
  EXPECT_EQ(client_->ConfigureRoom("pos", CapacityRoom(0, 5))->code(), wire::INVALID_ARGUMENT);
  Configure(*client_, "pos", CapacityRoom(5, 5));
  constexpr int kBuyers = 30;
  for (int i = 1; i <= kBuyers; ++i)
    ASSERT_EQ(Join(*client_, "pos", Key(i)), static_cast<uint64_t>(i));
  PollInfo(*client_, "pos", [](const wire::RoomInfoReply& i) { return i.admitted() == 5; });
  std::set<int> gone;  // not waiting any more
  auto expect_positions = [&](const std::string& when) {
    for (int n = 1; n <= kBuyers; ++n) {
      const wire::QueueStatusReply s = Status(*client_, "pos", n, Key(n));
      if (gone.contains(n)) {
        EXPECT_NE(s.state(), wire::QUEUE_WAITING) << when << " buyer " << n;
        continue;
      }
      ASSERT_EQ(s.state(), wire::QUEUE_WAITING) << when << " buyer " << n;
      uint64_t ahead = 0;
      for (int k = 1; k < n; ++k) ahead += gone.contains(k) ? 0 : 1;
      EXPECT_EQ(s.position(), ahead) << when << " buyer " << n;
    }
  };
  for (int n = 1; n <= 5; ++n) {
    EXPECT_EQ(Status(*client_, "pos", n, Key(n)).state(), wire::QUEUE_ADMITTED) << n;
    gone.insert(n);
  }
  expect_positions("first batch");

  // The wrong key learns nothing.
  EXPECT_EQ(client_->QueueStatus("pos", 7, Key(8))->code(), wire::NOT_IN_QUEUE);
  EXPECT_EQ(client_->LeaveQueue("pos", 7, Key(8))->code(), wire::NOT_IN_QUEUE);

  // Waiting buyers leave: the ones behind move up.
  for (int n : {10, 20}) {
    ASSERT_EQ(client_->LeaveQueue("pos", n, Key(n))->code(), wire::OK);
    EXPECT_EQ(Status(*client_, "pos", n, Key(n)).state(), wire::QUEUE_LEFT);
    gone.insert(n);
  }
  expect_positions("after two waiting buyers left");
  // An admitted buyer leaves: the next in line is admitted.
  ASSERT_EQ(client_->LeaveQueue("pos", 2, Key(2))->code(), wire::OK);
  EXPECT_EQ(Status(*client_, "pos", 2, Key(2)).state(), wire::QUEUE_LEFT);
  WaitForState(*client_, "pos", 6, Key(6), wire::QUEUE_ADMITTED);
  gone.insert(6);
  expect_positions("after an admitted buyer left");
  const wire::RoomInfoReply info = Info(*client_, "pos");
  EXPECT_EQ(info.left(), 3u);
  EXPECT_EQ(info.admitted(), 5u);
  EXPECT_EQ(info.waiting(), static_cast<uint64_t>(kBuyers - 8));
}

TEST_F(WaitingRoomTest, GatedHoldsNeedAValidPassWithinItsSeatLimitAndPurchasesFreeTheSlot) {
  // 6 seats in two sections owned by different shards.
  wire::DefineEventRequest venue = Venue("tiny", 4, 3);
  venue.mutable_sections()->DeleteSubrange(1, 2);  // S0 and S3
  ASSERT_EQ(venue.sections(1).label(), "S3");
  const auto& hello = client_->hello();
  ASSERT_NE(protocol::ShardFor("tiny", "S0", hello.shard_count(), hello.hash_seed()),
            protocol::ShardFor("tiny", "S3", hello.shard_count(), hello.hash_seed()));
  ASSERT_EQ(client_->DefineEvent(venue)->code(), wire::OK);
  wire::RoomConfig config = CapacityRoom(1, 1);
  config.set_max_seats_per_pass(2);
  Configure(*client_, "tiny", config);

  EXPECT_EQ(client_->Hold("tiny", {SeatAt("S0", "A", "1")}, "h", 60000)->code(),
            wire::PASS_INVALID);
  EXPECT_EQ(client_->HoldBestAvailable("tiny", "", 1, true, "h", 60000)->code(),
            wire::PASS_INVALID);
  EXPECT_EQ(client_->Hold("tiny", {SeatAt("S3", "A", "1")}, "h", 60000, "1.0123")->code(),
            wire::PASS_INVALID);

  for (int i = 1; i <= 5; ++i) ASSERT_EQ(Join(*client_, "tiny", Key(i)), static_cast<uint64_t>(i));
  const std::string pass1 = WaitForState(*client_, "tiny", 1, Key(1), wire::QUEUE_ADMITTED).pass();
  ASSERT_FALSE(pass1.empty());
  EXPECT_EQ(Status(*client_, "tiny", 1, Key(1)).seats_left(), 2u);
  EXPECT_EQ(Status(*client_, "tiny", 2, Key(2)).state(), wire::QUEUE_WAITING);
  std::string forged = pass1;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(client_->Hold("tiny", {SeatAt("S0", "A", "1")}, "b1", 60000, forged)->code(),
            wire::PASS_INVALID);

  // Buyer 1: two seats, one per section; a third is over the pass's limit.
  auto h1 =
      client_->Hold("tiny", {SeatAt("S0", "A", "1"), SeatAt("S3", "A", "1")}, "b1", 60000, pass1);
  ASSERT_EQ(h1->code(), wire::OK) << h1->detail();
  EXPECT_EQ(Status(*client_, "tiny", 1, Key(1)).seats_left(), 0u);
  auto over = client_->Hold("tiny", {SeatAt("S0", "A", "2")}, "b1", 60000, pass1);
  EXPECT_EQ(over->code(), wire::LIMIT_EXCEEDED) << over->detail();
  EXPECT_EQ(client_->HoldBestAvailable("tiny", "S3", 1, false, "b1", 60000, pass1)->code(),
            wire::LIMIT_EXCEEDED);
  // The purchase ends the pass and frees the slot for buyer 2.
  ASSERT_EQ(h1->hold().part_hold_ids_size(), 2);  // one part per shard: confirm each
  for (uint64_t part : h1->hold().part_hold_ids()) {
    auto c1 = client_->Confirm(part, "b1", "k1-" + std::to_string(part), "pay1");
    ASSERT_EQ(c1->code(), wire::OK) << c1->detail();
  }
  WaitForState(*client_, "tiny", 1, Key(1), wire::QUEUE_DONE);
  EXPECT_EQ(client_->Hold("tiny", {SeatAt("S0", "A", "2")}, "b1", 60000, pass1)->code(),
            wire::PASS_INVALID);
  const std::string pass2 = WaitForState(*client_, "tiny", 2, Key(2), wire::QUEUE_ADMITTED).pass();
  ASSERT_FALSE(pass2.empty());
  EXPECT_NE(pass2, pass1);

  // Buyer 2: a refused hold (a sold seat) gives its seats back to the pass.
  auto refused =
      client_->Hold("tiny", {SeatAt("S0", "A", "1"), SeatAt("S0", "A", "2")}, "b2", 60000, pass2);
  EXPECT_EQ(refused->code(), wire::SEAT_UNAVAILABLE) << refused->detail();
  EXPECT_EQ(Status(*client_, "tiny", 2, Key(2)).seats_left(), 2u);
  auto h2 = client_->HoldBestAvailable("tiny", "S0", 2, false, "b2", 60000, pass2);
  ASSERT_EQ(h2->code(), wire::OK) << h2->detail();
  ASSERT_EQ(client_->Confirm(h2->hold().hold_id(), "b2", "k2", "pay2")->code(), wire::OK);
  WaitForState(*client_, "tiny", 2, Key(2), wire::QUEUE_DONE);

  // Buyer 3 buys the last two seats: the event is sold out. Buyer 4 may or
  // may not be admitted before the room sees it; buyer 5 cannot (one slot).
  const std::string pass3 = WaitForState(*client_, "tiny", 3, Key(3), wire::QUEUE_ADMITTED).pass();
  auto h3 =
      client_->Hold("tiny", {SeatAt("S3", "A", "2"), SeatAt("S3", "A", "3")}, "b3", 60000, pass3);
  ASSERT_EQ(h3->code(), wire::OK) << h3->detail();
  ASSERT_EQ(client_->Confirm(h3->hold().hold_id(), "b3", "k3", "pay3")->code(), wire::OK);
  auto avail = client_->GetAvailability("tiny");
  ASSERT_EQ(avail->code(), wire::OK);
  ASSERT_EQ(avail->get_availability().free(), 0u);
  ASSERT_EQ(avail->get_availability().held(), 0u);
  WaitForState(*client_, "tiny", 5, Key(5), wire::QUEUE_SOLD_OUT);
  const wire::QueueState s4 = Status(*client_, "tiny", 4, Key(4)).state();
  EXPECT_TRUE(s4 == wire::QUEUE_SOLD_OUT || s4 == wire::QUEUE_ADMITTED)
      << wire::QueueState_Name(s4);
  auto late = client_->JoinQueue("tiny", "latecomer");
  EXPECT_EQ(late->code(), wire::SOLD_OUT) << late->detail();
  auto again = client_->JoinQueue("tiny", Key(5));  // an old key keeps its number
  EXPECT_EQ(again->code(), wire::OK);
  EXPECT_EQ(again->join_queue().number(), 5u);
  const wire::RoomInfoReply info = Info(*client_, "tiny");
  EXPECT_TRUE(info.sold_out());
  EXPECT_EQ(info.done(), 3u);
  EXPECT_EQ(info.joined(), 5u);
}

TEST_F(WaitingRoomTest, SoldOutKeepsPollersInLineAndTheRoomReopensWhenSeatsComeBack) {
  ASSERT_EQ(client_->DefineEvent(Venue("pair", 1, 2))->code(), wire::OK);
  wire::RoomConfig config = CapacityRoom(1, 1);
  config.set_grace_ms(1000);
  Configure(*client_, "pair", config);
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(Join(*client_, "pair", Key(i)), static_cast<uint64_t>(i));
  const std::string pass1 = WaitForState(*client_, "pair", 1, Key(1), wire::QUEUE_ADMITTED).pass();
  auto h = client_->HoldBestAvailable("pair", "S0", 2, false, "b1", 60000, pass1);
  ASSERT_EQ(h->code(), wire::OK) << h->detail();
  auto sale = client_->Confirm(h->hold().hold_id(), "b1", "k1", "pay1");
  ASSERT_EQ(sale->code(), wire::OK) << sale->detail();
  WaitForState(*client_, "pair", 1, Key(1), wire::QUEUE_DONE);
  // Buyer 2 may take the freed slot before the room learns the event is sold
  // out; buyer 3 cannot (one slot) and is told.
  WaitForState(*client_, "pair", 3, Key(3), wire::QUEUE_SOLD_OUT);
  EXPECT_EQ(client_->JoinQueue("pair", "late-1")->code(), wire::SOLD_OUT);
  // Buyers 2 and 3 keep polling for longer than the grace period: still in
  // line. Buyer 2 polls too: if the room saw the held seats before the sale
  // ended buyer 1's pass, buyer 2 was never admitted and, without polling,
  // would lapse after the grace period like any buyer who stops asking.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1600);
  while (std::chrono::steady_clock::now() < until) {
    const wire::QueueState s2 = Status(*client_, "pair", 2, Key(2)).state();
    ASSERT_TRUE(s2 == wire::QUEUE_SOLD_OUT || s2 == wire::QUEUE_ADMITTED)
        << wire::QueueState_Name(s2);
    ASSERT_EQ(Status(*client_, "pair", 3, Key(3)).state(), wire::QUEUE_SOLD_OUT);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(Info(*client_, "pair").lapsed(), 0u);
  // Everyone gives up: nobody is in line any more. Then the sale is cancelled.
  for (int n : {2, 3}) ASSERT_EQ(client_->LeaveQueue("pair", n, Key(n))->code(), wire::OK);
  ASSERT_EQ(client_->CancelBooking(sale->confirm().booking_id())->code(), wire::OK);
  PollInfo(*client_, "pair", [](const wire::RoomInfoReply& i) { return !i.sold_out(); });
  const uint64_t late = Join(*client_, "pair", "late-2");
  ASSERT_EQ(late, 4u);
  const std::string pass =
      WaitForState(*client_, "pair", late, "late-2", wire::QUEUE_ADMITTED).pass();
  // It buys both seats with nobody else in line: sold out again, and joins
  // are refused although the room is idle.
  auto h2 = client_->HoldBestAvailable("pair", "S0", 2, false, "late", 60000, pass);
  ASSERT_EQ(h2->code(), wire::OK) << h2->detail();
  ASSERT_EQ(client_->Confirm(h2->hold().hold_id(), "late", "k2", "pay2")->code(), wire::OK);
  WaitForState(*client_, "pair", late, "late-2", wire::QUEUE_DONE);
  PollInfo(*client_, "pair", [](const wire::RoomInfoReply& i) { return i.sold_out(); });
  EXPECT_EQ(client_->JoinQueue("pair", "late-3")->code(), wire::SOLD_OUT);
}

TEST_F(WaitingRoomTest, PassExpiryFreesTheSlotAndStoppedPollersLapse) {
  ASSERT_EQ(client_->DefineEvent(Venue("short", 2, 10))->code(), wire::OK);
  wire::RoomConfig config = CapacityRoom(1, 1);
  config.set_pass_ttl_ms(1500);
  Configure(*client_, "short", config);
  for (int i = 1; i <= 2; ++i) ASSERT_EQ(Join(*client_, "short", Key(i)), static_cast<uint64_t>(i));
  const wire::QueueStatusReply s1 =
      WaitForState(*client_, "short", 1, Key(1), wire::QUEUE_ADMITTED);
  EXPECT_GT(s1.pass_expires_ms(), 0);
  WaitForState(*client_, "short", 1, Key(1), wire::QUEUE_PASS_EXPIRED);
  auto h = client_->Hold("short", {SeatAt("S0", "A", "1")}, "b1", 60000, s1.pass());
  EXPECT_EQ(h->code(), wire::PASS_INVALID);
  WaitForState(*client_, "short", 2, Key(2), wire::QUEUE_ADMITTED);
  EXPECT_GE(Info(*client_, "short").pass_expired(), 1u);

  // Grace: buyer 2 of this room stops polling, buyer 3 keeps polling.
  ASSERT_EQ(client_->DefineEvent(Venue("grace", 2, 10))->code(), wire::OK);
  wire::RoomConfig g = CapacityRoom(1, 1);
  g.set_grace_ms(1000);
  Configure(*client_, "grace", g);
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(Join(*client_, "grace", Key(i)), static_cast<uint64_t>(i));
  WaitForState(*client_, "grace", 1, Key(1), wire::QUEUE_ADMITTED);
  EXPECT_EQ(Status(*client_, "grace", 3, Key(3)).position(), 1u);
  const auto deadline = std::chrono::steady_clock::now() + kPollFor;
  wire::RoomInfoReply info;
  while (std::chrono::steady_clock::now() < deadline) {
    EXPECT_EQ(Status(*client_, "grace", 3, Key(3)).state(),
              wire::QUEUE_WAITING);  // polling keeps the place
    info = Info(*client_, "grace");
    if (info.lapsed() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(info.lapsed(), 1u);
  EXPECT_EQ(Status(*client_, "grace", 2, Key(2)).state(), wire::QUEUE_LAPSED);
  const wire::QueueStatusReply s3 = Status(*client_, "grace", 3, Key(3));
  EXPECT_EQ(s3.state(), wire::QUEUE_WAITING);
  EXPECT_EQ(s3.position(), 0u);
  EXPECT_EQ(Status(*client_, "grace", 1, Key(1)).state(),
            wire::QUEUE_ADMITTED);  // admitted need not poll
}

// ---------------------------------------------------------------------------
// Restarts

struct BuyerView {
  wire::QueueState state;
  uint64_t position;
  std::string pass;
  int64_t pass_expires_ms;
};

std::map<int, BuyerView> ViewAll(Client& c, const std::string& event, int buyers) {
  std::map<int, BuyerView> out;
  for (int n = 1; n <= buyers; ++n) {
    const wire::QueueStatusReply s = Status(c, event, n, Key(n));
    out[n] = {s.state(), s.position(), s.pass(), s.pass_expires_ms()};
  }
  return out;
}

void ExpectSameViews(const std::map<int, BuyerView>& want, const std::map<int, BuyerView>& got,
                     const std::string& when) {
  for (const auto& [n, w] : want) {
    const BuyerView& g = got.at(n);
    EXPECT_EQ(g.state, w.state) << when << " buyer " << n;
    EXPECT_EQ(g.position, w.position) << when << " buyer " << n;
    EXPECT_EQ(g.pass, w.pass) << when << " buyer " << n;
    EXPECT_EQ(g.pass_expires_ms, w.pass_expires_ms) << when << " buyer " << n;
  }
}

enum class Restart { kStop, kKill9, kSnapshot, kSnapshotFullLog, kReshard };

std::string RestartName(const ::testing::TestParamInfo<Restart>& p) {
  switch (p.param) {
    case Restart::kStop:
      return "GracefulStop";
    case Restart::kKill9:
      return "KillNine";
    case Restart::kSnapshot:
      return "FromSnapshot";
    case Restart::kSnapshotFullLog:
      return "FromSnapshotAndWholeLog";
    case Restart::kReshard:
      return "ReshardTo3";
  }
  return "unknown";
}

class WaitingRoomRestartTest : public ::testing::TestWithParam<Restart> {};

TEST_P(WaitingRoomRestartTest, QueueNumbersOrderPositionsAndPassesSurvive) {
  const Restart how = GetParam();
  DaemonOptions opts{.shards = 2};
  if (how == Restart::kSnapshot)
    opts.extra_args = {"--snapshot_bytes=2000", "--wal_segment_bytes=4096"};
  if (how == Restart::kSnapshotFullLog || how == Restart::kReshard)
    opts.extra_args = {"--snapshot_bytes=2000"};
  Daemon d(opts);
  ASSERT_TRUE(d.Start()) << d.Log();
  auto c = Connect(d);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->DefineEvent(Venue("show", 4, 10))->code(), wire::OK);

  // A pre-queue of 12 (shuffled when the sale opens), then 48 FIFO joiners.
  wire::RoomConfig config = CapacityRoom(5, 5);
  const int64_t on_sale = NowMs() + 2500;
  config.set_on_sale_ms(on_sale);
  Configure(*c, "show", config);
  constexpr int kPre = 12, kBuyers = 60;
  for (int n = 1; n <= kPre; ++n) {
    auto r = c->JoinQueue("show", Key(n));
    ASSERT_EQ(r->code(), wire::OK);
    ASSERT_EQ(r->join_queue().number(), static_cast<uint64_t>(n));
    ASSERT_LT(r->join_queue().joined_ms(), on_sale) << "the pre-queue joins took too long";
  }
  const wire::RoomInfoReply opened = PollInfo(
      *c, "show", [](const wire::RoomInfoReply& i) { return i.opened() && i.admitted() == 5; });
  for (int n = kPre + 1; n <= kBuyers; ++n)
    ASSERT_EQ(Join(*c, "show", Key(n)), static_cast<uint64_t>(n));
  // Someone waiting and someone admitted leave.
  std::map<int, BuyerView> before = ViewAll(*c, "show", kBuyers);
  int admitted_one = 0, waiting_one = 0;
  for (const auto& [n, v] : before) {
    if (v.state == wire::QUEUE_ADMITTED && admitted_one == 0) admitted_one = n;
    if (v.state == wire::QUEUE_WAITING && v.position == 3) waiting_one = n;
  }
  ASSERT_NE(admitted_one, 0);
  ASSERT_NE(waiting_one, 0);
  ASSERT_EQ(c->LeaveQueue("show", admitted_one, Key(admitted_one))->code(), wire::OK);
  ASSERT_EQ(c->LeaveQueue("show", waiting_one, Key(waiting_one))->code(), wire::OK);
  PollInfo(*c, "show",
           [](const wire::RoomInfoReply& i) { return i.admitted() == 5 && i.left() == 2; });
  before = ViewAll(*c, "show", kBuyers);  // every shown pass is durable
  // The pre-queue is served first, in some order; then 13.. in number order.
  std::vector<std::pair<uint64_t, int>> waiting;  // position, number
  for (const auto& [n, v] : before) {
    if (v.state == wire::QUEUE_WAITING) waiting.emplace_back(v.position, n);
  }
  std::sort(waiting.begin(), waiting.end());
  for (size_t i = 0; i < waiting.size(); ++i) ASSERT_EQ(waiting[i].first, i);
  for (size_t i = 1; i < waiting.size(); ++i) {
    if (waiting[i - 1].second > kPre) {
      EXPECT_GT(waiting[i].second, waiting[i - 1].second) << "FIFO after the pre-queue";
    }
    if (waiting[i].second <= kPre) {
      EXPECT_LE(waiting[i - 1].second, kPre) << "pre-queue first";
    }
  }
  const uint32_t home = opened.home_shard();
  const wire::RoomInfoReply info_before = Info(*c, "show");

  if (how == Restart::kSnapshot || how == Restart::kSnapshotFullLog || how == Restart::kReshard) {
    // Log traffic on every shard (each CONFIGURE_ROOM is logged everywhere),
    // so the home shard writes a snapshot after the last queue change; wait
    // until its newest snapshot holds the last joiner.
    for (int i = 0; i < 60; ++i) Configure(*c, "show", config);
    const std::string dir = d.data_dir() + "/shard-" + std::to_string(home);
    const std::string last_key = Key(kBuyers);
    const auto deadline = std::chrono::steady_clock::now() + kPollFor;
    bool covered = false;
    while (!covered && std::chrono::steady_clock::now() < deadline) {
      std::string newest;
      for (const auto& e : std::filesystem::directory_iterator(dir)) {
        if (e.path().extension() == ".snap" && e.path().string() > newest)
          newest = e.path().string();
      }
      if (!newest.empty()) {
        std::ifstream in(newest, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
        covered = bytes.find(last_key) != std::string::npos;
      }
      if (!covered) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(covered) << "no snapshot of the room in " << dir;
  }
  c.reset();
  if (how == Restart::kKill9) {
    d.Kill9();
  } else {
    ASSERT_EQ(d.Stop(), 0) << d.Log();
  }
  if (how == Restart::kReshard) d.set_shards(3);
  ASSERT_TRUE(d.Start()) << d.Log();
  if (how == Restart::kReshard) {
    EXPECT_NE(d.Log().find("resharded"), std::string::npos);
  }
  if (how == Restart::kSnapshot || how == Restart::kSnapshotFullLog) {
    EXPECT_NE(d.Log().find("records from"), std::string::npos) << "recovery did not use a snapshot";
  }
  c = Connect(d);
  ASSERT_NE(c, nullptr);
  const std::map<int, BuyerView> after = ViewAll(*c, "show", kBuyers);
  ExpectSameViews(before, after, "after restart");
  const wire::RoomInfoReply info_after = Info(*c, "show");
  EXPECT_EQ(info_after.joined(), info_before.joined());
  EXPECT_EQ(info_after.waiting(), info_before.waiting());
  EXPECT_EQ(info_after.admitted(), info_before.admitted());
  EXPECT_EQ(info_after.left(), info_before.left());
  EXPECT_TRUE(info_after.opened());

  // Old keys keep their numbers; a new buyer gets the next one.
  auto again = c->JoinQueue("show", Key(7));
  ASSERT_EQ(again->code(), wire::OK);
  EXPECT_EQ(again->join_queue().number(), 7u);
  EXPECT_TRUE(again->join_queue().rejoined());
  EXPECT_EQ(Join(*c, "show", Key(kBuyers + 1)), static_cast<uint64_t>(kBuyers + 1));

  // Passes from before the restart still hold seats; buying frees the slot
  // for whoever was first in line.
  int buyer = 0;
  for (const auto& [n, v] : after) {
    if (v.state == wire::QUEUE_ADMITTED) {
      buyer = n;
      break;
    }
  }
  ASSERT_NE(buyer, 0);
  auto h = c->HoldBestAvailable("show", "", 2, true, "fan", 60000, after.at(buyer).pass);
  ASSERT_EQ(h->code(), wire::OK) << h->detail();
  ASSERT_EQ(c->Confirm(h->hold().hold_id(), "fan", "k-restart", "pay")->code(), wire::OK);
  WaitForState(*c, "show", buyer, Key(buyer), wire::QUEUE_DONE);
  ASSERT_FALSE(waiting.empty());
  // waiting[0] may have left above only if it was at position 3: it was not.
  int first_in_line = 0;
  for (const auto& [n, v] : after) {
    if (v.state == wire::QUEUE_WAITING && v.position == 0) first_in_line = n;
  }
  ASSERT_NE(first_in_line, 0);
  WaitForState(*c, "show", first_in_line, Key(first_in_line), wire::QUEUE_ADMITTED);
  c.reset();
  EXPECT_EQ(d.Stop(), 0) << d.Log();
}

INSTANTIATE_TEST_SUITE_P(Restarts, WaitingRoomRestartTest,
                         ::testing::Values(Restart::kStop, Restart::kKill9, Restart::kSnapshot,
                                           Restart::kSnapshotFullLog, Restart::kReshard),
                         RestartName);

}  // namespace
}  // namespace seatlock
