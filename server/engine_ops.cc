#include "server/engine_ops.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/string_util.h"

namespace seatlock {
namespace {

using wire::Request;
using wire::Response;

void SetCode(Response* resp, ResultCode code, const std::string& detail) {
  resp->set_code(ToWire(code));
  if (!detail.empty()) resp->set_detail(detail);
}

wire::SeatState ToWire(SeatState s) {
  switch (s) {
    case SeatState::kHeld:
      return wire::HELD;
    case SeatState::kSold:
      return wire::SOLD;
    default:
      return wire::FREE;
  }
}

void FillSeatRef(const SeatEngine& engine, std::string_view event_id, SeatKey key,
                 wire::SeatRef* out) {
  if (auto label = engine.LabelOf(event_id, key)) {
    out->set_section(label->section);
    out->set_row(label->row);
    out->set_seat(label->seat);
  }
  out->set_index(key.seat);
}

void FillConflicts(const SeatEngine& engine, std::string_view event_id,
                   absl::Span<const SeatConflict> conflicts,
                   google::protobuf::RepeatedPtrField<wire::SeatConflict>* out) {
  for (const SeatConflict& c : conflicts) {
    wire::SeatConflict* w = out->Add();
    FillSeatRef(engine, event_id, c.seat, w->mutable_seat());
    w->set_state(ToWire(c.state));
    w->set_held_until_ms(c.held_until_ms);
  }
}

void FillHoldInfo(const SeatEngine& engine, const HoldInfo& h, int64_t now, wire::HoldInfo* out) {
  out->set_hold_id(h.hold_id);
  out->set_event_id(h.event_id);
  out->set_holder(h.holder);
  for (SeatKey k : h.seats) FillSeatRef(engine, h.event_id, k, out->add_seats());
  out->set_created_ms(h.created_ms);
  out->set_expires_ms(h.expires_ms);
  out->set_remaining_ms(std::max<int64_t>(0, h.expires_ms - now));
  out->set_fencing_token(h.fencing_token);
  out->set_lapsed(h.status == HoldStatus::kLapsed);
}

}  // namespace

EventLayout LayoutFromWire(const wire::DefineEventRequest& d) {
  EventLayout layout;
  layout.event_id = d.event_id();
  for (const wire::SectionLayout& s : d.sections()) {
    SectionLayout& sl = layout.sections.emplace_back();
    sl.label = s.label();
    for (const wire::RowLayout& r : s.rows()) {
      RowLayout& rl = sl.rows.emplace_back();
      rl.label = r.label();
      rl.seat_count = r.seat_count();
      rl.seat_labels.assign(r.seat_labels().begin(), r.seat_labels().end());
    }
  }
  return layout;
}

wire::DefineEventRequest WireFromLayout(const EventLayout& layout) {
  wire::DefineEventRequest d;
  d.set_event_id(layout.event_id);
  for (const SectionLayout& sl : layout.sections) {
    wire::SectionLayout* s = d.add_sections();
    s->set_label(sl.label);
    for (const RowLayout& rl : sl.rows) {
      wire::RowLayout* r = s->add_rows();
      r->set_label(rl.label);
      r->set_seat_count(rl.seat_count);
      for (const std::string& l : rl.seat_labels) r->add_seat_labels(l);
    }
  }
  return d;
}

namespace {

// The section's index, or -1 after setting EVENT_NOT_FOUND / UNKNOWN_SEAT.
int SectionOrFail(const SeatEngine& engine, const std::string& event_id, const std::string& section,
                  Response* resp) {
  const int si = engine.SectionIndex(event_id, section);
  if (si >= 0) return si;
  const bool no_event = engine.Layout(event_id) == nullptr;
  SetCode(resp, no_event ? ResultCode::kEventNotFound : ResultCode::kUnknownSeat,
          no_event ? absl::StrCat("no event '", event_id, "'")
                   : absl::StrCat("no section '", section, "'"));
  return -1;
}

// A HOLD that named every seat by index gets its seats back the same way:
// the request's section label and the index, without the seat's row and
// seat labels (looking them up and copying them costs about 5% of a hold).
void FillAsAsked(const wire::HoldRequest& h, absl::Span<const SeatKey> keys, SeatKey key,
                 wire::SeatRef* out) {
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == key) {
      out->set_section(h.seats(static_cast<int>(i)).section());
      break;
    }
  }
  out->set_index(key.seat);
}

