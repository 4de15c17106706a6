// Unit tests for WaitingRoom: the queue logic alone, with time driven by
// ManualClock and randomness from a seeded generator. Nothing sleeps.
#include "engine/waiting_room.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/clock.h"
#include "engine/result_code.h"

namespace seatlock {

void PrintTo(ResultCode code, std::ostream* os) { *os << ResultCodeName(code); }
void PrintTo(QueueState s, std::ostream* os) { *os << QueueStateName(s); }

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kT0 = 1'700'000'000'000;

// Deterministic randomness: a seeded mt19937_64.
WaitingRoom::RandomFn SeededRandom(uint64_t seed) {
  auto gen = std::make_shared<std::mt19937_64>(seed);
  return [gen](void* out, size_t n) {
    auto* p = static_cast<uint8_t*>(out);
    while (n > 0) {
      const uint64_t v = (*gen)();
      const size_t k = std::min<size_t>(n, sizeof(v));
      std::memcpy(p, &v, k);
      p += k;
      n -= k;
    }
  };
}

RoomConfig RateConfig(uint32_t rate, uint32_t batch) {
  RoomConfig c;
  c.mode = AdmissionMode::kRate;
  c.rate_per_sec = rate;
  c.batch_size = batch;
  c.grace_ms = 0;  // never lapse unless a test says so
  return c;
}

RoomConfig CapacityConfig(uint32_t max_active, uint32_t batch = 10) {
  RoomConfig c;
  c.mode = AdmissionMode::kCapacity;
  c.max_active = max_active;
  c.batch_size = batch;
  c.grace_ms = 0;
  return c;
}

std::string Key(uint64_t i) { return "buyer-" + std::to_string(i); }

class WaitingRoomTest : public ::testing::Test {
 protected:
  WaitingRoomTest() : clock_(kT0) {}

  void Make(const RoomConfig& config, uint64_t seed = 42) {
    room_ = std::make_unique<WaitingRoom>("gig", config, &clock_, SeededRandom(seed));
  }
  // Joins buyers first..last (keys "buyer-<i>"); expects numbers to follow.
  void JoinRange(uint64_t first, uint64_t last) {
    for (uint64_t i = first; i <= last; ++i) {
      const auto r = room_->Join(Key(i));
      ASSERT_EQ(r.code, ResultCode::kOk) << r.detail;
      ASSERT_TRUE(r.fresh);
      ASSERT_EQ(r.number, i);
    }
  }
  QueueStatus St(uint64_t number) { return room_->Status(number, Key(number)); }
  std::string PassFor(uint64_t number) {
    const QueueStatus s = St(number);
    EXPECT_EQ(s.state, QueueState::kAdmitted) << "buyer " << number;
    return s.pass;
  }

