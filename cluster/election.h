// Election: the etcd transactions that decide a replica group's primary (the
// `leader` key), its epoch and its synchronous replica (the `sync` key), and
// that publish its members (GroupKeys names the keys).
//
// The epoch is the leader key's create revision: etcd's revision counter only
// grows, and a key deleted and created again gets a new create revision, so
// each leadership has its own epoch, above every earlier one. Every write a
// leader makes is guarded by "leader's create revision == my epoch", which
// holds only while that incarnation of the key exists.
//
// Holds only the client (not owned; it must outlive the Election) and the
// keys, so it is thread-safe: any thread may call any method. It keeps no
// state between calls; the caller keeps its epoch and its LeaseKeeper.
#ifndef SEATLOCK_CLUSTER_ELECTION_H_
#define SEATLOCK_CLUSTER_ELECTION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cluster/etcd_client.h"
#include "cluster/group_keys.h"
#include "cluster/node_info.h"

namespace seatlock::cluster {

struct LeaderInfo {
  NodeInfo node;
  int64_t epoch = 0;  // the leader key's create revision
  int64_t lease = 0;
};

class Election {
 public:
  // group and node_id: see GroupKeys::ValidateName (an invalid group aborts).
  Election(EtcdClient* etcd, std::string group, std::string node_id);

  // The current leader, or nullopt when there is none.
  absl::StatusOr<std::optional<LeaderInfo>> Leader();
  // The node id named in `sync`, or nullopt when it is absent.
  absl::StatusOr<std::optional<std::string>> Sync();

  // Becomes leader if `leader` is absent and this node may lead: `sync` is
  // absent (a new group: this node then names itself in `sync` too, in the same
  // transaction) or names this node. Two transactions in turn, each checking
  // everything it relies on:
  //   1. leader.create == 0 && sync.create == 0
  //        -> put leader = me.Encode() (lease), put sync = node_id
  //   2. leader.create == 0 && sync.value == node_id
  //        -> put leader = me.Encode() (lease)
  // Returns the epoch (the transaction's revision, which is the new key's
  // create revision), or 0 if another node leads or `sync` names another node.
  // If `leader` already names this node with this lease (an earlier attempt
  // whose answer was lost), returns its epoch. me.node_id must be node_id.
  absl::StatusOr<int64_t> TryLead(const NodeInfo& me, int64_t lease);
  // Names `node` the synchronous replica, if this node still leads at `epoch`
  // (leader.create == epoch). false if it no longer does.
  absl::StatusOr<bool> SetSync(int64_t epoch, const std::string& node);
  // Puts members/<node_id> = me.Encode(), bound to `lease`.
  absl::Status PutMember(const NodeInfo& me, int64_t lease);
  // Every member, in node id order. An unparsable value is an error naming
  // its key.
  absl::StatusOr<std::vector<NodeInfo>> Members();
  // Deletes `leader` if it is still this node's at `epoch`, for a clean stop;
  // OK too when it no longer was.
  absl::Status Resign(int64_t epoch);

  const GroupKeys& keys() const { return keys_; }
  const std::string& node_id() const { return node_id_; }

 private:
  EtcdClient* const etcd_;
  const GroupKeys keys_;
  const std::string node_id_;
};

}  // namespace seatlock::cluster

#endif  // SEATLOCK_CLUSTER_ELECTION_H_
