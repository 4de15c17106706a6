// EtcdClient against a real etcd (etcd_server.h): keys, transactions, leases,
// watches, and what it says when etcd is down. Every wait is bounded.
#include "cluster/etcd_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/cluster/etcd_server.h"

namespace seatlock::cluster {
namespace {

using testing::EtcdServer;
using testing::WaitFor;

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdServer::Available()) GTEST_SKIP() << "no /usr/bin/etcd (scripts/setup.sh)";
    ASSERT_TRUE(server_.Start()) << server_.Log();
    // 5 s: a slow answer on a busy machine is not what these tests check
    // (the ones about deadlines make their own clients).
    auto c = EtcdClient::Create(EtcdOptions{{server_.url()}, 5000});
    ASSERT_TRUE(c.ok()) << c.status();
    etcd_ = std::move(*c);
  }

  EtcdServer server_;
  std::unique_ptr<EtcdClient> etcd_;
};

TEST_F(EtcdClientTest, PutGetDelete) {
  auto missing = etcd_->Get("/t/a");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(missing->has_value());

  auto r1 = etcd_->Put("/t/a", "one");
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_GT(*r1, 0);
  auto kv = etcd_->Get("/t/a");
  ASSERT_TRUE(kv.ok()) << kv.status();
  ASSERT_TRUE(kv->has_value());
  EXPECT_EQ((*kv)->key, "/t/a");
  EXPECT_EQ((*kv)->value, "one");
  EXPECT_EQ((*kv)->create_revision, *r1);
  EXPECT_EQ((*kv)->mod_revision, *r1);
  EXPECT_EQ((*kv)->version, 1);
  EXPECT_EQ((*kv)->lease, 0);

  auto r2 = etcd_->Put("/t/a", std::string("two\0bytes", 9));
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_GT(*r2, *r1);
  kv = etcd_->Get("/t/a");
  ASSERT_TRUE(kv.ok() && kv->has_value());
  EXPECT_EQ((*kv)->value, std::string("two\0bytes", 9));
  EXPECT_EQ((*kv)->create_revision, *r1);
  EXPECT_EQ((*kv)->mod_revision, *r2);
  EXPECT_EQ((*kv)->version, 2);

  auto r3 = etcd_->Delete("/t/a");
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_GT(*r3, *r2);
  kv = etcd_->Get("/t/a");
  ASSERT_TRUE(kv.ok());
  EXPECT_FALSE(kv->has_value());
  // Deleting what is not there changes nothing.
  auto r4 = etcd_->Delete("/t/a");
  ASSERT_TRUE(r4.ok()) << r4.status();
  EXPECT_EQ(*r4, *r3);
}

TEST_F(EtcdClientTest, GetPrefixReturnsTheKeysUnderItInOrder) {
  for (const char* k : {"/p/c", "/p/a", "/p/b", "/q/a", "/p", "/p0"}) {
    ASSERT_TRUE(etcd_->Put(k, std::string("v") + k).ok());
  }
  auto kvs = etcd_->GetPrefix("/p/");
  ASSERT_TRUE(kvs.ok()) << kvs.status();
  ASSERT_EQ(kvs->size(), 3u);
  EXPECT_EQ((*kvs)[0].key, "/p/a");
  EXPECT_EQ((*kvs)[1].key, "/p/b");
  EXPECT_EQ((*kvs)[2].key, "/p/c");
  EXPECT_EQ((*kvs)[2].value, "v/p/c");
  auto none = etcd_->GetPrefix("/nothing/");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto all = etcd_->GetPrefix("");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 6u);
}

