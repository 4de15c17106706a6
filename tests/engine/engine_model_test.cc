// Randomized model-based test: drives SeatEngine and a naive std::map model
// through the same random operations and requires them to agree on every
// result code, every refusal's conflict list and every seat's state, and
// checks the engine's invariants after every step.
//
// Seed: SEATLOCK_SEED (decimal) if set, else a fixed default; printed at the
// start so a failure can be replayed. Operation count: SEATLOCK_MODEL_OPS
// (default 100,000).
//
// The model implements the rules from seat_engine.h independently:
//  * a hold with deadline D is live iff now < D; every operation first expires
//    what is due; a lapsed hold is remembered for lapsed_hold_retention_ms
//    after its deadline (for late CONFIRM), then forgotten;
//  * HOLD is all or nothing; malformed requests are refused before seat
//    availability is considered, and availability before shard capacity;
//  * EXTEND sets the deadline to now + ttl, cut to created + max lifetime;
//  * CONFIRM is idempotent on its key for idempotency_retention_ms;
//  * best-available picks a block of adjacent free seats in one row, preferring
//    (no single orphan seat left) > section order > row nearest the stage >
//    centre of the row > lower seat index; without a block and together=false
//    it takes scattered seats, front rows first.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/clock.h"
#include "engine/layout.h"
#include "engine/limits.h"
#include "engine/result_code.h"
#include "engine/seat_engine.h"

namespace seatlock {

void PrintTo(ResultCode code, std::ostream* os) { *os << ResultCodeName(code); }
void PrintTo(SeatState s, std::ostream* os) { *os << SeatStateName(s); }
void PrintTo(ChangeKind k, std::ostream* os) { *os << ChangeKindName(k); }
void PrintTo(const SeatKey& k, std::ostream* os) { *os << k.section << "/" << k.seat; }
void PrintTo(const SeatConflict& c, std::ostream* os) {
  *os << "{" << c.seat.section << "/" << c.seat.seat << " " << SeatStateName(c.state) << " "
      << c.held_until_ms << "}";
}

namespace {

constexpr int64_t kSec = 1000;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kStart = 1'700'000'000'000;
constexpr uint8_t kShard = 3;
constexpr uint64_t kFencingFloor = 500;

EngineLimits ModelLimits() {
  EngineLimits l;
  l.max_seats_per_hold = 6;
  l.max_ttl_ms = 20 * kMin;
  l.max_hold_lifetime_ms = 25 * kMin;
  l.max_label_len = 10;
  l.max_holder_len = 12;
  l.max_idempotency_key_len = 16;
  l.max_payment_ref_len = 16;
  l.max_sections_per_event = 4;
  l.max_rows_per_section = 6;
  l.max_seats_per_event = 120;
  l.max_live_holds = 12;
  l.max_list_results = 100'000;
  l.idempotency_retention_ms = 2 * 60 * kMin;
  l.lapsed_hold_retention_ms = 30 * kMin;
  l.tick_ms = 1;
  return l;
}

// Sections whose label starts with 'X' belong to another shard.
bool Owned(std::string_view section) { return section.empty() || section[0] != 'X'; }

std::string Str(const std::vector<SeatKey>& seats) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < seats.size(); ++i) {
    os << (i ? " " : "") << seats[i].section << "/" << seats[i].seat;
  }
  os << "]";
  return os.str();
}

std::vector<SeatKey> ToVec(const SeatList& l) { return {l.begin(), l.end()}; }

// ---------------------------------------------------------------------------
// Change recording

struct Rec {
  uint64_t seq;
  int64_t time_ms;
  ChangeKind kind;
  std::string event;
  uint64_t hold_id, booking_id, fencing;
  std::vector<SeatKey> seats;
};

class Sink : public ChangeSink {
 public:
  void OnChange(const ChangeRecord& r) override {
    recs.push_back(Rec{r.seq, r.time_ms, r.kind, std::string(r.event_id), r.hold_id, r.booking_id,
                       r.fencing_token, std::vector<SeatKey>(r.seats.begin(), r.seats.end())});
  }
  std::vector<Rec> recs;
};

// ---------------------------------------------------------------------------
// The reference model

struct MSeat {
  SeatState state = SeatState::kFree;
  uint64_t owner = 0;  // hold id (HELD) or booking id (SOLD)
};

struct MSection {
  std::string label;
  bool owned = true;
  std::vector<uint32_t> row_first, row_size;
  std::vector<MSeat> seats;
};

struct MEvent {
  EventLayout layout;
  std::vector<MSection> sections;
};

struct MHold {
  uint64_t id = 0;
  std::string event, holder;
  std::vector<SeatKey> seats;
  int64_t created = 0, expires = 0;
  uint64_t token = 0;
  bool live = true;
};

struct MBooking {
  uint64_t id = 0, hold_id = 0, token = 0;
  std::string event, holder, payment;
  std::vector<SeatKey> seats;
  int64_t confirmed = 0;
  bool cancelled = false;
};

struct MIdem {
  uint64_t hold_id;
  std::string holder, payment;
  ConfirmResult result;  // the first answer, as the engine gave it
  int64_t expires;
};

// A change record the model expects.
struct ExpRec {
  ChangeKind kind;
  std::string event;
  uint64_t hold_id, booking_id, fencing;
  std::vector<SeatKey> seats;
  int64_t time_ms;
};

class Model {
 public:
  explicit Model(EngineLimits lim) : lim_(lim) {}

  const EngineLimits& lim() const { return lim_; }
  std::map<std::string, MEvent> events;
  std::map<uint64_t, MHold> holds;
  std::map<uint64_t, MBooking> bookings;
  std::map<std::string, MIdem> idem;
  uint64_t max_token = kFencingFloor;
  size_t live = 0;

  void Remember(const std::string& key, MIdem rec) {
    idem_next_due_ = std::min(idem_next_due_, rec.expires);
    idem[key] = std::move(rec);
  }

  MSeat& At(const std::string& ev, SeatKey k) {
    return events.at(ev).sections[k.section].seats[k.seat];
  }

  // Time passes to `now`: holds due expire (returns their change records in
  // deadline order), lapsed holds and idempotency records past retention go.
  std::vector<ExpRec> Expire(int64_t now) {
    std::vector<ExpRec> out;
    std::vector<MHold*> due;
    for (auto& [id, h] : holds) {
      if (h.live && h.expires <= now) due.push_back(&h);
    }
    std::stable_sort(due.begin(), due.end(),
                     [](const MHold* a, const MHold* b) { return a->expires < b->expires; });
    for (MHold* h : due) {
      h->live = false;
      --live;
      for (SeatKey k : h->seats) At(h->event, k) = MSeat{};
      out.push_back({ChangeKind::kExpired, h->event, h->id, 0, h->token, h->seats, h->expires});
    }
    for (auto it = holds.begin(); it != holds.end();) {
      if (!it->second.live && it->second.expires + lim_.lapsed_hold_retention_ms <= now) {
        it = holds.erase(it);
      } else {
        ++it;
      }
    }
    if (now >= idem_next_due_) {  // a record is due: sweep, and find the next
      idem_next_due_ = INT64_MAX;
      for (auto it = idem.begin(); it != idem.end();) {
        if (it->second.expires <= now) {
          it = idem.erase(it);
        } else {
          idem_next_due_ = std::min(idem_next_due_, it->second.expires);
          ++it;
        }
      }
    }
    return out;
  }

