// Unit tests for SeatEngine, one rule per test. Time is driven by ManualClock;
// nothing sleeps.
#include "engine/seat_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <malloc.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "engine/clock.h"
#include "engine/layout.h"
#include "engine/limits.h"
#include "engine/result_code.h"

namespace seatlock {

// Readable failure messages (found by argument-dependent lookup).
void PrintTo(ResultCode code, std::ostream* os) { *os << ResultCodeName(code); }
void PrintTo(SeatState s, std::ostream* os) { *os << SeatStateName(s); }
void PrintTo(ChangeKind k, std::ostream* os) { *os << ChangeKindName(k); }
void PrintTo(const SeatKey& k, std::ostream* os) {
  *os << "{section " << k.section << ", seat " << k.seat << "}";
}
void PrintTo(const SeatConflict& c, std::ostream* os) {
  *os << "{";
  PrintTo(c.seat, os);
  *os << " " << SeatStateName(c.state) << " until " << c.held_until_ms << "}";
}

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kSec = 1000;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kT0 = 1'700'000'000'000;

// ---------------------------------------------------------------------------
// Helpers

struct Change {
  uint64_t seq;
  int64_t time_ms;
  ChangeKind kind;
  std::string event_id;
  uint64_t hold_id;
  uint64_t booking_id;
  uint64_t fencing_token;
  std::vector<SeatKey> seats;
  SeatState new_state;
};

class RecordingSink : public ChangeSink {
 public:
  void OnChange(const ChangeRecord& r) override {
    changes.push_back(Change{r.seq, r.time_ms, r.kind, std::string(r.event_id), r.hold_id,
                             r.booking_id, r.fencing_token,
                             std::vector<SeatKey>(r.seats.begin(), r.seats.end()), r.new_state()});
  }
  std::vector<Change> changes;
};

RowLayout Row(std::string label, uint32_t seats) {
  RowLayout r;
  r.label = std::move(label);
  r.seat_count = seats;
  return r;
}

RowLayout LabelledRow(std::string label, std::vector<std::string> seats) {
  RowLayout r;
  r.label = std::move(label);
  r.seat_labels = std::move(seats);
  return r;
}

SectionLayout Section(std::string label, std::vector<RowLayout> rows) {
  SectionLayout s;
  s.label = std::move(label);
  s.rows = std::move(rows);
  return s;
}

// Rows "A", "B", ... each with `seats` seats.
SectionLayout UniformSection(std::string label, uint32_t rows, uint32_t seats) {
  SectionLayout s;
  s.label = std::move(label);
  for (uint32_t r = 0; r < rows; ++r) {
    s.rows.push_back(Row(std::string(1, static_cast<char>('A' + r)), seats));
  }
  return s;
}

EventLayout Layout(std::string id, std::vector<SectionLayout> sections) {
  EventLayout e;
  e.event_id = std::move(id);
  e.sections = std::move(sections);
  return e;
}

// "gig": section 103 (rows A..J, 20 seats each), section 104 (rows A..C,
// 10 seats each), section VIP (one row "1" with explicit seat labels).
EventLayout GigLayout() {
  return Layout("gig", {UniformSection("103", 10, 20), UniformSection("104", 3, 10),
                        Section("VIP", {LabelledRow("1", {"101", "103", "105", "107"})})});
}

class EngineFixture : public ::testing::Test {
 protected:
  struct Config {
    EngineLimits limits;
    std::function<bool(std::string_view, std::string_view)> owns_section;
    uint64_t fencing_floor = 0;
    uint8_t shard_index = 0;
  };

  void SetUp() override { Build(Config{}); }

  void Build(Config config) {
    engine_.reset();
    sink_.changes.clear();
    SeatEngine::Options o;
    o.clock = &clock_;
    o.limits = config.limits;
    o.shard_index = config.shard_index;
    o.sink = &sink_;
    o.owns_section = std::move(config.owns_section);
    o.fencing_floor = config.fencing_floor;
    engine_ = std::make_unique<SeatEngine>(std::move(o));
  }

  void Build(EngineLimits limits) {
    Config c;
    c.limits = limits;
    Build(std::move(c));
  }

  void DefineGig() { ASSERT_EQ(engine_->DefineEvent(GigLayout()).code, ResultCode::kOk); }

  SeatKey Key(std::string_view section, std::string_view row, std::string_view seat,
              std::string_view event = "gig") {
    ResolveResult r = engine_->ResolveSeat(
        event, SeatLabel{std::string(section), std::string(row), std::string(seat)});
    EXPECT_EQ(r.code, ResultCode::kOk) << section << "/" << row << "/" << seat << " " << r.detail;
    return r.key;
  }

  SeatView ViewOf(SeatKey k, std::string_view event = "gig") {
    SectionSeats s = engine_->GetSeats(event, static_cast<int>(k.section));
    EXPECT_EQ(s.code, ResultCode::kOk) << s.detail;
    if (k.seat >= s.seats.size()) {
      ADD_FAILURE() << "seat " << k.seat << " out of range";
      return SeatView{};
    }
    EXPECT_EQ(s.seats[k.seat].seat, k.seat);
    return s.seats[k.seat];
  }

  SeatState StateOf(SeatKey k, std::string_view event = "gig") { return ViewOf(k, event).state; }

  HoldResult HoldOk(std::vector<SeatKey> seats, std::string_view holder, int64_t ttl,
                    std::string_view event = "gig") {
    HoldResult h = engine_->Hold(event, seats, holder, ttl);
    EXPECT_EQ(h.code, ResultCode::kOk) << h.detail;
    return h;
  }

  // Marks seats SOLD by holding and confirming them as "seller".
  void Sell(std::vector<SeatKey> seats, std::string_view event = "gig") {
    static int n = 0;
    HoldResult h = HoldOk(seats, "seller", 10 * kMin, event);
    ConfirmResult c = engine_->Confirm(h.hold_id, "seller", "sell-" + std::to_string(++n), "pay");
    ASSERT_EQ(c.code, ResultCode::kOk) << c.detail;
  }

  std::vector<SeatKey> RowSeats(uint32_t section, uint32_t first, std::vector<uint32_t> idx) {
    std::vector<SeatKey> out;
    for (uint32_t i : idx) out.push_back(SeatKey{section, first + i});
    return out;
  }

