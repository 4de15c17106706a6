// Engine ops (server/engine_ops.h): each wire request, run by ExecuteEngineOp
// on a real SeatEngine driven by a ManualClock, gives the response that
// docs/protocol.md §4 and §7 specify: the code, and the body fields for it.
// No sockets, no threads, nothing sleeps.
#include "server/engine_ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/clock.h"
#include "engine/layout.h"
#include "engine/result_code.h"
#include "engine/seat_engine.h"
#include "protocol/framing.h"
#include "protocol/hold_codec.h"
#include "protocol/seatlock.pb.h"

namespace seatlock {
namespace wire {
// Readable failure messages: codes by name (found by argument-dependent lookup).
void PrintTo(ResultCode code, std::ostream* os) { *os << ResultCode_Name(code); }
void PrintTo(SeatState s, std::ostream* os) { *os << SeatState_Name(s); }
}  // namespace wire

namespace {

constexpr int64_t kSec = 1000;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kT0 = 1'700'000'000'000;
constexpr uint32_t kShard = 3;  // stamped into ids, reported by STATS and GET_AVAILABILITY
constexpr int64_t kTtl = 5 * kMin;

// ---------------------------------------------------------------------------
// Wire builders

// "gig": section "A" with rows "1" and "2" of 4 seats each (labels "1".."4";
// indices 0..3 and 4..7), and section "VIP" with row "R" of labelled seats
// "a", "b", "c" (indices 0..2).
wire::DefineEventRequest GigWire(const std::string& event_id = "gig") {
  wire::DefineEventRequest d;
  d.set_event_id(event_id);
  wire::SectionLayout* a = d.add_sections();
  a->set_label("A");
  for (const char* label : {"1", "2"}) {
    wire::RowLayout* r = a->add_rows();
    r->set_label(label);
    r->set_seat_count(4);
  }
  wire::SectionLayout* vip = d.add_sections();
  vip->set_label("VIP");
  wire::RowLayout* r = vip->add_rows();
  r->set_label("R");
  for (const char* label : {"a", "b", "c"}) r->add_seat_labels(label);
  return d;
}

wire::SeatRef Seat(const std::string& section, const std::string& row, const std::string& seat) {
  wire::SeatRef s;
  s.set_section(section);
  s.set_row(row);
  s.set_seat(seat);
  return s;
}

wire::SeatRef SeatAt(const std::string& section, uint32_t index) {
  wire::SeatRef s;
  s.set_section(section);
  s.set_index(index);
  return s;
}

wire::Request DefineReq(const wire::DefineEventRequest& d) {
  wire::Request r;
  *r.mutable_define_event() = d;
  return r;
}

wire::Request HoldReq(const std::vector<wire::SeatRef>& seats, const std::string& holder = "alice",
                      int64_t ttl_ms = kTtl, const std::string& event_id = "gig") {
  wire::Request r;
  wire::HoldRequest* h = r.mutable_hold();
  h->set_event_id(event_id);
  for (const wire::SeatRef& s : seats) *h->add_seats() = s;
  h->set_holder(holder);
  h->set_ttl_ms(ttl_ms);
  return r;
}

wire::Request BestReq(const std::string& section, uint32_t count, bool scattered_ok = false,
                      const std::string& holder = "alice", const std::string& event_id = "gig") {
  wire::Request r;
  wire::HoldBestAvailableRequest* h = r.mutable_hold_best_available();
  h->set_event_id(event_id);
  h->set_section(section);
  h->set_count(count);
  h->set_scattered_ok(scattered_ok);
  h->set_holder(holder);
  h->set_ttl_ms(kTtl);
  return r;
}

wire::Request ExtendReq(uint64_t hold_id, const std::string& holder, int64_t ttl_ms) {
  wire::Request r;
  r.mutable_extend()->set_hold_id(hold_id);
  r.mutable_extend()->set_holder(holder);
  r.mutable_extend()->set_ttl_ms(ttl_ms);
  return r;
}

wire::Request ReleaseReq(uint64_t hold_id, const std::string& holder) {
  wire::Request r;
  r.mutable_release()->set_hold_id(hold_id);
  r.mutable_release()->set_holder(holder);
  return r;
}

wire::Request ConfirmReq(uint64_t hold_id, const std::string& holder, const std::string& key,
                         const std::string& payment_ref = "pay-1") {
  wire::Request r;
  wire::ConfirmRequest* c = r.mutable_confirm();
  c->set_hold_id(hold_id);
  c->set_holder(holder);
  c->set_idempotency_key(key);
  c->set_payment_ref(payment_ref);
  return r;
}

wire::Request CancelReq(uint64_t booking_id) {
  wire::Request r;
  r.mutable_cancel_booking()->set_booking_id(booking_id);
  return r;
}

wire::Request GetSeatsReq(const std::string& section, const std::string& event_id = "gig") {
  wire::Request r;
  r.mutable_get_seats()->set_event_id(event_id);
  r.mutable_get_seats()->set_section(section);
  return r;
}

wire::Request AvailabilityReq(const std::string& event_id = "gig") {
  wire::Request r;
  r.mutable_get_availability()->set_event_id(event_id);
  return r;
}

wire::Request GetHoldReq(uint64_t hold_id) {
  wire::Request r;
  r.mutable_get_hold()->set_hold_id(hold_id);
  return r;
}

wire::Request ListHoldsReq(const std::string& event_id, const std::string& holder,
                           uint32_t limit = 0) {
  wire::Request r;
  r.mutable_list_holds()->set_event_id(event_id);
  r.mutable_list_holds()->set_holder(holder);
  r.mutable_list_holds()->set_limit(limit);
  return r;
}

wire::Request ListEventsReq() {
  wire::Request r;
  r.mutable_list_events();
  return r;
}

wire::Request StatsReq() {
  wire::Request r;
  r.mutable_stats();
  return r;
}

// "A/1/2 #1": a reply's seat, labels and index.
std::string Describe(const wire::SeatRef& s) {
  return s.section() + "/" + s.row() + "/" + s.seat() + " #" + std::to_string(s.index());
}

std::vector<std::string> Describe(const google::protobuf::RepeatedPtrField<wire::SeatRef>& seats) {
  std::vector<std::string> out;
  for (const wire::SeatRef& s : seats) out.push_back(Describe(s));
  return out;
}

// ---------------------------------------------------------------------------
// Fixture

class EngineOps : public ::testing::Test {
 protected:
  EngineOps() { Build(nullptr); }

