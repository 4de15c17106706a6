// request_fuzzer: hostile requests through the server's engine path. The
// input is decoded (structure-aware, see DecodeRequest) into a config and at
// most kMaxOps wire Requests and clock steps. Each request is serialized and
// parsed again (as the server receives it), goes through Malformed()
// (server/request_validation.h) and, when it passes, ExecuteEngineOp()
// (server/engine_ops.h) on a real SeatEngine with a ManualClock, as a shard
// runs it; every other request, if it is a HOLD by seat index, goes through
// the shard's fast path instead (protocol::DecodeHoldCall, ExecuteHoldCall),
// its reply frame parsed back. A broken invariant
// traps, so libFuzzer reports it.
//
// The checks keep a model (class Model) of every seat, hold and booking,
// updated from the engine's change records; a record that moves a seat from
// a state it is not in breaks the run at once. So:
//  * no seat is in two live holds (a HELD record on a seat the model has
//    HELD), and every seat of a live hold is HELD by it;
//  * no seat is in two bookings (a SOLD record on a seat that is not HELD by
//    that hold or, for a late confirm, FREE), and each is SOLD to it;
//  * every HELD / SOLD seat is owned by such a hold / booking, and the
//    per-section counts (GET_AVAILABILITY) equal the seat words: after every
//    op the counts are compared with the model's and each seat the op changed
//    is read back (SeatEngine::PeekSeat); every seat is read back (GetSeats)
//    and every hold and booking compared in a full sweep (Sweep) every
//    kSweepEvery ops (kSweepEveryBig when the engine keeps over kBigSeats
//    seats), after every DELETE_EVENT and at the end of the input;
//  * fencing tokens strictly grow; the high-water mark never goes down;
//  * change records are gapless; the wheel's wake-up hint is never past the
//    earliest deadline;
//  * every reply code is one docs/protocol.md lists for that op, and replies
//    agree with the model (a cancel of a live booking is OK, a GET_HOLD of a
//    forgotten hold is HOLD_NOT_FOUND, LIST_BOOKINGS pages are right, ...);
//  * lapsed holds are forgotten only oldest first (max_lapsed_hold_bytes,
//    lapsed_hold_retention_ms, both chosen by the input), and a late confirm
//    of a forgotten (evicted or purged) hold sells nothing;
//  * after DELETE_EVENT the event's hold ids and booking ids name nothing,
//    and a retried confirm of one of its sales is not replayed.
// `request_fuzzer --write-seeds=DIR` writes the seed corpus (fuzz/corpus/).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/clock.h"
#include "engine/seat_engine.h"
#include "fuzz/fuzz_input.h"
#include "google/protobuf/stubs/logging.h"
#include "protocol/framing.h"
#include "protocol/hold_codec.h"
#include "protocol/seatlock.pb.h"
#include "server/engine_ops.h"
#include "server/request_validation.h"

