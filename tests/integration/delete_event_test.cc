// DELETE_EVENT and recovery's continuity rule against a real seatlockd:
// a delete is refused while the event has live holds, force releases them,
// the deletion survives a restart (with and without snapshots in between),
// and an event defined again under the same id starts clean. Then: a shard
// whose snapshot was moved away, after log segments were dropped for it,
// refuses to start and says which records are missing (docs/wal.md §6).
#include <dirent.h>
#include <stdio.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon.h"

namespace seatlock {
namespace {

using testing::Daemon;
using testing::DaemonOptions;
using ::testing::HasSubstr;

// Two sections, one per shard of two (docs/protocol.md §3 vectors: gig/101 ->
// shard 0, gig/A -> shard 1), rows R, 100 seats each.
wire::DefineEventRequest Gig() {
  wire::DefineEventRequest d;
  d.set_event_id("gig");
  for (const char* label : {"101", "A"}) {
    auto* sec = d.add_sections();
    sec->set_label(label);
    auto* row = sec->add_rows();
    row->set_label("R");
    row->set_seat_count(100);
  }
  return d;
}

std::unique_ptr<Client> Connect(const Daemon& daemon) {
  ClientOptions opts;
  opts.port = daemon.port();
  opts.call_timeout_ms = 10000;
  auto client = Client::Connect(opts);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

// Holds one seat and returns the hold id (0 on failure).
uint64_t HoldSeat(Client& c, const std::string& section, const std::string& seat,
                  const std::string& holder) {
  auto h = c.Hold("gig", {SeatAt(section, "R", seat)}, holder, 600'000);
  EXPECT_TRUE(h.ok() && h->code() == wire::OK) << (h.ok() ? h->detail() : "call failed");
  return h.ok() ? h->hold().hold_id() : 0;
}

class DeleteEventTest : public ::testing::TestWithParam<bool> {};  // snapshots on every pass?

TEST_P(DeleteEventTest, RefusedWhileHeldForcedAndStillDeletedAfterRestart) {
  DaemonOptions o{.shards = 2};
  if (GetParam()) o.extra_args = {"--snapshot_bytes=1", "--wal_segment_bytes=4096"};
  Daemon daemon(o);
  ASSERT_TRUE(daemon.Start()) << daemon.Log();
  auto c = Connect(daemon);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->DefineEvent(Gig())->code(), wire::OK);
  // Sales on both shards, then one live hold.
  std::vector<uint64_t> sold_holds;
  for (int i = 1; i <= 10; ++i) {
    const std::string section = i % 2 ? "101" : "A";
    const uint64_t h = HoldSeat(*c, section, std::to_string(i), "buyer");
    auto r = c->Confirm(h, "buyer", "old-" + std::to_string(i), "pay");
    ASSERT_EQ(r->code(), wire::OK) << r->detail();
    sold_holds.push_back(h);
  }
  const uint64_t live = HoldSeat(*c, "A", "20", "buyer");

  // 1. Refused: nothing changes.
  auto refused = c->DeleteEvent("gig");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->code(), wire::EVENT_HAS_LIVE_HOLDS);
  EXPECT_THAT(refused->detail(), HasSubstr("1 held seat(s)"));
  auto avail = c->GetAvailability("gig");
  EXPECT_EQ(avail->get_availability().sold(), 10u);
  EXPECT_EQ(avail->get_availability().held(), 1u);

  // 2. Forced: the hold is released, the sales dropped.
  auto forced = c->DeleteEvent("gig", /*force=*/true);
  ASSERT_EQ(forced->code(), wire::OK) << forced->detail();
  EXPECT_EQ(forced->delete_event().holds_released(), 1u);
  EXPECT_EQ(forced->delete_event().bookings_dropped(), 10u);
  EXPECT_EQ(c->GetAvailability("gig")->code(), wire::EVENT_NOT_FOUND);
  EXPECT_EQ(c->DeleteEvent("gig")->code(), wire::EVENT_NOT_FOUND);
  EXPECT_EQ(c->Confirm(live, "buyer", "late", "pay")->code(), wire::HOLD_NOT_FOUND);
  EXPECT_EQ(c->ListEvents()->list_events().events_size(), 0);

  // 3. Defined again: it starts clean; a retried CONFIRM of an old sale
  // cannot sell a seat of it.
  ASSERT_EQ(c->DefineEvent(Gig())->code(), wire::OK);
  EXPECT_EQ(c->GetAvailability("gig")->get_availability().sold(), 0u);
  EXPECT_EQ(c->Confirm(sold_holds[0], "buyer", "old-1", "pay")->code(), wire::HOLD_NOT_FOUND);
  const uint64_t again = HoldSeat(*c, "101", "1", "new-buyer");
  auto sale = c->Confirm(again, "new-buyer", "new-1", "pay");
  ASSERT_EQ(sale->code(), wire::OK) << sale->detail();
  c.reset();

  // 4. After a restart: still deleted before, and the new event has only its
  // own sale.
  ASSERT_EQ(daemon.Stop(), 0) << daemon.Log();
  ASSERT_TRUE(daemon.Start()) << daemon.Log();
  c = Connect(daemon);
  ASSERT_NE(c, nullptr);
  auto after = c->GetAvailability("gig");
  ASSERT_EQ(after->code(), wire::OK) << after->detail();
  EXPECT_EQ(after->get_availability().sold(), 1u);
  EXPECT_EQ(after->get_availability().held(), 0u);
  auto replay = c->Confirm(again, "new-buyer", "new-1", "pay");
  ASSERT_EQ(replay->code(), wire::OK) << replay->detail();
  EXPECT_TRUE(replay->confirm().replayed());
  EXPECT_EQ(replay->confirm().booking_id(), sale->confirm().booking_id());
  EXPECT_EQ(c->Confirm(sold_holds[1], "buyer", "old-2", "pay")->code(), wire::HOLD_NOT_FOUND);
  // 5. Deleted and not defined again: gone after a restart too.
  ASSERT_EQ(c->DeleteEvent("gig", true)->code(), wire::OK);
  c.reset();
  ASSERT_EQ(daemon.Stop(), 0) << daemon.Log();
  ASSERT_TRUE(daemon.Start()) << daemon.Log();
  c = Connect(daemon);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->GetAvailability("gig")->code(), wire::EVENT_NOT_FOUND);
  EXPECT_EQ(c->ListEvents()->list_events().events_size(), 0);
  EXPECT_EQ(daemon.Stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Snapshots, DeleteEventTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Snapshots" : "LogOnly"; });

TEST(DeleteEventReshardTest, ADeletionAndARedefinitionSurviveAReshard) {
  // Each old shard's log holds DEFINE, sales, DELETE, DEFINE, sales; the new
  // shards must end with the second sales only, from every old shard.
  Daemon daemon(DaemonOptions{.shards = 2});
  ASSERT_TRUE(daemon.Start()) << daemon.Log();
  {
    auto c = Connect(daemon);
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(c->DefineEvent(Gig())->code(), wire::OK);
    for (int i = 1; i <= 6; ++i) {
      const uint64_t h = HoldSeat(*c, i % 2 ? "101" : "A", std::to_string(i), "buyer");
      ASSERT_EQ(c->Confirm(h, "buyer", "old-" + std::to_string(i), "pay")->code(), wire::OK);
    }
    ASSERT_EQ(c->DeleteEvent("gig")->code(), wire::OK);
    ASSERT_EQ(c->DefineEvent(Gig())->code(), wire::OK);
    for (int i = 1; i <= 4; ++i) {
      const uint64_t h = HoldSeat(*c, i % 2 ? "101" : "A", std::to_string(i), "buyer");
      ASSERT_EQ(c->Confirm(h, "buyer", "new-" + std::to_string(i), "pay")->code(), wire::OK);
    }
  }
  ASSERT_EQ(daemon.Stop(), 0) << daemon.Log();
  daemon.set_shards(3);
  ASSERT_TRUE(daemon.Start()) << daemon.Log();
  auto c = Connect(daemon);
  ASSERT_NE(c, nullptr);
  auto a = c->GetAvailability("gig");
  ASSERT_EQ(a->code(), wire::OK) << a->detail();
  EXPECT_EQ(a->get_availability().sold(), 4u);
  c.reset();
  EXPECT_EQ(daemon.Stop(), 0);
}

std::vector<std::string> Files(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {  // NOLINT(concurrency-mt-unsafe): this thread only
    const std::string name = e->d_name;
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  closedir(d);
  return out;
}

TEST(ContinuityTest, SnapshotMovedAwayAfterSegmentsWereDroppedRefusesToStart) {
  Daemon daemon(
      DaemonOptions{.shards = 1, .extra_args = {"--snapshot_bytes=1", "--wal_segment_bytes=4096"}});
  ASSERT_TRUE(daemon.Start()) << daemon.Log();
  const std::string shard = daemon.data_dir() + "/shard-0";
  {
    auto c = Connect(daemon);
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(c->DefineEvent(Gig())->code(), wire::OK);
    // Sell until a snapshot has let the first segment go.
    for (int i = 1; i <= 200; ++i) {
      const uint64_t h = HoldSeat(*c, i % 2 ? "101" : "A", std::to_string((i + 1) / 2), "buyer");
      ASSERT_EQ(c->Confirm(h, "buyer", "k-" + std::to_string(i), "pay")->code(), wire::OK);
      auto segments = Files(shard, "wal-");
      if (i >= 20 && !segments.empty() &&
          std::find(segments.begin(), segments.end(), "wal-00000000000000000001.log") ==
              segments.end()) {
        break;
      }
    }
  }
  ASSERT_EQ(daemon.Stop(), 0) << daemon.Log();
  auto segments = Files(shard, "wal-");
  ASSERT_EQ(std::count(segments.begin(), segments.end(), "wal-00000000000000000001.log"), 0)
      << "no segment was dropped; the test needs one";
  auto snaps = Files(shard, "snapshot-");
  ASSERT_FALSE(snaps.empty());
  for (const std::string& s : snaps) {
    ASSERT_EQ(rename((shard + "/" + s).c_str(), (daemon.data_dir() + "/" + s).c_str()), 0);
  }
  EXPECT_FALSE(daemon.Start()) << "started without the snapshot the log needs";
  EXPECT_THAT(daemon.Log(), HasSubstr("but there is no snapshot: records 1.."));
  EXPECT_THAT(daemon.Log(), HasSubstr("Restore from a backup"));
  // Put back, it starts and every sale is there.
  for (const std::string& s : snaps) {
    ASSERT_EQ(rename((daemon.data_dir() + "/" + s).c_str(), (shard + "/" + s).c_str()), 0);
  }
  ASSERT_TRUE(daemon.Start()) << daemon.Log();
  auto c = Connect(daemon);
  ASSERT_NE(c, nullptr);
  EXPECT_GE(c->GetAvailability("gig")->get_availability().sold(), 20u);
  c.reset();
  EXPECT_EQ(daemon.Stop(), 0);
}

}  // namespace
}  // namespace seatlock