  void Build(std::function<bool(std::string_view, std::string_view)> owns_section) {
    SeatEngine::Options o;
    o.clock = &clock_;
    o.shard_index = kShard;
    o.owns_section = std::move(owns_section);
    engine_ = std::make_unique<SeatEngine>(std::move(o));
  }

  // Runs `req` with a fresh request id; checks the id is echoed.
  wire::Response Exec(wire::Request req) {
    req.set_request_id(++next_request_id_);
    wire::Response resp;
    ExecuteEngineOp(*engine_, kShard, req, &resp);
    EXPECT_EQ(resp.request_id(), req.request_id());
    return resp;
  }

  void DefineGig() {
    wire::Response r = Exec(DefineReq(GigWire()));
    ASSERT_EQ(r.code(), wire::OK) << r.detail();
  }

  wire::HoldReply HoldOk(const std::vector<wire::SeatRef>& seats,
                         const std::string& holder = "alice", int64_t ttl_ms = kTtl) {
    wire::Response r = Exec(HoldReq(seats, holder, ttl_ms));
    EXPECT_EQ(r.code(), wire::OK) << r.detail();
    return r.hold();
  }

  wire::ConfirmReply ConfirmOk(uint64_t hold_id, const std::string& holder,
                               const std::string& key) {
    wire::Response r = Exec(ConfirmReq(hold_id, holder, key));
    EXPECT_EQ(r.code(), wire::OK) << r.detail();
    return r.confirm();
  }

  wire::GetAvailabilityReply Availability() {
    wire::Response r = Exec(AvailabilityReq());
    EXPECT_EQ(r.code(), wire::OK) << r.detail();
    return r.get_availability();
  }

