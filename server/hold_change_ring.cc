#include "server/hold_change_ring.h"

#include <utility>

namespace seatlock {

void HoldChangeRing::Push(HoldChange change) {
  std::lock_guard<std::mutex> lock(mu_);
  if (changes_.size() >= capacity_) {
    changes_.pop_front();
    ++first_;
    ++dropped_;
  }
  changes_.push_back(std::move(change));
}

bool HoldChangeRing::Read(uint64_t* cursor, size_t max, std::vector<HoldChange>* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  bool complete = true;
  if (*cursor == 0) {
    *cursor = first_;
  } else if (*cursor < first_) {
    complete = false;
    ++missed_;
    *cursor = first_;
  }
  const uint64_t end = first_ + changes_.size();
  for (size_t n = 0; *cursor < end && n < max; ++n, ++*cursor) {
    out->push_back(changes_[static_cast<size_t>(*cursor - first_)]);
  }
  return complete;
}

void HoldChangeRing::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  first_ += changes_.size() + 1;  // even an empty ring: readers at first_ missed a Clear
  changes_.clear();
}

size_t HoldChangeRing::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return changes_.size();
}

uint64_t HoldChangeRing::missed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return missed_;
}

uint64_t HoldChangeRing::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

}  // namespace seatlock
