// ReplicationHub: what a node's shards, its replication threads and its
// cluster thread share about replication (docs/cluster.md). It holds
//   - the node's role (standalone, primary, replica), its epoch and the
//     primary's address, for HELLO and NOT_PRIMARY;
//   - self-fencing: the monotonic deadline until which the primary's lease
//     lets it answer writes;
//   - per shard, the LSN durable on this node's own disk (published by the
//     shard's ShardLog, read by WalSender threads, which wait on it);
//   - per replica node and shard, the highest LSN that replica has fsynced
//     (its acks), and which node is the synchronous replica whose acks a
//     durable reply waits for (the ack rule: docs/cluster.md);
//   - per shard, two rings of hold changes (HoldChangeRing): on a primary
//     what its shard's holds did, for the streams to send; on a replica
//     what the stream brought, for the standby shard to apply.
//
// Ownership: created by the cluster node (ClusterNode) or a test, outlives
// every Server it is given to (ServerConfig::replication). Thread-safe: every
// method may be called from any thread. The hot reads (committed_limit,
// writes_allowed, local_durable) are lock-free atomics.
#ifndef SEATLOCK_SERVER_REPLICATION_HUB_H_
#define SEATLOCK_SERVER_REPLICATION_HUB_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/hold_change_ring.h"

namespace seatlock {

enum class NodeRole { kStandalone, kPrimary, kReplica };
const char* RoleName(NodeRole role);

class ReplicationHub {
 public:
  // `require_sync`: a durable reply waits for the synchronous replica's ack
  // (strict mode, the default); false: replication is asynchronous.
  // `hold_changes`: the capacity of each hold change ring
  // (--repl_hold_changes).
  ReplicationHub(uint32_t shards, bool require_sync, size_t hold_changes = 65536);

  uint32_t shards() const { return shards_; }
  bool require_sync() const { return require_sync_; }

  // Role, epoch and the primary's client address (host:port; "" unknown).
  void SetRole(NodeRole role, int64_t epoch, const std::string& primary_address);
  NodeRole role() const { return role_.load(std::memory_order_acquire); }
  int64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  std::string primary_address() const;

  // Self-fencing: a primary answers writes only while MonoNs() is before
  // this deadline (lease renewal start + TTL/2). Standalone: always.
  void set_writes_valid_until_ns(int64_t ns) { valid_until_ns_.store(ns); }
  bool writes_allowed() const;

  // The shard's ShardLog: `lsn` is now durable on this node's disk.
  void PublishDurable(uint32_t shard, uint64_t lsn);
  uint64_t local_durable(uint32_t shard) const { return durable_[shard].load(); }
  // WalSender threads: waits until local_durable(shard) > `after`, or for
  // `timeout_ms`; returns local_durable(shard).
  uint64_t WaitDurable(uint32_t shard, uint64_t after, int64_t timeout_ms);

  // A replica's stream of one shard opened: its earlier acks say nothing of
  // the new copy. Returns the stream's number, which its acks and its close
  // carry: a node that reconnects has a new stream before the old one has
  // noticed its end, and what the old one says last must not count.
  // `from_scratch`: the replica asked for a whole copy (no from_lsn). Its
  // copy is then incomplete, and the node may not lead, until it has caught
  // up on every shard (ReplicaView::copy_complete), even across resumed
  // streams.
  uint64_t OpenStream(const std::string& node, uint32_t shard, bool from_scratch);
  // Stream `stream` of `node` and `shard` closed (nothing if a newer one
  // replaced it).
  void CloseStream(const std::string& node, uint32_t shard, uint64_t stream);
  // A replica node has fsynced every record of `shard` up to `lsn`, as its
  // stream `stream` says (ignored if that stream was replaced).
  void Ack(const std::string& node, uint32_t shard, uint64_t stream, uint64_t lsn);
  // Names the synchronous replica ("" or this node's own id: none yet, so
  // strict mode holds every durable reply). Its acks so far count at once.
  void SetSync(const std::string& node);
  std::string sync() const;
  // The highest LSN of `shard` a durable reply may be released at, as far
  // as replication is concerned: the synchronous replica's ack in strict
  // mode, unlimited otherwise (the local fsync is ShardLog's business).
  uint64_t committed_limit(uint32_t shard) const;

  struct ReplicaView {
    std::string node;
    std::vector<uint64_t> acked;  // per shard
    std::vector<bool> connected;  // per shard
    std::vector<int64_t> lag_ms;  // per shard: ms since it last had all durable records
    bool caught_up = false;       // every shard acked everything durable here
    // False from a copy from scratch until the node first caught up on every
    // shard: meanwhile it keeps <data-dir>/RESYNCING and may not lead, so it
    // must not stay (or be named) the synchronous replica if another can.
    bool copy_complete = true;
  };
  std::vector<ReplicaView> Replicas() const;