  ManualClock clock_{kT0};
  std::unique_ptr<SeatEngine> engine_;
  uint64_t next_request_id_ = 1000;
};

// ---- DEFINE_EVENT, GET_AVAILABILITY -----------------------------------------

TEST_F(EngineOps, DefineEventThenGetAvailabilityCountsEverySeat) {
  wire::Response def = Exec(DefineReq(GigWire()));
  EXPECT_EQ(def.code(), wire::OK) << def.detail();
  EXPECT_EQ(def.body_case(), wire::Response::BODY_NOT_SET);  // DEFINE_EVENT has no body

  wire::Response r = Exec(AvailabilityReq());
  ASSERT_EQ(r.code(), wire::OK) << r.detail();
  const wire::GetAvailabilityReply& a = r.get_availability();
  EXPECT_EQ(a.total(), 11u);
  EXPECT_EQ(a.free(), 11u);
  EXPECT_EQ(a.held(), 0u);
  EXPECT_EQ(a.sold(), 0u);
  ASSERT_EQ(a.sections_size(), 2);  // in layout order
  EXPECT_EQ(a.sections(0).section(), "A");
  EXPECT_EQ(a.sections(0).total(), 8u);
  EXPECT_EQ(a.sections(0).free(), 8u);
  EXPECT_EQ(a.sections(0).shard(), kShard);
  EXPECT_EQ(a.sections(1).section(), "VIP");
  EXPECT_EQ(a.sections(1).total(), 3u);
  EXPECT_EQ(a.sections(1).shard(), kShard);
}

TEST_F(EngineOps, DefineEventAgainIsOkWithTheSameLayoutAndEventExistsWithAnother) {
  DefineGig();
  EXPECT_EQ(Exec(DefineReq(GigWire())).code(), wire::OK);
  wire::DefineEventRequest other = GigWire();
  other.mutable_sections(0)->mutable_rows(0)->set_seat_count(5);
  wire::Response r = Exec(DefineReq(other));
  EXPECT_EQ(r.code(), wire::EVENT_EXISTS);
  EXPECT_FALSE(r.detail().empty());
}

TEST_F(EngineOps, DefineEventWithAnInvalidLayoutIsInvalidArgument) {
  wire::DefineEventRequest bad = GigWire();
  bad.mutable_sections(0)->mutable_rows(1)->set_label("1");  // duplicate row label
  EXPECT_EQ(Exec(DefineReq(bad)).code(), wire::INVALID_ARGUMENT);
  EXPECT_EQ(Exec(AvailabilityReq()).code(), wire::EVENT_NOT_FOUND);
}

TEST_F(EngineOps, GetAvailabilityCountsHeldAndSoldSeats) {
  DefineGig();
  wire::HoldReply sold = HoldOk({Seat("A", "1", "1")});
  ConfirmOk(sold.hold_id(), "alice", "k1");
  HoldOk({Seat("A", "2", "1"), Seat("VIP", "R", "a")}, "bob");

  wire::GetAvailabilityReply a = Availability();
  EXPECT_EQ(a.total(), 11u);
  EXPECT_EQ(a.free(), 8u);
  EXPECT_EQ(a.held(), 2u);
  EXPECT_EQ(a.sold(), 1u);
  ASSERT_EQ(a.sections_size(), 2);
  EXPECT_EQ(a.sections(0).held(), 1u);
  EXPECT_EQ(a.sections(0).sold(), 1u);
  EXPECT_EQ(a.sections(0).free(), 6u);
  EXPECT_EQ(a.sections(1).held(), 1u);
}

TEST_F(EngineOps, SectionsOwnedByAnotherShardAreLeftOutOfThisShardsPart) {
  Build([](std::string_view, std::string_view section) { return section != "VIP"; });
  DefineGig();
  wire::GetAvailabilityReply a = Availability();
  EXPECT_EQ(a.total(), 8u);
  ASSERT_EQ(a.sections_size(), 1);
  EXPECT_EQ(a.sections(0).section(), "A");
  EXPECT_EQ(a.sections(0).shard(), kShard);
  EXPECT_EQ(Exec(HoldReq({Seat("VIP", "R", "a")})).code(), wire::WRONG_SHARD);
}

// ---- HOLD ---------------------------------------------------------------------

TEST_F(EngineOps, HoldByLabelsReturnsTheHoldItsTokenAndSeats) {
  DefineGig();
  wire::Response r = Exec(HoldReq({Seat("A", "2", "3"), Seat("A", "1", "1")}));
  ASSERT_EQ(r.code(), wire::OK) << r.detail();
  ASSERT_EQ(r.body_case(), wire::Response::kHold);
  const wire::HoldReply& h = r.hold();
  EXPECT_NE(h.hold_id(), 0u);
  EXPECT_EQ(h.hold_id() >> 56, kShard) << "the issuing shard is in the id's top 8 bits";
  ASSERT_EQ(h.part_hold_ids_size(), 1);
  EXPECT_EQ(h.part_hold_ids(0), h.hold_id());
  EXPECT_GT(h.fencing_token(), 0u);
  EXPECT_EQ(h.expires_ms(), kT0 + kTtl);
  EXPECT_EQ(h.remaining_ms(), kTtl);
  EXPECT_EQ(h.conflicts_size(), 0);
  std::vector<std::string> seats = Describe(h.seats());
  std::sort(seats.begin(), seats.end());
  EXPECT_EQ(seats, (std::vector<std::string>{"A/1/1 #0", "A/2/3 #6"}));

  wire::Response second = Exec(HoldReq({Seat("A", "1", "2")}, "bob"));
  ASSERT_EQ(second.code(), wire::OK);
  EXPECT_GT(second.hold().fencing_token(), h.fencing_token()) << "tokens strictly increase";
}

// A hold that named its seats by index is answered by index (section and
// index, no row or seat labels): the labels cost a lookup and three copies.
TEST_F(EngineOps, HoldByIndexIsAnsweredByIndex) {
  DefineGig();
  wire::HoldReply h = HoldOk({SeatAt("VIP", 1), SeatAt("A", 5)});
  std::vector<std::string> seats = Describe(h.seats());
  std::sort(seats.begin(), seats.end());
  EXPECT_EQ(seats, (std::vector<std::string>{"A// #5", "VIP// #1"}));
  // Its conflicts too.
  wire::Response taken = Exec(HoldReq({SeatAt("A", 4), SeatAt("A", 5)}, "bob"));
  ASSERT_EQ(taken.code(), wire::SEAT_UNAVAILABLE);
  ASSERT_EQ(taken.hold().conflicts_size(), 1);
  EXPECT_EQ(Describe(taken.hold().conflicts(0).seat()), "A// #5");
  EXPECT_EQ(taken.hold().conflicts(0).state(), wire::HELD);
  // Named by labels (even one of them), the seats carry both.
  wire::HoldReply mixed = HoldOk({SeatAt("A", 6), Seat("A", "1", "1")});
  seats = Describe(mixed.seats());
  std::sort(seats.begin(), seats.end());
  EXPECT_EQ(seats, (std::vector<std::string>{"A/1/1 #0", "A/2/3 #6"}));
}

TEST_F(EngineOps, HoldOfATakenSeatIsSeatUnavailableWithItsConflicts) {
  DefineGig();
  wire::HoldReply first = HoldOk({Seat("A", "1", "1")}, "alice");
  wire::HoldReply sold = HoldOk({Seat("A", "1", "2")}, "carol");
  ConfirmOk(sold.hold_id(), "carol", "k-carol");

  wire::Response r =
      Exec(HoldReq({Seat("A", "1", "1"), Seat("A", "1", "2"), Seat("A", "1", "3")}, "bob"));
  EXPECT_EQ(r.code(), wire::SEAT_UNAVAILABLE);
  const wire::HoldReply& h = r.hold();
  EXPECT_EQ(h.hold_id(), 0u);
  EXPECT_EQ(h.seats_size(), 0);
  ASSERT_EQ(h.conflicts_size(), 2);  // every requested seat that is HELD or SOLD
  const wire::SeatConflict* held = &h.conflicts(0);
  const wire::SeatConflict* taken = &h.conflicts(1);
  if (held->state() != wire::HELD) std::swap(held, taken);
  EXPECT_EQ(Describe(held->seat()), "A/1/1 #0");
  EXPECT_EQ(held->state(), wire::HELD);
  EXPECT_EQ(held->held_until_ms(), first.expires_ms());
  EXPECT_EQ(Describe(taken->seat()), "A/1/2 #1");
  EXPECT_EQ(taken->state(), wire::SOLD);
  // All or nothing: A/1/3 stays free.
  EXPECT_EQ(Availability().held(), 1u);
}

TEST_F(EngineOps, HoldOfAnUnknownSeatIsUnknownSeat) {
  DefineGig();
  EXPECT_EQ(Exec(HoldReq({Seat("Z", "1", "1")})).code(), wire::UNKNOWN_SEAT);
  EXPECT_EQ(Exec(HoldReq({Seat("A", "9", "1")})).code(), wire::UNKNOWN_SEAT);
  EXPECT_EQ(Exec(HoldReq({Seat("A", "1", "5")})).code(), wire::UNKNOWN_SEAT);
  EXPECT_EQ(Exec(HoldReq({SeatAt("A", 8)})).code(), wire::UNKNOWN_SEAT);
  EXPECT_EQ(Availability().held(), 0u);
}

TEST_F(EngineOps, HoldOfTheSameSeatTwiceIsDuplicateSeat) {
  DefineGig();
  EXPECT_EQ(Exec(HoldReq({Seat("A", "1", "1"), SeatAt("A", 0)})).code(), wire::DUPLICATE_SEAT);
}

// ---- HOLD_BEST_AVAILABLE ------------------------------------------------------

TEST_F(EngineOps, HoldBestAvailablePicksAdjacentSeatsInOneRow) {
  DefineGig();
  wire::Response r = Exec(BestReq("A", 3));
  ASSERT_EQ(r.code(), wire::OK) << r.detail();
  ASSERT_EQ(r.body_case(), wire::Response::kHold);  // HOLD_BEST_AVAILABLE answers with `hold`
  const wire::HoldReply& h = r.hold();
  EXPECT_NE(h.hold_id(), 0u);
  ASSERT_EQ(h.part_hold_ids_size(), 1);
  EXPECT_EQ(h.part_hold_ids(0), h.hold_id());
  EXPECT_GT(h.fencing_token(), 0u);
  EXPECT_EQ(h.expires_ms(), kT0 + kTtl);
  EXPECT_EQ(h.remaining_ms(), kTtl);
  ASSERT_EQ(h.seats_size(), 3);
  std::vector<uint32_t> indices;
  for (const wire::SeatRef& s : h.seats()) {
    EXPECT_EQ(s.section(), "A");
    EXPECT_EQ(s.row(), h.seats(0).row()) << "one row";
    indices.push_back(s.index());
  }
  std::sort(indices.begin(), indices.end());
  EXPECT_EQ(indices[1], indices[0] + 1);
  EXPECT_EQ(indices[2], indices[0] + 2);
  EXPECT_EQ(Availability().held(), 3u);
}

TEST_F(EngineOps, HoldBestAvailableRefusalsUseTheirOwnCodes) {
  DefineGig();
  EXPECT_EQ(Exec(BestReq("A", 9)).code(), wire::NOT_ENOUGH_SEATS);
  HoldOk({Seat("VIP", "R", "b")});
  EXPECT_EQ(Exec(BestReq("VIP", 2)).code(), wire::NO_ADJACENT_SEATS);
  wire::Response scattered = Exec(BestReq("VIP", 2, /*scattered_ok=*/true));
  ASSERT_EQ(scattered.code(), wire::OK) << scattered.detail();
  std::vector<std::string> seats = Describe(scattered.hold().seats());
  std::sort(seats.begin(), seats.end());
  EXPECT_EQ(seats, (std::vector<std::string>{"VIP/R/a #0", "VIP/R/c #2"}));
  EXPECT_EQ(Exec(BestReq("Z", 1)).code(), wire::UNKNOWN_SEAT);
}

TEST_F(EngineOps, HoldBestAvailableWithoutASectionSearchesEverySection) {
  DefineGig();
  wire::Response r = Exec(BestReq("", 2));
  ASSERT_EQ(r.code(), wire::OK) << r.detail();
  EXPECT_EQ(r.hold().seats_size(), 2);
}

// ---- EXTEND, RELEASE ----------------------------------------------------------

TEST_F(EngineOps, ExtendByTheHolderMovesTheDeadlineFromNow) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1")});
  clock_.AdvanceMs(10 * kSec);
  wire::Response r = Exec(ExtendReq(h.hold_id(), "alice", 2 * kMin));
  ASSERT_EQ(r.code(), wire::OK) << r.detail();
  EXPECT_EQ(r.extend().expires_ms(), kT0 + 10 * kSec + 2 * kMin);
  EXPECT_EQ(r.extend().remaining_ms(), 2 * kMin);
  EXPECT_FALSE(r.extend().capped());
}

TEST_F(EngineOps, ExtendOrReleaseByAnotherHolderIsNotHolder) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1")});
  wire::Response extend = Exec(ExtendReq(h.hold_id(), "mallory", kMin));
  EXPECT_EQ(extend.code(), wire::NOT_HOLDER);
  EXPECT_FALSE(extend.has_extend());
  EXPECT_EQ(Exec(ReleaseReq(h.hold_id(), "mallory")).code(), wire::NOT_HOLDER);
  EXPECT_EQ(Availability().held(), 1u) << "the refused release freed nothing";
}

