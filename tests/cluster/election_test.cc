// Election and LeaseKeeper against a real etcd (etcd_server.h): who may lead,
// epochs, the sync rule, stale epochs, and the lease's health as its keeper
// sees it. Every wait is bounded.
#include "cluster/election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "cluster/lease_keeper.h"
#include "common/mono_clock.h"
#include "tests/cluster/etcd_server.h"

namespace seatlock::cluster {
namespace {

using testing::EtcdServer;
using testing::WaitFor;

NodeInfo Node(const std::string& id) {
  return NodeInfo{
      id, "127.0.0.1:74" + id.substr(1), "127.0.0.1:75" + id.substr(1), "replica", {0, 0}};
}

class ElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdServer::Available()) GTEST_SKIP() << "no /usr/bin/etcd (scripts/setup.sh)";
    ASSERT_TRUE(server_.Start()) << server_.Log();
    auto c = EtcdClient::Create(EtcdOptions{{server_.endpoint()}, 2000});
    ASSERT_TRUE(c.ok()) << c.status();
    etcd_ = std::move(*c);
  }

  int64_t Lease(int64_t ttl_s = 60) {
    auto l = etcd_->LeaseGrant(ttl_s);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? *l : 0;
  }

  EtcdServer server_;
  std::unique_ptr<EtcdClient> etcd_;
};

TEST_F(ElectionTest, OnlyOneOfTwoNodesLeadsAndItsEpochIsTheKeysCreateRevision) {
  Election a(etcd_.get(), "g", "n1");
  Election b(etcd_.get(), "g", "n2");
  const int64_t la = Lease();
  const int64_t lb = Lease();
  std::atomic<int64_t> ea{-1}, eb{-1};
  std::thread ta([&] {
    auto e = a.TryLead(Node("n1"), la);
    ea = e.ok() ? *e : -1;
  });
  std::thread tb([&] {
    auto e = b.TryLead(Node("n2"), lb);
    eb = e.ok() ? *e : -1;
  });
  ta.join();
  tb.join();
  ASSERT_GE(ea.load(), 0);
  ASSERT_GE(eb.load(), 0);
  ASSERT_TRUE((ea > 0) != (eb > 0)) << ea << " " << eb;
  const std::string winner = ea > 0 ? "n1" : "n2";
  const int64_t epoch = ea > 0 ? ea.load() : eb.load();

  auto leader = b.Leader();
  ASSERT_TRUE(leader.ok()) << leader.status();
  ASSERT_TRUE(leader->has_value());
  EXPECT_EQ((*leader)->node, Node(winner));
  EXPECT_EQ((*leader)->epoch, epoch);
  EXPECT_EQ((*leader)->lease, winner == "n1" ? la : lb);
  auto kv = etcd_->Get("/seatlock/g/leader");
  ASSERT_TRUE(kv.ok() && kv->has_value());
  EXPECT_EQ((*kv)->create_revision, epoch);
  // A new group: the winner named itself in sync, in the same transaction.
  auto sync = a.Sync();
  ASSERT_TRUE(sync.ok() && sync->has_value());
  EXPECT_EQ(**sync, winner);
  EXPECT_EQ((*etcd_->Get("/seatlock/g/sync"))->mod_revision, epoch);

  // The loser still cannot; the winner asking again (same lease) gets its epoch.
  Election& loser = winner == "n1" ? b : a;
  Election& won = winner == "n1" ? a : b;
  EXPECT_EQ(*loser.TryLead(Node(loser.node_id()), winner == "n1" ? lb : la), 0);
  EXPECT_EQ(*won.TryLead(Node(winner), winner == "n1" ? la : lb), epoch);
  // Another group is independent.
  Election other(etcd_.get(), "g2", "n2");
  EXPECT_GT(*other.TryLead(Node("n2"), lb), epoch);
}

TEST_F(ElectionTest, NodeInfoMustBeTheElectionsNode) {
  Election a(etcd_.get(), "g", "n1");
  auto e = a.TryLead(Node("n2"), Lease());
  EXPECT_TRUE(absl::IsInvalidArgument(e.status())) << e.status();
}

