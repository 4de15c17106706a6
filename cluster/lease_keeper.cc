#include "cluster/lease_keeper.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/mono_clock.h"

namespace seatlock::cluster {

LeaseKeeper::LeaseKeeper(EtcdClient* etcd, int64_t ttl_ms, Clock clock)
    : etcd_(etcd), ttl_ms_(std::max<int64_t>(ttl_ms, 1)), clock_(std::move(clock)) {}

LeaseKeeper::~LeaseKeeper() { Stop(); }

int64_t LeaseKeeper::Now() const {
  return clock_ ? clock_() : static_cast<int64_t>(seatlock::MonoNs());
}

bool LeaseKeeper::Healthy() const { return !lost() && Now() < valid_until_ns(); }

void LeaseKeeper::Renewed(int64_t start_ns) {
  const int64_t until = start_ns + ttl_ms_ * 1'000'000 / 2;
  // Renewals are sequential on one thread, but never move backwards anyway.
  int64_t prev = valid_until_ns_.load(std::memory_order_relaxed);
  while (prev < until &&
         !valid_until_ns_.compare_exchange_weak(prev, until, std::memory_order_acq_rel)) {
  }
}

absl::Status LeaseKeeper::Start() {
  if (thread_.joinable()) return absl::FailedPreconditionError("LeaseKeeper: already started");
  const int64_t ttl_s = std::max<int64_t>(1, (ttl_ms_ + 999) / 1000);
  const int64_t start = Now();
  int64_t granted = 0;
  absl::StatusOr<int64_t> id = etcd_->LeaseGrantTtl(ttl_s, &granted);
  if (!id.ok()) return id.status();
  lost_.store(false, std::memory_order_release);
  valid_until_ns_.store(0, std::memory_order_release);
  granted_ttl_s_.store(granted, std::memory_order_release);
  lease_.store(*id, std::memory_order_release);
  Renewed(start);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void LeaseKeeper::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  valid_until_ns_.store(0, std::memory_order_release);
  if (!lost()) (void)etcd_->LeaseRevoke(lease());
}

void LeaseKeeper::Run() {
  const auto every = std::chrono::milliseconds(std::max<int64_t>(ttl_ms_ / 6, 1));
  const auto retry = std::chrono::milliseconds(std::max<int64_t>(ttl_ms_ / 10, 1));
  auto wait = every;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, wait, [this] { return stop_; })) return;
    }
    const int64_t start = Now();
    absl::StatusOr<int64_t> ttl = etcd_->LeaseKeepAliveOnce(lease());
    if (ttl.ok()) {
      Renewed(start);
      wait = every;
    } else if (absl::IsNotFound(ttl.status())) {
      lost_.store(true, std::memory_order_release);
      valid_until_ns_.store(0, std::memory_order_release);
      return;
    } else {
      wait = retry;
    }
  }
}

}  // namespace seatlock::cluster
