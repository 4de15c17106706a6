// flashsale: the seed scenario end to end against a running seatlockd
// (docs/benchmarks.md, "Flash sale, end to end").
//
//   flashsale --port 7400                        # 500,000 buyers, 50,000 seats, waiting room
//   flashsale --port 7400 --scale 0.02           # the same, 2% of the size (CI)
//   flashsale --port 7400 --room=false           # no waiting room: every buyer goes for the seats
//
// Setup defines an event (sections of rows of 50 seats) and, by default, a
// waiting room in rate mode. Then --buyers simulated buyers arrive, spread
// evenly over --arrival_ms. Each is a small state machine: JOIN_QUEUE, poll
// QUEUE_STATUS until admitted (or told SOLD_OUT / LAPSED), hold seats with
// the pass (half best-available, half specific seats picked from a recent
// GET_SEATS view, falling back to best-available), "pay" for a simulated
// 1-30 s (compressed by --time_scale), then CONFIRM (or RELEASE when the
// payment fails). Some confirm responses are dropped on purpose and the
// CONFIRM is retried with the same idempotency key. Some buyers pay after
// their hold ran out (late confirm).
//
// At the end every section is read back with GET_SEATS and checked against
// the sales the buyers were told about: no seat sold twice, every SOLD seat
// belongs to exactly one acknowledged booking, every acknowledged booking's
// seats are SOLD, no payment got two booking ids. Exit 0 only when all of
// that holds and no request got an unexpected answer; 1 on a violation; 2
// when the run could not be set up (cannot connect, event exists, ...).
//
// Threads: one driver thread (main) runs every buyer's state machine, a
// timer heap and the arrival schedule. The AsyncClients' I/O threads only
// move responses into the driver's inbox. Buyers are multiplexed over a few
// AsyncClients (--connections bounds the sockets), not one socket each.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "common/flag_spelling.h"
#include "common/histogram.h"
#include "common/mono_clock.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "seatlockd address.");
ABSL_FLAG(int32_t, port, 7400, "seatlockd main port.");
ABSL_FLAG(
    int32_t, connections, 16,
    "Sockets for the buyers, in total: the buyers share max(1, N / (shards + 1)) AsyncClients, "
    "each "
    "with one connection to the main port and one per shard. (Plus one control client for setup, "
    "the availability monitor and the read-back.)");
ABSL_FLAG(int32_t, buyers, 500000, "Buyers (before --scale).");
ABSL_FLAG(int32_t, seats, 50000, "Seats in the event (before --scale), in rows of 50.");
ABSL_FLAG(int32_t, sections, 50, "Sections (before --scale; at least 2 after it).");
ABSL_FLAG(
    double, scale, 1.0,
    "Shrinks the scenario: buyers, seats and sections are multiplied by it (at least 2 sections, "
    "100 seats, 200 buyers). 0.02 runs in a few seconds (CI).");
ABSL_FLAG(
    double, time_scale, 0.02,
    "Compresses buyer time (pay delays, hold TTL, poll interval, confirm retry): a 30 s payment "
    "takes 30 s x this. Arrivals (--arrival_ms) and the room's admission rate are not scaled.");
ABSL_FLAG(int32_t, arrival_ms, 1000, "Buyers arrive evenly spread over this many ms (real time).");
ABSL_FLAG(uint64_t, seed, 1, "Seed for the buyers' choices (wants, pay delays, failures, seats).");
ABSL_FLAG(
    bool, room, true,
    "Put a waiting room (CONFIGURE_ROOM, rate mode) in front of the seats. --room=false: every "
    "buyer goes straight for the seats on arrival.");
ABSL_FLAG(
    int32_t, room_rate, 0,
    "Room admission rate, buyers per second (real time). 0: sized so that admitted buyers could "
    "take every seat in about 5 s (seats / 3.5 seats per buyer / 5 s).");
ABSL_FLAG(
    bool, prequeue, false,
    "Room: every arrival joins before the on-sale time (the end of the arrival window), so the "
    "room shuffles them once at on-sale (arrival order no longer matters).");
ABSL_FLAG(
    double, poll_ms, 1000,
    "Buyer time between QUEUE_STATUS polls near the front of the line (scaled by --time_scale, at "
    "least 5 ms). Further back a buyer waits half its estimated wait, up to --poll_max_ms.");
ABSL_FLAG(
    int32_t, poll_max_ms, 5000,
    "Longest time between two polls of a waiting buyer (real ms). The room's grace period is set "
    "to max(15 s, 3x this).");
ABSL_FLAG(int32_t, view_ms, 200,
          "A section's seat map (GET_SEATS) is re-read when older than this (real ms).");
ABSL_FLAG(double, hold_ttl_s, 20, "Hold TTL in buyer seconds (scaled).");
ABSL_FLAG(double, pay_min_s, 1, "Shortest payment, buyer seconds (scaled).");
ABSL_FLAG(double, pay_max_s, 30,
          "Longest payment, buyer seconds (scaled); longer than --hold_ttl_s means late confirms.");
ABSL_FLAG(double, pay_fail_pct, 5, "Payments that fail (the buyer RELEASEs the hold), percent.");
ABSL_FLAG(double, drop_confirm_pct, 2,
          "CONFIRM responses dropped on purpose (the buyer retries with the same idempotency key), "
          "percent.");
ABSL_FLAG(int32_t, timeout_s, 120,
          "Hard bound on the buying phase, seconds; unfinished buyers are a violation.");
ABSL_FLAG(std::string, event, "",
          "Event id (default flashsale-<pid>-<unix s>); must not exist yet.");
ABSL_FLAG(std::string, json, "", "Also write the report as JSON to this file.");

namespace seatlock {
namespace {

constexpr int kRowSeats = 50;
constexpr int kMaxSpecificTries = 3;
constexpr int kMaxConfirmTries = 6;
constexpr int kNoRoomRounds = 5;
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kTickNs = 1'000'000;  // the driver's pass period

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "flashsale: %s\n", msg.c_str());
  std::exit(2);
}

std::string RowLabel(int r) {
  std::string s;
  for (int v = r + 1; v > 0; v = (v - 1) / 26)
    s.insert(s.begin(), static_cast<char>('A' + (v - 1) % 26));
  return s;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// What a request was, so its response goes to the right handler.
enum class Kind : uint8_t {
  kJoin,
  kStatus,
  kHoldSpecific,
  kHoldBest,
  kConfirm,
  kRelease,
  kLeave,
  kView,
  kAvail
};
const char* KindName(Kind k) {
  switch (k) {
    case Kind::kJoin:
      return "JOIN_QUEUE";
    case Kind::kStatus:
      return "QUEUE_STATUS";
    case Kind::kHoldSpecific:
      return "HOLD";
    case Kind::kHoldBest:
      return "HOLD_BEST_AVAILABLE";
    case Kind::kConfirm:
      return "CONFIRM";
    case Kind::kRelease:
      return "RELEASE";
    case Kind::kLeave:
      return "LEAVE_QUEUE";
    case Kind::kView:
      return "GET_SEATS";
    case Kind::kAvail:
      return "GET_AVAILABILITY";
  }
  return "?";
}

enum class Phase : uint8_t {
  kNotArrived,
  kJoining,
  kWaiting,
  kBuying,
  kPaying,
  kConfirming,
  kReleasing,
  kLeaving,
  kDone
};

enum class Outcome : uint8_t {
  kNone,
  kBought,         // confirmed in time
  kBoughtLate,     // confirmed after the hold ran out, seats still free (hold_lapsed)
  kTakenLate,      // HOLD_EXPIRED_SEATS_TAKEN: refunded
  kPaymentFailed,  // released
  kNoSeats,        // admitted (or no room) but no hold could be had
  kSoldOutJoin,    // JOIN_QUEUE answered SOLD_OUT
  kSoldOutQueue,   // QUEUE_STATUS answered SOLD_OUT
  kSoldOutNoRoom,  // no room: availability said sold out
  kLapsedQueue,    // QUEUE_STATUS answered LAPSED
  kQueueOther,     // PASS_EXPIRED / LEFT / DONE while waiting: unexpected
  kError,          // an unexpected answer or failed call ended the buyer
  kUnfinished,     // still going at --timeout_s
  kCount
};
const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kNone:
      return "none";
    case Outcome::kBought:
      return "bought";
    case Outcome::kBoughtLate:
      return "bought_late_confirm";
    case Outcome::kTakenLate:
      return "late_confirm_seats_taken";
    case Outcome::kPaymentFailed:
      return "payment_failed";
    case Outcome::kNoSeats:
      return "no_seats";
    case Outcome::kSoldOutJoin:
      return "sold_out_at_join";
    case Outcome::kSoldOutQueue:
      return "sold_out_in_queue";
    case Outcome::kSoldOutNoRoom:
      return "sold_out_no_room";
    case Outcome::kLapsedQueue:
      return "lapsed_in_queue";
    case Outcome::kQueueOther:
      return "queue_other";
    case Outcome::kError:
      return "error";
    case Outcome::kUnfinished:
      return "unfinished";
    case Outcome::kCount:
      break;
  }
  return "?";
}

struct Buyer {
  // Chosen at setup.
  uint32_t pay_delay_ms = 0;  // real ms
  int16_t pref_section = -1;  // best-available: a section, or -1 for any
  uint8_t want = 1;
  bool best = false;  // best-available (else specific seats)
  bool pay_fails = false;
  bool drop_confirm = false;
  // State.
  Phase phase = Phase::kNotArrived;
  Outcome outcome = Outcome::kNone;
  uint8_t specific_tries = 0;
  uint8_t chain = 0;  // best-available fallback step
  uint8_t count = 0;  // seats asked in the scattered steps
  uint8_t confirm_tries = 0;
  uint8_t rounds = 0;                 // no room: rounds of trying
  bool confirm_drop_pending = false;  // the next CONFIRM response is ignored
  bool seen_taken = false;
  bool position_seen = false;
  uint16_t seq = 0;       // responses to older requests are stale
  uint32_t number = 0;    // queue number
  uint32_t position = 0;  // last position reported
  uint64_t sent_ns = 0;
  uint64_t hold_id = 0;
  uint64_t seen_booking = 0;  // first booking id any CONFIRM response named
  std::string pass;
};

