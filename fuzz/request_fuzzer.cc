// request_fuzzer: hostile requests through the server's engine path. The
// input is decoded (structure-aware, see DecodeRequest) into at most kMaxOps
// wire Requests and clock steps. Each request is serialized and parsed again
// (as the server receives it), goes through Malformed()
// (server/request_validation.h) and, when it passes, ExecuteEngineOp()
// (server/engine_ops.h) on a real SeatEngine with a ManualClock, as a shard
// runs it. After every op the engine's invariants are checked through its
// public API (CheckEngine); a broken one traps, so libFuzzer reports it:
//  * no seat is in two live holds, and every seat of a live hold is HELD by it;
//  * no seat is in two (uncancelled) bookings, and each is SOLD to it;
//  * every HELD / SOLD seat is owned by such a hold / booking;
//  * per-section counts (GET_AVAILABILITY) equal the seats' states (GET_SEATS);
//  * fencing tokens strictly grow; the high-water mark never goes down;
//  * every reply code is one docs/protocol.md lists for that op.
// `request_fuzzer --write-seeds=DIR` writes the seed corpus (fuzz/corpus/).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/clock.h"
#include "engine/seat_engine.h"
#include "fuzz/fuzz_input.h"
#include "google/protobuf/stubs/logging.h"
#include "protocol/seatlock.pb.h"
#include "server/engine_ops.h"
#include "server/request_validation.h"