TEST_F(EngineOps, ReleaseFreesTheSeatsAndForgetsTheHold) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1"), Seat("A", "1", "2")});
  wire::Response r = Exec(ReleaseReq(h.hold_id(), "alice"));
  EXPECT_EQ(r.code(), wire::OK) << r.detail();
  EXPECT_EQ(r.body_case(), wire::Response::BODY_NOT_SET);  // RELEASE has no body
  EXPECT_EQ(Availability().free(), 11u);
  EXPECT_EQ(Exec(ReleaseReq(h.hold_id(), "alice")).code(), wire::HOLD_NOT_FOUND);
  EXPECT_EQ(Exec(GetHoldReq(h.hold_id())).code(), wire::HOLD_NOT_FOUND);
}

TEST_F(EngineOps, ExtendOrReleaseOfAnUnknownOrLapsedHold) {
  DefineGig();
  EXPECT_EQ(Exec(ExtendReq(12345, "alice", kMin)).code(), wire::HOLD_NOT_FOUND);
  EXPECT_EQ(Exec(ReleaseReq(12345, "alice")).code(), wire::HOLD_NOT_FOUND);
  wire::HoldReply h = HoldOk({Seat("A", "1", "1")}, "alice", kMin);
  clock_.AdvanceMs(kMin + kSec);
  EXPECT_EQ(Exec(ExtendReq(h.hold_id(), "alice", kMin)).code(), wire::HOLD_EXPIRED);
  EXPECT_EQ(Exec(ReleaseReq(h.hold_id(), "alice")).code(), wire::HOLD_EXPIRED);
  EXPECT_EQ(Exec(ReleaseReq(h.hold_id(), "alice")).code(), wire::HOLD_NOT_FOUND)
      << "RELEASE of a lapsed hold forgets it";
}

// ---- CONFIRM, CANCEL_BOOKING --------------------------------------------------

TEST_F(EngineOps, ConfirmSellsTheHoldsSeats) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1"), Seat("VIP", "R", "c")});
  clock_.AdvanceMs(30 * kSec);
  wire::Response r = Exec(ConfirmReq(h.hold_id(), "alice", "idem-1"));
  ASSERT_EQ(r.code(), wire::OK) << r.detail();
  ASSERT_EQ(r.body_case(), wire::Response::kConfirm);
  const wire::ConfirmReply& c = r.confirm();
  EXPECT_NE(c.booking_id(), 0u);
  EXPECT_EQ(c.booking_id() >> 56, kShard);
  EXPECT_EQ(c.fencing_token(), h.fencing_token()) << "the hold's own token";
  EXPECT_FALSE(c.hold_lapsed());
  EXPECT_FALSE(c.replayed());
  EXPECT_EQ(c.confirmed_ms(), kT0 + 30 * kSec);
  EXPECT_EQ(c.event_id(), "gig");
  EXPECT_EQ(c.conflicts_size(), 0);
  std::vector<std::string> seats = Describe(c.seats());
  std::sort(seats.begin(), seats.end());
  EXPECT_EQ(seats, (std::vector<std::string>{"A/1/1 #0", "VIP/R/c #2"}));
  EXPECT_EQ(Availability().sold(), 2u);
  EXPECT_EQ(Exec(GetHoldReq(h.hold_id())).code(), wire::HOLD_NOT_FOUND) << "the hold is consumed";
}