struct Done {
  uint32_t who;  // buyer, or section for kView
  uint16_t seq;
  Kind kind;
  uint64_t recv_ns;
  absl::StatusOr<wire::Response> r;
};

struct Timer {
  uint64_t at;
  uint32_t buyer;
  uint16_t seq;  // fires only if the buyer's seq is unchanged
};

// A hashed timer wheel with 1 ms slots (Varghese and Lauck's scheme 4): O(1)
// add and expire. A timer more than one revolution ahead stays in its slot
// and is looked at once per revolution. Never fires early; fires in the
// first Expire at or after its slot's end. Driver thread only.
class TimerWheel {
 public:
  static constexpr uint64_t kSlotNs = 1'000'000;
  static constexpr size_t kSlots = 16384;  // ~16 s per revolution
  explicit TimerWheel(uint64_t start_ns) : slots_(kSlots), tick_(start_ns / kSlotNs) {}
  void Add(const Timer& t) {
    const uint64_t tick = std::max(t.at / kSlotNs, tick_);
    slots_[tick % kSlots].push_back(t);
    ++size_;
  }
  // Moves every timer due at `now` into `out`.
  void Expire(uint64_t now, std::vector<Timer>* out) {
    const uint64_t last = now / kSlotNs;
    for (; tick_ <= last; ++tick_) {
      std::vector<Timer>& slot = slots_[tick_ % kSlots];
      if (slot.empty()) continue;
      scratch_.swap(slot);
      for (const Timer& t : scratch_) {
        if (t.at / kSlotNs <= tick_ && t.at <= now) {
          out->push_back(t);
          --size_;
        } else if (t.at / kSlotNs <= tick_) {
          later_.push_back(t);  // this slot, but later than now: next Expire
        } else {
          slot.push_back(t);  // a later revolution
        }
      }
      scratch_.clear();
      if (!later_.empty()) break;  // tick_ stays: the slot is not done
    }
    for (const Timer& t : later_) slots_[tick_ % kSlots].push_back(t);
    later_.clear();
  }
  size_t size() const { return size_; }

 private:
  std::vector<std::vector<Timer>> slots_;
  std::vector<Timer> scratch_, later_;
  uint64_t tick_;
  size_t size_ = 0;
};

struct SeatKey {
  uint32_t section;
  uint32_t index;
};

struct Ack {
  uint32_t buyer;
  uint64_t booking_id;
  std::vector<SeatKey> seats;
};

struct View {
  std::vector<uint8_t> taken;      // per seat: 0 free in the last view
  std::vector<uint16_t> row_free;  // free seats per row
  uint32_t free = 0;
  uint64_t read_ns = 0;
  bool loaded = false;
  bool in_flight = false;
};

struct StepStats {
  LatencyHistogram hist;
  LatencyHistogram after;                 // requests sent >= 1 s after the arrival window closed
  std::map<std::string, uint64_t> codes;  // answers by code (or call status)
};

class FlashSale {
 public:
  FlashSale() = default;
  int Run();

 private:
  // Setup.
  void ComputeSizes();
  void ConnectAll();
  void DefineEvent();
  void ConfigureRoom();
  void MakeBuyers();
  // Driver.
  void Loop();
  void Send(uint32_t who, Kind kind, wire::Request req, AsyncClient* via = nullptr);
  void AddTimer(uint32_t b, uint64_t at) { timers_->Add(Timer{at, b, buyers_[b].seq}); }
  void FlushSends();
  void Arrive(uint32_t b);
  void FireTimer(const Timer& t);
  void Handle(Done& d);
  void OnJoin(uint32_t b, const wire::Response& r, uint64_t now);
  void OnStatus(uint32_t b, const wire::Response& r, uint64_t now);
  void OnHold(uint32_t b, Kind kind, const wire::Response& r, uint64_t now);
  void OnConfirm(uint32_t b, const wire::Response& r, uint64_t now);
  void OnView(uint32_t section, const wire::Response& r);
  void OnAvail(const wire::Response& r, uint64_t now);
  void SendStatus(uint32_t b);
  void NextHold(uint32_t b);
  void TryNoRoom(uint32_t b);
  void GiveUp(uint32_t b, Outcome o);
  void SendConfirm(uint32_t b);
  void Finish(uint32_t b, Outcome o);
  bool PickSpecific(uint32_t b, std::vector<wire::SeatRef>* seats);
  void MaybeRefreshView(uint32_t section, uint64_t now);
  void MarkTaken(const google::protobuf::RepeatedPtrField<wire::SeatRef>& seats);
  void Unexpected(Kind kind, const std::string& what, const std::string& detail);
  uint64_t PollDelayNs(int64_t eta_ms);
  // After the run.
  void Verify();
  void Report();
  std::string Json() const;

  // Sizes and scenario.
  int nsections_ = 0, rows_ = 0, seats_per_section_ = 0, nseats_ = 0, nbuyers_ = 0;
  double ts_ = 0.02;
  uint64_t ttl_ms_ = 0, poll_min_ns_ = 0, poll_max_ns_ = 0, confirm_retry_ns_ = 0, view_ns_ = 0;
  uint32_t room_rate_ = 0;
  int64_t grace_ms_ = 0, pass_ttl_ms_ = 0;
  bool room_ = true;
  std::string event_;
  std::vector<std::string> section_labels_;
  absl::flat_hash_map<std::string, uint32_t> section_index_;

  // Clients.
  std::unique_ptr<Client> control_;
  std::vector<std::unique_ptr<Client>> clients_;
  uint32_t shards_ = 1;
  int64_t call_timeout_ms_ = 60000;

  // Inbox: the clients' I/O threads push, the driver drains. Run() destroys
  // the clients (whose destructors fail leftover calls into it) first.
  std::mutex mu_;
  std::vector<Done> inbox_;

  // Driver state (driver thread only).
  std::vector<Buyer> buyers_;
  std::unique_ptr<TimerWheel> timers_;
  // Requests of this pass, per AsyncClient (the last one is the control
  // client), handed over together at the end of the pass: the client wakes
  // its I/O thread once per burst instead of once per request.
  struct Outgoing {
    wire::Request req;
    AsyncClient::Callback done;
  };
  std::vector<std::vector<Outgoing>> outq_;
  std::vector<View> views_;
  std::mt19937_64 rng_;
  uint64_t t0_ = 0;  // first arrival
  uint64_t arrival_ns_ = 0;
  uint32_t next_arrival_ = 0;
  uint64_t outstanding_ = 0;
  uint32_t finished_ = 0;
  bool avail_in_flight_ = false;
  uint64_t next_avail_ns_ = 0;
  uint64_t avail_free_ = 1, avail_held_ = 0, avail_sold_ = 0;
  bool timed_out_ = false;
  uint64_t end_ns_ = 0;

  // Figures.
  std::map<Kind, StepStats> steps_;
  LatencyHistogram queue_wait_;  // arrival to admitted (seen)
  LatencyHistogram buy_time_;    // arrival to acknowledged sale (real time)
  LatencyHistogram driver_lag_;  // how late the driver ran an arrival or a timer
  uint64_t last_join_ns_ = 0;
  std::vector<uint64_t> outcomes_ = std::vector<uint64_t>(static_cast<size_t>(Outcome::kCount), 0);
  uint64_t sold_out_avail_ns_ = 0, sold_out_room_ns_ = 0, first_admit_ns_ = 0, last_sale_ns_ = 0;
  uint64_t first_paused_ns_ = 0;
  uint64_t admitted_ = 0, holds_granted_ = 0, specific_conflicts_ = 0, specific_fallbacks_ = 0;
  uint64_t dropped_confirms_ = 0, confirm_retries_ = 0, replayed_answers_ = 0, late_payers_ = 0;
  uint64_t lapsed_sold_ = 0, lapsed_taken_ = 0, in_progress_ = 0, release_expired_ = 0;
  uint64_t position_increases_ = 0, position_beyond_number_ = 0;
  uint64_t double_charges_ = 0, inconsistent_replays_ = 0;
  std::vector<Ack> acks_;
  std::vector<std::vector<SeatKey>>
      taken_late_seats_;  // seats of HOLD_EXPIRED_SEATS_TAKEN confirms
  std::map<std::string, uint64_t> unexpected_;
  std::vector<std::string> unexpected_examples_;
  std::vector<std::string> warnings_;
  // Verification.
  uint64_t sold_read_ = 0, held_read_ = 0, free_read_ = 0, oversold_ = 0, unacked_sold_ = 0,
           lost_sales_ = 0;
  uint64_t booking_shared_ = 0, sales_seats_ = 0, resold_seats_ = 0, taken_seats_ = 0;
  std::vector<std::string> violations_;
  wire::RoomInfoReply room_info_;
  bool have_room_info_ = false;
  double spearman_ = 0, spearman_max_ = 0;
  std::vector<double> decile_success_;
};

// ---------------------------------------------------------------------------
// Setup