  ManualClock clock_{kT0};
  RecordingSink sink_;
  std::unique_ptr<SeatEngine> engine_;
};

// Fixture aliases so test names group by behaviour.
class SeatEngineDefine : public EngineFixture {};
class SeatEngineLabels : public EngineFixture {};
class SeatEngineHold : public EngineFixture {};
class SeatEngineFencing : public EngineFixture {};
class SeatEngineScenario : public EngineFixture {};
class SeatEngineExpiry : public EngineFixture {};
class SeatEngineExtend : public EngineFixture {};
class SeatEngineRelease : public EngineFixture {};
class SeatEngineConfirm : public EngineFixture {};
class SeatEngineIdempotency : public EngineFixture {};
class SeatEngineCancel : public EngineFixture {};
class SeatEngineReads : public EngineFixture {};
class SeatEngineShard : public EngineFixture {};
class SeatEngineChanges : public EngineFixture {};
class SeatEngineBestAvailable : public EngineFixture {};
class SeatEngineMemory : public EngineFixture {};

// ---------------------------------------------------------------------------
// DefineEvent

TEST_F(SeatEngineDefine, NewEventIsDefinedAndListed) {
  DefineGig();
  ASSERT_NE(engine_->Layout("gig"), nullptr);
  EXPECT_EQ(*engine_->Layout("gig"), GigLayout());
  EXPECT_THAT(engine_->EventIds(), ElementsAre("gig"));
  Availability a = engine_->GetAvailability("gig");
  ASSERT_EQ(a.code, ResultCode::kOk);
  EXPECT_EQ(a.total, 10u * 20 + 3 * 10 + 4);
  EXPECT_EQ(a.free, a.total);
}

TEST_F(SeatEngineDefine, IdenticalRedefinitionIsOkAndKeepsState) {
  DefineGig();
  HoldResult h = HoldOk({Key("103", "A", "1")}, "b1", kMin);
  EXPECT_EQ(engine_->DefineEvent(GigLayout()).code, ResultCode::kOk);
  EXPECT_EQ(StateOf(Key("103", "A", "1")), SeatState::kHeld);
  EXPECT_TRUE(engine_->GetHold(h.hold_id).has_value());
}

TEST_F(SeatEngineDefine, DifferentRedefinitionIsEventExists) {
  DefineGig();
  EventLayout other = GigLayout();
  other.sections[0].rows[0].seat_count = 21;
  EXPECT_EQ(engine_->DefineEvent(other).code, ResultCode::kEventExists);
  EXPECT_EQ(*engine_->Layout("gig"), GigLayout());
}

TEST_F(SeatEngineDefine, EmptyEventIdIsInvalidArgument) {
  EventLayout l = GigLayout();
  l.event_id = "";
  EXPECT_EQ(engine_->DefineEvent(l).code, ResultCode::kInvalidArgument);
  EXPECT_THAT(engine_->EventIds(), IsEmpty());
}

TEST_F(SeatEngineDefine, DuplicateSectionLabelIsInvalidArgument) {
  EventLayout l = Layout("e", {UniformSection("A", 1, 5), UniformSection("A", 1, 5)});
  EXPECT_EQ(engine_->DefineEvent(l).code, ResultCode::kInvalidArgument);
  EXPECT_EQ(engine_->Layout("e"), nullptr);
}

TEST_F(SeatEngineDefine, DuplicateRowLabelIsInvalidArgument) {
  EventLayout l = Layout("e", {Section("S", {Row("A", 3), Row("A", 3)})});
  EXPECT_EQ(engine_->DefineEvent(l).code, ResultCode::kInvalidArgument);
  EXPECT_EQ(engine_->Layout("e"), nullptr);
}

TEST_F(SeatEngineDefine, DuplicateExplicitSeatLabelIsInvalidArgument) {
  EventLayout l = Layout("e", {Section("S", {LabelledRow("A", {"1", "2", "1"})})});
  EXPECT_EQ(engine_->DefineEvent(l).code, ResultCode::kInvalidArgument);
  EXPECT_EQ(engine_->Layout("e"), nullptr);
}

TEST_F(SeatEngineDefine, TooManySectionsIsLimitExceeded) {
  EngineLimits lim;
  lim.max_sections_per_event = 2;
  Build(lim);
  EventLayout l = Layout(
      "e", {UniformSection("A", 1, 2), UniformSection("B", 1, 2), UniformSection("C", 1, 2)});
  EXPECT_EQ(engine_->DefineEvent(l).code, ResultCode::kLimitExceeded);
  EXPECT_EQ(engine_->Layout("e"), nullptr);
  l.sections.pop_back();
  EXPECT_EQ(engine_->DefineEvent(l).code, ResultCode::kOk);
}

TEST_F(SeatEngineDefine, TooManyRowsIsLimitExceeded) {
  EngineLimits lim;
  lim.max_rows_per_section = 3;
  Build(lim);
  EXPECT_EQ(engine_->DefineEvent(Layout("e", {UniformSection("A", 4, 2)})).code,
            ResultCode::kLimitExceeded);
  EXPECT_EQ(engine_->DefineEvent(Layout("e", {UniformSection("A", 3, 2)})).code, ResultCode::kOk);
}

TEST_F(SeatEngineDefine, TooManySeatsIsLimitExceeded) {
  EngineLimits lim;
  lim.max_seats_per_event = 100;
  Build(lim);
  EXPECT_EQ(
      engine_->DefineEvent(Layout("e", {UniformSection("A", 10, 10), UniformSection("B", 1, 1)}))
          .code,
      ResultCode::kLimitExceeded);
  EXPECT_EQ(engine_->Layout("e"), nullptr);
  EXPECT_EQ(engine_->DefineEvent(Layout("e", {UniformSection("A", 10, 10)})).code, ResultCode::kOk);
}

TEST_F(SeatEngineDefine, OverlongLabelIsLimitExceeded) {
  EngineLimits lim;
  lim.max_label_len = 8;
  Build(lim);
  const std::string long_label(9, 'x');
  const std::string max_label(8, 'x');
  EventLayout by_event = Layout(long_label, {UniformSection("A", 1, 2)});
  EXPECT_EQ(engine_->DefineEvent(by_event).code, ResultCode::kLimitExceeded);
  EXPECT_EQ(engine_->DefineEvent(Layout("e1", {UniformSection(long_label, 1, 2)})).code,
            ResultCode::kLimitExceeded);
  EXPECT_EQ(engine_->DefineEvent(Layout("e2", {Section("S", {Row(long_label, 2)})})).code,
            ResultCode::kLimitExceeded);
  EXPECT_EQ(
      engine_->DefineEvent(Layout("e3", {Section("S", {LabelledRow("A", {long_label})})})).code,
      ResultCode::kLimitExceeded);
  EXPECT_THAT(engine_->EventIds(), IsEmpty());
  EXPECT_EQ(engine_->DefineEvent(Layout(max_label, {Section(max_label, {Row(max_label, 2)})})).code,
            ResultCode::kOk);
}

TEST_F(SeatEngineDefine, SectionWithMoreThan65535RowsIsRefusedOrIndexedCorrectly) {
  EngineLimits lim;
  lim.max_rows_per_section = 70'000;
  Build(lim);
  SectionLayout s;
  s.label = "deep";
  for (int r = 0; r < 65'540; ++r) s.rows.push_back(Row("r" + std::to_string(r), 1));
  const SimpleResult d = engine_->DefineEvent(Layout("deep", {s}));
  if (d.code == ResultCode::kLimitExceeded) return;  // refusing is fine
  ASSERT_EQ(d.code, ResultCode::kOk) << d.detail;
  // Seat 65,536 is alone in row 65,536.
  HoldOk({{0, 65'536}}, "b", kMin, "deep");
  SectionSeats seats = engine_->GetSeats("deep", 0);
  ASSERT_EQ(seats.code, ResultCode::kOk);
  EXPECT_EQ(seats.seats[65'536].row, 65'536u);
  // Row 0 is still free and nearest the stage.
  HoldResult best = engine_->HoldBestAvailable("deep", 0, 1, true, "b", kMin);
  ASSERT_EQ(best.code, ResultCode::kOk);
  EXPECT_THAT(best.seats, ElementsAre(SeatKey{0, 0}));
}

TEST_F(SeatEngineDefine, OperationsOnUnknownEventAreEventNotFound) {
  DefineGig();
  EXPECT_EQ(engine_->Hold("nope", std::vector<SeatKey>{{0, 0}}, "b", kMin).code,
            ResultCode::kEventNotFound);
  EXPECT_EQ(engine_->HoldBestAvailable("nope", -1, 1, true, "b", kMin).code,
            ResultCode::kEventNotFound);
  EXPECT_EQ(engine_->GetAvailability("nope").code, ResultCode::kEventNotFound);
  EXPECT_EQ(engine_->GetSeats("nope", 0).code, ResultCode::kEventNotFound);
  EXPECT_EQ(engine_->ResolveSeat("nope", {"103", "A", "1"}).code, ResultCode::kEventNotFound);
  EXPECT_EQ(engine_->Layout("nope"), nullptr);
  EXPECT_EQ(engine_->SectionIndex("nope", "103"), -1);
}

// ---------------------------------------------------------------------------
// Labels

TEST_F(SeatEngineLabels, NumberedSeatsResolveRowByRow) {
  DefineGig();
  // Section 103: 20 seats per row; row F is index 5, seat "12" is index 11.
  ResolveResult r = engine_->ResolveSeat("gig", {"103", "F", "12"});
  ASSERT_EQ(r.code, ResultCode::kOk);
  EXPECT_EQ(r.key, (SeatKey{0, 5 * 20 + 11}));
  EXPECT_EQ(Key("104", "B", "1"), (SeatKey{1, 10}));
  EXPECT_EQ(engine_->SectionIndex("gig", "103"), 0);
  EXPECT_EQ(engine_->SectionIndex("gig", "104"), 1);
  EXPECT_EQ(engine_->SectionIndex("gig", "VIP"), 2);
  EXPECT_EQ(engine_->SectionIndex("gig", "999"), -1);
}

TEST_F(SeatEngineLabels, ExplicitSeatLabelsResolveByPosition) {
  DefineGig();
  EXPECT_EQ(Key("VIP", "1", "101"), (SeatKey{2, 0}));
  EXPECT_EQ(Key("VIP", "1", "105"), (SeatKey{2, 2}));
  EXPECT_EQ(Key("VIP", "1", "107"), (SeatKey{2, 3}));
  // An explicit-label row has no seat "1" or "2".
  EXPECT_EQ(engine_->ResolveSeat("gig", {"VIP", "1", "2"}).code, ResultCode::kUnknownSeat);
}

TEST_F(SeatEngineLabels, LabelOfRoundTripsEverySeat) {
  DefineGig();
  const EventLayout& l = *engine_->Layout("gig");
  for (uint32_t s = 0; s < l.sections.size(); ++s) {
    for (uint32_t i = 0; i < l.sections[s].seat_count(); ++i) {
      std::optional<SeatLabel> label = engine_->LabelOf("gig", SeatKey{s, i});
      ASSERT_TRUE(label.has_value()) << s << "/" << i;
      ResolveResult r = engine_->ResolveSeat("gig", *label);
      ASSERT_EQ(r.code, ResultCode::kOk);
      EXPECT_EQ(r.key, (SeatKey{s, i}));
    }
  }
  EXPECT_EQ(engine_->LabelOf("gig", SeatKey{0, 5 * 20 + 11}), (SeatLabel{"103", "F", "12"}));
  EXPECT_EQ(engine_->LabelOf("gig", SeatKey{2, 1}), (SeatLabel{"VIP", "1", "103"}));
}

TEST_F(SeatEngineLabels, UnknownSectionRowOrSeatIsUnknownSeat) {
  DefineGig();
  EXPECT_EQ(engine_->ResolveSeat("gig", {"999", "A", "1"}).code, ResultCode::kUnknownSeat);
  EXPECT_EQ(engine_->ResolveSeat("gig", {"103", "Z", "1"}).code, ResultCode::kUnknownSeat);
  EXPECT_EQ(engine_->ResolveSeat("gig", {"103", "A", "21"}).code, ResultCode::kUnknownSeat);
  EXPECT_EQ(engine_->ResolveSeat("gig", {"103", "A", "0"}).code, ResultCode::kUnknownSeat);
  EXPECT_FALSE(engine_->LabelOf("gig", SeatKey{0, 200}).has_value());
  EXPECT_FALSE(engine_->LabelOf("gig", SeatKey{3, 0}).has_value());
  EXPECT_FALSE(engine_->LabelOf("nope", SeatKey{0, 0}).has_value());
}

TEST_F(SeatEngineLabels, HoldOfOutOfRangeSeatKeyIsUnknownSeat) {
  DefineGig();
  HoldResult h = engine_->Hold("gig", std::vector<SeatKey>{{0, 0}, {0, 200}}, "b", kMin);
  EXPECT_EQ(h.code, ResultCode::kUnknownSeat);
  h = engine_->Hold("gig", std::vector<SeatKey>{{7, 0}}, "b", kMin);
  EXPECT_EQ(h.code, ResultCode::kUnknownSeat);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
}

// ---------------------------------------------------------------------------
// Hold

TEST_F(SeatEngineHold, GrantSetsDeadlineAndMarksSeatsHeld) {
  DefineGig();
  const SeatKey a = Key("103", "F", "12"), b = Key("103", "F", "13");
  HoldResult h = engine_->Hold("gig", std::vector<SeatKey>{a, b}, "buyer-1", 10 * kMin);
  ASSERT_EQ(h.code, ResultCode::kOk) << h.detail;
  EXPECT_NE(h.hold_id, 0u);
  EXPECT_GT(h.fencing_token, 0u);
  EXPECT_EQ(h.expires_ms, kT0 + 10 * kMin);
  EXPECT_EQ(h.remaining_ms, 10 * kMin);
  EXPECT_THAT(h.seats, ElementsAre(a, b));
  EXPECT_THAT(h.conflicts, IsEmpty());
  for (SeatKey k : {a, b}) {
    SeatView v = ViewOf(k);
    EXPECT_EQ(v.state, SeatState::kHeld);
    EXPECT_EQ(v.owner_id, h.hold_id);
    EXPECT_EQ(v.held_until_ms, kT0 + 10 * kMin);
  }
  EXPECT_EQ(StateOf(Key("103", "F", "14")), SeatState::kFree);
}

TEST_F(SeatEngineHold, SecondBuyerGetsRefusalNamingHolderDeadline) {
  DefineGig();
  const SeatKey seat = Key("103", "F", "12");
  HoldResult h1 = HoldOk({seat}, "buyer-1", 10 * kMin);
  clock_.AdvanceMs(200);
  HoldResult h2 = engine_->Hold("gig", std::vector<SeatKey>{seat}, "buyer-2", 10 * kMin);
  EXPECT_EQ(h2.code, ResultCode::kSeatUnavailable);
  EXPECT_EQ(h2.hold_id, 0u);
  EXPECT_THAT(h2.conflicts, ElementsAre(SeatConflict{seat, SeatState::kHeld, h1.expires_ms}));
}

TEST_F(SeatEngineHold, SameHolderCannotHoldItsOwnSeatTwice) {
  DefineGig();
  const SeatKey seat = Key("103", "A", "1");
  HoldResult h1 = HoldOk({seat}, "buyer-1", kMin);
  HoldResult h2 = engine_->Hold("gig", std::vector<SeatKey>{seat}, "buyer-1", kMin);
  EXPECT_EQ(h2.code, ResultCode::kSeatUnavailable);
  EXPECT_THAT(h2.conflicts, ElementsAre(SeatConflict{seat, SeatState::kHeld, h1.expires_ms}));
}

TEST_F(SeatEngineHold, RefusalIsAllOrNothingAndNamesEveryUnavailableSeat) {
  DefineGig();
  const SeatKey free1 = Key("103", "B", "1"), held = Key("103", "B", "2"),
                sold = Key("103", "B", "3"), free2 = Key("103", "B", "4");
  HoldResult other = HoldOk({held}, "other", 5 * kMin);
  Sell({sold});
  const Availability before = engine_->GetAvailability("gig");
  const size_t changes_before = sink_.changes.size();

  HoldResult h =
      engine_->Hold("gig", std::vector<SeatKey>{free1, held, sold, free2}, "buyer", kMin);
  EXPECT_EQ(h.code, ResultCode::kSeatUnavailable);
  EXPECT_THAT(h.conflicts, ElementsAre(SeatConflict{held, SeatState::kHeld, other.expires_ms},
                                       SeatConflict{sold, SeatState::kSold, 0}));
  EXPECT_EQ(StateOf(free1), SeatState::kFree);
  EXPECT_EQ(StateOf(free2), SeatState::kFree);
  EXPECT_EQ(ViewOf(held).owner_id, other.hold_id);
  const Availability after = engine_->GetAvailability("gig");
  EXPECT_EQ(after.free, before.free);
  EXPECT_EQ(after.held, before.held);
  EXPECT_EQ(after.sold, before.sold);
  EXPECT_EQ(sink_.changes.size(), changes_before);
  EXPECT_THAT(engine_->ListHolds("gig", "buyer", 100), IsEmpty());
}

TEST_F(SeatEngineHold, DuplicateSeatInOneRequestIsDuplicateSeat) {
  DefineGig();
  const SeatKey a = Key("103", "A", "1"), b = Key("103", "A", "2");
  HoldResult h = engine_->Hold("gig", std::vector<SeatKey>{a, b, a}, "buyer", kMin);
  EXPECT_EQ(h.code, ResultCode::kDuplicateSeat);
  EXPECT_EQ(StateOf(a), SeatState::kFree);
  EXPECT_EQ(StateOf(b), SeatState::kFree);
}

TEST_F(SeatEngineHold, TooManySeatsIsLimitExceeded) {
  EngineLimits lim;
  lim.max_seats_per_hold = 4;
  Build(lim);
  DefineGig();
  std::vector<SeatKey> five = RowSeats(0, 0, {0, 1, 2, 3, 4});
  EXPECT_EQ(engine_->Hold("gig", five, "b", kMin).code, ResultCode::kLimitExceeded);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
  five.pop_back();
  EXPECT_EQ(engine_->Hold("gig", five, "b", kMin).code, ResultCode::kOk);
}

TEST_F(SeatEngineHold, TtlAboveMaximumIsLimitExceeded) {
  EngineLimits lim;
  lim.max_ttl_ms = 15 * kMin;
  Build(lim);
  DefineGig();
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 0}}, "b", 15 * kMin + 1).code,
            ResultCode::kLimitExceeded);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 0}}, "b", 15 * kMin).code,
            ResultCode::kOk);
}

TEST_F(SeatEngineHold, OverlongHolderIsLimitExceeded) {
  EngineLimits lim;
  lim.max_holder_len = 10;
  Build(lim);
  DefineGig();
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 0}}, std::string(11, 'h'), kMin).code,
            ResultCode::kLimitExceeded);
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 0}}, std::string(10, 'h'), kMin).code,
            ResultCode::kOk);
}

TEST_F(SeatEngineHold, NonPositiveTtlIsInvalidArgument) {
  DefineGig();
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 0}}, "b", 0).code,
            ResultCode::kInvalidArgument);
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 0}}, "b", -5).code,
            ResultCode::kInvalidArgument);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
}

TEST_F(SeatEngineHold, EmptyHolderIsInvalidArgument) {
  DefineGig();
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 0}}, "", kMin).code,
            ResultCode::kInvalidArgument);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
}

TEST_F(SeatEngineHold, EmptySeatListIsInvalidArgument) {
  DefineGig();
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{}, "b", kMin).code,
            ResultCode::kInvalidArgument);
}

TEST_F(SeatEngineHold, SeatsFromSeveralSectionsCanBeHeldTogether) {
  DefineGig();
  HoldResult h =
      HoldOk({Key("103", "A", "1"), Key("104", "A", "1"), Key("VIP", "1", "103")}, "b", kMin);
  EXPECT_EQ(StateOf(Key("104", "A", "1")), SeatState::kHeld);
  EXPECT_EQ(StateOf(Key("VIP", "1", "103")), SeatState::kHeld);
  EXPECT_EQ(h.seats.size(), 3u);
}

TEST_F(SeatEngineHold, LiveHoldCapIsCapacityExhausted) {
  EngineLimits lim;
  lim.max_live_holds = 2;
  Build(lim);
  DefineGig();
  HoldResult h1 = HoldOk({{0, 0}}, "b", kMin);
  HoldOk({{0, 1}}, "b", kMin);
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 2}}, "b", kMin).code,
            ResultCode::kCapacityExhausted);
  EXPECT_EQ(StateOf({0, 2}), SeatState::kFree);
  ASSERT_TRUE(engine_->Release(h1.hold_id, "b").ok());
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 2}}, "b", kMin).code, ResultCode::kOk);
}

TEST_F(SeatEngineHold, LapsedHoldsDoNotCountAgainstCapacity) {
  EngineLimits lim;
  lim.max_live_holds = 2;
  Build(lim);
  DefineGig();
  HoldOk({{0, 0}}, "b", kMin);
  HoldOk({{0, 1}}, "b", kMin);
  clock_.AdvanceMs(kMin);  // both lapse but are remembered for late confirm
  engine_->ExpireDue();
  EXPECT_EQ(engine_->Stats().live_holds, 0u);
  EXPECT_EQ(engine_->Stats().lapsed_holds, 2u);
  HoldOk({{0, 2}}, "b", kMin);
  HoldOk({{0, 3}}, "b", kMin);
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 4}}, "b", kMin).code,
            ResultCode::kCapacityExhausted);
}

