// MemoryGuard: the server-wide memory limit (--max_memory). Shards call
// Poll() every loop pass; at most every 100 ms one of them reads the
// process's resident memory (/proc/self/statm) and publishes it. While it is
// at or over the limit, new holds, waiting-room joins and new connections
// are refused (RESOURCE_EXHAUSTED; docs/protocol.md §8); confirms, releases
// and reads go on, so the memory held can drain.
//
// Thread-safe: every member is an atomic; one guard is shared by all shards
// (ShardGroup). set_limit only before the shard threads start.
#ifndef SEATLOCK_SERVER_MEMORY_GUARD_H_
#define SEATLOCK_SERVER_MEMORY_GUARD_H_

#include <atomic>
#include <cstdint>

namespace seatlock {

class MemoryGuard {
 public:
  // 0: no limit.
  void set_limit(uint64_t bytes) { limit_.store(bytes, std::memory_order_relaxed); }
  uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }

  // Measures if the last measurement is 100 ms old (`now_ms`: monotonic).
  void Poll(int64_t now_ms);
  bool exceeded() const { return exceeded_.load(std::memory_order_relaxed); }
  uint64_t rss_bytes() const { return rss_.load(std::memory_order_relaxed); }

  // The default --max_memory: three quarters of the machine's RAM, or of the
  // cgroup's memory.max when that is lower.
  static uint64_t DefaultLimit();
  // The process's resident memory now, or 0 if it cannot be read.
  static uint64_t ReadRss();

 private:
  std::atomic<uint64_t> limit_{0};
  std::atomic<int64_t> last_poll_ms_{0};
  std::atomic<uint64_t> rss_{0};
  std::atomic<bool> exceeded_{false};
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_MEMORY_GUARD_H_
