#include "engine/timer_wheel.h"

#include <algorithm>
#include <cassert>
#include <limits>

namespace seatlock {

TimerWheel::TimerWheel(int64_t now_tick) : now_(now_tick) {
  head_.fill(kNil);
  tail_.fill(kNil);
}

TimerId TimerWheel::Arm(int64_t deadline_tick, uint64_t payload) {
  uint32_t idx;
  if (free_head_ != kNil) {
    idx = free_head_;
    free_head_ = nodes_[idx].next;
  } else {
    idx = static_cast<uint32_t>(nodes_.size());
    nodes_.push_back(Node{0, 0, kNil, kNil, kFreeMarker, 1});
  }
  Node& n = nodes_[idx];
  n.deadline = deadline_tick;
  n.payload = payload;
  Place(idx);
  ++live_;
  return (static_cast<uint64_t>(n.generation) << 32) | idx;
}

bool TimerWheel::Cancel(TimerId id) {
  const uint32_t idx = static_cast<uint32_t>(id);
  const uint32_t gen = static_cast<uint32_t>(id >> 32);
  if (idx >= nodes_.size()) return false;
  Node& n = nodes_[idx];
  if (n.generation != gen || n.list == kFreeMarker) return false;
  Unlink(idx);
  Release(idx);
  return true;
}

void TimerWheel::Place(uint32_t idx) {
  Node& n = nodes_[idx];
  const int64_t delta = n.deadline - now_;
  if (delta <= 0) {
    PushBack(kOverdueList, idx);
    return;
  }
  // Level k holds deadlines with delta < 64^(k+1); its slot is chosen by the
  // absolute deadline's k-th 6-bit digit, so slots never need rotating.
  int64_t when = n.deadline;
  int level = 0;
  while (level < kLevels - 1 && delta >= (int64_t{1} << (kSlotBits * (level + 1)))) {
    ++level;
  }
  if (level == kLevels - 1) {
    const int64_t max_span = (int64_t{1} << (kSlotBits * kLevels)) - 1;
    if (delta > max_span) when = now_ + max_span;  // parks; re-filed on cascade
  }
  const int slot = static_cast<int>((when >> (kSlotBits * level)) & (kSlots - 1));
  PushBack(static_cast<uint32_t>(level * kSlots + slot), idx);
  occupied_[level] |= uint64_t{1} << slot;
}

void TimerWheel::PushBack(uint32_t list, uint32_t idx) {
  Node& n = nodes_[idx];
  n.list = list;
  n.next = kNil;
  n.prev = tail_[list];
  if (tail_[list] != kNil) {
    nodes_[tail_[list]].next = idx;
  } else {
    head_[list] = idx;
  }
  tail_[list] = idx;
}

void TimerWheel::Unlink(uint32_t idx) {
  Node& n = nodes_[idx];
  const uint32_t list = n.list;
  if (n.prev != kNil)
    nodes_[n.prev].next = n.next;
  else
    head_[list] = n.next;
  if (n.next != kNil)
    nodes_[n.next].prev = n.prev;
  else
    tail_[list] = n.prev;
  if (list < kOverdueList && head_[list] == kNil) {
    occupied_[list / kSlots] &= ~(uint64_t{1} << (list % kSlots));
  }
  n.prev = n.next = kNil;
}

void TimerWheel::Release(uint32_t idx) {
  Node& n = nodes_[idx];
  n.list = kFreeMarker;
  ++n.generation;
  if (n.generation == 0) n.generation = 1;  // keep ids non-zero
  n.next = free_head_;
  free_head_ = idx;
  --live_;
}

void TimerWheel::CascadeSlot(int level, int slot) {
  const uint32_t list = static_cast<uint32_t>(level * kSlots + slot);
  uint32_t idx = head_[list];
  head_[list] = tail_[list] = kNil;
  occupied_[level] &= ~(uint64_t{1} << slot);
  while (idx != kNil) {
    const uint32_t next = nodes_[idx].next;
    Place(idx);
    idx = next;
  }
}

void TimerWheel::FireList(uint32_t list, absl::FunctionRef<void(uint64_t)> fire, size_t* fired) {
  // Move the list to the firing list so callbacks may cancel its members.
  if (head_[list] == kNil) return;
  uint32_t idx = head_[list];
  head_[list] = tail_[list] = kNil;
  if (list < kOverdueList) occupied_[list / kSlots] &= ~(uint64_t{1} << (list % kSlots));
  while (idx != kNil) {
    const uint32_t next = nodes_[idx].next;
    PushBack(kFiringList, idx);
    idx = next;
  }
  while (head_[kFiringList] != kNil) {
    const uint32_t i = head_[kFiringList];
    const uint64_t payload = nodes_[i].payload;
    Unlink(i);
    Release(i);
    ++*fired;
    fire(payload);  // may Arm/Cancel; the node is already free
  }
}

int64_t TimerWheel::NextEventTick() const {
  if (head_[kOverdueList] != kNil) return now_ + 1;
  int64_t best = std::numeric_limits<int64_t>::max();
  for (int level = 0; level < kLevels; ++level) {
    const uint64_t occ = occupied_[level];
    if (occ == 0) continue;
    const int shift = kSlotBits * level;
    // Level `level` visits slot (b & 63) at tick b << shift, for b = now_ >> shift + 1, ...
    const int64_t cur = now_ >> shift;
    const int pos = static_cast<int>((cur + 1) & (kSlots - 1));
    if (pos != 0) {
      const uint64_t ahead = occ >> pos;
      if (ahead != 0) {
        // Inside the current span of the level above, so before anything the
        // higher levels hold (they act at the end of that span at the earliest).
        return std::min(best, (cur + 1 + __builtin_ctzll(ahead)) << shift);
      }
    }
    // First occupied slot in the next span of the level above.
    best = std::min(best, ((cur | (kSlots - 1)) + 1 + __builtin_ctzll(occ)) << shift);
  }
  return best;
}

size_t TimerWheel::Advance(int64_t now_tick, absl::FunctionRef<void(uint64_t)> fire) {
  size_t fired = 0;
  FireList(kOverdueList, fire, &fired);
  while (now_ < now_tick) {
    // Jump straight to the next tick that fires a level-0 slot or cascades a
    // non-empty slot; the ticks in between would do nothing.
    int64_t next;
    const int64_t wrap = (now_ | (kSlots - 1)) + 1;
    if (now_tick < wrap && head_[kOverdueList] == kNil) {
      // Fast path for short steps: before the next wrap only level-0 slots act.
      const uint64_t ahead = occupied_[0] >> ((now_ + 1) & (kSlots - 1));
      next = ahead != 0 ? now_ + 1 + __builtin_ctzll(ahead) : wrap;
    } else {
      next = NextEventTick();
    }
    if (next > now_tick) {
      now_ = now_tick;
      break;
    }
    now_ = next;
    if ((now_ & (kSlots - 1)) == 0) {
      // Level 0 wrapped: cascade each higher level whose lower digits are zero.
      for (int level = 1; level < kLevels; ++level) {
        const int slot = static_cast<int>((now_ >> (kSlotBits * level)) & (kSlots - 1));
        CascadeSlot(level, slot);
        if (slot != 0) break;
      }
    }
    FireList(static_cast<uint32_t>(now_ & (kSlots - 1)), fire, &fired);
    // Timers armed by callbacks at or before now() land on the overdue list.
    FireList(kOverdueList, fire, &fired);
  }
  return fired;
}

int64_t TimerWheel::NextWakeHint() const {
  if (head_[kOverdueList] != kNil) return now_;
  const int64_t next = now_ + 1;
  const int pos = static_cast<int>(next & (kSlots - 1));
  // At a wrap (pos == 0) a cascade may bring timers due at `next` itself.
  if (pos == 0) return next;
  const uint64_t ahead = occupied_[0] >> pos;
  if (ahead != 0) return next + __builtin_ctzll(ahead);
  return (next | (kSlots - 1)) + 1;  // next wrap, when a cascade may bring timers
}

size_t TimerWheel::MemoryBytes() const { return nodes_.capacity() * sizeof(Node); }

}  // namespace seatlock
