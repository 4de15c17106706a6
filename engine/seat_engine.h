// SeatEngine: the seat state machine of one shard. It holds events, their
// seats (FREE / HELD / SOLD), holds, bookings and idempotency records, and
// runs every operation as one atomic step: no I/O, no threads, no locks.
//
//   ManualClock clock;
//   SeatEngine engine(SeatEngine::Options{.clock = &clock});
//   engine.DefineEvent(layout);
//   SeatKey seat = engine.ResolveSeat("gig", {"103", "F", "12"}).key;
//   HoldResult h = engine.Hold("gig", {seat}, "buyer-1", /*ttl_ms=*/600'000);
//   ConfirmResult c = engine.Confirm(h.hold_id, "buyer-1", "idem-1", "pay-77");
//
// Rules (see docs/engine.md):
//  * HOLD is all or nothing; a refusal names each unavailable seat and why.
//  * Each grant gets a fencing token strictly greater than any before it.
//  * EXTEND, RELEASE and CONFIRM require the hold's id and its holder.
//  * CONFIRM is idempotent on its key: the same key and parameters return the
//    first result; the same key with other parameters is IDEMPOTENCY_MISMATCH.
//  * A CONFIRM after the deadline sells the seats if all are still FREE (with
//    hold_lapsed = true), else fails with HOLD_EXPIRED_SEATS_TAKEN.
//  * Holds expire on a hierarchical timer wheel, never before their deadline
//    and within one tick after it. Every operation first expires what is due.
//
// Ownership and threads: the engine owns all its state. It reads time from
// the injected Clock and reports changes to the optional ChangeSink; both must
// outlive it. An engine belongs to one thread (its shard's); it does no
// locking, and in debug builds it checks that one thread calls it.
#ifndef SEATLOCK_ENGINE_SEAT_ENGINE_H_
#define SEATLOCK_ENGINE_SEAT_ENGINE_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"
#include "common/chunked_vector.h"
#include "common/ring_deque.h"
#include "engine/clock.h"
#include "engine/lapsed_holds.h"
#include "engine/layout.h"
#include "engine/limits.h"
#include "engine/result_code.h"
#include "engine/segmented_hash_map.h"
#include "engine/string_util.h"
#include "engine/timer_wheel.h"