  ResultCode ValidateLayout(const EventLayout& l) const {
    if (l.event_id.empty()) return ResultCode::kInvalidArgument;
    if (l.event_id.size() > lim_.max_label_len) return ResultCode::kLimitExceeded;
    if (auto it = events.find(l.event_id); it != events.end()) {
      return it->second.layout == l ? ResultCode::kOk : ResultCode::kEventExists;
    }
    if (l.sections.empty()) return ResultCode::kInvalidArgument;
    if (l.sections.size() > lim_.max_sections_per_event) return ResultCode::kLimitExceeded;
    std::set<std::string> section_labels;
    uint64_t total = 0;
    for (const SectionLayout& s : l.sections) {
      if (s.label.empty()) return ResultCode::kInvalidArgument;
      if (s.label.size() > lim_.max_label_len) return ResultCode::kLimitExceeded;
      if (!section_labels.insert(s.label).second) return ResultCode::kInvalidArgument;
      if (s.rows.empty()) return ResultCode::kInvalidArgument;
      if (s.rows.size() > lim_.max_rows_per_section) return ResultCode::kLimitExceeded;
      std::set<std::string> row_labels;
      for (const RowLayout& r : s.rows) {
        if (r.label.empty()) return ResultCode::kInvalidArgument;
        if (r.label.size() > lim_.max_label_len) return ResultCode::kLimitExceeded;
        if (!row_labels.insert(r.label).second) return ResultCode::kInvalidArgument;
        if (r.size() == 0) return ResultCode::kInvalidArgument;
        std::set<std::string> seat_labels;
        for (const std::string& sl : r.seat_labels) {
          if (sl.empty()) return ResultCode::kInvalidArgument;
          if (sl.size() > lim_.max_label_len) return ResultCode::kLimitExceeded;
          if (!seat_labels.insert(sl).second) return ResultCode::kInvalidArgument;
        }
        total += r.size();
      }
    }
    if (total > lim_.max_seats_per_event) return ResultCode::kLimitExceeded;
    return ResultCode::kOk;
  }

  void AddEvent(const EventLayout& l) {
    MEvent ev;
    ev.layout = l;
    for (const SectionLayout& s : l.sections) {
      MSection ms;
      ms.label = s.label;
      ms.owned = Owned(s.label);
      uint32_t first = 0;
      for (const RowLayout& r : s.rows) {
        ms.row_first.push_back(first);
        ms.row_size.push_back(r.size());
        first += r.size();
      }
      ms.seats.resize(first);
      ev.sections.push_back(std::move(ms));
    }
    events[l.event_id] = std::move(ev);
  }

  ResultCode CheckHolder(const std::string& holder) const {
    if (holder.empty()) return ResultCode::kInvalidArgument;
    if (holder.size() > lim_.max_holder_len) return ResultCode::kLimitExceeded;
    return ResultCode::kOk;
  }
  ResultCode CheckTtl(int64_t ttl) const {
    if (ttl <= 0) return ResultCode::kInvalidArgument;
    if (ttl > lim_.max_ttl_ms) return ResultCode::kLimitExceeded;
    return ResultCode::kOk;
  }

  SeatConflict ConflictOf(const std::string& ev, SeatKey k) {
    const MSeat& s = At(ev, k);
    if (s.state == SeatState::kHeld) return {k, SeatState::kHeld, holds.at(s.owner).expires};
    return {k, SeatState::kSold, 0};
  }

  ResultCode ExpectHold(const std::string& ev, const std::vector<SeatKey>& seats,
                        const std::string& holder, int64_t ttl, ConflictList* conflicts) {
    if (ResultCode c = CheckHolder(holder); c != ResultCode::kOk) return c;
    if (ResultCode c = CheckTtl(ttl); c != ResultCode::kOk) return c;
    if (seats.empty()) return ResultCode::kInvalidArgument;
    if (seats.size() > lim_.max_seats_per_hold) return ResultCode::kLimitExceeded;
    auto it = events.find(ev);
    if (it == events.end()) return ResultCode::kEventNotFound;
    const MEvent& e = it->second;
    std::set<SeatKey> seen;
    for (SeatKey k : seats) {
      if (k.section >= e.sections.size() || k.seat >= e.sections[k.section].seats.size()) {
        return ResultCode::kUnknownSeat;
      }
      if (!e.sections[k.section].owned) return ResultCode::kWrongShard;
      if (!seen.insert(k).second) return ResultCode::kDuplicateSeat;
    }
    for (SeatKey k : seats) {
      if (At(ev, k).state != SeatState::kFree) conflicts->push_back(ConflictOf(ev, k));
    }
    if (!conflicts->empty()) return ResultCode::kSeatUnavailable;
    if (live >= lim_.max_live_holds) return ResultCode::kCapacityExhausted;
    return ResultCode::kOk;
  }

  void Grant(uint64_t id, const std::string& ev, const std::vector<SeatKey>& seats,
             const std::string& holder, int64_t now, int64_t ttl, uint64_t token) {
    MHold h;
    h.id = id;
    h.event = ev;
    h.holder = holder;
    h.seats = seats;
    h.created = now;
    h.expires = now + ttl;
    h.token = token;
    for (SeatKey k : seats) At(ev, k) = MSeat{SeatState::kHeld, id};
    holds[id] = std::move(h);
    ++live;
    max_token = token;
  }

  void FreeHold(MHold& h) {
    for (SeatKey k : h.seats) At(h.event, k) = MSeat{};
    --live;
    h.live = false;
  }

 private:
  EngineLimits lim_;
  int64_t idem_next_due_ = INT64_MAX;
};

// ---------------------------------------------------------------------------
// Best-available, from the rule text

struct Block {
  bool orphan;
  uint32_t section, row;
  uint64_t dist;
  uint32_t start;
  auto Key() const { return std::make_tuple(orphan, section, row, dist, start); }
};

bool FreeAt(const MSection& s, uint32_t row, int64_t seat) {
  const int64_t first = s.row_first[row];
  if (seat < first || seat >= first + static_cast<int64_t>(s.row_size[row])) return false;
  return s.seats[static_cast<size_t>(seat)].state == SeatState::kFree;
}

