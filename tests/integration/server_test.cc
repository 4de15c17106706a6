// Integration tests: a real seatlockd (2 shards) on ephemeral loopback ports,
// under both I/O backends, driven through the client library and raw sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/async_client.h"
#include "client/client.h"
#include "common/mono_clock.h"
#include "gtest/gtest.h"
#include "protocol/framing.h"
#include "protocol/sharding.h"
#include "tests/integration/daemon.h"

namespace seatlock {
namespace {

using testing::Daemon;
using testing::DaemonOptions;

wire::DefineEventRequest Arena(const std::string& id, int sections = 6, int rows = 4,
                               int seats = 10) {
  wire::DefineEventRequest d;
  d.set_event_id(id);
  for (int s = 0; s < sections; ++s) {
    auto* sec = d.add_sections();
    sec->set_label(std::to_string(101 + s));
    for (int r = 0; r < rows; ++r) {
      auto* row = sec->add_rows();
      row->set_label(std::string(1, static_cast<char>('A' + r)));
      row->set_seat_count(static_cast<uint32_t>(seats));
    }
  }
  return d;
}

// Two section labels of Arena() owned by different shards.
std::pair<std::string, std::string> SectionsOnTwoShards(const wire::HelloReply& hello) {
  std::string first;
  for (int s = 0; s < 6; ++s) {
    const std::string label = std::to_string(101 + s);
    const uint32_t owner = protocol::ShardFor("gig", label, hello.shard_count(), hello.hash_seed());
    if (first.empty()) {
      first = label;
    } else if (owner != protocol::ShardFor("gig", first, hello.shard_count(), hello.hash_seed())) {
      return {first, label};
    }
  }
  return {"", ""};
}

class ServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(DaemonOptions{.shards = 2, .io = GetParam()});
    ASSERT_TRUE(daemon_->Start()) << daemon_->Log();
    ClientOptions opts;
    opts.port = daemon_->port();
    auto c = Client::Connect(opts);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
  }
  void TearDown() override {
    client_.reset();
    if (daemon_ && daemon_->Running()) {
      EXPECT_EQ(daemon_->Stop(), 0) << daemon_->Log();
    }
  }

  // A raw TCP connection to the main port.
  int RawConnect() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(daemon_->port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    return fd;
  }
  // Reads frames until the peer closes or 3 s pass. Returns the responses;
  // *closed says whether the server closed the connection.
  std::vector<wire::Response> ReadUntilClose(int fd, bool* closed) {
    std::vector<wire::Response> out;
    protocol::FrameDecoder dec(1 << 24);
    char buf[65536];
    *closed = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        *closed = true;
        break;
      }
      dec.Append(buf, static_cast<size_t>(n));
      std::string_view body;
      while (dec.Next(&body) == protocol::FrameDecoder::Result::kFrame) {
        wire::Response r;
        EXPECT_TRUE(r.ParseFromArray(body.data(), static_cast<int>(body.size())));
        out.push_back(r);
      }
    }
    return out;
  }
  void SendAll(int fd, const std::string& bytes) {
    ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // The server still answers a well-behaved client.
  void ExpectHealthy() {
    auto ping = client_->Ping();
    ASSERT_TRUE(ping.ok()) << ping.status();
    EXPECT_EQ(ping->code(), wire::OK);
  }

  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Client> client_;
};

TEST_P(ServerTest, HelloAnnouncesShardsPortsAndSeed) {
  const auto& h = client_->hello();
  EXPECT_EQ(h.shard_count(), 2u);
  ASSERT_EQ(h.shard_ports_size(), 2);
  EXPECT_EQ(h.shard_ports(0), daemon_->shard_ports()[0]);
  EXPECT_EQ(h.hash_seed(), protocol::kDefaultHashSeed);
  EXPECT_EQ(h.protocol_version(), protocol::kProtocolVersion);
}

