// Replica groups end to end: a real etcd (EtcdServer) and two seatlockd
// nodes (ClusterProcess) on loopback, faulted with kill -9, SIGSTOP and
// restarts while clients sell. Every client logs each CONFIRM it saw
// acknowledged; the history check at the end of each test asserts
//   - every acknowledged sale reads SOLD, to its booking, on the primary;
//   - no seat was acknowledged to two bookings.
// docs/cluster.md describes the guarantees these check.
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/async_client.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "tests/cluster/cluster_node.h"
#include "tests/cluster/etcd_server.h"

namespace seatlock {
namespace {

using cluster::testing::EtcdServer;
using testing::ClusterProcess;
using testing::FindPrimary;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kRows = 100;
constexpr uint32_t kSeatsPerRow = 100;  // 10,000 seats per event

wire::DefineEventRequest Show(const std::string& id) {
  wire::DefineEventRequest d;
  d.set_event_id(id);
  auto* sec = d.add_sections();
  sec->set_label("A");
  for (uint32_t r = 0; r < kRows; ++r) {
    auto* row = sec->add_rows();
    row->set_label("r" + std::to_string(r));
    row->set_seat_count(kSeatsPerRow);
  }
  return d;
}

// Stops and joins a load thread when the test leaves its scope, also through
// a failed ASSERT (a joinable std::thread destroyed would abort the test).
struct LoadGuard {
  std::atomic<bool>* stop;
  std::thread* thread;
  ~LoadGuard() {
    *stop = true;
    if (thread->joinable()) thread->join();
  }
};

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// The acknowledged sales of all clients: (event, seat) -> booking ids.
struct History {
  std::mutex mu;
  std::map<std::pair<std::string, uint32_t>, std::vector<uint64_t>> acked;
  // Acks that were not replays, and which node gave them.
  std::vector<std::pair<Clock::time_point, int>> new_sales;
  // Granted holds per seat: (when the grant was answered, its fencing token).
  std::map<std::pair<std::string, uint32_t>, std::vector<std::pair<Clock::time_point, uint64_t>>>
      grants;
  void Grant(const std::string& event, uint32_t seat, uint64_t token) {
    std::lock_guard<std::mutex> lock(mu);
    grants[{event, seat}].emplace_back(Clock::now(), token);
  }
  void Ack(const std::string& event, uint32_t seat, uint64_t booking, bool replayed, int node) {
    std::lock_guard<std::mutex> lock(mu);
    acked[{event, seat}].push_back(booking);
    if (!replayed) new_sales.emplace_back(Clock::now(), node);
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    size_t n = 0;
    for (auto& [k, v] : acked) n += v.size();
    return n;
  }
};

// The change feed across failovers: SUBSCRIBE (from now) to one event on
// every shard of each primary in turn, and record what the streams carry.
// Check() asserts that each stream's sequence numbers have no gap, and that
// every SOLD change names a booking the final state has (durable before
// visible: a sale is shown only once the synchronous replica has it).
class FeedWatcher {
 public:
  explicit FeedWatcher(std::string event) : event_(std::move(event)) {}
  ~FeedWatcher() { clients_.clear(); }  // joins their I/O threads first

  // Subscribes on every shard of the node at `port`.
  void Watch(uint16_t port) {
    auto c = AsyncClient::Connect({.port = port, .connect_timeout_ms = 1000});
    ASSERT_TRUE(c.ok()) << c.status();
    const uint32_t shards = (*c)->hello().shard_count();
    for (uint32_t s = 0; s < shards; ++s) {
      const size_t stream = next_stream_++;
      wire::Request req;
      req.mutable_subscribe()->set_event_id(event_);
      req.mutable_subscribe()->set_shard(s);
      req.mutable_subscribe()->set_from_now(true);
      (*c)->Subscribe(std::move(req), [this, stream](absl::StatusOr<wire::Response> r) {
        if (!r.ok() || r->code() != wire::OK) return;  // the stream ended (the node died)
        std::lock_guard<std::mutex> lock(mu_);
        uint64_t& last = last_seq_[stream];
        if (r->subscribe().changes_size() == 0 && last == 0) {
          last = r->subscribe().latest_seq();  // the first message: where it starts
          return;
        }
        for (const wire::ChangeEvent& e : r->subscribe().changes()) {
          if (last != 0 && e.seq() != last + 1) {
            gaps_.push_back("stream " + std::to_string(stream) + ": seq " +
                            std::to_string(e.seq()) + " after " + std::to_string(last));
          }
          last = e.seq();
          if (e.kind() == wire::CHANGE_SOLD) sold_.push_back(e.booking_id());
        }
      });
    }
    clients_.push_back(std::move(*c));
  }