TEST_F(SeatEngineHold, HoldIdsCarryTheShardIndex) {
  Config c;
  c.shard_index = 7;
  Build(std::move(c));
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", kMin);
  EXPECT_EQ(SeatEngine::ShardOfId(h.hold_id), 7);
  ConfirmResult cr = engine_->Confirm(h.hold_id, "b", "k", "p");
  ASSERT_EQ(cr.code, ResultCode::kOk);
  EXPECT_EQ(SeatEngine::ShardOfId(cr.booking_id), 7);
}

TEST_F(SeatEngineHold, HoldIdIsTheShardAndTheFencingToken) {
  Config c;
  c.shard_index = 3;
  c.fencing_floor = 1000;
  Build(std::move(c));
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", kMin);
  EXPECT_EQ(h.hold_id, (uint64_t{3} << 56) | h.fencing_token);
  EXPECT_GT(h.fencing_token, 1000u);
}

// A restart is a new engine whose fencing floor is above every token granted
// before (recovery reserves them in the log). Ids from before it name nothing,
// even where the new hold reuses the same slot.
TEST_F(SeatEngineHold, IdsFromBeforeARestartNeverNameANewHold) {
  DefineGig();
  std::vector<uint64_t> old_ids;
  for (uint32_t i = 0; i < 5; ++i) old_ids.push_back(HoldOk({{0, i}}, "b", kMin).hold_id);
  EXPECT_EQ(engine_->Release(old_ids[4], "b").code, ResultCode::kOk);
  Config c;
  c.fencing_floor = engine_->fencing_high_water();
  Build(std::move(c));  // the restart: holds are not durable
  DefineGig();
  std::vector<uint64_t> new_ids;
  for (uint32_t i = 0; i < 5; ++i) new_ids.push_back(HoldOk({{0, i}}, "b", kMin).hold_id);
  for (uint64_t old_id : old_ids) {
    EXPECT_FALSE(engine_->GetHold(old_id).has_value()) << old_id;
    EXPECT_EQ(engine_->Confirm(old_id, "b", absl::StrCat("k", old_id), "p").code,
              ResultCode::kHoldNotFound);
    EXPECT_EQ(engine_->Extend(old_id, "b", kMin).code, ResultCode::kHoldNotFound);
    for (uint64_t new_id : new_ids) EXPECT_NE(old_id, new_id);
  }
  EXPECT_EQ(engine_->Stats().live_holds, 5u);
}

// A slot reused over and over never gives an id twice.
TEST_F(SeatEngineHold, ReusedSlotGivesFreshIds) {
  DefineGig();
  absl::flat_hash_set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    HoldResult h = HoldOk({{0, 0}}, "b", kMin);
    EXPECT_TRUE(seen.insert(h.hold_id).second);
    ASSERT_EQ(engine_->Release(h.hold_id, "b").code, ResultCode::kOk);
  }
}

// SystemClock follows CLOCK_BOOTTIME after its anchor: the wall clock
// stepping forward or back moves no deadline.
int64_t fake_wall_ms = 1'700'000'000'000;
int64_t fake_steady_ms = 5'000;
int64_t FakeWall() { return fake_wall_ms; }
int64_t FakeSteady() { return fake_steady_ms; }

TEST(SystemClockTest, WallClockStepsChangeNoHoldsLifetime) {
  SystemClock clock(FakeWall, FakeSteady);
  SeatEngine engine(SeatEngine::Options{.clock = &clock});
  ASSERT_EQ(engine.DefineEvent(GigLayout()).code, ResultCode::kOk);
  const int64_t t0 = clock.NowMs();
  EXPECT_EQ(t0, fake_wall_ms);
  HoldResult h = engine.Hold("gig", std::vector<SeatKey>{{0, 0}}, "b", 10'000);
  ASSERT_EQ(h.code, ResultCode::kOk);
  EXPECT_EQ(h.expires_ms, t0 + 10'000);
  fake_wall_ms += 3'600'000;  // NTP steps an hour forward
  EXPECT_EQ(clock.NowMs(), t0);
  EXPECT_EQ(clock.WallSkewMs(), 3'600'000);
  engine.ExpireDue();
  EXPECT_EQ(engine.GetHold(h.hold_id)->status, HoldStatus::kLive);
  fake_wall_ms -= 7'200'000;  // then an hour back from where it started
  fake_steady_ms += 9'999;
  engine.ExpireDue();
  EXPECT_EQ(engine.GetHold(h.hold_id)->status, HoldStatus::kLive);
  EXPECT_EQ(engine.GetHold(h.hold_id)->expires_ms - clock.NowMs(), 1);
  fake_steady_ms += 1;  // exactly its TTL after the grant
  engine.ExpireDue();
  EXPECT_EQ(engine.GetHold(h.hold_id)->status, HoldStatus::kLapsed);
  EXPECT_EQ(engine.Stats().holds_expired, 1u);
}

// Lapsed holds stay within max_lapsed_hold_bytes under churn; the oldest go
// first, and a late CONFIRM of an evicted one is HOLD_NOT_FOUND, selling
// nothing.
TEST_F(SeatEngineExpiry, LapsedHoldsStayWithinTheirByteCap) {
  EngineLimits lim;
  lim.max_lapsed_hold_bytes = 64 << 10;
  Build(lim);
  DefineGig();
  const uint32_t seats = engine_->GetSeats("gig", 0).seats.size();
  std::vector<uint64_t> ids;
  for (int round = 0; round < 20; ++round) {
    for (uint32_t i = 0; i < seats; ++i) ids.push_back(HoldOk({{0, i}}, "churn", 1000).hold_id);
    clock_.AdvanceMs(1001);
    engine_->ExpireDue();
    const EngineStats st = engine_->Stats();
    EXPECT_LE(st.lapsed_hold_bytes, lim.max_lapsed_hold_bytes);
    EXPECT_EQ(st.live_holds, 0u);
  }
  const EngineStats st = engine_->Stats();
  EXPECT_GT(st.lapsed_holds_evicted, 0u);
  EXPECT_EQ(st.lapsed_holds + st.lapsed_holds_evicted, ids.size());
  // The newest is remembered and sells late; the oldest was evicted.
  EXPECT_EQ(engine_->GetHold(ids.back())->status, HoldStatus::kLapsed);
  ConfirmResult late = engine_->Confirm(ids.back(), "churn", "late-new", "p");
  EXPECT_EQ(late.code, ResultCode::kOk) << late.detail;
  EXPECT_TRUE(late.hold_lapsed);
  ConfirmResult gone = engine_->Confirm(ids.front(), "churn", "late-old", "p");
  EXPECT_EQ(gone.code, ResultCode::kHoldNotFound);
  EXPECT_NE(gone.detail.find("forgotten"), std::string::npos) << gone.detail;
  EXPECT_EQ(engine_->Stats().bookings, 1u);
}

TEST_F(SeatEngineExpiry, ZeroLapsedByteCapRemembersNone) {
  EngineLimits lim;
  lim.max_lapsed_hold_bytes = 0;
  Build(lim);
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 1000);
  clock_.AdvanceMs(1001);
  engine_->ExpireDue();
  EXPECT_EQ(engine_->Stats().lapsed_holds, 0u);
  EXPECT_EQ(engine_->Confirm(h.hold_id, "b", "k", "p").code, ResultCode::kHoldNotFound);
}

// ---------------------------------------------------------------------------
// Fencing tokens

TEST_F(SeatEngineFencing, TokensStrictlyIncreaseAcrossGrants) {
  DefineGig();
  uint64_t last = 0;
  for (uint32_t i = 0; i < 20; ++i) {
    HoldResult h = HoldOk({SeatKey{0, i}}, "b" + std::to_string(i % 3), kMin);
    EXPECT_GT(h.fencing_token, last);
    last = h.fencing_token;
    if (i % 2 == 0) {
      ASSERT_TRUE(engine_->Release(h.hold_id, "b" + std::to_string(i % 3)).ok());
    }
  }
  HoldResult best = engine_->HoldBestAvailable("gig", 1, 2, true, "b", kMin);
  ASSERT_EQ(best.code, ResultCode::kOk);
  EXPECT_GT(best.fencing_token, last);
  EXPECT_EQ(engine_->fencing_high_water(), best.fencing_token);
}

TEST_F(SeatEngineFencing, RefusedHoldDoesNotConsumeAToken) {
  DefineGig();
  HoldResult h1 = HoldOk({{0, 0}}, "a", kMin);
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 0}}, "b", kMin).code,
            ResultCode::kSeatUnavailable);
  EXPECT_EQ(engine_->fencing_high_water(), h1.fencing_token);
  HoldResult h2 = HoldOk({{0, 1}}, "b", kMin);
  EXPECT_GT(h2.fencing_token, h1.fencing_token);
}

TEST_F(SeatEngineFencing, FirstTokenIsAboveTheFencingFloor) {
  Config c;
  c.fencing_floor = 1'000'000;
  Build(std::move(c));
  DefineGig();
  HoldResult h1 = HoldOk({{0, 0}}, "a", kMin);
  EXPECT_GT(h1.fencing_token, 1'000'000u);
  HoldResult h2 = HoldOk({{0, 1}}, "a", kMin);
  EXPECT_GT(h2.fencing_token, h1.fencing_token);
}

TEST_F(SeatEngineFencing, ConfirmCarriesTheHoldsToken) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "a", kMin);
  ConfirmResult c = engine_->Confirm(h.hold_id, "a", "k", "p");
  ASSERT_EQ(c.code, ResultCode::kOk);
  EXPECT_EQ(c.fencing_token, h.fencing_token);
  std::optional<BookingInfo> b = engine_->GetBooking(c.booking_id);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->fencing_token, h.fencing_token);
}

TEST_F(SeatEngineFencing, LateSaleIsANewGrantWithALargerToken) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "a", kMin);
  clock_.AdvanceMs(2 * kMin);
  HoldResult other = HoldOk({{0, 5}}, "b", kMin);  // a grant after the lapse
  ConfirmResult c = engine_->Confirm(h.hold_id, "a", "k", "p");
  ASSERT_EQ(c.code, ResultCode::kOk);
  ASSERT_TRUE(c.hold_lapsed);
  // The seats were FREE and are taken afresh: the token must fence off every
  // grant made meanwhile.
  EXPECT_GT(c.fencing_token, other.fencing_token);
  EXPECT_EQ(engine_->fencing_high_water(), c.fencing_token);
  EXPECT_EQ(engine_->GetBooking(c.booking_id)->fencing_token, c.fencing_token);
}

// ---------------------------------------------------------------------------
// Scenario: two buyers, one seat, 200 ms apart

TEST_F(SeatEngineScenario, TwoBuyersOneSeat200msApartThenRelease) {
  DefineGig();
  const SeatKey f12 = Key("103", "F", "12");
  HoldResult h1 = HoldOk({f12}, "buyer-1", 10 * kMin);
  clock_.AdvanceMs(200);
  HoldResult h2 = engine_->Hold("gig", std::vector<SeatKey>{f12}, "buyer-2", 10 * kMin);
  ASSERT_EQ(h2.code, ResultCode::kSeatUnavailable);
  ASSERT_THAT(h2.conflicts, ElementsAre(SeatConflict{f12, SeatState::kHeld, kT0 + 10 * kMin}));

  ASSERT_EQ(engine_->Release(h1.hold_id, "buyer-1").code, ResultCode::kOk);
  EXPECT_EQ(StateOf(f12), SeatState::kFree);

  HoldResult h3 = engine_->Hold("gig", std::vector<SeatKey>{f12}, "buyer-2", 10 * kMin);
  ASSERT_EQ(h3.code, ResultCode::kOk);
  EXPECT_GT(h3.fencing_token, h1.fencing_token);
  EXPECT_EQ(h3.expires_ms, kT0 + 200 + 10 * kMin);
  EXPECT_EQ(ViewOf(f12).owner_id, h3.hold_id);
}

TEST_F(SeatEngineScenario, TwoBuyersOneSeat200msApartThenExpiry) {
  DefineGig();
  const SeatKey f12 = Key("103", "F", "12");
  HoldResult h1 = HoldOk({f12}, "buyer-1", 10 * kMin);
  clock_.AdvanceMs(200);
  HoldResult h2 = engine_->Hold("gig", std::vector<SeatKey>{f12}, "buyer-2", 10 * kMin);
  ASSERT_EQ(h2.code, ResultCode::kSeatUnavailable);
  ASSERT_THAT(h2.conflicts, ElementsAre(SeatConflict{f12, SeatState::kHeld, kT0 + 10 * kMin}));

  clock_.SetMs(kT0 + 10 * kMin);
  EXPECT_EQ(StateOf(f12), SeatState::kFree);
  HoldResult h3 = engine_->Hold("gig", std::vector<SeatKey>{f12}, "buyer-2", 10 * kMin);
  ASSERT_EQ(h3.code, ResultCode::kOk);
  EXPECT_GT(h3.fencing_token, h1.fencing_token);
  // Buyer 1's old hold can no longer be used.
  EXPECT_EQ(engine_->Extend(h1.hold_id, "buyer-1", kMin).code, ResultCode::kHoldExpired);
  EXPECT_EQ(engine_->Release(h1.hold_id, "buyer-1").code, ResultCode::kHoldExpired);
  EXPECT_EQ(ViewOf(f12).owner_id, h3.hold_id);
}

// ---------------------------------------------------------------------------
// Expiry

TEST_F(SeatEngineExpiry, HoldIsLiveUntilOneMillisecondBeforeDeadline) {
  DefineGig();
  const SeatKey seat = Key("103", "C", "5");
  HoldResult h = HoldOk({seat}, "b", 10 * kMin);
  const int64_t d = h.expires_ms;
  clock_.SetMs(d - 1);
  EXPECT_EQ(engine_->ExpireDue(), 0u);
  EXPECT_EQ(StateOf(seat), SeatState::kHeld);
  std::optional<HoldInfo> info = engine_->GetHold(h.hold_id);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->status, HoldStatus::kLive);
  HoldResult other = engine_->Hold("gig", std::vector<SeatKey>{seat}, "x", kMin);
  EXPECT_EQ(other.code, ResultCode::kSeatUnavailable);
  EXPECT_EQ(engine_->Extend(h.hold_id, "b", kMin).code, ResultCode::kOk);
}