TEST_P(ServerTest, TwoBuyersOneSeatSecondGetsRefusalThenSeatAfterRelease) {
  ASSERT_EQ(client_->DefineEvent(Arena("gig"))->code(), wire::OK);
  auto first = client_->Hold("gig", {SeatAt("103", "F", "12")}, "alice", 600000);
  // Row F does not exist in this 4-row arena: a clear UNKNOWN_SEAT.
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->code(), wire::UNKNOWN_SEAT);
  first = client_->Hold("gig", {SeatAt("103", "C", "7")}, "alice", 600000);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->code(), wire::OK) << first->detail();
  const auto& h1 = first->hold();
  EXPECT_NE(h1.hold_id(), 0u);
  EXPECT_GT(h1.fencing_token(), 0u);
  EXPECT_GT(h1.expires_ms(), 0);

  auto second = client_->Hold("gig", {SeatAt("103", "C", "7")}, "bob", 600000);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->code(), wire::SEAT_UNAVAILABLE);
  ASSERT_EQ(second->hold().conflicts_size(), 1);
  EXPECT_EQ(second->hold().conflicts(0).state(), wire::HELD);
  EXPECT_EQ(second->hold().conflicts(0).held_until_ms(), h1.expires_ms());
  EXPECT_EQ(second->hold().conflicts(0).seat().seat(), "7");

  EXPECT_EQ(client_->Release(h1.hold_id(), "bob")->code(), wire::NOT_HOLDER);
  EXPECT_EQ(client_->Release(h1.hold_id(), "alice")->code(), wire::OK);
  second = client_->Hold("gig", {SeatAt("103", "C", "7")}, "bob", 600000);
  ASSERT_EQ(second->code(), wire::OK);
  EXPECT_GT(second->hold().fencing_token(), h1.fencing_token());
}

TEST_P(ServerTest, ConfirmIsIdempotentAndAvailabilityAddsUpAcrossShards) {
  ASSERT_EQ(client_->DefineEvent(Arena("gig"))->code(), wire::OK);
  // Redefinition: identical is fine, different is EVENT_EXISTS.
  EXPECT_EQ(client_->DefineEvent(Arena("gig"))->code(), wire::OK);
  EXPECT_EQ(client_->DefineEvent(Arena("gig", 5))->code(), wire::EVENT_EXISTS);

  auto hold = client_->HoldBestAvailable("gig", "104", 4, false, "carol", 600000);
  ASSERT_EQ(hold->code(), wire::OK) << hold->detail();
  ASSERT_EQ(hold->hold().seats_size(), 4);
  const uint64_t hid = hold->hold().hold_id();
  auto c1 = client_->Confirm(hid, "carol", "key-1", "pay-1");
  ASSERT_EQ(c1->code(), wire::OK) << c1->detail();
  EXPECT_FALSE(c1->confirm().replayed());
  auto c2 = client_->Confirm(hid, "carol", "key-1", "pay-1");
  ASSERT_EQ(c2->code(), wire::OK);
  EXPECT_TRUE(c2->confirm().replayed());
  EXPECT_EQ(c2->confirm().booking_id(), c1->confirm().booking_id());
  EXPECT_EQ(client_->Confirm(hid, "carol", "key-1", "pay-OTHER")->code(),
            wire::IDEMPOTENCY_MISMATCH);

  auto avail = client_->GetAvailability("gig");
  ASSERT_EQ(avail->code(), wire::OK);
  EXPECT_EQ(avail->get_availability().total(), 240u);
  EXPECT_EQ(avail->get_availability().sold(), 4u);
  EXPECT_EQ(avail->get_availability().free(), 236u);
  ASSERT_EQ(avail->get_availability().sections_size(), 6);
  EXPECT_EQ(avail->get_availability().sections(3).section(), "104");
  EXPECT_EQ(avail->get_availability().sections(3).sold(), 4u);

  auto seats = client_->GetSeats("gig", "104");
  ASSERT_EQ(seats->code(), wire::OK);
  int sold = 0;
  for (const auto& s : seats->get_seats().seats()) sold += s.state() == wire::SOLD;
  EXPECT_EQ(sold, 4);

  EXPECT_EQ(client_->CancelBooking(c1->confirm().booking_id())->code(), wire::OK);
  EXPECT_EQ(client_->GetAvailability("gig")->get_availability().free(), 240u);
  auto events = client_->ListEvents();
  ASSERT_EQ(events->list_events().events_size(), 1);
  EXPECT_EQ(events->list_events().events(0).total(), 240u);
}