void FlashSale::ComputeSizes() {
  const double scale = absl::GetFlag(FLAGS_scale);
  if (!(scale > 0)) Die("--scale must be positive");
  ts_ = absl::GetFlag(FLAGS_time_scale);
  if (!(ts_ > 0)) Die("--time_scale must be positive");
  auto scaled = [scale](int32_t v) {
    return static_cast<int>(std::llround(static_cast<double>(v) * scale));
  };
  nsections_ = std::max(2, scaled(absl::GetFlag(FLAGS_sections)));
  const int seats = std::max(100, scaled(absl::GetFlag(FLAGS_seats)));
  nbuyers_ = std::max(200, scaled(absl::GetFlag(FLAGS_buyers)));
  if (nsections_ > 10000) Die("at most 10,000 sections");
  rows_ = std::max(1, (seats / nsections_ + kRowSeats - 1) / kRowSeats);
  seats_per_section_ = rows_ * kRowSeats;
  nseats_ = seats_per_section_ * nsections_;
  if (nseats_ > 2'000'000) Die("at most 2,000,000 seats");

  auto real_ms = [this](double buyer_s) { return buyer_s * 1000.0 * ts_; };
  ttl_ms_ = static_cast<uint64_t>(std::max(20.0, real_ms(absl::GetFlag(FLAGS_hold_ttl_s))));
  poll_min_ns_ = static_cast<uint64_t>(std::max(5.0, absl::GetFlag(FLAGS_poll_ms) * ts_) * 1e6);
  poll_max_ns_ = static_cast<uint64_t>(std::max(1, absl::GetFlag(FLAGS_poll_max_ms))) * kMs;
  poll_max_ns_ = std::max(poll_max_ns_, poll_min_ns_);
  confirm_retry_ns_ =
      static_cast<uint64_t>(std::max(20.0, real_ms(2.0)) * 1e6);  // a 2 s client timeout
  view_ns_ = static_cast<uint64_t>(std::max(1, absl::GetFlag(FLAGS_view_ms))) * kMs;
  arrival_ns_ = static_cast<uint64_t>(std::max(0, absl::GetFlag(FLAGS_arrival_ms))) * kMs;
  room_ = absl::GetFlag(FLAGS_room);
  room_rate_ = static_cast<uint32_t>(std::max(0, absl::GetFlag(FLAGS_room_rate)));
  if (room_rate_ == 0)
    room_rate_ = static_cast<uint32_t>(std::max(20.0, std::round(nseats_ / 3.5 / 5.0)));
  grace_ms_ = std::max<int64_t>(15000, 3 * static_cast<int64_t>(poll_max_ns_ / kMs));
  // A pass must outlive admission + the longest payment + the hold TTL
  // (it is checked only when holding, but the brief for the room says so).
  pass_ttl_ms_ =
      static_cast<int64_t>(real_ms(absl::GetFlag(FLAGS_pay_max_s)) + static_cast<double>(ttl_ms_)) +
      60'000;
  event_ = absl::GetFlag(FLAGS_event);
  if (event_.empty())
    event_ = absl::StrCat("flashsale-", getpid(), "-", absl::ToUnixSeconds(absl::Now()));
  if (absl::GetFlag(FLAGS_pay_max_s) < absl::GetFlag(FLAGS_pay_min_s))
    Die("--pay_max_s < --pay_min_s");
}

void FlashSale::ConnectAll() {
  ClientOptions opts;
  opts.host = absl::GetFlag(FLAGS_host);
  opts.port = static_cast<uint16_t>(absl::GetFlag(FLAGS_port));
  opts.call_timeout_ms = 30000;
  opts.client_name = "flashsale";
  auto c = Client::Connect(opts);
  if (!c.ok())
    Die(absl::StrCat("cannot connect to ", opts.host, ":", opts.port, ": ", c.status().ToString()));
  control_ = std::move(*c);
  shards_ = std::max<uint32_t>(1, control_->hello().shard_count());
  const uint32_t per_client = shards_ > 1 ? shards_ + 1 : 1;
  const int n = std::max<int>(1, absl::GetFlag(FLAGS_connections) / static_cast<int>(per_client));
  call_timeout_ms_ =
      std::min<int64_t>(60000, std::max<int64_t>(5000, absl::GetFlag(FLAGS_timeout_s) * 1000LL));
  opts.call_timeout_ms = call_timeout_ms_;
  for (int i = 0; i < n; ++i) {
    auto ci = Client::Connect(opts);
    if (!ci.ok())
      Die(absl::StrCat("cannot connect to ", opts.host, ":", opts.port, ": ",
                       ci.status().ToString()));
    clients_.push_back(std::move(*ci));
  }
}

void FlashSale::DefineEvent() {
  wire::DefineEventRequest def;
  def.set_event_id(event_);
  for (int s = 0; s < nsections_; ++s) {
    const std::string label = std::to_string(101 + s);
    section_labels_.push_back(label);
    section_index_[label] = static_cast<uint32_t>(s);
    auto* sec = def.add_sections();
    sec->set_label(label);
    for (int r = 0; r < rows_; ++r) {
      auto* row = sec->add_rows();
      row->set_label(RowLabel(r));
      row->set_seat_count(kRowSeats);
    }
  }
  auto r = control_->DefineEvent(def);
  if (!r.ok()) Die(absl::StrCat("DEFINE_EVENT: ", r.status().ToString()));
  if (r->code() != wire::OK) {
    Die(absl::StrCat("DEFINE_EVENT '", event_, "': ", wire::ResultCode_Name(r->code()), " ",
                     r->detail()));
  }
  auto a = control_->GetAvailability(event_);
  if (!a.ok() || a->code() != wire::OK) Die("GET_AVAILABILITY after DEFINE_EVENT failed");
  if (a->get_availability().free() != static_cast<uint64_t>(nseats_)) {
    Die(absl::StrCat("event '", event_, "' already has holds or sales; pick a new --event"));
  }
  views_.resize(static_cast<size_t>(nsections_));
}

void FlashSale::ConfigureRoom() {
  if (!room_) return;
  wire::RoomConfig cfg;
  cfg.set_mode(wire::ADMIT_RATE);
  cfg.set_rate_per_sec(room_rate_);
  // Batches every ~10 ms at the rate.
  cfg.set_batch_size(std::clamp<uint32_t>(room_rate_ / 100, 1, 1000));
  cfg.set_pass_ttl_ms(pass_ttl_ms_);
  cfg.set_grace_ms(grace_ms_);
  cfg.set_max_seats_per_pass(6);
  if (absl::GetFlag(FLAGS_prequeue)) {
    // On sale at the end of the arrival window (+ a little for the joins in flight).
    cfg.set_on_sale_ms(absl::ToUnixMillis(absl::Now()) + static_cast<int64_t>(arrival_ns_ / kMs) +
                       1000);
  }
  auto r = control_->ConfigureRoom(event_, cfg);
  if (!r.ok()) Die(absl::StrCat("CONFIGURE_ROOM: ", r.status().ToString()));
  if (r->code() != wire::OK)
    Die(absl::StrCat("CONFIGURE_ROOM: ", wire::ResultCode_Name(r->code()), " ", r->detail()));
}

void FlashSale::MakeBuyers() {
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  std::uniform_int_distribution<int> want(1, 6);
  std::uniform_int_distribution<int> section(0, nsections_ - 1);
  std::uniform_real_distribution<double> u(0, 1);
  const double pay_min = absl::GetFlag(FLAGS_pay_min_s), pay_max = absl::GetFlag(FLAGS_pay_max_s);
  const double fail = absl::GetFlag(FLAGS_pay_fail_pct) / 100,
               drop = absl::GetFlag(FLAGS_drop_confirm_pct) / 100;
  buyers_.resize(static_cast<size_t>(nbuyers_));
  for (Buyer& b : buyers_) {
    b.want = static_cast<uint8_t>(want(rng));
    b.best = u(rng) < 0.5;
    b.pref_section = b.best && u(rng) < 0.5 ? static_cast<int16_t>(section(rng)) : -1;
    const double pay_s = pay_min + (pay_max - pay_min) * u(rng);
    b.pay_delay_ms = static_cast<uint32_t>(pay_s * 1000.0 * ts_);
    b.pay_fails = u(rng) < fail;
    b.drop_confirm = u(rng) < drop;
  }
  rng_.seed(absl::GetFlag(FLAGS_seed) * 0x9e3779b97f4a7c15ull + 7);
}

// ---------------------------------------------------------------------------
// Driver

void FlashSale::Send(uint32_t who, Kind kind, wire::Request req, AsyncClient* via) {
  uint16_t seq = 0;
  if (kind != Kind::kView && kind != Kind::kAvail) {
    Buyer& b = buyers_[who];
    seq = ++b.seq;
    b.sent_ns = MonoNs();
  }
  ++outstanding_;
  const size_t c = via != nullptr ? clients_.size() : who % clients_.size();
  outq_[c].push_back(
      Outgoing{std::move(req), [this, who, seq, kind](absl::StatusOr<wire::Response> r) {
                 Done d{who, seq, kind, MonoNs(), std::move(r)};
                 std::lock_guard<std::mutex> l(mu_);
                 inbox_.push_back(std::move(d));
               }});
}

void FlashSale::FlushSends() {
  for (size_t c = 0; c < outq_.size(); ++c) {
    AsyncClient& client = c < clients_.size() ? clients_[c]->async() : control_->async();
    for (Outgoing& o : outq_[c]) client.Call(std::move(o.req), std::move(o.done), call_timeout_ms_);
    outq_[c].clear();
  }
}

void FlashSale::Unexpected(Kind kind, const std::string& what, const std::string& detail) {
  const std::string key = absl::StrCat(KindName(kind), " ", what);
  if (unexpected_[key]++ == 0 && unexpected_examples_.size() < 20) {
    unexpected_examples_.push_back(absl::StrCat(key, ": ", detail));
  }
}

void FlashSale::Finish(uint32_t b, Outcome o) {
  Buyer& x = buyers_[b];
  if (x.phase == Phase::kDone) return;
  x.phase = Phase::kDone;
  x.outcome = o;
  ++x.seq;  // drops any timer
  x.pass.clear();
  x.pass.shrink_to_fit();
  ++outcomes_[static_cast<size_t>(o)];
  ++finished_;
}

uint64_t FlashSale::PollDelayNs(int64_t eta_ms) {
  uint64_t d = eta_ms > 0 ? static_cast<uint64_t>(eta_ms) * kMs / 2 : 0;
  d = std::clamp(d, poll_min_ns_, poll_max_ns_);
  std::uniform_real_distribution<double> jitter(0.9, 1.1);
  return static_cast<uint64_t>(static_cast<double>(d) * jitter(rng_));
}

