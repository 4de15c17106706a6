#include "server/replicated_holds.h"

#include "common/mono_clock.h"

namespace seatlock {

void ReplicatedHolds::OnHoldSet(const HoldImage& hold) {
  HoldChange c;
  c.after_lsn = last_lsn_();
  c.at_ms = MonoMs();
  c.hold = hold;
  ring_->Push(std::move(c));
}

void ReplicatedHolds::OnHoldGone(uint64_t hold_id) {
  HoldChange c;
  c.after_lsn = last_lsn_();
  c.at_ms = MonoMs();
  c.gone = true;
  c.hold.hold_id = hold_id;
  ring_->Push(std::move(c));
}

}  // namespace seatlock