TEST_P(ServerTest, ShardAwareClientNeverMakesTheServerForward) {
  ASSERT_EQ(client_->DefineEvent(Arena("gig"))->code(), wire::OK);
  for (int s = 0; s < 6; ++s) {
    auto h = client_->Hold("gig", {SeatAt(std::to_string(101 + s), "A", "1")}, "dave", 60000);
    ASSERT_EQ(h->code(), wire::OK);
    EXPECT_EQ(client_->Extend(h->hold().hold_id(), "dave", 120000)->code(), wire::OK);
    EXPECT_EQ(client_->GetHold(h->hold().hold_id())->code(), wire::OK);
    EXPECT_EQ(client_->Release(h->hold().hold_id(), "dave")->code(), wire::OK);
  }
  auto stats = client_->Stats();
  ASSERT_EQ(stats->code(), wire::OK);
  ASSERT_EQ(stats->stats().shards_size(), 2);
  uint64_t granted = 0;
  for (const auto& s : stats->stats().shards()) granted += s.holds_granted();
  EXPECT_EQ(granted, 6u);
  // Only the fan-out ops (define, stats) forward; single-shard ops go
  // straight to their owner's port. Each fan-out forwards to one other shard.
  uint64_t forwarded = 0;
  for (const auto& s : stats->stats().shards()) forwarded += s.forwarded_out();
  EXPECT_LE(forwarded, 2u);
}

// ClientOptions::connections_per_port: one client, several sockets per shard
// port, every call answered once; out of range is refused at Connect.
TEST_P(ServerTest, AnAsyncClientSpreadsItsCallsOverItsSocketsPerPort) {
  ASSERT_EQ(client_->DefineEvent(Arena("gig"))->code(), wire::OK);
  ClientOptions opts;
  opts.port = daemon_->port();
  for (int bad : {0, 65}) {
    opts.connections_per_port = bad;
    auto refused = AsyncClient::Connect(opts);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  }
  opts.connections_per_port = 3;
  auto async = AsyncClient::Connect(opts);
  ASSERT_TRUE(async.ok()) << async.status();
  // 6 sections over 2 shards, 4 rows of seats: 60 one-seat holds, in flight
  // together, none of them waited for before the next is sent.
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0, granted = 0;
  constexpr int kCalls = 60;
  for (int i = 0; i < kCalls; ++i) {
    wire::Request r;
    auto* h = r.mutable_hold();
    h->set_event_id("gig");
    *h->add_seats() = SeatAt(std::to_string(101 + i % 6), "A", std::to_string(1 + i / 6));
    h->set_holder("spread");
    h->set_ttl_ms(60'000);
    (*async)->Call(std::move(r), [&](absl::StatusOr<wire::Response> resp) {
      std::lock_guard<std::mutex> l(mu);
      ++answered;
      if (resp.ok() && resp->code() == wire::OK) ++granted;
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return answered == kCalls; }));
  }
  EXPECT_EQ(granted, kCalls);
  EXPECT_EQ((*async)->in_flight(), 0u);
  // Each shard port got its 3 sockets (the main port's are dialled only for
  // what is routed there: none of these holds), beside the blocking client's
  // one connection to the main port. The server counts a closed connection
  // (each client's HELLO round trip) until it has seen the close: wait.
  uint64_t conns = 0;
  for (int i = 0; i < 50 && conns != 7; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto stats = client_->Stats();
    ASSERT_EQ(stats->code(), wire::OK);
    conns = 0;
    for (const auto& sh : stats->stats().shards()) conns += sh.connections();
  }
  EXPECT_EQ(conns, 7u);
}