namespace seatlock {

enum class SeatState : uint8_t { kFree = 0, kHeld = 1, kSold = 2 };
std::string_view SeatStateName(SeatState s);

using SeatList = absl::InlinedVector<SeatKey, 4>;

// Why a seat could not be taken.
struct SeatConflict {
  SeatKey seat;
  SeatState state = SeatState::kFree;  // kHeld or kSold
  int64_t held_until_ms = 0;           // the blocking hold's deadline, if kHeld
  bool operator==(const SeatConflict&) const = default;
};
// Inline for the common few, so a refused hold allocates nothing.
using ConflictList = absl::InlinedVector<SeatConflict, 4>;

struct HoldResult {
  ResultCode code = ResultCode::kOk;
  uint64_t hold_id = 0;
  uint64_t fencing_token = 0;
  int64_t expires_ms = 0;    // absolute deadline
  int64_t remaining_ms = 0;  // deadline minus now
  SeatList seats;            // the seats held (for best-available: the pick)
  ConflictList conflicts;    // on kSeatUnavailable
  std::string detail;        // human-readable reason on failure
  bool ok() const { return code == ResultCode::kOk; }
};

struct ExtendResult {
  ResultCode code = ResultCode::kOk;
  int64_t expires_ms = 0;
  int64_t remaining_ms = 0;
  bool capped = false;  // the deadline was cut to the maximum hold lifetime
  std::string detail;
  bool ok() const { return code == ResultCode::kOk; }
};

// A confirm's outcome. Results of kOk and kHoldExpiredSeatsTaken are stored
// under the idempotency key and returned unchanged on replay (replayed = true
// is the only field that differs).
struct ConfirmResult {
  ResultCode code = ResultCode::kOk;
  uint64_t booking_id = 0;
  uint64_t fencing_token = 0;
  bool hold_lapsed = false;  // the hold had expired; the seats were still free
  SeatList seats;
  int64_t confirmed_ms = 0;
  ConflictList conflicts;  // on kHoldExpiredSeatsTaken
  std::string detail;
  uint64_t change_seq = 0;  // sequence number of the change record that sold
  bool replayed = false;    // answered from the idempotency record
  bool ok() const { return code == ResultCode::kOk; }
  bool SameOutcome(const ConfirmResult& o) const;  // equality ignoring `replayed`
};

// DELETE_EVENT's outcome on one engine.
struct DeleteEventResult {
  ResultCode code = ResultCode::kOk;
  std::string detail;
  uint32_t live_holds = 0;      // kEventHasLiveHolds: how many
  uint32_t holds_released = 0;  // force: live holds released (change records emitted)
  uint64_t bookings_dropped = 0;
  bool ok() const { return code == ResultCode::kOk; }
};

struct SimpleResult {
  ResultCode code = ResultCode::kOk;
  std::string detail;
  bool ok() const { return code == ResultCode::kOk; }
};

struct ResolveResult {
  ResultCode code = ResultCode::kOk;
  SeatKey key;
  std::string detail;
  bool ok() const { return code == ResultCode::kOk; }
};

enum class HoldStatus : uint8_t { kLive = 0, kLapsed = 1 };

struct HoldInfo {
  uint64_t hold_id = 0;
  std::string event_id;
  std::string holder;
  SeatList seats;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  uint64_t fencing_token = 0;
  HoldStatus status = HoldStatus::kLive;
};

struct BookingInfo {
  uint64_t booking_id = 0;
  uint64_t hold_id = 0;
  uint64_t fencing_token = 0;
  std::string event_id;
  std::string holder;
  std::string payment_ref;
  SeatList seats;
  int64_t confirmed_ms = 0;
  bool cancelled = false;
  std::string idempotency_key;
  bool hold_lapsed = false;
};

// A refused late confirm kept for idempotent replay (for snapshots).
struct RefusalInfo {
  uint64_t hold_id = 0;
  std::string event_id;
  SeatList seats;
  SeatList taken;
  std::string holder;
  std::string payment_ref;
  std::string idempotency_key;
  int64_t refused_ms = 0;
};

struct SectionCounts {
  std::string label;
  uint32_t total = 0, free = 0, held = 0, sold = 0;
  bool owned = true;  // false: another shard owns this section's seats
};

struct Availability {
  ResultCode code = ResultCode::kOk;
  uint64_t total = 0, free = 0, held = 0, sold = 0;
  std::vector<SectionCounts> sections;
};

// One seat as GET_SEATS reports it.
struct SeatView {
  uint32_t seat = 0;  // index inside the section
  uint32_t row = 0;   // row index inside the section
  SeatState state = SeatState::kFree;
  uint64_t owner_id = 0;      // hold id (HELD) or booking id (SOLD)
  int64_t held_until_ms = 0;  // HELD only
};

struct SectionSeats {
  ResultCode code = ResultCode::kOk;
  std::string detail;
  std::vector<std::string> row_labels;
  std::vector<uint32_t> row_first_seat;  // seat index where each row starts
  std::vector<SeatView> seats;           // every seat, in index order
};

// A change to seat states, emitted after the operation that made it.
enum class ChangeKind : uint8_t {
  kHeld = 0,       // seats FREE -> HELD
  kReleased = 1,   // HELD -> FREE by RELEASE
  kExpired = 2,    // HELD -> FREE by the timer wheel
  kSold = 3,       // HELD (or FREE, late confirm) -> SOLD
  kCancelled = 4,  // SOLD -> FREE by CANCEL_BOOKING
};
std::string_view ChangeKindName(ChangeKind k);

struct ChangeRecord {
  uint64_t seq = 0;  // per engine, starts at 1, +1 per record, no gaps
  int64_t time_ms = 0;
  ChangeKind kind = ChangeKind::kHeld;
  std::string_view event_id;  // valid during the callback only
  uint64_t hold_id = 0;
  uint64_t booking_id = 0;  // kSold, kCancelled
  uint64_t fencing_token = 0;
  absl::Span<const SeatKey> seats;  // valid during the callback only
  SeatState new_state() const;
};

// Receives change records synchronously on the engine's thread.
class ChangeSink {
 public:
  virtual ~ChangeSink() = default;
  virtual void OnChange(const ChangeRecord& record) = 0;
};

// A live hold as another engine can re-create it (a replica, a promoted
// node): its times are relative to the clock of the engine that took the
// image, at the moment it took it.
struct HoldImage {
  uint64_t hold_id = 0;
  uint64_t fencing_token = 0;
  std::string event_id;
  std::string holder;
  std::vector<SeatKey> seats;  // (not a SeatList: GCC 12 misreads moves of an empty one)
  int64_t remaining_ms = 0;    // until it expires
  int64_t age_ms = 0;          // since it was granted (max_hold_lifetime_ms counts from there)
};

// Receives every change of the live holds, synchronously on the engine's
// thread: a hold granted, extended or restored (OnHoldSet, its whole image),
// and a hold gone (OnHoldGone: released, expired, sold, or deleted with its
// event). The replication stream sends them to replicas (docs/cluster.md).
class HoldJournal {
 public:
  virtual ~HoldJournal() = default;
  virtual void OnHoldSet(const HoldImage& hold) = 0;
  virtual void OnHoldGone(uint64_t hold_id) = 0;
};

struct EngineStats {
  uint64_t events = 0;
  uint64_t live_holds = 0;
  uint64_t lapsed_holds = 0;          // expired, kept for late confirm
  uint64_t lapsed_hold_bytes = 0;     // what they take, against max_lapsed_hold_bytes
  uint64_t lapsed_holds_evicted = 0;  // forgotten early to stay within that cap
  uint64_t lapsed_holds_purged = 0;   // forgotten after lapsed_hold_retention_ms
  uint64_t bookings = 0;
  uint64_t idempotency_records = 0;
  uint64_t holds_granted = 0;
  uint64_t holds_refused = 0;
  uint64_t holds_released = 0;
  uint64_t holds_expired = 0;
  uint64_t holds_extended = 0;
  uint64_t confirms = 0;
  uint64_t confirms_replayed = 0;
  uint64_t late_confirms = 0;
  uint64_t late_confirms_refused = 0;
  uint64_t bookings_cancelled = 0;
  uint64_t fencing_high_water = 0;
  uint64_t change_seq = 0;
  uint64_t memory_bytes = 0;  // approximate, see MemoryBytes()
};

class SeatEngine {
 public:
  struct Options {
    const Clock* clock = nullptr;  // required
    EngineLimits limits;
    uint8_t shard_index = 0;         // stamped into hold and booking ids
    ChangeSink* sink = nullptr;      // optional
    HoldJournal* journal = nullptr;  // optional
    // Which sections this engine owns seat state for. Unset: all of them.
    // Sections it does not own keep their layout (so indices agree across
    // shards) but refuse seat operations with kWrongShard.
    std::function<bool(std::string_view event_id, std::string_view section)> owns_section;
    uint64_t fencing_floor = 0;  // first token granted is > this
  };