TEST_F(SeatEngineExpiry, HoldIsFreeExactlyAtDeadline) {
  DefineGig();
  const SeatKey seat = Key("103", "C", "5");
  HoldResult h = HoldOk({seat}, "b", 10 * kMin);
  clock_.SetMs(h.expires_ms);
  EXPECT_EQ(StateOf(seat), SeatState::kFree);
  std::optional<HoldInfo> info = engine_->GetHold(h.hold_id);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->status, HoldStatus::kLapsed);
  EXPECT_THAT(engine_->ListHolds("gig", "b", 10), IsEmpty());
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{seat}, "x", kMin).code, ResultCode::kOk);
}

TEST_F(SeatEngineExpiry, ExpireDueReleasesEveryDueHoldOnce) {
  DefineGig();
  HoldResult a = HoldOk({{0, 0}}, "b", 1 * kMin);
  HoldResult b = HoldOk({{0, 1}}, "b", 2 * kMin);
  HoldOk({{0, 2}}, "b", 3 * kMin);
  clock_.SetMs(kT0 + 2 * kMin);
  EXPECT_EQ(engine_->ExpireDue(), 2u);
  EXPECT_EQ(engine_->ExpireDue(), 0u);
  Availability av = engine_->GetAvailability("gig");
  EXPECT_EQ(av.held, 1u);
  EXPECT_EQ(engine_->GetHold(a.hold_id)->status, HoldStatus::kLapsed);
  EXPECT_EQ(engine_->GetHold(b.hold_id)->status, HoldStatus::kLapsed);
  EXPECT_EQ(engine_->Stats().holds_expired, 2u);
}

TEST_F(SeatEngineExpiry, ExpiryAfterLongJumpStillFreesSeats) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}, {0, 1}}, "b", 59 * kMin);
  clock_.AdvanceMs(5LL * 24 * 60 * kMin);  // five days later
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
  EXPECT_EQ(StateOf({0, 1}), SeatState::kFree);
  // Five days is past lapsed_hold_retention_ms: the hold is forgotten.
  EXPECT_EQ(engine_->Extend(h.hold_id, "b", kMin).code, ResultCode::kHoldNotFound);
  EXPECT_EQ(engine_->Stats().live_holds, 0u);
}

TEST_F(SeatEngineExpiry, LapsedHoldIsForgottenAfterRetention) {
  EngineLimits lim;
  lim.lapsed_hold_retention_ms = 30 * kMin;
  Build(lim);
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  clock_.SetMs(h.expires_ms + 30 * kMin + 1);
  engine_->ExpireDue();
  EXPECT_FALSE(engine_->GetHold(h.hold_id).has_value());
  EXPECT_EQ(engine_->Confirm(h.hold_id, "b", "k", "p").code, ResultCode::kHoldNotFound);
}

TEST_F(SeatEngineExpiry, PollHintNeverPassesTheNextDeadline) {
  DefineGig();
  for (int64_t ttl : std::vector<int64_t>{1, 7, 63, 64, 65, 4'095, 4'097, 10 * kMin, 59 * kMin}) {
    Build(EngineLimits{});
    DefineGig();
    clock_.AdvanceMs(ttl % 37);  // vary the phase against the wheel's slots
    HoldResult h = HoldOk({{0, 0}}, "b", ttl);
    for (int64_t at : {int64_t{0}, ttl / 2, ttl - 1}) {
      clock_.SetMs(h.expires_ms - ttl + at);
      const int64_t hint = engine_->MsUntilNextTimer();
      EXPECT_GE(hint, 0) << "ttl " << ttl << " at " << at;
      EXPECT_LE(hint, h.expires_ms - clock_.NowMs()) << "ttl " << ttl << " at " << at;
    }
  }
}

// ---------------------------------------------------------------------------
// Extend

TEST_F(SeatEngineExtend, HolderMovesDeadlineToNowPlusTtl) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  clock_.AdvanceMs(4 * kMin);
  ExtendResult e = engine_->Extend(h.hold_id, "b", 10 * kMin);
  ASSERT_EQ(e.code, ResultCode::kOk) << e.detail;
  EXPECT_EQ(e.expires_ms, kT0 + 14 * kMin);
  EXPECT_EQ(e.remaining_ms, 10 * kMin);
  EXPECT_FALSE(e.capped);
  EXPECT_EQ(engine_->GetHold(h.hold_id)->expires_ms, kT0 + 14 * kMin);
  EXPECT_EQ(ViewOf({0, 0}).held_until_ms, kT0 + 14 * kMin);
  // The old deadline passes without expiring the hold.
  clock_.SetMs(kT0 + 10 * kMin);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kHeld);
  clock_.SetMs(kT0 + 14 * kMin - 1);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kHeld);
  clock_.SetMs(kT0 + 14 * kMin);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
}

TEST_F(SeatEngineExtend, OtherHolderIsNotHolder) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  ExtendResult e = engine_->Extend(h.hold_id, "intruder", 10 * kMin);
  EXPECT_EQ(e.code, ResultCode::kNotHolder);
  EXPECT_EQ(engine_->GetHold(h.hold_id)->expires_ms, h.expires_ms);
}

TEST_F(SeatEngineExtend, UnknownHoldIsHoldNotFound) {
  DefineGig();
  EXPECT_EQ(engine_->Extend(12345, "b", kMin).code, ResultCode::kHoldNotFound);
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  ASSERT_TRUE(engine_->Release(h.hold_id, "b").ok());
  EXPECT_EQ(engine_->Extend(h.hold_id, "b", kMin).code, ResultCode::kHoldNotFound);
}

TEST_F(SeatEngineExtend, DeadlineIsCappedAtMaximumLifetime) {
  EngineLimits lim;
  lim.max_hold_lifetime_ms = 20 * kMin;
  Build(lim);
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  clock_.AdvanceMs(8 * kMin);
  ExtendResult e = engine_->Extend(h.hold_id, "b", 15 * kMin);  // wants kT0 + 23 min
  ASSERT_EQ(e.code, ResultCode::kOk) << e.detail;
  EXPECT_TRUE(e.capped);
  EXPECT_EQ(e.expires_ms, kT0 + 20 * kMin);
  EXPECT_EQ(e.remaining_ms, 12 * kMin);
  clock_.SetMs(kT0 + 20 * kMin - 1);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kHeld);
  clock_.SetMs(kT0 + 20 * kMin);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
}

TEST_F(SeatEngineExtend, ExtendAtCapIsLifetimeExceeded) {
  EngineLimits lim;
  lim.max_hold_lifetime_ms = 20 * kMin;
  Build(lim);
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  clock_.AdvanceMs(5 * kMin);
  ExtendResult first = engine_->Extend(h.hold_id, "b", 30 * kMin);
  ASSERT_EQ(first.code, ResultCode::kOk);
  ASSERT_TRUE(first.capped);
  ASSERT_EQ(engine_->GetHold(h.hold_id)->expires_ms, kT0 + 20 * kMin);
  clock_.AdvanceMs(kMin);
  ExtendResult e = engine_->Extend(h.hold_id, "b", 30 * kMin);
  EXPECT_EQ(e.code, ResultCode::kLifetimeExceeded);
  EXPECT_EQ(engine_->GetHold(h.hold_id)->expires_ms, kT0 + 20 * kMin);
}

TEST_F(SeatEngineExtend, ExtendAfterDeadlineIsHoldExpired) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  clock_.SetMs(h.expires_ms);
  EXPECT_EQ(engine_->Extend(h.hold_id, "b", 10 * kMin).code, ResultCode::kHoldExpired);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
}

TEST_F(SeatEngineExtend, TtlRulesMatchHold) {
  EngineLimits lim;
  lim.max_ttl_ms = 15 * kMin;
  Build(lim);
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  EXPECT_EQ(engine_->Extend(h.hold_id, "b", 0).code, ResultCode::kInvalidArgument);
  EXPECT_EQ(engine_->Extend(h.hold_id, "b", -1).code, ResultCode::kInvalidArgument);
  EXPECT_EQ(engine_->Extend(h.hold_id, "b", 15 * kMin + 1).code, ResultCode::kLimitExceeded);
  EXPECT_EQ(engine_->GetHold(h.hold_id)->expires_ms, h.expires_ms);
  EXPECT_EQ(engine_->Extend(h.hold_id, "b", 15 * kMin).code, ResultCode::kOk);
}

// ---------------------------------------------------------------------------
// Release

TEST_F(SeatEngineRelease, HolderReleaseFreesSeatsAtOnce) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}, {0, 1}}, "b", 10 * kMin);
  ASSERT_EQ(engine_->Release(h.hold_id, "b").code, ResultCode::kOk);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
  EXPECT_EQ(StateOf({0, 1}), SeatState::kFree);
  EXPECT_FALSE(engine_->GetHold(h.hold_id).has_value());
  EXPECT_EQ(engine_->GetAvailability("gig").held, 0u);
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 0}}, "c", kMin).code, ResultCode::kOk);
}

TEST_F(SeatEngineRelease, OtherHolderIsNotHolderAndSeatsStayHeld) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  EXPECT_EQ(engine_->Release(h.hold_id, "intruder").code, ResultCode::kNotHolder);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kHeld);
}

TEST_F(SeatEngineRelease, SecondReleaseIsHoldNotFound) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  ASSERT_TRUE(engine_->Release(h.hold_id, "b").ok());
  EXPECT_EQ(engine_->Release(h.hold_id, "b").code, ResultCode::kHoldNotFound);
  EXPECT_EQ(engine_->Release(987654321, "b").code, ResultCode::kHoldNotFound);
}

TEST_F(SeatEngineRelease, ReleaseAfterDeadlineIsHoldExpired) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  clock_.SetMs(h.expires_ms + 1);
  EXPECT_EQ(engine_->Release(h.hold_id, "b").code, ResultCode::kHoldExpired);
}

TEST_F(SeatEngineRelease, ReleasedHoldCannotBeConfirmed) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  ASSERT_TRUE(engine_->Release(h.hold_id, "b").ok());
  EXPECT_EQ(engine_->Confirm(h.hold_id, "b", "k", "p").code, ResultCode::kHoldNotFound);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
}

// ---------------------------------------------------------------------------
// Confirm

TEST_F(SeatEngineConfirm, ConfirmSellsTheHeldSeats) {
  DefineGig();
  const SeatKey a = Key("103", "F", "12"), b = Key("103", "F", "13");
  HoldResult h = HoldOk({a, b}, "buyer-1", 10 * kMin);
  clock_.AdvanceMs(3 * kMin);
  ConfirmResult c = engine_->Confirm(h.hold_id, "buyer-1", "idem-1", "pay-77");
  ASSERT_EQ(c.code, ResultCode::kOk) << c.detail;
  EXPECT_NE(c.booking_id, 0u);
  EXPECT_FALSE(c.hold_lapsed);
  EXPECT_FALSE(c.replayed);
  EXPECT_THAT(c.seats, ElementsAre(a, b));
  EXPECT_EQ(c.confirmed_ms, kT0 + 3 * kMin);
  for (SeatKey k : {a, b}) {
    SeatView v = ViewOf(k);
    EXPECT_EQ(v.state, SeatState::kSold);
    EXPECT_EQ(v.owner_id, c.booking_id);
  }
  std::optional<BookingInfo> bk = engine_->GetBooking(c.booking_id);
  ASSERT_TRUE(bk.has_value());
  EXPECT_EQ(bk->booking_id, c.booking_id);
  EXPECT_EQ(bk->hold_id, h.hold_id);
  EXPECT_EQ(bk->event_id, "gig");
  EXPECT_EQ(bk->holder, "buyer-1");
  EXPECT_EQ(bk->payment_ref, "pay-77");
  EXPECT_THAT(bk->seats, ElementsAre(a, b));
  EXPECT_EQ(bk->confirmed_ms, kT0 + 3 * kMin);
  EXPECT_FALSE(bk->cancelled);
  // The hold is consumed.
  EXPECT_FALSE(engine_->GetHold(h.hold_id).has_value());
  EXPECT_EQ(engine_->Release(h.hold_id, "buyer-1").code, ResultCode::kHoldNotFound);
  EXPECT_EQ(engine_->Extend(h.hold_id, "buyer-1", kMin).code, ResultCode::kHoldNotFound);
  // Sold seats never expire.
  clock_.AdvanceMs(48 * 60 * kMin);
  EXPECT_EQ(StateOf(a), SeatState::kSold);
}

TEST_F(SeatEngineConfirm, OtherHolderIsNotHolderAndNothingIsSold) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  ConfirmResult c = engine_->Confirm(h.hold_id, "intruder", "k", "p");
  EXPECT_EQ(c.code, ResultCode::kNotHolder);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kHeld);
  // A refused confirm is not remembered: the holder can then use the key.
  EXPECT_EQ(engine_->Confirm(h.hold_id, "b", "k", "p").code, ResultCode::kOk);
}

TEST_F(SeatEngineConfirm, UnknownHoldIsHoldNotFound) {
  DefineGig();
  EXPECT_EQ(engine_->Confirm(424242, "b", "k", "p").code, ResultCode::kHoldNotFound);
}

TEST_F(SeatEngineConfirm, SameKeySameParamsReplaysTheFirstResult) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}, {0, 1}}, "b", 10 * kMin);
  ConfirmResult first = engine_->Confirm(h.hold_id, "b", "idem-1", "pay-1");
  ASSERT_EQ(first.code, ResultCode::kOk);
  clock_.AdvanceMs(20 * kMin);
  ConfirmResult again = engine_->Confirm(h.hold_id, "b", "idem-1", "pay-1");
  EXPECT_EQ(again.code, ResultCode::kOk);
  EXPECT_TRUE(again.replayed);
  EXPECT_FALSE(first.replayed);
  EXPECT_TRUE(again.SameOutcome(first));
  EXPECT_EQ(again.booking_id, first.booking_id);
  EXPECT_EQ(again.confirmed_ms, first.confirmed_ms);
  EXPECT_EQ(again.change_seq, first.change_seq);
  EXPECT_EQ(engine_->Stats().bookings, 1u);
  EXPECT_EQ(engine_->Stats().confirms_replayed, 1u);
}