// HOLDs by seat index take the server's fast path (protocol/hold_codec.h)
// when the receiving shard can answer them at once, and the general path
// otherwise: another shard's seats, seats on two shards, a gated event. Each
// gets the reply docs/protocol.md gives it (code, hold ids, seats echoed as
// asked); tests/server/engine_ops_test.cc compares the two paths' bytes.
TEST_P(ServerTest, HoldsBySeatIndexAreAnsweredTheSameOnEveryPath) {
  ASSERT_EQ(client_->DefineEvent(Arena("gig"))->code(), wire::OK);
  ASSERT_EQ(client_->DefineEvent(Arena("gated"))->code(), wire::OK);
  wire::RoomConfig room;
  room.set_mode(wire::ADMIT_CAPACITY);
  room.set_max_active(10);
  room.set_batch_size(1);
  ASSERT_EQ(client_->ConfigureRoom("gated", room)->code(), wire::OK);
  const auto [a, b] = SectionsOnTwoShards(client_->hello());
  ASSERT_FALSE(a.empty() || b.empty());

  auto hold = [](uint64_t id, const std::string& event,
                 std::vector<std::pair<std::string, uint32_t>> seats) {
    wire::Request r;
    r.set_request_id(id);
    wire::HoldRequest* h = r.mutable_hold();
    h->set_event_id(event);
    for (const auto& [section, index] : seats) {
      wire::SeatRef* s = h->add_seats();
      s->set_section(section);
      s->set_index(index);
    }
    h->set_holder("ann");
    h->set_ttl_ms(60'000);
    return r;
  };
  // The main port and each shard's port: every shard receives every kind.
  std::vector<uint16_t> ports = {daemon_->port()};
  for (uint16_t p : daemon_->shard_ports()) ports.push_back(p);
  uint32_t seat = 0;
  for (uint16_t port : ports) {
    const uint32_t s1 = seat++, s2 = seat++;
    std::string bytes;
    protocol::AppendFrame(hold(1, "gig", {{a, s1}}), &bytes);                     // shard of a
    protocol::AppendFrame(hold(2, "gig", {{b, s1}}), &bytes);                     // shard of b
    protocol::AppendFrame(hold(3, "gig", {{a, s2}, {b, s2}}), &bytes);            // both
    protocol::AppendFrame(hold(4, "gig", {{a, s1}, {a, 39}}), &bytes);            // a taken seat
    protocol::AppendFrame(hold(5, "gig", {{a, 40}}), &bytes);                     // no such index
    protocol::AppendFrame(hold(6, "gig", {{"999", 0}}), &bytes);                  // no such section
    protocol::AppendFrame(hold(7, "nope", {{a, 0}}), &bytes);                     // no such event
    protocol::AppendFrame(hold(8, "gated", {{a, s1}}), &bytes);                   // no pass
    protocol::AppendFrame(hold(9, "gig", {{a, 30 + s1}, {a, 30 + s1}}), &bytes);  // twice
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    SendAll(fd, bytes);
    std::vector<wire::Response> replies;
    protocol::FrameDecoder dec(1 << 20);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (replies.size() < 9 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      dec.Append(buf, static_cast<size_t>(n));
      std::string_view body;
      while (dec.Next(&body) == protocol::FrameDecoder::Result::kFrame) {
        ASSERT_TRUE(
            replies.emplace_back().ParseFromArray(body.data(), static_cast<int>(body.size())));
      }
    }
    close(fd);
    ASSERT_EQ(replies.size(), 9u) << "port " << port;
    std::map<uint64_t, wire::Response> by_id;
    for (const wire::Response& r : replies) by_id[r.request_id()] = r;
    SCOPED_TRACE("port " + std::to_string(port));
    for (uint64_t id : {1, 2}) {
      const wire::Response& r = by_id[id];
      ASSERT_EQ(r.code(), wire::OK) << r.ShortDebugString();
      ASSERT_EQ(r.hold().seats_size(), 1);
      EXPECT_EQ(r.hold().seats(0).section(), id == 1 ? a : b);
      EXPECT_EQ(r.hold().seats(0).index(), s1);
      EXPECT_TRUE(r.hold().seats(0).row().empty());  // as asked: no labels
      EXPECT_EQ(r.hold().part_hold_ids_size(), 1);
      EXPECT_EQ(r.hold().part_hold_ids(0), r.hold().hold_id());
    }
    EXPECT_EQ(by_id[3].code(), wire::OK) << by_id[3].ShortDebugString();
    EXPECT_EQ(by_id[3].hold().part_hold_ids_size(), 2);
    EXPECT_EQ(by_id[3].hold().seats_size(), 2);
    const wire::Response& taken = by_id[4];
    EXPECT_EQ(taken.code(), wire::SEAT_UNAVAILABLE);
    ASSERT_EQ(taken.hold().conflicts_size(), 1) << taken.ShortDebugString();
    EXPECT_EQ(taken.hold().conflicts(0).seat().section(), a);
    EXPECT_EQ(taken.hold().conflicts(0).seat().index(), s1);
    EXPECT_EQ(taken.hold().conflicts(0).state(), wire::HELD);
    EXPECT_GT(taken.hold().conflicts(0).held_until_ms(), 0);
    EXPECT_EQ(by_id[5].code(), wire::UNKNOWN_SEAT) << by_id[5].ShortDebugString();
    EXPECT_EQ(by_id[6].code(), wire::UNKNOWN_SEAT) << by_id[6].ShortDebugString();
    EXPECT_EQ(by_id[6].detail(), "no section '999'");
    EXPECT_EQ(by_id[7].code(), wire::EVENT_NOT_FOUND) << by_id[7].ShortDebugString();
    EXPECT_EQ(by_id[7].detail(), "no event 'nope'");
    EXPECT_EQ(by_id[8].code(), wire::PASS_INVALID) << by_id[8].ShortDebugString();
    EXPECT_EQ(by_id[9].code(), wire::DUPLICATE_SEAT) << by_id[9].ShortDebugString();
  }
  // Both paths ran: some HOLDs were answered fast, the others (other
  // shards' seats, two shards, the gated event) by the general path.
  auto stats = client_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  uint64_t fast = 0, all = 0;
  for (const wire::ShardStats& s : stats->stats().shards()) {
    fast += s.holds_fast_path();
    all += s.ops_hold();
  }
  EXPECT_GT(fast, 0u);
  EXPECT_LT(fast, all);
}

// AsyncClient::RunAt: timers run once each, in time order, no earlier than
// asked, on the I/O thread that runs the call callbacks; a timer may set
// another; timers still waiting when the client is destroyed never run.
TEST_P(ServerTest, AnAsyncClientRunsTimersOnItsIoThreadInTimeOrder) {
  ClientOptions opts;
  opts.port = daemon_->port();
  auto async = AsyncClient::Connect(opts);
  ASSERT_TRUE(async.ok()) << async.status();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> order;
  std::vector<std::thread::id> threads;
  bool late_timer_ran = false;
  std::thread::id io_thread;
  {
    wire::Request ping;
    ping.mutable_ping();
    (*async)->Call(std::move(ping), [&](absl::StatusOr<wire::Response>) {
      std::lock_guard<std::mutex> l(mu);
      io_thread = std::this_thread::get_id();
      cv.notify_all();
    });
  }
  const uint64_t t0 = MonoNs();
  auto timer = [&](std::string name, uint64_t at) {
    return [&, name, at] {
      std::lock_guard<std::mutex> l(mu);
      EXPECT_GE(MonoNs(), at) << name << " ran early";
      order.push_back(name);
      threads.push_back(std::this_thread::get_id());
      cv.notify_all();
    };
  };
  // 200 ms apart, so that "first", registered last, is in before "a" is due
  // even if this thread is descheduled for a while (a shared CI machine).
  (*async)->RunAt(t0 + 600'000'000, timer("c", t0 + 600'000'000));
  (*async)->RunAt(t0 + 200'000'000, timer("a", t0 + 200'000'000));
  (*async)->RunAt(t0 + 400'000'000, [&, t0, inner = timer("b", t0 + 400'000'000)] {
    inner();
    (*async)->RunAt(t0, timer("d", t0));  // already due: runs next
  });
  (*async)->RunAt(0, timer("first", 0));
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return order.size() == 5; }));
    EXPECT_EQ(order, (std::vector<std::string>{"first", "a", "b", "d", "c"}));
    for (const std::thread::id& id : threads) EXPECT_EQ(id, io_thread);
  }
  (*async)->RunAt(MonoNs() + 10'000'000'000, [&] { late_timer_ran = true; });
  async->reset();  // returns at once: the 10 s timer is dropped
  EXPECT_LT(MonoNs() - t0, 5'000'000'000u);
  EXPECT_FALSE(late_timer_ran);
}

TEST_P(ServerTest, HoldAcrossShardsIsAllOrNothing) {
  ASSERT_EQ(client_->DefineEvent(Arena("gig"))->code(), wire::OK);
  auto [x, y] = SectionsOnTwoShards(client_->hello());
  ASSERT_FALSE(x.empty());
  auto both = client_->Hold("gig", {SeatAt(x, "A", "1"), SeatAt(y, "A", "1")}, "erin", 60000);
  ASSERT_EQ(both->code(), wire::OK) << both->detail();
  EXPECT_EQ(both->hold().part_hold_ids_size(), 2);
  EXPECT_EQ(both->hold().seats_size(), 2);

  // y/A/1 is taken: a hold of x/B/1 + y/A/1 must fail and leave x/B/1 free.
  auto refused = client_->Hold("gig", {SeatAt(x, "B", "1"), SeatAt(y, "A", "1")}, "frank", 60000);
  EXPECT_EQ(refused->code(), wire::SEAT_UNAVAILABLE);
  auto seats = client_->GetSeats("gig", x);
  ASSERT_EQ(seats->code(), wire::OK);
  for (const auto& s : seats->get_seats().seats()) {
    if (s.row() == "B" && s.seat() == "1") {
      EXPECT_EQ(s.state(), wire::FREE);
    }
  }
  for (uint64_t id : both->hold().part_hold_ids()) {
    EXPECT_EQ(client_->Release(id, "erin")->code(), wire::OK);
  }
}

TEST_P(ServerTest, OversizedFrameGetsBadFrameThenClose) {
  const int fd = RawConnect();
  char header[4];
  protocol::PutFrameHeader(2u << 20, header);
  SendAll(fd, std::string(header, 4));
  bool closed = false;
  auto responses = ReadUntilClose(fd, &closed);
  EXPECT_TRUE(closed);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].code(), wire::BAD_FRAME);
  close(fd);
  ExpectHealthy();
}

