// LatencyHistogram: a log-linear histogram of nanosecond latencies (like
// HdrHistogram with 3 significant bits... here 64 linear sub-buckets per
// power of two, so any recorded value is reported within 1.6%). Fixed
// memory (~32 KiB), O(1) record. Not thread-safe: one per thread, Merge()d.
#ifndef SEATLOCK_COMMON_HISTOGRAM_H_
#define SEATLOCK_COMMON_HISTOGRAM_H_

#include <array>
#include <cstdint>

namespace seatlock {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits) * kSub;

  void Record(uint64_t ns) {
    counts_[Index(ns)]++;
    total_++;
    if (ns > max_) max_ = ns;
    sum_ += ns;
  }
  void Merge(const LatencyHistogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    if (o.max_ > max_) max_ = o.max_;
  }
  // The value at quantile q in [0, 1] (upper edge of its bucket, capped at max).
  uint64_t Quantile(double q) const {
    if (total_ == 0) return 0;
    const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const uint64_t upper = UpperEdge(i);
        return upper < max_ ? upper : max_;
      }
    }
    return max_;
  }
  uint64_t count() const { return total_; }
  uint64_t sum() const { return sum_; }
  // Observations <= ns (exact at bucket edges, else within one bucket).
  uint64_t CountAtMost(uint64_t ns) const {
    uint64_t n = 0;
    const int last = Index(ns);
    for (int i = 0; i <= last && i < kBuckets; ++i) n += counts_[i];
    return n;
  }
  uint64_t max() const { return max_; }
  double mean() const {
    return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0;
  }

 private:
  static int Index(uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    const int msb = 63 - __builtin_clzll(v);
    const int shift = msb - kSubBits;
    return (shift + 1) * kSub + static_cast<int>((v >> shift) & (kSub - 1));
  }
  static uint64_t UpperEdge(int i) {
    if (i < kSub) return static_cast<uint64_t>(i);
    const int shift = i / kSub - 1;
    const uint64_t base =
        (uint64_t{1} << (shift + kSubBits)) | (static_cast<uint64_t>(i % kSub) << shift);
    return base + (uint64_t{1} << shift) - 1;
  }
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_COMMON_HISTOGRAM_H_