  explicit SeatEngine(Options options);
  ~SeatEngine();
  SeatEngine(const SeatEngine&) = delete;
  SeatEngine& operator=(const SeatEngine&) = delete;

  // Defines an event. Redefining with an identical layout is a no-op (kOk);
  // with a different one, kEventExists.
  SimpleResult DefineEvent(const EventLayout& layout);
  // Deletes an event and frees everything of it: seat state, holds (live
  // ones only with `force`, else kEventHasLiveHolds and nothing changes;
  // each is released with a kReleased change record), lapsed holds,
  // bookings and their idempotency records. Its hold ids and booking ids
  // are unknown afterwards; the id may be defined again, afresh. Booking
  // indices (booking_count, BookingAt) change: deletions() counts calls.
  // Unknown event: kEventNotFound.
  DeleteEventResult DeleteEvent(std::string_view event_id, bool force);
  uint64_t deletions() const { return deletions_; }

  ResolveResult ResolveSeat(std::string_view event_id, const SeatLabel& label) const;
  std::optional<SeatLabel> LabelOf(std::string_view event_id, SeatKey key) const;
  // Index of a section by label, or -1.
  int SectionIndex(std::string_view event_id, std::string_view section) const;
  const EventLayout* Layout(std::string_view event_id) const;

  HoldResult Hold(std::string_view event_id, absl::Span<const SeatKey> seats,
                  std::string_view holder, int64_t ttl_ms);
  // section < 0 means any section (in layout order). Picks `count` adjacent
  // seats in one row: nearest row to the stage, then nearest the row's middle,
  // avoiding a single orphan seat when another block exists. With
  // together=false and no block, takes the best scattered seats instead.
  HoldResult HoldBestAvailable(std::string_view event_id, int section, uint32_t count,
                               bool together, std::string_view holder, int64_t ttl_ms);
  ExtendResult Extend(uint64_t hold_id, std::string_view holder, int64_t ttl_ms);
  SimpleResult Release(uint64_t hold_id, std::string_view holder);
  ConfirmResult Confirm(uint64_t hold_id, std::string_view holder, std::string_view idempotency_key,
                        std::string_view payment_ref);
  SimpleResult CancelBooking(uint64_t booking_id);