TEST_P(ServerTest, GarbageBodyGetsBadFrameThenClose) {
  const int fd = RawConnect();
  std::string frame(4, '\0');
  protocol::PutFrameHeader(5, frame.data());
  frame += std::string("\xff\xff\xff\xff\xff", 5);
  SendAll(fd, frame);
  bool closed = false;
  auto responses = ReadUntilClose(fd, &closed);
  EXPECT_TRUE(closed);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].code(), wire::BAD_FRAME);
  close(fd);
  ExpectHealthy();
}

TEST_P(ServerTest, UnknownOpAndOutOfRangeFieldAnswerThenClose) {
  {
    const int fd = RawConnect();
    wire::Request req;
    req.set_request_id(7);  // no op set: what an older server sees for a newer op
    std::string frame;
    protocol::AppendFrame(req, &frame);
    SendAll(fd, frame);
    bool closed = false;
    auto responses = ReadUntilClose(fd, &closed);
    EXPECT_TRUE(closed);
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].code(), wire::UNKNOWN_OP);
    EXPECT_EQ(responses[0].request_id(), 7u);
    close(fd);
  }
  {
    const int fd = RawConnect();
    wire::Request req;
    req.set_request_id(8);
    auto* h = req.mutable_hold();
    h->set_event_id("gig");
    *h->add_seats() = SeatAt("101", "A", "1");
    h->set_holder("x");
    h->set_ttl_ms(-5);
    std::string frame;
    protocol::AppendFrame(req, &frame);
    SendAll(fd, frame);
    bool closed = false;
    auto responses = ReadUntilClose(fd, &closed);
    EXPECT_TRUE(closed);
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].code(), wire::INVALID_ARGUMENT);
    EXPECT_NE(responses[0].detail().find("ttl_ms"), std::string::npos);
    close(fd);
  }
  ExpectHealthy();
}