  // A replica: its WalReceiver has fsynced its copy of `shard` up to `lsn`;
  // the standby shard applies up to there (ReplicaApplier). ResetCopy: a
  // copy from scratch begins, every shard back to 0.
  void SetCopyDurable(uint32_t shard, uint64_t lsn) { copy_durable_[shard].store(lsn); }
  uint64_t copy_durable(uint32_t shard) const { return copy_durable_[shard].load(); }
  void ResetCopy() {
    for (uint32_t i = 0; i < shards_; ++i) {
      copy_durable_[i].store(0);
      copy_drop_before_[i].store(0);
      copy_holds_[i]->Clear();
    }
  }
  // Hold changes. holds(shard): on a primary, what the shard's holds did
  // (its HoldJournal pushes, each stream reads). copy_holds(shard): on a
  // replica, what the stream brought (the receiver pushes, the standby
  // shard reads).
  HoldChangeRing& holds(uint32_t shard) { return *holds_[shard]; }
  HoldChangeRing& copy_holds(uint32_t shard) { return *copy_holds_[shard]; }
  // For STATS and /metrics, over every ring of this node, ever: hold
  // changes dropped past --repl_hold_changes, and the times a stream or a
  // standby shard found it had missed some (and started its holds over).
  uint64_t hold_changes_dropped() const;
  uint64_t hold_resyncs() const;
  // The standby shard snapshotted its copy up to (not including) `lsn`: the
  // receiver drops the closed segments before it.
  void SetCopyDropBefore(uint32_t shard, uint64_t lsn) { copy_drop_before_[shard].store(lsn); }
  uint64_t copy_drop_before(uint32_t shard) const { return copy_drop_before_[shard].load(); }

  // WalSender: streams open on the replication port, and connections it
  // refused or cut (over --repl_max_streams, a bad Hello, an unknown node,
  // another epoch or layout, an ack above what was sent). For STATS.
  void SetReplStreams(size_t n) { repl_streams_.store(n); }
  void CountReplRefused() { repl_refused_.fetch_add(1); }
  uint64_t repl_streams() const { return repl_streams_.load(); }
  uint64_t repl_refused() const { return repl_refused_.load(); }

  // The server's shards, to wake shard i when its committed limit moved
  // (nullptr: nobody to wake).
  void SetWaker(std::function<void(uint32_t)> waker);

 private:
  struct NodeAcks {
    explicit NodeAcks(uint32_t shards) : acked(shards), connected(shards), stream(shards) {}
    std::vector<uint64_t> acked;
    std::vector<bool> connected;
    std::vector<uint64_t> stream;  // the current stream's number, per shard
    // A copy from scratch began and the node has not yet caught up on every
    // shard since (cleared by Replicas(), which is why it is mutable).
    mutable bool copying = false;
  };
  uint64_t next_stream_ = 0;  // under mu_
  // When each recent local durable LSN was published, per shard: a ring of
  // the last kDurableMarks group commits, for the lag in ms.
  static constexpr size_t kDurableMarks = 4096;
  struct DurableMark {
    uint64_t lsn = 0;
    int64_t ms = 0;
  };
  // The time the record after `acked` became durable here (under mu_).
  int64_t DurableSinceMs(uint32_t shard, uint64_t acked) const;
  void Wake(uint32_t shard);

  const uint32_t shards_;
  const bool require_sync_;
  std::vector<std::unique_ptr<HoldChangeRing>> holds_;
  std::vector<std::unique_ptr<HoldChangeRing>> copy_holds_;
  std::atomic<NodeRole> role_{NodeRole::kStandalone};
  std::atomic<int64_t> epoch_{0};
  std::atomic<int64_t> valid_until_ns_{INT64_MAX};
  std::unique_ptr<std::atomic<uint64_t>[]> durable_;
  std::unique_ptr<std::atomic<uint64_t>[]> sync_acked_;
  std::unique_ptr<std::atomic<uint64_t>[]> copy_durable_;
  std::unique_ptr<std::atomic<uint64_t>[]> copy_drop_before_;
  std::atomic<uint64_t> repl_streams_{0};
  std::atomic<uint64_t> repl_refused_{0};
  mutable std::mutex mu_;  // guards the members below
  std::condition_variable durable_cv_;
  std::string primary_address_;
  std::string sync_;
  std::map<std::string, NodeAcks> nodes_;
  std::vector<std::vector<DurableMark>> marks_;  // per shard, a ring
  std::vector<size_t> mark_next_;                // per shard: the ring's next slot
  std::function<void(uint32_t)> waker_;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_REPLICATION_HUB_H_