namespace seatlock::fuzz {
namespace {

using wire::Request;
using wire::Response;

constexpr int kMaxOps = 48;
constexpr int64_t kStart = 1'700'000'000'000;

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
  kAdvance,
  kOpCount
};

// What the run has seen, for picking ids and labels that collide.
struct Pools {
  std::vector<uint64_t> holds;
  std::vector<uint64_t> bookings;
  std::vector<std::string> holders{"alice", "bob"};
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

void DecodeDefine(FuzzInput& in, wire::DefineEventRequest* d) {
  d->set_event_id(PickEvent(in));
  const uint32_t sections = in.Below(5);
  for (uint32_t s = 0; s < sections; ++s) {
    wire::SectionLayout* sec = d->add_sections();
    sec->set_label(PickSection(in));
    const uint8_t shape = in.U8();
    if (shape % 64 == 63) {
      // A section with thousands of rows; now and then 10,000 (the limit) or
      // 10,001. The checks read every seat after every op, so mostly fewer.
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
      DecodeDefine(in, req->mutable_define_event());
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
    default:  // LIST_HOLDS, LIST_EVENTS, STATS
      return c == W::OK;
  }
}

uint64_t Key(SeatKey k) { return uint64_t{k.section} << 32 | k.seat; }

std::string Where(const std::string& event, SeatKey k) {
  return absl::StrCat(event, " seat ", k.section, "/", k.seat);
}

// Checks the change records the engine emits: sequence numbers start at 1
// and have no gaps; each names seats and the state they moved to.
class SeqSink final : public ChangeSink {
 public:
  void OnChange(const ChangeRecord& r) override {
    if (r.seq != last_ + 1) Fail(absl::StrCat("change seq ", r.seq, " after ", last_));
    last_ = r.seq;
    if (r.seats.empty()) Fail("a change record without seats");
    if (r.new_state() == SeatState::kSold && r.booking_id == 0) Fail("a sale without a booking");
  }
  uint64_t last() const { return last_; }

 private:
  uint64_t last_ = 0;
};

// Checks the engine's seat-level invariants through its public API.
void CheckEngine(SeatEngine& engine) {
  engine.ExpireDue();
  // Live holds: every seat in at most one, in an owned section, HELD by it.
  // Seats are keyed by event, then section << 32 | seat.
  std::map<std::string, absl::flat_hash_map<uint64_t, uint64_t>> held_by;
  const std::vector<HoldInfo> holds = engine.ListHolds("", "", UINT32_MAX);
  size_t held_total = 0;
  for (const HoldInfo& h : holds) {
    if (h.status != HoldStatus::kLive) Fail("ListHolds returned a lapsed hold");
    if (h.seats.empty() || h.seats.size() > engine.limits().max_seats_per_hold) {
      Fail(absl::StrCat("hold ", h.hold_id, " has ", h.seats.size(), " seats"));
    }
    if (h.expires_ms <= engine.NowMs()) Fail(absl::StrCat("hold ", h.hold_id, " is past due"));
    if (h.expires_ms > h.created_ms + engine.limits().max_hold_lifetime_ms) {
      Fail(absl::StrCat("hold ", h.hold_id, " runs past its maximum lifetime"));
    }
    auto& seats = held_by[h.event_id];
    for (SeatKey k : h.seats) {
      auto [it, fresh] = seats.emplace(Key(k), h.hold_id);
      if (!fresh) {
        Fail(absl::StrCat(Where(h.event_id, k), " is in holds ", it->second, " and ", h.hold_id));
      }
    }
    held_total += h.seats.size();
  }
  // Bookings: every seat in at most one uncancelled booking.
  std::map<std::string, absl::flat_hash_map<uint64_t, uint64_t>> sold_to;
  size_t sold_total = 0;
  for (size_t i = 0; i < engine.booking_count(); ++i) {
    const BookingInfo b = engine.BookingAt(i);
    if (b.cancelled) continue;
    auto& seats = sold_to[b.event_id];
    sold_total += b.seats.size();
    for (SeatKey k : b.seats) {
      auto [it, fresh] = seats.emplace(Key(k), b.booking_id);
      if (!fresh) {
        Fail(absl::StrCat(Where(b.event_id, k), " is in bookings ", it->second, " and ",
                          b.booking_id));
      }
    }
  }
  // Seat words against holds, bookings and the section counts.
  size_t held_seen = 0, sold_seen = 0;
  for (const std::string& id : engine.EventIds()) {
    const Availability a = engine.GetAvailability(id);
    if (a.code != ResultCode::kOk) Fail("GetAvailability of a listed event fails");
    const EventLayout* layout = engine.Layout(id);
    if (layout == nullptr || a.sections.size() != layout->sections.size()) {
      Fail("availability and layout disagree on sections");
    }
    uint64_t total = 0, free = 0, held = 0, sold = 0;
    const auto& held_here = held_by[id];
    const auto& sold_here = sold_to[id];
    for (size_t si = 0; si < a.sections.size(); ++si) {
      const SectionCounts& c = a.sections[si];
      if (!c.owned) continue;  // another shard keeps its seats (and counts)
      if (c.total != layout->sections[si].seat_count() || c.free + c.held + c.sold != c.total) {
        Fail(absl::StrCat(id, " section ", si, ": counts do not add up"));
      }
      total += c.total, free += c.free, held += c.held, sold += c.sold;
      const SectionSeats s = engine.GetSeats(id, static_cast<int>(si));
      if (s.code != ResultCode::kOk || s.seats.size() != c.total) {
        Fail(absl::StrCat(id, " section ", si, ": GetSeats disagrees with the counts"));
      }
      uint32_t n[3] = {0, 0, 0};
      for (const SeatView& v : s.seats) {
        ++n[static_cast<int>(v.state)];
        const SeatKey k{static_cast<uint32_t>(si), v.seat};
        const auto hit = held_here.find(Key(k));
        const auto sit = sold_here.find(Key(k));
        if (v.state == SeatState::kHeld) {
          if (hit == held_here.end() || hit->second != v.owner_id) {
            Fail(absl::StrCat(Where(id, k), " is HELD by ", v.owner_id, ", not a live hold of it"));
          }
          if (sit != sold_here.end()) Fail(absl::StrCat(Where(id, k), " is HELD and booked"));
          ++held_seen;
        } else if (v.state == SeatState::kSold) {
          if (sit == sold_here.end() || sit->second != v.owner_id) {
            Fail(absl::StrCat(Where(id, k), " is SOLD to ", v.owner_id, ", not a booking of it"));
          }
          if (hit != held_here.end()) Fail(absl::StrCat(Where(id, k), " is SOLD and in a hold"));
          ++sold_seen;
        } else if (hit != held_here.end() || sit != sold_here.end()) {
          Fail(absl::StrCat(Where(id, k), " is FREE but held or booked"));
        }
      }
      if (n[0] != c.free || n[1] != c.held || n[2] != c.sold) {
        Fail(absl::StrCat(id, " section ", si, ": counts ", c.free, "/", c.held, "/", c.sold,
                          " but seat words ", n[0], "/", n[1], "/", n[2]));
      }
    }
    if (a.total != total || a.free != free || a.held != held || a.sold != sold) {
      Fail(absl::StrCat(id, ": event totals are not the sum of its sections"));
    }
  }
  // Every held or sold seat was found in an owned section's seat words.
  if (held_seen != held_total) Fail("a live hold has a seat that is not HELD");
  if (sold_seen != sold_total) Fail("a booking has a seat that is not SOLD");
  // The wheel's wake-up hint never lies past the earliest live deadline, so
  // a server loop that sleeps on it releases holds within a tick.
  if (!holds.empty()) {
    int64_t earliest = INT64_MAX;
    for (const HoldInfo& h : holds) earliest = std::min(earliest, h.expires_ms);
    const int64_t wait = engine.MsUntilNextTimer();
    if (wait < 0 || wait > earliest - engine.NowMs()) {
      Fail(absl::StrCat("MsUntilNextTimer ", wait, " but a hold is due in ",
                        earliest - engine.NowMs(), " ms"));
    }
  }
  const EngineStats st = engine.Stats();
  if (st.live_holds != holds.size()) {
    Fail("Stats().live_holds disagrees with ListHolds");
  }
}

struct Run {
  ManualClock clock{kStart};
  SeqSink sink;
  uint8_t shard = 0;
  std::unique_ptr<SeatEngine> engine;
  Pools pools;
  uint64_t last_token = 0;
  uint64_t high_water = 0;
};

// Checks one reply and records the ids it issued.
void CheckReply(Run& run, const Request& req, const Response& resp) {
  if (resp.request_id() != req.request_id()) Fail("reply has another request id");
  if (!CodeAllowed(req.op_case(), resp.code())) {
    Fail(absl::StrCat("op ", req.op_case(), " answered ", wire::ResultCode_Name(resp.code()),
                      ", which docs/protocol.md does not list for it: ", resp.detail()));
  }
  if (resp.code() == wire::OK && resp.has_hold()) {
    const wire::HoldReply& h = resp.hold();
    if (h.fencing_token() <= run.last_token) {
      Fail(absl::StrCat("fencing token ", h.fencing_token(), " after ", run.last_token));
    }
    run.last_token = h.fencing_token();
    if (SeatEngine::ShardOfId(h.hold_id()) != run.shard) Fail("hold id of another shard");
    if (h.seats_size() == 0) Fail("a granted hold with no seats");
    if (h.expires_ms() <= run.clock.NowMs()) Fail("a granted hold already due");
    run.pools.holds.push_back(h.hold_id());
    const std::string& holder =
        req.has_hold() ? req.hold().holder() : req.hold_best_available().holder();
    if (run.pools.holders.size() < 8) run.pools.holders.push_back(holder);
  }
  if (resp.code() == wire::OK && resp.has_confirm()) {
    const wire::ConfirmReply& c = resp.confirm();
    if (c.booking_id() == 0) Fail("a confirm without a booking id");
    if (!c.replayed()) {
      if (c.hold_lapsed()) {
        if (c.fencing_token() <= run.last_token) Fail("late confirm's token does not grow");
        run.last_token = c.fencing_token();
      }
      run.pools.bookings.push_back(c.booking_id());
    }
  }
  const uint64_t hw = run.engine->fencing_high_water();
  if (hw < run.high_water || hw < run.last_token) Fail("the fencing high-water mark went down");
  run.high_water = hw;
}

}  // namespace

int RunInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  Run run;
  const uint8_t config = in.U8();
  run.shard = config & 3;
  SeatEngine::Options opts{.clock = &run.clock};
  opts.sink = &run.sink;
  opts.shard_index = run.shard;
  // Every limit as seatlockd's defaults, but events of at most 20,000 seats
  // (not 2,000,000): the checks after each op read every seat.
  opts.limits.max_seats_per_event = 20'000;
  if (config & 4) {  // section "B" lives on another shard
    opts.owns_section = [](std::string_view, std::string_view section) { return section != "B"; };
  }
  if (config & 8) opts.limits.max_live_holds = 1 + (config >> 5);
  if (config & 16) opts.fencing_floor = UINT64_MAX - 1000;
  run.engine = std::make_unique<SeatEngine>(opts);
  run.last_token = run.engine->fencing_high_water();
  run.high_water = run.last_token;