TEST_P(ServerTest, PeerVanishingMidFrameDoesNotDisturbOthers) {
  const int fd = RawConnect();
  char header[4];
  protocol::PutFrameHeader(100, header);
  SendAll(fd, std::string(header, 4) + "partial");
  close(fd);
  ExpectHealthy();
}

TEST_P(ServerTest, DeepPipelineIsAnsweredInFull) {
  // 5,000 STATS written at once, far past max_in_flight: the server stops
  // reading while it is behind, and still answers every one.
  const int fd = RawConnect();
  std::string bytes;
  for (int i = 1; i <= 5000; ++i) {
    wire::Request req;
    req.set_request_id(static_cast<uint64_t>(i));
    req.mutable_stats();
    protocol::AppendFrame(req, &bytes);
  }
  std::thread writer([&] { SendAll(fd, bytes); });
  protocol::FrameDecoder dec(1 << 24);
  char buf[65536];
  int got = 0;
  // A bound for a hang, not a speed: a sanitized daemon on a slow host
  // answers 5,000 STATS (each a fan-out to every shard) in about 20 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (got < 5000 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    dec.Append(buf, static_cast<size_t>(n));
    std::string_view body;
    while (dec.Next(&body) == protocol::FrameDecoder::Result::kFrame) ++got;
  }
  writer.join();
  EXPECT_EQ(got, 5000);
  close(fd);
  ExpectHealthy();
}