void FlashSale::Arrive(uint32_t b) {
  Buyer& x = buyers_[b];
  if (room_) {
    x.phase = Phase::kJoining;
    wire::Request req;
    req.mutable_join_queue()->set_event_id(event_);
    req.mutable_join_queue()->set_buyer_key(absl::StrCat("buyer-", b));
    Send(b, Kind::kJoin, std::move(req));
  } else {
    x.phase = Phase::kBuying;
    x.count = x.want;
    TryNoRoom(b);
  }
}

void FlashSale::TryNoRoom(uint32_t b) {
  // No room: the site shows the availability we last read; with no free
  // seat the buyer does not try, and comes back later (GiveUp counts it).
  if (avail_free_ == 0) {
    GiveUp(b, Outcome::kNoSeats);
    return;
  }
  NextHold(b);
}

void FlashSale::SendStatus(uint32_t b) {
  wire::Request req;
  auto* s = req.mutable_queue_status();
  s->set_event_id(event_);
  s->set_number(buyers_[b].number);
  s->set_buyer_key(absl::StrCat("buyer-", b));
  Send(b, Kind::kStatus, std::move(req));
}

void FlashSale::FireTimer(const Timer& t) {
  Buyer& x = buyers_[t.buyer];
  if (x.seq != t.seq) return;  // the buyer moved on since the timer was set
  switch (x.phase) {
    case Phase::kWaiting:
      SendStatus(t.buyer);
      break;
    case Phase::kBuying:
      TryNoRoom(t.buyer);
      break;  // no room: next round
    case Phase::kPaying:
      if (x.pay_fails) {
        x.phase = Phase::kReleasing;
        wire::Request req;
        req.mutable_release()->set_hold_id(x.hold_id);
        req.mutable_release()->set_holder(absl::StrCat("buyer-", t.buyer));
        Send(t.buyer, Kind::kRelease, std::move(req));
      } else {
        x.phase = Phase::kConfirming;
        SendConfirm(t.buyer);
      }
      break;
    case Phase::kConfirming:
      SendConfirm(t.buyer);
      break;  // retry, same key
    default:
      break;
  }
}

void FlashSale::SendConfirm(uint32_t b) {
  Buyer& x = buyers_[b];
  if (x.confirm_tries >= kMaxConfirmTries) {
    Unexpected(Kind::kConfirm, "retries exhausted", absl::StrCat("buyer ", b));
    Finish(b, Outcome::kError);
    return;
  }
  if (x.confirm_tries > 0) ++confirm_retries_;
  ++x.confirm_tries;
  wire::Request req;
  auto* c = req.mutable_confirm();
  c->set_hold_id(x.hold_id);
  c->set_holder(absl::StrCat("buyer-", b));
  c->set_idempotency_key(absl::StrCat(event_, "/pay-", b));
  c->set_payment_ref(absl::StrCat("psp-", b));
  const bool drop = x.drop_confirm && x.confirm_tries == 1;
  x.confirm_drop_pending = drop;
  Send(b, Kind::kConfirm, std::move(req));
  if (drop) {
    // The response to this one is "lost": the buyer's client times out and
    // retries with the same key. The retry timer keeps the current seq.
    ++dropped_confirms_;
    AddTimer(b, MonoNs() + confirm_retry_ns_);
  }
}

bool FlashSale::PickSpecific(uint32_t b, std::vector<wire::SeatRef>* seats) {
  const Buyer& x = buyers_[b];
  const int want = x.want;
  std::uniform_int_distribution<int> sec(0, nsections_ - 1), row(0, rows_ - 1),
      col(0, kRowSeats - 1);
  const uint64_t now = MonoNs();
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int s = sec(rng_);
    MaybeRefreshView(static_cast<uint32_t>(s), now);
    const View& v = views_[static_cast<size_t>(s)];
    if (!v.loaded) {
      // No seat map yet: a random block.
      const int r = row(rng_);
      const int c = std::uniform_int_distribution<int>(0, kRowSeats - want)(rng_);
      for (int k = 0; k < want; ++k) {
        seats->push_back(SeatIndex(section_labels_[static_cast<size_t>(s)],
                                   static_cast<uint32_t>(r * kRowSeats + c + k)));
      }
      return true;
    }
    if (v.free < static_cast<uint32_t>(want)) continue;
    const int r0 = row(rng_), c0 = col(rng_);
    for (int dr = 0; dr < rows_; ++dr) {
      const int r = (r0 + dr) % rows_;
      if (v.row_free[static_cast<size_t>(r)] < want) continue;
      for (int k = 0; k < kRowSeats; ++k) {
        const int c = (c0 + k) % kRowSeats;
        if (c + want > kRowSeats) continue;
        bool ok = true;
        for (int j = 0; j < want && ok; ++j)
          ok = v.taken[static_cast<size_t>(r * kRowSeats + c + j)] == 0;
        if (!ok) continue;
        for (int j = 0; j < want; ++j) {
          seats->push_back(SeatIndex(section_labels_[static_cast<size_t>(s)],
                                     static_cast<uint32_t>(r * kRowSeats + c + j)));
        }
        return true;
      }
    }
  }
  return false;
}

void FlashSale::MaybeRefreshView(uint32_t section, uint64_t now) {
  View& v = views_[section];
  if (v.in_flight || (v.loaded && now - v.read_ns < view_ns_)) return;
  v.in_flight = true;
  wire::Request req;
  req.mutable_get_seats()->set_event_id(event_);
  req.mutable_get_seats()->set_section(section_labels_[section]);
  Send(section, Kind::kView, std::move(req), &control_->async());
}

void FlashSale::MarkTaken(const google::protobuf::RepeatedPtrField<wire::SeatRef>& seats) {
  for (const auto& s : seats) {
    auto it = section_index_.find(s.section());
    if (it == section_index_.end() || !s.has_index() ||
        s.index() >= static_cast<uint32_t>(seats_per_section_))
      continue;
    View& v = views_[it->second];
    if (!v.loaded || v.taken[s.index()] != 0) continue;
    v.taken[s.index()] = 1;
    --v.row_free[s.index() / kRowSeats];
    --v.free;
  }
}

void FlashSale::NextHold(uint32_t b) {
  Buyer& x = buyers_[b];
  const std::string holder = absl::StrCat("buyer-", b);
  // Specific seats first (for the buyers who pick them), up to three tries.
  if (!x.best && x.specific_tries < kMaxSpecificTries) {
    std::vector<wire::SeatRef> seats;
    if (PickSpecific(b, &seats)) {
      ++x.specific_tries;
      wire::Request req;
      auto* h = req.mutable_hold();
      h->set_event_id(event_);
      for (auto& s : seats) *h->add_seats() = std::move(s);
      h->set_holder(holder);
      h->set_ttl_ms(static_cast<int64_t>(ttl_ms_));
      h->set_pass(x.pass);
      Send(b, Kind::kHoldSpecific, std::move(req));
      return;
    }
    x.specific_tries = kMaxSpecificTries;
  }
  if (!x.best && x.chain == 0) {
    ++specific_fallbacks_;
    x.chain = 1;  // specific-seat buyers fall back to "any section, together"
  }
  // Best available: [preferred section, together] -> [any section, together]
  // -> [any section, scattered, want .. ceil(want / 2) seats].
  if (x.chain == 0 && x.pref_section < 0) x.chain = 1;
  const uint8_t min_count = static_cast<uint8_t>((x.want + 1) / 2);
  if (x.chain >= 2 && x.count < min_count) {
    GiveUp(b, Outcome::kNoSeats);
    return;
  }
  wire::Request req;
  auto* h = req.mutable_hold_best_available();
  h->set_event_id(event_);
  h->set_holder(holder);
  h->set_ttl_ms(static_cast<int64_t>(ttl_ms_));
  h->set_pass(x.pass);
  if (x.chain == 0) {
    h->set_section(section_labels_[static_cast<size_t>(x.pref_section)]);
    h->set_count(x.want);
  } else if (x.chain == 1) {
    h->set_count(x.want);
  } else {
    h->set_count(x.count);
    h->set_scattered_ok(true);
  }
  Send(b, Kind::kHoldBest, std::move(req));
}

void FlashSale::GiveUp(uint32_t b, Outcome o) {
  Buyer& x = buyers_[b];
  if (!room_ && o == Outcome::kNoSeats) {
    // No room: the buyer reloads the page a few times, unless the site
    // (the availability we poll) says sold out.
    if (avail_free_ == 0 && avail_held_ == 0) {
      Finish(b, Outcome::kSoldOutNoRoom);
      return;
    }
    if (++x.rounds < kNoRoomRounds) {
      x.specific_tries = 0;
      x.chain = 0;
      x.count = x.want;
      ++x.seq;
      AddTimer(b, MonoNs() + (poll_min_ns_ << x.rounds));
      return;
    }
  }
  if (room_ && !x.pass.empty()) {
    // Admitted, but nothing to hold: give the slot back.
    x.phase = Phase::kLeaving;
    x.outcome = o;
    wire::Request req;
    auto* l = req.mutable_leave_queue();
    l->set_event_id(event_);
    l->set_number(x.number);
    l->set_buyer_key(absl::StrCat("buyer-", b));
    Send(b, Kind::kLeave, std::move(req));
    return;
  }
  Finish(b, o);
}