  // Reads.
  Availability GetAvailability(std::string_view event_id);
  SectionSeats GetSeats(std::string_view event_id, int section);
  // One seat as GetSeats shows it, read as it is: due holds are not expired
  // first, and nothing changes (a const read of a few seats, for checks such
  // as fuzz/request_fuzzer.cc). nullopt if the event, the section or the seat
  // does not exist, or the section is another shard's.
  std::optional<SeatView> PeekSeat(std::string_view event_id, SeatKey key) const;
  std::optional<HoldInfo> GetHold(uint64_t hold_id);
  // Live holds, filtered by event and holder when non-empty, at most `limit`
  // (the caller bounds it; seatlockd caps it at limits().max_list_results).
  std::vector<HoldInfo> ListHolds(std::string_view event_id, std::string_view holder,
                                  uint32_t limit);
  std::optional<BookingInfo> GetBooking(uint64_t booking_id) const;
  // GetBooking into `out`, whose strings and seat list keep their capacity:
  // the sale path's copy, which allocates nothing once `out` has grown.
  // False (and `out` untouched) if there is no such booking.
  bool CopyBooking(uint64_t booking_id, BookingInfo* out) const;
  // The event of a live or lapsed hold, or of a booking; empty if there is
  // none. Changes nothing (due holds are not expired first) and copies
  // nothing: the view stays valid until the event is deleted.
  std::string_view EventIdOfHold(uint64_t hold_id);
  std::string_view EventIdOfBooking(uint64_t booking_id) const;
  std::vector<std::string> EventIds() const;