namespace seatlock::fuzz {
namespace {

using wire::Request;
using wire::Response;

constexpr int kMaxOps = 48;
constexpr int64_t kStart = 1'700'000'000'000;
// The full sweep (every seat, hold and booking read back) runs every
// kSweepEvery ops, or every kSweepEveryBig ops while the engine keeps more
// than kBigSeats seats (reading 20,000 seats back costs about a millisecond).
constexpr int kSweepEvery = 8;
constexpr int kSweepEveryBig = 24;
constexpr uint64_t kBigSeats = 4096;

// Op numbers of the decoder (the first byte of each op, modulo kOpCount).
enum Op : uint8_t {
  kDefine,
  kHold,
  kHoldBest,
  kExtend,
  kRelease,
  kConfirm,
  kCancel,
  kGetSeats,
  kGetAvailability,
  kGetHold,
  kListHolds,
  kListEvents,
  kStats,
  kDeleteEvent,
  kListBookings,
  kAdvance,
  kOpCount
};

// What the run has seen, for picking ids and labels that collide.
struct Pools {
  std::vector<uint64_t> holds;
  std::vector<uint64_t> bookings;
  std::vector<std::string> holders{"alice", "bob"};
  int big_sections = 1;  // sections of thousands of rows the input may still define
};

// Strings: a few fixed values (so requests meet each other), empty, one
// byte over a limit, or raw bytes from the input.
std::string PickString(FuzzInput& in, std::initializer_list<const char*> pool, size_t limit) {
  const uint8_t b = in.U8();
  const size_t n = pool.size();
  if (b % 16 < n) return *(pool.begin() + b % 16);
  switch (b % 16 - n) {
    case 0:
      return "";
    case 1:
      return std::string(limit + 1, 'x');
    case 2:
      return std::string(limit, 'y');
    default:
      return in.Bytes(limit + 2);
  }
}

std::string PickEvent(FuzzInput& in) { return PickString(in, {"gig", "gig", "arena", "gig2"}, 64); }
std::string PickSection(FuzzInput& in) { return PickString(in, {"A", "A", "B", "C"}, 64); }
std::string PickLabel(FuzzInput& in) {
  return PickString(in, {"1", "2", "3", "07", "12", "R", "-1", "4294967296"}, 64);
}
std::string PickHolder(FuzzInput& in, const Pools& p) {
  if (in.Bool()) return p.holders[in.U8() % p.holders.size()];
  return PickString(in, {"alice", "bob", "carol"}, 128);
}

int64_t PickTtl(FuzzInput& in) {
  switch (in.Below(12)) {
    case 0:
      return 1;
    case 1:
      return 1000;
    case 2:
      return 60'000;
    case 3:
      return 3'600'000;  // max_ttl_ms
    case 4:
      return 3'600'001;
    case 5:
      return 0;
    case 6:
      return -1;
    case 7:
      return INT64_MAX;
    case 8:
      return INT64_MIN;
    case 9:
      return 7'200'000;  // max_hold_lifetime_ms
    default:
      return static_cast<int64_t>(in.U32() % 5'000'000);
  }
}

uint64_t PickId(FuzzInput& in, const std::vector<uint64_t>& seen) {
  const uint8_t b = in.U8();
  const uint64_t base = seen.empty() ? 0 : seen[in.U8() % seen.size()];
  switch (b % 8) {
    case 0:
    case 1:
    case 2:
      return base;
    case 3:  // the same id as if another shard had issued it
      return (base & ((uint64_t{1} << 56) - 1)) | (static_cast<uint64_t>(in.U8()) << 56);
    case 4:  // a neighbour: a slot or generation never issued
      return base + 1 + in.Below(4);
    case 5:
      return base ^ (uint64_t{1} << in.Below(64));
    case 6:
      return 0;
    default:
      return in.U64();
  }
}

void DecodeDefine(FuzzInput& in, Pools& pools, wire::DefineEventRequest* d) {
  d->set_event_id(PickEvent(in));
  const uint32_t sections = in.Below(5);
  for (uint32_t s = 0; s < sections; ++s) {
    wire::SectionLayout* sec = d->add_sections();
    sec->set_label(PickSection(in));
    const uint8_t shape = in.U8();
    if (shape % 64 == 63 && pools.big_sections > 0) {
      // A section with thousands of rows; now and then 10,000 (the limit) or
      // 10,001. At most one per input: defining it costs milliseconds.
      --pools.big_sections;
      const uint8_t size = in.U8();
      const uint32_t rows = size % 8 == 0 ? 10'000 + size / 8 % 2 : 1000 + in.U16() % 2001;
      const uint32_t per_row = 1 + in.Below(2);
      for (uint32_t r = 0; r < rows; ++r) {
        wire::RowLayout* row = sec->add_rows();
        row->set_label(std::to_string(r));
        row->set_seat_count(per_row);
      }
      continue;
    }
    const uint32_t rows = shape % 5;
    for (uint32_t r = 0; r < rows; ++r) {
      wire::RowLayout* row = sec->add_rows();
      row->set_label(in.Bool() ? PickLabel(in) : std::string(1, static_cast<char>('A' + r)));
      const uint8_t kind = in.U8();
      if (kind % 4 == 3) {  // explicit labels, maybe duplicated, maybe a count too
        const uint32_t n = kind / 4 % 6;
        for (uint32_t i = 0; i < n; ++i) row->add_seat_labels(PickLabel(in));
        if (in.Bool()) row->set_seat_count(in.Below(8));
      } else if (kind % 4 == 2) {
        row->set_seat_count(in.U32());  // anything, up to 4 billion
      } else {
        row->set_seat_count(kind / 4 % 12);
      }
    }
  }
}

void DecodeSeatRef(FuzzInput& in, wire::SeatRef* ref) {
  ref->set_section(PickSection(in));
  const uint8_t b = in.U8();
  if (b % 3 == 0) {
    ref->set_row(in.Bool() ? std::string(1, static_cast<char>('A' + in.Below(5))) : PickLabel(in));
    ref->set_seat(PickLabel(in));
  } else if (b % 3 == 1) {
    ref->set_index(in.Below(24));
  } else {
    ref->set_index(in.Bool() ? in.U32() : in.U16());
  }
}

// Decodes one op into `req`; false for a clock step (already applied).
bool DecodeRequest(FuzzInput& in, Pools& pools, ManualClock& clock, Request* req) {
  req->set_request_id(in.U8());
  switch (in.U8() % kOpCount) {
    case kDefine:
      DecodeDefine(in, pools, req->mutable_define_event());
      break;
    case kHold: {
      wire::HoldRequest* h = req->mutable_hold();
      h->set_event_id(PickEvent(in));
      const uint8_t n = in.U8();
      // Mostly a few seats; sometimes up to 40 (the limit is 32).
      const uint32_t count = n % 8 == 7 ? n % 41 : n % 5;
      for (uint32_t i = 0; i < count; ++i) DecodeSeatRef(in, h->add_seats());
      if (count > 0 && in.U8() % 8 == 0) *h->add_seats() = h->seats(0);  // a duplicate
      h->set_holder(PickHolder(in, pools));
      h->set_ttl_ms(PickTtl(in));
      break;
    }
    case kHoldBest: {
      wire::HoldBestAvailableRequest* h = req->mutable_hold_best_available();
      h->set_event_id(PickEvent(in));
      if (in.Bool()) h->set_section(PickSection(in));
      const uint8_t c = in.U8();
      h->set_count(c % 4 == 3 ? in.U32() : c % 40);
      h->set_scattered_ok(in.Bool());
      h->set_holder(PickHolder(in, pools));
      h->set_ttl_ms(PickTtl(in));
      break;
    }
    case kExtend: {
      wire::ExtendRequest* e = req->mutable_extend();
      e->set_hold_id(PickId(in, pools.holds));
      e->set_holder(PickHolder(in, pools));
      e->set_ttl_ms(PickTtl(in));
      break;
    }
    case kRelease:
      req->mutable_release()->set_hold_id(PickId(in, pools.holds));
      req->mutable_release()->set_holder(PickHolder(in, pools));
      break;
    case kConfirm: {
      wire::ConfirmRequest* c = req->mutable_confirm();
      c->set_hold_id(PickId(in, pools.holds));
      c->set_holder(PickHolder(in, pools));
      c->set_idempotency_key(PickString(in, {"k1", "k1", "k2", "k3"}, 128));
      c->set_payment_ref(PickString(in, {"", "pay-1", "pay-2"}, 256));
      break;
    }
    case kCancel:
      req->mutable_cancel_booking()->set_booking_id(PickId(in, pools.bookings));
      break;
    case kGetSeats:
      req->mutable_get_seats()->set_event_id(PickEvent(in));
      req->mutable_get_seats()->set_section(PickSection(in));
      break;
    case kGetAvailability:
      req->mutable_get_availability()->set_event_id(PickEvent(in));
      break;
    case kGetHold:
      req->mutable_get_hold()->set_hold_id(PickId(in, pools.holds));
      break;
    case kListHolds: {
      wire::ListHoldsRequest* l = req->mutable_list_holds();
      if (in.Bool()) l->set_event_id(PickEvent(in));
      if (in.Bool()) l->set_holder(PickHolder(in, pools));
      l->set_limit(in.Bool() ? in.Below(4) : in.U32());
      break;
    }
    case kListEvents:
      req->mutable_list_events();
      break;
    case kStats:
      req->mutable_stats();
      break;
    case kDeleteEvent:
      req->mutable_delete_event()->set_event_id(PickEvent(in));
      req->mutable_delete_event()->set_force(in.Bool());
      break;
    case kListBookings: {
      wire::ListBookingsRequest* l = req->mutable_list_bookings();
      l->set_event_id(PickEvent(in));
      l->set_shard(in.Below(4));
      if (in.Bool()) {  // named bookings (maybe repeated, deleted, of another event)
        const uint32_t n = in.Below(4);
        for (uint32_t i = 0; i < n; ++i) l->add_booking_ids(PickId(in, pools.bookings));
      } else {  // a page
        if (in.Bool()) l->set_after_booking_id(PickId(in, pools.bookings));
        l->set_limit(in.Bool() ? in.Below(4) : in.U32());
      }
      break;
    }
    default: {  // kAdvance
      static constexpr int64_t kSteps[] = {1,         2,          999,        1000,
                                           60'000,    3'600'000,  3'600'001,  7'200'000,
                                           7'200'001, 86'400'000, 86'400'001, 0};
      const uint8_t b = in.U8();
      clock.AdvanceMs(b < 192 ? kSteps[b % 12] : in.U32());
      return false;
    }
  }
  return true;
}

// The codes docs/protocol.md §4 lists for each op, as the engine half of the
// server can answer them (RESOURCE_EXHAUSTED, PASS_INVALID and
// UNAUTHENTICATED are the connection's and router's; WRONG_SHARD is
// forwarded by the router, so the engine half may answer it).
bool CodeAllowed(Request::OpCase op, wire::ResultCode c) {
  using W = wire::ResultCode;
  auto in = [c](std::initializer_list<W> codes) {
    return std::find(codes.begin(), codes.end(), c) != codes.end();
  };
  switch (op) {
    case Request::kDefineEvent:
      return in({W::OK, W::EVENT_EXISTS, W::INVALID_ARGUMENT, W::LIMIT_EXCEEDED});
    case Request::kDeleteEvent:  // UNAVAILABLE is the log's
      return in({W::OK, W::EVENT_HAS_LIVE_HOLDS, W::EVENT_NOT_FOUND});
    case Request::kHold:
      return in({W::OK, W::SEAT_UNAVAILABLE, W::UNKNOWN_SEAT, W::EVENT_NOT_FOUND, W::DUPLICATE_SEAT,
                 W::LIMIT_EXCEEDED, W::CAPACITY_EXHAUSTED, W::WRONG_SHARD});
    case Request::kHoldBestAvailable:
      return in({W::OK, W::NO_ADJACENT_SEATS, W::NOT_ENOUGH_SEATS, W::EVENT_NOT_FOUND,
                 W::UNKNOWN_SEAT, W::LIMIT_EXCEEDED, W::CAPACITY_EXHAUSTED, W::WRONG_SHARD});
    case Request::kExtend:
      return in({W::OK, W::HOLD_NOT_FOUND, W::NOT_HOLDER, W::HOLD_EXPIRED, W::LIFETIME_EXCEEDED,
                 W::LIMIT_EXCEEDED});
    case Request::kRelease:
      return in({W::OK, W::HOLD_NOT_FOUND, W::NOT_HOLDER, W::HOLD_EXPIRED});
    case Request::kConfirm:
      return in({W::OK, W::HOLD_EXPIRED_SEATS_TAKEN, W::HOLD_NOT_FOUND, W::NOT_HOLDER,
                 W::IDEMPOTENCY_MISMATCH, W::LIMIT_EXCEEDED, W::CAPACITY_EXHAUSTED});
    case Request::kCancelBooking:
      return in({W::OK, W::BOOKING_NOT_FOUND, W::BOOKING_CANCELLED});
    case Request::kGetSeats:
      return in({W::OK, W::EVENT_NOT_FOUND, W::UNKNOWN_SEAT, W::WRONG_SHARD});
    case Request::kGetAvailability:
      return in({W::OK, W::EVENT_NOT_FOUND});
    case Request::kGetHold:
      return in({W::OK, W::HOLD_NOT_FOUND});
    default:  // LIST_HOLDS, LIST_EVENTS, STATS, LIST_BOOKINGS (WRONG_SHARD is the router's)
      return c == W::OK;
  }
}

uint64_t CountOf(const std::vector<uint64_t>& v, uint64_t x) {
  return static_cast<uint64_t>(std::count(v.begin(), v.end(), x));
}

std::string Where(std::string_view event, SeatKey k) {
  return absl::StrCat(std::string(event), " seat ", k.section, "/", k.seat);
}

// The model of what the engine keeps, updated from its change records.
enum class HoldState : uint8_t { kLive, kLapsed, kGone };

struct HoldModel {
  std::string event;
  std::string holder;  // from the HOLD request
  SeatList seats;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // from the HOLD and EXTEND replies
  HoldState state = HoldState::kLive;
  bool deleted = false;  // its event was deleted
};

struct BookingModel {
  std::string event;
  SeatList seats;
  bool cancelled = false;
  bool deleted = false;  // its event was deleted
};

struct SectionModel {
  bool owned = true;
  uint32_t total = 0;
  uint32_t count[3] = {0, 0, 0};  // FREE, HELD, SOLD
  std::vector<SeatState> state;   // per seat (owned sections only)
  std::vector<uint64_t> owner;    // hold id (HELD) or booking id (SOLD)
};

struct EventModel {
  std::vector<SectionModel> sections;
  uint64_t owned_seats = 0;
};

// What the change records of one op (and the checks' ExpireDue) did.
struct OpEffects {
  std::vector<uint64_t> granted;                          // HELD: hold ids
  std::vector<uint64_t> released;                         // RELEASED: hold ids
  std::vector<uint64_t> sold;                             // SOLD: booking ids
  std::vector<uint64_t> late_sold;                        // SOLD of a lapsed hold: hold ids
  std::vector<uint64_t> cancelled;                        // CANCELLED: booking ids
  std::vector<std::pair<std::string, SeatList>> touched;  // seats moved, per record
  void Clear() { *this = OpEffects{}; }
};

class Model final : public ChangeSink {
 public:
  Model(uint8_t shard, bool keeps_lapsed) : shard_(shard), keeps_lapsed_(keeps_lapsed) {}

