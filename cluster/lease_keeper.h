// LeaseKeeper: one etcd lease kept alive by a thread of its own, and the
// node's own, conservative view of whether it still holds it.
//
// Start grants a lease of ttl_ms rounded up to whole seconds (etcd's unit; at
// least 1 s, and etcd may raise it to its own minimum, see granted_ttl_s) and
// starts the keepalive thread, which renews it every ttl_ms/6 (and retries
// every ttl_ms/10 after a failed renewal). It records, on the monotonic clock,
// the time each successful renewal STARTED (the grant counts as one): etcd
// extends the lease by its TTL when it receives the renewal, which is after
// that start, so the lease is certainly alive until start + ttl_ms whatever
// the network delay was. The keeper claims only half of that:
//   valid_until_ns() = last successful start + ttl_ms/2
// leaving the other half for clock rate differences and the time a caller
// needs to act on it. A primary stops serving writes when Healthy() is false.
//
// Owns its thread; the EtcdClient must outlive it. Start and Stop are for the
// owner's thread. lease(), Healthy(), valid_until_ns() and lost() may be read
// by any thread at any time (atomics, no lock). The clock function, if given,
// is called from the keepalive thread and from the readers, so it must be
// thread-safe.
#ifndef SEATLOCK_CLUSTER_LEASE_KEEPER_H_
#define SEATLOCK_CLUSTER_LEASE_KEEPER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "cluster/etcd_client.h"

namespace seatlock::cluster {

class LeaseKeeper {
 public:
  // Monotonic time in nanoseconds. Default: CLOCK_MONOTONIC (common/mono_clock.h).
  using Clock = std::function<int64_t()>;

  LeaseKeeper(EtcdClient* etcd, int64_t ttl_ms, Clock clock = nullptr);
  ~LeaseKeeper();  // Stop()
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Grants a new lease and starts the keepalive thread. An error (etcd down)
  // leaves the keeper stopped. After Stop, Start grants a fresh lease.
  absl::Status Start();
  // Stops the thread and revokes the lease (best effort: if etcd cannot be
  // reached, the lease expires by itself). Healthy() is false afterwards. May
  // block for the client's timeout per endpoint (the revoke), and for one
  // renewal in flight.
  void Stop();

  // The current lease id; 0 before Start.
  int64_t lease() const { return lease_.load(std::memory_order_acquire); }
  // now < valid_until_ns() and etcd has not said the lease is gone.
  bool Healthy() const;
  // Until when (monotonic ns) the lease is surely held: the start of the last
  // successful renewal + ttl_ms/2. 0 when stopped or lost.
  int64_t valid_until_ns() const { return valid_until_ns_.load(std::memory_order_acquire); }
  // etcd answered that the lease does not exist (it expired or was revoked).
  // Final for this lease: the thread stops renewing; Stop and Start again for
  // a new one.
  bool lost() const { return lost_.load(std::memory_order_acquire); }

  int64_t ttl_ms() const { return ttl_ms_; }
  // The TTL etcd granted, in seconds (>= ttl_ms rounded up).
  int64_t granted_ttl_s() const { return granted_ttl_s_.load(std::memory_order_acquire); }

 private:
  int64_t Now() const;
  void Run();
  void Renewed(int64_t start_ns);

  EtcdClient* const etcd_;
  const int64_t ttl_ms_;
  const Clock clock_;

  std::atomic<int64_t> lease_{0};
  std::atomic<int64_t> valid_until_ns_{0};
  std::atomic<bool> lost_{false};
  std::atomic<int64_t> granted_ttl_s_{0};

  std::mutex mu_;  // guards stop_ for the thread's waits
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace seatlock::cluster

#endif  // SEATLOCK_CLUSTER_LEASE_KEEPER_H_