  // ---- Recovery: re-applying durable records (docs/wal.md) ----------------
  // Each Restore* is idempotent: applying a record the state already
  // reflects changes nothing, so a log may be replayed over a snapshot that
  // already contains some of its records.
  struct DurableSale {
    uint64_t booking_id = 0;
    uint64_t hold_id = 0;
    uint64_t fencing_token = 0;
    std::string event_id;
    SeatList seats;
    std::string holder;
    std::string payment_ref;
    std::string idempotency_key;  // empty: none
    int64_t confirmed_ms = 0;
    bool hold_lapsed = false;
  };
  // Re-creates a sale. Seats of sections this engine does not own are
  // skipped. Returns false (and changes nothing) if the event is unknown or
  // an owned seat is sold to another booking: the log is inconsistent. A
  // live hold on a seat of the sale (a replicated one: the log is what
  // counts) is dropped first.
  bool RestoreSale(const DurableSale& sale);
  // Re-creates the idempotency record of a refused late confirm.
  void RestoreRefusal(uint64_t hold_id, std::string_view event_id, const SeatList& seats,
                      const SeatList& taken, std::string_view holder, std::string_view payment_ref,
                      std::string_view idempotency_key, int64_t refused_ms);
  // ---- Replicated holds (docs/cluster.md) ---------------------------------
  // Re-creates the live hold `hold` (same id and token, expiring
  // remaining_ms from now), or moves the deadline of the hold of that id if
  // it is live here already. False, and nothing changes, if it cannot be:
  // unknown event or seat, a seat not FREE (sold since, say), another
  // shard's hold, remaining_ms <= 0, or max_live_holds reached.
  bool RestoreHold(const HoldImage& hold);
  // Frees the live hold `hold_id` (a kReleased change record, no lapsed
  // entry); false if no such hold is live.
  bool DropHold(uint64_t hold_id);
  // Every live hold, for a promoted node to take over.
  std::vector<HoldImage> LiveHolds() const;
  // Re-applies a cancellation; false if the booking is unknown here.
  bool RestoreCancel(uint64_t booking_id);
  // Tokens granted from now on are > high_water.
  void RaiseFencingFloor(uint64_t high_water);
  // No token above `ceiling` is granted (a HOLD then gets CAPACITY_EXHAUSTED):
  // the server sets it to the last reservation its log made durable, so a
  // restart never hands out a token twice. Default: no ceiling.
  void set_fencing_ceiling(uint64_t ceiling) { fencing_ceiling_ = ceiling; }
  // Booking ids issued from now on use sequence numbers >= seq.
  void RaiseBookingSeq(uint64_t seq) { next_booking_seq_ = std::max(next_booking_seq_, seq); }
  uint64_t next_booking_seq() const { return next_booking_seq_; }
  // Sales in the order they were made (cancelled ones too), for snapshots:
  // booking_count() now, and the i-th sale. Indices stay valid until the
  // next DeleteEvent (deletions() changes).
  size_t booking_count() const;
  BookingInfo BookingAt(size_t index) const;
  // Refused late confirms still within idempotency retention.
  std::vector<RefusalInfo> Refusals() const;

  // Expires every hold whose deadline is <= now. Operations call this first;
  // a server loop calls it when the wheel's next tick is due.
  size_t ExpireDue();
  // Milliseconds until the wheel may next have work (a poll timeout hint).
  int64_t MsUntilNextTimer() const;

  uint64_t fencing_high_water() const { return next_fencing_ - 1; }
  // The engine's clock's time now (what deadlines are measured against).
  int64_t NowMs() const { return options_.clock->NowMs(); }
  EngineStats Stats() const;
  // Approximate bytes of heap this engine holds.
  size_t MemoryBytes() const;
  const EngineLimits& limits() const { return options_.limits; }
  const Options& options() const { return options_; }

  // Hold ids and booking ids carry the shard that issued them in their top
  // 8 bits, so a router can send EXTEND/RELEASE/CONFIRM to the right shard.
  // Below it, a hold id is the hold's fencing token: tokens never repeat, a
  // restart included (they are reserved in the log), so neither do hold ids.
  static uint8_t ShardOfId(uint64_t id) { return static_cast<uint8_t>(id >> 56); }

 private:
  struct Event;
  struct Section;
  struct HoldSlot;
  struct Booking;
  struct IdemRecord;
  using LapsedHold = LapsedHolds<Event>::Entry;