  void OnChange(const ChangeRecord& r) override {
    if (r.seq != last_seq + 1) Fail(absl::StrCat("change seq ", r.seq, " after ", last_seq));
    last_seq = r.seq;
    if (r.seats.empty()) Fail("a change record without seats");
    auto eit = events.find(r.event_id);
    if (eit == events.end())
      Fail(absl::StrCat("a change record of unknown event ", std::string(r.event_id)));
    EventModel& ev = eit->second;
    const std::string kind(ChangeKindName(r.kind));
    // Moves every seat of the record from (from, from_owner) to (to, to_owner).
    auto move = [&](SeatState from, uint64_t from_owner, SeatState to, uint64_t to_owner) {
      for (SeatKey k : r.seats) {
        if (k.section >= ev.sections.size() || !ev.sections[k.section].owned ||
            k.seat >= ev.sections[k.section].total) {
          Fail(
              absl::StrCat(kind, " record names ", Where(r.event_id, k), ", not a seat kept here"));
        }
        SectionModel& sec = ev.sections[k.section];
        if (sec.state[k.seat] != from || sec.owner[k.seat] != from_owner) {
          Fail(absl::StrCat(kind, " record (hold ", r.hold_id, ", booking ", r.booking_id,
                            ") moves ", Where(r.event_id, k), " from ",
                            std::string(SeatStateName(sec.state[k.seat])), " of ",
                            sec.owner[k.seat], ", but it must be ",
                            std::string(SeatStateName(from)), " of ", from_owner));
        }
        --sec.count[static_cast<int>(from)];
        ++sec.count[static_cast<int>(to)];
        sec.state[k.seat] = to;
        sec.owner[k.seat] = to_owner;
      }
      op.touched.emplace_back(std::string(r.event_id), SeatList(r.seats.begin(), r.seats.end()));
    };
    auto same_seats = [&](const SeatList& seats) {
      if (!std::equal(seats.begin(), seats.end(), r.seats.begin(), r.seats.end())) {
        Fail(absl::StrCat(kind, " record of hold ", r.hold_id, " names other seats than it has"));
      }
    };
    switch (r.kind) {
      case ChangeKind::kHeld: {
        if (SeatEngine::ShardOfId(r.hold_id) != shard_) Fail("a hold id of another shard");
        if (holds.contains(r.hold_id)) Fail(absl::StrCat("hold id ", r.hold_id, " granted twice"));
        move(SeatState::kFree, 0, SeatState::kHeld, r.hold_id);
        HoldModel& h = holds[r.hold_id];
        h.event = std::string(r.event_id);
        h.seats.assign(r.seats.begin(), r.seats.end());
        h.created_ms = r.time_ms;
        ++live;
        op.granted.push_back(r.hold_id);
        return;
      }
      case ChangeKind::kReleased:
      case ChangeKind::kExpired: {
        auto it = holds.find(r.hold_id);
        if (it == holds.end() || it->second.state != HoldState::kLive ||
            it->second.event != r.event_id) {
          Fail(absl::StrCat(kind, " record of hold ", r.hold_id, ", which is not live there"));
        }
        HoldModel& h = it->second;
        same_seats(h.seats);
        move(SeatState::kHeld, r.hold_id, SeatState::kFree, 0);
        --live;
        if (r.kind == ChangeKind::kReleased) {
          h.state = HoldState::kGone;
          op.released.push_back(r.hold_id);
        } else if (keeps_lapsed_) {
          h.state = HoldState::kLapsed;
          lapsed.push_back(r.hold_id);
        } else {
          h.state = HoldState::kGone;
        }
        return;
      }
      case ChangeKind::kSold: {
        if (r.booking_id == 0) Fail("a sale without a booking");
        if (SeatEngine::ShardOfId(r.booking_id) != shard_) Fail("a booking id of another shard");
        if (bookings.contains(r.booking_id)) Fail("a booking id issued twice");
        auto it = holds.find(r.hold_id);
        if (it == holds.end() || it->second.event != r.event_id) {
          Fail(absl::StrCat("a sale of hold ", r.hold_id, ", which was never granted there"));
        }
        HoldModel& h = it->second;
        same_seats(h.seats);
        if (h.state == HoldState::kLive) {
          move(SeatState::kHeld, r.hold_id, SeatState::kSold, r.booking_id);
          --live;
        } else if (h.state == HoldState::kLapsed) {
          move(SeatState::kFree, 0, SeatState::kSold, r.booking_id);
          op.late_sold.push_back(r.hold_id);
        } else {
          Fail(absl::StrCat("hold ", r.hold_id,
                            " was released, sold or forgotten, yet its seats were sold"));
        }
        h.state = HoldState::kGone;
        BookingModel& b = bookings[r.booking_id];
        b.event = std::string(r.event_id);
        b.seats = h.seats;
        ++bookings_kept;
        op.sold.push_back(r.booking_id);
        return;
      }
      case ChangeKind::kCancelled: {
        auto it = bookings.find(r.booking_id);
        if (it == bookings.end() || it->second.deleted || it->second.cancelled ||
            it->second.event != r.event_id) {
          Fail(absl::StrCat("a cancel of booking ", r.booking_id, ", which is not a sale there"));
        }
        if (!std::equal(it->second.seats.begin(), it->second.seats.end(), r.seats.begin(),
                        r.seats.end())) {
          Fail("a cancel names other seats than the booking has");
        }
        move(SeatState::kSold, r.booking_id, SeatState::kFree, 0);
        it->second.cancelled = true;
        op.cancelled.push_back(r.booking_id);
        return;
      }
    }
    Fail("a change record of an unknown kind");
  }