TEST_F(SeatEngineConfirm, SameOutcomeIgnoresOnlyReplayed) {
  ConfirmResult a;
  a.booking_id = 5;
  a.seats = {SeatKey{0, 1}};
  ConfirmResult b = a;
  b.replayed = true;
  EXPECT_TRUE(a.SameOutcome(b));
  b.booking_id = 6;
  EXPECT_FALSE(a.SameOutcome(b));
  b = a;
  b.code = ResultCode::kHoldExpiredSeatsTaken;
  EXPECT_FALSE(a.SameOutcome(b));
}

TEST_F(SeatEngineConfirm, SameKeyDifferentParamsIsIdempotencyMismatch) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  HoldResult h2 = HoldOk({{0, 1}}, "b", 10 * kMin);
  ASSERT_EQ(engine_->Confirm(h.hold_id, "b", "idem-1", "pay-1").code, ResultCode::kOk);
  EXPECT_EQ(engine_->Confirm(h.hold_id, "b", "idem-1", "pay-2").code,
            ResultCode::kIdempotencyMismatch);
  EXPECT_EQ(engine_->Confirm(h.hold_id, "c", "idem-1", "pay-1").code,
            ResultCode::kIdempotencyMismatch);
  EXPECT_EQ(engine_->Confirm(h2.hold_id, "b", "idem-1", "pay-1").code,
            ResultCode::kIdempotencyMismatch);
  // The second hold was not touched.
  EXPECT_EQ(StateOf({0, 1}), SeatState::kHeld);
  EXPECT_EQ(engine_->Stats().bookings, 1u);
}

TEST_F(SeatEngineConfirm, NewKeyForConfirmedHoldIsHoldNotFound) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  ASSERT_EQ(engine_->Confirm(h.hold_id, "b", "idem-1", "pay-1").code, ResultCode::kOk);
  EXPECT_EQ(engine_->Confirm(h.hold_id, "b", "idem-2", "pay-1").code, ResultCode::kHoldNotFound);
}

TEST_F(SeatEngineConfirm, EmptyIdempotencyKeyIsInvalidArgument) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  EXPECT_EQ(engine_->Confirm(h.hold_id, "b", "", "p").code, ResultCode::kInvalidArgument);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kHeld);
}

TEST_F(SeatEngineConfirm, OverlongKeyOrPaymentRefIsLimitExceeded) {
  EngineLimits lim;
  lim.max_idempotency_key_len = 8;
  lim.max_payment_ref_len = 8;
  Build(lim);
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  EXPECT_EQ(engine_->Confirm(h.hold_id, "b", std::string(9, 'k'), "p").code,
            ResultCode::kLimitExceeded);
  EXPECT_EQ(engine_->Confirm(h.hold_id, "b", "k", std::string(9, 'p')).code,
            ResultCode::kLimitExceeded);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kHeld);
  EXPECT_EQ(engine_->Confirm(h.hold_id, "b", std::string(8, 'k'), std::string(8, 'p')).code,
            ResultCode::kOk);
}

TEST_F(SeatEngineConfirm, LateConfirmWithSeatsStillFreeSellsWithHoldLapsed) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}, {0, 1}}, "b", 10 * kMin);
  clock_.SetMs(h.expires_ms);
  ASSERT_EQ(StateOf({0, 0}), SeatState::kFree);
  ConfirmResult c = engine_->Confirm(h.hold_id, "b", "k", "p");
  ASSERT_EQ(c.code, ResultCode::kOk) << c.detail;
  EXPECT_TRUE(c.hold_lapsed);
  EXPECT_THAT(c.seats, ElementsAre(SeatKey{0, 0}, SeatKey{0, 1}));
  EXPECT_EQ(StateOf({0, 0}), SeatState::kSold);
  EXPECT_EQ(StateOf({0, 1}), SeatState::kSold);
  EXPECT_FALSE(engine_->GetHold(h.hold_id).has_value());
  EXPECT_EQ(engine_->Stats().late_confirms, 1u);
}

TEST_F(SeatEngineConfirm, LateConfirmWithSeatTakenIsRefusedAndSellsNothing) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}, {0, 1}}, "b", 10 * kMin);
  clock_.SetMs(h.expires_ms + kMin);
  HoldResult thief = HoldOk({{0, 1}}, "other", 10 * kMin);
  const size_t changes_before = sink_.changes.size();
  ConfirmResult c = engine_->Confirm(h.hold_id, "b", "k", "p");
  EXPECT_EQ(c.code, ResultCode::kHoldExpiredSeatsTaken);
  EXPECT_EQ(c.booking_id, 0u);
  EXPECT_THAT(c.conflicts,
              ElementsAre(SeatConflict{SeatKey{0, 1}, SeatState::kHeld, thief.expires_ms}));
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
  EXPECT_EQ(ViewOf({0, 1}).owner_id, thief.hold_id);
  EXPECT_EQ(sink_.changes.size(), changes_before);
  EXPECT_EQ(engine_->GetAvailability("gig").sold, 0u);

  // The refusal is remembered: a replay returns the same answer even after
  // the other hold went away.
  ASSERT_TRUE(engine_->Release(thief.hold_id, "other").ok());
  ConfirmResult replay = engine_->Confirm(h.hold_id, "b", "k", "p");
  EXPECT_EQ(replay.code, ResultCode::kHoldExpiredSeatsTaken);
  EXPECT_TRUE(replay.replayed);
  EXPECT_TRUE(replay.SameOutcome(c));
  EXPECT_EQ(StateOf({0, 1}), SeatState::kFree);
  EXPECT_EQ(engine_->Stats().late_confirms_refused, 1u);
}

TEST_F(SeatEngineConfirm, LateConfirmWithSeatSoldIsRefusedNamingSold) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  clock_.SetMs(h.expires_ms);
  Sell({{0, 0}});
  ConfirmResult c = engine_->Confirm(h.hold_id, "b", "k", "p");
  EXPECT_EQ(c.code, ResultCode::kHoldExpiredSeatsTaken);
  EXPECT_THAT(c.conflicts, ElementsAre(SeatConflict{SeatKey{0, 0}, SeatState::kSold, 0}));
}

TEST_F(SeatEngineConfirm, LateConfirmWithNewKeySellsOnceSeatsAreFreeAgain) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  clock_.SetMs(h.expires_ms);
  HoldResult thief = HoldOk({{0, 0}}, "other", kMin);
  ASSERT_EQ(engine_->Confirm(h.hold_id, "b", "k1", "p").code, ResultCode::kHoldExpiredSeatsTaken);
  ASSERT_TRUE(engine_->Release(thief.hold_id, "other").ok());
  // The refusal stays bound to k1, but the lapsed hold is still remembered:
  // a new attempt finds its seats FREE and sells them.
  EXPECT_EQ(engine_->Confirm(h.hold_id, "b", "k1", "p").code, ResultCode::kHoldExpiredSeatsTaken);
  ConfirmResult c = engine_->Confirm(h.hold_id, "b", "k2", "p");
  EXPECT_EQ(c.code, ResultCode::kOk);
  EXPECT_TRUE(c.hold_lapsed);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kSold);
}

TEST_F(SeatEngineConfirm, PaymentAfter8MinutesOfA10MinuteHoldSells) {
  DefineGig();
  const SeatKey f12 = Key("103", "F", "12");
  HoldResult h = HoldOk({f12}, "buyer-1", 10 * kMin);
  clock_.AdvanceMs(8 * kMin);
  ConfirmResult c = engine_->Confirm(h.hold_id, "buyer-1", "idem-1", "pay-77");
  ASSERT_EQ(c.code, ResultCode::kOk);
  EXPECT_FALSE(c.hold_lapsed);
  EXPECT_EQ(StateOf(f12), SeatState::kSold);
}

TEST_F(SeatEngineConfirm, PaymentAfter12MinutesOfA10MinuteHoldSellsIfSeatStillFree) {
  DefineGig();
  const SeatKey f12 = Key("103", "F", "12");
  HoldResult h = HoldOk({f12}, "buyer-1", 10 * kMin);
  clock_.AdvanceMs(12 * kMin);
  ConfirmResult c = engine_->Confirm(h.hold_id, "buyer-1", "idem-1", "pay-77");
  ASSERT_EQ(c.code, ResultCode::kOk);
  EXPECT_TRUE(c.hold_lapsed);
  EXPECT_EQ(StateOf(f12), SeatState::kSold);
}

TEST_F(SeatEngineConfirm, PaymentAfter12MinutesOfA10MinuteHoldFailsIfSeatWasTaken) {
  DefineGig();
  const SeatKey f12 = Key("103", "F", "12");
  HoldResult h = HoldOk({f12}, "buyer-1", 10 * kMin);
  clock_.AdvanceMs(11 * kMin);
  HoldResult h2 = HoldOk({f12}, "buyer-2", 10 * kMin);
  clock_.AdvanceMs(1 * kMin);
  ConfirmResult c = engine_->Confirm(h.hold_id, "buyer-1", "idem-1", "pay-77");
  EXPECT_EQ(c.code, ResultCode::kHoldExpiredSeatsTaken);
  EXPECT_THAT(c.conflicts, ElementsAre(SeatConflict{f12, SeatState::kHeld, h2.expires_ms}));
  EXPECT_EQ(ViewOf(f12).owner_id, h2.hold_id);
  ConfirmResult c2 = engine_->Confirm(h2.hold_id, "buyer-2", "idem-2", "pay-78");
  EXPECT_EQ(c2.code, ResultCode::kOk);
}

// ---------------------------------------------------------------------------
// Idempotency retention

TEST_F(SeatEngineIdempotency, KeyIsRememberedWithinRetention) {
  EngineLimits lim;
  lim.idempotency_retention_ms = 60 * kMin;
  Build(lim);
  DefineGig();
  HoldResult h1 = HoldOk({{0, 0}}, "b", 10 * kMin);
  ConfirmResult c1 = engine_->Confirm(h1.hold_id, "b", "key", "p");
  ASSERT_EQ(c1.code, ResultCode::kOk);
  clock_.AdvanceMs(60 * kMin - 1);
  ConfirmResult replay = engine_->Confirm(h1.hold_id, "b", "key", "p");
  EXPECT_TRUE(replay.replayed);
  EXPECT_TRUE(replay.SameOutcome(c1));
  HoldResult h2 = HoldOk({{0, 1}}, "b", 10 * kMin);
  EXPECT_EQ(engine_->Confirm(h2.hold_id, "b", "key", "p").code, ResultCode::kIdempotencyMismatch);
}

TEST_F(SeatEngineIdempotency, KeyIsForgottenAfterRetention) {
  EngineLimits lim;
  lim.idempotency_retention_ms = 60 * kMin;
  Build(lim);
  DefineGig();
  HoldResult h1 = HoldOk({{0, 0}}, "b", 10 * kMin);
  ASSERT_EQ(engine_->Confirm(h1.hold_id, "b", "key", "p").code, ResultCode::kOk);
  EXPECT_EQ(engine_->Stats().idempotency_records, 1u);
  clock_.AdvanceMs(60 * kMin + 1);
  // The replay is no longer answered from the record; the hold is consumed.
  ConfirmResult again = engine_->Confirm(h1.hold_id, "b", "key", "p");
  EXPECT_EQ(again.code, ResultCode::kHoldNotFound);
  EXPECT_FALSE(again.replayed);
  EXPECT_EQ(engine_->Stats().idempotency_records, 0u);
  // The key may now be used for another hold.
  HoldResult h2 = HoldOk({{0, 1}}, "b", 10 * kMin);
  ConfirmResult c2 = engine_->Confirm(h2.hold_id, "b", "key", "p");
  EXPECT_EQ(c2.code, ResultCode::kOk);
  EXPECT_FALSE(c2.replayed);
}

TEST_F(SeatEngineIdempotency, RecordsAcrossManyChunksAreFoundUntilEachExpires) {
  // More records than one chunk of the record queue holds (256), made 1 ms
  // apart, each sale then cancelled so the seat can be sold again.
  EngineLimits lim;
  lim.idempotency_retention_ms = 1000;
  Build(lim);
  DefineGig();
  constexpr int kSales = 700;
  std::vector<uint64_t> holds;
  for (int i = 0; i < kSales; ++i) {
    HoldResult h = HoldOk({{0, static_cast<uint32_t>(i % 200)}}, "b", 10 * kMin);
    ConfirmResult c = engine_->Confirm(h.hold_id, "b", absl::StrCat("key-", i), "p");
    ASSERT_EQ(c.code, ResultCode::kOk);
    ASSERT_EQ(engine_->CancelBooking(c.booking_id).code, ResultCode::kOk);
    holds.push_back(h.hold_id);
    clock_.AdvanceMs(1);
  }
  EXPECT_EQ(engine_->Stats().idempotency_records, static_cast<size_t>(kSales));
  // Sale i was made at i ms and expires at 1000 + i ms; now it is 700 ms.
  clock_.AdvanceMs(1000 - kSales + 300);  // 1000 ms: sales 0..300 expire when purged
  for (int i : {301, 302, 450, 699}) {
    ConfirmResult replay = engine_->Confirm(holds[i], "b", absl::StrCat("key-", i), "p");
    EXPECT_TRUE(replay.replayed) << i;
  }
  EXPECT_EQ(engine_->Stats().idempotency_records, static_cast<size_t>(kSales - 301));
  EXPECT_EQ(engine_->Confirm(holds[300], "b", "key-300", "p").code, ResultCode::kHoldNotFound);
}