  for (int i = 0; i < kMaxOps && !in.empty(); ++i) {
    Request req;
    if (!DecodeRequest(in, run.pools, run.clock, &req)) {
      CheckEngine(*run.engine);
      continue;
    }
    // As the server gets it: from bytes. A string that is not UTF-8 does not
    // parse (the server answers BAD_FRAME and closes).
    Request parsed;
    if (!parsed.ParseFromString(req.SerializeAsString())) continue;
    req = std::move(parsed);
    if (!Malformed(req).empty()) continue;  // the server answers INVALID_ARGUMENT and closes
    Response resp;
    ExecuteEngineOp(*run.engine, run.shard, req, &resp);
    CheckReply(run, req, resp);
    CheckEngine(*run.engine);
    if (run.engine->Stats().change_seq != run.sink.last()) Fail("Stats().change_seq is off");
  }
  return 0;
}

// Seeds: a few valid requests of each kind, in the decoder's encoding.
void WriteSeeds(const std::string& dir) {
  auto define = [](FuzzOutput& o) {
    // DEFINE_EVENT "gig": section A (rows A, B of 4 seats), section B (row A, 3 seats).
    o.U8(0).U8(kDefine).U8(0).U8(2);
    o.U8(0).U8(2).U8(0).U8(4 * 4).U8(0).U8(4 * 4);
    o.U8(2).U8(1).U8(0).U8(3 * 4);
  };
  auto hold_index = [](FuzzOutput& o, uint8_t index, uint8_t ttl) {
    // HOLD gig [A#index] alice ttl-pick
    o.U8(1).U8(kHold).U8(0).U8(1).U8(0).U8(1).U8(index).U8(1).U8(0).U8(0).U8(ttl);
  };
  std::vector<std::pair<std::string, std::string>> seeds;
  {
    FuzzOutput o;
    o.U8(0);
    define(o);
    hold_index(o, 2, 2);
    o.U8(2).U8(kConfirm).U8(0).U8(0).U8(0).U8(0).U8(0).U8(1);  // confirm alice k1 pay-1
    o.U8(3).U8(kGetSeats).U8(0).U8(0);
    o.U8(4).U8(kGetAvailability).U8(0);
    seeds.emplace_back("hold_confirm", o.str());
  }
  {
    FuzzOutput o;
    o.U8(0);
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
    o.U8(4);  // section B on another shard
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
    o.U8(8 | (1 << 5));  // at most two live holds
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
    o.U8(0);
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
    o.U8(0);
    define(o);
    hold_index(o, 5, 3);                          // alice, 1 h
    o.U8(2).U8(kAdvance).U8(200).U32(2'000'000);  // + 2,000 s
    o.U8(3).U8(kExtend).U8(0).U8(0).U8(0).U8(0).U8(3);
    o.U8(4).U8(kAdvance).U8(200).U32(2'000'000);
    o.U8(5).U8(kExtend).U8(0).U8(0).U8(0).U8(0).U8(3);  // capped at 2 h
    o.U8(6).U8(kExtend).U8(0).U8(0).U8(0).U8(0).U8(3);  // LIFETIME_EXCEEDED
    seeds.emplace_back("extend_capped", o.str());
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