  // Brings the lapsed holds in line with the engine after an op: the engine
  // forgets them oldest first (evicted over max_lapsed_hold_bytes, purged
  // past lapsed_hold_retention_ms), always before the op's own removals
  // (late sales, RELEASE of a lapsed hold: `erased`, a deleted event's).
  // Returns the Stats() it read.
  EngineStats Settle(const SeatEngine& engine, const std::vector<uint64_t>& erased) {
    const EngineStats st = engine.Stats();
    const uint64_t forgotten =
        st.lapsed_holds_evicted - evicted_seen_ + st.lapsed_holds_purged - purged_seen_;
    evicted_seen_ = st.lapsed_holds_evicted;
    purged_seen_ = st.lapsed_holds_purged;
    if (forgotten > lapsed.size()) Fail("more lapsed holds forgotten than there were");
    for (uint64_t i = 0; i < forgotten; ++i) {
      const uint64_t id = lapsed.front();
      lapsed.pop_front();
      if (CountOf(op.late_sold, id) > 0) {
        Fail(absl::StrCat("a late confirm sold the seats of lapsed hold ", id,
                          ", which the engine had forgotten (evicted or purged) first"));
      }
      if (CountOf(erased, id) > 0) {
        Fail(absl::StrCat("RELEASE of forgotten hold ", id, " answered HOLD_EXPIRED"));
      }
      holds[id].state = HoldState::kGone;
    }
    for (uint64_t id : erased) {
      if (std::find(lapsed.begin(), lapsed.end(), id) == lapsed.end()) {
        Fail(absl::StrCat("RELEASE of hold ", id, " answered HOLD_EXPIRED; it is not lapsed"));
      }
      holds[id].state = HoldState::kGone;
    }
    std::erase_if(lapsed, [&](uint64_t id) {
      const HoldModel& h = holds[id];
      return h.state == HoldState::kGone || h.deleted;
    });
    if (lapsed.size() != st.lapsed_holds) {
      Fail(absl::StrCat("the engine remembers ", st.lapsed_holds, " lapsed holds, the model ",
                        lapsed.size()));
    }
    if (st.lapsed_hold_bytes > engine.limits().max_lapsed_hold_bytes) {
      Fail("lapsed holds take more than max_lapsed_hold_bytes");
    }
    return st;
  }

  // The engine deleted `event`: its holds and bookings name nothing now.
  void Delete(const std::string& event) {
    for (auto& [id, h] : holds) {
      if (h.event != event || h.deleted) continue;
      if (h.state == HoldState::kLive) Fail(absl::StrCat("live hold ", id, " of a deleted event"));
      h.deleted = true;
      h.state = HoldState::kGone;
    }
    for (auto& [id, b] : bookings) {
      if (b.event != event || b.deleted) continue;
      b.deleted = true;
      --bookings_kept;
    }
    events.erase(event);
  }

  HoldState StateOf(uint64_t hold_id) const {
    auto it = holds.find(hold_id);
    return it == holds.end() ? HoldState::kGone : it->second.state;
  }

  uint64_t last_seq = 0;
  std::map<std::string, EventModel, std::less<>> events;
  absl::flat_hash_map<uint64_t, HoldModel> holds;
  absl::flat_hash_map<uint64_t, BookingModel> bookings;
  std::deque<uint64_t> lapsed;  // the lapsed holds the engine remembers, oldest first
  size_t live = 0;              // live holds
  size_t bookings_kept = 0;     // bookings not deleted (cancelled ones too)
  OpEffects op;