void FlashSale::Handle(Done& d) {
  --outstanding_;
  StepStats& st = steps_[d.kind];
  const std::string code_name =
      d.r.ok() ? wire::ResultCode_Name(d.r->code())
               : absl::StrCat("status:", absl::StatusCodeToString(d.r.status().code()));
  ++st.codes[code_name];
  if (d.kind == Kind::kView) {
    views_[d.who].in_flight = false;
    if (d.r.ok() && d.r->code() == wire::OK) {
      OnView(d.who, *d.r);
    } else {
      Unexpected(d.kind, code_name, d.r.ok() ? d.r->detail() : d.r.status().ToString());
    }
    return;
  }
  if (d.kind == Kind::kAvail) {
    avail_in_flight_ = false;
    if (d.r.ok() && d.r->code() == wire::OK) {
      OnAvail(*d.r, d.recv_ns);
    } else {
      Unexpected(d.kind, code_name, d.r.ok() ? d.r->detail() : d.r.status().ToString());
    }
    return;
  }
  const uint32_t b = d.who;
  Buyer& x = buyers_[b];
  if (d.kind == Kind::kConfirm && d.r.ok()) {
    // Every CONFIRM answer, even a dropped or stale one, counts for the
    // double-charge check: one payment, one booking id.
    const wire::Response& r = *d.r;
    if (r.code() == wire::OK) {
      if (x.seen_booking == 0) {
        x.seen_booking = r.confirm().booking_id();
      } else if (x.seen_booking != r.confirm().booking_id()) {
        ++double_charges_;
        violations_.push_back(absl::StrCat("double charge: buyer ", b, " got bookings ",
                                           x.seen_booking, " and ", r.confirm().booking_id(),
                                           " for one idempotency key"));
      }
      if (x.seen_taken) ++inconsistent_replays_;
      if (r.confirm().replayed()) ++replayed_answers_;
    } else if (r.code() == wire::HOLD_EXPIRED_SEATS_TAKEN) {
      if (x.seen_booking != 0) ++inconsistent_replays_;
      x.seen_taken = true;
      if (r.confirm().replayed()) ++replayed_answers_;
    }
  }
  if (d.seq != x.seq || x.phase == Phase::kDone) return;  // stale (timed-out retry, etc.)
  if (d.kind == Kind::kConfirm && x.confirm_drop_pending) {
    // The dropped response: the buyer never sees it; the retry timer runs.
    x.confirm_drop_pending = false;
    return;
  }
  st.hist.Record(d.recv_ns - x.sent_ns);
  if (x.sent_ns >= t0_ + arrival_ns_ + 1'000'000'000ull) st.after.Record(d.recv_ns - x.sent_ns);
  if (d.kind == Kind::kJoin) last_join_ns_ = std::max(last_join_ns_, d.recv_ns);
  if (!d.r.ok()) {
    if (d.kind == Kind::kConfirm) {
      // A failed CONFIRM call is retried with the same key.
      Unexpected(d.kind, code_name, d.r.status().ToString());
      AddTimer(b, d.recv_ns + confirm_retry_ns_);
      return;
    }
    Unexpected(d.kind, code_name, d.r.status().ToString());
    Finish(b, Outcome::kError);
    return;
  }
  const wire::Response& r = *d.r;
  switch (d.kind) {
    case Kind::kJoin:
      OnJoin(b, r, d.recv_ns);
      break;
    case Kind::kStatus:
      OnStatus(b, r, d.recv_ns);
      break;
    case Kind::kHoldSpecific:
    case Kind::kHoldBest:
      OnHold(b, d.kind, r, d.recv_ns);
      break;
    case Kind::kConfirm:
      OnConfirm(b, r, d.recv_ns);
      break;
    case Kind::kRelease:
      if (r.code() == wire::OK || r.code() == wire::HOLD_EXPIRED) {
        if (r.code() == wire::HOLD_EXPIRED) ++release_expired_;
      } else {
        Unexpected(d.kind, code_name, r.detail());
      }
      Finish(b, Outcome::kPaymentFailed);
      break;
    case Kind::kLeave:
      if (r.code() != wire::OK) Unexpected(d.kind, code_name, r.detail());
      Finish(b, x.outcome == Outcome::kNone ? Outcome::kNoSeats : x.outcome);
      break;
    default:
      break;
  }
}

void FlashSale::OnJoin(uint32_t b, const wire::Response& r, uint64_t now) {
  Buyer& x = buyers_[b];
  if (r.code() == wire::SOLD_OUT) {
    if (sold_out_room_ns_ == 0) sold_out_room_ns_ = now;
    Finish(b, Outcome::kSoldOutJoin);
    return;
  }
  if (r.code() != wire::OK) {
    Unexpected(Kind::kJoin, wire::ResultCode_Name(r.code()), r.detail());
    Finish(b, Outcome::kError);
    return;
  }
  x.number = static_cast<uint32_t>(r.join_queue().number());
  x.phase = Phase::kWaiting;
  AddTimer(b, now + PollDelayNs(0));
}

void FlashSale::OnStatus(uint32_t b, const wire::Response& r, uint64_t now) {
  Buyer& x = buyers_[b];
  if (r.code() != wire::OK) {
    Unexpected(Kind::kStatus, wire::ResultCode_Name(r.code()), r.detail());
    Finish(b, Outcome::kError);
    return;
  }
  const wire::QueueStatusReply& s = r.queue_status();
  switch (s.state()) {
    case wire::QUEUE_WAITING: {
      const uint32_t pos = static_cast<uint32_t>(s.position());
      // (With a pre-queue the room shuffles everyone at on-sale: positions
      // may go up then, by design.)
      if (x.position_seen && pos > x.position && !absl::GetFlag(FLAGS_prequeue)) {
        if (position_increases_++ == 0) {
          warnings_.push_back(absl::StrCat("queue position went up: buyer ", b, " (number ",
                                           x.number, ") from ", x.position, " to ", pos));
        }
      }
      if (!absl::GetFlag(FLAGS_prequeue) && pos >= x.number) {
        if (position_beyond_number_++ == 0) {
          warnings_.push_back(absl::StrCat("queue position ", pos, " >= queue number ", x.number,
                                           " (buyer ", b, ")"));
        }
      }
      x.position_seen = true;
      x.position = pos;
      AddTimer(b, now + PollDelayNs(s.eta_p50_ms()));
      if (s.paused() && first_paused_ns_ == 0) first_paused_ns_ = now;
      return;
    }
    case wire::QUEUE_ADMITTED:
      if (s.pass().empty()) {
        Unexpected(Kind::kStatus, "ADMITTED without a pass", "");
        Finish(b, Outcome::kError);
        return;
      }
      ++admitted_;
      if (first_admit_ns_ == 0) first_admit_ns_ = now;
      queue_wait_.Record(now - (t0_ + arrival_ns_ * b / static_cast<uint64_t>(nbuyers_)));
      x.pass = s.pass();
      x.phase = Phase::kBuying;
      x.count = x.want;
      NextHold(b);
      return;
    case wire::QUEUE_SOLD_OUT:
      if (sold_out_room_ns_ == 0) sold_out_room_ns_ = now;
      Finish(b, Outcome::kSoldOutQueue);
      return;
    case wire::QUEUE_LAPSED:
      Finish(b, Outcome::kLapsedQueue);
      return;
    default:
      Unexpected(Kind::kStatus, wire::QueueState_Name(s.state()),
                 "state of a buyer who was waiting");
      Finish(b, Outcome::kQueueOther);
      return;
  }
}

void FlashSale::OnHold(uint32_t b, Kind kind, const wire::Response& r, uint64_t now) {
  Buyer& x = buyers_[b];
  if (r.code() == wire::OK) {
    if (r.hold().part_hold_ids_size() > 1) {
      Unexpected(kind, "multi-shard hold", "a hold of one section came back in parts");
    }
    ++holds_granted_;
    if (!x.pay_fails && x.pay_delay_ms > ttl_ms_) ++late_payers_;  // will confirm after the TTL
    MarkTaken(r.hold().seats());
    x.hold_id = r.hold().hold_id();
    x.phase = Phase::kPaying;
    AddTimer(b, now + static_cast<uint64_t>(x.pay_delay_ms) * kMs);
    return;
  }
  if (kind == Kind::kHoldSpecific) {
    if (r.code() == wire::SEAT_UNAVAILABLE) {
      ++specific_conflicts_;
      google::protobuf::RepeatedPtrField<wire::SeatRef> seats;
      for (const auto& c : r.hold().conflicts()) *seats.Add() = c.seat();
      MarkTaken(seats);
      NextHold(b);
      return;
    }
  } else if (r.code() == wire::NO_ADJACENT_SEATS || r.code() == wire::NOT_ENOUGH_SEATS) {
    if (x.chain < 2) {
      ++x.chain;
    } else {
      --x.count;
    }
    NextHold(b);
    return;
  }
  Unexpected(kind, wire::ResultCode_Name(r.code()), r.detail());
  GiveUp(b, Outcome::kError);
}

void FlashSale::OnConfirm(uint32_t b, const wire::Response& r, uint64_t now) {
  if (r.code() == wire::OK) {
    Ack a{b, r.confirm().booking_id(), {}};
    for (const auto& s : r.confirm().seats()) {
      auto it = section_index_.find(s.section());
      if (it == section_index_.end() || !s.has_index()) {
        Unexpected(Kind::kConfirm, "seat without section/index", s.ShortDebugString());
        continue;
      }
      a.seats.push_back(SeatKey{it->second, s.index()});
    }
    acks_.push_back(std::move(a));
    if (r.confirm().hold_lapsed()) ++lapsed_sold_;
    last_sale_ns_ = now;
    buy_time_.Record(now - (t0_ + arrival_ns_ * b / static_cast<uint64_t>(nbuyers_)));
    Finish(b, r.confirm().hold_lapsed() ? Outcome::kBoughtLate : Outcome::kBought);
    return;
  }
  if (r.code() == wire::HOLD_EXPIRED_SEATS_TAKEN) {
    ++lapsed_taken_;
    std::vector<SeatKey> seats;
    for (const auto& s : r.confirm().seats()) {
      auto it = section_index_.find(s.section());
      if (it != section_index_.end() && s.has_index())
        seats.push_back(SeatKey{it->second, s.index()});
    }
    taken_late_seats_.push_back(std::move(seats));
    Finish(b, Outcome::kTakenLate);
    return;
  }
  if (r.code() == wire::IN_PROGRESS) {
    ++in_progress_;
    AddTimer(b, now + confirm_retry_ns_);
    return;
  }
  Unexpected(Kind::kConfirm, wire::ResultCode_Name(r.code()), r.detail());
  Finish(b, Outcome::kError);
}

void FlashSale::OnView(uint32_t section, const wire::Response& r) {
  View& v = views_[section];
  v.taken.assign(static_cast<size_t>(seats_per_section_), 1);
  v.row_free.assign(static_cast<size_t>(rows_), 0);
  v.free = 0;
  for (const auto& s : r.get_seats().seats()) {
    if (s.index() >= static_cast<uint32_t>(seats_per_section_) || s.state() != wire::FREE) continue;
    v.taken[s.index()] = 0;
    ++v.row_free[s.index() / kRowSeats];
    ++v.free;
  }
  v.loaded = true;
  v.read_ns = MonoNs();
}

void FlashSale::OnAvail(const wire::Response& r, uint64_t now) {
  const auto& a = r.get_availability();
  avail_free_ = a.free();
  avail_held_ = a.held();
  avail_sold_ = a.sold();
  if (sold_out_avail_ns_ == 0 && a.free() == 0 && a.held() == 0) sold_out_avail_ns_ = now;
}

void FlashSale::Loop() {
  const uint64_t deadline =
      MonoNs() + static_cast<uint64_t>(absl::GetFlag(FLAGS_timeout_s)) * 1'000'000'000ull;
  const uint64_t avail_every = 20 * kMs;
  t0_ = MonoNs() + 5 * kMs;
  timers_ = std::make_unique<TimerWheel>(MonoNs());
  outq_.resize(clients_.size() + 1);
  std::vector<Done> batch;
  std::vector<Timer> due;
  const uint32_t n = static_cast<uint32_t>(nbuyers_);
  while (true) {
    uint64_t now = MonoNs();
    const uint64_t pass_start = now;
    if (now >= deadline) {
      timed_out_ = true;
      break;
    }
    // Arrivals on schedule (bounded per pass so replies are not starved).
    for (int k = 0; k < 16384 && next_arrival_ < n; ++k) {
      const uint64_t at = t0_ + arrival_ns_ * next_arrival_ / n;
      if (at > now) break;
      driver_lag_.Record(now - at);
      Arrive(next_arrival_++);
    }
    timers_->Expire(now, &due);
    for (const Timer& t : due) {
      driver_lag_.Record(now - t.at);
      FireTimer(t);
    }
    due.clear();
    {
      std::lock_guard<std::mutex> l(mu_);
      batch.swap(inbox_);
    }
    for (Done& d : batch) Handle(d);
    batch.clear();
    now = MonoNs();
    if (now >= next_avail_ns_ && !avail_in_flight_ && finished_ < n) {
      avail_in_flight_ = true;
      next_avail_ns_ = now + avail_every;
      wire::Request req;
      req.mutable_get_availability()->set_event_id(event_);
      Send(0, Kind::kAvail, std::move(req), &control_->async());
    }
    FlushSends();
    if (finished_ == n && outstanding_ == 0) break;
    // Ticks of kTickNs: everything due runs in one pass, then the driver
    // sleeps until the next tick. (Waking for every reply or timer would
    // cost a context switch each, and an I/O-thread wake per request.)
    const uint64_t next_tick = pass_start + kTickNs;
    const uint64_t after = MonoNs();
    if (after < next_tick) std::this_thread::sleep_for(std::chrono::nanoseconds(next_tick - after));
  }
  end_ns_ = MonoNs();
  for (uint32_t b = 0; b < n; ++b) {
    if (buyers_[b].phase != Phase::kDone) Finish(b, Outcome::kUnfinished);
  }
  FlushSends();
  // Let the calls in flight finish (each is bounded by its timeout), so the
  // read-back sees the final state and no callback outlives the run.
  const uint64_t drain_until = MonoNs() + static_cast<uint64_t>(call_timeout_ms_ + 1000) * kMs;
  while (outstanding_ > 0 && MonoNs() < drain_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    {
      std::lock_guard<std::mutex> l(mu_);
      batch.swap(inbox_);
    }
    for (Done& d : batch) Handle(d);
    batch.clear();
    FlushSends();  // (a finished buyer sends nothing; the monitor may)
  }
}

// ---------------------------------------------------------------------------
// Verification and report

void FlashSale::Verify() {
  // Acknowledged bookings: one buyer each, seats in no other booking.
  absl::flat_hash_map<uint64_t, uint32_t> booking_buyer;
  absl::flat_hash_map<uint64_t, uint64_t> seat_booking;  // section << 32 | index -> booking
  for (const Ack& a : acks_) {
    auto [it, fresh] = booking_buyer.emplace(a.booking_id, a.buyer);
    if (!fresh) {
      ++booking_shared_;
      violations_.push_back(absl::StrCat("booking ", a.booking_id, " acknowledged to buyers ",
                                         it->second, " and ", a.buyer));
    }
    sales_seats_ += a.seats.size();
    for (const SeatKey& s : a.seats) {
      const uint64_t key = (static_cast<uint64_t>(s.section) << 32) | s.index;
      auto [sit, sfresh] = seat_booking.emplace(key, a.booking_id);
      if (!sfresh) {
        if (oversold_++ < 10) {
          violations_.push_back(absl::StrCat("oversold: seat ", section_labels_[s.section], "/",
                                             s.index, " in bookings ", sit->second, " and ",
                                             a.booking_id));
        }
      }
    }
  }
  // Read every section back.
  absl::flat_hash_map<uint64_t, uint64_t> sold_owner;
  std::vector<bool> read_ok(static_cast<size_t>(nsections_), false);
  for (int s = 0; s < nsections_; ++s) {
    auto r = control_->Call(
        [&] {
          wire::Request req;
          req.mutable_get_seats()->set_event_id(event_);
          req.mutable_get_seats()->set_section(section_labels_[static_cast<size_t>(s)]);
          return req;
        }(),
        30000);
    if (!r.ok() || r->code() != wire::OK) {
      violations_.push_back(absl::StrCat(
          "read-back: GET_SEATS of section ", section_labels_[static_cast<size_t>(s)],
          " failed: ", r.ok() ? wire::ResultCode_Name(r->code()) : r.status().ToString()));
      continue;
    }
    read_ok[static_cast<size_t>(s)] = true;
    for (const auto& seat : r->get_seats().seats()) {
      const uint64_t key = (static_cast<uint64_t>(s) << 32) | seat.index();
      if (seat.state() == wire::SOLD) {
        ++sold_read_;
        sold_owner[key] = seat.owner_id();
        auto it = seat_booking.find(key);
        if (!booking_buyer.contains(seat.owner_id())) {
          if (unacked_sold_++ < 10) {
            violations_.push_back(absl::StrCat("seat ", section_labels_[static_cast<size_t>(s)],
                                               "/", seat.index(), " is SOLD to booking ",
                                               seat.owner_id(), ", which no buyer was told about"));
          }
        } else if (it == seat_booking.end() || it->second != seat.owner_id()) {
          if (unacked_sold_++ < 10) {
            violations_.push_back(absl::StrCat("seat ", section_labels_[static_cast<size_t>(s)],
                                               "/", seat.index(), " is SOLD to booking ",
                                               seat.owner_id(),
                                               ", whose acknowledged seats do not include it"));
          }
        }
      } else if (seat.state() == wire::HELD) {
        ++held_read_;
      } else {
        ++free_read_;
      }
    }
  }
  for (const auto& [key, booking] : seat_booking) {
    if (!read_ok[key >> 32]) continue;  // reported above
    auto it = sold_owner.find(key);
    if (it == sold_owner.end() || it->second != booking) {
      if (lost_sales_++ < 10) {
        violations_.push_back(absl::StrCat("acknowledged booking ", booking, " has seat ",
                                           section_labels_[key >> 32], "/", key & 0xffffffffu,
                                           " but it is not SOLD to it"));
      }
    }
  }
  // Late confirms refused because the seats were taken: were they re-sold?
  for (const auto& seats : taken_late_seats_) {
    for (const SeatKey& s : seats) {
      ++taken_seats_;
      const uint64_t key = (static_cast<uint64_t>(s.section) << 32) | s.index;
      if (sold_owner.contains(key)) ++resold_seats_;
    }
  }
  if (oversold_ > 0)
    violations_.push_back(
        absl::StrCat(oversold_, " seats in two acknowledged bookings (oversold)"));
  if (double_charges_ > 0) violations_.push_back(absl::StrCat(double_charges_, " double charges"));
  if (inconsistent_replays_ > 0) {
    violations_.push_back(absl::StrCat(inconsistent_replays_,
                                       " payments answered both OK and HOLD_EXPIRED_SEATS_TAKEN"));
  }
  if (sales_seats_ != sold_read_) {
    violations_.push_back(absl::StrCat("sales (", sales_seats_,
                                       " seats acknowledged) != SOLD seats read back (", sold_read_,
                                       ")"));
  }
  if (unacked_sold_ > 0)
    violations_.push_back(
        absl::StrCat(unacked_sold_, " SOLD seats not in an acknowledged booking"));
  if (lost_sales_ > 0)
    violations_.push_back(
        absl::StrCat(lost_sales_, " acknowledged seats not SOLD to their booking"));
  uint64_t unexpected = 0;
  for (const auto& [k, v] : unexpected_) unexpected += v;
  if (unexpected > 0)
    violations_.push_back(absl::StrCat(unexpected, " unexpected answers (see \"unexpected\")"));
  const uint64_t unfinished = outcomes_[static_cast<size_t>(Outcome::kUnfinished)];
  if (timed_out_ || unfinished > 0) {
    violations_.push_back(absl::StrCat(
        unfinished, " buyers unfinished after --timeout_s=", absl::GetFlag(FLAGS_timeout_s)));
  }
  if (sales_seats_ == 0) violations_.push_back("no sales at all");

  if (room_) {
    auto ri = control_->RoomInfo(event_);
    if (ri.ok() && ri->code() == wire::OK) {
      room_info_ = ri->room_info();
      have_room_info_ = true;
    }
  }
  // Fairness: Spearman rank correlation between earliness (first arrival =
  // highest rank) and success (bought >= 1 seat), mid-ranks for ties.
  const size_t n = buyers_.size();
  std::vector<uint8_t> success(n);
  uint64_t s_count = 0;
  for (size_t i = 0; i < n; ++i) {
    const Outcome o = buyers_[i].outcome;
    success[i] = o == Outcome::kBought || o == Outcome::kBoughtLate;
    s_count += success[i];
  }
  auto spearman = [n](const std::vector<uint8_t>& y) {
    uint64_t s = 0;
    for (uint8_t v : y) s += v;
    const uint64_t f = n - s;
    if (s == 0 || f == 0) return 0.0;
    const double r0 = (static_cast<double>(f) + 1) / 2,
                 r1 = static_cast<double>(f) + (static_cast<double>(s) + 1) / 2;
    const double mx = (static_cast<double>(n) + 1) / 2;
    const double my =
        (static_cast<double>(f) * r0 + static_cast<double>(s) * r1) / static_cast<double>(n);
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; ++i) {
      const double dx = static_cast<double>(n - i) - mx;  // earliness rank
      const double dy = (y[i] ? r1 : r0) - my;
      sxy += dx * dy;
      sxx += dx * dx;
      syy += dy * dy;
    }
    return sxy / std::sqrt(sxx * syy);
  };
  spearman_ = spearman(success);
  std::vector<uint8_t> ideal(n, 0);
  for (size_t i = 0; i < s_count && i < n; ++i) ideal[i] = 1;
  spearman_max_ = spearman(ideal);
  decile_success_.assign(10, 0);
  for (int d = 0; d < 10; ++d) {
    const size_t lo = n * static_cast<size_t>(d) / 10, hi = n * static_cast<size_t>(d + 1) / 10;
    uint64_t k = 0;
    for (size_t i = lo; i < hi; ++i) k += success[i];
    decile_success_[static_cast<size_t>(d)] =
        hi > lo ? static_cast<double>(k) / static_cast<double>(hi - lo) : 0;
  }
}

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