TEST_P(ServerTest, SigtermExitsZeroQuickly) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(daemon_->Stop(), 0) << daemon_->Log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_NE(daemon_->Log().find("stopped"), std::string::npos);
}

TEST_P(ServerTest, ClientReportsRefusedConnectionClearly) {
  ClientOptions opts;
  opts.port = 1;  // nothing listens there
  auto c = Client::Connect(opts);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("is seatlockd running?"), std::string::npos) << c.status();
}

INSTANTIATE_TEST_SUITE_P(Backends, ServerTest, ::testing::Values("uring", "epoll"),
                         [](const auto& info) { return info.param; });

TEST(ServerAuth, RequestsNeedTheTokenWhenConfigured) {
  char tmpl[] = "/tmp/seatlock-token-XXXXXX";
  const int tfd = mkstemp(tmpl);
  ASSERT_GE(tfd, 0);
  ASSERT_EQ(write(tfd, "s3cret\n", 7), 7);
  close(tfd);
  Daemon d(DaemonOptions{.shards = 2, .extra_args = {std::string("--auth_token_file=") + tmpl}});
  ASSERT_TRUE(d.Start()) << d.Log();
  ClientOptions opts;
  opts.port = d.port();
  auto anon = Client::Connect(opts);
  ASSERT_TRUE(anon.ok());
  EXPECT_TRUE((*anon)->hello().auth_required());
  EXPECT_EQ((*anon)->ListEvents()->code(), wire::UNAUTHENTICATED);
  opts.auth_token = "wrong";
  auto bad = Client::Connect(opts);
  EXPECT_EQ((*bad)->ListEvents()->code(), wire::UNAUTHENTICATED);
  opts.auth_token = "s3cret";
  auto good = Client::Connect(opts);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ((*good)->DefineEvent(Arena("gig"))->code(), wire::OK);
  // Shard-port connections authenticate too.
  auto h = (*good)->Hold("gig", {SeatAt("101", "A", "1")}, "z", 1000);
  EXPECT_EQ(h->code(), wire::OK);
  EXPECT_EQ(d.Stop(), 0);
  unlink(tmpl);
}

}  // namespace
}  // namespace seatlock