void DoHold(SeatEngine& engine, const wire::HoldRequest& h, Response* resp) {
  SeatList keys;
  bool by_index = true;
  for (const wire::SeatRef& ref : h.seats()) {
    by_index = by_index && ref.has_index();
    const int si = SectionOrFail(engine, h.event_id(), ref.section(), resp);
    if (si < 0) return;
    if (ref.has_index()) {
      keys.push_back({static_cast<uint32_t>(si), ref.index()});
      continue;
    }
    ResolveResult r = engine.ResolveSeat(h.event_id(), {ref.section(), ref.row(), ref.seat()});
    if (!r.ok()) {
      SetCode(resp, r.code, r.detail);
      return;
    }
    keys.push_back(r.key);
  }
  HoldResult r = engine.Hold(h.event_id(), keys, h.holder(), h.ttl_ms());
  SetCode(resp, r.code, r.detail);
  wire::HoldReply* out = resp->mutable_hold();
  if (r.ok()) {
    out->set_hold_id(r.hold_id);
    out->add_part_hold_ids(r.hold_id);
    out->set_fencing_token(r.fencing_token);
    out->set_expires_ms(r.expires_ms);
    out->set_remaining_ms(r.remaining_ms);
    for (SeatKey k : r.seats) {
      if (by_index) {
        FillAsAsked(h, keys, k, out->add_seats());
      } else {
        FillSeatRef(engine, h.event_id(), k, out->add_seats());
      }
    }
  }
  if (!by_index) {
    FillConflicts(engine, h.event_id(), r.conflicts, out->mutable_conflicts());
    return;
  }
  for (const SeatConflict& c : r.conflicts) {
    wire::SeatConflict* w = out->add_conflicts();
    FillAsAsked(h, keys, c.seat, w->mutable_seat());
    w->set_state(ToWire(c.state));
    w->set_held_until_ms(c.held_until_ms);
  }
}

// Seat i of `call` as a SeatKey, or nullopt if its event or section does not
// exist. *si carries the section index from seat i - 1, so a run of seats in
// one section looks it up once.
std::optional<SeatKey> KeyOf(const SeatEngine& engine, const protocol::HoldCall& call, size_t i,
                             int* si) {
  const protocol::HoldCall::Seat& seat = call.seats[i];
  if (i == 0 || seat.section != call.seats[i - 1].section) {
    *si = engine.SectionIndex(call.event_id, seat.section);
  }
  if (*si < 0) return std::nullopt;
  return SeatKey{static_cast<uint32_t>(*si), seat.index};
}

// The request's section label for `key` (HoldCall's seats match `keys` one
// to one), as FillAsAsked gives it.
std::string_view SectionAsAsked(const protocol::HoldCall& call, absl::Span<const SeatKey> keys,
                                SeatKey key) {
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == key) return call.seats[i].section;
  }
  return {};
}

void DoHoldBest(SeatEngine& engine, const wire::HoldBestAvailableRequest& h, Response* resp) {
  int section = -1;
  if (!h.section().empty()) {
    section = SectionOrFail(engine, h.event_id(), h.section(), resp);
    if (section < 0) return;
  }
  HoldResult r = engine.HoldBestAvailable(h.event_id(), section, h.count(), !h.scattered_ok(),
                                          h.holder(), h.ttl_ms());
  SetCode(resp, r.code, r.detail);
  if (!r.ok()) return;
  wire::HoldReply* out = resp->mutable_hold();
  out->set_hold_id(r.hold_id);
  out->add_part_hold_ids(r.hold_id);
  out->set_fencing_token(r.fencing_token);
  out->set_expires_ms(r.expires_ms);
  out->set_remaining_ms(r.remaining_ms);
  for (SeatKey k : r.seats) FillSeatRef(engine, h.event_id(), k, out->add_seats());
}