TEST_F(ElectionTest, OnlyTheNodeNamedInSyncMayLead) {
  Election a(etcd_.get(), "g", "n1");
  Election b(etcd_.get(), "g", "n2");
  Election c(etcd_.get(), "g", "n3");
  const int64_t la = Lease();
  const int64_t e1 = *a.TryLead(Node("n1"), la);
  ASSERT_GT(e1, 0);
  auto set = a.SetSync(e1, "n2");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(*set);
  EXPECT_EQ(**b.Sync(), "n2");

  // The primary's lease goes: no leader, sync names n2.
  ASSERT_TRUE(etcd_->LeaseRevoke(la).ok());
  EXPECT_FALSE(b.Leader()->has_value());
  EXPECT_EQ(*c.TryLead(Node("n3"), Lease()), 0);  // not named in sync
  EXPECT_EQ(*a.TryLead(Node("n1"), Lease()), 0);  // the old primary neither
  EXPECT_FALSE(b.Leader()->has_value());
  const int64_t e2 = *b.TryLead(Node("n2"), Lease());
  EXPECT_GT(e2, e1);  // epochs grow across a re-election
  EXPECT_EQ((*b.Leader())->node.node_id, "n2");
  EXPECT_EQ(**b.Sync(), "n2");  // unchanged until the new primary names another
}

TEST_F(ElectionTest, SetSyncFailsForAStaleEpoch) {
  Election a(etcd_.get(), "g", "n1");
  Election b(etcd_.get(), "g", "n2");
  const int64_t la = Lease();
  const int64_t e1 = *a.TryLead(Node("n1"), la);
  ASSERT_GT(e1, 0);
  ASSERT_TRUE(*a.SetSync(e1, "n2"));
  ASSERT_TRUE(a.Resign(e1).ok());
  EXPECT_FALSE(a.Leader()->has_value());
  const int64_t e2 = *b.TryLead(Node("n2"), Lease());
  ASSERT_GT(e2, e1);
  // n1, deposed, tries to name itself: refused, sync unchanged.
  auto stale = a.SetSync(e1, "n1");
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_FALSE(*stale);
  EXPECT_EQ(**a.Sync(), "n2");
  // Resign at a stale epoch leaves the current leader alone.
  ASSERT_TRUE(a.Resign(e1).ok());
  EXPECT_EQ((*a.Leader())->epoch, e2);
  // Epoch 0 would mean "no leader": refused outright.
  EXPECT_TRUE(absl::IsInvalidArgument(a.SetSync(0, "n1").status()));
  EXPECT_TRUE(*b.SetSync(e2, "n1"));
  EXPECT_EQ(**a.Sync(), "n1");
}

TEST_F(ElectionTest, TheLeaderKeyVanishesWhenItsLeaseExpires) {
  Election a(etcd_.get(), "g", "n1");
  auto lease = etcd_->LeaseGrant(1);
  ASSERT_TRUE(lease.ok()) << lease.status();
  const int64_t e1 = *a.TryLead(Node("n1"), *lease);
  ASSERT_GT(e1, 0);
  EXPECT_TRUE(a.Leader()->has_value());
  // Not renewed: gone within TTL + etcd's expiry check period.
  EXPECT_TRUE(WaitFor([&] { return !a.Leader()->has_value(); }, 5000));
  // sync (no lease) stays, so the same node may lead again, at a new epoch.
  EXPECT_EQ(**a.Sync(), "n1");
  EXPECT_GT(*a.TryLead(Node("n1"), Lease()), e1);
}

TEST_F(ElectionTest, MembersAreListedAndLeaseBound) {
  Election a(etcd_.get(), "g", "n1");
  Election b(etcd_.get(), "g", "n2");
  const int64_t la = Lease();
  NodeInfo n1 = Node("n1");
  n1.durable_lsn = {5, 7};
  ASSERT_TRUE(a.PutMember(n1, la).ok());
  ASSERT_TRUE(b.PutMember(Node("n2"), Lease()).ok());
  auto members = a.Members();
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0], n1);
  EXPECT_EQ((*members)[1], Node("n2"));
  // Updated in place.
  n1.durable_lsn = {9, 9};
  ASSERT_TRUE(a.PutMember(n1, la).ok());
  EXPECT_EQ((*a.Members())[0].durable_lsn, (std::vector<uint64_t>{9, 9}));
  ASSERT_TRUE(etcd_->LeaseRevoke(la).ok());
  members = b.Members();
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 1u);
  EXPECT_EQ((*members)[0].node_id, "n2");
  // A damaged value is an error naming its key.
  ASSERT_TRUE(etcd_->Put("/seatlock/g/members/bad", "garbage").ok());
  members = b.Members();
  ASSERT_FALSE(members.ok());
  EXPECT_NE(members.status().message().find("/seatlock/g/members/bad"), std::string::npos);
}

TEST_F(ElectionTest, ErrorsWhenEtcdIsDown) {
  Election a(etcd_.get(), "g", "n1");
  server_.Kill9();
  EXPECT_FALSE(a.TryLead(Node("n1"), 1).ok());
  EXPECT_FALSE(a.Leader().ok());
  EXPECT_FALSE(a.SetSync(5, "n2").ok());
}

