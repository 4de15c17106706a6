// Contention: 64 client threads fight over 1,000 seats of a 2-shard seatlockd
// for a few seconds: holds with short TTLs, releases, confirms (some after
// the hold lapsed) and expiries. Afterwards the clients' own logs must show
// that no seat ever had two holders at once (ordered by fencing token), that
// no seat was sold twice, and that the server's counts match.
#include <algorithm>
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

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr int kSections = 10, kRows = 10, kSeatsPerRow = 10;

// One grant of a seat: a HOLD, or a late CONFIRM (which takes lapsed seats
// afresh under a new fencing token).
struct Grant {
  std::string seat;  // "section/row/seat"
  uint64_t fencing = 0;
  int64_t granted_ms = 0;  // server time of the grant
  int64_t expires_ms = 0;  // for holds
  enum End { kExpired, kReleased, kSold, kRefunded } end = kExpired;
  int64_t end_ms = 0;  // client time the RELEASE or CANCEL_BOOKING was sent
};

class ContentionTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ContentionTest, NoSeatEverHasTwoHoldersAndCountsMatch) {
  Daemon daemon(DaemonOptions{.shards = 2, .io = GetParam()});
  ASSERT_TRUE(daemon.Start()) << daemon.Log();
  ClientOptions opts;
  opts.port = daemon.port();
  opts.call_timeout_ms = 20000;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; ++i) {
    auto c = Client::Connect(opts);
    ASSERT_TRUE(c.ok()) << c.status();
    clients.push_back(std::move(*c));
  }
  wire::DefineEventRequest d;
  d.set_event_id("fight");
  for (int s = 0; s < kSections; ++s) {
    auto* sec = d.add_sections();
    sec->set_label("S" + std::to_string(s));
    for (int r = 0; r < kRows; ++r) {
      auto* row = sec->add_rows();
      row->set_label("R" + std::to_string(r));
      row->set_seat_count(kSeatsPerRow);
    }
  }
  ASSERT_EQ(clients[0]->DefineEvent(d)->code(), wire::OK);

  std::mutex mu;
  std::vector<Grant> grants;
  std::map<std::string, int> sold_count;
  std::atomic<int> transport_errors{0}, holds_ok{0}, refusals{0}, late_sales{0};
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 64; ++t) {
    threads.emplace_back([&, t] {
      Client& c = *clients[t % clients.size()];
      std::mt19937_64 rng(1000 + t);
      const std::string holder = "buyer-" + std::to_string(t);
      int iter = 0;
      while (std::chrono::steady_clock::now() < until) {
        ++iter;
        const int sec = static_cast<int>(rng() % kSections);
        const int row = static_cast<int>(rng() % kRows);
        const int n = 1 + static_cast<int>(rng() % 3);
        const int first = static_cast<int>(rng() % (kSeatsPerRow - n + 1));
        std::vector<wire::SeatRef> seats;
        std::vector<std::string> names;
        for (int k = 0; k < n; ++k) {
          seats.push_back(SeatAt("S" + std::to_string(sec), "R" + std::to_string(row),
                                 std::to_string(first + k + 1)));
          names.push_back("S" + std::to_string(sec) + "/R" + std::to_string(row) + "/" +
                          std::to_string(first + k + 1));
        }
        const int64_t ttl = 30 + static_cast<int64_t>(rng() % 120);
        auto h = c.Hold("fight", seats, holder, ttl);
        if (!h.ok()) {
          transport_errors++;
          continue;
        }
        if (h->code() != wire::OK) {
          EXPECT_EQ(h->code(), wire::SEAT_UNAVAILABLE) << h->detail();
          refusals++;
          continue;
        }
        holds_ok++;
        const auto& hr = h->hold();
        const int64_t granted = hr.expires_ms() - ttl;
        std::vector<Grant> mine;
        for (const auto& name : names) {
          mine.push_back({name, hr.fencing_token(), granted, hr.expires_ms(), Grant::kExpired, 0});
        }
        const int action = static_cast<int>(rng() % 10);
        if (action < 4) {  // release at once
          const int64_t sent = NowMs();
          auto r = c.Release(hr.hold_id(), holder);
          if (r.ok() && r->code() == wire::OK) {
            for (auto& g : mine) {
              g.end = Grant::kReleased;
              g.end_ms = sent;
            }
          }
        } else if (action < 6) {  // pay, sometimes past the deadline, then confirm
          std::this_thread::sleep_for(std::chrono::milliseconds(rng() % (ttl + 40)));
          const std::string key = holder + "-" + std::to_string(iter);
          auto r = c.Confirm(hr.hold_id(), holder, key, "pay-" + key);
          if (r.ok() && r->code() == wire::OK) {
            // A replay with the same key returns the same booking.
            auto again = c.Confirm(hr.hold_id(), holder, key, "pay-" + key);
            EXPECT_TRUE(again.ok() && again->code() == wire::OK && again->confirm().replayed() &&
                        again->confirm().booking_id() == r->confirm().booking_id());
            if (r->confirm().hold_lapsed()) {
              late_sales++;
              // The late sale is a new grant with its own, larger token.
              EXPECT_GT(r->confirm().fencing_token(), hr.fencing_token());
              for (const auto& name : names) {
                mine.push_back({name, r->confirm().fencing_token(), r->confirm().confirmed_ms(), 0,
                                Grant::kSold, 0});
              }
            } else {
              for (auto& g : mine) g.end = Grant::kSold;
            }
            // Half the sales are refunded at once, so the seats keep being
            // fought over for the whole run.
            if (rng() % 2 == 0) {
              const int64_t sent = NowMs();
              auto cancel = c.CancelBooking(r->confirm().booking_id());
              ASSERT_TRUE(cancel.ok() && cancel->code() == wire::OK);
              for (auto& g : mine) {
                if (g.end == Grant::kSold) {
                  g.end = Grant::kRefunded;
                  g.end_ms = sent;
                }
              }
            } else {
              std::lock_guard<std::mutex> l(mu);
              for (const auto& name : names) sold_count[name]++;
            }
          } else if (r.ok()) {
            EXPECT_TRUE(r->code() == wire::HOLD_EXPIRED_SEATS_TAKEN) << r->detail();
          }
        }  // else: let it expire
        std::lock_guard<std::mutex> l(mu);
        grants.insert(grants.end(), mine.begin(), mine.end());
      }
    });
  }
  for (auto& t : threads) t.join();

  EXPECT_EQ(transport_errors.load(), 0);
  EXPECT_GT(holds_ok.load(), 500);
  EXPECT_GT(refusals.load(), 0);

  // 1. Per seat, grants ordered by fencing token never overlap.
  std::map<std::string, std::vector<Grant>> by_seat;
  for (const auto& g : grants) by_seat[g.seat].push_back(g);
  int overlaps = 0;
  for (auto& [seat, gs] : by_seat) {
    std::sort(gs.begin(), gs.end(),
              [](const Grant& a, const Grant& b) { return a.fencing < b.fencing; });
    for (size_t i = 0; i + 1 < gs.size(); ++i) {
      const Grant& a = gs[i];
      const Grant& b = gs[i + 1];
      ASSERT_LT(a.fencing, b.fencing) << seat << ": a fencing token was granted twice";
      bool ok = true;
      switch (a.end) {
        case Grant::kSold:
          ok = false;
          break;  // nothing may follow a sale
        case Grant::kReleased:
        case Grant::kRefunded:
          ok = b.granted_ms + 1 >= a.end_ms;
          break;
        case Grant::kExpired:
          ok = b.granted_ms >= a.expires_ms;
          break;
      }
      if (!ok && ++overlaps < 5) {
        ADD_FAILURE() << seat << ": grant with token " << b.fencing << " at " << b.granted_ms
                      << " overlaps the previous one (token " << a.fencing << ", end " << a.end
                      << ", expires " << a.expires_ms << ", released at " << a.end_ms << ")";
      }
    }
  }
  EXPECT_EQ(overlaps, 0);

  // 2. Every seat sold at most once (not counting refunded sales).
  uint64_t sold_seats = 0;
  for (const auto& [seat, n] : sold_count) {
    EXPECT_EQ(n, 1) << seat << " was sold " << n << " times";
    sold_seats += static_cast<uint64_t>(n);
  }

  // 3. Once every hold has run out, the server's counts match the clients'.
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  auto a = clients[0]->GetAvailability("fight");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->get_availability().total(), 1000u);
  EXPECT_EQ(a->get_availability().held(), 0u);
  EXPECT_EQ(a->get_availability().sold(), sold_seats);
  EXPECT_EQ(a->get_availability().free(), 1000u - sold_seats);
  std::printf("contention/%s: %d holds granted, %d refused, %llu seats sold (%d late sales)\n",
              GetParam().c_str(), holds_ok.load(), refusals.load(),
              static_cast<unsigned long long>(sold_seats), late_sales.load());
  clients.clear();
  EXPECT_EQ(daemon.Stop(), 0) << daemon.Log();
}

INSTANTIATE_TEST_SUITE_P(Backends, ContentionTest, ::testing::Values("uring", "epoll"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace seatlock