void DoConfirm(SeatEngine& engine, const wire::ConfirmRequest& c, Response* resp) {
  // The hold's event is needed to label seats; look it up before the confirm
  // consumes the hold. A confirm deletes no event, so the view stays valid.
  std::string_view event_id = engine.EventIdOfHold(c.hold_id());
  ConfirmResult r = engine.Confirm(c.hold_id(), c.holder(), c.idempotency_key(), c.payment_ref());
  if (event_id.empty() && r.booking_id != 0) event_id = engine.EventIdOfBooking(r.booking_id);
  SetCode(resp, r.code, r.detail);
  if (r.code != ResultCode::kOk && r.code != ResultCode::kHoldExpiredSeatsTaken) return;
  wire::ConfirmReply* out = resp->mutable_confirm();
  out->set_booking_id(r.booking_id);
  out->set_fencing_token(r.fencing_token);
  out->set_hold_lapsed(r.hold_lapsed);
  for (SeatKey k : r.seats) FillSeatRef(engine, event_id, k, out->add_seats());
  out->set_confirmed_ms(r.confirmed_ms);
  FillConflicts(engine, event_id, r.conflicts, out->mutable_conflicts());
  out->set_replayed(r.replayed);
  out->set_event_id(event_id.data(), event_id.size());
}

void DoGetSeats(SeatEngine& engine, const wire::GetSeatsRequest& g, Response* resp) {
  const int si = SectionOrFail(engine, g.event_id(), g.section(), resp);
  if (si < 0) return;
  SectionSeats s = engine.GetSeats(g.event_id(), si);
  SetCode(resp, s.code, s.detail);
  if (s.code != ResultCode::kOk) return;
  const EventLayout* layout = engine.Layout(g.event_id());
  wire::GetSeatsReply* out = resp->mutable_get_seats();
  out->set_section(g.section());
  for (const std::string& r : s.row_labels) out->add_rows(r);
  for (const SeatView& v : s.seats) {
    wire::SeatInfo* w = out->add_seats();
    w->set_index(v.seat);
    w->set_row(s.row_labels[v.row]);
    const RowLayout& rl = layout->sections[si].rows[v.row];
    const uint32_t off = v.seat - s.row_first_seat[v.row];
    w->set_seat(rl.seat_labels.empty() ? std::to_string(off + 1) : rl.seat_labels[off]);
    w->set_state(ToWire(v.state));
    w->set_owner_id(v.owner_id);
    w->set_held_until_ms(v.held_until_ms);
  }
}

void FillBooking(const SeatEngine& engine, const BookingInfo& b, wire::BookingRecord* out) {
  out->set_booking_id(b.booking_id);
  out->set_hold_id(b.hold_id);
  out->set_fencing_token(b.fencing_token);
  out->set_event_id(b.event_id);
  out->set_holder(b.holder);
  out->set_payment_ref(b.payment_ref);
  out->set_idempotency_key(b.idempotency_key);
  for (SeatKey k : b.seats) FillSeatRef(engine, b.event_id, k, out->add_seats());
  out->set_confirmed_ms(b.confirmed_ms);
  out->set_cancelled(b.cancelled);
  out->set_hold_lapsed(b.hold_lapsed);
}

// LIST_BOOKINGS: the named bookings, or a page of the event's bookings in id
// order. A scan of the shard's sales per page: a full read (seatlock-sink's
// reconcile) is rare.
void DoListBookings(const SeatEngine& engine, uint32_t shard_index,
                    const wire::ListBookingsRequest& l, Response* resp) {
  wire::ListBookingsReply* out = resp->mutable_list_bookings();
  out->set_shard(shard_index);
  if (!l.booking_ids().empty()) {
    for (uint64_t id : l.booking_ids()) {
      auto b = engine.GetBooking(id);
      if (b && b->event_id == l.event_id()) FillBooking(engine, *b, out->add_bookings());
    }
    return;
  }
  const size_t limit =
      std::min(l.limit() == 0 ? 1000u : l.limit(), engine.limits().max_list_results);
  std::vector<std::pair<uint64_t, size_t>> ids;  // (booking id, index)
  for (size_t i = 0; i < engine.booking_count(); ++i) {
    BookingInfo b = engine.BookingAt(i);
    if (b.booking_id > l.after_booking_id() && b.event_id == l.event_id()) {
      ids.emplace_back(b.booking_id, i);
    }
  }
  const size_t n = std::min(ids.size(), limit);
  std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(n), ids.end());
  for (size_t i = 0; i < n; ++i)
    FillBooking(engine, engine.BookingAt(ids[i].second), out->add_bookings());
  out->set_truncated(ids.size() > limit);
}

}  // namespace

