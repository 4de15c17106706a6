// NodeInfo: what a seatlockd node tells its replica group about itself, as
// the value of its etcd keys (`members/<id>`, and `leader` for the primary).
// A plain value; any thread.
//
// Encoded as "key=value" lines so that `etcdctl get` shows it legibly:
//   node_id=n1
//   address=10.0.0.1:7400
//   repl_address=10.0.0.1:7500
//   role=primary
//   durable_lsn=120,0,37
// Parse ignores keys it does not know (a newer node may add some) and needs
// node_id.
#ifndef SEATLOCK_CLUSTER_NODE_INFO_H_
#define SEATLOCK_CLUSTER_NODE_INFO_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace seatlock::cluster {

struct NodeInfo {
  std::string node_id;
  std::string address;                // clients' host:port
  std::string repl_address;           // replication host:port
  std::string role;                   // "primary", "replica", ... (the server's words)
  std::vector<uint64_t> durable_lsn;  // per shard: the highest LSN fsynced

  // The value of the node's etcd keys. Fields must not contain '\n'.
  std::string Encode() const;
  static absl::StatusOr<NodeInfo> Parse(std::string_view text);

  bool operator==(const NodeInfo&) const = default;
};

}  // namespace seatlock::cluster

#endif  // SEATLOCK_CLUSTER_NODE_INFO_H_
