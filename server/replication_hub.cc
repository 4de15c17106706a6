#include "server/replication_hub.h"

#include <chrono>

#include "common/mono_clock.h"

namespace seatlock {

const char* RoleName(NodeRole role) {
  switch (role) {
    case NodeRole::kStandalone:
      return "standalone";
    case NodeRole::kPrimary:
      return "primary";
    case NodeRole::kReplica:
      return "replica";
  }
  return "?";
}

ReplicationHub::ReplicationHub(uint32_t shards, bool require_sync, size_t hold_changes)
    : shards_(shards),
      require_sync_(require_sync),
      durable_(new std::atomic<uint64_t>[shards]),
      sync_acked_(new std::atomic<uint64_t>[shards]),
      copy_durable_(new std::atomic<uint64_t>[shards]),
      copy_drop_before_(new std::atomic<uint64_t>[shards]),
      marks_(shards, std::vector<DurableMark>(kDurableMarks)),
      mark_next_(shards) {
  for (uint32_t i = 0; i < shards; ++i) {
    holds_.push_back(std::make_unique<HoldChangeRing>(hold_changes));
    copy_holds_.push_back(std::make_unique<HoldChangeRing>(hold_changes));
    durable_[i] = 0;
    sync_acked_[i] = 0;
    copy_durable_[i] = 0;
    copy_drop_before_[i] = 0;
  }
}

void ReplicationHub::SetRole(NodeRole role, int64_t epoch, const std::string& primary_address) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    primary_address_ = primary_address;
  }
  epoch_.store(epoch, std::memory_order_release);
  role_.store(role, std::memory_order_release);
}

std::string ReplicationHub::primary_address() const {
  std::lock_guard<std::mutex> lock(mu_);
  return primary_address_;
}

bool ReplicationHub::writes_allowed() const {
  const NodeRole r = role();
  if (r == NodeRole::kStandalone) return true;
  if (r != NodeRole::kPrimary) return false;
  return MonoNs() < static_cast<uint64_t>(valid_until_ns_.load(std::memory_order_acquire));
}

void ReplicationHub::PublishDurable(uint32_t shard, uint64_t lsn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    durable_[shard].store(lsn);
    marks_[shard][mark_next_[shard]] = DurableMark{lsn, MonoMs()};
    mark_next_[shard] = (mark_next_[shard] + 1) % kDurableMarks;
  }
  durable_cv_.notify_all();
}

uint64_t ReplicationHub::WaitDurable(uint32_t shard, uint64_t after, int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  durable_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                       [&] { return durable_[shard].load() > after; });
  return durable_[shard].load();
}

void ReplicationHub::Ack(const std::string& node, uint32_t shard, uint64_t stream, uint64_t lsn) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = nodes_.find(node);
    if (it == nodes_.end() || it->second.stream[shard] != stream) return;
    NodeAcks& n = it->second;
    if (lsn > n.acked[shard]) n.acked[shard] = lsn;
    if (node == sync_ && lsn > sync_acked_[shard].load()) {
      sync_acked_[shard].store(lsn);
      wake = true;
    }
  }
  if (wake) Wake(shard);
}

uint64_t ReplicationHub::OpenStream(const std::string& node, uint32_t shard, bool from_scratch) {
  std::lock_guard<std::mutex> lock(mu_);
  NodeAcks& n = nodes_.try_emplace(node, shards_).first->second;
  if (from_scratch) n.copying = true;
  n.stream[shard] = ++next_stream_;
  n.connected[shard] = true;
  // A new stream starts from a full copy: its earlier acks say nothing of it.
  n.acked[shard] = 0;
  if (node == sync_) sync_acked_[shard].store(0);
  return n.stream[shard];
}

void ReplicationHub::CloseStream(const std::string& node, uint32_t shard, uint64_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end() || it->second.stream[shard] != stream) return;
  it->second.connected[shard] = false;
}

void ReplicationHub::SetSync(const std::string& node) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    sync_ = node;
    auto it = nodes_.find(node);
    for (uint32_t i = 0; i < shards_; ++i) {
      sync_acked_[i].store(it != nodes_.end() ? it->second.acked[i] : 0);
    }
  }
  for (uint32_t i = 0; i < shards_; ++i) Wake(i);
}

std::string ReplicationHub::sync() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sync_;
}

uint64_t ReplicationHub::committed_limit(uint32_t shard) const {
  if (!require_sync_) return ~uint64_t{0};
  return sync_acked_[shard].load(std::memory_order_acquire);
}

int64_t ReplicationHub::DurableSinceMs(uint32_t shard, uint64_t acked) const {
  // The oldest mark above `acked`: walk the ring back from the newest.
  const std::vector<DurableMark>& ring = marks_[shard];
  int64_t since = 0;
  for (size_t k = 1; k <= kDurableMarks; ++k) {
    const DurableMark& m = ring[(mark_next_[shard] + kDurableMarks - k) % kDurableMarks];
    if (m.lsn <= acked || m.ms == 0) break;
    since = m.ms;  // older than the ring reaches: at least this old
  }
  return since;
}

std::vector<ReplicationHub::ReplicaView> ReplicationHub::Replicas() const {
  const int64_t now = MonoMs();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ReplicaView> out;
  for (const auto& [id, n] : nodes_) {
    ReplicaView v;
    v.node = id;
    v.acked = n.acked;
    v.connected = n.connected;
    v.caught_up = true;
    for (uint32_t i = 0; i < shards_; ++i) {
      const bool behind = n.acked[i] < durable_[i].load();
      const int64_t since = behind ? DurableSinceMs(i, n.acked[i]) : 0;
      v.lag_ms.push_back(since > 0 ? now - since : 0);
      if (behind || !n.connected[i]) v.caught_up = false;
    }
    if (v.caught_up) n.copying = false;  // the replica drops RESYNCING now too
    v.copy_complete = !n.copying;
    out.push_back(std::move(v));
  }
  return out;
}

void ReplicationHub::SetWaker(std::function<void(uint32_t)> waker) {
  std::lock_guard<std::mutex> lock(mu_);
  waker_ = std::move(waker);
}

void ReplicationHub::Wake(uint32_t shard) {
  std::lock_guard<std::mutex> lock(mu_);
  if (waker_) waker_(shard);
}

uint64_t ReplicationHub::hold_resyncs() const {
  uint64_t n = 0;
  for (uint32_t i = 0; i < shards_; ++i) n += holds_[i]->missed() + copy_holds_[i]->missed();
  return n;
}

uint64_t ReplicationHub::hold_changes_dropped() const {
  uint64_t n = 0;
  for (uint32_t i = 0; i < shards_; ++i) n += holds_[i]->dropped() + copy_holds_[i]->dropped();
  return n;
}

}  // namespace seatlock