TEST_F(EngineOps, ConfirmReplayedWithTheSameKeyReturnsTheSameBooking) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1")});
  wire::ConfirmReply first = ConfirmOk(h.hold_id(), "alice", "idem-1");
  clock_.AdvanceMs(kMin);

  wire::Response r = Exec(ConfirmReq(h.hold_id(), "alice", "idem-1"));
  ASSERT_EQ(r.code(), wire::OK) << r.detail();
  const wire::ConfirmReply& again = r.confirm();
  EXPECT_TRUE(again.replayed());
  EXPECT_EQ(again.booking_id(), first.booking_id());
  EXPECT_EQ(again.fencing_token(), first.fencing_token());
  EXPECT_EQ(again.confirmed_ms(), first.confirmed_ms());
  EXPECT_EQ(Describe(again.seats()), Describe(first.seats()));
  EXPECT_EQ(again.event_id(), "gig");
  EXPECT_EQ(Availability().sold(), 1u) << "a replay sells nothing more";
}

TEST_F(EngineOps, ConfirmWithAKeyUsedForAnotherHoldIsIdempotencyMismatch) {
  DefineGig();
  wire::HoldReply a = HoldOk({Seat("A", "1", "1")});
  wire::HoldReply b = HoldOk({Seat("A", "1", "2")});
  ConfirmOk(a.hold_id(), "alice", "idem-1");
  wire::Response r = Exec(ConfirmReq(b.hold_id(), "alice", "idem-1"));
  EXPECT_EQ(r.code(), wire::IDEMPOTENCY_MISMATCH);
  EXPECT_FALSE(r.has_confirm());
  // Other payment_ref, same hold: also a mismatch.
  EXPECT_EQ(Exec(ConfirmReq(a.hold_id(), "alice", "idem-1", "pay-2")).code(),
            wire::IDEMPOTENCY_MISMATCH);
  EXPECT_EQ(Availability().held(), 1u) << "hold b is untouched";
}

TEST_F(EngineOps, ConfirmByAnotherHolderIsNotHolder) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1")});
  EXPECT_EQ(Exec(ConfirmReq(h.hold_id(), "mallory", "idem-m")).code(), wire::NOT_HOLDER);
  EXPECT_EQ(Exec(ConfirmReq(98765, "alice", "idem-x")).code(), wire::HOLD_NOT_FOUND);
}

TEST_F(EngineOps, LateConfirmWithTheSeatsStillFreeSellsThem) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1"), Seat("A", "1", "2")}, "alice", kMin);
  HoldOk({Seat("A", "2", "1")}, "bob");  // a later grant: the late confirm's token tops it
  const uint64_t bobs_token = h.fencing_token() + 1;
  clock_.AdvanceMs(kMin + 5 * kSec);
  EXPECT_EQ(Availability().held(), 1u) << "alice's hold lapsed";

  wire::Response r = Exec(ConfirmReq(h.hold_id(), "alice", "idem-late"));
  ASSERT_EQ(r.code(), wire::OK) << r.detail();
  const wire::ConfirmReply& c = r.confirm();
  EXPECT_TRUE(c.hold_lapsed());
  EXPECT_FALSE(r.detail().empty()) << "a late confirm carries a note";
  EXPECT_NE(c.booking_id(), 0u);
  EXPECT_GT(c.fencing_token(), bobs_token) << "a fresh token for a late confirm";
  EXPECT_EQ(c.seats_size(), 2);
  EXPECT_EQ(c.event_id(), "gig");
  EXPECT_EQ(Availability().sold(), 2u);
}

TEST_F(EngineOps, LateConfirmWithASeatTakenIsHoldExpiredSeatsTaken) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1"), Seat("A", "1", "2")}, "alice", kMin);
  clock_.AdvanceMs(kMin + 5 * kSec);
  wire::HoldReply bob = HoldOk({Seat("A", "1", "2")}, "bob");

  wire::Response r = Exec(ConfirmReq(h.hold_id(), "alice", "idem-late"));
  EXPECT_EQ(r.code(), wire::HOLD_EXPIRED_SEATS_TAKEN) << r.detail();
  ASSERT_EQ(r.body_case(), wire::Response::kConfirm);
  const wire::ConfirmReply& c = r.confirm();
  EXPECT_TRUE(c.hold_lapsed());
  EXPECT_EQ(c.booking_id(), 0u);
  EXPECT_EQ(c.event_id(), "gig");
  EXPECT_EQ(c.confirmed_ms(), clock_.NowMs()) << "the time of the refusal";
  std::vector<std::string> seats = Describe(c.seats());
  std::sort(seats.begin(), seats.end());
  EXPECT_EQ(seats, (std::vector<std::string>{"A/1/1 #0", "A/1/2 #1"}));
  ASSERT_EQ(c.conflicts_size(), 1);
  EXPECT_EQ(Describe(c.conflicts(0).seat()), "A/1/2 #1");
  EXPECT_EQ(c.conflicts(0).state(), wire::HELD);
  EXPECT_EQ(c.conflicts(0).held_until_ms(), bob.expires_ms());
  EXPECT_EQ(Availability().sold(), 0u) << "nothing was sold";

  // The refusal is stored under the key and replayed.
  wire::Response again = Exec(ConfirmReq(h.hold_id(), "alice", "idem-late"));
  EXPECT_EQ(again.code(), wire::HOLD_EXPIRED_SEATS_TAKEN);
  EXPECT_TRUE(again.confirm().replayed());
  EXPECT_EQ(again.confirm().conflicts_size(), 1);
}

TEST_F(EngineOps, CancelBookingFreesItsSeatsOnce) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1")});
  wire::ConfirmReply c = ConfirmOk(h.hold_id(), "alice", "idem-1");
  wire::Response r = Exec(CancelReq(c.booking_id()));
  EXPECT_EQ(r.code(), wire::OK) << r.detail();
  EXPECT_EQ(r.body_case(), wire::Response::BODY_NOT_SET);  // CANCEL_BOOKING has no body
  EXPECT_EQ(Availability().free(), 11u);
  EXPECT_EQ(Exec(CancelReq(c.booking_id())).code(), wire::BOOKING_CANCELLED);
  EXPECT_EQ(Exec(CancelReq(c.booking_id() + 1)).code(), wire::BOOKING_NOT_FOUND);
  // The stored confirm is still replayed after the cancel.
  wire::Response replay = Exec(ConfirmReq(h.hold_id(), "alice", "idem-1"));
  EXPECT_EQ(replay.code(), wire::OK);
  EXPECT_TRUE(replay.confirm().replayed());
  EXPECT_EQ(replay.confirm().booking_id(), c.booking_id());
}