std::string FlashSale::Json() const {
  std::string j = "{\n";
  auto num = [&j](const char* k, double v, bool last = false) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.6g", v);
    absl::StrAppend(&j, "  \"", k, "\": ", buf, last ? "\n" : ",\n");
  };
  auto since_t0 = [this](uint64_t ns) { return ns == 0 ? -1.0 : Ms(ns - t0_); };
  absl::StrAppend(&j, "  \"event\": \"", JsonEscape(event_), "\",\n");
  absl::StrAppend(&j, "  \"room\": ", room_ ? "true" : "false", ",\n");
  absl::StrAppend(&j, "  \"prequeue\": ", absl::GetFlag(FLAGS_prequeue) ? "true" : "false", ",\n");
  num("buyers", nbuyers_);
  num("seats", nseats_);
  num("sections", nsections_);
  num("shards", shards_);
  num("connections", static_cast<double>(clients_.size() * (shards_ > 1 ? shards_ + 1 : 1)));
  num("time_scale", ts_);
  num("hold_ttl_ms", static_cast<double>(ttl_ms_));
  num("room_rate_per_sec", room_ ? room_rate_ : 0);
  num("arrival_ms", Ms(arrival_ns_));
  num("sold_out_ms", [&] {
    uint64_t t = sold_out_avail_ns_;
    if (sold_out_room_ns_ != 0 && (t == 0 || sold_out_room_ns_ < t)) t = sold_out_room_ns_;
    return since_t0(t);
  }());
  num("sold_out_by_availability_ms", since_t0(sold_out_avail_ns_));
  num("sold_out_by_room_ms", since_t0(sold_out_room_ns_));
  num("first_admission_ms", since_t0(first_admit_ns_));
  num("first_paused_ms", since_t0(first_paused_ns_));
  num("last_sale_ms", since_t0(last_sale_ns_));
  num("run_ms", Ms(end_ns_ - t0_));
  num("all_joins_answered_ms", since_t0(last_join_ns_));
  num("sales_bookings", static_cast<double>(acks_.size()));
  num("sales_seats", static_cast<double>(sales_seats_));
  num("sold_seats_read_back", static_cast<double>(sold_read_));
  num("held_seats_read_back", static_cast<double>(held_read_));
  num("free_seats_read_back", static_cast<double>(free_read_));
  num("oversold", static_cast<double>(oversold_));
  num("double_charges", static_cast<double>(double_charges_));
  num("inconsistent_replays", static_cast<double>(inconsistent_replays_));
  num("unacknowledged_sold_seats", static_cast<double>(unacked_sold_));
  num("lost_sales_seats", static_cast<double>(lost_sales_));
  num("holds_granted", static_cast<double>(holds_granted_));
  num("planned_late_payers", static_cast<double>(late_payers_));
  num("late_confirms", static_cast<double>(lapsed_sold_ + lapsed_taken_));
  num("late_confirm_sold", static_cast<double>(lapsed_sold_));
  num("late_confirm_seats_taken", static_cast<double>(lapsed_taken_));
  num("expired_hold_seats_resold", static_cast<double>(resold_seats_));
  num("expired_hold_seats_taken", static_cast<double>(taken_seats_));
  num("payment_failures",
      static_cast<double>(outcomes_[static_cast<size_t>(Outcome::kPaymentFailed)]));
  num("release_after_expiry", static_cast<double>(release_expired_));
  num("dropped_confirm_responses", static_cast<double>(dropped_confirms_));
  num("confirm_retries", static_cast<double>(confirm_retries_));
  num("replayed_confirm_answers", static_cast<double>(replayed_answers_));
  num("specific_seat_conflicts", static_cast<double>(specific_conflicts_));
  num("specific_fallbacks_to_best", static_cast<double>(specific_fallbacks_));
  num("admitted", static_cast<double>(admitted_));
  num("queue_position_increases", static_cast<double>(position_increases_));
  num("queue_position_beyond_number", static_cast<double>(position_beyond_number_));
  num("confirm_in_progress_answers", static_cast<double>(in_progress_));
  num("spearman_earliness_success", spearman_);
  num("spearman_max_possible", spearman_max_);
  num("spearman_ratio", spearman_max_ > 0 ? spearman_ / spearman_max_ : 0.0);
  j += "  \"success_by_arrival_decile\": [";
  for (size_t i = 0; i < decile_success_.size(); ++i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%.4f", i ? ", " : "", decile_success_[i]);
    j += buf;
  }
  j += "],\n  \"outcomes\": {";
  for (size_t i = 1; i < outcomes_.size(); ++i) {
    absl::StrAppend(&j, i > 1 ? ", " : "", "\"", OutcomeName(static_cast<Outcome>(i)),
                    "\": ", outcomes_[i]);
  }
  j += "},\n  \"latency_ms\": {";
  bool first = true;
  char buf[200];
  auto lat = [&](const char* name, const LatencyHistogram& h) {
    std::snprintf(buf, sizeof(buf),
                  "%s\"%s\": {\"count\": %" PRIu64 ", \"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}",
                  first ? "" : ", ", name, h.count(), Ms(h.Quantile(0.5)), Ms(h.Quantile(0.99)),
                  Ms(h.max()));
    j += buf;
    first = false;
  };
  auto lat_after = [&](const char* name, const LatencyHistogram& h) {
    std::snprintf(buf, sizeof(buf),
                  "%s\"%s_after_burst\": {\"count\": %" PRIu64 ", \"p50\": %.3f, \"p99\": %.3f}",
                  first ? "" : ", ", name, h.count(), Ms(h.Quantile(0.5)), Ms(h.Quantile(0.99)));
    j += buf;
    first = false;
  };
  for (const auto& [k, st] : steps_) {
    if (k != Kind::kView && k != Kind::kAvail) {
      lat(KindName(k), st.hist);
      lat_after(KindName(k), st.after);
    }
  }
  lat("queue_wait", queue_wait_);
  lat("arrival_to_sale", buy_time_);
  lat("driver_lag", driver_lag_);
  j += "},\n  \"answers\": {";
  first = true;
  for (const auto& [k, st] : steps_) {
    absl::StrAppend(&j, first ? "" : ", ", "\"", KindName(k), "\": {");
    bool f2 = true;
    for (const auto& [c, v] : st.codes) {
      absl::StrAppend(&j, f2 ? "" : ", ", "\"", JsonEscape(c), "\": ", v);
      f2 = false;
    }
    j += "}";
    first = false;
  }
  j += "},\n";
  if (have_room_info_) {
    const auto& ri = room_info_;
    absl::StrAppend(&j, "  \"room_info\": {\"joined\": ", ri.joined(),
                    ", \"waiting\": ", ri.waiting(), ", \"admitted_total\": ", ri.admitted_total(),
                    ", \"lapsed\": ", ri.lapsed(), ", \"left\": ", ri.left(),
                    ", \"done\": ", ri.done(), ", \"pass_expired\": ", ri.pass_expired(),
                    ", \"sold_out\": ", ri.sold_out() ? "true" : "false",
                    ", \"memory_bytes\": ", ri.memory_bytes(), "},\n");
  }
  j += "  \"unexpected\": {";
  first = true;
  for (const auto& [k, v] : unexpected_) {
    absl::StrAppend(&j, first ? "" : ", ", "\"", JsonEscape(k), "\": ", v);
    first = false;
  }
  j += "},\n  \"warnings\": [";
  for (size_t i = 0; i < warnings_.size(); ++i)
    absl::StrAppend(&j, i ? ", " : "", "\"", JsonEscape(warnings_[i]), "\"");
  j += "],\n  \"violations\": [";
  for (size_t i = 0; i < violations_.size(); ++i) {
    absl::StrAppend(&j, i ? ", " : "", "\"", JsonEscape(violations_[i]), "\"");
  }
  absl::StrAppend(&j, "],\n  \"ok\": ", violations_.empty() ? "true" : "false", "\n}\n");
  return j;
}

