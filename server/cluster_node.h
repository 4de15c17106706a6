// ClusterNode: seatlockd as a member of a replica group (docs/cluster.md).
// It runs on the main thread, in a loop of roles:
//   - no leader in etcd, and this node may lead (its copy is complete and
//     `sync` names it, or the group is new): it takes the `leader` key in a
//     transaction (the key's create revision is the epoch) and becomes the
//     primary: it starts the Server on its data (ordinary recovery, which
//     reserves fencing tokens above everything replicated to it) and the
//     WalSender, renews its lease, names a caught-up replica `sync`, and
//     stops answering writes as soon as its lease is no longer sure
//     (self-fencing). Deposed (its lease lost, or another epoch in etcd), it
//     stops the Server and goes round the loop: it never serves its old
//     state again.
//   - another node leads: it becomes a replica: the old copy is moved aside
//     (data/discarded/), one WalReceiver per shard copies the primary's
//     shards from scratch, and a new standby Server answers HELLO, reads
//     from the copy as it grows (ReplicaApplier), and NOT_PRIMARY to writes. While a copy is
//     incomplete, <data-dir>/RESYNCING exists and the node may not lead.
//
// Ownership: owns the etcd client, lease keeper, election, hub, servers,
// sender and receivers. Run() on one thread; Stop() from any thread.
#ifndef SEATLOCK_SERVER_CLUSTER_NODE_H_
#define SEATLOCK_SERVER_CLUSTER_NODE_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "cluster/election.h"
#include "cluster/etcd_client.h"
#include "cluster/lease_keeper.h"
#include "server/config.h"
#include "server/replication_hub.h"
#include "server/server.h"
#include "server/wal_receiver.h"
#include "server/wal_sender.h"

namespace seatlock {

struct ClusterOptions {
  std::vector<std::string> etcd;  // endpoints
  std::string group;
  std::string node_id;
  std::string advertise;             // host:port clients reach this node's main port at
  std::string repl_advertise;        // host:port replicas reach this node's WalSender at
  uint16_t repl_port = 0;            // bound on ServerConfig::bind
  uint32_t repl_max_streams = 64;    // WalSender::Options::max_streams
  size_t repl_hold_changes = 65536;  // capacity of each hold change ring (ReplicationHub)
  int64_t lease_ttl_ms = 3'000;
  uint32_t sync_replicas = 1;  // 0: asynchronous replication
};

class ClusterNode {
 public:
  ClusterNode(ServerConfig config, ClusterOptions options);
  ~ClusterNode();

  // Runs until Stop(). Returns an error only for what a restart cannot fix
  // (bad flags, a data dir in use).
  absl::Status Run();
  void Stop() { stopping_ = true; }

 private:
  absl::Status RunPrimary(int64_t epoch);
  void RunReplica(const cluster::LeaderInfo& leader);
  bool CanLead() const;
  absl::Status EnsureStandby();
  absl::Status PrepareCopy();
  void ManageSync(int64_t epoch);
  void PublishMember(const char* role);
  // The group's members in etcd, as the primary last read them (every
  // 250 ms): only they may stream from it or be named `sync`.
  void RefreshMembers();
  // A miss reads etcd again (at most every 200 ms); any thread.
  bool IsMember(const std::string& node_id);
  bool LockDataDir();
  void UnlockDataDir();
  void Sleep(int64_t ms) const;

  ServerConfig config_;
  const ClusterOptions options_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<cluster::EtcdClient> etcd_;
  std::unique_ptr<cluster::LeaseKeeper> keeper_;
  std::unique_ptr<cluster::Election> election_;
  std::unique_ptr<ReplicationHub> hub_;
  std::unique_ptr<Server> standby_;
  std::unique_ptr<Server> primary_;
  std::unique_ptr<WalSender> sender_;
  std::vector<std::unique_ptr<WalReceiver>> receivers_;
  mutable std::mutex members_mu_;  // guards members_ (the cluster and repl threads)
  absl::flat_hash_set<std::string> members_;
  int64_t members_read_ms_ = 0;  // when a miss last read etcd
  // Held across a miss's etcd read, so that the Hellos of a replica's other
  // shards, arriving together, wait for that read instead of being refused.
  std::mutex members_read_mu_;
  int lock_fd_ = -1;
  // The epoch the copy in --data-dir came from, while this process knows
  // it (0: none, or it must start over): a new stream of the same epoch
  // resumes it instead of copying from scratch.
  int64_t copy_epoch_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_CLUSTER_NODE_H_
