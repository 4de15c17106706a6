// Resharding: a data dir written by a 2-shard seatlockd is restarted with 3
// shards, then with 1. Every sale, cancellation and idempotency record must
// follow its section to the new owner shard, and new booking ids must not
// collide with old ones.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "client/client.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon.h"

namespace seatlock {
namespace {

using testing::Daemon;
using testing::DaemonOptions;

struct Sale {
  uint64_t hold_id, booking_id;
  std::string key, section, seat;
  bool cancelled;
};

std::unique_ptr<Client> Connect(const Daemon& d) {
  ClientOptions opts;
  opts.port = d.port();
  auto c = Client::Connect(opts);
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(*c);
}

void ExpectSalesIntact(Client& c, const std::vector<Sale>& sales, const std::string& when) {
  uint64_t sold = 0;
  for (const Sale& s : sales) sold += s.cancelled ? 0 : 1;
  auto a = c.GetAvailability("tour");
  ASSERT_EQ(a->code(), wire::OK);
  EXPECT_EQ(a->get_availability().sold(), sold) << when;
  for (const Sale& s : sales) {
    auto seats = c.GetSeats("tour", s.section);
    ASSERT_EQ(seats->code(), wire::OK) << when;
    for (const auto& info : seats->get_seats().seats()) {
      if (info.row() != "A" || info.seat() != s.seat) continue;
      if (s.cancelled) {
        EXPECT_EQ(info.state(), wire::FREE) << when << " " << s.section << "/" << s.seat;
      } else {
        EXPECT_EQ(info.state(), wire::SOLD) << when << " " << s.section << "/" << s.seat;
        EXPECT_EQ(info.owner_id(), s.booking_id) << when;
      }
    }
    // A retried confirm with the same key still returns the same booking.
    auto r = c.Confirm(s.hold_id, "fan", s.key, "pay-" + s.key);
    ASSERT_EQ(r->code(), wire::OK) << when << " " << s.key << ": " << r->detail();
    EXPECT_EQ(r->confirm().booking_id(), s.booking_id) << when;
    EXPECT_TRUE(r->confirm().replayed());
  }
}

TEST(ReshardTest, SalesFollowTheirSectionsToNewShardCounts) {
  Daemon d(DaemonOptions{.shards = 2, .extra_args = {"--snapshot_bytes=2000"}});
  ASSERT_TRUE(d.Start()) << d.Log();
  std::vector<Sale> sales;
  std::set<uint64_t> booking_ids;
  {
    auto c = Connect(d);
    wire::DefineEventRequest def;
    def.set_event_id("tour");
    for (int s = 0; s < 8; ++s) {
      auto* sec = def.add_sections();
      sec->set_label("S" + std::to_string(s));
      auto* row = sec->add_rows();
      row->set_label("A");
      row->set_seat_count(20);
    }
    ASSERT_EQ(c->DefineEvent(def)->code(), wire::OK);
    for (int i = 0; i < 40; ++i) {
      const std::string section = "S" + std::to_string(i % 8);
      const std::string seat = std::to_string(i / 8 + 1);
      auto h = c->Hold("tour", {SeatAt(section, "A", seat)}, "fan", 60000);
      ASSERT_EQ(h->code(), wire::OK);
      const std::string key = "k" + std::to_string(i);
      auto r = c->Confirm(h->hold().hold_id(), "fan", key, "pay-" + key);
      ASSERT_EQ(r->code(), wire::OK);
      sales.push_back({h->hold().hold_id(), r->confirm().booking_id(), key, section, seat, false});
      booking_ids.insert(r->confirm().booking_id());
    }
    for (int i = 0; i < 40; i += 7) {
      ASSERT_EQ(c->CancelBooking(sales[i].booking_id)->code(), wire::OK);
      sales[i].cancelled = true;
    }
  }
  ASSERT_EQ(d.Stop(), 0);

  for (uint32_t shards : {3u, 1u, 2u}) {
    d.set_shards(shards);
    ASSERT_TRUE(d.Start()) << d.Log();
    EXPECT_NE(d.Log().find("resharded"), std::string::npos);
    auto c = Connect(d);
    EXPECT_EQ(c->hello().shard_count(), shards);
    ExpectSalesIntact(*c, sales, "after resharding to " + std::to_string(shards));
    // New sales get booking ids no earlier booking used; old ones still cancel.
    const std::string seat = std::to_string(10 + shards);
    auto h = c->Hold("tour", {SeatAt("S3", "A", seat)}, "fan", 60000);
    ASSERT_EQ(h->code(), wire::OK);
    const std::string key = "new-" + std::to_string(shards);
    auto r = c->Confirm(h->hold().hold_id(), "fan", key, "pay-" + key);
    ASSERT_EQ(r->code(), wire::OK);
    EXPECT_TRUE(booking_ids.insert(r->confirm().booking_id()).second) << "booking id reused";
    sales.push_back({h->hold().hold_id(), r->confirm().booking_id(), key, "S3", seat, false});
    c.reset();
    ASSERT_EQ(d.Stop(), 0);
  }
}

}  // namespace
}  // namespace seatlock