void FlashSale::Report() {
  auto since_t0 = [this](uint64_t ns) {
    return ns == 0 ? std::string("never") : absl::StrFormat("%.0f ms", Ms(ns - t0_));
  };
  std::printf(
      "flashsale: event %s, %d buyers over %.0f ms, %d seats in %d sections (rows of %d), %u "
      "shards, %zu "
      "AsyncClients (<= %zu buyer connections)\n",
      event_.c_str(), nbuyers_, Ms(arrival_ns_), nseats_, nsections_, kRowSeats, shards_,
      clients_.size(), clients_.size() * (shards_ > 1 ? shards_ + 1 : 1));
  if (room_) {
    std::printf("  waiting room: rate %u/s, pass %" PRId64 " ms, grace %" PRId64 " ms%s\n",
                room_rate_, pass_ttl_ms_, grace_ms_,
                absl::GetFlag(FLAGS_prequeue) ? ", pre-queue (shuffled at on-sale)" : ", FIFO");
  } else {
    std::printf("  no waiting room\n");
  }
  std::printf("  time scale %.3g: hold TTL %" PRIu64 " ms, payments %.0f-%.0f ms\n", ts_, ttl_ms_,
              absl::GetFlag(FLAGS_pay_min_s) * 1000 * ts_,
              absl::GetFlag(FLAGS_pay_max_s) * 1000 * ts_);
  std::printf(
      "sold out: %s after the first arrival (availability free=0 held=0: %s; first SOLD_OUT "
      "answer: %s)\n",
      since_t0(sold_out_avail_ns_ != 0 &&
                       (sold_out_room_ns_ == 0 || sold_out_avail_ns_ < sold_out_room_ns_)
                   ? sold_out_avail_ns_
                   : sold_out_room_ns_)
          .c_str(),
      since_t0(sold_out_avail_ns_).c_str(), since_t0(sold_out_room_ns_).c_str());
  std::printf("  first admission %s, last sale %s, run %.0f ms\n",
              since_t0(first_admit_ns_).c_str(), since_t0(last_sale_ns_).c_str(),
              Ms(end_ns_ - t0_));
  std::printf("sales: %zu bookings, %" PRIu64 " seats; read back: %" PRIu64 " SOLD, %" PRIu64
              " HELD, %" PRIu64 " FREE\n",
              acks_.size(), sales_seats_, sold_read_, held_read_, free_read_);
  std::printf("  oversold %" PRIu64 ", double charges %" PRIu64 ", SOLD not acknowledged %" PRIu64
              ", acknowledged not SOLD %" PRIu64 "\n",
              oversold_, double_charges_, unacked_sold_, lost_sales_);
  std::printf("  holds granted %" PRIu64 " (%" PRIu64
              " with a planned payment longer than the TTL); confirms after "
              "the hold ran out %" PRIu64 ": sold anyway (hold_lapsed) %" PRIu64
              ", HOLD_EXPIRED_SEATS_TAKEN %" PRIu64 " (%" PRIu64 " of their %" PRIu64
              " seats re-sold to others)\n",
              holds_granted_, late_payers_, lapsed_sold_ + lapsed_taken_, lapsed_sold_,
              lapsed_taken_, resold_seats_, taken_seats_);
  std::printf("  payments failed (released) %" PRIu64 " (%" PRIu64
              " after expiry); confirm responses dropped %" PRIu64 ", retries %" PRIu64
              ", replayed answers %" PRIu64 "\n",
              outcomes_[static_cast<size_t>(Outcome::kPaymentFailed)], release_expired_,
              dropped_confirms_, confirm_retries_, replayed_answers_);
  std::printf("  specific-seat conflicts %" PRIu64 ", fallbacks to best-available %" PRIu64 "\n",
              specific_conflicts_, specific_fallbacks_);
  std::printf("buyers:");
  for (size_t i = 1; i < outcomes_.size(); ++i) {
    if (outcomes_[i] > 0)
      std::printf(" %s %" PRIu64, OutcomeName(static_cast<Outcome>(i)), outcomes_[i]);
  }
  std::printf("\n");
  if (room_) {
    std::printf("queue: admitted %" PRIu64 " (first seen %s; first 'paused' answer %s)", admitted_,
                since_t0(first_admit_ns_).c_str(), since_t0(first_paused_ns_).c_str());
    if (have_room_info_) {
      std::printf(
          "; room: joined %" PRIu64 ", admitted %" PRIu64 ", lapsed %" PRIu64 ", left %" PRIu64
          ", done %" PRIu64 ", pass expired %" PRIu64 ", sold_out %s, %.1f MB",
          room_info_.joined(), room_info_.admitted_total(), room_info_.lapsed(), room_info_.left(),
          room_info_.done(), room_info_.pass_expired(), room_info_.sold_out() ? "yes" : "no",
          static_cast<double>(room_info_.memory_bytes()) / 1e6);
    }
    std::printf("\n");
  }
  std::printf(
      "latency (ms)                 all: count      p50      p99      max |  after the burst: "
      "count      p50      p99\n");
  auto line = [](const char* name, const LatencyHistogram& h, const LatencyHistogram* after) {
    std::printf("  %-24s %11" PRIu64 " %8.2f %8.2f %8.2f", name, h.count(), Ms(h.Quantile(0.5)),
                Ms(h.Quantile(0.99)), Ms(h.max()));
    if (after != nullptr) {
      std::printf(" | %22" PRIu64 " %8.2f %8.2f", after->count(), Ms(after->Quantile(0.5)),
                  Ms(after->Quantile(0.99)));
    }
    std::printf("\n");
  };
  for (const auto& [k, st] : steps_) {
    if (k != Kind::kView && k != Kind::kAvail) line(KindName(k), st.hist, &st.after);
  }
  line("queue wait", queue_wait_, nullptr);
  line("arrival to sale", buy_time_, nullptr);
  line("driver lag", driver_lag_, nullptr);
  std::printf(
      "  (\"after the burst\": sent >= 1 s after the arrival window; driver lag: how late the "
      "driver ran a "
      "scheduled arrival or timer; all joins answered %s after the first arrival)\n",
      since_t0(last_join_ns_).c_str());
  std::printf(
      "fairness: Spearman(earliness, success) = %.3f; %.3f if success went strictly by arrival "
      "(ratio %.2f); "
      "success by arrival decile:",
      spearman_, spearman_max_, spearman_max_ > 0 ? spearman_ / spearman_max_ : 0.0);
  for (double d : decile_success_) std::printf(" %.3f", d);
  std::printf("\n");
  for (const auto& w : warnings_) std::printf("warning: %s\n", w.c_str());
  if (!unexpected_.empty()) {
    std::printf("unexpected answers:\n");
    for (const auto& [k, v] : unexpected_) std::printf("  %-50s %" PRIu64 "\n", k.c_str(), v);
    for (const auto& e : unexpected_examples_) std::printf("  e.g. %s\n", e.c_str());
  }
  if (violations_.empty()) {
    std::printf("OK: 0 oversold, 0 double charges, sales == SOLD seats read back\n");
  } else {
    for (const auto& v : violations_) std::printf("VIOLATION: %s\n", v.c_str());
  }
  std::fflush(stdout);
}