TEST_F(EtcdClientTest, TxnRunsSuccessOrFailure) {
  const Compare absent{"/t/lock", Compare::Target::kCreateRevision, Compare::Result::kEqual, 0, ""};
  auto r = etcd_->Txn(
      {absent},
      {TxnOp{TxnOp::Kind::kPut, "/t/lock", "me", 0}, TxnOp{TxnOp::Kind::kPut, "/t/other", "x", 0}},
      {TxnOp{TxnOp::Kind::kPut, "/t/failed", "1", 0}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->succeeded);
  auto lock = etcd_->Get("/t/lock");
  ASSERT_TRUE(lock.ok() && lock->has_value());
  // Both puts at the txn's revision.
  EXPECT_EQ((*lock)->create_revision, r->revision);
  auto other = etcd_->Get("/t/other");
  ASSERT_TRUE(other.ok() && other->has_value());
  EXPECT_EQ((*other)->mod_revision, r->revision);

  // The same compare fails now: the failure ops run instead.
  auto r2 = etcd_->Txn({absent}, {TxnOp{TxnOp::Kind::kPut, "/t/lock", "you", 0}},
                       {TxnOp{TxnOp::Kind::kPut, "/t/failed", "1", 0}});
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_FALSE(r2->succeeded);
  EXPECT_EQ((*etcd_->Get("/t/lock"))->value, "me");
  EXPECT_TRUE(etcd_->Get("/t/failed")->has_value());

  // Value, version and mod revision compares; a delete op.
  const Compare value_is_me{"/t/lock", Compare::Target::kValue, Compare::Result::kEqual, 0, "me"};
  const Compare version_1{"/t/lock", Compare::Target::kVersion, Compare::Result::kEqual, 1, ""};
  const Compare mod_above{"/t/lock", Compare::Target::kModRevision, Compare::Result::kGreater,
                          r->revision - 1, ""};
  auto r3 = etcd_->Txn({value_is_me, version_1, mod_above},
                       {TxnOp{TxnOp::Kind::kDelete, "/t/lock", "", 0}});
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_TRUE(r3->succeeded);
  EXPECT_FALSE(etcd_->Get("/t/lock")->has_value());
  // A value compare on an absent key is false.
  auto r4 =
      etcd_->Txn({Compare{"/t/lock", Compare::Target::kValue, Compare::Result::kNotEqual, 0, "x"}},
                 {TxnOp{TxnOp::Kind::kPut, "/t/lock", "again", 0}});
  ASSERT_TRUE(r4.ok()) << r4.status();
  EXPECT_FALSE(r4->succeeded);
}

TEST_F(EtcdClientTest, LeaseKeepsAKeyUntilItIsNoLongerRenewed) {
  auto lease = etcd_->LeaseGrant(1);
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(etcd_->Put("/t/leased", "x", *lease).ok());
  auto kv = etcd_->Get("/t/leased");
  ASSERT_TRUE(kv.ok() && kv->has_value());
  EXPECT_EQ((*kv)->lease, *lease);
  const Compare by_lease{"/t/leased", Compare::Target::kLease, Compare::Result::kEqual, *lease, ""};
  auto t = etcd_->Txn({by_lease}, {});
  ASSERT_TRUE(t.ok() && t->succeeded);

  // Renewed for 2.5 s (more than twice its TTL): the key stays.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
  while (std::chrono::steady_clock::now() < until) {
    auto ttl = etcd_->LeaseKeepAliveOnce(*lease);
    ASSERT_TRUE(ttl.ok()) << ttl.status();
    EXPECT_GE(*ttl, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  auto kept = etcd_->Get("/t/leased");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_TRUE(kept->has_value());

  // No longer renewed: it goes within TTL + etcd's expiry check period.
  EXPECT_TRUE(WaitFor(
      [&] {
        auto kv = etcd_->Get("/t/leased");
        return kv.ok() && !kv->has_value();
      },
      5000));
  auto gone = etcd_->LeaseKeepAliveOnce(*lease);
  EXPECT_TRUE(absl::IsNotFound(gone.status())) << gone.status();
}

TEST_F(EtcdClientTest, RevokeDeletesTheLeasesKeysAtOnce) {
  auto lease = etcd_->LeaseGrant(60);
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(etcd_->Put("/t/a", "x", *lease).ok());
  ASSERT_TRUE(etcd_->Put("/t/b", "y", *lease).ok());
  ASSERT_TRUE(etcd_->LeaseRevoke(*lease).ok());
  EXPECT_FALSE(etcd_->Get("/t/a")->has_value());
  EXPECT_FALSE(etcd_->Get("/t/b")->has_value());
  EXPECT_TRUE(absl::IsNotFound(etcd_->LeaseKeepAliveOnce(*lease).status()));
  EXPECT_TRUE(absl::IsNotFound(etcd_->LeaseRevoke(*lease)));
  // A put bound to a lease that does not exist is refused.
  EXPECT_FALSE(etcd_->Put("/t/c", "z", *lease).ok());
}

// Collects a watch's events for the test's thread.
struct Events {
  void Add(const KeyValue& kv, bool deleted) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back({kv, deleted});
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size();
  }
  std::vector<std::pair<KeyValue, bool>> Get() {
    std::lock_guard<std::mutex> lock(mu);
    return seen;
  }
  std::mutex mu;
  std::vector<std::pair<KeyValue, bool>> seen;
};

TEST_F(EtcdClientTest, WatchSeesPutsAndDeletesUnderItsPrefix) {
  Events events;
  auto watch = etcd_->WatchPrefix(
      "/w/", 0, [&](const KeyValue& kv, bool deleted) { events.Add(kv, deleted); });
  ASSERT_TRUE(watch.ok()) << watch.status();
  auto r1 = etcd_->Put("/w/a", "1");
  ASSERT_TRUE(etcd_->Put("/elsewhere", "x").ok());
  auto r2 = etcd_->Delete("/w/a");
  ASSERT_TRUE(r1.ok() && r2.ok());
  ASSERT_TRUE(WaitFor([&] { return events.size() >= 2; }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto seen = events.Get();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first.key, "/w/a");
  EXPECT_EQ(seen[0].first.value, "1");
  EXPECT_EQ(seen[0].first.mod_revision, *r1);
  EXPECT_FALSE(seen[0].second);
  EXPECT_EQ(seen[1].first.key, "/w/a");
  EXPECT_EQ(seen[1].first.mod_revision, *r2);
  EXPECT_TRUE(seen[1].second);

  // After the handle is gone, nothing more is delivered.
  watch->reset();
  ASSERT_TRUE(etcd_->Put("/w/b", "2").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(events.size(), 2u);
}

TEST_F(EtcdClientTest, WatchStartsAfterTheGivenRevision) {
  auto r1 = etcd_->Put("/w/a", "1");
  auto r2 = etcd_->Put("/w/b", "2");
  ASSERT_TRUE(r1.ok() && r2.ok());
  Events events;
  auto watch = etcd_->WatchPrefix(
      "/w/", *r1, [&](const KeyValue& kv, bool deleted) { events.Add(kv, deleted); });
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(WaitFor([&] { return events.size() >= 1; }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto seen = events.Get();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first.key, "/w/b");
  EXPECT_EQ(seen[0].first.mod_revision, *r2);
}

TEST_F(EtcdClientTest, WatchResumesAfterEtcdRestartsWithoutLosingChanges) {
  Events events;
  auto watch = etcd_->WatchPrefix(
      "/w/", 0, [&](const KeyValue& kv, bool deleted) { events.Add(kv, deleted); });
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(etcd_->Put("/w/a", "1").ok());
  ASSERT_TRUE(WaitFor([&] { return events.size() >= 1; }, 5000));
  ASSERT_TRUE(server_.Restart()) << server_.Log();
  // Written through another client before the watch can have reconnected.
  auto other = EtcdClient::Create(EtcdOptions{{server_.endpoint()}, 2000});
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(WaitFor([&] { return (*other)->Put("/w/b", "2").ok(); }, 5000));
  ASSERT_TRUE(WaitFor([&] { return events.size() >= 2; }, 10000));
  auto seen = events.Get();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].first.key, "/w/b");
}

TEST_F(EtcdClientTest, WatchFailsClearlyWhenEtcdIsDown) {
  server_.Kill9();
  auto c = EtcdClient::Create(EtcdOptions{{server_.endpoint()}, 1000});
  ASSERT_TRUE(c.ok());
  const auto start = std::chrono::steady_clock::now();
  auto watch = (*c)->WatchPrefix("/w/", 0, [](const KeyValue&, bool) {});
  EXPECT_FALSE(watch.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(3000));
  EXPECT_NE(watch.status().message().find(server_.endpoint()), std::string::npos) << watch.status();
}

TEST_F(EtcdClientTest, ClearErrorWithinTheTimeoutWhenEtcdIsDown) {
  server_.Kill9();
  auto c = EtcdClient::Create(EtcdOptions{{server_.endpoint()}, 1000});
  ASSERT_TRUE(c.ok());
  const auto start = std::chrono::steady_clock::now();
  auto kv = (*c)->Get("/t/a");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(kv.ok());
  EXPECT_TRUE(absl::IsUnavailable(kv.status()) || absl::IsDeadlineExceeded(kv.status()))
      << kv.status();
  EXPECT_LT(took, std::chrono::milliseconds(2000));
  const std::string msg(kv.status().message());
  EXPECT_NE(msg.find("etcd " + server_.endpoint()), std::string::npos) << msg;
  EXPECT_NE(msg.find("Range /t/a"), std::string::npos) << msg;
  EXPECT_NE(msg.find("UNAVAILABLE"), std::string::npos) << msg;

  // A paused etcd (connections open, no answers): the deadline bounds it.
  ASSERT_TRUE(server_.Start()) << server_.Log();
  // Connected again within gRPC's reconnect backoff (at most 1 s).
  ASSERT_TRUE(WaitFor([&] { return (*c)->Put("/t/a", "x").ok(); }, 5000));
  ASSERT_TRUE(server_.Pause());  // returns once etcd has stopped, not just been signalled
  const auto start2 = std::chrono::steady_clock::now();
  auto put = (*c)->Put("/t/a", "y");
  const auto took2 = std::chrono::steady_clock::now() - start2;
  server_.Resume();
  ASSERT_FALSE(put.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(put.status())) << put.status();
  EXPECT_LT(took2, std::chrono::milliseconds(2000));
  EXPECT_GE(took2, std::chrono::milliseconds(900));
  // And it answers again once etcd does.
  EXPECT_TRUE(WaitFor([&] { return (*c)->Get("/t/a").ok(); }, 5000));
}

TEST_F(EtcdClientTest, DeadFirstEndpointFallsThroughToALiveOne) {
  EtcdServer dead;  // never started: nothing listens on its port
  auto c = EtcdClient::Create(EtcdOptions{{dead.url(), server_.endpoint()}, 1000});
  ASSERT_TRUE(c.ok()) << c.status();
  auto r = (*c)->Put("/t/x", "1");
  ASSERT_TRUE(r.ok()) << r.status();
  auto kv = (*c)->Get("/t/x");
  ASSERT_TRUE(kv.ok() && kv->has_value()) << kv.status();
  auto lease = (*c)->LeaseGrant(5);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_TRUE((*c)->LeaseKeepAliveOnce(*lease).ok());
  Events events;
  auto watch = (*c)->WatchPrefix("/t/", 0, [&](const KeyValue& kv, bool d) { events.Add(kv, d); });
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE((*c)->Put("/t/y", "2").ok());
  EXPECT_TRUE(WaitFor([&] { return events.size() >= 1; }, 5000));

  // Both dead: the error names both.
  server_.Kill9();
  auto both = (*c)->Get("/t/x");
  ASSERT_FALSE(both.ok());
  EXPECT_TRUE(absl::IsUnavailable(both.status())) << both.status();
  EXPECT_NE(both.status().message().find(dead.endpoint()), std::string::npos) << both.status();
  EXPECT_NE(both.status().message().find(server_.endpoint()), std::string::npos) << both.status();
}

}  // namespace
}  // namespace seatlock::cluster