// ---- GET_SEATS, GET_HOLD, LIST_HOLDS, LIST_EVENTS, STATS ----------------------

TEST_F(EngineOps, GetSeatsListsEverySeatWithItsStateAndOwner) {
  DefineGig();
  wire::HoldReply held = HoldOk({Seat("A", "1", "2")});
  wire::HoldReply to_sell = HoldOk({Seat("A", "2", "4")}, "bob");
  wire::ConfirmReply sold = ConfirmOk(to_sell.hold_id(), "bob", "idem-b");

  wire::Response r = Exec(GetSeatsReq("A"));
  ASSERT_EQ(r.code(), wire::OK) << r.detail();
  const wire::GetSeatsReply& g = r.get_seats();
  EXPECT_EQ(g.section(), "A");
  ASSERT_EQ(g.rows_size(), 2);
  EXPECT_EQ(g.rows(0), "1");
  EXPECT_EQ(g.rows(1), "2");
  ASSERT_EQ(g.seats_size(), 8);
  for (int i = 0; i < 8; ++i) {
    const wire::SeatInfo& s = g.seats(i);
    EXPECT_EQ(s.index(), static_cast<uint32_t>(i));
    EXPECT_EQ(s.row(), i < 4 ? "1" : "2");
    EXPECT_EQ(s.seat(), std::to_string(i % 4 + 1));
  }
  EXPECT_EQ(g.seats(1).state(), wire::HELD);
  EXPECT_EQ(g.seats(1).owner_id(), held.hold_id());
  EXPECT_EQ(g.seats(1).held_until_ms(), held.expires_ms());
  EXPECT_EQ(g.seats(7).state(), wire::SOLD);
  EXPECT_EQ(g.seats(7).owner_id(), sold.booking_id());
  EXPECT_EQ(g.seats(0).state(), wire::FREE);
  EXPECT_EQ(g.seats(0).owner_id(), 0u);

  wire::Response vip = Exec(GetSeatsReq("VIP"));
  ASSERT_EQ(vip.code(), wire::OK);
  ASSERT_EQ(vip.get_seats().seats_size(), 3);
  EXPECT_EQ(vip.get_seats().seats(2).seat(), "c") << "explicit seat labels";
  EXPECT_EQ(vip.get_seats().seats(2).row(), "R");

  EXPECT_EQ(Exec(GetSeatsReq("Z")).code(), wire::UNKNOWN_SEAT);
}

TEST_F(EngineOps, GetHoldDescribesTheHoldAndItsLapse) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1"), SeatAt("VIP", 0)}, "alice", kMin);
  wire::Response r = Exec(GetHoldReq(h.hold_id()));
  ASSERT_EQ(r.code(), wire::OK) << r.detail();
  const wire::HoldInfo& info = r.get_hold().hold();
  EXPECT_EQ(info.hold_id(), h.hold_id());
  EXPECT_EQ(info.event_id(), "gig");
  EXPECT_EQ(info.holder(), "alice");
  std::vector<std::string> seats = Describe(info.seats());
  std::sort(seats.begin(), seats.end());
  EXPECT_EQ(seats, (std::vector<std::string>{"A/1/1 #0", "VIP/R/a #0"}));
  EXPECT_EQ(info.created_ms(), kT0);
  EXPECT_EQ(info.expires_ms(), kT0 + kMin);
  EXPECT_EQ(info.fencing_token(), h.fencing_token());
  EXPECT_FALSE(info.lapsed());
  EXPECT_GE(info.remaining_ms(), 0);

  clock_.AdvanceMs(kMin + kSec);
  wire::Response lapsed = Exec(GetHoldReq(h.hold_id()));
  ASSERT_EQ(lapsed.code(), wire::OK) << "a lapsed hold is kept for a late confirm";
  EXPECT_TRUE(lapsed.get_hold().hold().lapsed());
  EXPECT_GE(lapsed.get_hold().hold().remaining_ms(), 0);

  EXPECT_EQ(Exec(GetHoldReq(h.hold_id() + 1)).code(), wire::HOLD_NOT_FOUND);
}

// GET_HOLD and LIST_HOLDS measure remaining_ms on the engine's clock, as
// HOLD and EXTEND do (they once read the wall clock).
TEST_F(EngineOps, GetHoldAndListHoldsMeasureRemainingMsOnTheEnginesClock) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1")}, "alice", kMin);
  clock_.AdvanceMs(20 * kSec);
  wire::Response r = Exec(GetHoldReq(h.hold_id()));
  ASSERT_EQ(r.code(), wire::OK);
  EXPECT_EQ(r.get_hold().hold().remaining_ms(), 40 * kSec);
  wire::Response l = Exec(ListHoldsReq("gig", "alice"));
  ASSERT_EQ(l.list_holds().holds_size(), 1);
  EXPECT_EQ(l.list_holds().holds(0).remaining_ms(), 40 * kSec);
}

