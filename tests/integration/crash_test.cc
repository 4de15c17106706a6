// Crash test: a real seatlockd takes durable confirms from several clients as
// fast as they can send them; it is killed with SIGKILL at a random moment
// and restarted on the same data dir, 20 times. After every restart, every
// confirm a client saw acknowledged must still be there: its seats SOLD to
// its booking, and a re-sent CONFIRM with the same idempotency key must
// return the same booking. No seat may ever be sold to two bookings. Small
// segments and frequent snapshots put kills mid-roll and mid-snapshot.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "client/client.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon.h"

namespace seatlock {
namespace {

using testing::Daemon;
using testing::DaemonOptions;

constexpr int kSections = 40, kRows = 20, kSeatsPerRow = 50;

struct Acked {
  uint64_t hold_id;
  uint64_t booking_id;
  std::string holder, key, payment_ref;
  std::string section, row, seat;
};

wire::DefineEventRequest Layout() {
  wire::DefineEventRequest d;
  d.set_event_id("crash");
  for (int s = 0; s < kSections; ++s) {
    auto* sec = d.add_sections();
    sec->set_label("S" + std::to_string(s));
    for (int r = 0; r < kRows; ++r) {
      auto* row = sec->add_rows();
      row->set_label("R" + std::to_string(r));
      row->set_seat_count(kSeatsPerRow);
    }
  }
  return d;
}

class CrashTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CrashTest, AcknowledgedSalesSurviveKillNine) {
  const uint64_t seed = std::random_device{}();
  std::printf("crash test seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  // Small segments and frequent snapshots, so kills also land mid-snapshot
  // and mid-roll, and restarts replay snapshot + log.
  Daemon daemon(
      DaemonOptions{.shards = 2,
                    .io = GetParam(),
                    .extra_args = {"--snapshot_bytes=300000", "--wal_segment_bytes=200000"}});
  std::vector<Acked> acked;               // every confirm ever acknowledged
  std::map<std::string, uint64_t> owner;  // seat -> the booking it was sold to
  std::atomic<int> next_seat{0};
  const int total_seats = kSections * kRows * kSeatsPerRow;

  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(daemon.Start()) << daemon.Log();
    ClientOptions opts;
    opts.port = daemon.port();
    opts.call_timeout_ms = 10000;
    auto client = Client::Connect(opts);
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_EQ((*client)->DefineEvent(Layout())->code(), wire::OK);

    // 1. Everything acknowledged before the last crash is still there.
    for (const Acked& a : acked) {
      auto r = (*client)->Confirm(a.hold_id, a.holder, a.key, a.payment_ref);
      ASSERT_TRUE(r.ok()) << r.status();
      if (r->code() != wire::OK) daemon.KeepFiles();
      ASSERT_EQ(r->code(), wire::OK)
          << "round " << round << " key " << a.key << ": " << r->detail()
          << " (daemon log and data kept in " << daemon.data_dir() << ")";
      EXPECT_TRUE(r->confirm().replayed());
      EXPECT_EQ(r->confirm().booking_id(), a.booking_id) << a.key;
    }
    std::map<std::string, std::map<std::string, wire::SeatInfo>> seats;  // section -> "row/seat"
    for (int s = 0; s < kSections; ++s) {
      const std::string label = "S" + std::to_string(s);
      auto g = (*client)->GetSeats("crash", label);
      ASSERT_TRUE(g.ok() && g->code() == wire::OK);
      for (const auto& info : g->get_seats().seats())
        seats[label][info.row() + "/" + info.seat()] = info;
    }
    for (const Acked& a : acked) {
      const wire::SeatInfo& info = seats[a.section][a.row + "/" + a.seat];
      EXPECT_EQ(info.state(), wire::SOLD) << a.section << "/" << a.row << "/" << a.seat;
      EXPECT_EQ(info.owner_id(), a.booking_id);
    }

    // 2. Clients confirm as fast as they can until the daemon is killed.
    std::mutex mu;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        const std::string holder = "client-" + std::to_string(t);
        for (int n = 0;; ++n) {
          const int i = next_seat.fetch_add(1);
          if (i >= total_seats) return;
          const std::string section = "S" + std::to_string(i / (kRows * kSeatsPerRow));
          const std::string row = "R" + std::to_string((i / kSeatsPerRow) % kRows);
          const std::string seat = std::to_string(i % kSeatsPerRow + 1);
          auto h = (*client)->Hold("crash", {SeatAt(section, row, seat)}, holder, 60000);
          if (!h.ok()) return;                  // the daemon is gone
          if (h->code() != wire::OK) continue;  // sold by a confirm that was never acknowledged
          const std::string key = holder + "-r" + std::to_string(round) + "-" + std::to_string(n);
          const std::string pay = "pay-" + key;
          auto c = (*client)->Confirm(h->hold().hold_id(), holder, key, pay);
          if (!c.ok()) return;
          if (c->code() != wire::OK) continue;
          std::lock_guard<std::mutex> l(mu);
          acked.push_back({h->hold().hold_id(), c->confirm().booking_id(), holder, key, pay,
                           section, row, seat});
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 500));
    daemon.Kill9();
    for (auto& th : threads) th.join();
    client->reset();

    // 3. No seat was ever acknowledged to two bookings.
    for (const Acked& a : acked) {
      const std::string seat = a.section + "/" + a.row + "/" + a.seat;
      auto [it, inserted] = owner.emplace(seat, a.booking_id);
      EXPECT_EQ(it->second, a.booking_id) << seat << " sold twice";
    }
  }
  std::printf("crash test: %zu acknowledged sales survived 20 kill -9 restarts\n", acked.size());
  EXPECT_GT(acked.size(), 100u);
  ASSERT_TRUE(daemon.Start()) << daemon.Log();
  EXPECT_EQ(daemon.Stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, CrashTest, ::testing::Values("uring", "epoll"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace seatlock