wire::ResultCode ExecuteHoldCall(SeatEngine& engine, const protocol::HoldCall& call,
                                 HoldCallScratch* scratch, std::string* out) {
  protocol::HoldReplyFields reply;
  reply.request_id = call.request_id;
  scratch->keys.clear();
  std::string detail;
  int si = -1;
  for (size_t i = 0; i < call.seats.size(); ++i) {
    const std::optional<SeatKey> key = KeyOf(engine, call, i, &si);
    if (!key) {  // as SectionOrFail: the reply carries no `hold`
      const bool no_event = engine.Layout(call.event_id) == nullptr;
      reply.code = no_event ? wire::EVENT_NOT_FOUND : wire::UNKNOWN_SEAT;
      detail = no_event ? absl::StrCat("no event '", std::string(call.event_id), "'")
                        : absl::StrCat("no section '", std::string(call.seats[i].section), "'");
      reply.detail = detail;
      protocol::AppendHoldReplyFrame(reply, out);
      return static_cast<wire::ResultCode>(reply.code);
    }
    scratch->keys.push_back(*key);
  }
  const HoldResult r = engine.Hold(call.event_id, scratch->keys, call.holder, call.ttl_ms);
  reply.code = ToWire(r.code);
  reply.detail = r.detail;
  reply.has_hold = true;
  scratch->seats.clear();
  scratch->conflicts.clear();
  if (r.ok()) {
    reply.hold_id = r.hold_id;
    reply.part_hold_ids = {&r.hold_id, 1};
    reply.fencing_token = r.fencing_token;
    reply.expires_ms = r.expires_ms;
    reply.remaining_ms = r.remaining_ms;
    for (const SeatKey k : r.seats) {
      scratch->seats.push_back({SectionAsAsked(call, scratch->keys, k), k.seat});
    }
    reply.seats = scratch->seats;
  }
  for (const SeatConflict& c : r.conflicts) {
    scratch->conflicts.push_back({{SectionAsAsked(call, scratch->keys, c.seat), c.seat.seat},
                                  static_cast<uint32_t>(ToWire(c.state)),
                                  c.held_until_ms});
  }
  reply.conflicts = scratch->conflicts;
  protocol::AppendHoldReplyFrame(reply, out);
  return static_cast<wire::ResultCode>(reply.code);
}

bool HoldCallSeatsFree(const SeatEngine& engine, const protocol::HoldCall& call) {
  int si = -1;
  for (size_t i = 0; i < call.seats.size(); ++i) {
    const std::optional<SeatKey> key = KeyOf(engine, call, i, &si);
    if (!key) return false;
    const std::optional<SeatView> v = engine.PeekSeat(call.event_id, *key);
    if (!v || v->state != SeatState::kFree) return false;
  }
  return true;
}

wire::ResultCode ToWire(ResultCode code) { return static_cast<wire::ResultCode>(code); }