TEST_F(SeatEngineIdempotency, ARecordDroppedWithItsEventDoesNotTakeANewerOneWhenPurged) {
  EngineLimits lim;
  lim.idempotency_retention_ms = 60 * kMin;
  Build(lim);
  DefineGig();
  HoldResult h1 = HoldOk({{0, 0}}, "b", 10 * kMin);
  ASSERT_EQ(engine_->Confirm(h1.hold_id, "b", "key", "p").code, ResultCode::kOk);
  ASSERT_EQ(engine_->DeleteEvent("gig", /*force=*/true).code, ResultCode::kOk);
  EXPECT_EQ(engine_->Stats().idempotency_records, 0u);
  DefineGig();
  clock_.AdvanceMs(30 * kMin);
  HoldResult h2 = HoldOk({{0, 0}}, "b", 10 * kMin);
  ConfirmResult c2 = engine_->Confirm(h2.hold_id, "b", "key", "p");
  ASSERT_EQ(c2.code, ResultCode::kOk);
  EXPECT_FALSE(c2.replayed);
  // Past the dropped record's expiry but not the new one's: the purge pops
  // the dropped record and leaves the key's new record in place.
  clock_.AdvanceMs(31 * kMin);
  ConfirmResult replay = engine_->Confirm(h2.hold_id, "b", "key", "p");
  EXPECT_TRUE(replay.replayed);
  EXPECT_TRUE(replay.SameOutcome(c2));
  EXPECT_EQ(engine_->Stats().idempotency_records, 1u);
}

// ---------------------------------------------------------------------------
// CancelBooking

TEST_F(SeatEngineCancel, CancelFreesSeatsAndMarksBookingCancelled) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}, {0, 1}}, "b", 10 * kMin);
  ConfirmResult c = engine_->Confirm(h.hold_id, "b", "k", "p");
  ASSERT_EQ(c.code, ResultCode::kOk);
  ASSERT_EQ(engine_->CancelBooking(c.booking_id).code, ResultCode::kOk);
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);
  EXPECT_EQ(StateOf({0, 1}), SeatState::kFree);
  std::optional<BookingInfo> b = engine_->GetBooking(c.booking_id);
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->cancelled);
  EXPECT_EQ(engine_->GetAvailability("gig").sold, 0u);
  EXPECT_EQ(engine_->Hold("gig", std::vector<SeatKey>{{0, 0}}, "c", kMin).code, ResultCode::kOk);
}

TEST_F(SeatEngineCancel, SecondCancelIsBookingCancelled) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  ConfirmResult c = engine_->Confirm(h.hold_id, "b", "k", "p");
  ASSERT_TRUE(engine_->CancelBooking(c.booking_id).ok());
  HoldResult h2 = HoldOk({{0, 0}}, "c", 10 * kMin);
  EXPECT_EQ(engine_->CancelBooking(c.booking_id).code, ResultCode::kBookingCancelled);
  // The seat now held by someone else is untouched.
  EXPECT_EQ(ViewOf({0, 0}).owner_id, h2.hold_id);
}

TEST_F(SeatEngineCancel, UnknownBookingIsBookingNotFound) {
  DefineGig();
  EXPECT_EQ(engine_->CancelBooking(777).code, ResultCode::kBookingNotFound);
  EXPECT_FALSE(engine_->GetBooking(777).has_value());
}

TEST_F(SeatEngineCancel, ConfirmReplayAfterCancelStillReturnsFirstResult) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "b", 10 * kMin);
  ConfirmResult c = engine_->Confirm(h.hold_id, "b", "k", "p");
  ASSERT_TRUE(engine_->CancelBooking(c.booking_id).ok());
  ConfirmResult r = engine_->Confirm(h.hold_id, "b", "k", "p");
  EXPECT_TRUE(r.replayed);
  EXPECT_TRUE(r.SameOutcome(c));
  EXPECT_EQ(StateOf({0, 0}), SeatState::kFree);  // the replay sells nothing
}

// ---------------------------------------------------------------------------
// Reads

TEST_F(SeatEngineReads, AvailabilityCountsPerSectionAndTotal) {
  DefineGig();
  HoldOk({Key("103", "A", "1"), Key("103", "A", "2"), Key("104", "C", "10")}, "b", 10 * kMin);
  Sell({Key("103", "B", "1"), Key("VIP", "1", "101")});
  Availability a = engine_->GetAvailability("gig");
  ASSERT_EQ(a.code, ResultCode::kOk);
  EXPECT_EQ(a.total, 234u);
  EXPECT_EQ(a.held, 3u);
  EXPECT_EQ(a.sold, 2u);
  EXPECT_EQ(a.free, 229u);
  ASSERT_EQ(a.sections.size(), 3u);
  EXPECT_EQ(a.sections[0].label, "103");
  EXPECT_EQ(a.sections[0].total, 200u);
  EXPECT_EQ(a.sections[0].held, 2u);
  EXPECT_EQ(a.sections[0].sold, 1u);
  EXPECT_EQ(a.sections[0].free, 197u);
  EXPECT_TRUE(a.sections[0].owned);
  EXPECT_EQ(a.sections[1].label, "104");
  EXPECT_EQ(a.sections[1].held, 1u);
  EXPECT_EQ(a.sections[1].free, 29u);
  EXPECT_EQ(a.sections[2].label, "VIP");
  EXPECT_EQ(a.sections[2].sold, 1u);
  EXPECT_EQ(a.sections[2].free, 3u);
}

TEST_F(SeatEngineReads, GetSeatsReportsEverySeatWithRows) {
  DefineGig();
  HoldResult h = HoldOk({Key("104", "B", "3")}, "b", 10 * kMin);
  HoldResult s = HoldOk({Key("104", "C", "1")}, "b", 10 * kMin);
  ConfirmResult c = engine_->Confirm(s.hold_id, "b", "k", "p");
  ASSERT_TRUE(c.ok());
  SectionSeats seats = engine_->GetSeats("gig", 1);
  ASSERT_EQ(seats.code, ResultCode::kOk);
  EXPECT_THAT(seats.row_labels, ElementsAre("A", "B", "C"));
  EXPECT_THAT(seats.row_first_seat, ElementsAre(0u, 10u, 20u));
  ASSERT_EQ(seats.seats.size(), 30u);
  for (uint32_t i = 0; i < 30; ++i) {
    const SeatView& v = seats.seats[i];
    EXPECT_EQ(v.seat, i);
    EXPECT_EQ(v.row, i / 10);
    if (i == 12) {
      EXPECT_EQ(v.state, SeatState::kHeld);
      EXPECT_EQ(v.owner_id, h.hold_id);
      EXPECT_EQ(v.held_until_ms, h.expires_ms);
    } else if (i == 20) {
      EXPECT_EQ(v.state, SeatState::kSold);
      EXPECT_EQ(v.owner_id, c.booking_id);
    } else {
      EXPECT_EQ(v.state, SeatState::kFree) << i;
    }
  }
}

TEST_F(SeatEngineReads, PeekSeatShowsOneSeatAsGetSeatsDoesWithoutExpiring) {
  DefineGig();
  HoldResult h = HoldOk({Key("104", "B", "3")}, "b", kMin);
  HoldResult s = HoldOk({Key("104", "C", "1")}, "b", 10 * kMin);
  ConfirmResult c = engine_->Confirm(s.hold_id, "b", "k", "p");
  ASSERT_TRUE(c.ok());
  const SectionSeats seats = engine_->GetSeats("gig", 1);
  for (uint32_t i = 0; i < 30; ++i) {
    std::optional<SeatView> v = engine_->PeekSeat("gig", {1, i});
    ASSERT_TRUE(v.has_value()) << i;
    EXPECT_EQ(v->seat, seats.seats[i].seat);
    EXPECT_EQ(v->row, seats.seats[i].row);
    EXPECT_EQ(v->state, seats.seats[i].state) << i;
    EXPECT_EQ(v->owner_id, seats.seats[i].owner_id) << i;
    EXPECT_EQ(v->held_until_ms, seats.seats[i].held_until_ms) << i;
  }
  EXPECT_EQ(engine_->PeekSeat("gig", {1, 20})->owner_id, c.booking_id);
  // Past the deadline, a peek still sees the hold (nothing is expired by it).
  clock_.AdvanceMs(kMin);
  EXPECT_EQ(engine_->PeekSeat("gig", {1, 12})->state, SeatState::kHeld);
  EXPECT_EQ(engine_->PeekSeat("gig", {1, 12})->owner_id, h.hold_id);
  EXPECT_EQ(engine_->Stats().holds_expired, 0u);
  EXPECT_EQ(StateOf({1, 12}), SeatState::kFree);  // GetSeats expires it
  EXPECT_EQ(engine_->PeekSeat("gig", {1, 12})->state, SeatState::kFree);
  // Nothing there: no event, section or seat.
  EXPECT_FALSE(engine_->PeekSeat("nope", {0, 0}).has_value());
  EXPECT_FALSE(engine_->PeekSeat("gig", {3, 0}).has_value());
  EXPECT_FALSE(engine_->PeekSeat("gig", {1, 30}).has_value());
}

TEST_F(SeatEngineShard, PeekSeatOfAnUnownedSectionIsNothing) {
  Config c;
  c.owns_section = [](std::string_view, std::string_view section) { return section != "104"; };
  Build(std::move(c));
  DefineGig();
  EXPECT_FALSE(engine_->PeekSeat("gig", {1, 0}).has_value());
  EXPECT_TRUE(engine_->PeekSeat("gig", {0, 0}).has_value());
}

TEST_F(SeatEngineReads, GetSeatsOfUnknownSectionIsUnknownSeat) {
  DefineGig();
  EXPECT_EQ(engine_->GetSeats("gig", 3).code, ResultCode::kUnknownSeat);
  EXPECT_EQ(engine_->GetSeats("gig", -1).code, ResultCode::kUnknownSeat);
}

TEST_F(SeatEngineReads, GetHoldReportsTheHold) {
  DefineGig();
  clock_.AdvanceMs(5);
  HoldResult h = HoldOk({{0, 3}, {0, 4}}, "buyer-9", 7 * kMin);
  std::optional<HoldInfo> info = engine_->GetHold(h.hold_id);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->hold_id, h.hold_id);
  EXPECT_EQ(info->event_id, "gig");
  EXPECT_EQ(info->holder, "buyer-9");
  EXPECT_THAT(info->seats, ElementsAre(SeatKey{0, 3}, SeatKey{0, 4}));
  EXPECT_EQ(info->created_ms, kT0 + 5);
  EXPECT_EQ(info->expires_ms, kT0 + 5 + 7 * kMin);
  EXPECT_EQ(info->fencing_token, h.fencing_token);
  EXPECT_EQ(info->status, HoldStatus::kLive);
  EXPECT_FALSE(engine_->GetHold(h.hold_id + 1).has_value());
  EXPECT_FALSE(engine_->GetHold(0).has_value());
}

