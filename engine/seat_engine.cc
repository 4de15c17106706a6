#include "engine/seat_engine.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/seat_picker.h"

namespace seatlock {
namespace {

// A seat's state word: the top two bits say FREE/HELD/SOLD, the low 30 bits
// index the hold slot (HELD) or the booking (SOLD).
constexpr uint32_t kHeldTag = 1u << 30;
constexpr uint32_t kSoldTag = 2u << 30;
constexpr uint32_t kTagMask = 3u << 30;
constexpr uint32_t kIndexMask = kHeldTag - 1;
constexpr uint32_t kGenerationMask = 0x7fffffff;
// Hold ids are the shard in the top 8 bits and the hold's fencing token below.
constexpr uint64_t kMaxHoldToken = (uint64_t{1} << 56) - 1;

SeatState StateOf(uint32_t word) {
  switch (word & kTagMask) {
    case kHeldTag:
      return SeatState::kHeld;
    case kSoldTag:
      return SeatState::kSold;
    default:
      return SeatState::kFree;
  }
}

SimpleResult Fail(ResultCode code, std::string detail) { return {code, std::move(detail)}; }

constexpr char kLapsedSoldDetail[] =
    "the hold had expired; its seats were still free and are now sold";

std::string SeatsTakenDetail(size_t n) {
  return absl::StrCat("the hold expired and ", n,
                      " of its seats were taken since; nothing was sold");
}

}  // namespace

std::string_view SeatStateName(SeatState s) {
  switch (s) {
    case SeatState::kFree:
      return "FREE";
    case SeatState::kHeld:
      return "HELD";
    case SeatState::kSold:
      return "SOLD";
  }
  return "?";
}

std::string_view ChangeKindName(ChangeKind k) {
  switch (k) {
    case ChangeKind::kHeld:
      return "HELD";
    case ChangeKind::kReleased:
      return "RELEASED";
    case ChangeKind::kExpired:
      return "EXPIRED";
    case ChangeKind::kSold:
      return "SOLD";
    case ChangeKind::kCancelled:
      return "CANCELLED";
  }
  return "?";
}

SeatState ChangeRecord::new_state() const {
  switch (kind) {
    case ChangeKind::kHeld:
      return SeatState::kHeld;
    case ChangeKind::kSold:
      return SeatState::kSold;
    default:
      return SeatState::kFree;
  }
}

bool ConfirmResult::SameOutcome(const ConfirmResult& o) const {
  return code == o.code && booking_id == o.booking_id && fencing_token == o.fencing_token &&
         hold_lapsed == o.hold_lapsed && seats == o.seats && confirmed_ms == o.confirmed_ms &&
         conflicts == o.conflicts && detail == o.detail && change_seq == o.change_seq;
}

struct SeatEngine::Section {
  std::string label;
  bool owned = true;
  std::vector<PickRow> rows;
  std::vector<uint32_t> words;     // per seat state word; empty when !owned
  std::vector<uint16_t> seat_row;  // per seat row index; empty when !owned
  StringMap<uint32_t> row_by_label;
  uint32_t total = 0, free = 0, held = 0, sold = 0;
};

struct SeatEngine::Event {
  std::string id;
  EventLayout layout;
  std::vector<Section> sections;
  StringMap<uint32_t> section_by_label;
};

struct SeatEngine::HoldSlot {
  enum State : uint8_t { kFreeSlot = 0, kLive = 1 };
  State state = kFreeSlot;
  uint32_t generation = 0;  // timer payloads name (generation, slot)
  Event* event = nullptr;
  std::string holder;
  SeatList seats;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  uint64_t fencing = 0;
  TimerId timer = 0;
};

struct SeatEngine::Booking {
  uint64_t id = 0;
  uint64_t hold_id = 0;
  uint64_t fencing = 0;
  Event* event = nullptr;
  std::string holder;
  std::string payment_ref;
  SeatList seats;
  int64_t confirmed_ms = 0;
  bool cancelled = false;
  bool hold_lapsed = false;
  std::string idempotency_key;
};

struct SeatEngine::IdemRecord {
  uint64_t hold_id = 0;
  std::string holder;
  std::string payment_ref;
  ConfirmResult result;
  std::string event_id;  // set for refusals (snapshots need it)
  std::string key;
  int64_t expires_ms = 0;
  bool erased = false;  // dropped with its event; no longer in the index
};

const SeatEngine::IdemRecord* SeatEngine::FindIdem(std::string_view key) const {
  const uint64_t* seq = idempotency_.Find(key);
  return seq == nullptr ? nullptr : &idem_records_[*seq - idem_first_seq_];
}

void SeatEngine::AddIdem(std::string_view key, int64_t expires, IdemRecord rec) {
  rec.key.assign(key.data(), key.size());
  rec.expires_ms = expires;
  idempotency_.Emplace(rec.key, idem_first_seq_ + idem_records_.size());
  idem_records_.push_back(std::move(rec));
}

SeatEngine::SeatEngine(Options options)
    : options_(std::move(options)),
      lapsed_(options_.limits.max_lapsed_hold_bytes),
      wheel_(0),
      next_fencing_(options_.fencing_floor + 1) {
  assert(options_.clock != nullptr);
  if (options_.limits.tick_ms <= 0) options_.limits.tick_ms = 1;
  if (options_.limits.max_live_holds >= kHeldTag) options_.limits.max_live_holds = kHeldTag - 1;
  // Seats record their row in 16 bits.
  options_.limits.max_rows_per_section =
      std::min<uint32_t>(options_.limits.max_rows_per_section, 65535);
  // Start the wheel at the current tick so the first Advance is cheap.
  wheel_.Advance(TickOf(Now()), [](uint64_t) {});
}

SeatEngine::~SeatEngine() = default;

void SeatEngine::CheckThread() const {
#ifndef NDEBUG
  // The first thread to use the engine owns it; any other caller is a bug.
  auto* self = const_cast<SeatEngine*>(this);
  if (self->owner_thread_ == std::thread::id()) self->owner_thread_ = std::this_thread::get_id();
  assert(owner_thread_ == std::this_thread::get_id() && "SeatEngine used off its shard thread");
#endif
}

int64_t SeatEngine::TickOf(int64_t ms) const { return ms / options_.limits.tick_ms; }

// ---------------------------------------------------------------------------
// Events and labels

SimpleResult SeatEngine::DefineEvent(const EventLayout& layout) {
  CheckThread();
  const EngineLimits& lim = options_.limits;
  if (layout.event_id.empty()) return Fail(ResultCode::kInvalidArgument, "event id is empty");
  if (layout.event_id.size() > lim.max_label_len) {
    return Fail(ResultCode::kLimitExceeded,
                absl::StrCat("event id longer than ", lim.max_label_len, " bytes"));
  }
  if (const Event* existing = FindEvent(layout.event_id)) {
    if (existing->layout == layout) return {};
    return Fail(ResultCode::kEventExists,
                absl::StrCat("event '", layout.event_id, "' exists with a different layout"));
  }
  if (layout.sections.empty()) return Fail(ResultCode::kInvalidArgument, "event has no sections");
  if (layout.sections.size() > lim.max_sections_per_event) {
    return Fail(ResultCode::kLimitExceeded,
                absl::StrCat("more than ", lim.max_sections_per_event, " sections"));
  }
  uint64_t total = 0;
  absl::flat_hash_set<std::string_view, StringHash, StringEq> section_labels;
  for (const SectionLayout& s : layout.sections) {
    if (s.label.empty()) return Fail(ResultCode::kInvalidArgument, "a section label is empty");
    if (s.label.size() > lim.max_label_len) {
      return Fail(ResultCode::kLimitExceeded, absl::StrCat("section label '", s.label.substr(0, 16),
                                                           "...' longer than ", lim.max_label_len));
    }
    if (!section_labels.insert(s.label).second) {
      return Fail(ResultCode::kInvalidArgument,
                  absl::StrCat("section '", s.label, "' appears twice"));
    }
    if (s.rows.empty()) {
      return Fail(ResultCode::kInvalidArgument,
                  absl::StrCat("section '", s.label, "' has no rows"));
    }
    if (s.rows.size() > lim.max_rows_per_section) {
      return Fail(ResultCode::kLimitExceeded, absl::StrCat("section '", s.label, "' has more than ",
                                                           lim.max_rows_per_section, " rows"));
    }
    absl::flat_hash_set<std::string_view, StringHash, StringEq> row_labels;
    uint64_t section_seats = 0;
    for (const RowLayout& r : s.rows) {
      if (r.label.empty() || r.label.size() > lim.max_label_len) {
        return Fail(r.label.empty() ? ResultCode::kInvalidArgument : ResultCode::kLimitExceeded,
                    absl::StrCat("section '", s.label, "': row label empty or longer than ",
                                 lim.max_label_len));
      }
      if (!row_labels.insert(r.label).second) {
        return Fail(ResultCode::kInvalidArgument,
                    absl::StrCat("section '", s.label, "': row '", r.label, "' appears twice"));
      }
      if (!r.seat_labels.empty() && r.seat_count != 0 && r.seat_count != r.seat_labels.size()) {
        return Fail(ResultCode::kInvalidArgument,
                    absl::StrCat("section '", s.label, "' row '", r.label,
                                 "': seat_count disagrees with the number of seat labels"));
      }
      if (r.size() == 0) {
        return Fail(ResultCode::kInvalidArgument,
                    absl::StrCat("section '", s.label, "' row '", r.label, "' has no seats"));
      }
      absl::flat_hash_set<std::string_view, StringHash, StringEq> seat_labels;
      for (const std::string& l : r.seat_labels) {
        if (l.empty() || l.size() > lim.max_label_len) {
          return Fail(l.empty() ? ResultCode::kInvalidArgument : ResultCode::kLimitExceeded,
                      absl::StrCat("section '", s.label, "' row '", r.label,
                                   "': seat label empty or longer than ", lim.max_label_len));
        }
        if (!seat_labels.insert(l).second) {
          return Fail(ResultCode::kInvalidArgument,
                      absl::StrCat("section '", s.label, "' row '", r.label, "': seat '", l,
                                   "' appears twice"));
        }
      }
      section_seats += r.size();
      total += r.size();
      if (total > lim.max_seats_per_event) {
        return Fail(ResultCode::kLimitExceeded,
                    absl::StrCat("event has more than ", lim.max_seats_per_event, " seats"));
      }
    }
    if (section_seats >= kHeldTag) {
      return Fail(ResultCode::kLimitExceeded, "section has too many seats");
    }
  }

  auto ev = std::make_unique<Event>();
  ev->id = layout.event_id;
  ev->layout = layout;
  ev->sections.resize(layout.sections.size());
  for (uint32_t si = 0; si < layout.sections.size(); ++si) {
    const SectionLayout& sl = layout.sections[si];
    Section& sec = ev->sections[si];
    sec.label = sl.label;
    sec.owned = !options_.owns_section || options_.owns_section(layout.event_id, sl.label);
    uint32_t first = 0;
    for (uint32_t ri = 0; ri < sl.rows.size(); ++ri) {
      const uint32_t n = sl.rows[ri].size();
      sec.rows.push_back(PickRow{first, n, sec.owned ? n : 0});
      sec.row_by_label.emplace(sl.rows[ri].label, ri);
      first += n;
    }
    sec.total = first;
    if (sec.owned) {
      sec.free = first;
      sec.words.assign(first, 0);
      sec.seat_row.resize(first);
      for (uint32_t ri = 0; ri < sec.rows.size(); ++ri) {
        std::fill_n(sec.seat_row.begin() + sec.rows[ri].first, sec.rows[ri].count,
                    static_cast<uint16_t>(ri));
      }
    }
    ev->section_by_label.emplace(sl.label, si);
  }
  stats_.events++;
  events_.emplace(layout.event_id, std::move(ev));
  return {};
}

const SeatEngine::Event* SeatEngine::FindEvent(std::string_view event_id) const {
  if (last_event_ != nullptr && last_event_->id == event_id) return last_event_;
  auto it = events_.find(event_id);
  if (it == events_.end()) return nullptr;
  last_event_ = it->second.get();
  return last_event_;
}

SeatEngine::Event* SeatEngine::FindEvent(std::string_view event_id) {
  // The memo and the map hold the engine's own, mutable events; only the
  // const overload's return type adds the const.
  return const_cast<Event*>(std::as_const(*this).FindEvent(event_id));
}

const EventLayout* SeatEngine::Layout(std::string_view event_id) const {
  const Event* ev = FindEvent(event_id);
  return ev ? &ev->layout : nullptr;
}

int SeatEngine::SectionIndex(std::string_view event_id, std::string_view section) const {
  const Event* ev = FindEvent(event_id);
  if (!ev) return -1;
  auto it = ev->section_by_label.find(section);
  return it == ev->section_by_label.end() ? -1 : static_cast<int>(it->second);
}

ResolveResult SeatEngine::ResolveSeat(std::string_view event_id, const SeatLabel& label) const {
  const Event* ev = FindEvent(event_id);
  if (!ev)
    return {ResultCode::kEventNotFound, {}, absl::StrCat("no event '", ToAbsl(event_id), "'")};
  auto sit = ev->section_by_label.find(label.section);
  if (sit == ev->section_by_label.end()) {
    return {ResultCode::kUnknownSeat, {}, absl::StrCat("no section '", label.section, "'")};
  }
  const Section& sec = ev->sections[sit->second];
  auto rit = sec.row_by_label.find(label.row);
  if (rit == sec.row_by_label.end()) {
    return {ResultCode::kUnknownSeat,
            {},
            absl::StrCat("section '", label.section, "' has no row '", label.row, "'")};
  }
  const RowLayout& rl = ev->layout.sections[sit->second].rows[rit->second];
  const PickRow& row = sec.rows[rit->second];
  uint32_t offset = 0;
  bool found = false;
  if (rl.seat_labels.empty()) {
    uint32_t n = 0;
    found = absl::SimpleAtoi(label.seat, &n) && n >= 1 && n <= row.count &&
            std::to_string(n) == label.seat;
    offset = n - 1;
  } else {
    auto it = std::find(rl.seat_labels.begin(), rl.seat_labels.end(), label.seat);
    found = it != rl.seat_labels.end();
    offset = static_cast<uint32_t>(it - rl.seat_labels.begin());
  }
  if (!found) {
    return {ResultCode::kUnknownSeat,
            {},
            absl::StrCat("section '", label.section, "' row '", label.row, "' has no seat '",
                         label.seat, "'")};
  }
  return {ResultCode::kOk, SeatKey{sit->second, row.first + offset}, ""};
}

std::optional<SeatLabel> SeatEngine::LabelOf(std::string_view event_id, SeatKey key) const {
  const Event* ev = FindEvent(event_id);
  if (!ev || key.section >= ev->sections.size()) return std::nullopt;
  const Section& sec = ev->sections[key.section];
  if (key.seat >= sec.total) return std::nullopt;
  auto it = std::upper_bound(sec.rows.begin(), sec.rows.end(), key.seat,
                             [](uint32_t seat, const PickRow& r) { return seat < r.first; });
  const uint32_t ri = static_cast<uint32_t>(it - sec.rows.begin()) - 1;
  const RowLayout& rl = ev->layout.sections[key.section].rows[ri];
  const uint32_t offset = key.seat - sec.rows[ri].first;
  return SeatLabel{sec.label, rl.label,
                   rl.seat_labels.empty() ? std::to_string(offset + 1) : rl.seat_labels[offset]};
}

std::vector<std::string> SeatEngine::EventIds() const {
  std::vector<std::string> ids;
  for (const auto& [id, ev] : events_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

// ---------------------------------------------------------------------------
// Holds

SimpleResult SeatEngine::CheckHolder(std::string_view holder) const {
  if (holder.empty()) return Fail(ResultCode::kInvalidArgument, "holder is empty");
  if (holder.size() > options_.limits.max_holder_len) {
    return Fail(ResultCode::kLimitExceeded,
                absl::StrCat("holder longer than ", options_.limits.max_holder_len, " bytes"));
  }
  return {};
}

SimpleResult SeatEngine::CheckTtl(int64_t ttl_ms) const {
  if (ttl_ms <= 0) return Fail(ResultCode::kInvalidArgument, "ttl_ms must be positive");
  if (ttl_ms > options_.limits.max_ttl_ms) {
    return Fail(ResultCode::kLimitExceeded, absl::StrCat("ttl_ms ", ttl_ms, " exceeds the maximum ",
                                                         options_.limits.max_ttl_ms));
  }
  return {};
}

uint64_t SeatEngine::MakeHoldId(uint64_t fencing) const {
  return (static_cast<uint64_t>(options_.shard_index) << 56) | fencing;
}

SeatEngine::HoldSlot* SeatEngine::FindHold(uint64_t hold_id) {
  auto it = live_ids_.find(hold_id);
  return it == live_ids_.end() ? nullptr : &holds_[it->second];
}

uint64_t SeatEngine::TimerPayload(const HoldSlot& h) const {
  return (static_cast<uint64_t>(h.generation) << 32) | static_cast<uint32_t>(&h - holds_.data());
}

std::string SeatEngine::NotFoundDetail(uint64_t hold_id) const {
  if (lapsed_.evicted() > 0 || stats_.lapsed_holds_purged > 0) {
    return absl::StrCat("no hold ", hold_id,
                        " (if it lapsed, it may have been forgotten: lapsed holds are kept for "
                        "lapsed_hold_retention_ms and within max_lapsed_hold_bytes)");
  }
  return absl::StrCat("no hold ", hold_id);
}

void SeatEngine::Emit(ChangeKind kind, const Event& ev, uint64_t hold_id, uint64_t booking_id,
                      uint64_t fencing, absl::Span<const SeatKey> seats, int64_t now) {
  ++change_seq_;
  if (options_.sink == nullptr) return;
  ChangeRecord rec;
  rec.seq = change_seq_;
  rec.time_ms = now;
  rec.kind = kind;
  rec.event_id = ev.id;
  rec.hold_id = hold_id;
  rec.booking_id = booking_id;
  rec.fencing_token = fencing;
  rec.seats = seats;
  options_.sink->OnChange(rec);
}

HoldResult SeatEngine::Hold(std::string_view event_id, absl::Span<const SeatKey> seats,
                            std::string_view holder, int64_t ttl_ms) {
  CheckThread();
  const int64_t now = Now();  // one instant for the expiry and the grant
  ExpireDueAt(now);
  HoldResult r;
  auto fail = [&](SimpleResult s) {
    r.code = s.code;
    r.detail = std::move(s.detail);
    stats_.holds_refused++;
    return std::move(r);
  };
  if (SimpleResult s = CheckHolder(holder); !s.ok()) return fail(std::move(s));
  if (SimpleResult s = CheckTtl(ttl_ms); !s.ok()) return fail(std::move(s));
  if (seats.empty()) return fail(Fail(ResultCode::kInvalidArgument, "no seats requested"));
  if (seats.size() > options_.limits.max_seats_per_hold) {
    return fail(Fail(ResultCode::kLimitExceeded,
                     absl::StrCat(seats.size(), " seats exceeds the maximum of ",
                                  options_.limits.max_seats_per_hold, " per hold")));
  }
  Event* ev = FindEvent(event_id);
  if (!ev)
    return fail(
        Fail(ResultCode::kEventNotFound, absl::StrCat("no event '", ToAbsl(event_id), "'")));
  return Grant(*ev, seats, holder, ttl_ms, now);
}

HoldResult SeatEngine::Grant(Event& ev, absl::Span<const SeatKey> seats, std::string_view holder,
                             int64_t ttl_ms, int64_t now) {
  HoldResult r;
  auto fail = [&](ResultCode code, std::string detail) {
    r.code = code;
    r.detail = std::move(detail);
    stats_.holds_refused++;
    return std::move(r);
  };
  for (size_t i = 0; i < seats.size(); ++i) {
    const SeatKey k = seats[i];
    if (k.section >= ev.sections.size() || k.seat >= ev.sections[k.section].total) {
      return fail(ResultCode::kUnknownSeat,
                  absl::StrCat("no seat ", k.section, "/", k.seat, " in event '", ev.id, "'"));
    }
    const Section& sec = ev.sections[k.section];
    if (!sec.owned) {
      return fail(ResultCode::kWrongShard,
                  absl::StrCat("section '", sec.label, "' is owned by another shard"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (seats[j] == k) {
        return fail(ResultCode::kDuplicateSeat,
                    absl::StrCat("seat ", k.section, "/", k.seat, " requested twice"));
      }
    }
    if (sec.words[k.seat] != 0) r.conflicts.push_back(ConflictAt(k, sec.words[k.seat]));
  }
  if (!r.conflicts.empty()) {
    // One seat asked, one taken (most refusals): a detail short enough for
    // std::string's inline buffer, so the refusal allocates nothing.
    return fail(ResultCode::kSeatUnavailable,
                seats.size() == 1 ? std::string("seat not free")
                                  : absl::StrCat(r.conflicts.size(), " of ", seats.size(),
                                                 " seats are not free"));
  }
  if (stats_.live_holds >= options_.limits.max_live_holds) {
    return fail(ResultCode::kCapacityExhausted,
                absl::StrCat("shard holds ", stats_.live_holds, " live holds, the maximum"));
  }
  if (next_fencing_ > kMaxHoldToken) {
    return fail(ResultCode::kCapacityExhausted, "this shard has used up its fencing tokens");
  }
  if (next_fencing_ > fencing_ceiling_) {
    return fail(ResultCode::kCapacityExhausted,
                "no fencing tokens are reserved durably (is the write-ahead log failing?)");
  }
  HoldSlot& h = TakeSlot();
  h.event = &ev;
  h.holder.assign(holder.data(), holder.size());
  h.seats.assign(seats.begin(), seats.end());
  h.created_ms = now;
  h.expires_ms = now + ttl_ms;
  h.fencing = next_fencing_++;
  ArmTimer(h);
  MarkHeld(h);
  stats_.holds_granted++;
  const uint64_t id = MakeHoldId(h.fencing);
  Emit(ChangeKind::kHeld, ev, id, 0, h.fencing, h.seats, now);
  if (options_.journal != nullptr) options_.journal->OnHoldSet(ImageOf(h, now));
  r.hold_id = id;
  r.fencing_token = h.fencing;
  r.expires_ms = h.expires_ms;
  r.remaining_ms = ttl_ms;
  r.seats = h.seats;
  return r;
}

HoldResult SeatEngine::HoldBestAvailable(std::string_view event_id, int section, uint32_t count,
                                         bool together, std::string_view holder, int64_t ttl_ms) {
  CheckThread();
  ExpireDue();
  HoldResult r;
  auto fail = [&](ResultCode code, std::string detail) {
    r.code = code;
    r.detail = std::move(detail);
    stats_.holds_refused++;
    return std::move(r);
  };
  if (SimpleResult s = CheckHolder(holder); !s.ok()) return fail(s.code, std::move(s.detail));
  if (SimpleResult s = CheckTtl(ttl_ms); !s.ok()) return fail(s.code, std::move(s.detail));
  if (count == 0) return fail(ResultCode::kInvalidArgument, "count must be positive");
  if (count > options_.limits.max_seats_per_hold) {
    return fail(ResultCode::kLimitExceeded,
                absl::StrCat(count, " seats exceeds the maximum of ",
                             options_.limits.max_seats_per_hold, " per hold"));
  }
  Event* ev = FindEvent(event_id);
  if (!ev)
    return fail(ResultCode::kEventNotFound, absl::StrCat("no event '", ToAbsl(event_id), "'"));
  uint32_t lo = 0, hi = static_cast<uint32_t>(ev->sections.size());
  if (section >= 0) {
    if (static_cast<uint32_t>(section) >= ev->sections.size()) {
      return fail(ResultCode::kUnknownSeat, absl::StrCat("no section index ", section));
    }
    if (!ev->sections[section].owned) {
      return fail(ResultCode::kWrongShard, absl::StrCat("section '", ev->sections[section].label,
                                                        "' is owned by another shard"));
    }
    lo = static_cast<uint32_t>(section);
    hi = lo + 1;
  }
  // Together: the first section (in preference order) with an orphan-free
  // block wins; otherwise the first block found that leaves an orphan.
  std::optional<std::pair<uint32_t, BlockPick>> fallback;
  uint64_t free_total = 0;
  for (uint32_t si = lo; si < hi; ++si) {
    const Section& sec = ev->sections[si];
    if (!sec.owned) continue;
    free_total += sec.free;
    if (sec.free < count) continue;
    const BlockPick pick = FindBestBlock(
        sec.rows, [&sec](uint32_t s) { return sec.words[s] == 0; }, count);
    if (!pick.found) continue;
    if (!pick.leaves_orphan) {
      fallback = {si, pick};
      break;
    }
    if (!fallback) fallback = {si, pick};
  }
  SeatList chosen;
  if (fallback) {
    for (uint32_t i = 0; i < count; ++i)
      chosen.push_back({fallback->first, fallback->second.start + i});
  } else if (free_total < count) {
    return fail(ResultCode::kNotEnoughSeats,
                absl::StrCat("only ", free_total, " free seats, ", count, " requested"));
  } else if (together) {
    return fail(ResultCode::kNoAdjacentSeats,
                absl::StrCat("no row has ", count, " free seats together"));
  } else {
    std::vector<uint32_t> picked;
    for (uint32_t si = lo; si < hi && chosen.size() < count; ++si) {
      const Section& sec = ev->sections[si];
      if (!sec.owned || sec.free == 0) continue;
      picked.clear();
      PickScattered(
          sec.rows, [&sec](uint32_t s) { return sec.words[s] == 0; },
          count - static_cast<uint32_t>(chosen.size()), &picked);
      for (uint32_t s : picked) chosen.push_back({si, s});
    }
  }
  return Grant(*ev, chosen, holder, ttl_ms, Now());
}

ExtendResult SeatEngine::Extend(uint64_t hold_id, std::string_view holder, int64_t ttl_ms) {
  CheckThread();
  ExpireDue();
  ExtendResult r;
  auto fail = [&](ResultCode code, std::string detail) {
    r.code = code;
    r.detail = std::move(detail);
    return std::move(r);
  };
  if (SimpleResult s = CheckTtl(ttl_ms); !s.ok()) return fail(s.code, std::move(s.detail));
  HoldSlot* h = FindHold(hold_id);
  const int64_t now = Now();
  if (h != nullptr && h->holder == holder && h->expires_ms <= now) {
    OnTimer(TimerPayload(*h));  // due this tick: expire it now
    h = nullptr;
  }
  if (h == nullptr) {
    const LapsedHold* l = lapsed_.Find(hold_id);
    if (l == nullptr) return fail(ResultCode::kHoldNotFound, NotFoundDetail(hold_id));
    if (l->holder != holder)
      return fail(ResultCode::kNotHolder, "the hold belongs to another holder");
    return fail(ResultCode::kHoldExpired, "the hold expired; its seats were released");
  }
  if (h->holder != holder)
    return fail(ResultCode::kNotHolder, "the hold belongs to another holder");
  int64_t deadline = now + ttl_ms;
  const int64_t cap = h->created_ms + options_.limits.max_hold_lifetime_ms;
  if (deadline > cap) {
    if (cap <= h->expires_ms) {
      return fail(ResultCode::kLifetimeExceeded,
                  absl::StrCat("the hold already runs to its maximum lifetime of ",
                               options_.limits.max_hold_lifetime_ms, " ms"));
    }
    deadline = cap;
    r.capped = true;
  }
  wheel_.Cancel(h->timer);
  h->expires_ms = deadline;
  ArmTimer(*h);
  stats_.holds_extended++;
  if (options_.journal != nullptr) options_.journal->OnHoldSet(ImageOf(*h, now));
  r.expires_ms = deadline;
  r.remaining_ms = deadline - now;
  return r;
}

SeatConflict SeatEngine::ConflictAt(SeatKey k, uint32_t word) const {
  if ((word & kTagMask) == kHeldTag)
    return {k, SeatState::kHeld, hold_deadline_[word & kIndexMask]};
  return {k, SeatState::kSold, 0};
}

void SeatEngine::FreeSoldSeats(uint32_t booking_index) {
  Booking& b = bookings_[booking_index];
  b.cancelled = true;
  for (const SeatKey k : b.seats) {
    Section& sec = b.event->sections[k.section];
    if (!sec.owned || sec.words[k.seat] != (kSoldTag | booking_index)) continue;
    sec.words[k.seat] = 0;
    sec.rows[sec.seat_row[k.seat]].free++;
    sec.free++;
    sec.sold--;
  }
  stats_.bookings_cancelled++;
}

void SeatEngine::FreeHeldSeats(HoldSlot& h) {
  const uint32_t slot = static_cast<uint32_t>(&h - holds_.data());
  for (const SeatKey k : h.seats) {
    Section& sec = h.event->sections[k.section];
    if (sec.words[k.seat] != (kHeldTag | slot)) continue;  // defensive; cannot happen
    sec.words[k.seat] = 0;
    sec.rows[sec.seat_row[k.seat]].free++;
    sec.free++;
    sec.held--;
  }
  stats_.live_holds--;
}

SimpleResult SeatEngine::Release(uint64_t hold_id, std::string_view holder) {
  CheckThread();
  ExpireDue();
  HoldSlot* h = FindHold(hold_id);
  const int64_t now = Now();
  if (h != nullptr && h->holder == holder && h->expires_ms <= now) {
    OnTimer(TimerPayload(*h));  // due this tick: expire it now
    h = nullptr;
  }
  if (h == nullptr) {
    const LapsedHold* l = lapsed_.Find(hold_id);
    if (l == nullptr) return Fail(ResultCode::kHoldNotFound, NotFoundDetail(hold_id));
    if (l->holder != holder)
      return Fail(ResultCode::kNotHolder, "the hold belongs to another holder");
    lapsed_.Erase(hold_id);  // the holder gave up on it: no late confirm will come
    stats_.lapsed_holds = lapsed_.size();
    return Fail(ResultCode::kHoldExpired, "the hold had already expired");
  }
  if (h->holder != holder)
    return Fail(ResultCode::kNotHolder, "the hold belongs to another holder");
  wheel_.Cancel(h->timer);
  FreeHeldSeats(*h);
  stats_.holds_released++;
  Emit(ChangeKind::kReleased, *h->event, hold_id, 0, h->fencing, h->seats, now);
  FreeSlot(*h);
  return {};
}

void SeatEngine::FreeSlot(HoldSlot& h) {
  live_ids_.erase(MakeHoldId(h.fencing));
  if (options_.journal != nullptr) options_.journal->OnHoldGone(MakeHoldId(h.fencing));
  h.state = HoldSlot::kFreeSlot;
  h.holder.clear();
  h.seats.clear();
  free_hold_slots_.push_back(static_cast<uint32_t>(&h - holds_.data()));
}

// Timer payloads: generation << 32 | slot (the generation tells a stale
// timer from the slot's current hold).
void SeatEngine::OnTimer(uint64_t payload) {
  const uint32_t slot = static_cast<uint32_t>(payload);
  const uint32_t gen = static_cast<uint32_t>(payload >> 32) & kGenerationMask;
  if (slot >= holds_.size()) return;
  HoldSlot& h = holds_[slot];
  if (h.generation != gen || h.state != HoldSlot::kLive) return;
  wheel_.Cancel(h.timer);  // no-op when called from the wheel
  FreeHeldSeats(h);
  stats_.holds_expired++;
  const uint64_t id = MakeHoldId(h.fencing);
  // Report the expiry at the deadline, which is when it logically happened.
  Emit(ChangeKind::kExpired, *h.event, id, 0, h.fencing, h.seats, h.expires_ms);
  if (options_.limits.lapsed_hold_retention_ms > 0) {
    lapsed_.Add(LapsedHold{.hold_id = id,
                           .event = h.event,
                           .holder = std::move(h.holder),
                           .seats = std::move(h.seats),
                           .created_ms = h.created_ms,
                           .expires_ms = h.expires_ms});
    stats_.lapsed_holds = lapsed_.size();
  }
  FreeSlot(h);
}

void SeatEngine::PurgeLapsed(int64_t now) {
  if (lapsed_.size() == 0) return;
  const size_t n = lapsed_.PurgeLapsedBefore(now - options_.limits.lapsed_hold_retention_ms);
  if (n == 0) return;
  stats_.lapsed_holds_purged += n;
  stats_.lapsed_holds = lapsed_.size();
}

size_t SeatEngine::ExpireDue() { return ExpireDueAt(Now()); }

size_t SeatEngine::ExpireDueAt(int64_t now) {
  const size_t n = wheel_.Advance(TickOf(now), [this](uint64_t payload) { OnTimer(payload); });
  PurgeLapsed(now);
  return n;
}

int64_t SeatEngine::MsUntilNextTimer() const {
  if (wheel_.size() == 0) return -1;
  const int64_t wake_ms = wheel_.NextWakeHint() * options_.limits.tick_ms;
  return std::max<int64_t>(0, wake_ms - Now());
}

// ---------------------------------------------------------------------------
// Confirm and bookings

void SeatEngine::PurgeIdempotency(int64_t now) {
  while (!idem_records_.empty() && idem_records_.front().expires_ms <= now) {
    if (!idem_records_.front().erased) idempotency_.Erase(idem_records_.front().key);
    idem_records_.pop_front();
    ++idem_first_seq_;
  }
}

ConfirmResult SeatEngine::Confirm(uint64_t hold_id, std::string_view holder,
                                  std::string_view idempotency_key, std::string_view payment_ref) {
  CheckThread();
  ExpireDue();
  const int64_t now = Now();
  ConfirmResult r;
  auto fail = [&](ResultCode code, std::string detail) {
    r.code = code;
    r.detail = std::move(detail);
    return std::move(r);
  };
  if (SimpleResult s = CheckHolder(holder); !s.ok()) return fail(s.code, std::move(s.detail));
  if (idempotency_key.empty())
    return fail(ResultCode::kInvalidArgument, "idempotency key is empty");
  if (idempotency_key.size() > options_.limits.max_idempotency_key_len) {
    return fail(ResultCode::kLimitExceeded, absl::StrCat("idempotency key longer than ",
                                                         options_.limits.max_idempotency_key_len));
  }
  if (payment_ref.size() > options_.limits.max_payment_ref_len) {
    return fail(ResultCode::kLimitExceeded,
                absl::StrCat("payment ref longer than ", options_.limits.max_payment_ref_len));
  }
  PurgeIdempotency(now);
  if (const IdemRecord* found = FindIdem(idempotency_key)) {
    const IdemRecord& rec = *found;
    if (rec.hold_id != hold_id || rec.holder != holder || rec.payment_ref != payment_ref) {
      return fail(ResultCode::kIdempotencyMismatch,
                  "this idempotency key was used with a different hold, holder or payment ref");
    }
    stats_.confirms_replayed++;
    ConfirmResult replay = rec.result;
    replay.replayed = true;
    return replay;
  }
  HoldSlot* h = FindHold(hold_id);
  if (h != nullptr && h->holder == holder && h->expires_ms <= now) {
    OnTimer(TimerPayload(*h));  // due this tick: it lapses now
    h = nullptr;
  }
  LapsedHold* l = h == nullptr ? lapsed_.Find(hold_id) : nullptr;
  if (h == nullptr && l == nullptr) return fail(ResultCode::kHoldNotFound, NotFoundDetail(hold_id));
  if ((h != nullptr ? h->holder : l->holder) != holder)
    return fail(ResultCode::kNotHolder, "the hold belongs to another holder");
  const bool lapsed = l != nullptr;
  Event& ev = lapsed ? *l->event : *h->event;
  const SeatList& seats = lapsed ? l->seats : h->seats;
  if (lapsed) {
    for (const SeatKey k : seats) {
      const uint32_t word = ev.sections[k.section].words[k.seat];
      if (word != 0) r.conflicts.push_back(ConflictAt(k, word));
    }
    if (!r.conflicts.empty()) {
      r.code = ResultCode::kHoldExpiredSeatsTaken;
      r.detail = SeatsTakenDetail(r.conflicts.size());
      r.hold_lapsed = true;
      r.seats = seats;
      r.confirmed_ms = now;
      stats_.late_confirms_refused++;
      AddIdem(idempotency_key, now + options_.limits.idempotency_retention_ms,
              IdemRecord{hold_id, std::string(holder), std::string(payment_ref), r, ev.id});
      return r;
    }
  }
  if (bookings_.size() >= kIndexMask) {
    return fail(ResultCode::kCapacityExhausted, "this shard cannot record more bookings");
  }
  // Sell. A lapsed hold's seats are taken afresh, so they get a new token.
  const uint64_t fencing = lapsed ? next_fencing_++ : h->fencing;
  const uint32_t bidx = static_cast<uint32_t>(bookings_.size());
  Booking& b = bookings_.emplace_back();
  b.id = (static_cast<uint64_t>(options_.shard_index) << 56) | next_booking_seq_++;
  b.hold_id = hold_id;
  b.fencing = fencing;
  b.event = &ev;
  b.holder.assign(holder.data(), holder.size());
  b.payment_ref.assign(payment_ref.data(), payment_ref.size());
  b.seats = seats;
  b.confirmed_ms = now;
  b.hold_lapsed = lapsed;
  b.idempotency_key.assign(idempotency_key.data(), idempotency_key.size());
  booking_index_.Emplace(b.id, bidx);
  for (const SeatKey k : b.seats) {
    Section& sec = ev.sections[k.section];
    if (!lapsed) {
      sec.held--;
    } else {
      sec.free--;
      sec.rows[sec.seat_row[k.seat]].free--;
    }
    sec.sold++;
    sec.words[k.seat] = kSoldTag | bidx;
  }
  if (lapsed) {
    lapsed_.Erase(hold_id);
    stats_.lapsed_holds = lapsed_.size();
    stats_.late_confirms++;
  } else {
    wheel_.Cancel(h->timer);
    stats_.live_holds--;
    FreeSlot(*h);
  }
  stats_.confirms++;
  stats_.bookings++;
  Emit(ChangeKind::kSold, ev, hold_id, b.id, fencing, b.seats, now);
  r.code = ResultCode::kOk;
  r.booking_id = b.id;
  r.fencing_token = fencing;
  r.hold_lapsed = lapsed;
  r.seats = b.seats;
  r.confirmed_ms = now;
  r.change_seq = change_seq_;
  if (lapsed) r.detail = kLapsedSoldDetail;
  AddIdem(idempotency_key, now + options_.limits.idempotency_retention_ms,
          IdemRecord{hold_id, std::string(holder), std::string(payment_ref), r});
  return r;
}

SimpleResult SeatEngine::CancelBooking(uint64_t booking_id) {
  CheckThread();
  ExpireDue();
  const uint32_t* index = booking_index_.Find(booking_id);
  if (index == nullptr) {
    return Fail(ResultCode::kBookingNotFound, absl::StrCat("no booking ", booking_id));
  }
  Booking& b = bookings_[*index];
  if (b.cancelled) return Fail(ResultCode::kBookingCancelled, "the booking was already cancelled");
  FreeSoldSeats(*index);
  Emit(ChangeKind::kCancelled, *b.event, b.hold_id, b.id, b.fencing, b.seats, Now());
  return {};
}

std::optional<BookingInfo> SeatEngine::GetBooking(uint64_t booking_id) const {
  BookingInfo out;
  if (!CopyBooking(booking_id, &out)) return std::nullopt;
  return out;
}

bool SeatEngine::CopyBooking(uint64_t booking_id, BookingInfo* out) const {
  const uint32_t* index = booking_index_.Find(booking_id);
  if (index == nullptr) return false;
  const Booking& b = bookings_[*index];
  out->booking_id = b.id;
  out->hold_id = b.hold_id;
  out->fencing_token = b.fencing;
  out->event_id.assign(b.event->id);
  out->holder.assign(b.holder);
  out->payment_ref.assign(b.payment_ref);
  out->seats.assign(b.seats.begin(), b.seats.end());
  out->confirmed_ms = b.confirmed_ms;
  out->cancelled = b.cancelled;
  out->idempotency_key.assign(b.idempotency_key);
  out->hold_lapsed = b.hold_lapsed;
  return true;
}

std::string_view SeatEngine::EventIdOfHold(uint64_t hold_id) {
  CheckThread();
  if (const HoldSlot* h = FindHold(hold_id)) return h->event->id;
  if (const LapsedHold* l = lapsed_.Find(hold_id)) return l->event->id;
  return {};
}

std::string_view SeatEngine::EventIdOfBooking(uint64_t booking_id) const {
  const uint32_t* index = booking_index_.Find(booking_id);
  return index == nullptr ? std::string_view() : bookings_[*index].event->id;
}

// ---------------------------------------------------------------------------
// Reads

Availability SeatEngine::GetAvailability(std::string_view event_id) {
  CheckThread();
  ExpireDue();
  Availability a;
  const Event* ev = FindEvent(event_id);
  if (!ev) {
    a.code = ResultCode::kEventNotFound;
    return a;
  }
  for (const Section& sec : ev->sections) {
    a.sections.push_back({sec.label, sec.total, sec.free, sec.held, sec.sold, sec.owned});
    if (!sec.owned) continue;
    a.total += sec.total;
    a.free += sec.free;
    a.held += sec.held;
    a.sold += sec.sold;
  }
  return a;
}

SectionSeats SeatEngine::GetSeats(std::string_view event_id, int section) {
  CheckThread();
  ExpireDue();
  SectionSeats out;
  const Event* ev = FindEvent(event_id);
  if (!ev) {
    out.code = ResultCode::kEventNotFound;
    out.detail = absl::StrCat("no event '", ToAbsl(event_id), "'");
    return out;
  }
  if (section < 0 || static_cast<size_t>(section) >= ev->sections.size()) {
    out.code = ResultCode::kUnknownSeat;
    out.detail = absl::StrCat("no section index ", section);
    return out;
  }
  const Section& sec = ev->sections[section];
  if (!sec.owned) {
    out.code = ResultCode::kWrongShard;
    out.detail = absl::StrCat("section '", sec.label, "' is owned by another shard");
    return out;
  }
  for (uint32_t ri = 0; ri < sec.rows.size(); ++ri) {
    out.row_labels.push_back(ev->layout.sections[section].rows[ri].label);
    out.row_first_seat.push_back(sec.rows[ri].first);
  }
  out.seats.reserve(sec.total);
  for (uint32_t s = 0; s < sec.total; ++s) out.seats.push_back(ViewOf(sec, s));
  return out;
}

SeatView SeatEngine::ViewOf(const Section& sec, uint32_t seat) const {
  SeatView v;
  v.seat = seat;
  v.row = sec.seat_row[seat];
  const uint32_t word = sec.words[seat];
  v.state = StateOf(word);
  if (v.state == SeatState::kHeld) {
    const HoldSlot& h = holds_[word & kIndexMask];
    v.owner_id = MakeHoldId(h.fencing);
    v.held_until_ms = h.expires_ms;
  } else if (v.state == SeatState::kSold) {
    v.owner_id = bookings_[word & kIndexMask].id;
  }
  return v;
}

std::optional<SeatView> SeatEngine::PeekSeat(std::string_view event_id, SeatKey key) const {
  CheckThread();
  const Event* ev = FindEvent(event_id);
  if (ev == nullptr || key.section >= ev->sections.size()) return std::nullopt;
  const Section& sec = ev->sections[key.section];
  if (!sec.owned || key.seat >= sec.total) return std::nullopt;
  return ViewOf(sec, key.seat);
}

HoldInfo SeatEngine::InfoOf(const HoldSlot& h) const {
  return HoldInfo{MakeHoldId(h.fencing), h.event->id,  h.holder,  h.seats,
                  h.created_ms,          h.expires_ms, h.fencing, HoldStatus::kLive};
}

std::optional<HoldInfo> SeatEngine::GetHold(uint64_t hold_id) {
  CheckThread();
  ExpireDue();
  if (const HoldSlot* h = FindHold(hold_id)) return InfoOf(*h);
  if (const LapsedHold* l = lapsed_.Find(hold_id)) {
    return HoldInfo{l->hold_id,
                    l->event->id,
                    l->holder,
                    l->seats,
                    l->created_ms,
                    l->expires_ms,
                    hold_id & kMaxHoldToken,
                    HoldStatus::kLapsed};
  }
  return std::nullopt;
}

std::vector<HoldInfo> SeatEngine::ListHolds(std::string_view event_id, std::string_view holder,
                                            uint32_t limit) {
  CheckThread();
  ExpireDue();
  std::vector<HoldInfo> out;
  for (const HoldSlot& h : holds_) {
    if (out.size() >= limit) break;
    if (h.state != HoldSlot::kLive) continue;
    if (!event_id.empty() && h.event->id != event_id) continue;
    if (!holder.empty() && h.holder != holder) continue;
    out.push_back(InfoOf(h));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Recovery

bool SeatEngine::RestoreSale(const DurableSale& sale) {
  CheckThread();
  Event* ev = FindEvent(sale.event_id);
  if (ev == nullptr) return false;
  RaiseFencingFloor(sale.fencing_token);
  if (ShardOfId(sale.booking_id) == options_.shard_index) {
    next_booking_seq_ =
        std::max(next_booking_seq_, (sale.booking_id & ((uint64_t{1} << 56) - 1)) + 1);
  }
  if (booking_index_.contains(sale.booking_id)) return true;  // already applied
  bool owns_any = false;
  for (const SeatKey k : sale.seats) {
    if (k.section >= ev->sections.size() || k.seat >= ev->sections[k.section].total) return false;
    const Section& sec = ev->sections[k.section];
    if (!sec.owned) continue;
    owns_any = true;
    if ((sec.words[k.seat] & kTagMask) == kSoldTag) return false;  // sold twice: inconsistent
  }
  if (owns_any) {
    // A replicated hold on a seat the log sold (usually the sale's own):
    // the log wins.
    for (const SeatKey k : sale.seats) {
      const Section& sec = ev->sections[k.section];
      if (!sec.owned || (sec.words[k.seat] & kTagMask) != kHeldTag) continue;
      DropHold(MakeHoldId(holds_[sec.words[k.seat] & kIndexMask].fencing));
    }
  }
  if (!owns_any) return true;  // another shard's sale
  if (bookings_.size() >= kIndexMask) return false;
  const uint32_t bidx = static_cast<uint32_t>(bookings_.size());
  Booking& b = bookings_.emplace_back();
  b.id = sale.booking_id;
  b.hold_id = sale.hold_id;
  b.fencing = sale.fencing_token;
  b.event = ev;
  b.holder = sale.holder;
  b.payment_ref = sale.payment_ref;
  b.seats = sale.seats;
  b.confirmed_ms = sale.confirmed_ms;
  b.hold_lapsed = sale.hold_lapsed;
  b.idempotency_key = sale.idempotency_key;
  booking_index_.Emplace(b.id, bidx);
  for (const SeatKey k : sale.seats) {
    Section& sec = ev->sections[k.section];
    if (!sec.owned) continue;
    sec.words[k.seat] = kSoldTag | bidx;
    sec.rows[sec.seat_row[k.seat]].free--;
    sec.free--;
    sec.sold++;
  }
  stats_.bookings++;
  if (!sale.idempotency_key.empty()) {
    const int64_t expires = sale.confirmed_ms + options_.limits.idempotency_retention_ms;
    if (expires <= Now()) return true;
    if (idempotency_.contains(sale.idempotency_key)) return true;
    ConfirmResult r;
    r.code = ResultCode::kOk;
    r.booking_id = sale.booking_id;
    r.fencing_token = sale.fencing_token;
    r.hold_lapsed = sale.hold_lapsed;
    r.seats = sale.seats;
    r.confirmed_ms = sale.confirmed_ms;
    if (sale.hold_lapsed) r.detail = kLapsedSoldDetail;
    AddIdem(sale.idempotency_key, expires,
            IdemRecord{sale.hold_id, sale.holder, sale.payment_ref, std::move(r)});
  }
  return true;
}

void SeatEngine::RestoreRefusal(uint64_t hold_id, std::string_view event_id, const SeatList& seats,
                                const SeatList& taken, std::string_view holder,
                                std::string_view payment_ref, std::string_view idempotency_key,
                                int64_t refused_ms) {
  CheckThread();
  if (idempotency_key.empty() || idempotency_.contains(idempotency_key)) return;
  const int64_t expires = refused_ms + options_.limits.idempotency_retention_ms;
  if (expires <= Now() || FindEvent(event_id) == nullptr) return;
  ConfirmResult r;
  r.code = ResultCode::kHoldExpiredSeatsTaken;
  r.hold_lapsed = true;
  r.seats = seats;
  r.confirmed_ms = refused_ms;
  for (const SeatKey k : taken) r.conflicts.push_back({k, SeatState::kSold, 0});
  r.detail = SeatsTakenDetail(taken.size());
  AddIdem(idempotency_key, expires,
          IdemRecord{hold_id, std::string(holder), std::string(payment_ref), std::move(r),
                     std::string(event_id)});
}

bool SeatEngine::RestoreCancel(uint64_t booking_id) {
  CheckThread();
  const uint32_t* index = booking_index_.Find(booking_id);
  if (index == nullptr) return false;
  if (!bookings_[*index].cancelled) FreeSoldSeats(*index);
  return true;
}

HoldImage SeatEngine::ImageOf(const HoldSlot& h, int64_t now) const {
  HoldImage img;
  img.hold_id = MakeHoldId(h.fencing);
  img.fencing_token = h.fencing;
  img.event_id = h.event->id;
  img.holder = h.holder;
  img.seats.assign(h.seats.begin(), h.seats.end());
  img.remaining_ms = h.expires_ms - now;
  img.age_ms = now - h.created_ms;
  return img;
}

SeatEngine::HoldSlot& SeatEngine::TakeSlot() {
  uint32_t slot;
  if (!free_hold_slots_.empty()) {
    slot = free_hold_slots_.back();
    free_hold_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(holds_.size());
    holds_.emplace_back();
    hold_deadline_.push_back(0);
  }
  HoldSlot& h = holds_[slot];
  h.state = HoldSlot::kLive;
  h.generation = (h.generation + 1) & kGenerationMask;
  if (h.generation == 0) h.generation = 1;
  return h;
}

void SeatEngine::MarkHeld(HoldSlot& h) {
  const uint32_t slot = static_cast<uint32_t>(&h - holds_.data());
  for (const SeatKey k : h.seats) {
    Section& sec = h.event->sections[k.section];
    sec.words[k.seat] = kHeldTag | slot;
    sec.rows[sec.seat_row[k.seat]].free--;
    sec.free--;
    sec.held++;
  }
  stats_.live_holds++;
  live_ids_.emplace(MakeHoldId(h.fencing), slot);
}

void SeatEngine::ArmTimer(HoldSlot& h) {
  hold_deadline_[static_cast<size_t>(&h - holds_.data())] = h.expires_ms;
  const int64_t tick = (h.expires_ms + options_.limits.tick_ms - 1) / options_.limits.tick_ms;
  h.timer = wheel_.Arm(tick, TimerPayload(h));
}

bool SeatEngine::RestoreHold(const HoldImage& img) {
  CheckThread();
  if (img.remaining_ms <= 0 || img.fencing_token == 0 || img.fencing_token > kMaxHoldToken ||
      ShardOfId(img.hold_id) != options_.shard_index ||
      img.hold_id != MakeHoldId(img.fencing_token) || img.seats.empty()) {
    return false;
  }
  const int64_t now = Now();
  if (HoldSlot* live = FindHold(img.hold_id)) {
    if (!std::equal(live->seats.begin(), live->seats.end(), img.seats.begin(), img.seats.end()) ||
        live->holder != img.holder) {
      return false;
    }
    wheel_.Cancel(live->timer);
    live->expires_ms = now + img.remaining_ms;
    ArmTimer(*live);
    if (options_.journal != nullptr) options_.journal->OnHoldSet(ImageOf(*live, now));
    return true;
  }
  Event* ev = FindEvent(img.event_id);
  if (ev == nullptr) return false;
  for (size_t i = 0; i < img.seats.size(); ++i) {
    const SeatKey k = img.seats[i];
    if (k.section >= ev->sections.size() || k.seat >= ev->sections[k.section].total) return false;
    const Section& sec = ev->sections[k.section];
    if (!sec.owned || sec.words[k.seat] != 0) return false;
    for (size_t j = 0; j < i; ++j) {
      if (img.seats[j] == k) return false;
    }
  }
  if (stats_.live_holds >= options_.limits.max_live_holds) return false;
  HoldSlot& h = TakeSlot();
  h.event = ev;
  h.holder = img.holder;
  h.seats.assign(img.seats.begin(), img.seats.end());
  h.created_ms = now - std::max<int64_t>(img.age_ms, 0);
  h.expires_ms = now + img.remaining_ms;
  h.fencing = img.fencing_token;
  ArmTimer(h);
  MarkHeld(h);
  RaiseFencingFloor(img.fencing_token);
  Emit(ChangeKind::kHeld, *ev, img.hold_id, 0, h.fencing, h.seats, now);
  if (options_.journal != nullptr) options_.journal->OnHoldSet(ImageOf(h, now));
  return true;
}

bool SeatEngine::DropHold(uint64_t hold_id) {
  CheckThread();
  HoldSlot* h = FindHold(hold_id);
  if (h == nullptr) return false;
  wheel_.Cancel(h->timer);
  FreeHeldSeats(*h);
  Emit(ChangeKind::kReleased, *h->event, hold_id, 0, h->fencing, h->seats, Now());
  FreeSlot(*h);
  return true;
}

std::vector<HoldImage> SeatEngine::LiveHolds() const {
  const int64_t now = Now();
  std::vector<HoldImage> out;
  for (const HoldSlot& h : holds_) {
    if (h.state == HoldSlot::kLive) out.push_back(ImageOf(h, now));
  }
  return out;
}

void SeatEngine::RaiseFencingFloor(uint64_t high_water) {
  next_fencing_ = std::max(next_fencing_, high_water + 1);
}

size_t SeatEngine::booking_count() const { return bookings_.size(); }

BookingInfo SeatEngine::BookingAt(size_t index) const {
  const Booking& b = bookings_[index];
  return BookingInfo{b.id,        b.hold_id,         b.fencing,    b.event->id,
                     b.holder,    b.payment_ref,     b.seats,      b.confirmed_ms,
                     b.cancelled, b.idempotency_key, b.hold_lapsed};
}

std::vector<RefusalInfo> SeatEngine::Refusals() const {
  std::vector<RefusalInfo> out;
  for (const IdemRecord& rec : idem_records_) {
    if (rec.erased || rec.result.code != ResultCode::kHoldExpiredSeatsTaken) continue;
    RefusalInfo r;
    r.hold_id = rec.hold_id;
    r.event_id = rec.event_id;
    r.seats = rec.result.seats;
    for (const SeatConflict& c : rec.result.conflicts) r.taken.push_back(c.seat);
    r.holder = rec.holder;
    r.payment_ref = rec.payment_ref;
    r.idempotency_key = rec.key;
    r.refused_ms = rec.result.confirmed_ms;
    out.push_back(std::move(r));
  }
  return out;
}

EngineStats SeatEngine::Stats() const {
  EngineStats s = stats_;
  s.idempotency_records = idempotency_.size();
  s.fencing_high_water = fencing_high_water();
  s.change_seq = change_seq_;
  s.memory_bytes = MemoryBytes();
  s.lapsed_hold_bytes = lapsed_.bytes();
  s.lapsed_holds_evicted = lapsed_.evicted();
  return s;
}

size_t SeatEngine::MemoryBytes() const {
  size_t bytes = wheel_.MemoryBytes();
  for (const auto& [id, ev] : events_) {
    bytes += sizeof(Event) + id.capacity();
    for (const Section& sec : ev->sections) {
      bytes += sizeof(Section) + sec.words.capacity() * sizeof(uint32_t) +
               sec.seat_row.capacity() * sizeof(uint16_t) + sec.rows.capacity() * sizeof(PickRow) +
               sec.row_by_label.capacity() * (sizeof(std::string) + sizeof(uint32_t) + 1);
    }
    for (const SectionLayout& sl : ev->layout.sections) {
      bytes += sizeof(SectionLayout) + sl.rows.capacity() * sizeof(RowLayout);
      for (const RowLayout& rl : sl.rows) {
        for (const std::string& l : rl.seat_labels) bytes += sizeof(std::string) + l.capacity();
      }
    }
  }
  bytes += holds_.capacity() * (sizeof(HoldSlot) + sizeof(int64_t)) +
           free_hold_slots_.capacity() * sizeof(uint32_t) +
           live_ids_.capacity() * (sizeof(uint64_t) + sizeof(uint32_t) + 1) + lapsed_.MemoryBytes();
  bytes += bookings_.capacity() * sizeof(Booking) +
           booking_index_.capacity() * (sizeof(uint64_t) + sizeof(uint32_t) + 1);
  bytes += idempotency_.capacity() * (sizeof(std::string) + sizeof(uint64_t) + 1) +
           idem_records_.chunks() * RingDeque<IdemRecord>::kChunk * sizeof(IdemRecord);
  return bytes;
}

// ---------------------------------------------------------------------------
// Deleting an event

DeleteEventResult SeatEngine::DeleteEvent(std::string_view event_id, bool force) {
  CheckThread();
  ExpireDue();
  DeleteEventResult r;
  auto it = events_.find(event_id);
  if (it == events_.end()) {
    r.code = ResultCode::kEventNotFound;
    r.detail = absl::StrCat("no event '", std::string(event_id), "'");
    return r;
  }
  Event* ev = it->second.get();
  for (const HoldSlot& h : holds_) {
    if (h.state == HoldSlot::kLive && h.event == ev) ++r.live_holds;
  }
  if (r.live_holds > 0 && !force) {
    r.code = ResultCode::kEventHasLiveHolds;
    r.detail = absl::StrCat("event '", std::string(event_id), "' has ", r.live_holds,
                            " live hold(s); release them, let them expire, or delete with force");
    return r;
  }
  // Holds: live ones are released (subscribers see the seats freed),
  // lapsed ones forgotten; their ids then name nothing.
  const int64_t now = Now();
  for (HoldSlot& h : holds_) {
    if (h.state != HoldSlot::kLive || h.event != ev) continue;
    wheel_.Cancel(h.timer);
    FreeHeldSeats(h);
    stats_.holds_released++;
    r.holds_released++;
    Emit(ChangeKind::kReleased, *ev, MakeHoldId(h.fencing), 0, h.fencing, h.seats, now);
    h.event = nullptr;
    FreeSlot(h);
  }
  lapsed_.EraseIf([ev](const LapsedHold& l) { return l.event == ev; });
  stats_.lapsed_holds = lapsed_.size();
  // Bookings: removed, the rest moved down; the SOLD words of other events
  // name bookings by index, so they are renumbered.
  absl::flat_hash_set<uint64_t> dropped;
  std::vector<uint32_t> remap(bookings_.size(), 0);
  uint32_t kept = 0;
  for (uint32_t i = 0; i < bookings_.size(); ++i) {
    if (bookings_[i].event == ev) {
      dropped.insert(bookings_[i].id);
      booking_index_.Erase(bookings_[i].id);
      continue;
    }
    remap[i] = kept;
    if (kept != i) bookings_[kept] = std::move(bookings_[i]);
    ++kept;
  }
  if (!dropped.empty()) {
    bookings_.truncate(kept);  // frees the chunks no longer used
    booking_index_.ForEach([&remap](uint64_t, uint32_t& index) { index = remap[index]; });
    for (auto& [id, other] : events_) {
      if (other.get() == ev) continue;
      for (Section& sec : other->sections) {
        for (uint32_t& word : sec.words) {
          if ((word & kTagMask) == kSoldTag) word = kSoldTag | remap[word & kIndexMask];
        }
      }
    }
    stats_.bookings -= dropped.size();
  }
  r.bookings_dropped = dropped.size();
  // Idempotency records of its sales and refusals: a retried CONFIRM then
  // finds no record and no hold (HOLD_NOT_FOUND), and can never sell a seat
  // of an event defined again under the same id.
  // The records stay in idem_records_ (marked, for the purge to pop).
  for (IdemRecord& rec : idem_records_) {
    if (rec.erased) continue;
    if (dropped.contains(rec.result.booking_id) || rec.event_id == event_id) {
      idempotency_.Erase(rec.key);
      const int64_t expires = rec.expires_ms;
      rec = IdemRecord();  // frees its strings now
      rec.expires_ms = expires;
      rec.erased = true;
    }
  }
  if (last_event_ == it->second.get()) last_event_ = nullptr;
  events_.erase(it);
  stats_.events--;
  ++deletions_;
  return r;
}

}  // namespace seatlock