int FlashSale::Run() {
  ComputeSizes();
  ConnectAll();
  DefineEvent();
  ConfigureRoom();
  MakeBuyers();
  Loop();
  Verify();
  Report();
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << Json();
    if (!f) {
      std::fprintf(stderr, "flashsale: cannot write %s\n", json_path.c_str());
      return 2;
    }
  }
  // Destroy the clients before the inbox they call back into.
  clients_.clear();
  control_.reset();
  return violations_.empty() ? 0 : 1;
}

}  // namespace
}  // namespace seatlock

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view f) { return absl::StrContains(f, "flashsale"); };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "the flash-sale scenario end to end against a running seatlockd (docs/benchmarks.md).\n"
      "  flashsale --port 7400                  500,000 buyers in 1 s, 50,000 seats, waiting room\n"
      "  flashsale --port 7400 --scale 0.02     2% of the size (CI)\n"
      "  flashsale --port 7400 --room=false     no waiting room\n"
      "Exit 0: every invariant held (0 oversold, 0 double charges, sales == SOLD seats read back, "
      "no unexpected "
      "answers); 1: a violation (printed); 2: could not run (cannot connect, bad flags, event "
      "exists).\n"
      "Flags may be spelled with '-' or '_' (--time-scale or --time_scale).");
  std::vector<std::string> normalized = seatlock::UnderscoreFlagNames(argc, argv);
  // Unknown flags: exit 2 like every other "could not run" (absl would exit 1,
  // which here means "a violation").
  for (size_t i = 1; i < normalized.size(); ++i) {
    const std::string& a = normalized[i];
    if (a == "--") break;
    if (a.rfind("--", 0) != 0 && !(a.size() > 1 && a[0] == '-')) continue;
    std::string name = a.substr(a.find_first_not_of('-'));
    name = name.substr(0, name.find('='));
    static const char* const kBuiltin[] = {"help",     "helpfull",  "helpshort",  "helppackage",
                                           "helpon",   "helpmatch", "version",    "only_check_args",
                                           "flagfile", "fromenv",   "tryfromenv", "undefok"};
    if (std::find(std::begin(kBuiltin), std::end(kBuiltin), name) != std::end(kBuiltin)) continue;
    if (absl::FindCommandLineFlag(name) == nullptr &&
        !(absl::StartsWith(name, "no") && absl::FindCommandLineFlag(name.substr(2)) != nullptr)) {
      std::fprintf(stderr, "flashsale: unknown flag '%s' (see --help)\n", a.c_str());
      return 2;
    }
  }
  std::vector<char*> args;
  for (auto& a : normalized) args.push_back(a.data());
  const std::vector<char*> rest =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (rest.size() > 1) {
    std::fprintf(stderr, "flashsale: unexpected argument '%s' (see --help)\n", rest[1]);
    return 2;
  }
  seatlock::FlashSale sale;
  return sale.Run();
}