void ExecuteEngineOp(SeatEngine& engine, uint32_t shard_index, const Request& req, Response* resp) {
  resp->set_request_id(req.request_id());
  resp->set_code(wire::OK);
  auto now_ms = [&engine] { return engine.NowMs(); };
  switch (req.op_case()) {
    case Request::kDefineEvent: {
      SimpleResult r = engine.DefineEvent(LayoutFromWire(req.define_event()));
      SetCode(resp, r.code, r.detail);
      return;
    }
    case Request::kDeleteEvent: {
      DeleteEventResult r =
          engine.DeleteEvent(req.delete_event().event_id(), req.delete_event().force());
      SetCode(resp, r.code, r.detail);
      if (r.ok()) {
        resp->mutable_delete_event()->set_holds_released(r.holds_released);
        resp->mutable_delete_event()->set_bookings_dropped(r.bookings_dropped);
      }
      return;
    }
    case Request::kHold:
      DoHold(engine, req.hold(), resp);
      return;
    case Request::kHoldBestAvailable:
      DoHoldBest(engine, req.hold_best_available(), resp);
      return;
    case Request::kExtend: {
      const auto& e = req.extend();
      ExtendResult r = engine.Extend(e.hold_id(), e.holder(), e.ttl_ms());
      SetCode(resp, r.code, r.detail);
      if (r.ok()) {
        resp->mutable_extend()->set_expires_ms(r.expires_ms);
        resp->mutable_extend()->set_remaining_ms(r.remaining_ms);
        resp->mutable_extend()->set_capped(r.capped);
      }
      return;
    }
    case Request::kRelease: {
      SimpleResult r = engine.Release(req.release().hold_id(), req.release().holder());
      SetCode(resp, r.code, r.detail);
      return;
    }
    case Request::kConfirm:
      DoConfirm(engine, req.confirm(), resp);
      return;
    case Request::kCancelBooking: {
      SimpleResult r = engine.CancelBooking(req.cancel_booking().booking_id());
      SetCode(resp, r.code, r.detail);
      return;
    }
    case Request::kGetSeats:
      DoGetSeats(engine, req.get_seats(), resp);
      return;
    case Request::kGetAvailability: {
      Availability a = engine.GetAvailability(req.get_availability().event_id());
      SetCode(resp, a.code,
              a.code == ResultCode::kOk
                  ? ""
                  : absl::StrCat("no event '", req.get_availability().event_id(), "'"));
      if (a.code != ResultCode::kOk) return;
      wire::GetAvailabilityReply* out = resp->mutable_get_availability();
      out->set_total(a.total);
      out->set_free(a.free);
      out->set_held(a.held);
      out->set_sold(a.sold);
      for (const SectionCounts& s : a.sections) {
        if (!s.owned) continue;
        wire::SectionAvailability* w = out->add_sections();
        w->set_section(s.label);
        w->set_total(s.total);
        w->set_free(s.free);
        w->set_held(s.held);
        w->set_sold(s.sold);
        w->set_shard(shard_index);
      }
      return;
    }
    case Request::kGetHold: {
      auto h = engine.GetHold(req.get_hold().hold_id());
      if (!h) {
        SetCode(resp, ResultCode::kHoldNotFound,
                absl::StrCat("no hold ", req.get_hold().hold_id()));
        return;
      }
      FillHoldInfo(engine, *h, now_ms(), resp->mutable_get_hold()->mutable_hold());
      return;
    }
    case Request::kListHolds: {
      const auto& l = req.list_holds();
      const uint32_t limit =
          std::min(l.limit() == 0 ? 1000u : l.limit(), engine.limits().max_list_results);
      std::vector<HoldInfo> holds = engine.ListHolds(l.event_id(), l.holder(), limit + 1);
      wire::ListHoldsReply* out = resp->mutable_list_holds();
      const int64_t now = now_ms();
      for (size_t i = 0; i < holds.size() && i < limit; ++i) {
        FillHoldInfo(engine, holds[i], now, out->add_holds());
      }
      out->set_truncated(holds.size() > limit);
      return;
    }
    case Request::kListEvents: {
      wire::ListEventsReply* out = resp->mutable_list_events();
      for (const std::string& id : engine.EventIds()) {
        Availability a = engine.GetAvailability(id);
        wire::EventSummary* e = out->add_events();
        e->set_event_id(id);
        e->set_total(a.total);
        e->set_free(a.free);
        e->set_held(a.held);
        e->set_sold(a.sold);
      }
      return;
    }
    case Request::kStats: {
      engine.ExpireDue();
      const EngineStats s = engine.Stats();
      wire::ShardStats* out = resp->mutable_stats()->add_shards();
      out->set_shard(shard_index);
      out->set_live_holds(s.live_holds);
      out->set_lapsed_holds(s.lapsed_holds);
      out->set_lapsed_hold_bytes(s.lapsed_hold_bytes);
      out->set_lapsed_holds_evicted(s.lapsed_holds_evicted);
      out->set_lapsed_holds_purged(s.lapsed_holds_purged);
      out->set_bookings(s.bookings);
      out->set_holds_granted(s.holds_granted);
      out->set_holds_refused(s.holds_refused);
      out->set_holds_released(s.holds_released);
      out->set_holds_expired(s.holds_expired);
      out->set_confirms(s.confirms);
      out->set_confirms_replayed(s.confirms_replayed);
      out->set_fencing_high_water(s.fencing_high_water);
      out->set_memory_bytes(s.memory_bytes);
      out->set_bookings_cancelled(s.bookings_cancelled);
      out->set_events(s.events);
      return;
    }
    case Request::kListBookings:
      DoListBookings(engine, shard_index, req.list_bookings(), resp);
      return;
    default:
      SetCode(resp, ResultCode::kInternal, "not an engine op");
      resp->set_code(wire::UNKNOWN_OP);
      return;
  }
}

}  // namespace seatlock