// LeaseKeeper ----------------------------------------------------------------

TEST_F(ElectionTest, LeaseKeeperKeepsItsLeaseAliveAndStopRevokesIt) {
  LeaseKeeper keeper(etcd_.get(), 2000);
  ASSERT_TRUE(keeper.Start().ok());
  EXPECT_NE(keeper.lease(), 0);
  EXPECT_EQ(keeper.granted_ttl_s(), 2);
  EXPECT_TRUE(keeper.Healthy());
  Election a(etcd_.get(), "g", "n1");
  const int64_t epoch = *a.TryLead(Node("n1"), keeper.lease());
  ASSERT_GT(epoch, 0);
  // Two TTLs later, still healthy (renewed every 333 ms, valid 1 s past each
  // renewal's start), still leader.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(4000);
  while (std::chrono::steady_clock::now() < until) {
    EXPECT_TRUE(keeper.Healthy());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(keeper.lost());
  ASSERT_TRUE(a.Leader()->has_value());
  EXPECT_EQ((*a.Leader())->epoch, epoch);
  const int64_t lease = keeper.lease();
  keeper.Stop();
  EXPECT_FALSE(keeper.Healthy());
  EXPECT_EQ(keeper.valid_until_ns(), 0);
  EXPECT_FALSE(a.Leader()->has_value());  // revoked, not waiting for the TTL
  EXPECT_TRUE(absl::IsNotFound(etcd_->LeaseKeepAliveOnce(lease).status()));
  // Started again: a fresh lease.
  ASSERT_TRUE(keeper.Start().ok());
  EXPECT_NE(keeper.lease(), lease);
  EXPECT_TRUE(keeper.Healthy());
}

TEST_F(ElectionTest, LeaseKeeperTurnsUnhealthyWithinHalfItsTtlOfEtcdStopping) {
  LeaseKeeper keeper(etcd_.get(), 4000);
  ASSERT_TRUE(keeper.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // a renewal or two
  EXPECT_TRUE(keeper.Healthy());
  ASSERT_TRUE(server_.Pause());  // etcd answers nothing now
  const auto paused = std::chrono::steady_clock::now();
  // The last renewal started before the pause, so validity ends by then + 2 s;
  // 500 ms more for this thread to be scheduled on a busy machine.
  EXPECT_TRUE(WaitFor([&] { return !keeper.Healthy(); }, 2000 + 500));
  EXPECT_LE(std::chrono::steady_clock::now() - paused, std::chrono::milliseconds(2500));
  EXPECT_FALSE(keeper.lost());  // unreachable is not "gone"
  EXPECT_LT(keeper.valid_until_ns(), static_cast<int64_t>(seatlock::MonoNs()));
  // etcd back well within the TTL (renewed at most 1.33 s before the pause, the
  // lease lives until at least 2.67 s after it): the next renewal makes the
  // keeper healthy again.
  server_.Resume();
  EXPECT_TRUE(WaitFor([&] { return keeper.Healthy(); }, 3000));
  EXPECT_FALSE(keeper.lost());
}

TEST_F(ElectionTest, LeaseKeeperIsLostWhenEtcdSaysTheLeaseIsGone) {
  LeaseKeeper keeper(etcd_.get(), 1500);
  ASSERT_TRUE(keeper.Start().ok());
  EXPECT_FALSE(keeper.lost());
  ASSERT_TRUE(etcd_->LeaseRevoke(keeper.lease()).ok());
  // Noticed at the next renewal, within ttl/3.
  EXPECT_TRUE(WaitFor([&] { return keeper.lost(); }, 500 + 500));
  EXPECT_FALSE(keeper.Healthy());
  EXPECT_EQ(keeper.valid_until_ns(), 0);
  keeper.Stop();  // no revoke of a lost lease; fine either way
}

TEST_F(ElectionTest, LeaseKeeperValidityIsOnItsClock) {
  std::atomic<int64_t> now{1'000'000'000};
  // A long TTL: no renewal during the test, so only the grant counts.
  LeaseKeeper keeper(etcd_.get(), 30'000, [&] { return now.load(); });
  ASSERT_TRUE(keeper.Start().ok());
  EXPECT_EQ(keeper.valid_until_ns(), 1'000'000'000 + 15'000'000'000);
  EXPECT_TRUE(keeper.Healthy());
  now = 1'000'000'000 + 15'000'000'000 - 1;
  EXPECT_TRUE(keeper.Healthy());
  now = 1'000'000'000 + 15'000'000'000;
  EXPECT_FALSE(keeper.Healthy());
  EXPECT_FALSE(keeper.lost());
  keeper.Stop();
}

}  // namespace
}  // namespace seatlock::cluster