// Every block of `count` adjacent free seats in the searched sections.
std::vector<Block> AllBlocks(const MEvent& ev, uint32_t lo, uint32_t hi, uint32_t count) {
  std::vector<Block> out;
  for (uint32_t si = lo; si < hi; ++si) {
    const MSection& s = ev.sections[si];
    if (!s.owned) continue;
    for (uint32_t r = 0; r < s.row_first.size(); ++r) {
      const uint32_t first = s.row_first[r], size = s.row_size[r];
      for (uint32_t b = first; b + count <= first + size; ++b) {
        bool all = true;
        for (uint32_t i = 0; i < count && all; ++i) all = FreeAt(s, r, b + i);
        if (!all) continue;
        // A single free seat stranded next to the block, on either side.
        const int64_t left = static_cast<int64_t>(b) - 1, right = b + count;
        const bool orphan = (FreeAt(s, r, left) && !FreeAt(s, r, left - 1)) ||
                            (FreeAt(s, r, right) && !FreeAt(s, r, right + 1));
        const int64_t d =
            (2 * static_cast<int64_t>(b) + count) - (2 * static_cast<int64_t>(first) + size);
        out.push_back(Block{orphan, si, r, static_cast<uint64_t>(d < 0 ? -d : d), b});
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// The test driver

class EngineModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* env = std::getenv("SEATLOCK_SEED");
    seed_ = env && *env ? std::strtoull(env, nullptr, 10) : 20'240'601ULL;
    const char* ops = std::getenv("SEATLOCK_MODEL_OPS");
    ops_ = ops && *ops ? std::strtoull(ops, nullptr, 10) : 100'000ULL;
    std::cout << "[ model ] SEATLOCK_SEED=" << seed_ << " ops=" << ops_ << std::endl;
    rng_.seed(seed_);
    SeatEngine::Options o;
    o.clock = &clock_;
    o.limits = ModelLimits();
    o.shard_index = kShard;
    o.sink = &sink_;
    o.owns_section = [](std::string_view, std::string_view section) { return Owned(section); };
    o.fencing_floor = kFencingFloor;
    engine_ = std::make_unique<SeatEngine>(std::move(o));
  }

  // -- randomness
  uint64_t R(uint64_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_);
  }
  int64_t Range(int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool P(int percent) { return static_cast<int>(R(100)) < percent; }
  template <class T>
  const T& Pick(const std::vector<T>& v) {
    return v[R(v.size())];
  }

  int64_t Now() const { return clock_.NowMs(); }

  std::string Ctx() const {
    std::ostringstream os;
    os << "\n  seed=" << seed_ << " step=" << step_ << " now=" << Now() << " op: " << op_
       << "\n  replay: SEATLOCK_SEED=" << seed_ << " ./engine_model_test\n  recent ops:";
    for (const std::string& s : recent_) os << "\n    " << s;
    return os.str();
  }

  void Count(std::string_view op, ResultCode code) {
    ++histogram_[std::string(op) + " " + std::string(ResultCodeName(code))];
  }

  void Note(std::string op) {
    op_ = std::move(op);
    recent_.push_back(std::to_string(step_) + " @" + std::to_string(Now() - kStart) + ": " + op_);
    if (recent_.size() > 25) recent_.pop_front();
  }

  // -- helpers for choosing targets

  std::vector<std::string> EventIds() const {
    std::vector<std::string> v;
    for (const auto& [id, e] : model_.events) v.push_back(id);
    return v;
  }

  std::string RandomHolder() {
    static const std::vector<std::string> kHolders = {"alice", "bob",  "carol",
                                                      "dave",  "erin", "frank"};
    return Pick(kHolders);
  }

  int64_t RandomTtl() {
    switch (R(4)) {
      case 0:
        return Range(1, 5 * kSec);
      case 1:
        return Range(1, 3 * kMin);
      case 2:
        return Range(5 * kMin, 12 * kMin);
      default:
        return Range(1, ModelLimits().max_ttl_ms);
    }
  }

  // Seats in owned sections, clustered so that requests collide.
  std::vector<SeatKey> RandomSeats(const std::string& ev_id) {
    const MEvent& ev = model_.events.at(ev_id);
    std::vector<uint32_t> owned;
    for (uint32_t i = 0; i < ev.sections.size(); ++i) {
      if (ev.sections[i].owned) owned.push_back(i);
    }
    if (owned.empty()) return {};
    std::set<SeatKey> chosen;
    std::vector<SeatKey> out;
    const int groups = P(80) ? 1 : 2;
    for (int g = 0; g < groups; ++g) {
      const uint32_t si = Pick(owned);
      const MSection& s = ev.sections[si];
      const uint32_t r = static_cast<uint32_t>(R(s.row_first.size()));
      const uint32_t n = static_cast<uint32_t>(Range(1, 4));
      const uint32_t start = s.row_first[r] + static_cast<uint32_t>(R(s.row_size[r]));
      for (uint32_t i = 0; i < n && start + i < s.row_first[r] + s.row_size[r]; ++i) {
        SeatKey k{si, start + i};
        if (chosen.insert(k).second) out.push_back(k);
      }
    }
    if (P(30)) std::shuffle(out.begin(), out.end(), rng_);
    return out;
  }

  std::optional<uint64_t> RandomHoldId(bool prefer_lapsed) {
    std::vector<uint64_t> live, lapsed;
    for (const auto& [id, h] : model_.holds) (h.live ? live : lapsed).push_back(id);
    const int roll = static_cast<int>(R(100));
    if (roll < 8 && !dead_holds_.empty()) return dead_holds_[R(dead_holds_.size())];
    if (roll < 10) return (uint64_t{kShard} << 56) | R(1'000'000);
    if ((prefer_lapsed || roll < 25) && !lapsed.empty()) return Pick(lapsed);
    if (!live.empty()) return Pick(live);
    if (!lapsed.empty()) return Pick(lapsed);
    return std::nullopt;
  }

  void Forget(uint64_t hold_id) {
    dead_holds_.push_back(hold_id);
    if (dead_holds_.size() > 200) dead_holds_.erase(dead_holds_.begin());
  }

  // -- checks on results

  void CheckNewHold(const HoldResult& h, const std::string& ev, const std::vector<SeatKey>& seats,
                    int64_t ttl) {
    EXPECT_NE(h.hold_id, 0u) << Ctx();
    EXPECT_EQ(SeatEngine::ShardOfId(h.hold_id), kShard) << Ctx();
    EXPECT_EQ(model_.holds.count(h.hold_id), 0u) << "hold id reused while still known" << Ctx();
    EXPECT_GT(h.fencing_token, model_.max_token) << "fencing token not increasing" << Ctx();
    EXPECT_EQ(h.expires_ms, Now() + ttl) << Ctx();
    EXPECT_EQ(h.remaining_ms, ttl) << Ctx();
    EXPECT_EQ(ToVec(h.seats), seats) << Ctx();
    EXPECT_TRUE(h.conflicts.empty()) << Ctx();
    expected_.push_back({ChangeKind::kHeld, ev, h.hold_id, 0, h.fencing_token, seats, Now()});
  }

  // -- operations

  void OpDefine() {
    const std::vector<std::string> ids = EventIds();
    EventLayout l;
    std::string what;
    const int roll = static_cast<int>(R(100));
    if (roll < 30 && !ids.empty()) {
      l = model_.events.at(Pick(ids)).layout;
      what = "identical redefinition";
    } else if (roll < 50 && !ids.empty()) {
      l = model_.events.at(Pick(ids)).layout;
      SectionLayout& s = l.sections[R(l.sections.size())];
      RowLayout& r = s.rows[R(s.rows.size())];
      if (r.seat_labels.empty()) {
        r.seat_count = r.seat_count == 1 ? 2 : r.seat_count - 1;
      } else {
        r.label += "z";
      }
      what = "different redefinition";
    } else if (roll < 70 && model_.events.size() < 7) {
      l = RandomLayout("ev" + std::to_string(next_event_++));
      what = "new event";
    } else {
      l = RandomLayout("bad" + std::to_string(next_event_++));
      what = InjectLayoutFault(l);
    }
    Note("DefineEvent(" + l.event_id + ") " + what);
    const ResultCode want = model_.ValidateLayout(l);
    const SimpleResult got = engine_->DefineEvent(l);
    Count("Define", got.code);
    ASSERT_EQ(got.code, want) << got.detail << Ctx();
    if (what != "identical redefinition" && what != "different redefinition" &&
        what != "new event") {
      ASSERT_NE(want, ResultCode::kOk) << "generator failed to inject " << what << Ctx();
    }
    if (want == ResultCode::kOk && !model_.events.count(l.event_id)) model_.AddEvent(l);
  }

  EventLayout RandomLayout(const std::string& id) {
    for (;;) {
      EventLayout l;
      l.event_id = id;
      const int sections = static_cast<int>(Range(1, 3));
      for (int s = 0; s < sections; ++s) {
        SectionLayout sec;
        sec.label = (P(12) ? "X" : "S") + std::to_string(s);
        const int rows = static_cast<int>(Range(1, 4));
        for (int r = 0; r < rows; ++r) {
          RowLayout row;
          row.label = std::string(1, static_cast<char>('A' + r));
          if (P(70)) {
            row.seat_count = static_cast<uint32_t>(Range(1, 12));
          } else {
            const int n = static_cast<int>(Range(1, 8));
            for (int i = 0; i < n; ++i) row.seat_labels.push_back("a" + std::to_string(2 * i + 1));
          }
          sec.rows.push_back(std::move(row));
        }
        l.sections.push_back(std::move(sec));
      }
      if (l.seat_count() <= ModelLimits().max_seats_per_event) return l;
    }
  }

  // Breaks exactly one rule; returns its name.
  std::string InjectLayoutFault(EventLayout& l) {
    SectionLayout& s = l.sections[R(l.sections.size())];
    RowLayout& r = s.rows[R(s.rows.size())];
    switch (R(14)) {
      case 0:
        l.event_id = "";
        return "empty event id";
      case 1:
        l.event_id = std::string(11, 'e');
        return "long event id";
      case 2:
        l.sections.clear();
        return "no sections";
      case 3:
        while (l.sections.size() < 5) {
          SectionLayout extra = l.sections[0];
          extra.label = "T" + std::to_string(l.sections.size());
          extra.rows = {RowLayout{"A", 1, {}}};
          l.sections.push_back(extra);
        }
        return "too many sections";
      case 4:
        if (l.sections.size() < 2)
          l.sections.push_back(SectionLayout{"S9", {RowLayout{"A", 1, {}}}});
        l.sections[1].label = l.sections[0].label;
        return "duplicate section";
      case 5:
        s.label = "";
        return "empty section label";
      case 6:
        s.label = std::string(11, 's');
        return "long section label";
      case 7:
        s.rows.clear();
        return "section without rows";
      case 8:
        s.rows.clear();
        for (int i = 0; i < 7; ++i) s.rows.push_back(RowLayout{std::string(1, 'A' + i), 1, {}});
        return "too many rows";
      case 9:
        if (s.rows.size() < 2) s.rows.push_back(RowLayout{"Q", 1, {}});
        s.rows[1].label = s.rows[0].label;
        return "duplicate row";
      case 10:
        r.label = std::string(11, 'r');
        return "long row label";
      case 11:
        r.seat_labels.clear();
        r.seat_count = 0;
        return "row without seats";
      case 12:
        r.seat_count = 0;
        r.seat_labels = {"1", "2", R(2) ? "1" : std::string(11, 'x')};
        return "duplicate or long seat label";
      default:
        l.sections.clear();
        for (int si = 0; si < 2; ++si) {
          SectionLayout big{"S" + std::to_string(si), {}};
          for (int ri = 0; ri < 6; ++ri)
            big.rows.push_back(RowLayout{std::string(1, 'A' + ri), 11, {}});
          l.sections.push_back(big);
        }
        return "too many seats";
    }
  }

  void OpHold() {
    const std::vector<std::string> ids = EventIds();
    std::string ev = Pick(ids);
    std::string holder = RandomHolder();
    int64_t ttl = RandomTtl();
    std::vector<SeatKey> seats = RandomSeats(ev);
    const MEvent& mev = model_.events.at(ev);
    switch (R(60)) {  // at most one malformation
      case 0:
        holder = "";
        break;
      case 1:
        holder = std::string(13, 'h');
        break;
      case 2:
        ttl = -Range(0, 1000);
        break;
      case 3:
        ttl = ModelLimits().max_ttl_ms + Range(1, 1000);
        break;
      case 4:
        seats.clear();
        break;
      case 5: {
        const uint32_t n = static_cast<uint32_t>(mev.sections[0].seats.size());
        if (n >= 7) {
          seats.clear();
          for (uint32_t i = 0; i < 7; ++i) seats.push_back({0, i});
          if (!mev.sections[0].owned) seats.clear();
        }
        break;
      }
      case 6:
        ev = "nope";
        break;
      case 7:
        if (!seats.empty()) seats.insert(seats.begin() + R(seats.size() + 1), SeatKey{0, 9999});
        break;
      case 8:
        if (!seats.empty()) {
          seats.insert(seats.begin() + R(seats.size() + 1),
                       SeatKey{static_cast<uint32_t>(mev.sections.size()), 0});
        }
        break;
      case 9:
        if (!seats.empty() && seats.size() < 6) seats.push_back(seats[R(seats.size())]);
        break;
      case 10:
        for (uint32_t si = 0; si < mev.sections.size(); ++si) {
          if (!mev.sections[si].owned && seats.size() < 6) {
            seats.insert(seats.begin() + R(seats.size() + 1), SeatKey{si, 0});
            break;
          }
        }
        break;
      default:
        break;
    }
    Note("Hold(" + ev + ", " + Str(seats) + ", " + holder + ", ttl=" + std::to_string(ttl) + ")");
    ConflictList want_conflicts;
    const ResultCode want = model_.ExpectHold(ev, seats, holder, ttl, &want_conflicts);
    const HoldResult got = engine_->Hold(ev, seats, holder, ttl);
    Count("Hold", got.code);
    ASSERT_EQ(got.code, want) << got.detail << Ctx();
    if (want == ResultCode::kSeatUnavailable) {
      ASSERT_EQ(got.conflicts, want_conflicts) << Ctx();
    }
    if (want != ResultCode::kOk) {
      EXPECT_EQ(got.hold_id, 0u) << Ctx();
      return;
    }
    CheckNewHold(got, ev, seats, ttl);
    model_.Grant(got.hold_id, ev, seats, holder, Now(), ttl, got.fencing_token);
  }

  void OpBestAvailable() {
    std::string ev = Pick(EventIds());
    std::string holder = RandomHolder();
    int64_t ttl = RandomTtl();
    uint32_t count = static_cast<uint32_t>(P(70) ? Range(1, 3) : Range(1, 6));
    bool together = P(75);
    const MEvent& mev = model_.events.at(ev);
    int section = P(30) ? -1 : static_cast<int>(R(mev.sections.size()));
    switch (R(40)) {
      case 0:
        holder = "";
        break;
      case 1:
        holder = std::string(13, 'h');
        break;
      case 2:
        ttl = 0;
        break;
      case 3:
        ttl = ModelLimits().max_ttl_ms + 1;
        break;
      case 4:
        count = 0;
        break;
      case 5:
        count = 7;
        break;
      case 6:
        ev = "nope";
        break;
      case 7:
        section = static_cast<int>(mev.sections.size());
        break;
      default:
        break;
    }
    Note("HoldBestAvailable(" + ev + ", section=" + std::to_string(section) +
         ", count=" + std::to_string(count) + ", together=" + (together ? "1" : "0") + ", " +
         holder + ", ttl=" + std::to_string(ttl) + ")");

    // The model's answer.
    ResultCode want = ResultCode::kOk;
    std::optional<Block> want_block;
    if (ResultCode c = model_.CheckHolder(holder); c != ResultCode::kOk) {
      want = c;
    } else if (ResultCode c2 = model_.CheckTtl(ttl); c2 != ResultCode::kOk) {
      want = c2;
    } else if (count == 0) {
      want = ResultCode::kInvalidArgument;
    } else if (count > model_.lim().max_seats_per_hold) {
      want = ResultCode::kLimitExceeded;
    } else if (!model_.events.count(ev)) {
      want = ResultCode::kEventNotFound;
    } else if (section >= static_cast<int>(mev.sections.size())) {
      want = ResultCode::kUnknownSeat;
    } else if (section >= 0 && !mev.sections[section].owned) {
      want = ResultCode::kWrongShard;
    } else {
      const uint32_t lo = section < 0 ? 0 : static_cast<uint32_t>(section);
      const uint32_t hi = section < 0 ? static_cast<uint32_t>(mev.sections.size()) : lo + 1;
      std::vector<Block> blocks = AllBlocks(mev, lo, hi, count);
      uint64_t free_seats = 0;
      for (uint32_t si = lo; si < hi; ++si) {
        if (!mev.sections[si].owned) continue;
        for (const MSeat& s : mev.sections[si].seats) free_seats += s.state == SeatState::kFree;
      }
      if (!blocks.empty()) {
        want_block =
            *std::min_element(blocks.begin(), blocks.end(),
                              [](const Block& a, const Block& b) { return a.Key() < b.Key(); });
      } else if (free_seats < count) {
        want = ResultCode::kNotEnoughSeats;
      } else if (together) {
        want = ResultCode::kNoAdjacentSeats;
      }
      if (want == ResultCode::kOk && model_.live >= model_.lim().max_live_holds) {
        want = ResultCode::kCapacityExhausted;
      }
    }

    const HoldResult got = engine_->HoldBestAvailable(ev, section, count, together, holder, ttl);
    Count("BestAvailable", got.code);
    ASSERT_EQ(got.code, want) << got.detail << Ctx();
    if (want != ResultCode::kOk) return;

    const std::vector<SeatKey> seats = ToVec(got.seats);
    ASSERT_EQ(seats.size(), count) << Ctx();
    std::set<SeatKey> distinct(seats.begin(), seats.end());
    ASSERT_EQ(distinct.size(), seats.size()) << "best-available picked a seat twice" << Ctx();
    for (SeatKey k : seats) {
      ASSERT_LT(k.section, mev.sections.size()) << Ctx();
      ASSERT_LT(k.seat, mev.sections[k.section].seats.size()) << Ctx();
      if (section >= 0) {
        ASSERT_EQ(k.section, static_cast<uint32_t>(section)) << Ctx();
      }
      ASSERT_TRUE(mev.sections[k.section].owned) << Ctx();
      ASSERT_EQ(model_.At(ev, k).state, SeatState::kFree)
          << "best-available picked a taken seat " << k.section << "/" << k.seat << Ctx();
    }
    if (want_block) {
      std::vector<SeatKey> want_seats;
      for (uint32_t i = 0; i < count; ++i)
        want_seats.push_back({want_block->section, want_block->start + i});
      std::vector<SeatKey> sorted = seats;
      std::sort(sorted.begin(), sorted.end());
      ASSERT_EQ(sorted, want_seats)
          << "best-available chose " << Str(sorted) << ", rules give " << Str(want_seats)
          << " (orphan=" << want_block->orphan << " row=" << want_block->row << ")" << Ctx();
    } else {
      // Scattered: front rows (in section order) are used up first.
      auto rank = [&](SeatKey k) {
        const MSection& s = mev.sections[k.section];
        uint32_t r = 0;
        while (r + 1 < s.row_first.size() && s.row_first[r + 1] <= k.seat) ++r;
        return std::make_pair(k.section, r);
      };
      std::pair<uint32_t, uint32_t> last{0, 0};
      for (SeatKey k : seats) last = std::max(last, rank(k));
      for (uint32_t si = 0; si < mev.sections.size(); ++si) {
        if (!mev.sections[si].owned) continue;
        if (section >= 0 && si != static_cast<uint32_t>(section)) continue;
        for (uint32_t i = 0; i < mev.sections[si].seats.size(); ++i) {
          SeatKey k{si, i};
          if (mev.sections[si].seats[i].state == SeatState::kFree && rank(k) < last) {
            ASSERT_TRUE(distinct.count(k))
                << "scattered pick skipped a free seat in a nearer row " << si << "/" << i << Ctx();
          }
        }
      }
    }
    CheckNewHold(got, ev, seats, ttl);
    model_.Grant(got.hold_id, ev, seats, holder, Now(), ttl, got.fencing_token);
  }

  void OpExtend() {
    std::optional<uint64_t> id = RandomHoldId(false);
    if (P(30)) {
      // Keep renewing the oldest live hold until it meets its lifetime cap.
      const MHold* oldest = nullptr;
      for (const auto& [hid, h] : model_.holds) {
        if (h.live && (!oldest || h.created < oldest->created)) oldest = &h;
      }
      if (oldest) id = oldest->id;
    }
    if (!id) return;
    std::string holder = model_.holds.count(*id) ? model_.holds.at(*id).holder : RandomHolder();
    if (P(10)) holder = holder == "alice" ? "bob" : "alice";
    int64_t ttl = RandomTtl();
    if (P(40)) ttl = Range(ModelLimits().max_ttl_ms / 2, ModelLimits().max_ttl_ms);
    if (P(3)) ttl = P(50) ? 0 : ModelLimits().max_ttl_ms + 1;
    Note("Extend(" + std::to_string(*id) + ", " + holder + ", ttl=" + std::to_string(ttl) + ")");

    ResultCode want = model_.CheckTtl(ttl);
    int64_t want_deadline = 0;
    bool want_capped = false;
    MHold* h = model_.holds.count(*id) ? &model_.holds.at(*id) : nullptr;
    if (want == ResultCode::kOk) {
      if (!h) {
        want = ResultCode::kHoldNotFound;
      } else if (h->holder != holder) {
        want = ResultCode::kNotHolder;
      } else if (!h->live) {
        want = ResultCode::kHoldExpired;
      } else {
        want_deadline = Now() + ttl;
        const int64_t cap = h->created + model_.lim().max_hold_lifetime_ms;
        if (want_deadline > cap) {
          if (h->expires >= cap) {
            want = ResultCode::kLifetimeExceeded;
          } else {
            want_deadline = cap;
            want_capped = true;
          }
        }
      }
    }
    const ExtendResult got = engine_->Extend(*id, holder, ttl);
    Count("Extend", got.code);
    ASSERT_EQ(got.code, want) << got.detail << Ctx();
    if (want != ResultCode::kOk) return;
    EXPECT_EQ(got.expires_ms, want_deadline) << Ctx();
    EXPECT_EQ(got.remaining_ms, want_deadline - Now()) << Ctx();
    EXPECT_EQ(got.capped, want_capped) << Ctx();
    if (want_capped) Count("Extend(capped)", got.code);
    h->expires = want_deadline;
  }

  void OpRelease() {
    std::optional<uint64_t> id = RandomHoldId(false);
    if (!id) return;
    std::string holder = model_.holds.count(*id) ? model_.holds.at(*id).holder : RandomHolder();
    if (P(10)) holder = holder == "alice" ? "bob" : "alice";
    Note("Release(" + std::to_string(*id) + ", " + holder + ")");
    ResultCode want = ResultCode::kOk;
    auto it = model_.holds.find(*id);
    if (it == model_.holds.end()) {
      want = ResultCode::kHoldNotFound;
    } else if (it->second.holder != holder) {
      want = ResultCode::kNotHolder;
    } else if (!it->second.live) {
      want = ResultCode::kHoldExpired;
    }
    const SimpleResult got = engine_->Release(*id, holder);
    Count("Release", got.code);
    ASSERT_EQ(got.code, want) << got.detail << Ctx();
    if (want == ResultCode::kOk) {
      MHold& h = it->second;
      expected_.push_back({ChangeKind::kReleased, h.event, h.id, 0, h.token, h.seats, Now()});
      model_.FreeHold(h);
      model_.holds.erase(it);
      Forget(*id);
    } else if (want == ResultCode::kHoldExpired) {
      // Releasing a lapsed hold gives it up: it can no longer be confirmed late.
      model_.holds.erase(it);
      Forget(*id);
    }
  }

  struct Attempt {
    uint64_t hold_id;
    std::string holder, key, payment;
  };

  void OpConfirm() {
    Attempt a;
    const int roll = static_cast<int>(R(100));
    if (roll < 25 && !attempts_.empty()) {
      a = attempts_[R(attempts_.size())];  // retry with the same parameters
    } else if (roll < 35 && !attempts_.empty()) {
      a = attempts_[R(attempts_.size())];  // same key, something else differs
      switch (R(3)) {
        case 0:
          a.payment += "x";
          break;
        case 1:
          a.holder = a.holder == "alice" ? "bob" : "alice";
          break;
        default: {
          std::optional<uint64_t> id = RandomHoldId(false);
          if (id && *id != a.hold_id)
            a.hold_id = *id;
          else
            a.payment += "y";
        }
      }
    } else {
      std::optional<uint64_t> id = RandomHoldId(P(30));
      if (!id) return;
      a.hold_id = *id;
      a.holder = model_.holds.count(*id) ? model_.holds.at(*id).holder : RandomHolder();
      if (P(8)) a.holder = a.holder == "alice" ? "bob" : "alice";
      a.key = "k" + std::to_string(next_key_++);
      a.payment = "pay" + std::to_string(R(1000));
      switch (R(40)) {
        case 0:
          a.key = "";
          break;
        case 1:
          a.key = std::string(17, 'k');
          break;
        case 2:
          a.payment = std::string(17, 'p');
          break;
        case 3:
          a.holder = "";
          break;
        default:
          break;
      }
    }
    Note("Confirm(" + std::to_string(a.hold_id) + ", " + a.holder + ", key=" + a.key +
         ", pay=" + a.payment + ")");

    const EngineLimits& lim = model_.lim();
    ResultCode want = model_.CheckHolder(a.holder);
    if (want == ResultCode::kOk) {
      if (a.key.empty())
        want = ResultCode::kInvalidArgument;
      else if (a.key.size() > lim.max_idempotency_key_len)
        want = ResultCode::kLimitExceeded;
      else if (a.payment.size() > lim.max_payment_ref_len)
        want = ResultCode::kLimitExceeded;
    }
    if (want != ResultCode::kOk) {
      const ConfirmResult got = engine_->Confirm(a.hold_id, a.holder, a.key, a.payment);
      Count(got.replayed ? "Confirm(replay)" : "Confirm", got.code);
      ASSERT_EQ(got.code, want) << got.detail << Ctx();
      return;
    }
    if (auto it = model_.idem.find(a.key); it != model_.idem.end()) {
      const MIdem& rec = it->second;
      const ConfirmResult got = engine_->Confirm(a.hold_id, a.holder, a.key, a.payment);
      Count(got.replayed ? "Confirm(replay)" : "Confirm", got.code);
      if (rec.hold_id != a.hold_id || rec.holder != a.holder || rec.payment != a.payment) {
        ASSERT_EQ(got.code, ResultCode::kIdempotencyMismatch) << got.detail << Ctx();
      } else {
        ASSERT_EQ(got.code, rec.result.code) << got.detail << Ctx();
        ASSERT_TRUE(got.replayed) << Ctx();
        ASSERT_TRUE(got.SameOutcome(rec.result)) << "replay differs from the first result" << Ctx();
      }
      return;
    }
    attempts_.push_back(a);
    if (attempts_.size() > 300) attempts_.erase(attempts_.begin());

    auto hit = model_.holds.find(a.hold_id);
    ConflictList want_conflicts;
    if (hit == model_.holds.end()) {
      want = ResultCode::kHoldNotFound;
    } else if (hit->second.holder != a.holder) {
      want = ResultCode::kNotHolder;
    } else if (!hit->second.live) {
      for (SeatKey k : hit->second.seats) {
        if (model_.At(hit->second.event, k).state != SeatState::kFree) {
          want_conflicts.push_back(model_.ConflictOf(hit->second.event, k));
        }
      }
      if (!want_conflicts.empty()) want = ResultCode::kHoldExpiredSeatsTaken;
    }
    const ConfirmResult got = engine_->Confirm(a.hold_id, a.holder, a.key, a.payment);
    Count(got.replayed ? "Confirm(replay)" : "Confirm", got.code);
    ASSERT_EQ(got.code, want) << got.detail << Ctx();
    EXPECT_FALSE(got.replayed) << Ctx();
    if (want == ResultCode::kHoldExpiredSeatsTaken) {
      ASSERT_EQ(got.conflicts, want_conflicts) << Ctx();
      EXPECT_EQ(got.booking_id, 0u) << Ctx();
      model_.Remember(
          a.key, MIdem{a.hold_id, a.holder, a.payment, got, Now() + lim.idempotency_retention_ms});
      return;
    }
    if (want != ResultCode::kOk) return;

    MHold& h = hit->second;
    const bool lapsed = !h.live;
    EXPECT_EQ(got.hold_lapsed, lapsed) << Ctx();
    EXPECT_NE(got.booking_id, 0u) << Ctx();
    EXPECT_EQ(SeatEngine::ShardOfId(got.booking_id), kShard) << Ctx();
    EXPECT_EQ(model_.bookings.count(got.booking_id), 0u) << "booking id reused" << Ctx();
    EXPECT_EQ(ToVec(got.seats), h.seats) << Ctx();
    EXPECT_EQ(got.confirmed_ms, Now()) << Ctx();
    EXPECT_TRUE(got.conflicts.empty()) << Ctx();
    if (lapsed) {
      EXPECT_GT(got.fencing_token, model_.max_token) << "a late sale is a new grant" << Ctx();
      model_.max_token = std::max(model_.max_token, got.fencing_token);
    } else {
      EXPECT_EQ(got.fencing_token, h.token) << Ctx();
    }
    expected_.push_back(
        {ChangeKind::kSold, h.event, h.id, got.booking_id, got.fencing_token, h.seats, Now()});
    confirm_seq_check_ = got.change_seq;

    MBooking b;
    b.id = got.booking_id;
    b.hold_id = h.id;
    b.token = got.fencing_token;
    b.event = h.event;
    b.holder = h.holder;
    b.payment = a.payment;
    b.seats = h.seats;
    b.confirmed = Now();
    if (h.live) --model_.live;
    for (SeatKey k : h.seats) model_.At(h.event, k) = MSeat{SeatState::kSold, b.id};
    model_.bookings[b.id] = b;
    booking_ids_.push_back(b.id);
    active_pos_[b.id] = active_bookings_.size();
    active_bookings_.push_back(b.id);
    model_.Remember(
        a.key, MIdem{a.hold_id, a.holder, a.payment, got, Now() + lim.idempotency_retention_ms});
    model_.holds.erase(hit);
    Forget(a.hold_id);
  }

  void OpCancel() {
    uint64_t id;
    if (booking_ids_.empty() || P(5)) {
      id = (uint64_t{kShard} << 56) | R(100'000);
    } else {
      // Mostly aim at bookings not yet cancelled, so sold seats recycle.
      id = !active_bookings_.empty() && P(85) ? Pick(active_bookings_) : Pick(booking_ids_);
    }
    Note("CancelBooking(" + std::to_string(id) + ")");
    ResultCode want = ResultCode::kOk;
    auto it = model_.bookings.find(id);
    if (it == model_.bookings.end())
      want = ResultCode::kBookingNotFound;
    else if (it->second.cancelled)
      want = ResultCode::kBookingCancelled;
    const SimpleResult got = engine_->CancelBooking(id);
    Count("Cancel", got.code);
    ASSERT_EQ(got.code, want) << got.detail << Ctx();
    if (want != ResultCode::kOk) return;
    MBooking& b = it->second;
    b.cancelled = true;
    const size_t pos = active_pos_.at(b.id);  // swap-remove from the active list
    active_pos_[active_bookings_.back()] = pos;
    std::swap(active_bookings_[pos], active_bookings_.back());
    active_bookings_.pop_back();
    active_pos_.erase(b.id);
    for (SeatKey k : b.seats) model_.At(b.event, k) = MSeat{};
    expected_.push_back(
        {ChangeKind::kCancelled, b.event, b.hold_id, b.id, b.token, b.seats, Now()});
  }

  void OpAdvance() {
    int64_t d = 0;
    const int roll = static_cast<int>(R(100));
    int64_t next_deadline = INT64_MAX;
    for (const auto& [id, h] : model_.holds) {
      if (h.live) next_deadline = std::min(next_deadline, h.expires);
    }
    if (roll < 20 && next_deadline != INT64_MAX) {
      // Land exactly on, or one millisecond before, the next deadline.
      d = next_deadline - Now() - (P(50) ? 1 : 0);
      if (d < 0) d = 0;
    } else if (roll < 65) {
      d = Range(0, 2 * kSec);
    } else if (roll < 90) {
      d = Range(2 * kSec, 1 * kMin);
    } else if (roll < 99) {
      d = Range(1 * kMin, 15 * kMin);
    } else {
      // Past every deadline, lapsed-hold and idempotency retention.
      d = Range(30 * kMin, 3 * 60 * kMin);
    }
    Note("Advance(" + std::to_string(d) + " ms) + ExpireDue");
    clock_.AdvanceMs(d);
    engine_->ExpireDue();
  }

  void OpReads() {
    Note("reads");
    // GetHold for a few ids, known and forgotten.
    for (int i = 0; i < 3; ++i) {
      std::optional<uint64_t> id = RandomHoldId(P(30));
      if (!id) break;
      const std::optional<HoldInfo> got = engine_->GetHold(*id);
      auto it = model_.holds.find(*id);
      ASSERT_EQ(got.has_value(), it != model_.holds.end()) << "GetHold(" << *id << ")" << Ctx();
      if (!got) continue;
      const MHold& h = it->second;
      EXPECT_EQ(got->hold_id, h.id) << Ctx();
      EXPECT_EQ(got->event_id, h.event) << Ctx();
      EXPECT_EQ(got->holder, h.holder) << Ctx();
      EXPECT_EQ(ToVec(got->seats), h.seats) << Ctx();
      EXPECT_EQ(got->created_ms, h.created) << Ctx();
      EXPECT_EQ(got->expires_ms, h.expires) << Ctx();
      EXPECT_EQ(got->fencing_token, h.token) << Ctx();
      EXPECT_EQ(got->status, h.live ? HoldStatus::kLive : HoldStatus::kLapsed) << Ctx();
    }
    // ListHolds by event and holder.
    const std::string ev = P(30) ? "" : Pick(EventIds());
    const std::string holder = P(30) ? "" : RandomHolder();
    std::set<uint64_t> want, got;
    for (const auto& [id, h] : model_.holds) {
      if (h.live && (ev.empty() || h.event == ev) && (holder.empty() || h.holder == holder)) {
        want.insert(id);
      }
    }
    for (const HoldInfo& h : engine_->ListHolds(ev, holder, 100'000)) got.insert(h.hold_id);
    EXPECT_EQ(got, want) << "ListHolds(" << ev << ", " << holder << ")" << Ctx();
    // GetBooking.
    if (!booking_ids_.empty()) {
      const MBooking& b = model_.bookings.at(Pick(booking_ids_));
      const std::optional<BookingInfo> bi = engine_->GetBooking(b.id);
      ASSERT_TRUE(bi.has_value()) << Ctx();
      EXPECT_EQ(bi->hold_id, b.hold_id) << Ctx();
      EXPECT_EQ(bi->fencing_token, b.token) << Ctx();
      EXPECT_EQ(bi->event_id, b.event) << Ctx();
      EXPECT_EQ(bi->holder, b.holder) << Ctx();
      EXPECT_EQ(bi->payment_ref, b.payment) << Ctx();
      EXPECT_EQ(ToVec(bi->seats), b.seats) << Ctx();
      EXPECT_EQ(bi->confirmed_ms, b.confirmed) << Ctx();
      EXPECT_EQ(bi->cancelled, b.cancelled) << Ctx();
    }
    // Labels round-trip for a random seat.
    const std::string e = Pick(EventIds());
    const MEvent& mev = model_.events.at(e);
    const uint32_t si = static_cast<uint32_t>(R(mev.sections.size()));
    const SeatKey k{si, static_cast<uint32_t>(R(mev.sections[si].seats.size()))};
    const std::optional<SeatLabel> label = engine_->LabelOf(e, k);
    ASSERT_TRUE(label.has_value()) << Ctx();
    const ResolveResult rr = engine_->ResolveSeat(e, *label);
    ASSERT_EQ(rr.code, ResultCode::kOk) << Ctx();
    EXPECT_EQ(rr.key, k) << Ctx();
  }

  // -- per-step verification

  // The change records the step produced: first the expiries the model says
  // were due, then the operation's own record.
  void CheckChanges(size_t before) {
    const std::vector<Rec>& recs = sink_.recs;
    ASSERT_EQ(recs.size() - before, expected_.size())
        << "change records: got " << recs.size() - before << ", want " << expected_.size() << Ctx();
    // Expiries due in the same millisecond may come in any order.
    std::vector<bool> used(expected_.size(), false);
    for (size_t i = 0; i < expected_.size(); ++i) {
      const Rec& r = recs[before + i];
      ASSERT_EQ(r.seq, before + i + 1) << "change seq has a gap" << Ctx();
      const ExpRec* e = nullptr;
      for (size_t j = 0; j < expected_.size(); ++j) {
        if (!used[j] && expected_[j].kind == r.kind && expected_[j].hold_id == r.hold_id &&
            expected_[j].booking_id == r.booking_id) {
          e = &expected_[j];
          used[j] = true;
          break;
        }
      }
      ASSERT_NE(e, nullptr) << "unexpected change record " << ChangeKindName(r.kind) << " hold "
                            << r.hold_id << " booking " << r.booking_id << Ctx();
      EXPECT_EQ(r.event, e->event) << Ctx();
      EXPECT_EQ(r.fencing, e->fencing) << Ctx();
      EXPECT_EQ(r.seats, e->seats) << Ctx();
      EXPECT_EQ(r.time_ms, e->time_ms) << ChangeKindName(r.kind) << Ctx();
      if (r.kind != ChangeKind::kExpired) {
        EXPECT_EQ(i, expected_.size() - 1) << "operation record not last" << Ctx();
      }
      // Apply to the replayed state, checking the transition is legal.
      dirty_.insert(r.event);
      for (SeatKey k : r.seats) {
        SeatState& slot = Replayed(r.event, k);
        const SeatState from = slot;
        const SeatState to = r.kind == ChangeKind::kHeld   ? SeatState::kHeld
                             : r.kind == ChangeKind::kSold ? SeatState::kSold
                                                           : SeatState::kFree;
        switch (r.kind) {
          case ChangeKind::kHeld:
            EXPECT_EQ(from, SeatState::kFree) << Ctx();
            break;
          case ChangeKind::kReleased:
          case ChangeKind::kExpired:
            EXPECT_EQ(from, SeatState::kHeld) << Ctx();
            break;
          case ChangeKind::kSold:
            EXPECT_NE(from, SeatState::kSold) << Ctx();
            break;
          case ChangeKind::kCancelled:
            EXPECT_EQ(from, SeatState::kSold) << Ctx();
            break;
        }
        replay_nonfree_ += (to != SeatState::kFree) - (from != SeatState::kFree);
        slot = to;
      }
    }
    if (confirm_seq_check_ != 0) {
      EXPECT_EQ(confirm_seq_check_, recs.back().seq) << "ConfirmResult.change_seq" << Ctx();
    }
  }

  SeatState& Replayed(const std::string& ev, SeatKey k) {
    auto& sections = replayed_[ev];
    if (sections.empty()) {
      for (const MSection& ms : model_.events.at(ev).sections) {
        sections.emplace_back(ms.seats.size(), SeatState::kFree);
      }
    }
    return sections.at(k.section).at(k.seat);
  }

  // Checks the engine's reads against the model and against each other.
  // Events whose seats changed this step are checked every step, all events
  // every kFullCheckEvery steps (and after the last).
  void CheckInvariants(bool full) {
    const size_t recs_before = sink_.recs.size();
    size_t held_seats = 0, replay_nonfree = 0;
    for (const auto& [id, mev] : model_.events) {
      if (!full && !dirty_.count(id)) continue;
      const Availability av = engine_->GetAvailability(id);
      ASSERT_EQ(av.code, ResultCode::kOk) << Ctx();
      ASSERT_EQ(av.sections.size(), mev.sections.size()) << Ctx();
      uint64_t tf = 0, th = 0, ts = 0, tt = 0;
      for (uint32_t si = 0; si < mev.sections.size(); ++si) {
        const MSection& ms = mev.sections[si];
        const SectionCounts& sc = av.sections[si];
        ASSERT_EQ(sc.owned, ms.owned) << Ctx();
        ASSERT_EQ(sc.label, ms.label) << Ctx();
        if (!ms.owned) {
          if (full) {
            EXPECT_EQ(engine_->GetSeats(id, static_cast<int>(si)).code, ResultCode::kWrongShard);
          }
          continue;
        }
        const SectionSeats ss = engine_->GetSeats(id, static_cast<int>(si));
        ASSERT_EQ(ss.code, ResultCode::kOk) << Ctx();
        ASSERT_EQ(ss.seats.size(), ms.seats.size()) << Ctx();
        uint32_t f = 0, h = 0, s = 0;
        for (uint32_t i = 0; i < ss.seats.size(); ++i) {
          const SeatView& v = ss.seats[i];
          const MSeat& m = ms.seats[i];
          ASSERT_EQ(v.state, m.state) << "seat " << id << " " << si << "/" << i << Ctx();
          ASSERT_EQ(v.owner_id, m.owner) << "seat " << id << " " << si << "/" << i << Ctx();
          switch (v.state) {
            case SeatState::kFree:
              ++f;
              break;
            case SeatState::kHeld:
              ++h;
              ASSERT_EQ(v.held_until_ms, model_.holds.at(m.owner).expires) << Ctx();
              ASSERT_GT(v.held_until_ms, Now())
                  << "a HELD seat's hold is past its deadline" << Ctx();
              break;
            case SeatState::kSold:
              ++s;
              break;
          }
          const SeatState rs = Replayed(id, SeatKey{si, i});
          ASSERT_EQ(rs, v.state) << "change stream disagrees with seat " << id << " " << si << "/"
                                 << i << Ctx();
          replay_nonfree += rs != SeatState::kFree;
        }
        // Availability counts equal a recount from GetSeats.
        ASSERT_EQ(sc.free, f) << "section " << si << Ctx();
        ASSERT_EQ(sc.held, h) << "section " << si << Ctx();
        ASSERT_EQ(sc.sold, s) << "section " << si << Ctx();
        ASSERT_EQ(sc.total, ss.seats.size()) << Ctx();
        tf += f, th += h, ts += s, tt += ss.seats.size();
      }
      ASSERT_EQ(av.free, tf) << Ctx();
      ASSERT_EQ(av.held, th) << Ctx();
      ASSERT_EQ(av.sold, ts) << Ctx();
      ASSERT_EQ(av.total, tt) << Ctx();
      held_seats += th;
    }
    if (full) {
      ASSERT_EQ(replay_nonfree, replay_nonfree_) << "change stream has stray seats" << Ctx();
    }

    // No seat in two live holds; every live hold's seats are HELD by it (so
    // none is SOLD or FREE); in a full check, no HELD seat outside them.
    std::set<std::pair<std::string, SeatKey>> in_holds;
    size_t live = 0;
    for (const HoldInfo& h : engine_->ListHolds("", "", 100'000)) {
      ++live;
      ASSERT_EQ(h.status, HoldStatus::kLive) << Ctx();
      ASSERT_GT(h.expires_ms, Now()) << "a live hold is past its deadline" << Ctx();
      auto mit = model_.holds.find(h.hold_id);
      ASSERT_TRUE(mit != model_.holds.end() && mit->second.live)
          << "engine lists hold " << h.hold_id << " the model does not have live" << Ctx();
      ASSERT_EQ(h.expires_ms, mit->second.expires) << Ctx();
      for (SeatKey k : h.seats) {
        ASSERT_TRUE(in_holds.insert({h.event_id, k}).second)
            << "seat " << k.section << "/" << k.seat << " in two live holds" << Ctx();
        // The model's seat equals the engine's (checked above for this event).
        const MSeat& m = model_.At(h.event_id, k);
        ASSERT_TRUE(m.state == SeatState::kHeld && m.owner == h.hold_id)
            << "seat " << k.section << "/" << k.seat << " of live hold " << h.hold_id << " is "
            << SeatStateName(m.state) << Ctx();
      }
    }
    ASSERT_EQ(live, model_.live) << Ctx();
    if (full) {
      ASSERT_EQ(in_holds.size(), held_seats) << "HELD seat outside every live hold" << Ctx();
      const EngineStats st = engine_->Stats();
      ASSERT_EQ(st.live_holds, model_.live) << Ctx();
      ASSERT_EQ(st.change_seq, sink_.recs.size()) << Ctx();
      ASSERT_EQ(st.bookings, model_.bookings.size()) << Ctx();
      ASSERT_EQ(st.lapsed_holds, model_.holds.size() - model_.live) << Ctx();
    }
    ASSERT_EQ(engine_->fencing_high_water(), model_.max_token) << Ctx();
    // The poll hint never sleeps past the next deadline.
    int64_t next_deadline = INT64_MAX;
    for (const auto& [id, h] : model_.holds) {
      if (h.live) next_deadline = std::min(next_deadline, h.expires);
    }
    if (next_deadline != INT64_MAX) {
      const int64_t hint = engine_->MsUntilNextTimer();
      ASSERT_GE(hint, 0) << Ctx();
      ASSERT_LE(hint, next_deadline - Now()) << "MsUntilNextTimer past the next deadline" << Ctx();
    }
    ASSERT_EQ(sink_.recs.size(), recs_before) << "reads emitted change records" << Ctx();
  }

  void Run() {
    // Fixed starting events; more are defined at random.
    const EventLayout arena{
        "arena",
        {SectionLayout{"A",
                       {RowLayout{"1", 8, {}}, RowLayout{"2", 10, {}}, RowLayout{"3", 10, {}},
                        RowLayout{"4", 7, {}}}},
         SectionLayout{
             "B", {RowLayout{"F", 0, {"12", "14", "16", "18", "20", "22"}}, RowLayout{"G", 6, {}}}},
         SectionLayout{"X1", {RowLayout{"A", 5, {}}, RowLayout{"B", 5, {}}}}}};
    const EventLayout club{
        "club",
        {SectionLayout{"F",
                       {RowLayout{"A", 12, {}}, RowLayout{"B", 12, {}}, RowLayout{"C", 4, {}}}}}};
    for (const EventLayout& l : {arena, club}) {
      ASSERT_EQ(engine_->DefineEvent(l).code, ResultCode::kOk);
      model_.AddEvent(l);
    }
    for (step_ = 0; step_ < ops_; ++step_) {
      const size_t before = sink_.recs.size();
      // Operations first expire what is due; the model does the same.
      expected_ = model_.Expire(Now());
      confirm_seq_check_ = 0;
      const int roll = static_cast<int>(R(1000));
      if (roll < 12)
        OpDefine();
      else if (roll < 300)
        OpHold();
      else if (roll < 430)
        OpBestAvailable();
      else if (roll < 510)
        OpExtend();
      else if (roll < 570)
        OpRelease();
      else if (roll < 740)
        OpConfirm();
      else if (roll < 810)
        OpCancel();
      else if (roll < 960)
        OpAdvance();
      else
        OpReads();
      if (HasFailure()) break;
      if (op_.rfind("Advance", 0) == 0) {
        // ExpireDue ran after the clock moved: the model catches up.
        std::vector<ExpRec> more = model_.Expire(Now());
        expected_.insert(expected_.end(), more.begin(), more.end());
      }
      CheckChanges(before);
      if (HasFailure()) break;
      CheckInvariants(step_ % kFullCheckEvery == 0 || step_ + 1 == ops_);
      dirty_.clear();
      if (HasFailure()) break;
      max_live_ = std::max(max_live_, model_.live);
    }
    const EngineStats st = engine_->Stats();
    std::cout << "[ model ] " << step_ << " steps; holds granted " << st.holds_granted
              << ", refused " << st.holds_refused << ", expired " << st.holds_expired
              << ", released " << st.holds_released << ", extended " << st.holds_extended
              << ", confirms " << st.confirms << " (late " << st.late_confirms << ", late refused "
              << st.late_confirms_refused << ", replayed " << st.confirms_replayed
              << "), cancelled " << st.bookings_cancelled << ", events " << st.events
              << ", change records " << st.change_seq << ", most live holds " << max_live_
              << std::endl;
    for (const auto& [what, n] : histogram_)
      std::cout << "[ model ]   " << what << ": " << n << "\n";
    if (HasFailure()) {
      std::cout << "[ model ] FAILED at step " << step_ << "; replay with SEATLOCK_SEED=" << seed_
                << std::endl;
    }
  }

  uint64_t seed_ = 0;
  uint64_t ops_ = 0;
  uint64_t step_ = 0;
  std::mt19937_64 rng_;
  ManualClock clock_{kStart};
  Sink sink_;
  std::unique_ptr<SeatEngine> engine_;
  Model model_{ModelLimits()};

  std::string op_;
  std::deque<std::string> recent_;
  std::vector<ExpRec> expected_;
  uint64_t confirm_seq_check_ = 0;
  static constexpr uint64_t kFullCheckEvery = 16;
  // Seat states rebuilt from the change stream alone: event -> section -> seat.
  std::map<std::string, std::vector<std::vector<SeatState>>> replayed_;
  size_t replay_nonfree_ = 0;
  std::set<std::string> dirty_;  // events with change records this step
  std::map<std::string, uint64_t> histogram_;
  size_t max_live_ = 0;
  std::vector<uint64_t> dead_holds_;
  std::vector<uint64_t> booking_ids_;      // every booking, in sale order
  std::vector<uint64_t> active_bookings_;  // not cancelled
  std::map<uint64_t, size_t> active_pos_;  // booking id -> index in active_bookings_
  std::vector<Attempt> attempts_;
  int next_event_ = 0;
  int next_key_ = 0;
};

TEST_F(EngineModelTest, RandomOperationsAgreeWithReferenceModel) {
  SCOPED_TRACE("SEATLOCK_SEED=" + std::to_string(seed_));
  Run();
}

}  // namespace
}  // namespace seatlock