  // `committed`: the booking ids of the event's SOLD seats on the final primary.
  void Check(const std::set<uint64_t>& committed) {
    clients_.clear();
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& g : gaps_) ADD_FAILURE() << event_ << ": feed gap: " << g;
    size_t missing = 0;
    for (uint64_t b : sold_) missing += committed.count(b) == 0;
    EXPECT_EQ(missing, 0u) << event_ << ": " << missing << " of " << sold_.size()
                           << " SOLD changes name a booking the final state does not have";
    std::printf("feed %s: %zu SOLD changes on %zu streams, %zu not committed, %zu gaps\n",
                event_.c_str(), sold_.size(), next_stream_, missing, gaps_.size());
  }

 private:
  const std::string event_;
  std::vector<std::unique_ptr<AsyncClient>> clients_;
  size_t next_stream_ = 0;
  std::mutex mu_;  // the I/O threads' callbacks and the test thread
  std::map<size_t, uint64_t> last_seq_;
  std::vector<std::string> gaps_;
  std::vector<uint64_t> sold_;
};

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdServer::Available()) GTEST_SKIP() << "etcd is not installed (scripts/setup.sh)";
    ASSERT_TRUE(etcd_.Start()) << etcd_.Log();
  }

  void StartNodes(int count = 2, int64_t lease_ttl_ms = 1000) {
    const std::vector<std::string> extra = {"--lease_ttl_ms=" + std::to_string(lease_ttl_ms),
                                            "--sync_timeout_ms=1500"};
    for (int i = 0; i < count; ++i) {
      nodes_.push_back(std::make_unique<ClusterProcess>(std::string(1, static_cast<char>('a' + i)),
                                                        etcd_.endpoint(), extra));
    }
    ASSERT_TRUE(nodes_[0]->Start());
    ASSERT_GE(FindPrimary(nodes_, 15'000), 0) << nodes_[0]->Log();
    for (int i = 1; i < count; ++i) ASSERT_TRUE(nodes_[static_cast<size_t>(i)]->Start());
  }

  std::unique_ptr<Client> Connect(int node) {
    auto c = Client::Connect({.port = nodes_[static_cast<size_t>(node)]->port(),
                              .call_timeout_ms = 3000,
                              .connect_timeout_ms = 500,
                              .backoff_max_ms = 100});
    return c.ok() ? std::move(*c) : nullptr;
  }

  // Defines `event` on the primary, retrying while no replica is in sync.
  bool Define(int primary, const std::string& event, int64_t timeout_ms = 30'000) {
    const auto start = Clock::now();
    while (MsSince(start) < timeout_ms) {
      if (auto c = Connect(primary)) {
        auto r = c->DefineEvent(Show(event));
        if (r.ok() && r->code() == wire::OK) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Clients sell random seats of `event` on whichever node is primary,
  // retrying a confirm with its key after a lost answer, until `stop`.
  void Sell(const std::string& event, int clients, std::atomic<bool>* stop, History* history,
            std::atomic<int>* primary) {
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(static_cast<uint32_t>(t * 7919 + 1));
        std::unique_ptr<Client> c;
        int on = -1;
        uint64_t n = 0;
        while (!stop->load()) {
          const int p = primary->load();
          if (c == nullptr || on != p) {
            c = p >= 0 ? Connect(p) : nullptr;
            on = p;
            if (c == nullptr) {
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
              continue;
            }
          }
          const uint32_t seat = rng() % (kRows * kSeatsPerRow);
          const std::string holder = "buyer-" + std::to_string(t);
          auto hold = c->Hold(event, {SeatIndex("A", seat)}, holder, 30'000);
          if (!hold.ok() || hold->code() != wire::OK) {
            if (!hold.ok() || hold->code() == wire::NOT_PRIMARY) {
              // Not without a pause: a self-fenced primary answers at once,
              // and a new connection per answer would use up the ephemeral
              // ports (TIME_WAIT) within seconds, for this test and the next.
              c.reset();
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            continue;
          }
          history->Grant(event, seat, hold->hold().fencing_token());
          const std::string key = event + "-" + std::to_string(t) + "-" + std::to_string(n++);
          // A lost or refused-for-now answer: the same key again, on the
          // primary of the moment, for a while (ConfirmWithRetry's rule).
          for (int attempt = 0; attempt < 40 && !stop->load(); ++attempt) {
            if (c == nullptr || on != primary->load()) {
              on = primary->load();
              c = on >= 0 ? Connect(on) : nullptr;
              if (c == nullptr) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                continue;
              }
            }
            auto r = c->Confirm(hold->hold().hold_id(), holder, key, "pay-" + key);
            if (r.ok() && r->code() == wire::OK) {
              history->Ack(event, seat, r->confirm().booking_id(), r->confirm().replayed(), on);
              break;
            }
            if (r.ok() && r->code() != wire::UNAVAILABLE && r->code() != wire::NOT_PRIMARY) break;
            if (!r.ok() || r->code() == wire::NOT_PRIMARY) c.reset();
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }
      });
    }
    for (auto& th : threads) th.join();
  }

  // The history check against the primary's seats. Also: fencing tokens
  // grow per seat: a hold granted after another on the same seat (the first
  // one lost in a failover, released or expired) has a larger token, on
  // whichever node granted it.
  void CheckHistory(int primary, History& h) {
    auto c = Connect(primary);
    ASSERT_NE(c, nullptr);
    std::map<std::string, std::vector<wire::SeatInfo>> seats;
    std::lock_guard<std::mutex> lock(h.mu);
    size_t regranted = 0;
    for (auto& [key, grants] : h.grants) {
      std::sort(grants.begin(), grants.end());
      regranted += grants.size() > 1;
      for (size_t i = 1; i < grants.size(); ++i) {
        EXPECT_GT(grants[i].second, grants[i - 1].second)
            << key.first << " seat " << key.second << ": fencing token went back";
      }
    }
    std::printf("history: %zu seats granted, %zu of them more than once\n", h.grants.size(),
                regranted);
    for (auto& [key, bookings] : h.acked) {
      const auto& [event, seat] = key;
      std::vector<uint64_t> distinct = bookings;
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
      EXPECT_EQ(distinct.size(), 1u)
          << event << " seat " << seat << " was acknowledged to " << distinct.size() << " bookings";
      if (!seats.count(event)) {
        auto r = c->GetSeats(event, "A");
        ASSERT_TRUE(r.ok());
        ASSERT_EQ(r->code(), wire::OK) << r->detail();
        seats[event].assign(r->get_seats().seats().begin(), r->get_seats().seats().end());
      }
      const wire::SeatInfo& s = seats[event][seat];
      EXPECT_EQ(s.state(), wire::SOLD) << event << " seat " << seat << ": acknowledged, lost";
      EXPECT_EQ(s.owner_id(), distinct[0]) << event << " seat " << seat;
    }
  }

  // On a failure: each node's log, STATS and a probe sale on `event`, for
  // the reason.
  void DumpNodes(const std::string& event) {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      std::printf("---- node %s:\n%s\n", nodes_[i]->id().c_str(), nodes_[i]->Log().c_str());
      if (auto n = Connect(static_cast<int>(i))) {
        auto st = n->Stats();
        if (st.ok()) {
          wire::StatsReply r = st->stats();
          r.clear_shards();
          std::printf("stats: %s\n", r.ShortDebugString().c_str());
        }
        auto h = n->Hold(event, {SeatIndex("A", 9999)}, "diag", 60'000);
        if (h.ok()) {
          std::printf("hold: %s\n", h->ShortDebugString().c_str());
          if (h->code() == wire::OK) {
            auto cf = n->Confirm(h->hold().hold_id(), "diag", "diag-key", "pay");
            if (cf.ok()) std::printf("confirm: %s\n", cf->ShortDebugString().c_str());
          }
        }
      }
    }
  }

  int Other(int i) const { return 1 - i; }

  // The booking ids of `event`'s SOLD seats on node `node`.
  std::set<uint64_t> Committed(int node, const std::string& event) {
    std::set<uint64_t> out;
    auto c = Connect(node);
    if (c == nullptr) return out;
    auto r = c->GetSeats(event, "A");
    if (!r.ok() || r->code() != wire::OK) return out;
    for (const auto& s : r->get_seats().seats()) {
      if (s.state() == wire::SOLD) out.insert(s.owner_id());
    }
    return out;
  }

  EtcdServer etcd_;
  std::vector<std::unique_ptr<ClusterProcess>> nodes_;
};

// Three nodes: after the kill, the remaining replica copies from the new
// primary and becomes its synchronous replica, so new sales resume without
// waiting for the killed node.
TEST_F(FailoverTest, Kill9OfThePrimaryUnderConfirmLoadLosesNoAcknowledgedSale) {
  StartNodes(3);
  int rounds = 20;
  if (const char* r = std::getenv("SEATLOCK_FAILOVER_ROUNDS")) rounds = std::atoi(r);
  History history;
  std::vector<int64_t> serving_ms;  // kill -> a node answers as primary, writes allowed
  std::vector<int64_t> sale_ms;     // kill -> the first new sale acknowledged
  int primary = FindPrimary(nodes_, 15'000);
  ASSERT_GE(primary, 0);
  for (int round = 0; round < rounds; ++round) {
    const std::string event = "show-" + std::to_string(round);
    ASSERT_TRUE(Define(primary, event)) << "round " << round << ": no replica in sync";
    FeedWatcher feed(event);
    feed.Watch(nodes_[static_cast<size_t>(primary)]->port());
    std::atomic<bool> stop{false};
    std::atomic<int> current{primary};
    std::thread load([&] { Sell(event, 3, &stop, &history, &current); });
    LoadGuard guard{&stop, &load};
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    const size_t before = history.size();
    const auto killed_at = Clock::now();
    nodes_[static_cast<size_t>(primary)]->Kill9();
    const int next = FindPrimary(nodes_, 10'000);
    ASSERT_GE(next, 0) << "round " << round << ": no new primary";
    ASSERT_NE(next, primary);
    serving_ms.push_back(MsSince(killed_at));
    current = next;
    feed.Watch(nodes_[static_cast<size_t>(next)]->port());
    int64_t first_sale_ms = -1;  // a new sale the new primary acknowledged
    const auto until = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < until && first_sale_ms < 0) {
      {
        std::lock_guard<std::mutex> lock(history.mu);
        for (const auto& [t, node] : history.new_sales) {
          if (t > killed_at && node == next) {
            first_sale_ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(t - killed_at).count();
            break;
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_GE(first_sale_ms, 0) << "round " << round << ": no new sale within 10 s";
    if (first_sale_ms < 0) DumpNodes(event);
    sale_ms.push_back(first_sale_ms);
    // The killed node comes back: it rejoins as a replica with a fresh copy.
    ASSERT_TRUE(nodes_[static_cast<size_t>(primary)]->Start());
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    stop = true;
    load.join();
    std::printf(
        "round %d: %zu sales acknowledged before the kill, %zu in all; new primary "
        "serving after %lld ms, first new sale after %lld ms\n",
        round, before, history.size(), static_cast<long long>(serving_ms.back()),
        static_cast<long long>(first_sale_ms));
    primary = next;
    CheckHistory(primary, history);
    feed.Check(Committed(primary, event));
    if (HasFailure()) break;
  }
  auto summary = [](const char* what, std::vector<int64_t> v) {
    std::sort(v.begin(), v.end());
    if (v.empty()) return;
    std::printf("%s over %zu rounds: min %lld, median %lld, max %lld ms\n", what, v.size(),
                static_cast<long long>(v.front()), static_cast<long long>(v[v.size() / 2]),
                static_cast<long long>(v.back()));
  };
  summary("kill -9 -> new primary serving", serving_ms);
  summary("kill -9 -> first new sale acknowledged", sale_ms);
  EXPECT_GT(history.size(), 0u);
}

TEST_F(FailoverTest, APausedPrimaryAcknowledgesNothingAfterTheTakeover) {
  StartNodes();
  int primary = FindPrimary(nodes_, 15'000);
  ASSERT_GE(primary, 0);
  ASSERT_TRUE(Define(primary, "paused"));
  History history;
  std::atomic<bool> stop{false};
  std::atomic<int> current{primary};
  std::thread load([&] { Sell("paused", 3, &stop, &history, &current); });
  LoadGuard guard{&stop, &load};
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  ASSERT_TRUE(nodes_[static_cast<size_t>(primary)]->Pause());  // well past its 1 s lease
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  const int next = FindPrimary(nodes_, 10'000);
  ASSERT_EQ(next, Other(primary));
  current = next;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  nodes_[static_cast<size_t>(primary)]->Resume();  // it must notice it was deposed
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  stop = true;
  load.join();
  // Every sale any node acknowledged, the old primary after its pause
  // included, is on the new primary.
  CheckHistory(next, history);
  EXPECT_GT(history.size(), 0u);
  EXPECT_NE(nodes_[static_cast<size_t>(primary)]->Log().find("deposed"), std::string::npos);
}

TEST_F(FailoverTest, WithoutItsReplicaAPrimaryRefusesToAcknowledgeThenResumes) {
  StartNodes();
  const int primary = FindPrimary(nodes_, 15'000);
  ASSERT_GE(primary, 0);
  ASSERT_TRUE(Define(primary, "strict"));
  auto c = Connect(primary);
  ASSERT_NE(c, nullptr);
  auto sell = [&](uint32_t seat, const std::string& key) {
    auto h = c->Hold("strict", {SeatIndex("A", seat)}, "buyer", 60'000);
    EXPECT_TRUE(h.ok() && h->code() == wire::OK);
    return std::make_pair(h->hold().hold_id(),
                          c->Confirm(h->hold().hold_id(), "buyer", key, "pay-" + key));
  };
  auto [hold1, ok] = sell(1, "k1");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->code(), wire::OK) << ok->detail();
  nodes_[static_cast<size_t>(Other(primary))]->Kill9();
  auto [hold2, refused] = sell(2, "k2");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->code(), wire::UNAVAILABLE) << refused->detail();
  ASSERT_TRUE(nodes_[static_cast<size_t>(Other(primary))]->Start());
  // Once the replica has copied again, the same key is acknowledged.
  bool acked = false;
  const auto start = Clock::now();
  while (!acked && MsSince(start) < 30'000) {
    auto r = c->Confirm(hold2, "buyer", "k2", "pay-k2");
    acked = r.ok() && r->code() == wire::OK;
    if (!acked) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(acked) << nodes_[static_cast<size_t>(Other(primary))]->Log();
}

TEST_F(FailoverTest, TheClientLibraryFollowsThePrimary) {
  StartNodes();
  const int primary = FindPrimary(nodes_, 15'000);
  ASSERT_GE(primary, 0);
  ASSERT_TRUE(Define(primary, "follow"));
  // Listed replica first: the client must find the primary itself.
  auto client = Client::Connect({.call_timeout_ms = 10'000,
                                 .nodes = {nodes_[static_cast<size_t>(Other(primary))]->address(),
                                           nodes_[static_cast<size_t>(primary)]->address()}});
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->hello().role(), "primary");
  auto h = (*client)->Hold("follow", {SeatIndex("A", 5)}, "buyer", 60'000);
  ASSERT_TRUE(h.ok() && h->code() == wire::OK);
  auto first = (*client)->ConfirmWithRetry(h->hold().hold_id(), "buyer", "follow-k", "pay");
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->code(), wire::OK) << first->detail();
  nodes_[static_cast<size_t>(primary)]->Kill9();
  // The same key on the new primary: the same booking, found by the client.
  auto again =
      (*client)->ConfirmWithRetry(h->hold().hold_id(), "buyer", "follow-k", "pay", /*attempts=*/20);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->code(), wire::OK) << again->detail();
  EXPECT_EQ(again->confirm().booking_id(), first->confirm().booking_id());
  EXPECT_EQ((*client)->hello().role(), "primary");
  auto h2 = (*client)->Hold("follow", {SeatIndex("A", 6)}, "buyer", 60'000);
  ASSERT_TRUE(h2.ok());
  EXPECT_EQ(h2->code(), wire::OK) << h2->detail();
}

// seatctl cluster and info on a real group, and the same in STATS.
TEST_F(FailoverTest, SeatctlClusterShowsTheGroupAndItsLag) {
  StartNodes();
  const int primary = FindPrimary(nodes_, 15'000);
  ASSERT_GE(primary, 0);
  ASSERT_TRUE(Define(primary, "ops"));  // needs the replica named sync
  const std::string replica_id = nodes_[static_cast<size_t>(Other(primary))]->id();
  auto run = [](const std::string& args) {
    std::string out;
    FILE* p = popen((std::string(SEATCTL_PATH) + " " + args + " 2>&1").c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    return std::make_pair(WEXITSTATUS(status), out);
  };
  // Asking the replica alone finds the primary through it.
  auto [code, out] =
      run("--addr " + nodes_[static_cast<size_t>(Other(primary))]->address() + " cluster");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("synchronous replica: " + replica_id), std::string::npos) << out;
  EXPECT_NE(out.find("primary"), std::string::npos) << out;
  EXPECT_NE(out.find(nodes_[static_cast<size_t>(primary)]->address()), std::string::npos) << out;
  auto [icode, info] = run("--addr " + nodes_[static_cast<size_t>(primary)]->address() + " info");
  EXPECT_EQ(icode, 0) << info;
  EXPECT_TRUE(std::regex_search(info, std::regex("role +primary\n"))) << info;
  EXPECT_TRUE(std::regex_search(info, std::regex("epoch +[1-9]"))) << info;
  auto c = Connect(primary);
  ASSERT_NE(c, nullptr);
  auto stats = c->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->stats().role(), "primary");
  EXPECT_EQ(stats->stats().sync_replica(), replica_id);
  ASSERT_EQ(stats->stats().replicas_size(), 1);
  EXPECT_EQ(stats->stats().replicas(0).acked_lsn_size(), 2);
}

// A replica answers reads from its applied copy (a little behind, without
// holds), and NOT_PRIMARY to writes.
TEST_F(FailoverTest, AReplicaServesReadsOfItsCopy) {
  StartNodes();
  const int primary = FindPrimary(nodes_, 15'000);
  ASSERT_GE(primary, 0);
  ASSERT_TRUE(Define(primary, "reads"));
  auto p = Connect(primary);
  ASSERT_NE(p, nullptr);
  int sold = 0;
  for (uint32_t seat = 0; seat < 20; ++seat) {
    auto h = p->Hold("reads", {SeatIndex("A", seat)}, "buyer", 60'000);
    ASSERT_TRUE(h.ok() && h->code() == wire::OK);
    auto c = p->Confirm(h->hold().hold_id(), "buyer", "reads-" + std::to_string(seat), "pay");
    sold += c.ok() && c->code() == wire::OK;
  }
  ASSERT_EQ(sold, 20);
  auto held = p->Hold("reads", {SeatIndex("A", 500)}, "buyer", 60'000);
  ASSERT_TRUE(held.ok() && held->code() == wire::OK);
  auto r = Connect(Other(primary));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->hello().role(), "replica");
  auto on_replica = [&](wire::SeatState state) -> int {
    auto seats = r->GetSeats("reads", "A");
    if (!seats.ok() || seats->code() != wire::OK) return -1;
    int n = 0;
    for (const auto& s : seats->get_seats().seats()) n += s.state() == state;
    return n;
  };
  EXPECT_TRUE(cluster::testing::WaitFor([&] { return on_replica(wire::SOLD) == 20; }, 5000))
      << on_replica(wire::SOLD);
  // Holds are replicated too.
  EXPECT_TRUE(cluster::testing::WaitFor([&] { return on_replica(wire::HELD) == 1; }, 5000))
      << on_replica(wire::HELD);
  auto write = r->Hold("reads", {SeatIndex("A", 600)}, "buyer", 60'000);
  ASSERT_TRUE(write.ok());
  EXPECT_EQ(write->code(), wire::NOT_PRIMARY);
}

// A hold that reached the replicas survives the primary's kill -9: the
// holder confirms it on the new primary with the id the old one gave, and
// nobody else can take its seats meanwhile.
TEST_F(FailoverTest, AHoldSurvivesTheFailover) {
  StartNodes(3);
  const int primary = FindPrimary(nodes_, 15'000);
  ASSERT_GE(primary, 0);
  ASSERT_TRUE(Define(primary, "kept"));
  auto p = Connect(primary);
  ASSERT_NE(p, nullptr);
  auto held = p->Hold("kept", {SeatIndex("A", 42), SeatIndex("A", 43)}, "ann", 60'000);
  ASSERT_TRUE(held.ok() && held->code() == wire::OK);
  auto held_on = [&](int node) {
    auto c = Connect(node);
    if (c == nullptr) return false;
    auto seats = c->GetSeats("kept", "A");
    return seats.ok() && seats->code() == wire::OK &&
           seats->get_seats().seats(42).state() == wire::HELD &&
           seats->get_seats().seats(43).state() == wire::HELD;
  };
  for (int i = 0; i < 3; ++i) {
    if (i == primary) continue;
    ASSERT_TRUE(cluster::testing::WaitFor([&] { return held_on(i); }, 5000)) << "node " << i;
  }
  p.reset();
  nodes_[static_cast<size_t>(primary)]->Kill9();
  const int next = FindPrimary(nodes_, 10'000);
  ASSERT_GE(next, 0);
  ASSERT_NE(next, primary);
  auto n = Connect(next);
  ASSERT_NE(n, nullptr);
  auto other = n->Hold("kept", {SeatIndex("A", 42)}, "zed", 60'000);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->code(), wire::SEAT_UNAVAILABLE) << other->ShortDebugString();
  // The confirm waits for the remaining replica to copy the new primary.
  bool bought = false;
  for (int attempt = 0; attempt < 40 && !bought; ++attempt) {
    auto c = n->Confirm(held->hold().hold_id(), "ann", "kept-key", "pay");
    ASSERT_TRUE(c.ok()) << c.status();
    if (c->code() == wire::OK) {
      bought = true;
      EXPECT_FALSE(c->confirm().hold_lapsed());
      break;
    }
    ASSERT_EQ(c->code(), wire::UNAVAILABLE) << c->detail();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(bought);
}

#ifdef SEATBENCH_PATH
// seatbench --nodes (raw client) follows a failover in the middle of its
// run: the primary is killed while it sells; seatbench finds the new one,
// reconnects, and its --verify finds every sale it saw acknowledged SOLD to
// its booking there.
TEST_F(FailoverTest, SeatbenchFollowsAFailoverMidRun) {
  StartNodes(3);
  const int primary = FindPrimary(nodes_, 15'000);
  ASSERT_GE(primary, 0);
  ASSERT_TRUE(Define(primary, "warm"));  // a synchronous replica is named
  std::string list;
  for (const auto& n : nodes_) list += (list.empty() ? "" : ",") + n->address();
  std::string out;
  int status = -1;
  std::thread bench([&] {
    const std::string cmd = std::string(SEATBENCH_PATH) + " --nodes " + list +
                            " --client raw --workload hold-confirm --connections 4 --seats 20000"
                            " --duration 7 --warmup 0 --verify 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    status = pclose(p);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  nodes_[static_cast<size_t>(primary)]->Kill9();
  bench.join();
  ASSERT_TRUE(WIFEXITED(status)) << out;
  EXPECT_EQ(WEXITSTATUS(status), 0) << out;
  // Once failed here in CI (no primary within 30 s): each node's log, STATS
  // and a probe sale, for the reason.
  if (WEXITSTATUS(status) != 0) DumpNodes("warm");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("(\\d+) reconnections to a primary"))) << out;
  EXPECT_GT(std::stoll(m[1]), 0) << out;
  EXPECT_NE(out.find("verify: OK"), std::string::npos) << out;
  EXPECT_NE(out.find("a failover happened"), std::string::npos) << out;
  std::printf("%s", out.c_str());
}
#endif

// Sells one seat on `node` by hand; true if the CONFIRM was acknowledged.
bool SellOne(Client& c, const std::string& event, uint32_t seat, const std::string& key) {
  auto h = c.Hold(event, {SeatIndex("A", seat)}, "by-hand", 60'000);
  if (!h.ok() || h->code() != wire::OK) return false;
  auto r = c.Confirm(h->hold().hold_id(), "by-hand", key, "pay-" + key);
  return r.ok() && r->code() == wire::OK;
}

// etcd briefly unreachable (SIGSTOP): shorter than half the lease, the
// primary keeps selling through it; longer, it stops answering writes, and
// once etcd is back exactly one node is primary. The history check covers
// both: no acknowledged sale lost, no seat acknowledged twice.
TEST_F(FailoverTest, AnEtcdPauseKeepsOnePrimaryAndLosesNoSale) {
  StartNodes(2, /*lease_ttl_ms=*/3000);
  int primary = FindPrimary(nodes_, 15'000);
  ASSERT_GE(primary, 0);
  ASSERT_TRUE(Define(primary, "pause"));
  // The sales made by hand go to their own event: the load can sell out
  // "pause" within the test.
  ASSERT_TRUE(Define(primary, "by-hand"));
  History history;
  std::atomic<bool> stop{false};
  std::atomic<int> current{primary};
  std::thread load([&] { Sell("pause", 2, &stop, &history, &current); });
  LoadGuard guard{&stop, &load};
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto c = Connect(primary);
  ASSERT_NE(c, nullptr);
  // Short: 900 ms, under the 1.5 s the last renewal (at most 500 ms old)
  // leaves. Sales go on during it.
  ASSERT_TRUE(etcd_.Pause());
  const auto paused = Clock::now();
  int sold_during = 0;
  for (uint32_t seat = 9000; MsSince(paused) < 700; ++seat) {
    sold_during += SellOne(*c, "by-hand", seat, "short-" + std::to_string(seat));
  }
  std::this_thread::sleep_for(
      std::chrono::milliseconds(900 - std::min<int64_t>(900, MsSince(paused))));
  etcd_.Resume();
  EXPECT_GT(sold_during, 0) << "the primary stopped selling during a pause shorter than its lease";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(FindPrimary(nodes_, 5'000), primary);
  // Long: 4 s, past the whole lease. The primary must stop answering writes
  // within half the lease of its last renewal.
  ASSERT_TRUE(etcd_.Pause());
  const auto paused2 = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  auto hold = c->Hold("by-hand", {SeatIndex("A", 9990)}, "by-hand", 60'000);
  ASSERT_TRUE(hold.ok()) << hold.status();
  EXPECT_EQ(hold->code(), wire::NOT_PRIMARY)
      << "still answering writes " << MsSince(paused2) << " ms into an etcd outage";
  std::this_thread::sleep_for(std::chrono::milliseconds(1800));
  etcd_.Resume();
  // etcd may expire the old lease as it resumes, and an election follow:
  // sell on whichever node is primary until a sale goes through.
  bool sold = false;
  uint32_t seat = 9500;
  const auto resumed = Clock::now();
  while (!sold && MsSince(resumed) < 30'000) {
    const int p = FindPrimary(nodes_, 5'000);
    if (p < 0) continue;
    current = p;
    auto fresh = Connect(p);
    for (int i = 0; fresh != nullptr && i < 5 && !sold; ++i, ++seat) {
      sold = SellOne(*fresh, "by-hand", seat, "after-outage-" + std::to_string(seat));
    }
    if (!sold) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(sold) << "no sale within 30 s of etcd coming back";
  if (!sold) DumpNodes("by-hand");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  load.join();
  auto count_primaries = [&] {
    int primaries = 0;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      auto n = Connect(static_cast<int>(i));
      if (n != nullptr && n->hello().role() == "primary") {
        auto probe = n->GetHold(1);
        primaries += probe.ok() && probe->code() == wire::HOLD_NOT_FOUND;
      }
    }
    return primaries;
  };
  int primaries = 0;
  const bool one = cluster::testing::WaitFor(
      [&] {
        primaries = count_primaries();
        EXPECT_LE(primaries, 1) << "two nodes answer writes";
        return primaries == 1;
      },
      10'000);
  EXPECT_TRUE(one) << primaries << " nodes answer writes";
  const int after = FindPrimary(nodes_, 5'000);
  if ((!one || after < 0) && sold) DumpNodes("by-hand");
  ASSERT_GE(after, 0);
  CheckHistory(after, history);
}

TEST_F(FailoverTest, AnEtcdRestartLeavesOnePrimaryServing) {
  StartNodes();
  const int primary = FindPrimary(nodes_, 15'000);
  ASSERT_GE(primary, 0);
  ASSERT_TRUE(Define(primary, "etcd"));
  ASSERT_TRUE(etcd_.Restart()) << etcd_.Log();
  // The same node stays (or becomes again) the only primary, and sells.
  const int after = FindPrimary(nodes_, 15'000);
  ASSERT_GE(after, 0);
  int primaries = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    auto c = Connect(static_cast<int>(i));
    if (c != nullptr && c->hello().role() == "primary") {
      auto probe = c->GetHold(1);
      primaries += probe.ok() && probe->code() == wire::HOLD_NOT_FOUND;
    }
  }
  EXPECT_EQ(primaries, 1);
  auto c = Connect(after);
  ASSERT_NE(c, nullptr);
  bool sold = false;
  const auto start = Clock::now();
  while (!sold && MsSince(start) < 15'000) {
    auto h = c->Hold("etcd", {SeatIndex("A", 3)}, "buyer", 60'000);
    if (h.ok() && h->code() == wire::OK) {
      auto r = c->Confirm(h->hold().hold_id(), "buyer", "etcd-k", "pay");
      sold = r.ok() && r->code() == wire::OK;
    }
    if (!sold) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(sold);
}

}  // namespace
}  // namespace seatlock