TEST_F(SeatEngineReads, ListHoldsFiltersByEventAndHolderAndLimit) {
  DefineGig();
  ASSERT_TRUE(engine_->DefineEvent(Layout("other", {UniformSection("X", 1, 10)})).ok());
  HoldResult a1 = HoldOk({{0, 0}}, "alice", 10 * kMin);
  HoldResult a2 = HoldOk({{0, 1}}, "alice", 10 * kMin);
  HoldResult b1 = HoldOk({{0, 2}}, "bob", 10 * kMin);
  HoldResult a3 = HoldOk({{0, 0}}, "alice", 10 * kMin, "other");
  HoldResult gone = HoldOk({{0, 3}}, "alice", 10 * kMin);
  ASSERT_TRUE(engine_->Release(gone.hold_id, "alice").ok());

  auto ids = [](const std::vector<HoldInfo>& v) {
    std::vector<uint64_t> out;
    for (const HoldInfo& h : v) out.push_back(h.hold_id);
    std::sort(out.begin(), out.end());
    return out;
  };
  auto sorted = [](std::vector<uint64_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(ids(engine_->ListHolds("gig", "alice", 100)), sorted({a1.hold_id, a2.hold_id}));
  EXPECT_EQ(ids(engine_->ListHolds("gig", "bob", 100)), sorted({b1.hold_id}));
  EXPECT_EQ(ids(engine_->ListHolds("", "alice", 100)),
            sorted({a1.hold_id, a2.hold_id, a3.hold_id}));
  EXPECT_EQ(ids(engine_->ListHolds("gig", "", 100)), sorted({a1.hold_id, a2.hold_id, b1.hold_id}));
  EXPECT_EQ(engine_->ListHolds("", "", 2).size(), 2u);
  EXPECT_THAT(engine_->ListHolds("gig", "carol", 100), IsEmpty());
  for (const HoldInfo& h : engine_->ListHolds("", "alice", 100)) {
    EXPECT_EQ(h.holder, "alice");
    EXPECT_EQ(h.status, HoldStatus::kLive);
  }
}

TEST_F(SeatEngineReads, EventIdsListsEveryEvent) {
  DefineGig();
  ASSERT_TRUE(engine_->DefineEvent(Layout("other", {UniformSection("X", 1, 10)})).ok());
  std::vector<std::string> ids = engine_->EventIds();
  std::sort(ids.begin(), ids.end());
  EXPECT_THAT(ids, ElementsAre("gig", "other"));
}

TEST_F(SeatEngineReads, SameSeatIndexInTwoEventsIsIndependent) {
  DefineGig();
  ASSERT_TRUE(engine_->DefineEvent(Layout("other", {UniformSection("X", 1, 10)})).ok());
  HoldOk({{0, 0}}, "a", kMin, "gig");
  HoldResult h = engine_->Hold("other", std::vector<SeatKey>{{0, 0}}, "b", kMin);
  EXPECT_EQ(h.code, ResultCode::kOk);
}

// ---------------------------------------------------------------------------
// Shard ownership

TEST_F(SeatEngineShard, SeatsOfAnUnownedSectionAreWrongShard) {
  Config c;
  c.owns_section = [](std::string_view, std::string_view section) { return section != "104"; };
  Build(std::move(c));
  DefineGig();
  EXPECT_EQ(Key("104", "A", "1"), (SeatKey{1, 0}));  // layout is still known
  HoldResult h = engine_->Hold(
      "gig", std::vector<SeatKey>{Key("103", "A", "1"), Key("104", "A", "1")}, "b", kMin);
  EXPECT_EQ(h.code, ResultCode::kWrongShard);
  EXPECT_EQ(StateOf(Key("103", "A", "1")), SeatState::kFree);
  EXPECT_EQ(engine_->HoldBestAvailable("gig", 1, 2, true, "b", kMin).code, ResultCode::kWrongShard);
  HoldOk({Key("103", "A", "1")}, "b", kMin);
  Availability a = engine_->GetAvailability("gig");
  ASSERT_EQ(a.sections.size(), 3u);
  EXPECT_TRUE(a.sections[0].owned);
  EXPECT_FALSE(a.sections[1].owned);
  EXPECT_TRUE(a.sections[2].owned);
}

TEST_F(SeatEngineShard, AnySectionBestAvailableSkipsUnownedSections) {
  Config c;
  c.owns_section = [](std::string_view, std::string_view section) { return section == "104"; };
  Build(std::move(c));
  DefineGig();
  HoldResult h = engine_->HoldBestAvailable("gig", -1, 2, true, "b", kMin);
  ASSERT_EQ(h.code, ResultCode::kOk) << h.detail;
  for (SeatKey k : h.seats) EXPECT_EQ(k.section, 1u);
}

// ---------------------------------------------------------------------------
// Change records

TEST_F(SeatEngineChanges, EveryTransitionIsRecordedWithGaplessSeq) {
  DefineGig();
  HoldResult h1 = HoldOk({{0, 0}, {0, 1}}, "b", 10 * kMin);  // kHeld
  ASSERT_TRUE(engine_->Release(h1.hold_id, "b").ok());       // kReleased
  clock_.AdvanceMs(1);
  HoldResult h2 = HoldOk({{0, 2}}, "b", 1 * kMin);  // kHeld
  clock_.AdvanceMs(1 * kMin);
  engine_->ExpireDue();                                           // kExpired
  HoldResult h3 = HoldOk({{0, 3}}, "b", 10 * kMin);               // kHeld
  ConfirmResult c = engine_->Confirm(h3.hold_id, "b", "k", "p");  // kSold
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(engine_->CancelBooking(c.booking_id).ok());  // kCancelled
  // A refused operation records nothing.
  HoldResult h4 = HoldOk({{0, 4}}, "b", 10 * kMin);  // kHeld
  EXPECT_FALSE(engine_->Hold("gig", std::vector<SeatKey>{{0, 4}}, "x", kMin).ok());

  const auto& ch = sink_.changes;
  ASSERT_EQ(ch.size(), 8u);
  for (size_t i = 0; i < ch.size(); ++i) {
    EXPECT_EQ(ch[i].seq, i + 1);
    EXPECT_EQ(ch[i].event_id, "gig");
  }
  EXPECT_EQ(ch[0].kind, ChangeKind::kHeld);
  EXPECT_EQ(ch[0].hold_id, h1.hold_id);
  EXPECT_EQ(ch[0].fencing_token, h1.fencing_token);
  EXPECT_THAT(ch[0].seats, ElementsAre(SeatKey{0, 0}, SeatKey{0, 1}));
  EXPECT_EQ(ch[0].new_state, SeatState::kHeld);
  EXPECT_EQ(ch[0].time_ms, kT0);

  EXPECT_EQ(ch[1].kind, ChangeKind::kReleased);
  EXPECT_EQ(ch[1].hold_id, h1.hold_id);
  EXPECT_THAT(ch[1].seats, ElementsAre(SeatKey{0, 0}, SeatKey{0, 1}));
  EXPECT_EQ(ch[1].new_state, SeatState::kFree);

  EXPECT_EQ(ch[2].kind, ChangeKind::kHeld);
  EXPECT_EQ(ch[2].hold_id, h2.hold_id);
  EXPECT_EQ(ch[2].time_ms, kT0 + 1);

  EXPECT_EQ(ch[3].kind, ChangeKind::kExpired);
  EXPECT_EQ(ch[3].hold_id, h2.hold_id);
  EXPECT_THAT(ch[3].seats, ElementsAre(SeatKey{0, 2}));
  EXPECT_EQ(ch[3].new_state, SeatState::kFree);
  EXPECT_EQ(ch[3].time_ms, kT0 + 1 + kMin);

  EXPECT_EQ(ch[4].kind, ChangeKind::kHeld);
  EXPECT_EQ(ch[4].hold_id, h3.hold_id);

  EXPECT_EQ(ch[5].kind, ChangeKind::kSold);
  EXPECT_EQ(ch[5].hold_id, h3.hold_id);
  EXPECT_EQ(ch[5].booking_id, c.booking_id);
  EXPECT_EQ(ch[5].seq, c.change_seq);
  EXPECT_THAT(ch[5].seats, ElementsAre(SeatKey{0, 3}));
  EXPECT_EQ(ch[5].new_state, SeatState::kSold);

  EXPECT_EQ(ch[6].kind, ChangeKind::kCancelled);
  EXPECT_EQ(ch[6].booking_id, c.booking_id);
  EXPECT_THAT(ch[6].seats, ElementsAre(SeatKey{0, 3}));
  EXPECT_EQ(ch[6].new_state, SeatState::kFree);

  EXPECT_EQ(ch[7].kind, ChangeKind::kHeld);
  EXPECT_EQ(ch[7].hold_id, h4.hold_id);
  EXPECT_EQ(engine_->Stats().change_seq, 8u);
}

TEST_F(SeatEngineChanges, ExpiryIsRecordedBeforeTheOperationThatTriggersIt) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "a", kMin);
  clock_.AdvanceMs(kMin);
  HoldResult h2 = HoldOk({{0, 0}}, "b", kMin);
  ASSERT_EQ(sink_.changes.size(), 3u);
  EXPECT_EQ(sink_.changes[1].kind, ChangeKind::kExpired);
  EXPECT_EQ(sink_.changes[1].hold_id, h.hold_id);
  EXPECT_EQ(sink_.changes[2].kind, ChangeKind::kHeld);
  EXPECT_EQ(sink_.changes[2].hold_id, h2.hold_id);
}

TEST_F(SeatEngineChanges, LateConfirmRecordsOneSoldChange) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "a", kMin);
  clock_.AdvanceMs(2 * kMin);
  engine_->ExpireDue();
  const size_t before = sink_.changes.size();
  ConfirmResult c = engine_->Confirm(h.hold_id, "a", "k", "p");
  ASSERT_EQ(c.code, ResultCode::kOk);
  ASSERT_EQ(sink_.changes.size(), before + 1);
  const Change& ch = sink_.changes.back();
  EXPECT_EQ(ch.kind, ChangeKind::kSold);
  EXPECT_EQ(ch.booking_id, c.booking_id);
  EXPECT_EQ(ch.seq, c.change_seq);
  EXPECT_THAT(ch.seats, ElementsAre(SeatKey{0, 0}));
}

TEST_F(SeatEngineChanges, ReplayedConfirmRecordsNothing) {
  DefineGig();
  HoldResult h = HoldOk({{0, 0}}, "a", kMin);
  ASSERT_TRUE(engine_->Confirm(h.hold_id, "a", "k", "p").ok());
  const size_t before = sink_.changes.size();
  EXPECT_TRUE(engine_->Confirm(h.hold_id, "a", "k", "p").replayed);
  EXPECT_EQ(sink_.changes.size(), before);
}

TEST_F(SeatEngineChanges, NamesAreStable) {
  EXPECT_EQ(ChangeKindName(ChangeKind::kHeld), "HELD");
  EXPECT_EQ(SeatStateName(SeatState::kFree), "FREE");
  EXPECT_EQ(SeatStateName(SeatState::kHeld), "HELD");
  EXPECT_EQ(SeatStateName(SeatState::kSold), "SOLD");
  EXPECT_EQ(ResultCodeName(ResultCode::kHoldExpiredSeatsTaken), "HOLD_EXPIRED_SEATS_TAKEN");
}

// ---------------------------------------------------------------------------
// HoldBestAvailable

// One section "S" with rows A.. of the given widths.
EventLayout PickLayout(std::vector<uint32_t> widths) {
  SectionLayout s;
  s.label = "S";
  for (size_t r = 0; r < widths.size(); ++r) {
    s.rows.push_back(Row(std::string(1, static_cast<char>('A' + r)), widths[r]));
  }
  return Layout("pick", {s});
}

std::vector<uint32_t> SeatIndices(const HoldResult& h) {
  std::vector<uint32_t> out;
  for (SeatKey k : h.seats) out.push_back(k.seat);
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(SeatEngineBestAvailable, EmptySectionGivesMiddleOfFrontRow) {
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({10, 10})).ok());
  HoldResult h = engine_->HoldBestAvailable("pick", 0, 2, true, "b", kMin);
  ASSERT_EQ(h.code, ResultCode::kOk) << h.detail;
  EXPECT_THAT(SeatIndices(h), ElementsAre(4u, 5u));
  EXPECT_GT(h.fencing_token, 0u);
  EXPECT_EQ(h.expires_ms, kT0 + kMin);
  for (SeatKey k : h.seats) {
    EXPECT_EQ(k.section, 0u);
    EXPECT_EQ(StateOf(k, "pick"), SeatState::kHeld);
  }
  HoldResult h3 = engine_->HoldBestAvailable("pick", 0, 3, true, "b", kMin);
  ASSERT_EQ(h3.code, ResultCode::kOk);
  // Row A now has free runs 0..3 and 6..9: every block of 3 there strands one
  // seat, so row B's orphan-free middle block (3..5, tie broken low) wins.
  EXPECT_THAT(SeatIndices(h3), ElementsAre(13u, 14u, 15u));
}

TEST_F(SeatEngineBestAvailable, PrefersLowerRowOverBetterCentre) {
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({10, 10})).ok());
  // Row A: sell seats 0..5 so the only free run is 6..9 (away from centre).
  std::vector<SeatKey> sold;
  for (uint32_t i = 0; i < 6; ++i) sold.push_back({0, i});
  Sell(sold, "pick");
  HoldResult h = engine_->HoldBestAvailable("pick", 0, 2, true, "b", kMin);
  ASSERT_EQ(h.code, ResultCode::kOk) << h.detail;
  // 6-7 or 8-9 leave no orphan; 6-7 is nearer the centre.
  EXPECT_THAT(SeatIndices(h), ElementsAre(6u, 7u));
}

TEST_F(SeatEngineBestAvailable, SkipsRowsWithoutABlock) {
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({6, 6})).ok());
  Sell({{0, 0}, {0, 2}, {0, 4}}, "pick");  // row A free: 1, 3, 5 -- no pair
  HoldResult h = engine_->HoldBestAvailable("pick", 0, 2, true, "b", kMin);
  ASSERT_EQ(h.code, ResultCode::kOk);
  EXPECT_THAT(SeatIndices(h), ElementsAre(8u, 9u));  // row B's middle (2,3)
}

TEST_F(SeatEngineBestAvailable, AvoidsLeavingASingleOrphanSeat) {
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({11})).ok());
  // Row A (0..10): free runs 3..5 and 7..10.
  Sell({{0, 0}, {0, 1}, {0, 2}, {0, 6}}, "pick");
  HoldResult h = engine_->HoldBestAvailable("pick", 0, 2, true, "b", kMin);
  ASSERT_EQ(h.code, ResultCode::kOk);
  // 4-5 is nearest the centre but strands seat 3; 7-8 strands nothing.
  EXPECT_THAT(SeatIndices(h), ElementsAre(7u, 8u));
}

TEST_F(SeatEngineBestAvailable, OrphanIsAcceptedWhenNoOtherBlockExists) {
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({5})).ok());
  Sell({{0, 0}, {0, 4}}, "pick");  // free run 1..3
  HoldResult h = engine_->HoldBestAvailable("pick", 0, 2, true, "b", kMin);
  ASSERT_EQ(h.code, ResultCode::kOk);
  const std::vector<uint32_t> got = SeatIndices(h);
  EXPECT_TRUE(got == (std::vector<uint32_t>{1, 2}) || got == (std::vector<uint32_t>{2, 3}));
}

TEST_F(SeatEngineBestAvailable, NoBlockTogetherIsNoAdjacentSeats) {
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({6, 6})).ok());
  Sell({{0, 0}, {0, 2}, {0, 4}, {0, 7}, {0, 9}, {0, 11}}, "pick");
  const Availability before = engine_->GetAvailability("pick");
  HoldResult h = engine_->HoldBestAvailable("pick", 0, 2, true, "b", kMin);
  EXPECT_EQ(h.code, ResultCode::kNoAdjacentSeats);
  EXPECT_EQ(engine_->GetAvailability("pick").held, before.held);
}

TEST_F(SeatEngineBestAvailable, ScatteredSeatsWhenTogetherIsFalse) {
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({6, 6})).ok());
  Sell({{0, 0}, {0, 2}, {0, 4}, {0, 7}, {0, 9}, {0, 11}}, "pick");
  HoldResult h = engine_->HoldBestAvailable("pick", 0, 4, false, "b", kMin);
  ASSERT_EQ(h.code, ResultCode::kOk) << h.detail;
  ASSERT_EQ(h.seats.size(), 4u);
  std::vector<uint32_t> got = SeatIndices(h);
  EXPECT_EQ(std::adjacent_find(got.begin(), got.end()), got.end());
  for (SeatKey k : h.seats) EXPECT_EQ(StateOf(k, "pick"), SeatState::kHeld);
  // Front row first: all three free seats of row A are taken.
  EXPECT_EQ(std::count_if(got.begin(), got.end(), [](uint32_t s) { return s < 6; }), 3);
}

TEST_F(SeatEngineBestAvailable, TogetherFalseStillPrefersABlock) {
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({10, 10})).ok());
  HoldResult h = engine_->HoldBestAvailable("pick", 0, 2, false, "b", kMin);
  ASSERT_EQ(h.code, ResultCode::kOk);
  EXPECT_THAT(SeatIndices(h), ElementsAre(4u, 5u));
}

TEST_F(SeatEngineBestAvailable, FewerFreeSeatsThanCountIsNotEnoughSeats) {
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({3})).ok());
  Sell({{0, 1}}, "pick");
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 0, 3, true, "b", kMin).code,
            ResultCode::kNotEnoughSeats);
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 0, 3, false, "b", kMin).code,
            ResultCode::kNotEnoughSeats);
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 0, 2, true, "b", kMin).code,
            ResultCode::kNoAdjacentSeats);
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 0, 2, false, "b", kMin).code, ResultCode::kOk);
}