  void CheckThread() const;
  const IdemRecord* FindIdem(std::string_view key) const;
  void AddIdem(std::string_view key, int64_t expires, IdemRecord rec);
  int64_t Now() const { return options_.clock->NowMs(); }
  // ExpireDue at a time the caller has read (an op that reads the clock once).
  size_t ExpireDueAt(int64_t now);
  // The event `event_id`, or nullptr. The last event found is remembered, so
  // a run of ops on one event (a flash sale) compares its id instead of
  // hashing it; DeleteEvent forgets it. The memo is a cache, so the const
  // lookup may update it too.
  Event* FindEvent(std::string_view event_id);
  const Event* FindEvent(std::string_view event_id) const;
  // The live hold `hold_id`, or nullptr (lapsed holds are in lapsed_).
  HoldSlot* FindHold(uint64_t hold_id);
  // Returns the slot to the free list and forgets its id.
  void FreeSlot(HoldSlot& h);
  uint64_t TimerPayload(const HoldSlot& h) const;
  // HOLD_NOT_FOUND's detail: says a lapsed hold may have been forgotten.
  std::string NotFoundDetail(uint64_t hold_id) const;
  void PurgeLapsed(int64_t now);
  SimpleResult CheckHolder(std::string_view holder) const;
  SimpleResult CheckTtl(int64_t ttl_ms) const;
  HoldResult Grant(Event& ev, absl::Span<const SeatKey> seats, std::string_view holder,
                   int64_t ttl_ms, int64_t now);
  void FreeHeldSeats(HoldSlot& h);
  HoldImage ImageOf(const HoldSlot& h, int64_t now) const;
  // A live slot (reused or new) with a new generation; the caller fills it.
  HoldSlot& TakeSlot();
  // Marks h.seats HELD by h and indexes its id (h.fencing is set).
  void MarkHeld(HoldSlot& h);
  // Arms the slot's expiry timer at h.expires_ms.
  void ArmTimer(HoldSlot& h);
  // Marks a booking cancelled and frees the seats it still holds.
  void FreeSoldSeats(uint32_t booking_index);
  // Why the seat whose state word is `word` (not FREE) cannot be taken.
  SeatConflict ConflictAt(SeatKey k, uint32_t word) const;
  void OnTimer(uint64_t payload);
  void Emit(ChangeKind kind, const Event& ev, uint64_t hold_id, uint64_t booking_id,
            uint64_t fencing, absl::Span<const SeatKey> seats, int64_t now);
  uint64_t MakeHoldId(uint64_t fencing) const;
  HoldInfo InfoOf(const HoldSlot& h) const;
  // Seat `seat` of an owned section, as GetSeats and PeekSeat show it.
  SeatView ViewOf(const Section& sec, uint32_t seat) const;
  void PurgeIdempotency(int64_t now);
  int64_t TickOf(int64_t ms) const;

  Options options_;
  std::thread::id owner_thread_;
  // Whatever erases from events_ must first clear last_event_ if it points
  // to that event (DeleteEvent does); the engine is neither copied nor moved.
  StringMap<std::unique_ptr<Event>> events_;
  mutable Event* last_event_ = nullptr;  // FindEvent's last find; owned by events_
  std::vector<HoldSlot> holds_;
  // holds_[i].expires_ms, kept dense so a refusal's "held until" does not
  // touch the (large, cold) hold slot.
  std::vector<int64_t> hold_deadline_;
  std::vector<uint32_t> free_hold_slots_;
  absl::flat_hash_map<uint64_t, uint32_t> live_ids_;  // live hold id -> slot
  LapsedHolds<Event> lapsed_;
  // The tables a sale adds to grow without a stall: bookings in chunks that
  // never move, the indexes in segments that grow one at a time.
  ChunkedVector<Booking> bookings_;
  SegmentedHashMap<uint64_t, uint32_t> booking_index_;  // booking id -> index
  // Idempotency records, in the order they were made (so by expiry): purged
  // from the front once expired, never moved. A record is named by its
  // sequence number; idem_first_seq_ is the front's. The index maps a key to
  // that number, so growing the index moves a key and a number per record,
  // not the record: a table of whole records stalled a shard for 0.4 s each
  // time it doubled past 250 K sales (docs/benchmarks.md).
  RingDeque<IdemRecord> idem_records_;
  uint64_t idem_first_seq_ = 0;
  SegmentedHashMap<std::string, uint64_t, StringHash, StringEq> idempotency_;  // key -> number
  TimerWheel wheel_;
  uint64_t next_fencing_;
  uint64_t fencing_ceiling_ = ~uint64_t{0};
  uint64_t next_booking_seq_ = 1;
  uint64_t change_seq_ = 0;
  uint64_t deletions_ = 0;
  EngineStats stats_;
};

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_SEAT_ENGINE_H_