TEST_F(EngineOps, ListHoldsFiltersByEventAndHolderAndCutsAtTheLimit) {
  DefineGig();
  ASSERT_EQ(Exec(DefineReq(GigWire("zoo"))).code(), wire::OK);
  wire::HoldReply a1 = HoldOk({Seat("A", "1", "1")}, "alice");
  wire::HoldReply a2 = HoldOk({Seat("A", "1", "2")}, "alice", kMin);
  HoldOk({Seat("A", "1", "3")}, "bob");
  ASSERT_EQ(Exec(HoldReq({Seat("A", "1", "1")}, "alice", kTtl, "zoo")).code(), wire::OK);

  auto ids = [](const wire::Response& r) {
    std::vector<uint64_t> out;
    for (const wire::HoldInfo& h : r.list_holds().holds()) out.push_back(h.hold_id());
    std::sort(out.begin(), out.end());
    return out;
  };
  wire::Response all = Exec(ListHoldsReq("", ""));
  ASSERT_EQ(all.code(), wire::OK);
  EXPECT_EQ(all.list_holds().holds_size(), 4);
  EXPECT_FALSE(all.list_holds().truncated());

  wire::Response alice_gig = Exec(ListHoldsReq("gig", "alice"));
  std::vector<uint64_t> want = {a1.hold_id(), a2.hold_id()};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids(alice_gig), want);
  for (const wire::HoldInfo& h : alice_gig.list_holds().holds()) {
    EXPECT_EQ(h.event_id(), "gig");
    EXPECT_EQ(h.holder(), "alice");
    EXPECT_EQ(h.seats_size(), 1);
  }
  EXPECT_EQ(Exec(ListHoldsReq("zoo", "")).list_holds().holds_size(), 1);
  EXPECT_EQ(Exec(ListHoldsReq("", "bob")).list_holds().holds_size(), 1);

  wire::Response page = Exec(ListHoldsReq("", "", 2));
  EXPECT_EQ(page.list_holds().holds_size(), 2);
  EXPECT_TRUE(page.list_holds().truncated());

  clock_.AdvanceMs(kMin + kSec);  // a2 lapses: lapsed holds are not listed
  EXPECT_EQ(ids(Exec(ListHoldsReq("gig", "alice"))), std::vector<uint64_t>{a1.hold_id()});
}

TEST_F(EngineOps, ListEventsSummarisesEveryEventSortedById) {
  ASSERT_EQ(Exec(DefineReq(GigWire("zoo"))).code(), wire::OK);
  DefineGig();
  HoldOk({Seat("A", "1", "1"), Seat("A", "1", "2")});
  wire::Response r = Exec(ListEventsReq());
  ASSERT_EQ(r.code(), wire::OK);
  const wire::ListEventsReply& l = r.list_events();
  ASSERT_EQ(l.events_size(), 2);
  EXPECT_EQ(l.events(0).event_id(), "gig");
  EXPECT_EQ(l.events(0).total(), 11u);
  EXPECT_EQ(l.events(0).free(), 9u);
  EXPECT_EQ(l.events(0).held(), 2u);
  EXPECT_EQ(l.events(0).sold(), 0u);
  EXPECT_EQ(l.events(1).event_id(), "zoo");
  EXPECT_EQ(l.events(1).free(), 11u);
}

TEST_F(EngineOps, StatsGivesOneShardPartWithTheShardIndex) {
  DefineGig();
  wire::HoldReply h = HoldOk({Seat("A", "1", "1")});
  ConfirmOk(h.hold_id(), "alice", "idem-1");
  ConfirmOk(h.hold_id(), "alice", "idem-1");  // replayed
  EXPECT_EQ(Exec(HoldReq({Seat("A", "1", "1")}, "bob")).code(), wire::SEAT_UNAVAILABLE);
  wire::HoldReply lapsing = HoldOk({Seat("A", "2", "1")}, "bob", kMin);
  clock_.AdvanceMs(kMin + kSec);

  wire::Response r = Exec(StatsReq());
  ASSERT_EQ(r.code(), wire::OK);
  ASSERT_EQ(r.stats().shards_size(), 1);
  const wire::ShardStats& s = r.stats().shards(0);
  EXPECT_EQ(s.shard(), kShard);
  EXPECT_EQ(s.events(), 1u);
  EXPECT_EQ(s.holds_granted(), 2u);
  EXPECT_EQ(s.holds_refused(), 1u);
  EXPECT_EQ(s.holds_expired(), 1u) << "STATS expires what is due first";
  EXPECT_EQ(s.live_holds(), 0u);
  EXPECT_EQ(s.lapsed_holds(), 1u);
  EXPECT_EQ(s.bookings(), 1u);
  EXPECT_EQ(s.confirms(), 1u);
  EXPECT_EQ(s.confirms_replayed(), 1u);
  EXPECT_EQ(s.fencing_high_water(), lapsing.fencing_token());
  EXPECT_GT(s.memory_bytes(), 0u);
}

// ---- Errors -------------------------------------------------------------------

TEST_F(EngineOps, AnUnknownEventIsEventNotFound) {
  DefineGig();
  for (const wire::Request& req :
       {HoldReq({Seat("A", "1", "1")}, "alice", kTtl, "nope"), BestReq("A", 1, false, "a", "nope"),
        BestReq("", 1, false, "a", "nope"), GetSeatsReq("A", "nope"), AvailabilityReq("nope")}) {
    wire::Response r = Exec(req);
    EXPECT_EQ(r.code(), wire::EVENT_NOT_FOUND) << req.ShortDebugString();
    EXPECT_FALSE(r.detail().empty()) << req.ShortDebugString();
  }
}

TEST_F(EngineOps, ARequestWithoutAnEngineOpIsUnknownOp) {
  EXPECT_EQ(Exec(wire::Request()).code(), wire::UNKNOWN_OP);
  wire::Request ping;
  ping.mutable_ping();
  EXPECT_EQ(Exec(ping).code(), wire::UNKNOWN_OP);
}

// ---- The HOLD fast path ------------------------------------------------------------

