// Replication without etcd: a primary Server with a WalSender, replicas'
// WalReceivers copying its shards, and the ack rule (ReplicationHub). The
// roles are set by hand here; tests/cluster/ runs the same parts under etcd.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "client/client.h"
#include "gtest/gtest.h"
#include "protocol/sharding.h"
#include "server/repl_stream.h"
#include "server/replication_hub.h"
#include "server/reshard.h"
#include "server/server.h"
#include "server/wal_receiver.h"
#include "server/wal_sender.h"

namespace seatlock {
namespace {

constexpr int64_t kEpoch = 7;

wire::DefineEventRequest Hall(const std::string& id) {
  wire::DefineEventRequest d;
  d.set_event_id(id);
  auto* sec = d.add_sections();
  sec->set_label("A");
  for (int r = 0; r < 4; ++r) {
    auto* row = sec->add_rows();
    row->set_label(std::string(1, static_cast<char>('a' + r)));
    row->set_seat_count(50);
  }
  return d;
}

template <typename F>
bool WaitFor(F cond, int64_t ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("repl_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override {
    reader_.reset();
    standby_.reset();
    promoted_.reset();
    receiver_.reset();
    sender_.reset();
    server_.reset();
    std::filesystem::remove_all(root_);
  }

  ServerConfig Config(const std::string& dir) {
    ServerConfig c;
    c.port = 0;
    c.shards = 1;
    c.data_dir = (root_ / dir).string();
    c.max_memory = 0;
    c.sync_timeout_ms = 1500;
    if (const char* io = std::getenv("SEATLOCK_TEST_IO"); io && std::string(io) == "epoll") {
      c.io = IoBackend::kEpoll;
    }
    return c;
  }

  void StartPrimary(bool require_sync, uint64_t snapshot_bytes = 256ull << 20) {
    hub_ = std::make_unique<ReplicationHub>(1, require_sync, hold_changes_);
    ServerConfig c = Config("primary");
    c.replication = hub_.get();
    c.snapshot_bytes = snapshot_bytes;
    c.wal_segment_bytes = snapshot_bytes < 65536 ? 4096 : c.wal_segment_bytes;
    server_ = std::make_unique<Server>(c);
    ASSERT_TRUE(server_->Start().ok());
    hub_->SetRole(NodeRole::kPrimary, kEpoch, "127.0.0.1:" + std::to_string(server_->main_port()));
    WalSender::Options so;
    so.data_dir = c.data_dir;
    so.shards = 1;
    so.hash_seed = protocol::kDefaultHashSeed;
    so.max_streams = max_streams_;
    so.accept_node = [](const std::string& node) { return node != "stranger"; };
    sender_ = std::make_unique<WalSender>(std::move(so), hub_.get());
    ASSERT_TRUE(sender_->Start("127.0.0.1", 0).ok());
    auto client = Client::Connect({.port = server_->main_port()});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  std::unique_ptr<WalReceiver> Receiver(const std::string& node, const std::string& dir,
                                        int64_t epoch = kEpoch,
                                        ReplicationHub* replica_hub = nullptr,
                                        bool resume = false) {
    WalReceiver::Options o;
    o.node_id = node;
    o.shard = 0;
    o.shards = 1;
    o.hash_seed = protocol::kDefaultHashSeed;
    o.epoch = epoch;
    o.primary = "127.0.0.1:" + std::to_string(sender_->port());
    o.dir = (root_ / dir / "shard-0").string();
    o.segment_bytes = 8192;
    o.hub = replica_hub;
    o.resume = resume;
    auto r = std::make_unique<WalReceiver>(o);
    r->Start();
    return r;
  }

  // Sells seat `seat` of row a; returns the booking id (0: not acknowledged).
  uint64_t Sell(uint32_t seat, const std::string& key, wire::ResultCode* code = nullptr) {
    auto hold = client_->Hold("show", {SeatIndex("A", seat)}, "buyer", 60'000);
    if (!hold.ok() || hold->code() != wire::OK) return 0;
    auto c = client_->Confirm(hold->hold().hold_id(), "buyer", key, "pay-" + key);
    if (code != nullptr) *code = c.ok() ? c->code() : wire::UNAVAILABLE;
    return c.ok() && c->code() == wire::OK ? c->confirm().booking_id() : 0;
  }

  // A replica's standby server on `dir`, applying what `replica_hub` says
  // the receiver has fsynced.
  std::unique_ptr<Server> StartStandby(const std::string& dir, ReplicationHub* replica_hub,
                                       uint64_t snapshot_bytes = 256ull << 20) {
    replica_hub->SetRole(NodeRole::kReplica, kEpoch,
                         "127.0.0.1:" + std::to_string(server_->main_port()));
    ServerConfig c = Config(dir);
    c.standby = true;
    c.replication = replica_hub;
    c.snapshot_bytes = snapshot_bytes;
    auto s = std::make_unique<Server>(c);
    absl::Status st = s->Start();
    EXPECT_TRUE(st.ok()) << st;
    return s;
  }

  // Seats of section A in state SOLD, as `c` sees them (-1: no answer).
  static int SoldOn(Client& c) {
    auto seats = c.GetSeats("show", "A");
    if (!seats.ok() || seats->code() != wire::OK) return -1;
    int sold = 0;
    for (const auto& s : seats->get_seats().seats()) sold += s.state() == wire::SOLD;
    return sold;
  }

  // The primary dies (its client, sender and server stop, and the receiver
  // with them); a standalone server starts on `dir`'s copy, as a promoted
  // replica would. Returns a client of it (nullptr if it did not start).
  // `holds`: what its standby had, to take over (ServerConfig::adopt_holds).
  std::unique_ptr<Client> PromoteCopy(
      const std::string& dir,
      std::shared_ptr<const std::vector<std::vector<HoldImage>>> holds = nullptr) {
    client_.reset();
    sender_->Stop();
    server_.reset();
    receiver_->Stop();
    EXPECT_TRUE(reshard::WriteLayout((root_ / dir).string(), {1, protocol::kDefaultHashSeed}).ok());
    ServerConfig config = Config(dir);
    config.adopt_holds = std::move(holds);
    promoted_ = std::make_unique<Server>(config);
    absl::Status st = promoted_->Start();
    EXPECT_TRUE(st.ok()) << st;
    if (!st.ok()) return nullptr;
    auto c = Client::Connect({.port = promoted_->main_port()});
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  // A raw connection to the replication port, as a hostile peer makes one.
  std::unique_ptr<ReplStream> Dial() {
    auto st = ReplStream::Connect("127.0.0.1:" + std::to_string(sender_->port()), 2000);
    EXPECT_TRUE(st.ok()) << st.status();
    return st.ok() ? std::move(*st) : nullptr;
  }

  static repl::Frame HelloFrom(const std::string& node) {
    repl::Frame f;
    repl::Hello* h = f.mutable_hello();
    h->set_node_id(node);
    h->set_shard(0);
    h->set_shards(1);
    h->set_hash_seed(protocol::kDefaultHashSeed);
    h->set_epoch(kEpoch);
    return f;
  }

  // Whether the primary closed `s` within `ms` (frames before that are read
  // and dropped).
  static bool ClosedWithin(ReplStream& s, int64_t ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    repl::Frame f;
    while (std::chrono::steady_clock::now() < until) {
      absl::Status st = s.Recv(&f, 100);
      if (!st.ok() && st.code() != absl::StatusCode::kDeadlineExceeded) return true;
    }
    return false;
  }

  // A primary (asynchronous) with the event "show", and replica "r1"
  // copying it, with its standby server and a client of it (reader_).
  void StartPrimaryAndStandby(size_t replica_hold_changes = 65536) {
    StartPrimary(/*require_sync=*/false);
    ASSERT_EQ(client_->DefineEvent(Hall("show"))->code(), wire::OK);
    replica_hub_ = std::make_unique<ReplicationHub>(1, true, replica_hold_changes);
    receiver_ = Receiver("r1", "r1", kEpoch, replica_hub_.get());
    standby_ = StartStandby("r1", replica_hub_.get());
    auto reader = Client::Connect({.port = standby_->main_port()});
    ASSERT_TRUE(reader.ok()) << reader.status();
    reader_ = std::move(*reader);
  }

  std::filesystem::path root_;
  uint32_t max_streams_ = 64;
  size_t hold_changes_ = 65536;  // the primary hub's --repl_hold_changes
  std::unique_ptr<ReplicationHub> hub_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<WalSender> sender_;
  std::unique_ptr<WalReceiver> receiver_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<Server> promoted_;  // PromoteCopy's server
  // StartPrimaryAndStandby's.
  std::unique_ptr<ReplicationHub> replica_hub_;
  std::unique_ptr<Server> standby_;
  std::unique_ptr<Client> reader_;
};

TEST_F(ReplicationTest, ConfirmWaitsForTheSyncReplicaAndSurvivesOnItsCopy) {
  StartPrimary(/*require_sync=*/true);
  receiver_ = Receiver("r1", "r1");
  hub_->SetSync("r1");
  ASSERT_TRUE(WaitFor([&] { return receiver_->caught_up(); }, 5000));
  auto def = client_->DefineEvent(Hall("show"));
  ASSERT_TRUE(def.ok());
  ASSERT_EQ(def->code(), wire::OK) << def->detail();
  const uint64_t b1 = Sell(1, "k1");
  ASSERT_NE(b1, 0u);
  // Acknowledged means on the replica's disk.
  EXPECT_GE(receiver_->durable_lsn(), hub_->local_durable(0) - 1);

  // The replica goes away: a sale is not acknowledged, and says why.
  receiver_->Stop();
  receiver_.reset();
  auto hold = client_->Hold("show", {SeatIndex("A", 2)}, "buyer", 60'000);
  ASSERT_TRUE(hold.ok());
  ASSERT_EQ(hold->code(), wire::OK);  // holds never wait for a replica
  auto c = client_->Confirm(hold->hold().hold_id(), "buyer", "k2", "pay-k2");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->code(), wire::UNAVAILABLE) << c->detail();
  EXPECT_NE(c->detail().find("synchronous replica"), std::string::npos) << c->detail();

  // A new replica copies from scratch; once it is the sync replica, the
  // retried confirm (same key) is acknowledged with its first result.
  receiver_ = Receiver("r2", "r2");
  hub_->SetSync("r2");
  ASSERT_TRUE(WaitFor([&] { return receiver_->caught_up(); }, 5000));
  auto again = client_->Confirm(hold->hold().hold_id(), "buyer", "k2", "pay-k2");
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->code(), wire::OK) << again->detail();
  const uint64_t b2 = again->confirm().booking_id();

  // The primary dies; r2's copy serves both sales, to the same bookings.
  auto client = PromoteCopy("r2");
  ASSERT_NE(client, nullptr);
  auto seats = client->GetSeats("show", "A");
  ASSERT_TRUE(seats.ok());
  int sold = 0;
  for (const auto& s : seats->get_seats().seats()) {
    if (s.state() == wire::SOLD) {
      ++sold;
      EXPECT_TRUE(s.owner_id() == b1 || s.owner_id() == b2) << s.owner_id();
    }
  }
  EXPECT_EQ(sold, 2);
  // The key was replicated too: a retry on the new primary gets the same booking.
  auto replay = client->Confirm(hold->hold().hold_id(), "buyer", "k2", "pay-k2");
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->code(), wire::OK) << replay->detail();
  EXPECT_EQ(replay->confirm().booking_id(), b2);
}

TEST_F(ReplicationTest, AStaleEpochIsRefused) {
  StartPrimary(/*require_sync=*/true);
  receiver_ = Receiver("r1", "r1", kEpoch - 1);
  ASSERT_TRUE(WaitFor([&] { return receiver_->ended(); }, 5000));
  EXPECT_NE(receiver_->status().message().find("epoch"), std::string::npos) << receiver_->status();
  EXPECT_FALSE(receiver_->caught_up());
}

// The replication port is open to whoever reaches it: a stream cap, a
// small frame limit before and after the Hello, a node id the group knows,
// and no ack above what was sent.
TEST_F(ReplicationTest, StreamsPastTheCapAreRefusedWithAReason) {
  max_streams_ = 2;
  StartPrimary(/*require_sync=*/true);
  auto idle1 = Dial();
  auto idle2 = Dial();  // both hold a slot while the primary waits for their Hello
  ASSERT_TRUE(WaitFor([&] { return hub_->repl_streams() == 2; }, 2000)) << hub_->repl_streams();
  receiver_ = Receiver("r1", "r1");
  ASSERT_TRUE(WaitFor([&] { return receiver_->ended(); }, 5000));
  EXPECT_NE(receiver_->status().message().find("--repl_max_streams"), std::string::npos)
      << receiver_->status();
  EXPECT_GE(hub_->repl_refused(), 1u);
  auto stats = client_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->stats().repl_streams(), 2u);
  EXPECT_GE(stats->stats().repl_streams_refused(), 1u);
  idle1.reset();
  idle2.reset();
  ASSERT_TRUE(WaitFor([&] { return hub_->repl_streams() == 0; }, 3000)) << hub_->repl_streams();
  receiver_ = Receiver("r1", "r1");
  EXPECT_TRUE(WaitFor([&] { return receiver_->caught_up(); }, 5000)) << receiver_->status();
}

TEST_F(ReplicationTest, AnOversizedFrameFromAPeerIsDropped) {
  StartPrimary(/*require_sync=*/true);
  auto s = Dial();
  ASSERT_NE(s, nullptr);
  // A Hello that says it is 60 MiB long: under the stream's own frame limit,
  // far over what a peer may send the primary.
  repl::Frame f = HelloFrom("r1");
  f.mutable_hello()->set_node_id(std::string(60u << 20, 'x'));
  EXPECT_FALSE(s->Send(f).ok() && !ClosedWithin(*s, 3000));
  EXPECT_TRUE(WaitFor([&] { return hub_->repl_refused() >= 1; }, 2000));
  EXPECT_TRUE(WaitFor([&] { return hub_->repl_streams() == 0; }, 3000));
}

TEST_F(ReplicationTest, ANodeTheGroupDoesNotKnowIsRefused) {
  StartPrimary(/*require_sync=*/true);
  receiver_ = Receiver("stranger", "r1");
  ASSERT_TRUE(WaitFor([&] { return receiver_->ended(); }, 5000));
  EXPECT_NE(receiver_->status().message().find("not a member"), std::string::npos)
      << receiver_->status();
  EXPECT_TRUE(hub_->Replicas().empty()) << "a refused node must leave no trace in the hub";
}

TEST_F(ReplicationTest, AnAckAboveWhatWasSentCutsTheStreamAndReleasesNothing) {
  StartPrimary(/*require_sync=*/true);
  hub_->SetSync("liar");  // the worst case: the node a CONFIRM waits for lies
  auto s = Dial();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->Send(HelloFrom("liar")).ok());
  repl::Frame f;
  ASSERT_TRUE(s->Recv(&f, 2000).ok());
  ASSERT_TRUE(f.has_start()) << f.ShortDebugString();
  ASSERT_TRUE(f.start().error().empty()) << f.start().error();
  repl::Frame ack;
  ack.mutable_ack()->set_durable_lsn(1'000'000);
  ASSERT_TRUE(s->Send(ack).ok());
  EXPECT_TRUE(ClosedWithin(*s, 3000));
  EXPECT_GE(hub_->repl_refused(), 1u);
  EXPECT_EQ(hub_->committed_limit(0), 0u) << "the lie released durable replies";
}

// Reads on a replica: its standby server applies the copy as it is
// fsynced and answers GET_SEATS, GET_AVAILABILITY and LIST_EVENTS from it;
// writes still get NOT_PRIMARY.
TEST_F(ReplicationTest, AReplicaServesReadsOfWhatItCopied) {
  StartPrimary(/*require_sync=*/true);
  hub_->SetSync("r1");
  ReplicationHub replica_hub(1, true);
  receiver_ = Receiver("r1", "r1", kEpoch, &replica_hub);
  auto standby = StartStandby("r1", &replica_hub);
  ASSERT_EQ(client_->DefineEvent(Hall("show"))->code(), wire::OK);
  for (uint32_t i = 0; i < 12; ++i) ASSERT_NE(Sell(i, "k" + std::to_string(i)), 0u);
  auto reader = Client::Connect({.port = standby->main_port()});
  ASSERT_TRUE(reader.ok()) << reader.status();
  // Acknowledged means fsynced there; applied follows within a loop pass.
  EXPECT_TRUE(WaitFor([&] { return SoldOn(**reader) == 12; }, 3000)) << SoldOn(**reader);
  auto avail = (*reader)->GetAvailability("show");
  ASSERT_TRUE(avail.ok());
  EXPECT_EQ(avail->code(), wire::OK) << avail->detail();
  auto events = (*reader)->ListEvents();
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->list_events().events_size(), 1);
  EXPECT_EQ(events->list_events().events(0).sold(), 12u);
  auto hold = (*reader)->Hold("show", {SeatIndex("A", 100)}, "buyer", 60'000);
  ASSERT_TRUE(hold.ok());
  EXPECT_EQ(hold->code(), wire::NOT_PRIMARY);
  // A later sale shows, and so does its refund.
  const uint64_t booking = Sell(20, "k20");
  ASSERT_NE(booking, 0u);
  EXPECT_TRUE(WaitFor([&] { return SoldOn(**reader) == 13; }, 3000)) << SoldOn(**reader);
  auto refund = client_->CancelBooking(booking);
  ASSERT_TRUE(refund.ok());
  ASSERT_EQ(refund->code(), wire::OK) << refund->detail();
  EXPECT_TRUE(WaitFor([&] { return SoldOn(**reader) == 12; }, 3000)) << SoldOn(**reader);
}

// A replica's log is bounded like a primary's: its standby shard snapshots
// the applied copy every --snapshot_bytes, and the receiver drops the
// segments the snapshot covers. Promoted, the copy still has every sale.
TEST_F(ReplicationTest, AReplicaSnapshotsItsCopyAndDropsTheLogItCovers) {
  StartPrimary(/*require_sync=*/true);
  hub_->SetSync("r1");
  ReplicationHub replica_hub(1, true);
  receiver_ = Receiver("r1", "r1", kEpoch, &replica_hub);  // 8 KiB segments
  auto standby = StartStandby("r1", &replica_hub, /*snapshot_bytes=*/4096);
  ASSERT_EQ(client_->DefineEvent(Hall("show"))->code(), wire::OK);
  int sold = 0;
  for (uint32_t i = 0; i < 150; ++i) sold += Sell(i, "k" + std::to_string(i)) != 0;
  ASSERT_EQ(sold, 150);
  const auto dir = root_ / "r1" / "shard-0";
  auto has = [&](const std::string& prefix) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().filename().string().rfind(prefix, 0) == 0) return true;
    }
    return false;
  };
  // One more sale after the snapshot: the receiver drops at its next batch.
  ASSERT_TRUE(WaitFor(
      [&] {
        if (sold < 200) sold += Sell(static_cast<uint32_t>(sold), "k" + std::to_string(sold)) != 0;
        return has("snapshot-") && !has("wal-00000000000000000001.log");
      },
      10'000))
      << "no snapshot of the copy, or its first segment was never dropped";
  auto reader = Client::Connect({.port = standby->main_port()});
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE(WaitFor([&] { return SoldOn(**reader) == sold; }, 3000)) << SoldOn(**reader);
  reader->reset();
  standby.reset();
  auto client = PromoteCopy("r1");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(SoldOn(*client), sold);
}

// A replica that reconnects has its new stream before the primary has seen
// the old one end: the old one's close and late acks must not count (they
// once marked a live stream disconnected, so the node was never caught up,
// never named `sync`, and every sale waited).
TEST(ReplicationHubTest, AReplacedStreamSpeaksNoMoreForItsNode) {
  ReplicationHub hub(1, /*require_sync=*/true);
  hub.PublishDurable(0, 10);
  const uint64_t old_stream = hub.OpenStream("r", 0, /*from_scratch=*/true);
  hub.Ack("r", 0, old_stream, 6);
  const uint64_t stream = hub.OpenStream("r", 0, /*from_scratch=*/true);
  ASSERT_NE(stream, old_stream);
  hub.SetSync("r");
  hub.Ack("r", 0, old_stream, 10);  // about a copy the new stream replaced
  hub.CloseStream("r", 0, old_stream);
  ASSERT_EQ(hub.Replicas().size(), 1u);
  EXPECT_TRUE(hub.Replicas()[0].connected[0]);
  EXPECT_EQ(hub.Replicas()[0].acked[0], 0u);
  EXPECT_EQ(hub.committed_limit(0), 0u);
  hub.Ack("r", 0, stream, 10);
  EXPECT_TRUE(hub.Replicas()[0].caught_up);
  EXPECT_EQ(hub.committed_limit(0), 10u);
  hub.CloseStream("r", 0, stream);
  EXPECT_FALSE(hub.Replicas()[0].connected[0]);
  hub.Ack("r", 0, 12345, 11);  // a stream the hub never opened
  EXPECT_EQ(hub.Replicas()[0].acked[0], 10u);
}

// A replica that begins a copy from scratch keeps RESYNCING, and may not
// lead, until it has caught up on every shard; the hub says so across its
// resumed streams, so the primary does not keep it as the synchronous replica
// (ClusterNode::ManageSync) while another could take its place.
TEST(ReplicationHubTest, ACopyFromScratchIsIncompleteUntilEveryShardCaughtUp) {
  ReplicationHub hub(2, /*require_sync=*/true);
  hub.PublishDurable(0, 10);
  hub.PublishDurable(1, 20);
  uint64_t s0 = hub.OpenStream("r", 0, /*from_scratch=*/false);
  uint64_t s1 = hub.OpenStream("r", 1, /*from_scratch=*/false);
  hub.Ack("r", 0, s0, 10);
  hub.Ack("r", 1, s1, 20);
  ASSERT_EQ(hub.Replicas().size(), 1u);
  EXPECT_TRUE(hub.Replicas()[0].caught_up);
  EXPECT_TRUE(hub.Replicas()[0].copy_complete);
  // It starts over from scratch: incomplete, even once shard 0 caught up and
  // shard 1's stream ends and resumes.
  s0 = hub.OpenStream("r", 0, /*from_scratch=*/true);
  s1 = hub.OpenStream("r", 1, /*from_scratch=*/true);
  EXPECT_FALSE(hub.Replicas()[0].copy_complete);
  hub.Ack("r", 0, s0, 10);
  hub.Ack("r", 1, s1, 5);
  EXPECT_FALSE(hub.Replicas()[0].caught_up);
  EXPECT_FALSE(hub.Replicas()[0].copy_complete);
  hub.CloseStream("r", 1, s1);
  s1 = hub.OpenStream("r", 1, /*from_scratch=*/false);
  hub.Ack("r", 1, s1, 19);
  EXPECT_FALSE(hub.Replicas()[0].copy_complete) << "a resumed stream does not complete a copy";
  hub.Ack("r", 1, s1, 20);
  EXPECT_TRUE(hub.Replicas()[0].caught_up);
  EXPECT_TRUE(hub.Replicas()[0].copy_complete);
  // Complete stays complete while it falls behind and resumes.
  hub.PublishDurable(1, 30);
  hub.CloseStream("r", 1, s1);
  s1 = hub.OpenStream("r", 1, /*from_scratch=*/false);
  EXPECT_FALSE(hub.Replicas()[0].caught_up);
  EXPECT_TRUE(hub.Replicas()[0].copy_complete);
}

// A seat's state (wire::SeatState) as `c` reads it; -1: no answer.
int StateOn(Client& c, uint32_t seat) {
  auto seats = c.GetSeats("show", "A");
  if (!seats.ok() || seats->code() != wire::OK) return -1;
  return seats->get_seats().seats(static_cast<int>(seat)).state();
}

// Holds reach the replica: its standby shows them, and follows their
// release, expiry and sale on the primary.
TEST_F(ReplicationTest, HoldsReachTheReplicaAndItsStandbyShowsThem) {
  StartPrimaryAndStandby();
  auto a = client_->Hold("show", {SeatIndex("A", 1)}, "ann", 60'000);
  auto b = client_->Hold("show", {SeatIndex("A", 2)}, "bob", 60'000);
  auto c = client_->Hold("show", {SeatIndex("A", 3)}, "cat", 1'000);
  ASSERT_EQ(a->code(), wire::OK);
  ASSERT_EQ(b->code(), wire::OK);
  ASSERT_EQ(c->code(), wire::OK);
  EXPECT_TRUE(WaitFor([&] { return StateOn(*reader_, 1) == wire::HELD; }, 5000));
  EXPECT_TRUE(WaitFor([&] { return StateOn(*reader_, 2) == wire::HELD; }, 5000));
  ASSERT_EQ(client_->Release(a->hold().hold_id(), "ann")->code(), wire::OK);
  auto sold = client_->Confirm(b->hold().hold_id(), "bob", "kb", "pay-kb");
  ASSERT_EQ(sold->code(), wire::OK) << sold->detail();
  EXPECT_TRUE(WaitFor([&] { return StateOn(*reader_, 1) == wire::FREE; }, 5000));
  EXPECT_TRUE(WaitFor([&] { return StateOn(*reader_, 2) == wire::SOLD; }, 5000));
  // Cat's 1 s hold expires on both.
  EXPECT_TRUE(WaitFor([&] { return StateOn(*reader_, 3) == wire::FREE; }, 5000));
}

// Hold changes pushed faster than a stream reads overflow the primary's
// ring (--repl_hold_changes): the stream tells the replica to forget its
// holds, counts it, and goes on; holds granted afterwards still arrive.
TEST_F(ReplicationTest, AStreamThatMissedHoldChangesStartsItsHoldsOver) {
  hold_changes_ = 1024;
  StartPrimaryAndStandby(/*replica_hold_changes=*/1024);
  auto a = client_->Hold("show", {SeatIndex("A", 1)}, "ann", 60'000);
  ASSERT_EQ(a->code(), wire::OK);
  ASSERT_TRUE(WaitFor([&] { return StateOn(*reader_, 1) == wire::HELD; }, 5000));
  // A burst far past the ring within a poll of the stream (10 ms; the ends
  // of holds that never were: nothing to apply).
  for (uint64_t i = 0; i < 50'000; ++i) {
    HoldChange c;
    c.gone = true;
    c.hold.hold_id = (uint64_t{1} << 40) + i;
    hub_->holds(0).Push(std::move(c));
  }
  ASSERT_GT(hub_->hold_changes_dropped(), 0u);
  EXPECT_TRUE(WaitFor([&] { return hub_->hold_resyncs() > 0; }, 5000));
  // Ann's hold was forgotten there (a lost hold only frees its seat) ...
  EXPECT_TRUE(WaitFor([&] { return StateOn(*reader_, 1) == wire::FREE; }, 5000));
  // ... and what comes next arrives again.
  auto b = client_->Hold("show", {SeatIndex("A", 2)}, "bob", 60'000);
  ASSERT_EQ(b->code(), wire::OK);
  EXPECT_TRUE(WaitFor([&] { return StateOn(*reader_, 2) == wire::HELD; }, 5000));
  auto stats = client_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_GT(stats->stats().hold_changes_dropped(), 0u);
  EXPECT_GT(stats->stats().hold_resyncs(), 0u);
}

// A promoted node takes over the holds its standby had: the holder
// confirms with the id the old primary gave, and gets the seats.
TEST_F(ReplicationTest, APromotedCopyKeepsTheHoldsThatReachedIt) {
  StartPrimaryAndStandby();
  auto a = client_->Hold("show", {SeatIndex("A", 5), SeatIndex("A", 6)}, "ann", 60'000);
  ASSERT_EQ(a->code(), wire::OK);
  const uint64_t sold = Sell(7, "k7");
  ASSERT_NE(sold, 0u);
  ASSERT_TRUE(WaitFor([&] { return StateOn(*reader_, 6) == wire::HELD; }, 5000));
  ASSERT_TRUE(WaitFor([&] { return StateOn(*reader_, 7) == wire::SOLD; }, 5000));
  reader_.reset();
  standby_->Stop();
  standby_->Wait();
  auto holds = std::make_shared<std::vector<std::vector<HoldImage>>>(standby_->LiveHolds());
  standby_.reset();
  ASSERT_EQ(holds->size(), 1u);
  ASSERT_EQ((*holds)[0].size(), 1u);
  EXPECT_GT((*holds)[0][0].remaining_ms, 50'000);

  auto client = PromoteCopy("r1", holds);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(StateOn(*client, 5), wire::HELD);
  EXPECT_EQ(StateOn(*client, 7), wire::SOLD);
  // Someone else cannot take the held seat; the holder buys it.
  auto other = client->Hold("show", {SeatIndex("A", 5)}, "zed", 60'000);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->code(), wire::SEAT_UNAVAILABLE);
  auto bought = client->Confirm(a->hold().hold_id(), "ann", "ka", "pay-ka");
  ASSERT_TRUE(bought.ok());
  ASSERT_EQ(bought->code(), wire::OK) << bought->detail();
  EXPECT_FALSE(bought->confirm().hold_lapsed());
  EXPECT_EQ(StateOn(*client, 5), wire::SOLD);
  EXPECT_EQ(StateOn(*client, 6), wire::SOLD);
  // New holds there get tokens above the old primary's.
  auto fresh = client->Hold("show", {SeatIndex("A", 9)}, "bob", 60'000);
  ASSERT_EQ(fresh->code(), wire::OK);
  EXPECT_GT(fresh->hold().fencing_token(), a->hold().fencing_token());
}

// A replica that resumes on a shard with nothing new to stream acks what it
// has at once: the primary counts it caught up (so it may be named `sync`)
// without waiting for the next record on that shard.
TEST_F(ReplicationTest, AResumedCopyWithNothingNewCountsAsCaughtUp) {
  StartPrimary(/*require_sync=*/false);
  ASSERT_EQ(client_->DefineEvent(Hall("show"))->code(), wire::OK);
  for (uint32_t i = 0; i < 5; ++i) ASSERT_NE(Sell(i, "k" + std::to_string(i)), 0u);
  auto r1_view = [&] {
    for (const auto& v : hub_->Replicas()) {
      if (v.node == "r1") return v;
    }
    return ReplicationHub::ReplicaView{};
  };
  receiver_ = Receiver("r1", "r1");
  ASSERT_TRUE(WaitFor([&] { return r1_view().caught_up; }, 5000));
  const uint64_t durable = hub_->local_durable(0);
  receiver_->Stop();
  receiver_.reset();
  ASSERT_TRUE(WaitFor([&] { return !r1_view().connected.at(0); }, 5000));
  receiver_ = Receiver("r1", "r1", kEpoch, nullptr, /*resume=*/true);
  ASSERT_TRUE(WaitFor([&] { return r1_view().caught_up; }, 5000))
      << "acked " << r1_view().acked.at(0) << " of " << durable;
  EXPECT_EQ(hub_->local_durable(0), durable) << "a record was written meanwhile";
  EXPECT_EQ(r1_view().acked.at(0), durable);
}

TEST_F(ReplicationTest, ALateReplicaGetsTheSnapshotThenTheLog) {
  // Asynchronous mode so sales need no replica; small segments and
  // snapshots, so the log no longer starts at LSN 1 when the replica comes.
  StartPrimary(/*require_sync=*/false, /*snapshot_bytes=*/2048);
  ASSERT_EQ(client_->DefineEvent(Hall("show"))->code(), wire::OK);
  int sold = 0;
  for (uint32_t i = 0; i < 150; ++i) sold += Sell(i, "k" + std::to_string(i)) != 0;
  ASSERT_EQ(sold, 150);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& e : std::filesystem::directory_iterator(root_ / "primary" / "shard-0")) {
          if (e.path().filename().string() == "wal-00000000000000000001.log") return false;
        }
        return true;
      },
      10'000))
      << "the first segment was never dropped";
  ReplicationHub replica_hub(1, true);
  receiver_ = Receiver("r1", "r1", kEpoch, &replica_hub);
  ASSERT_TRUE(WaitFor([&] { return receiver_->caught_up(); }, 5000));
  for (uint32_t i = 150; i < 170; ++i) sold += Sell(i, "k" + std::to_string(i)) != 0;
  ASSERT_TRUE(WaitFor([&] { return receiver_->durable_lsn() >= hub_->local_durable(0); }, 5000));
  {
    // Its standby applies the snapshot, then the log after it.
    auto standby = StartStandby("r1", &replica_hub);
    auto reader = Client::Connect({.port = standby->main_port()});
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_TRUE(WaitFor([&] { return SoldOn(**reader) == 170; }, 5000)) << SoldOn(**reader);
  }
  auto client = PromoteCopy("r1");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(SoldOn(*client), 170);
}

}  // namespace
}  // namespace seatlock