  ManualClock clock_;
  std::unique_ptr<WaitingRoom> room_;
};

// ---------------------------------------------------------------------------
// Configuration and joining

TEST(WaitingRoomConfigTest, ValidateRejectsUnusableConfigs) {
  EXPECT_EQ(ValidateRoomConfig(RoomConfig{}), "");
  EXPECT_EQ(ValidateRoomConfig(CapacityConfig(5)), "");
  RoomConfig c = RateConfig(0, 10);
  EXPECT_NE(ValidateRoomConfig(c), "");
  c = RateConfig(100, 0);
  EXPECT_NE(ValidateRoomConfig(c), "");
  c = CapacityConfig(0);
  EXPECT_NE(ValidateRoomConfig(c), "");
  c = RoomConfig{};
  c.pass_ttl_ms = 0;
  EXPECT_NE(ValidateRoomConfig(c), "");
  c = RoomConfig{};
  c.grace_ms = -1;
  EXPECT_NE(ValidateRoomConfig(c), "");
  c = RoomConfig{};
  c.max_seats_per_pass = 0;
  EXPECT_NE(ValidateRoomConfig(c), "");
  c.max_seats_per_pass = 70000;
  EXPECT_NE(ValidateRoomConfig(c), "");
  c = RoomConfig{};
  c.on_sale_ms = -5;
  EXPECT_NE(ValidateRoomConfig(c), "");
}

TEST_F(WaitingRoomTest, JoinRefusesEmptyAndOverlongKeys) {
  Make(RateConfig(100, 10));
  EXPECT_EQ(room_->Join("").code, ResultCode::kInvalidArgument);
  EXPECT_EQ(room_->Join(std::string(257, 'k')).code, ResultCode::kLimitExceeded);
  const auto r = room_->Join(std::string(256, 'k'));
  EXPECT_EQ(r.code, ResultCode::kOk);
  EXPECT_EQ(r.number, 1u);
  EXPECT_EQ(room_->Stats().joined, 1u);
}

TEST_F(WaitingRoomTest, JoiningAgainWithTheSameKeyReturnsTheSameNumber) {
  Make(CapacityConfig(1, 1));
  room_->Advance();  // opens (empty)
  JoinRange(1, 3);
  clock_.AdvanceMs(5);
  auto again = room_->Join(Key(2));
  EXPECT_EQ(again.code, ResultCode::kOk);
  EXPECT_EQ(again.number, 2u);
  EXPECT_FALSE(again.fresh);
  EXPECT_EQ(again.joined_ms, kT0);
  // Still the same number once admitted, and after leaving.
  room_->Advance();
  ASSERT_EQ(St(1).state, QueueState::kAdmitted);
  EXPECT_EQ(room_->Join(Key(1)).number, 1u);
  EXPECT_TRUE(room_->Leave(1, Key(1)).changed);
  EXPECT_EQ(room_->Join(Key(1)).number, 1u);
  EXPECT_FALSE(room_->Join(Key(1)).fresh);
  EXPECT_EQ(room_->Join(Key(4)).number, 4u);
  EXPECT_EQ(room_->Stats().joined, 4u);
}

TEST_F(WaitingRoomTest, StatusAndLeaveNeedTheKeyThatJoined) {
  Make(RateConfig(100, 10));
  JoinRange(1, 2);
  EXPECT_EQ(room_->Status(1, Key(2)).code, ResultCode::kNotInQueue);
  EXPECT_EQ(room_->Status(1, "someone").code, ResultCode::kNotInQueue);
  EXPECT_EQ(room_->Status(0, Key(1)).code, ResultCode::kNotInQueue);
  EXPECT_EQ(room_->Status(3, Key(3)).code, ResultCode::kNotInQueue);
  EXPECT_EQ(room_->Leave(2, Key(1)).code, ResultCode::kNotInQueue);
  EXPECT_EQ(St(2).code, ResultCode::kOk);
  EXPECT_EQ(St(2).state, QueueState::kWaiting);
}

// ---------------------------------------------------------------------------
// Order

TEST_F(WaitingRoomTest, WithoutPreQueueAdmissionFollowsJoinOrder) {
  Make(RateConfig(100, 7));  // a batch every 70 ms
  ASSERT_TRUE(room_->Advance().opened);
  JoinRange(1, 200);
  // Positions before anyone is admitted: everyone ahead is waiting.
  for (uint64_t n = 1; n <= 200; ++n) ASSERT_EQ(St(n).position, n - 1);
  std::vector<uint32_t> order;
  for (int step = 0; step < 400 && order.size() < 200; ++step) {
    clock_.AdvanceMs(10);
    const auto a = room_->Advance();
    EXPECT_THAT(a.lapsed, IsEmpty());
    order.insert(order.end(), a.admitted.begin(), a.admitted.end());
    // Nobody is admitted while a smaller number still waits.
    for (uint64_t n = 1; n <= 200; n += 13) {
      const QueueStatus s = St(n);
      if (s.state != QueueState::kWaiting) continue;
      ASSERT_EQ(s.position, n - 1 - order.size()) << "buyer " << n;
    }
  }
  ASSERT_EQ(order.size(), 200u);
  for (size_t i = 0; i < order.size(); ++i) ASSERT_EQ(order[i], i + 1);
}

TEST_F(WaitingRoomTest, PreQueueIsShuffledIntoAPermutationAndLaterJoinersFollowInOrder) {
  RoomConfig c = RateConfig(100, 5);
  c.on_sale_ms = kT0 + 60'000;
  Make(c, 7);
  JoinRange(1, 10);
  // Before the sale: positions are the join order, and the ETA counts the
  // time until the sale opens.
  EXPECT_EQ(St(4).position, 3u);
  EXPECT_GE(St(4).eta_p50_ms, 60'000);
  EXPECT_TRUE(room_->Advance().empty());
  EXPECT_FALSE(room_->opened());

  clock_.SetMs(c.on_sale_ms);
  room_->SetSupply(0, 1);  // paused: the sale opens but nobody is admitted yet
  const auto a = room_->Advance();
  ASSERT_TRUE(a.opened);
  EXPECT_THAT(a.admitted, IsEmpty());
  std::vector<uint64_t> positions;
  for (uint64_t n = 1; n <= 10; ++n) positions.push_back(St(n).position);
  std::vector<uint64_t> sorted = positions;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_THAT(sorted, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
  // The identity order with this seed would mean no shuffle at all.
  EXPECT_NE(positions, std::vector<uint64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));

  JoinRange(11, 15);
  for (uint64_t n = 11; n <= 15; ++n) EXPECT_EQ(St(n).position, n - 1);

  // Admission order: the shuffled pre-queue, then 11..15.
  room_->SetSupply(100, 0);
  std::vector<uint32_t> order;
  for (int step = 0; step < 100 && order.size() < 15; ++step) {
    clock_.AdvanceMs(10);
    const auto adv = room_->Advance();
    order.insert(order.end(), adv.admitted.begin(), adv.admitted.end());
  }
  ASSERT_EQ(order.size(), 15u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(positions[order[i] - 1], i) << "rank " << i;
  EXPECT_THAT(std::vector<uint32_t>(order.begin() + 10, order.end()),
              ElementsAre(11, 12, 13, 14, 15));
}

TEST_F(WaitingRoomTest, JoinsAtOrAfterOnSaleAreNotShuffledEvenBeforeTheRoomOpens) {
  // The sale time has passed but Advance has not run yet: those joiners are
  // not part of the pre-queue.
  RoomConfig c = RateConfig(100, 100);
  c.on_sale_ms = kT0 + 1000;
  Make(c, 11);
  JoinRange(1, 8);  // pre-queue
  clock_.SetMs(c.on_sale_ms);
  JoinRange(9, 40);  // after on-sale, before the room opened
  const auto a = room_->Advance();
  ASSERT_TRUE(a.opened);
  ASSERT_EQ(a.admitted.size(), 40u);
  std::set<uint32_t> first(a.admitted.begin(), a.admitted.begin() + 8);
  EXPECT_EQ(first, (std::set<uint32_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  for (size_t i = 8; i < 40; ++i) EXPECT_EQ(a.admitted[i], i + 1);
}

TEST(WaitingRoomShuffleTest, EveryRankIsEquallyLikelyForEveryBuyer) {
  constexpr int kRuns = 2000;
  constexpr int kBuyers = 10;
  std::vector<std::vector<int>> count(kBuyers, std::vector<int>(kBuyers, 0));
  auto random = SeededRandom(20240601);
  for (int run = 0; run < kRuns; ++run) {
    ManualClock clock(kT0);
    RoomConfig c = RateConfig(1000, kBuyers);
    c.on_sale_ms = kT0 + 1000;
    WaitingRoom room("gig", c, &clock, random);
    for (int b = 0; b < kBuyers; ++b)
      ASSERT_EQ(room.Join(Key(b)).number, static_cast<uint64_t>(b + 1));
    clock.SetMs(c.on_sale_ms);
    const auto a = room.Advance();
    ASSERT_TRUE(a.opened);
    ASSERT_EQ(a.admitted.size(), static_cast<size_t>(kBuyers));
    for (int rank = 0; rank < kBuyers; ++rank) ++count[a.admitted[rank] - 1][rank];
  }
  // Expected 200 per cell (sd ~13.4). Loose bounds plus a chi-square per
  // buyer (9 degrees of freedom; 99.99th percentile is ~33.7).
  const double expected = static_cast<double>(kRuns) / kBuyers;
  for (int b = 0; b < kBuyers; ++b) {
    double chi2 = 0;
    for (int rank = 0; rank < kBuyers; ++rank) {
      EXPECT_NEAR(count[b][rank], expected, 60) << "buyer " << b << " rank " << rank;
      const double d = count[b][rank] - expected;
      chi2 += d * d / expected;
    }
    EXPECT_LT(chi2, 33.7) << "buyer " << b;
  }
}

// ---------------------------------------------------------------------------
// Admission modes and the ETA

TEST_F(WaitingRoomTest, RateModeAdmitsABatchPerIntervalAndCatchesUpOnlyALittle) {
  Make(RateConfig(100, 10));  // 10 every 100 ms
  JoinRange(1, 500);
  auto a = room_->Advance();
  EXPECT_TRUE(a.opened);
  EXPECT_EQ(a.admitted.size(), 10u);
  clock_.AdvanceMs(50);
  EXPECT_THAT(room_->Advance().admitted, IsEmpty());
  clock_.AdvanceMs(50);
  EXPECT_EQ(room_->Advance().admitted.size(), 10u);
  // A 60 s stall: at most 10 batches of catch-up (plus the one due now).
  clock_.AdvanceMs(60'000);
  const size_t caught = room_->Advance().admitted.size();
  EXPECT_GE(caught, 100u);
  EXPECT_LE(caught, 110u);
  EXPECT_EQ(room_->Stats().admitted, 20u + caught);
}

TEST_F(WaitingRoomTest, CapacityModeKeepsAtMostMaxActiveAdmitted) {
  Make(CapacityConfig(5, 2));
  JoinRange(1, 20);
  size_t admitted = 0;
  for (int i = 0; i < 10; ++i) {
    clock_.AdvanceMs(10);
    admitted += room_->Advance().admitted.size();
  }
  EXPECT_EQ(admitted, 5u);
  EXPECT_EQ(room_->Stats().admitted, 5u);
  EXPECT_EQ(St(6).position, 0u);
  EXPECT_EQ(St(20).position, 14u);
}

TEST_F(WaitingRoomTest, EtaForAPositionIsWithinTwentyPercentOfTheRealWait) {
  Make(RateConfig(100, 10));  // steady: 100 buyers a second
  JoinRange(1, 3000);
  // Let admissions run for a while, advancing every 10 ms.
  for (int i = 0; i < 500; ++i) {
    room_->Advance();
    clock_.AdvanceMs(10);
  }
  room_->Advance();
  // The buyer 1000 places from the front.
  const uint64_t admitted = room_->Stats().admitted_total;
  ASSERT_GT(admitted, 400u);
  const uint64_t number = admitted + 1001;
  const QueueStatus s = St(number);
  ASSERT_EQ(s.state, QueueState::kWaiting);
  ASSERT_EQ(s.position, 1000u);
  ASSERT_GT(s.eta_p50_ms, 0);
  EXPECT_GE(s.eta_p90_ms, s.eta_p50_ms);
  const int64_t asked = clock_.NowMs();
  int64_t admitted_at = 0;
  for (int i = 0; i < 10'000 && admitted_at == 0; ++i) {
    clock_.AdvanceMs(10);
    const auto a = room_->Advance();
    if (std::find(a.admitted.begin(), a.admitted.end(), number) != a.admitted.end())
      admitted_at = clock_.NowMs();
  }
  ASSERT_NE(admitted_at, 0);
  const double real = static_cast<double>(admitted_at - asked);
  EXPECT_NEAR(static_cast<double>(s.eta_p50_ms), real, 0.2 * real)
      << "eta " << s.eta_p50_ms << " real " << real;
}

// ---------------------------------------------------------------------------
// Leaving the line

TEST_F(WaitingRoomTest, WaitingBuyerWhoStopsPollingLosesThePlace) {
  RoomConfig c = CapacityConfig(1, 1);
  c.grace_ms = 1000;
  Make(c);
  JoinRange(1, 5);
  room_->Advance();
  ASSERT_EQ(St(1).state, QueueState::kAdmitted);  // admitted buyers need not poll
  EXPECT_EQ(St(5).position, 3u);
  // 3 and 5 poll every 500 ms; 2 and 4 do not.
  std::vector<uint32_t> lapsed;
  for (int i = 0; i < 6; ++i) {
    clock_.AdvanceMs(500);
    EXPECT_EQ(St(3).state, QueueState::kWaiting);
    EXPECT_EQ(St(5).state, QueueState::kWaiting);
    const auto a = room_->Advance();
    lapsed.insert(lapsed.end(), a.lapsed.begin(), a.lapsed.end());
  }
  EXPECT_THAT(lapsed, ElementsAre(2, 4));
  EXPECT_EQ(St(2).state, QueueState::kLapsed);
  EXPECT_EQ(St(4).state, QueueState::kLapsed);
  EXPECT_EQ(St(1).state, QueueState::kAdmitted);
  EXPECT_EQ(St(3).position, 0u);
  EXPECT_EQ(St(5).position, 1u);
  EXPECT_EQ(room_->Stats().lapsed, 2u);
  EXPECT_EQ(room_->Stats().waiting, 2u);
  // A lapsed buyer is not admitted later, and rejoining keeps the old number.
  EXPECT_EQ(room_->Join(Key(2)).number, 2u);
  EXPECT_EQ(St(2).state, QueueState::kLapsed);
}

TEST_F(WaitingRoomTest, ExpiredPassIsRefusedAndFreesTheCapacitySlot) {
  RoomConfig c = CapacityConfig(1, 1);
  c.pass_ttl_ms = 1000;
  Make(c);
  JoinRange(1, 3);
  room_->Advance();
  const std::string pass = PassFor(1);
  const QueueStatus s = St(1);
  EXPECT_EQ(s.pass_expires_ms, kT0 + 1000);
  clock_.AdvanceMs(999);
  EXPECT_THAT(room_->Advance().admitted, IsEmpty());
  uint64_t number = 0;
  std::string detail;
  EXPECT_EQ(room_->UsePass(pass, 1, &number, &detail), ResultCode::kOk);
  EXPECT_EQ(number, 1u);
  clock_.AdvanceMs(1);
  // Refused as soon as it is due, even before Advance has seen it.
  EXPECT_EQ(room_->UsePass(pass, 1, &number, &detail), ResultCode::kPassInvalid);
  EXPECT_THAT(detail, ::testing::HasSubstr("expired"));
  const auto a = room_->Advance();
  EXPECT_THAT(a.expired, ElementsAre(1));
  EXPECT_THAT(a.admitted, ElementsAre(2));
  EXPECT_EQ(St(1).state, QueueState::kPassExpired);
  EXPECT_EQ(St(1).pass, "");
  EXPECT_EQ(room_->UsePass(pass, 1, &number, &detail), ResultCode::kPassInvalid);
  EXPECT_EQ(St(3).position, 0u);
  EXPECT_EQ(room_->Stats().pass_expired, 1u);
  EXPECT_EQ(room_->Stats().admitted, 1u);
}

TEST_F(WaitingRoomTest, LeaveFreesACapacitySlotAndShrinksPositions) {
  Make(CapacityConfig(1, 1));
  JoinRange(1, 4);
  room_->Advance();
  ASSERT_EQ(St(1).state, QueueState::kAdmitted);
  EXPECT_EQ(St(4).position, 2u);
  // A waiting buyer leaves.
  EXPECT_TRUE(room_->Leave(3, Key(3)).changed);
  EXPECT_EQ(St(3).state, QueueState::kLeft);
  EXPECT_EQ(St(4).position, 1u);
  EXPECT_FALSE(room_->Leave(3, Key(3)).changed);
  // The admitted buyer leaves: the next Advance admits buyer 2.
  const std::string pass = PassFor(1);
  EXPECT_TRUE(room_->Leave(1, Key(1)).changed);
  EXPECT_EQ(St(1).state, QueueState::kLeft);
  uint64_t number = 0;
  std::string detail;
  EXPECT_EQ(room_->UsePass(pass, 1, &number, &detail), ResultCode::kPassInvalid);
  EXPECT_THAT(room_->Advance().admitted, ElementsAre(2));
  EXPECT_EQ(St(4).position, 0u);
  EXPECT_EQ(room_->Stats().left, 2u);
}

TEST_F(WaitingRoomTest, PurchaseEndsThePassAndFreesTheCapacitySlot) {
  Make(CapacityConfig(1, 1));
  JoinRange(1, 2);
  room_->Advance();
  const std::string pass = PassFor(1);
  uint64_t number = 0;
  std::string detail;
  ASSERT_EQ(room_->UsePass(pass, 2, &number, &detail), ResultCode::kOk);
  EXPECT_THAT(room_->Advance().admitted, IsEmpty());
  EXPECT_TRUE(room_->Purchased(number));
  EXPECT_FALSE(room_->Purchased(number));
  EXPECT_EQ(St(1).state, QueueState::kDone);
  EXPECT_EQ(room_->UsePass(pass, 1, &number, &detail), ResultCode::kPassInvalid);
  EXPECT_THAT(room_->Advance().admitted, ElementsAre(2));
  EXPECT_EQ(room_->Stats().done, 1u);
  EXPECT_FALSE(room_->Purchased(0));
  EXPECT_FALSE(room_->Purchased(99));
}

// ---------------------------------------------------------------------------
// Passes

TEST_F(WaitingRoomTest, PassAllowsAtMostMaxSeatsOverAllItsHoldsAndRefundsGiveSeatsBack) {
  RoomConfig c = CapacityConfig(5);
  c.max_seats_per_pass = 4;
  Make(c);
  JoinRange(1, 2);
  room_->Advance();
  const std::string pass = PassFor(1);
  EXPECT_EQ(St(1).seats_left, 4u);
  uint64_t number = 0;
  std::string detail;
  ASSERT_EQ(room_->UsePass(pass, 3, &number, &detail), ResultCode::kOk);
  EXPECT_EQ(number, 1u);
  EXPECT_EQ(St(1).seats_left, 1u);
  EXPECT_EQ(room_->UsePass(pass, 2, &number, &detail), ResultCode::kLimitExceeded);
  EXPECT_EQ(St(1).seats_left, 1u);  // a refused use takes nothing
  room_->RefundPass(1, 1);          // a hold of 1 seat was refused downstream
  EXPECT_EQ(St(1).seats_left, 2u);
  EXPECT_EQ(room_->UsePass(pass, 2, &number, &detail), ResultCode::kOk);
  EXPECT_EQ(St(1).seats_left, 0u);
  EXPECT_EQ(room_->UsePass(pass, 1, &number, &detail), ResultCode::kLimitExceeded);
  // The other buyer's pass has its own allowance.
  EXPECT_EQ(room_->UsePass(PassFor(2), 4, &number, &detail), ResultCode::kOk);
  EXPECT_EQ(number, 2u);
}

TEST_F(WaitingRoomTest, MissingForgedAndForeignPassesAreInvalid) {
  Make(CapacityConfig(1, 1));
  JoinRange(1, 2);
  room_->Advance();
  const std::string pass = PassFor(1);
  ASSERT_EQ(pass.size(), 2u + 32u);  // "1." + 32 hex digits
  uint64_t number = 0;
  std::string detail;
  EXPECT_EQ(room_->UsePass("", 1, &number, &detail), ResultCode::kPassInvalid);
  EXPECT_THAT(detail, ::testing::HasSubstr("need a pass"));
  EXPECT_EQ(room_->UsePass("garbage", 1, &number, &detail), ResultCode::kPassInvalid);
  EXPECT_EQ(room_->UsePass(pass.substr(0, pass.size() - 1), 1, &number, &detail),
            ResultCode::kPassInvalid);
  std::string forged = pass;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(room_->UsePass(forged, 1, &number, &detail), ResultCode::kPassInvalid);
  // Buyer 2 is still waiting: a pass-shaped token for it is not valid.
  std::string for_two = pass;
  for_two[0] = '2';
  EXPECT_EQ(room_->UsePass(for_two, 1, &number, &detail), ResultCode::kPassInvalid);
  std::string too_far = "9" + pass.substr(1);
  EXPECT_EQ(room_->UsePass(too_far, 1, &number, &detail), ResultCode::kPassInvalid);
  // Another room's pass for the same number.
  WaitingRoom other("other", CapacityConfig(1, 1), &clock_, SeededRandom(99));
  other.Join(Key(1));
  other.Advance();
  const std::string foreign = other.Status(1, Key(1)).pass;
  ASSERT_FALSE(foreign.empty());
  ASSERT_NE(foreign, pass);
  EXPECT_EQ(room_->UsePass(foreign, 1, &number, &detail), ResultCode::kPassInvalid);
  // The real one works.
  EXPECT_EQ(room_->UsePass(pass, 1, &number, &detail), ResultCode::kOk);
}

// ---------------------------------------------------------------------------
// Supply

TEST_F(WaitingRoomTest, NoFreeSeatsPausesAdmissionAndNoHoldsEitherMeansSoldOut) {
  Make(CapacityConfig(2, 1));
  JoinRange(1, 5);
  room_->Advance();
  room_->Advance();
  ASSERT_EQ(room_->Stats().admitted, 2u);
  // Everything is held: paused; the admitted buyers leave but nobody new gets in.
  room_->SetSupply(0, 4);
  EXPECT_TRUE(room_->Leave(1, Key(1)).changed);
  EXPECT_THAT(room_->Advance().admitted, IsEmpty());
  QueueStatus s = St(4);
  EXPECT_EQ(s.state, QueueState::kWaiting);
  EXPECT_TRUE(s.paused);
  EXPECT_EQ(s.position, 1u);
  EXPECT_TRUE(room_->Stats().paused);
  EXPECT_FALSE(room_->Stats().sold_out);
  EXPECT_EQ(room_->Join(Key(6)).code, ResultCode::kOk);
  // Seats come back: admission resumes.
  room_->SetSupply(3, 1);
  EXPECT_THAT(room_->Advance().admitted, ElementsAre(3));
  // Sold out: waiting buyers are told, new buyers are refused, old keys keep their number.
  room_->SetSupply(0, 0);
  EXPECT_TRUE(room_->Stats().sold_out);
  for (uint64_t n : {4, 5, 6}) EXPECT_EQ(St(n).state, QueueState::kSoldOut) << n;
  EXPECT_EQ(St(2).state, QueueState::kAdmitted);
  const auto refused = room_->Join(Key(7));
  EXPECT_EQ(refused.code, ResultCode::kSoldOut);
  EXPECT_EQ(room_->Join(Key(5)).number, 5u);
  EXPECT_THAT(room_->Advance().admitted, IsEmpty());
  EXPECT_EQ(room_->Stats().joined, 6u);
}

TEST_F(WaitingRoomTest, BuyersWhoPollWhileSoldOutKeepTheirPlace) {
  RoomConfig c = CapacityConfig(1, 1);
  c.grace_ms = 1000;
  Make(c);
  JoinRange(1, 3);
  room_->Advance();
  room_->SetSupply(0, 0);
  // 2 polls (and is told SOLD_OUT), 3 does not.
  for (int i = 0; i < 6; ++i) {
    clock_.AdvanceMs(500);
    EXPECT_EQ(St(2).state, QueueState::kSoldOut);
    room_->Advance();
  }
  EXPECT_EQ(room_->Stats().lapsed, 1u);
  EXPECT_EQ(St(3).state, QueueState::kLapsed);
  // Seats come back (a cancellation): 2 is next.
  room_->SetSupply(2, 0);
  EXPECT_TRUE(room_->Purchased(1));
  EXPECT_THAT(room_->Advance().admitted, ElementsAre(2));
}

// ---------------------------------------------------------------------------
// Recovery

// What the server logs, as the unit test models it (server/rooms.cc).
struct LoggedChange {
  enum Kind { kJoin, kOpen, kAdmit, kEnd } kind;
  uint32_t number = 0;
  std::string key;
  int64_t joined_ms = 0;
  uint64_t seed = 0;
  WaitingRoom::Pass pass;
  QueueState state = QueueState::kWaiting;
};

class RecordingRoom {
 public:
  RecordingRoom(WaitingRoom* room) : room_(room) {}
  void Join(const std::string& key) {
    const auto r = room_->Join(key);
    ASSERT_EQ(r.code, ResultCode::kOk);
    if (r.fresh)
      log.push_back({LoggedChange::kJoin, static_cast<uint32_t>(r.number), key, r.joined_ms});
  }
  void Advance() {
    const auto a = room_->Advance();
    if (a.opened) log.push_back({LoggedChange::kOpen, 0, "", 0, a.shuffle_seed});
    for (uint32_t n : a.expired)
      log.push_back({LoggedChange::kEnd, n, "", 0, 0, {}, QueueState::kPassExpired});
    for (uint32_t n : a.lapsed)
      log.push_back({LoggedChange::kEnd, n, "", 0, 0, {}, QueueState::kLapsed});
    for (uint32_t n : a.admitted)
      log.push_back({LoggedChange::kAdmit, n, "", 0, 0, room_->PassOf(n)});
  }
  void Leave(uint32_t n, const std::string& key) {
    if (room_->Leave(n, key).changed)
      log.push_back({LoggedChange::kEnd, n, "", 0, 0, {}, QueueState::kLeft});
  }
  void Purchased(uint32_t n) {
    if (room_->Purchased(n))
      log.push_back({LoggedChange::kEnd, n, "", 0, 0, {}, QueueState::kDone});
  }
  std::vector<LoggedChange> log;

 private:
  WaitingRoom* room_;
};

void Replay(const std::vector<LoggedChange>& log, WaitingRoom* room) {
  for (const LoggedChange& c : log) {
    switch (c.kind) {
      case LoggedChange::kJoin:
        room->RestoreJoin(c.number, c.key, c.joined_ms);
        break;
      case LoggedChange::kOpen:
        room->RestoreOpen(c.seed);
        break;
      case LoggedChange::kAdmit:
        room->RestoreAdmit(c.number, c.pass, 0);
        break;
      case LoggedChange::kEnd:
        room->RestoreEnd(c.number, c.state);
        break;
    }
  }
}

// The snapshot as server/rooms.cc writes it: open, joins in serving order,
// admissions, ends.
void RestoreFromSnapshot(const WaitingRoom& from, WaitingRoom* to) {
  if (from.opened()) to->RestoreOpen(0);
  for (size_t i = 0; i < from.size(); ++i) {
    const auto e = from.EntryInOrder(i);
    to->RestoreJoin(e.number, e.buyer_key, e.joined_ms);
  }
  for (size_t i = 0; i < from.size(); ++i) {
    const auto e = from.EntryInOrder(i);
    if (e.state == QueueState::kAdmitted) to->RestoreAdmit(e.number, e.pass, 0);
  }
  for (size_t i = 0; i < from.size(); ++i) {
    const auto e = from.EntryInOrder(i);
    if (e.state != QueueState::kWaiting && e.state != QueueState::kAdmitted)
      to->RestoreEnd(e.number, e.state);
  }
}

void ExpectSameRoom(WaitingRoom& want, WaitingRoom& got, uint64_t buyers, const std::string& how) {
  ASSERT_EQ(got.size(), want.size()) << how;
  EXPECT_EQ(got.opened(), want.opened()) << how;
  for (size_t i = 0; i < want.size(); ++i) {
    const auto a = want.EntryInOrder(i);
    const auto b = got.EntryInOrder(i);
    EXPECT_EQ(b.number, a.number) << how << " at " << i;
    EXPECT_EQ(b.buyer_key, a.buyer_key) << how << " at " << i;
    EXPECT_EQ(b.joined_ms, a.joined_ms) << how << " at " << i;
    EXPECT_EQ(b.state, a.state) << how << " at " << i;
    EXPECT_EQ(b.pass.secret, a.pass.secret) << how << " at " << i;
    EXPECT_EQ(b.pass.expires_ms, a.pass.expires_ms) << how << " at " << i;
  }
  for (uint64_t n = 1; n <= buyers; ++n) {
    const QueueStatus a = want.Status(n, Key(n));
    const QueueStatus b = got.Status(n, Key(n));
    EXPECT_EQ(b.state, a.state) << how << " buyer " << n;
    EXPECT_EQ(b.position, a.position) << how << " buyer " << n;
    EXPECT_EQ(b.pass, a.pass) << how << " buyer " << n;
    EXPECT_EQ(b.pass_expires_ms, a.pass_expires_ms) << how << " buyer " << n;
  }
  const RoomStats sa = want.Stats(), sb = got.Stats();
  EXPECT_EQ(sb.joined, sa.joined) << how;
  EXPECT_EQ(sb.waiting, sa.waiting) << how;
  EXPECT_EQ(sb.admitted, sa.admitted) << how;
  EXPECT_EQ(sb.lapsed, sa.lapsed) << how;
  EXPECT_EQ(sb.left, sa.left) << how;
  EXPECT_EQ(sb.done, sa.done) << how;
  EXPECT_EQ(sb.pass_expired, sa.pass_expired) << how;
  EXPECT_EQ(sb.admitted_total, sa.admitted_total) << how;
}

TEST_F(WaitingRoomTest, RestoreFromLogAndFromSnapshotRebuildsTheSameRoom) {
  RoomConfig c = CapacityConfig(4, 2);
  c.on_sale_ms = kT0 + 5000;
  c.pass_ttl_ms = 3000;
  c.grace_ms = 2000;
  Make(c, 5);
  RecordingRoom rec(room_.get());
  for (uint64_t n = 1; n <= 12; ++n) rec.Join(Key(n));  // pre-queue
  rec.Leave(5, Key(5));
  rec.Advance();
  clock_.SetMs(c.on_sale_ms);
  rec.Advance();  // opens (shuffle), admits 2
  for (uint64_t n = 13; n <= 20; ++n) rec.Join(Key(n));
  // Everyone but 7 and 15 polls; passes run out; some buy.
  for (int step = 0; step < 30; ++step) {
    clock_.AdvanceMs(100);
    for (uint64_t n = 1; n <= 20; ++n) {
      if (n != 7 && n != 15) room_->Status(n, Key(n));
    }
    rec.Advance();
    if (step == 10) {
      for (uint64_t n = 1; n <= 20; ++n) {
        if (room_->Status(n, Key(n)).state == QueueState::kAdmitted) {
          rec.Purchased(static_cast<uint32_t>(n));
          break;
        }
      }
    }
  }
  const RoomStats st = room_->Stats();
  ASSERT_TRUE(st.opened);
  ASSERT_GT(st.admitted, 0u);
  ASSERT_GT(st.waiting, 0u);
  ASSERT_EQ(st.lapsed, 2u);
  ASSERT_EQ(st.left, 1u);
  ASSERT_EQ(st.done, 1u);
  ASSERT_GT(st.pass_expired, 0u);

  // From the log.
  WaitingRoom from_log("gig", c, &clock_, SeededRandom(1));
  Replay(rec.log, &from_log);
  from_log.FinishRestore();
  ExpectSameRoom(*room_, from_log, 20, "log");

  // From a snapshot, then the whole log again over it (replay is idempotent).
  WaitingRoom from_snap("gig", c, &clock_, SeededRandom(2));
  RestoreFromSnapshot(*room_, &from_snap);
  Replay(rec.log, &from_snap);
  from_snap.FinishRestore();
  ExpectSameRoom(*room_, from_snap, 20, "snapshot");

  // The restored rooms carry on where the original was: same next
  // admission, next number, and their passes still work.
  for (WaitingRoom* r : {room_.get(), &from_log, &from_snap}) {
    const auto j = r->Join("late");
    EXPECT_EQ(j.number, 21u);
    EXPECT_TRUE(j.fresh);
  }
  // Step on together (everyone polling), comparing what each step changes.
  auto sorted = [](std::vector<uint32_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<uint32_t> admitted_later;
  for (int step = 0; step < 40; ++step) {
    clock_.AdvanceMs(100);
    for (WaitingRoom* r : {room_.get(), &from_log, &from_snap}) {
      for (uint64_t n = 1; n <= 20; ++n) r->Status(n, Key(n));
      r->Status(21, "late");
    }
    const auto a0 = room_->Advance();
    const auto a1 = from_log.Advance();
    const auto a2 = from_snap.Advance();
    ASSERT_EQ(a1.admitted, a0.admitted) << "step " << step;
    ASSERT_EQ(a2.admitted, a0.admitted) << "step " << step;
    ASSERT_EQ(sorted(a1.expired), sorted(a0.expired)) << "step " << step;
    ASSERT_EQ(sorted(a2.expired), sorted(a0.expired)) << "step " << step;
    ASSERT_EQ(sorted(a1.lapsed), sorted(a0.lapsed)) << "step " << step;
    ASSERT_EQ(sorted(a2.lapsed), sorted(a0.lapsed)) << "step " << step;
    admitted_later.insert(admitted_later.end(), a0.admitted.begin(), a0.admitted.end());
  }
  ASSERT_FALSE(admitted_later.empty());
}

TEST_F(WaitingRoomTest, PassesAdmittedBeforeARestoreStillWorkAfterIt) {
  RoomConfig c = CapacityConfig(3, 3);
  Make(c, 8);
  RecordingRoom rec(room_.get());
  for (uint64_t n = 1; n <= 6; ++n) rec.Join(Key(n));
  rec.Advance();
  ASSERT_EQ(room_->Stats().admitted, 3u);
  WaitingRoom restored("gig", c, &clock_, SeededRandom(4));
  Replay(rec.log, &restored);
  restored.FinishRestore();
  for (uint64_t n = 1; n <= 3; ++n) {
    const std::string pass = room_->Status(n, Key(n)).pass;
    ASSERT_FALSE(pass.empty());
    EXPECT_EQ(restored.Status(n, Key(n)).pass, pass);
    uint64_t number = 0;
    std::string detail;
    EXPECT_EQ(restored.UsePass(pass, 2, &number, &detail), ResultCode::kOk) << detail;
    EXPECT_EQ(number, n);
  }
  EXPECT_EQ(restored.Status(6, Key(6)).position, 2u);
  EXPECT_THAT(restored.Advance().admitted, IsEmpty());  // still full
  EXPECT_TRUE(restored.Leave(2, Key(2)).changed);
  EXPECT_THAT(restored.Advance().admitted, ElementsAre(4));
}

TEST_F(WaitingRoomTest, RestoreBeforeTheSaleOpensReplaysTheSameShuffle) {
  RoomConfig c = RateConfig(1000, 100);
  c.on_sale_ms = kT0 + 1000;
  Make(c, 77);
  RecordingRoom rec(room_.get());
  for (uint64_t n = 1; n <= 30; ++n) rec.Join(Key(n));
  // A snapshot taken now (not opened), the rest of the log after it.
  WaitingRoom restored("gig", c, &clock_, SeededRandom(3));
  RestoreFromSnapshot(*room_, &restored);
  clock_.SetMs(c.on_sale_ms);
  rec.Advance();
  ASSERT_TRUE(room_->opened());
  Replay(rec.log, &restored);
  restored.FinishRestore();
  ExpectSameRoom(*room_, restored, 30, "snapshot before open");
}

// ---------------------------------------------------------------------------
// Hostile configs and clocks

TEST(WaitingRoomConfigTest, ValidateBoundsSizesAndTimes) {
  RoomConfig c = RateConfig(100, kMaxBatchSize + 1);
  EXPECT_NE(ValidateRoomConfig(c), "");
  c = RateConfig(100, kMaxBatchSize);
  EXPECT_EQ(ValidateRoomConfig(c), "");
  c.pass_ttl_ms = INT64_MAX;  // now + ttl would overflow
  EXPECT_NE(ValidateRoomConfig(c), "");
  c = RateConfig(100, 10);
  c.grace_ms = INT64_MAX;
  EXPECT_NE(ValidateRoomConfig(c), "");
  c = RateConfig(100, 10);
  c.on_sale_ms = INT64_MAX;
  EXPECT_NE(ValidateRoomConfig(c), "");
  c = RateConfig(100, 10);
  c.max_queue = 0;
  EXPECT_NE(ValidateRoomConfig(c), "");
  c.max_queue = kMaxQueueLimit + 1;
  EXPECT_NE(ValidateRoomConfig(c), "");
}

TEST_F(WaitingRoomTest, JoinStopsAtMaxQueue) {
  RoomConfig c = RateConfig(1, 1);
  c.max_queue = 3;
  Make(c);
  JoinRange(1, 3);
  EXPECT_EQ(room_->Join(Key(4)).code, ResultCode::kCapacityExhausted);
  EXPECT_EQ(room_->Join(Key(2)).number, 2u);  // joining again still answers
}

TEST_F(WaitingRoomTest, AClockThatStepsBackNeitherCrashesNorStallsAdmission) {
  Make(RateConfig(100, 10));  // a batch every 100 ms
  JoinRange(1, 2000);
  for (int i = 0; i < 500; ++i) {  // 5 s of admissions
    clock_.AdvanceMs(10);
    room_->Advance();
  }
  const uint64_t admitted = room_->Stats().admitted_total;
  ASSERT_GT(admitted, 400u);
  clock_.AdvanceMs(-3000);  // NTP steps the wall clock back 3 s
  const QueueStatus s = St(2000);
  EXPECT_EQ(s.code, ResultCode::kOk);
  EXPECT_GE(s.eta_p50_ms, 0);
  EXPECT_GE(s.eta_p90_ms, s.eta_p50_ms);
  for (int i = 0; i < 30; ++i) {  // 300 ms later, admission has gone on
    clock_.AdvanceMs(10);
    room_->Advance();
  }
  EXPECT_GT(room_->Stats().admitted_total, admitted);
}

TEST_F(WaitingRoomTest, EtaStaysFiniteForHugePositionsAndSlowRooms) {
  RoomConfig c = CapacityConfig(1);
  c.pass_ttl_ms = 366LL * 24 * 3600 * 1000;  // a year: one buyer a year
  Make(c);
  JoinRange(1, 1000);
  const QueueStatus s = St(1000);
  EXPECT_EQ(s.code, ResultCode::kOk);
  EXPECT_GT(s.eta_p50_ms, 0);
  EXPECT_GE(s.eta_p90_ms, s.eta_p50_ms);
}

TEST_F(WaitingRoomTest, LapsesAtTheHeadAreBoundedPerAdvance) {
  RoomConfig c = RateConfig(1000, 10);
  c.grace_ms = 1000;
  Make(c);
  JoinRange(1, 250'000);
  clock_.AdvanceMs(5000);  // nobody polled: all overdue
  const WaitingRoom::Advanced a = room_->Advance();
  EXPECT_LE(a.lapsed.size(), 100'000u + 4096u);
  EXPECT_TRUE(a.admitted.empty());
  size_t total = a.lapsed.size();
  for (int i = 0; i < 10 && total < 250'000; ++i) {
    clock_.AdvanceMs(10);
    total += room_->Advance().lapsed.size();
  }
  EXPECT_EQ(total, 250'000u);
  EXPECT_EQ(room_->Stats().waiting, 0u);
}

}  // namespace
}  // namespace seatlock