// Two engines fed the same random ops: one runs every HOLD through
// ExecuteHoldCall (decoded by protocol::DecodeHoldCall), the other through
// ExecuteEngineOp. Each HOLD's reply frame must be the same bytes, and the
// engines must agree on every seat afterwards.
TEST(HoldFastPath, AnswersEveryHoldWithTheBytesTheProtobufPathWrites) {
  ManualClock clock{kT0};
  auto make = [&clock] {
    SeatEngine::Options o;
    o.clock = &clock;
    o.shard_index = kShard;
    o.limits.max_live_holds = 4;  // CAPACITY_EXHAUSTED comes up too
    return std::make_unique<SeatEngine>(std::move(o));
  };
  std::unique_ptr<SeatEngine> fast = make(), slow = make();
  for (SeatEngine* e : {fast.get(), slow.get()}) {
    wire::Response r;
    ExecuteEngineOp(*e, kShard, DefineReq(GigWire()), &r);
    ASSERT_EQ(r.code(), wire::OK);
  }
  std::mt19937_64 rng(20261130);
  auto pick = [&rng](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  const std::vector<std::string> sections = {"A", "VIP", "B", "A"};  // "B" is unknown
  const std::vector<std::string> holders = {"ann", "bob", "a-holder-name-longer-than-sso"};
  std::vector<std::pair<uint64_t, std::string>> granted;
  protocol::HoldCall call;
  HoldCallScratch scratch;
  int codes[64] = {};
  for (int step = 0; step < 4000; ++step) {
    const uint64_t roll = pick(100);
    if (roll < 15 && !granted.empty()) {  // release a hold, on both engines
      const size_t i = pick(granted.size());
      for (SeatEngine* e : {fast.get(), slow.get()}) {
        wire::Response r;
        ExecuteEngineOp(*e, kShard, ReleaseReq(granted[i].first, granted[i].second), &r);
      }
      granted.erase(granted.begin() + static_cast<long>(i));
      continue;
    }
    if (roll < 25) {
      clock.AdvanceMs(static_cast<int64_t>(pick(3000)));
      continue;
    }
    std::vector<wire::SeatRef> seats;
    const uint64_t n = 1 + pick(5);
    for (uint64_t k = 0; k < n; ++k) {
      const std::string& section = sections[pick(sections.size())];
      seats.push_back(SeatAt(section, static_cast<uint32_t>(pick(section == "VIP" ? 4 : 9))));
    }
    const std::string& holder = holders[pick(holders.size())];
    wire::Request req = HoldReq(seats, holder, 1 + static_cast<int64_t>(pick(5000)),
                                pick(20) == 0 ? "nope" : "gig");
    req.set_request_id(pick(4) == 0 ? 0 : 1 + pick(uint64_t{1} << 40));
    const std::string body = req.SerializeAsString();
    ASSERT_TRUE(protocol::DecodeHoldCall(body, 32, &call)) << req.ShortDebugString();

    std::string fast_frame;
    const wire::ResultCode code = ExecuteHoldCall(*fast, call, &scratch, &fast_frame);
    wire::Response resp;
    ExecuteEngineOp(*slow, kShard, req, &resp);
    std::string slow_frame;
    protocol::AppendFrame(resp, &slow_frame);
    ASSERT_EQ(fast_frame, slow_frame) << "step " << step << ": " << req.ShortDebugString()
                                      << "\nprotobuf path: " << resp.ShortDebugString();
    ASSERT_EQ(code, resp.code());
    codes[code]++;
    if (code == wire::OK) granted.emplace_back(resp.hold().hold_id(), holder);
  }
  // The run met each outcome a HOLD by index can have.
  for (wire::ResultCode c :
       {wire::OK, wire::SEAT_UNAVAILABLE, wire::UNKNOWN_SEAT, wire::EVENT_NOT_FOUND,
        wire::DUPLICATE_SEAT, wire::CAPACITY_EXHAUSTED}) {
    EXPECT_GT(codes[c], 0) << wire::ResultCode_Name(c);
  }
  for (const char* section : {"A", "VIP"}) {
    wire::Response a, b;
    ExecuteEngineOp(*fast, kShard, GetSeatsReq(section), &a);
    ExecuteEngineOp(*slow, kShard, GetSeatsReq(section), &b);
    EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString()) << section;
  }
}

TEST_F(EngineOps, HoldCallSeatsFreeOnlyWhenNoSeatCanRefuseTheHold) {
  DefineGig();
  HoldOk({SeatAt("A", 1)});
  ConfirmOk(HoldOk({SeatAt("A", 2)}, "bob").hold_id(), "bob", "key-1");  // A#2 sold
  auto free = [this](std::vector<wire::SeatRef> seats, const std::string& event = "gig") {
    const std::string body = HoldReq(seats, "ann", kTtl, event).SerializeAsString();
    protocol::HoldCall call;
    EXPECT_TRUE(protocol::DecodeHoldCall(body, 32, &call));
    return HoldCallSeatsFree(*engine_, call);
  };
  EXPECT_TRUE(free({SeatAt("A", 0), SeatAt("VIP", 2), SeatAt("A", 3)}));
  EXPECT_FALSE(free({SeatAt("A", 0), SeatAt("A", 1)}));  // held
  EXPECT_FALSE(free({SeatAt("A", 2)}));                  // sold
  EXPECT_FALSE(free({SeatAt("A", 8)}));                  // no such index
  EXPECT_FALSE(free({SeatAt("B", 0)}));                  // no such section
  EXPECT_FALSE(free({SeatAt("A", 0)}, "nope"));          // no such event
  // Past its deadline but not yet expired, the hold still counts.
  clock_.AdvanceMs(kTtl + 1);
  EXPECT_FALSE(free({SeatAt("A", 1)}));
}

// ---- Translations ---------------------------------------------------------------

TEST(EngineOpsTranslation, LayoutSurvivesAWireRoundTrip) {
  EventLayout layout;
  layout.event_id = "arena";
  SectionLayout& floor = layout.sections.emplace_back();
  floor.label = "Floor";
  floor.rows.push_back(RowLayout{"A", 12, {}});
  floor.rows.push_back(RowLayout{"B", 0, {"1", "3", "5"}});
  floor.rows.push_back(RowLayout{"C", 2, {"x", "y"}});  // both given: kept as sent
  SectionLayout& box = layout.sections.emplace_back();
  box.label = "Box 7";
  box.rows.push_back(RowLayout{"1", 4, {}});

  EXPECT_EQ(LayoutFromWire(WireFromLayout(layout)), layout);
  const wire::DefineEventRequest d = WireFromLayout(layout);
  EXPECT_EQ(d.event_id(), "arena");
  ASSERT_EQ(d.sections_size(), 2);
  EXPECT_EQ(d.sections(0).rows(1).seat_labels_size(), 3);
  EXPECT_EQ(WireFromLayout(LayoutFromWire(GigWire())).SerializeAsString(),
            GigWire().SerializeAsString());
}

TEST(EngineOpsTranslation, ToWireKeepsEveryCodesNumberAndName) {
  for (int i = 0; i <= static_cast<int>(ResultCode::kNotInQueue); ++i) {
    const ResultCode code = static_cast<ResultCode>(i);
    const wire::ResultCode w = ToWire(code);
    EXPECT_EQ(static_cast<int>(w), i);
    EXPECT_EQ(wire::ResultCode_Name(w), ResultCodeName(code)) << i;
  }
}

}  // namespace
}  // namespace seatlock
