// The engine's side of replicated holds (docs/cluster.md): the HoldJournal
// a primary's engine feeds, and RestoreHold / DropHold / LiveHolds, which a
// replica's engine and a promoted node use. Time is a ManualClock per engine;
// nothing sleeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/clock.h"
#include "engine/layout.h"
#include "engine/seat_engine.h"

namespace seatlock {
namespace {

EventLayout Hall() {
  EventLayout e;
  e.event_id = "show";
  SectionLayout s;
  s.label = "A";
  RowLayout r;
  r.label = "1";
  r.seat_count = 10;
  s.rows.push_back(r);
  e.sections.push_back(s);
  return e;
}

// Records what the journal is told, in order.
class Recorder : public HoldJournal {
 public:
  void OnHoldSet(const HoldImage& h) override { sets.push_back(h); }
  void OnHoldGone(uint64_t id) override { gone.push_back(id); }
  std::vector<HoldImage> sets;
  std::vector<uint64_t> gone;
};

struct Node {
  explicit Node(int64_t now_ms, HoldJournal* journal = nullptr) : clock(now_ms) {
    SeatEngine::Options o;
    o.clock = &clock;
    o.journal = journal;
    engine = std::make_unique<SeatEngine>(std::move(o));
    EXPECT_EQ(engine->DefineEvent(Hall()).code, ResultCode::kOk);
  }
  SeatState StateOf(uint32_t seat) { return engine->PeekSeat("show", {0, seat})->state; }
  ManualClock clock;
  std::unique_ptr<SeatEngine> engine;
};

TEST(HoldJournalTest, TellsEveryGrantExtendAndEnd) {
  Recorder rec;
  Node primary(1'000'000, &rec);
  SeatEngine& e = *primary.engine;
  const HoldResult a = e.Hold("show", {{0, 1}, {0, 2}}, "ann", 60'000);
  ASSERT_EQ(a.code, ResultCode::kOk);
  ASSERT_EQ(rec.sets.size(), 1u);
  EXPECT_EQ(rec.sets[0].hold_id, a.hold_id);
  EXPECT_EQ(rec.sets[0].fencing_token, a.fencing_token);
  EXPECT_EQ(rec.sets[0].event_id, "show");
  EXPECT_EQ(rec.sets[0].holder, "ann");
  EXPECT_EQ(rec.sets[0].seats.size(), 2u);
  EXPECT_EQ(rec.sets[0].remaining_ms, 60'000);
  EXPECT_EQ(rec.sets[0].age_ms, 0);

  primary.clock.AdvanceMs(10'000);
  ASSERT_EQ(e.Extend(a.hold_id, "ann", 120'000).code, ResultCode::kOk);
  ASSERT_EQ(rec.sets.size(), 2u);
  EXPECT_EQ(rec.sets[1].remaining_ms, 120'000);
  EXPECT_EQ(rec.sets[1].age_ms, 10'000);

  const HoldResult b = e.Hold("show", {{0, 3}}, "bob", 5'000);
  const HoldResult c = e.Hold("show", {{0, 4}}, "cat", 60'000);
  const HoldResult d = e.Hold("show", {{0, 5}}, "dan", 60'000);
  ASSERT_EQ(rec.sets.size(), 5u);
  ASSERT_TRUE(e.Release(c.hold_id, "cat").ok());
  primary.clock.AdvanceMs(6'000);
  e.ExpireDue();
  ASSERT_EQ(e.Confirm(d.hold_id, "dan", "k", "pay").code, ResultCode::kOk);
  EXPECT_EQ(rec.gone, (std::vector<uint64_t>{c.hold_id, b.hold_id, d.hold_id}));
  ASSERT_EQ(e.DeleteEvent("show", /*force=*/true).code, ResultCode::kOk);
  EXPECT_EQ(rec.gone.back(), a.hold_id);
}

TEST(HoldJournalTest, AnImageRestoresTheSameHoldOnAnotherEngine) {
  Recorder rec;
  Node primary(1'000'000, &rec);
  Node replica(5'000'000);  // another clock altogether
  const HoldResult a = primary.engine->Hold("show", {{0, 7}}, "ann", 30'000);
  ASSERT_EQ(a.code, ResultCode::kOk);
  primary.clock.AdvanceMs(4'000);
  const HoldImage img = primary.engine->LiveHolds().at(0);
  EXPECT_EQ(img.remaining_ms, 26'000);
  EXPECT_EQ(img.age_ms, 4'000);

  ASSERT_TRUE(replica.engine->RestoreHold(img));
  EXPECT_EQ(replica.StateOf(7), SeatState::kHeld);
  auto info = replica.engine->GetHold(a.hold_id);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->holder, "ann");
  EXPECT_EQ(info->fencing_token, a.fencing_token);
  EXPECT_EQ(info->expires_ms, 5'000'000 + 26'000);
  EXPECT_EQ(info->created_ms, 5'000'000 - 4'000);
  // The next token granted there is above the restored one.
  const HoldResult other = replica.engine->Hold("show", {{0, 8}}, "bob", 30'000);
  ASSERT_EQ(other.code, ResultCode::kOk);
  EXPECT_GT(other.fencing_token, a.fencing_token);
  // The holder confirms it there with the id the primary gave.
  const ConfirmResult sold = replica.engine->Confirm(a.hold_id, "ann", "key", "pay");
  ASSERT_EQ(sold.code, ResultCode::kOk) << sold.detail;
  EXPECT_FALSE(sold.hold_lapsed);
  EXPECT_EQ(replica.StateOf(7), SeatState::kSold);
}

TEST(HoldJournalTest, ARestoredHoldExpiresOnItsOwnAndAgainMovesItsDeadline) {
  Node primary(1'000'000);
  Node replica(2'000'000);
  const HoldResult a = primary.engine->Hold("show", {{0, 1}}, "ann", 10'000);
  HoldImage img = primary.engine->LiveHolds().at(0);
  ASSERT_TRUE(replica.engine->RestoreHold(img));
  img.remaining_ms = 50'000;  // an EXTEND on the primary
  ASSERT_TRUE(replica.engine->RestoreHold(img));
  EXPECT_EQ(replica.engine->GetHold(a.hold_id)->expires_ms, 2'000'000 + 50'000);
  EXPECT_EQ(replica.engine->Stats().live_holds, 1u);
  replica.clock.AdvanceMs(50'001);
  replica.engine->ExpireDue();
  EXPECT_EQ(replica.StateOf(1), SeatState::kFree);
  EXPECT_EQ(replica.engine->Stats().live_holds, 0u);
}

TEST(HoldJournalTest, RestoreRefusesWhatCannotBeAndChangesNothing) {
  Node primary(1'000'000);
  Node replica(1'000'000);
  const HoldResult a = primary.engine->Hold("show", {{0, 2}}, "ann", 10'000);
  const HoldImage good = primary.engine->LiveHolds().at(0);
  // The seat is taken there already.
  ASSERT_EQ(replica.engine->Hold("show", {{0, 2}}, "zed", 10'000).code, ResultCode::kOk);
  EXPECT_FALSE(replica.engine->RestoreHold(good));
  Node fresh(1'000'000);
  HoldImage bad = good;
  bad.remaining_ms = 0;
  EXPECT_FALSE(fresh.engine->RestoreHold(bad));
  bad = good;
  bad.event_id = "nope";
  EXPECT_FALSE(fresh.engine->RestoreHold(bad));
  bad = good;
  bad.seats = {{0, 99}};
  EXPECT_FALSE(fresh.engine->RestoreHold(bad));
  bad = good;
  bad.seats = {{0, 3}, {0, 3}};
  EXPECT_FALSE(fresh.engine->RestoreHold(bad));
  bad = good;
  bad.hold_id = good.hold_id | (uint64_t{3} << 56);  // shard 3's id
  EXPECT_FALSE(fresh.engine->RestoreHold(bad));
  bad = good;
  bad.fencing_token = good.fencing_token + 1;  // the id does not carry this token
  EXPECT_FALSE(fresh.engine->RestoreHold(bad));
  EXPECT_EQ(fresh.engine->Stats().live_holds, 0u);
  EXPECT_EQ(fresh.StateOf(2), SeatState::kFree);
  EXPECT_EQ(fresh.StateOf(3), SeatState::kFree);
  EXPECT_FALSE(fresh.engine->GetHold(a.hold_id).has_value());
}

TEST(HoldJournalTest, DropFreesTheSeatsAndLeavesNoLapsedHold) {
  Node primary(1'000'000);
  Node replica(1'000'000);
  const HoldResult a = primary.engine->Hold("show", {{0, 4}}, "ann", 10'000);
  ASSERT_TRUE(replica.engine->RestoreHold(primary.engine->LiveHolds().at(0)));
  EXPECT_TRUE(replica.engine->DropHold(a.hold_id));
  EXPECT_FALSE(replica.engine->DropHold(a.hold_id));
  EXPECT_EQ(replica.StateOf(4), SeatState::kFree);
  EXPECT_EQ(replica.engine->Stats().live_holds, 0u);
  EXPECT_EQ(replica.engine->Stats().lapsed_holds, 0u);
  // A late confirm of a dropped hold finds nothing to sell.
  EXPECT_EQ(replica.engine->Confirm(a.hold_id, "ann", "k", "pay").code, ResultCode::kHoldNotFound);
}

TEST(HoldJournalTest, ASaleFromTheLogDropsTheHoldOnItsSeats) {
  Node primary(1'000'000);
  Node replica(1'000'000);
  const HoldResult a = primary.engine->Hold("show", {{0, 5}, {0, 6}}, "ann", 10'000);
  ASSERT_TRUE(replica.engine->RestoreHold(primary.engine->LiveHolds().at(0)));
  const ConfirmResult c = primary.engine->Confirm(a.hold_id, "ann", "key", "pay");
  ASSERT_EQ(c.code, ResultCode::kOk);
  SeatEngine::DurableSale sale;
  sale.booking_id = c.booking_id;
  sale.hold_id = a.hold_id;
  sale.fencing_token = c.fencing_token;
  sale.event_id = "show";
  sale.seats = c.seats;
  sale.holder = "ann";
  sale.payment_ref = "pay";
  sale.idempotency_key = "key";
  sale.confirmed_ms = c.confirmed_ms;
  ASSERT_TRUE(replica.engine->RestoreSale(sale));
  EXPECT_EQ(replica.StateOf(5), SeatState::kSold);
  EXPECT_EQ(replica.StateOf(6), SeatState::kSold);
  EXPECT_EQ(replica.engine->Stats().live_holds, 0u);
  EXPECT_FALSE(replica.engine->GetHold(a.hold_id).has_value() &&
               replica.engine->GetHold(a.hold_id)->status == HoldStatus::kLive);
  // A sold seat is never held again from an image.
  const HoldImage again{a.hold_id, a.fencing_token, "show", "ann", {{0, 5}}, 5'000, 0};
  EXPECT_FALSE(replica.engine->RestoreHold(again));
}

// Applies what a primary's journal says to a replica's engine, as the
// replica's applier does (without the wait for the log: a test drives both).
class Mirror : public HoldJournal {
 public:
  explicit Mirror(SeatEngine** replica) : replica_(replica) {}
  void OnHoldSet(const HoldImage& h) override { pending.push_back({h, false}); }
  void OnHoldGone(uint64_t id) override {
    HoldImage h;
    h.hold_id = id;
    pending.push_back({h, true});
  }
  void Flush() {
    for (auto& [h, gone] : pending) {
      if (gone || !(*replica_)->RestoreHold(h)) (*replica_)->DropHold(h.hold_id);
    }
    pending.clear();
  }
  std::vector<std::pair<HoldImage, bool>> pending;

 private:
  SeatEngine** replica_;
};

// Random holds, extends, releases, sales (the sale reaches the replica
// through the log: RestoreSale), cancels and expiries on a primary; after
// each, the replica's live holds equal the primary's, seat for seat.
TEST(HoldJournalTest, AReplicaFollowingTheJournalHasThePrimarysHolds) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SeatEngine* replica_engine = nullptr;
    Mirror mirror(&replica_engine);
    Node primary(1'000'000, &mirror);
    Node replica(9'000'000);
    replica_engine = replica.engine.get();
    std::mt19937 rng(seed);
    auto seat = [&] { return static_cast<uint32_t>(rng() % 10); };
    std::vector<std::pair<uint64_t, std::string>> live;  // hold id, holder
    for (int op = 0; op < 400; ++op) {
      SeatEngine& e = *primary.engine;
      const uint32_t what = rng() % 10;
      if (what < 4) {
        const std::string holder = "h" + std::to_string(rng() % 5);
        std::vector<SeatKey> seats = {{0, seat()}};
        if (rng() % 3 == 0) seats.push_back({0, seat()});
        const HoldResult r = e.Hold("show", seats, holder, 1'000 + rng() % 20'000);
        if (r.code == ResultCode::kOk) live.emplace_back(r.hold_id, holder);
      } else if (what < 5 && !live.empty()) {
        const auto& [id, holder] = live[rng() % live.size()];
        e.Extend(id, holder, 1'000 + rng() % 20'000);
      } else if (what < 6 && !live.empty()) {
        const auto& [id, holder] = live[rng() % live.size()];
        e.Release(id, holder);
      } else if (what < 8 && !live.empty()) {
        const auto& [id, holder] = live[rng() % live.size()];
        const ConfirmResult c = e.Confirm(id, holder, "k" + std::to_string(op), "pay");
        if (c.code == ResultCode::kOk) {
          SeatEngine::DurableSale sale;
          sale.booking_id = c.booking_id;
          sale.hold_id = id;
          sale.fencing_token = c.fencing_token;
          sale.event_id = "show";
          sale.seats = c.seats;
          sale.holder = holder;
          sale.payment_ref = "pay";
          sale.confirmed_ms = c.confirmed_ms;
          sale.hold_lapsed = c.hold_lapsed;
          // The log record and the hold's end race to the replica: either first.
          if (rng() % 2 == 0) mirror.Flush();
          ASSERT_TRUE(replica.engine->RestoreSale(sale)) << "seed " << seed << " op " << op;
          if (rng() % 4 == 0) {
            ASSERT_TRUE(e.CancelBooking(c.booking_id).ok());
            ASSERT_TRUE(replica.engine->RestoreCancel(c.booking_id));
          }
        }
      } else {
        const int64_t step = rng() % 3'000;
        primary.clock.AdvanceMs(step);
        replica.clock.AdvanceMs(step);
        e.ExpireDue();
      }
      mirror.Flush();
      replica.engine->ExpireDue();
      std::vector<HoldImage> want = primary.engine->LiveHolds();
      std::vector<HoldImage> got = replica.engine->LiveHolds();
      auto by_id = [](const HoldImage& a, const HoldImage& b) { return a.hold_id < b.hold_id; };
      std::sort(want.begin(), want.end(), by_id);
      std::sort(got.begin(), got.end(), by_id);
      ASSERT_EQ(got.size(), want.size()) << "seed " << seed << " op " << op;
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[i].hold_id, want[i].hold_id);
        EXPECT_EQ(got[i].holder, want[i].holder);
        EXPECT_EQ(got[i].seats, want[i].seats);
        EXPECT_EQ(got[i].remaining_ms, want[i].remaining_ms);
      }
      for (uint32_t seat = 0; seat < 10; ++seat) {
        ASSERT_EQ(replica.StateOf(seat), primary.StateOf(seat))
            << "seed " << seed << " op " << op << " seat " << seat;
      }
    }
  }
}

}  // namespace
}  // namespace seatlock