 private:
  uint8_t shard_;
  bool keeps_lapsed_;
  uint64_t evicted_seen_ = 0;
  uint64_t purged_seen_ = 0;
};
struct Run {
  Run(uint8_t shard_index, bool keeps_lapsed) : shard(shard_index), model(shard, keeps_lapsed) {}
  ManualClock clock{kStart};
  uint8_t shard;
  Model model;
  std::unique_ptr<SeatEngine> engine;
  Pools pools;
  uint64_t last_token = 0;
  uint64_t high_water = 0;
  protocol::HoldCall call;  // the HOLD fast path's (server/engine_ops.h)
  HoldCallScratch scratch;
  bool fast_turn = false;  // flips per request: HOLDs by index alternate paths
};

// Compares one seat as the engine shows it with the model.
void CheckSeat(const Model& m, std::string_view event, const SectionModel& sec, SeatKey k,
               const SeatView& v) {
  if (v.seat != k.seat || v.state != sec.state[k.seat] || v.owner_id != sec.owner[k.seat]) {
    Fail(absl::StrCat(Where(event, k), " is ", std::string(SeatStateName(v.state)), " of ",
                      v.owner_id, "; its change records make it ",
                      std::string(SeatStateName(sec.state[k.seat])), " of ", sec.owner[k.seat]));
  }
  if (v.state == SeatState::kHeld && v.held_until_ms != m.holds.at(v.owner_id).expires_ms) {
    Fail(absl::StrCat(Where(event, k), " is held until ", v.held_until_ms, ", its hold until ",
                      m.holds.at(v.owner_id).expires_ms));
  }
}

// The checks after every op: the seats the op changed, every section's
// counts, the live and lapsed holds, the wheel's hint. Returns how many
// seats the engine keeps.
uint64_t CheckOp(Run& run) {
  SeatEngine& engine = *run.engine;
  Model& m = run.model;
  engine.ExpireDue();
  const EngineStats st = m.Settle(engine, {});
  for (const auto& [event, seats] : m.op.touched) {
    auto it = m.events.find(event);
    if (it == m.events.end()) continue;  // deleted since
    for (SeatKey k : seats) {
      const std::optional<SeatView> v = engine.PeekSeat(event, k);
      if (!v) Fail(absl::StrCat(Where(event, k), " changed but cannot be read"));
      CheckSeat(m, event, it->second.sections[k.section], k, *v);
    }
  }
  uint64_t kept = 0;
  for (const auto& [id, ev] : m.events) {
    const Availability a = engine.GetAvailability(id);
    if (a.code != ResultCode::kOk || a.sections.size() != ev.sections.size()) {
      Fail(absl::StrCat("GetAvailability of ", id, " disagrees with its layout"));
    }
    uint64_t sums[4] = {0, 0, 0, 0};
    for (size_t si = 0; si < a.sections.size(); ++si) {
      const SectionCounts& c = a.sections[si];
      const SectionModel& s = ev.sections[si];
      if (c.owned != s.owned) Fail("a section changed owner");
      if (!c.owned) continue;  // another shard keeps its seats (and counts)
      if (c.total != s.total || c.free != s.count[0] || c.held != s.count[1] ||
          c.sold != s.count[2]) {
        Fail(absl::StrCat(id, " section ", si, ": counts ", c.total, " ", c.free, "/", c.held, "/",
                          c.sold, " but the seat words are ", s.total, " ", s.count[0], "/",
                          s.count[1], "/", s.count[2]));
      }
      sums[0] += c.total, sums[1] += c.free, sums[2] += c.held, sums[3] += c.sold;
    }
    if (a.total != sums[0] || a.free != sums[1] || a.held != sums[2] || a.sold != sums[3]) {
      Fail(absl::StrCat(id, ": event totals are not the sum of its sections"));
    }
    kept += ev.owned_seats;
  }
  if (st.live_holds != m.live) {
    Fail(absl::StrCat("Stats().live_holds ", st.live_holds, ", the model ", m.live));
  }
  if (engine.booking_count() != m.bookings_kept) Fail("booking_count() disagrees with the model");
  if (st.change_seq != m.last_seq) Fail("Stats().change_seq is off");
  // The wheel's wake-up hint never lies past the earliest live deadline, so
  // a server loop that sleeps on it releases holds within a tick.
  if (m.live > 0) {
    int64_t earliest = INT64_MAX;
    for (const auto& [id, h] : m.holds) {
      if (h.state == HoldState::kLive) earliest = std::min(earliest, h.expires_ms);
    }
    const int64_t now = engine.NowMs();
    if (earliest <= now) Fail("a hold past its deadline is still live");
    const int64_t wait = engine.MsUntilNextTimer();
    if (wait < 0 || wait > earliest - now) {
      Fail(
          absl::StrCat("MsUntilNextTimer ", wait, " but a hold is due in ", earliest - now, " ms"));
    }
  }
  return kept;
}

// The full sweep: every seat, hold and booking against the model.
void Sweep(Run& run) {
  SeatEngine& engine = *run.engine;
  Model& m = run.model;
  engine.ExpireDue();
  m.Settle(engine, {});
  const std::vector<std::string> ids = engine.EventIds();
  if (ids.size() != m.events.size()) Fail("EventIds() disagrees with the model");
  for (const std::string& id : ids) {
    if (!m.events.contains(id)) Fail(absl::StrCat("event ", id, " is listed, not defined"));
  }
  for (const auto& [id, ev] : m.events) {
    for (size_t si = 0; si < ev.sections.size(); ++si) {
      const SectionModel& sec = ev.sections[si];
      if (!sec.owned) continue;
      const SectionSeats s = engine.GetSeats(id, static_cast<int>(si));
      if (s.code != ResultCode::kOk || s.seats.size() != sec.total) {
        Fail(absl::StrCat(id, " section ", si, ": GetSeats disagrees with the counts"));
      }
      for (uint32_t i = 0; i < sec.total; ++i) {
        CheckSeat(m, id, sec, SeatKey{static_cast<uint32_t>(si), i}, s.seats[i]);
      }
    }
  }
  const int64_t now = engine.NowMs();
  const std::vector<HoldInfo> holds = engine.ListHolds("", "", UINT32_MAX);
  if (holds.size() != m.live) Fail("ListHolds disagrees with the model");
  for (const HoldInfo& h : holds) {
    auto it = m.holds.find(h.hold_id);
    if (it == m.holds.end() || it->second.state != HoldState::kLive) {
      Fail(absl::StrCat("ListHolds lists hold ", h.hold_id, ", which is not live"));
    }
    const HoldModel& hm = it->second;
    if (h.status != HoldStatus::kLive || h.event_id != hm.event || h.seats != hm.seats ||
        h.holder != hm.holder || h.expires_ms != hm.expires_ms || h.created_ms != hm.created_ms) {
      Fail(absl::StrCat("ListHolds shows hold ", h.hold_id, " otherwise than it was granted"));
    }
    if (h.seats.empty() || h.seats.size() > engine.limits().max_seats_per_hold) {
      Fail(absl::StrCat("hold ", h.hold_id, " has ", h.seats.size(), " seats"));
    }
    if (h.expires_ms <= now) Fail(absl::StrCat("hold ", h.hold_id, " is past due"));
    if (h.expires_ms > h.created_ms + engine.limits().max_hold_lifetime_ms) {
      Fail(absl::StrCat("hold ", h.hold_id, " runs past its maximum lifetime"));
    }
  }
  for (const auto& [id, hm] : m.holds) {
    const std::optional<HoldInfo> h = engine.GetHold(id);
    if (hm.state == HoldState::kGone) {
      if (h)
        Fail(absl::StrCat("hold ", id,
                          " was released, sold, forgotten or deleted; GET_HOLD finds it"));
      continue;
    }
    const HoldStatus want = hm.state == HoldState::kLive ? HoldStatus::kLive : HoldStatus::kLapsed;
    if (!h || h->status != want || h->seats != hm.seats || h->event_id != hm.event) {
      Fail(absl::StrCat("GET_HOLD of hold ", id, " disagrees with the model"));
    }
  }
  size_t kept = 0;
  for (size_t i = 0; i < engine.booking_count(); ++i) {
    const BookingInfo b = engine.BookingAt(i);
    auto it = m.bookings.find(b.booking_id);
    if (it == m.bookings.end() || it->second.deleted) {
      Fail(absl::StrCat("booking ", b.booking_id, " is kept; the model has none"));
    }
    if (b.event_id != it->second.event || b.seats != it->second.seats ||
        b.cancelled != it->second.cancelled) {
      Fail(absl::StrCat("booking ", b.booking_id, " disagrees with the model"));
    }
    ++kept;
  }
  if (kept != m.bookings_kept) Fail("a booking is missing");
  for (const auto& [id, bm] : m.bookings) {
    if (bm.deleted == engine.GetBooking(id).has_value()) {
      Fail(
          absl::StrCat("booking ", id, (bm.deleted ? " of a deleted event is found" : " is lost")));
    }
  }
}

// What the model said before the op, for checking its reply.
struct Before {
  bool had_event = false;  // DELETE_EVENT, DEFINE_EVENT: the event existed
  int booking = 0;         // CANCEL_BOOKING: 0 none, 1 sold, 2 cancelled
};

Before Look(const Run& run, const Request& req) {
  Before b;
  if (req.has_delete_event())
    b.had_event = run.model.events.contains(req.delete_event().event_id());
  if (req.has_define_event())
    b.had_event = run.model.events.contains(req.define_event().event_id());
  if (req.has_cancel_booking()) {
    auto it = run.model.bookings.find(req.cancel_booking().booking_id());
    if (it != run.model.bookings.end() && !it->second.deleted)
      b.booking = it->second.cancelled ? 2 : 1;
  }
  return b;
}

// The model of a newly defined event: every seat FREE.
void AddEvent(Run& run, const std::string& id) {
  const Availability a = run.engine->GetAvailability(id);
  if (a.code != ResultCode::kOk) Fail("a defined event has no availability");
  EventModel& ev = run.model.events[id];
  for (const SectionCounts& c : a.sections) {
    SectionModel& s = ev.sections.emplace_back();
    s.owned = c.owned;
    s.total = c.total;
    if (!c.owned) continue;
    s.count[0] = c.total;
    s.state.assign(c.total, SeatState::kFree);
    s.owner.assign(c.total, 0);
    ev.owned_seats += c.total;
  }
}

SeatState FromWire(wire::SeatState s) {
  return s == wire::HELD ? SeatState::kHeld : s == wire::SOLD ? SeatState::kSold : SeatState::kFree;
}

// Checks one reply against the model and records the ids it issued.
void CheckReply(Run& run, const Request& req, const Response& resp, const Before& before) {
  Model& m = run.model;
  SeatEngine& engine = *run.engine;
  const wire::ResultCode code = resp.code();
  if (resp.request_id() != req.request_id()) Fail("reply has another request id");
  if (!CodeAllowed(req.op_case(), code)) {
    Fail(absl::StrCat("op ", req.op_case(), " answered ", wire::ResultCode_Name(code),
                      ", which docs/protocol.md does not list for it: ", resp.detail()));
  }
  const bool granting = req.has_hold() || req.has_hold_best_available();
  if (m.op.granted.size() != (granting && code == wire::OK ? 1u : 0u)) {
    Fail("holds were granted, but not by a HOLD that was answered OK");
  }
  if (code == wire::OK && resp.has_hold()) {
    const wire::HoldReply& h = resp.hold();
    if (h.fencing_token() <= run.last_token) {
      Fail(absl::StrCat("fencing token ", h.fencing_token(), " after ", run.last_token));
    }
    run.last_token = h.fencing_token();
    if (SeatEngine::ShardOfId(h.hold_id()) != run.shard) Fail("hold id of another shard");
    if (h.hold_id() != m.op.granted[0]) Fail("the reply names another hold than was granted");
    HoldModel& hm = m.holds[h.hold_id()];
    if (static_cast<size_t>(h.seats_size()) != hm.seats.size()) Fail("reply and hold differ");
    if (h.expires_ms() <= run.clock.NowMs()) Fail("a granted hold already due");
    hm.expires_ms = h.expires_ms();
    hm.holder = req.has_hold() ? req.hold().holder() : req.hold_best_available().holder();
    run.pools.holds.push_back(h.hold_id());
    if (run.pools.holders.size() < 8) run.pools.holders.push_back(hm.holder);
  }
  const bool fresh_sale = req.has_confirm() && code == wire::OK && !resp.confirm().replayed();
  if (m.op.sold.size() != (fresh_sale ? 1u : 0u)) Fail("a sale, but not by a CONFIRM");
  if (m.op.cancelled.size() != (req.has_cancel_booking() && code == wire::OK ? 1u : 0u)) {
    Fail("a cancel, but not by a CANCEL_BOOKING that was answered OK");
  }
  std::vector<uint64_t> erased;  // lapsed holds the op removed (RELEASE)
  switch (req.op_case()) {
    case Request::kDefineEvent: {
      const std::string& id = req.define_event().event_id();
      if (code == wire::OK && !before.had_event) AddEvent(run, id);
      if (code == wire::EVENT_EXISTS && !before.had_event) Fail("EVENT_EXISTS of a new event");
      if (code != wire::OK && !before.had_event && engine.Layout(id) != nullptr) {
        Fail("a refused DEFINE_EVENT defined the event");
      }
      break;
    }
    case Request::kExtend:
      if (code == wire::OK) {
        auto it = m.holds.find(req.extend().hold_id());
        if (it == m.holds.end() || it->second.state != HoldState::kLive) {
          Fail("EXTEND of a hold that is not live answered OK");
        }
        it->second.expires_ms = resp.extend().expires_ms();
        if (it->second.expires_ms > it->second.created_ms + engine.limits().max_hold_lifetime_ms) {
          Fail("EXTEND past the maximum hold lifetime");
        }
      }
      break;
    case Request::kRelease:
      if (code == wire::OK && CountOf(m.op.released, req.release().hold_id()) != 1) {
        Fail("RELEASE answered OK without releasing the hold");
      }
      if (code == wire::HOLD_EXPIRED) erased.push_back(req.release().hold_id());
      break;
    case Request::kConfirm:
      if (code == wire::OK) {
        const wire::ConfirmReply& c = resp.confirm();
        if (c.booking_id() == 0) Fail("a confirm without a booking id");
        if (!c.replayed()) {
          if (c.booking_id() != m.op.sold[0]) Fail("the reply names another booking than was sold");
          if (c.hold_lapsed() != !m.op.late_sold.empty()) Fail("hold_lapsed is wrong");
          if (c.hold_lapsed()) {
            if (c.fencing_token() <= run.last_token) Fail("late confirm's token does not grow");
            run.last_token = c.fencing_token();
          }
          run.pools.bookings.push_back(c.booking_id());
        } else {
          auto it = m.bookings.find(c.booking_id());
          if (it == m.bookings.end() || it->second.deleted) {
            Fail(absl::StrCat("a retried CONFIRM replayed booking ", c.booking_id(),
                              ", which is deleted or unknown"));
          }
        }
      }
      if (code == wire::HOLD_EXPIRED_SEATS_TAKEN) {
        auto it = m.holds.find(req.confirm().hold_id());
        if (it == m.holds.end() || it->second.deleted) {
          Fail("a refused late confirm of a deleted or unknown hold");
        }
      }
      break;
    case Request::kCancelBooking: {
      static constexpr wire::ResultCode kWant[] = {wire::BOOKING_NOT_FOUND, wire::OK,
                                                   wire::BOOKING_CANCELLED};
      if (code != kWant[before.booking]) {
        Fail(absl::StrCat("CANCEL_BOOKING answered ", wire::ResultCode_Name(code), ", not ",
                          wire::ResultCode_Name(kWant[before.booking])));
      }
      break;
    }
    case Request::kDeleteEvent: {
      const auto& d = req.delete_event();
      const uint64_t released = m.op.released.size();
      if (code == wire::EVENT_NOT_FOUND && before.had_event) Fail("DELETE_EVENT: EVENT_NOT_FOUND");
      if (code == wire::EVENT_HAS_LIVE_HOLDS) {
        bool has_live = false;
        for (const auto& [id, h] : m.holds) {
          has_live |= h.state == HoldState::kLive && h.event == d.event_id();
        }
        if (d.force() || !has_live || released != 0) Fail("DELETE_EVENT: EVENT_HAS_LIVE_HOLDS");
      }
      if (code != wire::OK) {
        if (released != 0) Fail("a refused DELETE_EVENT released holds");
        break;
      }
      if (!before.had_event || engine.Layout(d.event_id()) != nullptr) {
        Fail("DELETE_EVENT answered OK, but the event was not there or is still");
      }
      uint64_t dropped = 0;
      for (const auto& [id, b] : m.bookings) dropped += b.event == d.event_id() && !b.deleted;
      if (resp.delete_event().holds_released() != released ||
          resp.delete_event().bookings_dropped() != dropped || (!d.force() && released != 0)) {
        Fail(absl::StrCat("DELETE_EVENT released ", resp.delete_event().holds_released(), "/",
                          released, " holds and dropped ", resp.delete_event().bookings_dropped(),
                          "/", dropped, " bookings"));
      }
      m.Delete(d.event_id());
      break;
    }
    case Request::kGetSeats: {
      if (code != wire::OK) break;
      const int si = engine.SectionIndex(req.get_seats().event_id(), req.get_seats().section());
      auto it = m.events.find(req.get_seats().event_id());
      if (it == m.events.end() || si < 0) Fail("GET_SEATS of an unknown section answered OK");
      const SectionModel& sec = it->second.sections[si];
      const auto& seats = resp.get_seats().seats();
      if (static_cast<uint32_t>(seats.size()) != sec.total) Fail("GET_SEATS: wrong seat count");
      for (uint32_t i = 0; i < sec.total; ++i) {
        if (seats[i].index() != i || FromWire(seats[i].state()) != sec.state[i] ||
            seats[i].owner_id() != sec.owner[i]) {
          Fail(absl::StrCat("GET_SEATS shows seat ", i, " otherwise than the model"));
        }
      }
      break;
    }
    case Request::kListHolds: {
      const auto& l = req.list_holds();
      const uint32_t limit =
          std::min(l.limit() == 0 ? 1000u : l.limit(), engine.limits().max_list_results);
      size_t matching = 0;
      for (const auto& [id, h] : m.holds) {
        matching += h.state == HoldState::kLive &&
                    (l.event_id().empty() || h.event == l.event_id()) &&
                    (l.holder().empty() || h.holder == l.holder());
      }
      const auto& out = resp.list_holds();
      if (static_cast<size_t>(out.holds_size()) != std::min<size_t>(matching, limit) ||
          out.truncated() != (matching > limit)) {
        Fail(absl::StrCat("LIST_HOLDS gave ", out.holds_size(), " holds of ", matching, " (limit ",
                          limit, ")"));
      }
      for (const wire::HoldInfo& h : out.holds()) {
        if (m.StateOf(h.hold_id()) != HoldState::kLive || h.lapsed()) {
          Fail("LIST_HOLDS lists a hold that is not live");
        }
      }
      break;
    }
    case Request::kListBookings: {
      const auto& l = req.list_bookings();
      const auto& out = resp.list_bookings();
      if (out.shard() != run.shard) Fail("LIST_BOOKINGS: another shard");
      std::vector<uint64_t> want;
      bool truncated = false;
      auto ours = [&](uint64_t id) {
        auto it = m.bookings.find(id);
        return it != m.bookings.end() && !it->second.deleted && it->second.event == l.event_id();
      };
      if (l.booking_ids_size() > 0) {
        for (uint64_t id : l.booking_ids()) {
          if (ours(id)) want.push_back(id);
        }
      } else {
        for (const auto& [id, b] : m.bookings) {
          if (id > l.after_booking_id() && ours(id)) want.push_back(id);
        }
        std::sort(want.begin(), want.end());
        const size_t limit =
            std::min(l.limit() == 0 ? 1000u : l.limit(), engine.limits().max_list_results);
        truncated = want.size() > limit;
        if (truncated) want.resize(limit);
      }
      if (static_cast<size_t>(out.bookings_size()) != want.size() || out.truncated() != truncated) {
        Fail(absl::StrCat("LIST_BOOKINGS gave ", out.bookings_size(), " bookings, not ",
                          want.size()));
      }
      for (size_t i = 0; i < want.size(); ++i) {
        const wire::BookingRecord& b = out.bookings(static_cast<int>(i));
        const BookingModel& bm = m.bookings.at(want[i]);
        if (b.booking_id() != want[i] || b.event_id() != bm.event ||
            b.cancelled() != bm.cancelled ||
            static_cast<size_t>(b.seats_size()) != bm.seats.size()) {
          Fail(absl::StrCat("LIST_BOOKINGS shows booking ", want[i], " otherwise than the model"));
        }
      }
      break;
    }
    default:
      break;
  }
  const uint64_t hw = engine.fencing_high_water();
  if (hw < run.high_water || hw < run.last_token) Fail("the fencing high-water mark went down");
  run.high_water = hw;

  // The lapsed holds, as the engine keeps them after the op; then what the
  // replies say about holds, against them.
  m.Settle(engine, erased);
  auto hold_is = [&](uint64_t id, bool live, bool lapsed, const char* what) {
    const HoldState s = m.StateOf(id);
    if ((s == HoldState::kLive && !live) || (s == HoldState::kLapsed && !lapsed) ||
        (s == HoldState::kGone && (live || lapsed))) {
      Fail(absl::StrCat(what, " for hold ", id, ", which is ",
                        s == HoldState::kLive     ? "live"
                        : s == HoldState::kLapsed ? "lapsed"
                                                  : "gone"));
    }
  };
  uint64_t hold_id = 0;
  if (req.has_extend()) hold_id = req.extend().hold_id();
  if (req.has_release()) hold_id = req.release().hold_id();
  if (req.has_confirm()) hold_id = req.confirm().hold_id();
  if (req.has_get_hold()) hold_id = req.get_hold().hold_id();
  switch (code) {
    case wire::HOLD_NOT_FOUND:
      hold_is(hold_id, false, false, "HOLD_NOT_FOUND");
      break;
    case wire::NOT_HOLDER:
      if (m.StateOf(hold_id) == HoldState::kGone) Fail("NOT_HOLDER for a hold that is gone");
      break;
    case wire::LIFETIME_EXCEEDED:
      hold_is(hold_id, true, false, "LIFETIME_EXCEEDED");
      break;
    case wire::HOLD_EXPIRED:
      if (req.has_extend()) hold_is(hold_id, false, true, "HOLD_EXPIRED");
      break;
    case wire::HOLD_EXPIRED_SEATS_TAKEN:
      if (!resp.confirm().replayed()) hold_is(hold_id, false, true, "HOLD_EXPIRED_SEATS_TAKEN");
      break;
    case wire::OK:
      if (req.has_get_hold()) {
        const wire::HoldInfo& h = resp.get_hold().hold();
        hold_is(hold_id, !h.lapsed(), h.lapsed(), "GET_HOLD");
      }
      if (req.has_stats()) {
        const wire::ShardStats& s = resp.stats().shards(0);
        if (s.live_holds() != m.live || s.lapsed_holds() != m.lapsed.size()) {
          Fail("STATS disagrees with the model");
        }
      }
      break;
    default:
      break;
  }
}
}  // namespace

int RunInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t config = in.U8();
  const uint8_t lapse = in.U8();
  SeatEngine::Options opts;
  // Every limit as seatlockd's defaults, but events of at most 20,000 seats
  // (not 2,000,000), and the lapsed-hold bounds as the input picks them.
  opts.limits.max_seats_per_event = 20'000;
  if (config & 8) opts.limits.max_live_holds = 1 + (config >> 5);
  if (lapse % 4 == 2) opts.limits.max_lapsed_hold_bytes = size_t{lapse} / 4 * 64;  // 0..4032
  if (lapse % 4 == 3) {
    static constexpr int64_t kRetention[] = {0, 1000, 60'000, 3'600'000};
    opts.limits.lapsed_hold_retention_ms = kRetention[(lapse >> 2) % 4];
    if (lapse & 64) opts.limits.max_lapsed_hold_bytes = (size_t{lapse} >> 4 & 3) * 150;
  }
  Run run(config & 3, opts.limits.lapsed_hold_retention_ms > 0);
  opts.clock = &run.clock;
  opts.sink = &run.model;
  opts.shard_index = run.shard;
  if (config & 4) {  // section "B" lives on another shard
    opts.owns_section = [](std::string_view, std::string_view section) { return section != "B"; };
  }
  if (config & 16) opts.fencing_floor = UINT64_MAX - 1000;
  run.engine = std::make_unique<SeatEngine>(opts);
  run.last_token = run.engine->fencing_high_water();
  run.high_water = run.last_token;

  int since_sweep = 0;
  for (int i = 0; i < kMaxOps && !in.empty(); ++i) {
    run.model.op.Clear();
    Request req;
    bool swept = false;
    if (DecodeRequest(in, run.pools, run.clock, &req)) {
      // As the server gets it: from bytes. A string that is not UTF-8 does not
      // parse (the server answers BAD_FRAME and closes).
      const std::string body = req.SerializeAsString();
      Request parsed;
      if (!parsed.ParseFromString(body)) continue;
      req = std::move(parsed);
      if (!Malformed(req).empty()) continue;  // the server answers INVALID_ARGUMENT and closes
      const Before before = Look(run, req);
      Response resp;
      // Every other HOLD by index takes the server's fast path, as a shard
      // would run it (its reply frame parsed back and checked like any
      // other); the rest take ExecuteEngineOp's by-index branch, which a
      // shard runs when the fast path declines.
      if ((run.fast_turn = !run.fast_turn) &&
          protocol::DecodeHoldCall(body, run.engine->limits().max_seats_per_hold, &run.call)) {
        std::string frame;
        const wire::ResultCode code = ExecuteHoldCall(*run.engine, run.call, &run.scratch, &frame);
        if (frame.size() < protocol::kFrameHeaderBytes ||
            protocol::GetFrameHeader(frame.data()) != frame.size() - protocol::kFrameHeaderBytes ||
            !resp.ParseFromArray(frame.data() + protocol::kFrameHeaderBytes,
                                 static_cast<int>(frame.size() - protocol::kFrameHeaderBytes)) ||
            resp.code() != code) {
          Fail("the HOLD fast path wrote a reply frame that does not parse back");
        }
      } else {
        ExecuteEngineOp(*run.engine, run.shard, req, &resp);
      }
      CheckReply(run, req, resp, before);
      swept = req.has_delete_event() && resp.code() == wire::OK;
    }
    const uint64_t seats = CheckOp(run);
    if (swept || ++since_sweep >= (seats > kBigSeats ? kSweepEveryBig : kSweepEvery)) {
      Sweep(run);
      since_sweep = 0;
    }
  }
  Sweep(run);
  return 0;
}

// Seeds: a few valid requests of each kind, in the decoder's encoding.
void WriteSeeds(const std::string& dir) {
  // DEFINE_EVENT "gig" (event pick 0; 2 is "arena"): section A (rows A, B of
  // 4 seats), section B (row A, 3 seats).
  auto define = [](FuzzOutput& o, uint8_t event = 0) {
    o.U8(0).U8(kDefine).U8(event).U8(2);
    o.U8(0).U8(2).U8(0).U8(4 * 4).U8(0).U8(4 * 4);
    o.U8(2).U8(1).U8(0).U8(3 * 4);
  };
  auto hold_index = [](FuzzOutput& o, uint8_t index, uint8_t ttl, uint8_t event = 0) {
    // HOLD gig [A#index] alice ttl-pick
    o.U8(1).U8(kHold).U8(event).U8(1).U8(0).U8(1).U8(index).U8(1).U8(0).U8(0).U8(ttl);
  };
  std::vector<std::pair<std::string, std::string>> seeds;
  {
    FuzzOutput o;
    o.U8(0).U8(0);
    define(o);
    hold_index(o, 2, 2);
    o.U8(2).U8(kConfirm).U8(0).U8(0).U8(0).U8(0).U8(0).U8(1);  // confirm alice k1 pay-1
    o.U8(3).U8(kGetSeats).U8(0).U8(0);
    o.U8(4).U8(kGetAvailability).U8(0);
    seeds.emplace_back("hold_confirm", o.str());
  }
  {
    FuzzOutput o;
    o.U8(0).U8(0);
    define(o);
    hold_index(o, 1, 1);
    o.U8(2).U8(kExtend).U8(0).U8(0).U8(0).U8(0).U8(2);
    o.U8(3).U8(kAdvance).U8(5);
    o.U8(4).U8(kConfirm).U8(0).U8(0).U8(0).U8(0).U8(2).U8(2);  // late confirm
    o.U8(5).U8(kCancel).U8(0).U8(0);
    seeds.emplace_back("extend_expire_late_confirm", o.str());
  }
  {
    FuzzOutput o;
    o.U8(4).U8(0);  // section B on another shard
    define(o);
    o.U8(1).U8(kHoldBest).U8(0).U8(0).U8(2).U8(0).U8(1).U8(0).U8(2);
    o.U8(2).U8(kRelease).U8(0).U8(0).U8(0).U8(0);
    o.U8(3).U8(kListHolds).U8(0).U8(0).U8(1).U8(0);
    o.U8(4).U8(kStats);
    o.U8(5).U8(kListEvents);
    o.U8(6).U8(kGetHold).U8(0).U8(0);
    seeds.emplace_back("best_release_lists", o.str());
  }
  {
    FuzzOutput o;
    o.U8(8 | (1 << 5)).U8(0);  // at most two live holds
    define(o);
    hold_index(o, 0, 1);
    hold_index(o, 0, 1);
    hold_index(o, 1, 1);
    hold_index(o, 2, 1);
    o.U8(5).U8(kAdvance).U8(3);
    seeds.emplace_back("conflict_capacity", o.str());
  }
  {
    FuzzOutput o;
    o.U8(0).U8(0);
    define(o);
    hold_index(o, 3, 1);         // alice, 1 s
    o.U8(2).U8(kAdvance).U8(3);  // + 1 s: lapsed
    // HOLD gig [A#3] bob 60 s
    o.U8(3).U8(kHold).U8(0).U8(1).U8(0).U8(1).U8(3).U8(1).U8(0).U8(1).U8(2);
    o.U8(4).U8(kConfirm).U8(0).U8(0).U8(0).U8(0).U8(2).U8(2);  // late: seat taken
    o.U8(5).U8(kConfirm).U8(0).U8(0).U8(0).U8(0).U8(2).U8(2);  // replayed refusal
    seeds.emplace_back("late_confirm_refused", o.str());
  }
  {
    FuzzOutput o;
    o.U8(0).U8(0);
    define(o);
    hold_index(o, 5, 3);                          // alice, 1 h
    o.U8(2).U8(kAdvance).U8(200).U32(2'000'000);  // + 2,000 s
    o.U8(3).U8(kExtend).U8(0).U8(0).U8(0).U8(0).U8(3);
    o.U8(4).U8(kAdvance).U8(200).U32(2'000'000);
    o.U8(5).U8(kExtend).U8(0).U8(0).U8(0).U8(0).U8(3);  // capped at 2 h
    o.U8(6).U8(kExtend).U8(0).U8(0).U8(0).U8(0).U8(3);  // LIFETIME_EXCEEDED
    seeds.emplace_back("extend_capped", o.str());
  }
  {
    FuzzOutput o;
    o.U8(0).U8(0);
    define(o);
    hold_index(o, 2, 2);
    o.U8(2).U8(kConfirm).U8(0).U8(0).U8(0).U8(0).U8(0).U8(1);  // sold
    hold_index(o, 3, 2);                                       // a live hold
    o.U8(4).U8(kDeleteEvent).U8(0).U8(0);                      // EVENT_HAS_LIVE_HOLDS
    o.U8(5).U8(kDeleteEvent).U8(0).U8(1);                      // force: released, dropped
    o.U8(6).U8(kCancel).U8(0).U8(0);                           // BOOKING_NOT_FOUND
    o.U8(7).U8(kGetHold).U8(0).U8(1);                          // HOLD_NOT_FOUND
    o.U8(8).U8(kConfirm).U8(0).U8(0).U8(0).U8(0).U8(0).U8(1);  // not replayed: HOLD_NOT_FOUND
    define(o);                                                 // again, afresh
    hold_index(o, 2, 2);
    seeds.emplace_back("delete_event", o.str());
  }
  {
    // Sales of "arena" come after those of "gig": deleting "gig" renumbers them.
    FuzzOutput o;
    o.U8(0).U8(0);
    define(o);
    define(o, 2);
    hold_index(o, 1, 2);
    o.U8(2).U8(kConfirm).U8(0).U8(0).U8(0).U8(0).U8(0).U8(1);
    hold_index(o, 1, 2, 2);
    o.U8(4).U8(kConfirm).U8(0).U8(1).U8(0).U8(0).U8(2).U8(1);
    o.U8(5).U8(kDeleteEvent).U8(0).U8(0);
    o.U8(6).U8(kGetSeats).U8(2).U8(0);
    o.U8(7).U8(kCancel).U8(0).U8(1);  // arena's sale: its seat is FREE again
    seeds.emplace_back("delete_event_renumbers", o.str());
  }
  {
    FuzzOutput o;
    o.U8(0).U8(2 | 3 << 2);  // lapsed holds: at most 192 bytes (one)
    define(o);
    hold_index(o, 1, 1);         // alice, 1 s
    hold_index(o, 2, 1);         // alice, 1 s
    o.U8(3).U8(kAdvance).U8(3);  // + 1 s: both lapse, the first is evicted
    o.U8(4).U8(kConfirm).U8(0).U8(0).U8(0).U8(0).U8(0).U8(1);  // the first: HOLD_NOT_FOUND
    o.U8(5).U8(kConfirm).U8(0).U8(1).U8(0).U8(0).U8(2).U8(1);  // the second: sold late
    o.U8(6).U8(kStats);
    seeds.emplace_back("lapsed_evicted", o.str());
  }
  {
    FuzzOutput o;
    o.U8(0).U8(3 | 1 << 2);  // lapsed holds kept 1 s
    define(o);
    hold_index(o, 1, 1);         // alice, 1 s
    o.U8(2).U8(kAdvance).U8(3);  // + 1 s: lapsed
    o.U8(3).U8(kGetHold).U8(0).U8(0);
    o.U8(4).U8(kAdvance).U8(3);                                // + 1 s: purged
    o.U8(5).U8(kConfirm).U8(0).U8(0).U8(0).U8(0).U8(0).U8(1);  // HOLD_NOT_FOUND
    seeds.emplace_back("lapsed_purged", o.str());
  }
  {
    FuzzOutput o;
    o.U8(0).U8(0);
    define(o);
    hold_index(o, 1, 2);
    o.U8(2).U8(kConfirm).U8(0).U8(0).U8(0).U8(0).U8(0).U8(1);
    hold_index(o, 2, 2);
    o.U8(4).U8(kConfirm).U8(0).U8(1).U8(0).U8(0).U8(2).U8(1);
    // LIST_BOOKINGS gig: the first and a neighbour; then a page of one.
    o.U8(5).U8(kListBookings).U8(0).U8(0).U8(1).U8(2).U8(0).U8(0).U8(4).U8(0).U8(0);
    o.U8(6).U8(kListBookings).U8(0).U8(0).U8(0).U8(0).U8(1).U8(1);
    seeds.emplace_back("list_bookings", o.str());
  }
  for (const auto& [name, bytes] : seeds) {
    if (!WriteSeed(dir, name, bytes)) std::exit(1);
  }
}

}  // namespace seatlock::fuzz

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  google::protobuf::SetLogHandler(nullptr);  // non-UTF-8 strings are expected
  for (int i = 1; i < *argc; ++i) {
    if (std::strncmp((*argv)[i], "--write-seeds=", 14) == 0) {
      seatlock::fuzz::WriteSeeds((*argv)[i] + 14);
      std::exit(0);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return seatlock::fuzz::RunInput(data, size);
}
