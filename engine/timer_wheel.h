// TimerWheel: a hierarchical timing wheel with cascading (Varghese & Lauck,
// scheme 7; the layout of the pre-4.8 Linux kernel timer wheel).
//
// Time is measured in integer ticks. Six levels of 64 slots each cover 64^6
// ticks (about 2.2 years at 1 ms per tick); timers further out park in the
// top level and are re-filed when that slot comes due. Timers are cascaded
// down a level whenever the lower level wraps, so each timer fires in the
// exact tick of its deadline: never early, never late, as long as Advance()
// is called with the current tick.
//
//   TimerWheel wheel(/*now_tick=*/0);
//   TimerId id = wheel.Arm(/*deadline_tick=*/1500, /*payload=*/42);
//   wheel.Cancel(id);                                   // O(1)
//   wheel.Advance(2000, [](uint64_t payload) { ... });  // fires due timers
//
// Arm and Cancel cost O(1). Advance costs O(timers fired + timers cascaded +
// non-empty slots visited): per-level occupancy bitmaps let it jump straight
// to the next tick that fires a level-0 slot or cascades a non-empty slot.
//
// Ownership and threads: the wheel owns its timer nodes; payloads are opaque
// 64-bit values owned by the caller. A wheel is not thread-safe: it belongs to
// one shard thread. The callback passed to Advance may Arm and Cancel timers on
// the same wheel (including ones due in this same Advance).
#ifndef SEATLOCK_ENGINE_TIMER_WHEEL_H_
#define SEATLOCK_ENGINE_TIMER_WHEEL_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"

namespace seatlock {

// Identifies one armed timer. 0 is never a valid id. An id goes stale when
// its timer fires or is cancelled; cancelling a stale id is a no-op.
using TimerId = uint64_t;

class TimerWheel {
 public:
  static constexpr int kLevels = 6;
  static constexpr int kSlotBits = 6;
  static constexpr int kSlots = 1 << kSlotBits;  // per level

  explicit TimerWheel(int64_t now_tick = 0);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms a timer that fires at the first Advance() whose tick reaches
  // `deadline_tick`. A deadline at or before now() fires on the next Advance().
  TimerId Arm(int64_t deadline_tick, uint64_t payload);

  // Cancels an armed timer. Returns false if the id is stale (already fired
  // or cancelled), true if the timer was removed.
  bool Cancel(TimerId id);

  // Moves time forward to `now_tick` (a smaller value is ignored) and calls
  // `fire(payload)` once for each timer whose deadline is <= now_tick, in
  // deadline order tick by tick. Returns the number of timers fired.
  size_t Advance(int64_t now_tick, absl::FunctionRef<void(uint64_t payload)> fire);

  int64_t now() const { return now_; }
  size_t size() const { return live_; }
  // Deadline of the earliest armed timer is not tracked exactly; this returns
  // a lower bound on it useful as a poll timeout (now() + 1 if anything is
  // due within the current level-0 span, otherwise the next level-0 wrap).
  int64_t NextWakeHint() const;

  // Bytes of memory held by the wheel's node pool (for memory accounting).
  size_t MemoryBytes() const;

 private:
  static constexpr uint32_t kNil = 0xffffffffu;
  // List ids: 0..kLevels*kSlots-1 are wheel slots; then two special lists.
  static constexpr uint32_t kOverdueList = kLevels * kSlots;
  static constexpr uint32_t kFiringList = kOverdueList + 1;
  static constexpr uint32_t kNumLists = kFiringList + 1;
  static constexpr uint32_t kFreeMarker = 0xfffffffeu;

  struct Node {
    int64_t deadline;
    uint64_t payload;
    uint32_t prev;
    uint32_t next;
    uint32_t list;        // which list it is on, or kFreeMarker when free
    uint32_t generation;  // bumped when the node is released
  };

  void Place(uint32_t idx);  // files node idx into the right list
  void PushBack(uint32_t list, uint32_t idx);
  void Unlink(uint32_t idx);
  void Release(uint32_t idx);
  void CascadeSlot(int level, int slot);
  // First tick after now_ at which Advance has work to do (a level-0 slot
  // fires or a non-empty slot cascades); INT64_MAX when the wheel is empty.
  int64_t NextEventTick() const;
  void FireList(uint32_t list, absl::FunctionRef<void(uint64_t)> fire, size_t* fired);

  int64_t now_;
  size_t live_ = 0;
  std::vector<Node> nodes_;
  uint32_t free_head_ = kNil;
  std::array<uint32_t, kNumLists> head_;
  std::array<uint32_t, kNumLists> tail_;
  std::array<uint64_t, kLevels> occupied_{};  // bit s set: slot s non-empty
};

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_TIMER_WHEEL_H_