TEST_F(SeatEngineBestAvailable, AnySectionSearchesInLayoutOrder) {
  ASSERT_TRUE(
      engine_->DefineEvent(Layout("any", {UniformSection("S1", 1, 4), UniformSection("S2", 2, 6)}))
          .ok());
  Sell({{0, 0}, {0, 2}}, "any");  // S1 free: 1, 3 -- no pair
  HoldResult h = engine_->HoldBestAvailable("any", -1, 2, true, "b", kMin);
  ASSERT_EQ(h.code, ResultCode::kOk) << h.detail;
  for (SeatKey k : h.seats) EXPECT_EQ(k.section, 1u);
  EXPECT_THAT(SeatIndices(h), ElementsAre(2u, 3u));
  // With room in S1 a later request is served from S1 first.
  HoldResult one = engine_->HoldBestAvailable("any", -1, 1, true, "b", kMin);
  ASSERT_EQ(one.code, ResultCode::kOk);
  EXPECT_EQ(one.seats[0].section, 0u);
}

TEST_F(SeatEngineBestAvailable, UnknownSectionIsUnknownSeat) {
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({5})).ok());
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 1, 1, true, "b", kMin).code,
            ResultCode::kUnknownSeat);
}

TEST_F(SeatEngineBestAvailable, CountRulesMatchHold) {
  EngineLimits lim;
  lim.max_seats_per_hold = 4;
  Build(lim);
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({10})).ok());
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 0, 0, true, "b", kMin).code,
            ResultCode::kInvalidArgument);
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 0, 5, true, "b", kMin).code,
            ResultCode::kLimitExceeded);
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 0, 2, true, "", kMin).code,
            ResultCode::kInvalidArgument);
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 0, 2, true, "b", 0).code,
            ResultCode::kInvalidArgument);
  EXPECT_EQ(engine_->GetAvailability("pick").held, 0u);
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 0, 4, true, "b", kMin).code, ResultCode::kOk);
}

TEST_F(SeatEngineBestAvailable, HeldSeatsAreNotFree) {
  ASSERT_TRUE(engine_->DefineEvent(PickLayout({4})).ok());
  HoldResult a = engine_->HoldBestAvailable("pick", 0, 2, true, "a", kMin);
  HoldResult b = engine_->HoldBestAvailable("pick", 0, 2, true, "b", kMin);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  std::vector<uint32_t> all = SeatIndices(a);
  for (uint32_t s : SeatIndices(b)) all.push_back(s);
  std::sort(all.begin(), all.end());
  EXPECT_THAT(all, ElementsAre(0u, 1u, 2u, 3u));
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 0, 1, true, "c", kMin).code,
            ResultCode::kNotEnoughSeats);
  // Once a hold expires its seats are offered again.
  clock_.AdvanceMs(kMin);
  EXPECT_EQ(engine_->HoldBestAvailable("pick", 0, 4, true, "c", kMin).code, ResultCode::kOk);
}

// ---------------------------------------------------------------------------
// Memory

TEST_F(SeatEngineMemory, FiftyThousandSeatEventFitsTheTarget) {
  const size_t empty = engine_->MemoryBytes();
  // 50 sections x 50 rows x 20 seats = 50,000 seats.
  EventLayout l;
  l.event_id = "arena";
  for (int s = 0; s < 50; ++s) {
    SectionLayout sec;
    sec.label = std::to_string(100 + s);
    for (int r = 0; r < 50; ++r) sec.rows.push_back(Row("R" + std::to_string(r), 20));
    l.sections.push_back(std::move(sec));
  }
  ASSERT_EQ(l.seat_count(), 50'000u);
  const size_t heap_before = mallinfo2().uordblks;
  ASSERT_EQ(engine_->DefineEvent(l).code, ResultCode::kOk);
  const size_t heap_after = mallinfo2().uordblks;
  const size_t defined = engine_->MemoryBytes();
  // A realistic on-sale moment: 1,000 live holds of 2 seats and 5,000 sold.
  for (uint32_t i = 0; i < 1000; ++i) {
    ASSERT_TRUE(engine_
                    ->Hold("arena",
                           std::vector<SeatKey>{{i % 50, 2 * (i / 50)}, {i % 50, 2 * (i / 50) + 1}},
                           "buyer-" + std::to_string(i), 10 * kMin)
                    .ok());
  }
  const size_t with_holds = engine_->MemoryBytes();
  const double per_seat = static_cast<double>(defined) / 50'000.0;
  std::cout << "[ memory ] empty engine " << empty << " B; 50,000-seat event defined " << defined
            << " B = " << per_seat << " B/seat (layout+state, excl. empty "
            << static_cast<double>(defined - empty) / 50'000.0 << " B/seat); with 1,000 holds "
            << with_holds << " B = " << static_cast<double>(with_holds) / 50'000.0 << " B/seat"
            << std::endl;
  // Cross-check the estimate against what malloc saw (0 under sanitizers,
  // whose allocator glibc's counters do not see).
  if (heap_after > heap_before) {
    std::cout << "[ memory ] heap growth measured by malloc while defining: "
              << heap_after - heap_before
              << " B = " << static_cast<double>(heap_after - heap_before) / 50'000.0 << " B/seat"
              << std::endl;
  }
  EXPECT_GT(defined, empty);
  EXPECT_LE(per_seat, 24.0) << "stated target: <= 24 bytes per seat";
  EXPECT_EQ(engine_->Stats().memory_bytes, with_holds);
}

}  // namespace
}  // namespace seatlock

// ---------------------------------------------------------------------------
// DeleteEvent

namespace seatlock {
namespace {

class SeatEngineDelete : public EngineFixture {
 protected:
  // "other": one section "X" of one row of 10 seats.
  void DefineOther() {
    ASSERT_EQ(engine_->DefineEvent(Layout("other", {UniformSection("X", 1, 10)})).code,
              ResultCode::kOk);
  }
};

TEST_F(SeatEngineDelete, UnknownEventIsEventNotFound) {
  EXPECT_EQ(engine_->DeleteEvent("nope", false).code, ResultCode::kEventNotFound);
}

TEST_F(SeatEngineDelete, LiveHoldsRefuseWithoutForceAndChangeNothing) {
  DefineGig();
  const SeatKey a = Key("103", "A", "1");
  HoldResult h = HoldOk({a}, "buyer", 10 * kMin);
  const DeleteEventResult r = engine_->DeleteEvent("gig", /*force=*/false);
  EXPECT_EQ(r.code, ResultCode::kEventHasLiveHolds);
  EXPECT_EQ(r.live_holds, 1u);
  EXPECT_THAT(r.detail, ::testing::HasSubstr("delete with force"));
  EXPECT_EQ(StateOf(a), SeatState::kHeld);
  EXPECT_TRUE(engine_->GetHold(h.hold_id).has_value());
}

TEST_F(SeatEngineDelete, ForceReleasesLiveHoldsWithChangeRecordsAndFreesEverything) {
  DefineGig();
  DefineOther();
  const SeatKey a = Key("103", "A", "1");
  const SeatKey b = Key("103", "A", "2");
  Sell({a});
  const uint64_t sold = engine_->Stats().bookings;
  ASSERT_EQ(sold, 1u);
  // A sale of another event made after gig's, so its booking index moves.
  Sell({Key("X", "A", "3", "other")}, "other");
  const uint64_t other_booking = sink_.changes.back().booking_id;
  HoldResult h = HoldOk({b}, "buyer", 10 * kMin);
  sink_.changes.clear();

  const DeleteEventResult r = engine_->DeleteEvent("gig", /*force=*/true);
  ASSERT_EQ(r.code, ResultCode::kOk) << r.detail;
  EXPECT_EQ(r.holds_released, 1u);
  EXPECT_EQ(r.bookings_dropped, 1u);
  ASSERT_EQ(sink_.changes.size(), 1u);
  EXPECT_EQ(sink_.changes[0].kind, ChangeKind::kReleased);
  EXPECT_EQ(sink_.changes[0].hold_id, h.hold_id);
  EXPECT_EQ(sink_.changes[0].event_id, "gig");

  EXPECT_EQ(engine_->Layout("gig"), nullptr);
  EXPECT_THAT(engine_->EventIds(), ElementsAre("other"));
  EXPECT_FALSE(engine_->GetHold(h.hold_id).has_value());
  EXPECT_EQ(engine_->Stats().live_holds, 0u);
  EXPECT_EQ(engine_->Stats().bookings, 1u);
  EXPECT_EQ(engine_->Stats().events, 1u);
  EXPECT_EQ(engine_->booking_count(), 1u);
  EXPECT_EQ(engine_->GetAvailability("gig").code, ResultCode::kEventNotFound);
  // The other event's sale is intact, and its seat still names it.
  ASSERT_TRUE(engine_->GetBooking(other_booking).has_value());
  EXPECT_EQ(engine_->BookingAt(0).booking_id, other_booking);
  EXPECT_EQ(ViewOf(Key("X", "A", "3", "other"), "other").owner_id, other_booking);
  EXPECT_EQ(engine_->CancelBooking(other_booking).code, ResultCode::kOk);
  EXPECT_EQ(StateOf(Key("X", "A", "3", "other"), "other"), SeatState::kFree);
}

TEST_F(SeatEngineDelete, ARedefinedEventStartsCleanAndOldIdsNameNothing) {
  DefineGig();
  const SeatKey a = Key("103", "A", "1");
  HoldResult sold = HoldOk({a}, "buyer", 10 * kMin);
  ConfirmResult c = engine_->Confirm(sold.hold_id, "buyer", "key-1", "pay");
  ASSERT_EQ(c.code, ResultCode::kOk);
  HoldResult live = HoldOk({Key("103", "A", "2")}, "buyer", 10 * kMin);
  // A hold that lapsed (kept for a late confirm).
  HoldResult lapsed = HoldOk({Key("103", "A", "3")}, "late", kSec);
  clock_.AdvanceMs(2 * kSec);
  ASSERT_EQ(engine_->DeleteEvent("gig", true).code, ResultCode::kOk);
  EXPECT_EQ(engine_->Stats().lapsed_holds, 0u);
  EXPECT_EQ(engine_->Stats().idempotency_records, 0u);
  EXPECT_FALSE(engine_->GetBooking(c.booking_id).has_value());

  ASSERT_EQ(engine_->DefineEvent(GigLayout()).code, ResultCode::kOk);
  EXPECT_EQ(StateOf(a), SeatState::kFree);
  EXPECT_EQ(engine_->GetAvailability("gig").sold, 0u);
  // A retried CONFIRM of the deleted event's sale, a confirm of its live or
  // lapsed hold: none can sell a seat of the new event.
  EXPECT_EQ(engine_->Confirm(sold.hold_id, "buyer", "key-1", "pay").code,
            ResultCode::kHoldNotFound);
  EXPECT_EQ(engine_->Confirm(live.hold_id, "buyer", "key-2", "pay").code,
            ResultCode::kHoldNotFound);
  EXPECT_EQ(engine_->Confirm(lapsed.hold_id, "late", "key-3", "pay").code,
            ResultCode::kHoldNotFound);
  EXPECT_EQ(engine_->Release(live.hold_id, "buyer").code, ResultCode::kHoldNotFound);
  EXPECT_EQ(engine_->GetAvailability("gig").sold, 0u);
  // New holds of the redefined event work, and key-1 is free to use again.
  HoldResult fresh = HoldOk({a}, "buyer", 10 * kMin);
  EXPECT_EQ(engine_->Confirm(fresh.hold_id, "buyer", "key-1", "pay").code, ResultCode::kOk);
}

// FindEvent remembers the last event it found: deleting that event, or
// another, must leave no lookup that finds a deleted event.
TEST_F(SeatEngineDelete, LookupsAfterADeleteFindOnlyLiveEvents) {
  DefineGig();
  DefineOther();
  HoldOk({Key("103", "A", "1")}, "buyer", 10 * kMin);  // gig was the last found
  ASSERT_EQ(engine_->DeleteEvent("gig", true).code, ResultCode::kOk);
  EXPECT_EQ(engine_->Layout("gig"), nullptr);
  EXPECT_EQ(engine_->SectionIndex("gig", "103"), -1);
  ASSERT_NE(engine_->Layout("other"), nullptr);  // other is the last found now
  ASSERT_EQ(engine_->DeleteEvent("other", true).code, ResultCode::kOk);
  EXPECT_EQ(engine_->Layout("other"), nullptr);
  EXPECT_EQ(engine_->Hold("other", {SeatKey{0, 0}}, "buyer", kMin).code,
            ResultCode::kEventNotFound);
  ASSERT_EQ(engine_->DefineEvent(GigLayout()).code, ResultCode::kOk);
  EXPECT_EQ(StateOf(Key("103", "A", "1")), SeatState::kFree);
  HoldOk({Key("103", "A", "1")}, "buyer", 10 * kMin);
}

TEST_F(SeatEngineDelete, ReplayOfTheDurableRecordsGivesTheSameState) {
  // DEFINE, sale, DELETE, DEFINE, sale of the same seat: what recovery does.
  DefineGig();
  SeatEngine::DurableSale first;
  first.booking_id = 1;
  first.event_id = "gig";
  first.seats = {Key("103", "A", "1")};
  ASSERT_TRUE(engine_->RestoreSale(first));
  ASSERT_EQ(engine_->DeleteEvent("gig", true).code, ResultCode::kOk);
  DefineGig();
  SeatEngine::DurableSale second = first;
  second.booking_id = 2;
  ASSERT_TRUE(engine_->RestoreSale(second));
  EXPECT_FALSE(engine_->GetBooking(1).has_value());
  EXPECT_EQ(ViewOf(first.seats[0]).owner_id, 2u);
  EXPECT_EQ(engine_->deletions(), 1u);
}

}  // namespace
}  // namespace seatlock
