// GroupKeys: the etcd keys of one replica group, all under /seatlock/<group>/:
//   leader         the primary's NodeInfo, bound to its lease; its create
//                  revision is the group's epoch
//   sync           the node id of the synchronous replica (no lease)
//   members/<id>   each node's NodeInfo, bound to its lease
// A plain value; any thread. The group is a parameter, never a constant, so
// that one etcd can hold many groups.
#ifndef SEATLOCK_CLUSTER_GROUP_KEYS_H_
#define SEATLOCK_CLUSTER_GROUP_KEYS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace seatlock::cluster {

class GroupKeys {
 public:
  // Group names and node ids: 1 to 64 of [A-Za-z0-9_.-]. Validate flags with
  // ValidateName first: the constructor aborts on an invalid group.
  static absl::Status ValidateName(std::string_view what, std::string_view name);

  explicit GroupKeys(std::string group);

  const std::string& group() const { return group_; }
  std::string leader() const { return prefix_ + "leader"; }
  std::string sync() const { return prefix_ + "sync"; }
  std::string member(const std::string& id) const { return members_prefix() + id; }
  std::string members_prefix() const { return prefix_ + "members/"; }
  // "/seatlock/<group>/": every key of the group.
  const std::string& prefix() const { return prefix_; }

 private:
  std::string group_;
  std::string prefix_;
};

}  // namespace seatlock::cluster

#endif  // SEATLOCK_CLUSTER_GROUP_KEYS_H_
