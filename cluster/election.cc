#include "cluster/election.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace seatlock::cluster {
namespace {

Compare Absent(const std::string& key) {
  return Compare{key, Compare::Target::kCreateRevision, Compare::Result::kEqual, 0, ""};
}

Compare CreatedAt(const std::string& key, int64_t revision) {
  return Compare{key, Compare::Target::kCreateRevision, Compare::Result::kEqual, revision, ""};
}

Compare ValueIs(const std::string& key, const std::string& value) {
  return Compare{key, Compare::Target::kValue, Compare::Result::kEqual, 0, value};
}

TxnOp PutOp(const std::string& key, const std::string& value, int64_t lease = 0) {
  return TxnOp{TxnOp::Kind::kPut, key, value, lease};
}

}  // namespace

Election::Election(EtcdClient* etcd, std::string group, std::string node_id)
    : etcd_(etcd), keys_(std::move(group)), node_id_(std::move(node_id)) {}

absl::StatusOr<std::optional<LeaderInfo>> Election::Leader() {
  absl::StatusOr<std::optional<KeyValue>> kv = etcd_->Get(keys_.leader());
  if (!kv.ok()) return kv.status();
  if (!kv->has_value()) return std::optional<LeaderInfo>();
  absl::StatusOr<NodeInfo> node = NodeInfo::Parse((*kv)->value);
  if (!node.ok()) {
    return absl::DataLossError(absl::StrCat(keys_.leader(), ": ", node.status().message()));
  }
  LeaderInfo info;
  info.node = std::move(*node);
  info.epoch = (*kv)->create_revision;
  info.lease = (*kv)->lease;
  return std::optional<LeaderInfo>(std::move(info));
}

absl::StatusOr<std::optional<std::string>> Election::Sync() {
  absl::StatusOr<std::optional<KeyValue>> kv = etcd_->Get(keys_.sync());
  if (!kv.ok()) return kv.status();
  if (!kv->has_value()) return std::optional<std::string>();
  return std::optional<std::string>((*kv)->value);
}

absl::StatusOr<int64_t> Election::TryLead(const NodeInfo& me, int64_t lease) {
  if (me.node_id != node_id_) {
    return absl::InvalidArgumentError(absl::StrCat("Election::TryLead: node info names \"",
                                                   me.node_id, "\", not \"", node_id_, "\""));
  }
  const std::string value = me.Encode();
  // 1. A new group: neither leader nor sync exists.
  absl::StatusOr<TxnResult> r =
      etcd_->Txn({Absent(keys_.leader()), Absent(keys_.sync())},
                 {PutOp(keys_.leader(), value, lease), PutOp(keys_.sync(), node_id_)});
  if (!r.ok()) return r.status();
  if (r->succeeded) return r->revision;
  // 2. No leader, and sync names this node.
  r = etcd_->Txn({Absent(keys_.leader()), ValueIs(keys_.sync(), node_id_)},
                 {PutOp(keys_.leader(), value, lease)});
  if (!r.ok()) return r.status();
  if (r->succeeded) return r->revision;
  // Already leader with this lease (an earlier TryLead applied, its answer lost)?
  absl::StatusOr<std::optional<KeyValue>> kv = etcd_->Get(keys_.leader());
  if (!kv.ok()) return kv.status();
  if (kv->has_value() && (*kv)->lease == lease && lease != 0) {
    absl::StatusOr<NodeInfo> node = NodeInfo::Parse((*kv)->value);
    if (node.ok() && node->node_id == node_id_) return (*kv)->create_revision;
  }
  return 0;
}

absl::StatusOr<bool> Election::SetSync(int64_t epoch, const std::string& node) {
  // create_revision == 0 would mean "no leader": never a valid epoch.
  if (epoch <= 0) return absl::InvalidArgumentError("Election::SetSync: epoch must be positive");
  absl::StatusOr<TxnResult> r =
      etcd_->Txn({CreatedAt(keys_.leader(), epoch)}, {PutOp(keys_.sync(), node)});
  if (!r.ok()) return r.status();
  return r->succeeded;
}

absl::Status Election::PutMember(const NodeInfo& me, int64_t lease) {
  return etcd_->Put(keys_.member(me.node_id), me.Encode(), lease).status();
}

absl::StatusOr<std::vector<NodeInfo>> Election::Members() {
  absl::StatusOr<std::vector<KeyValue>> kvs = etcd_->GetPrefix(keys_.members_prefix());
  if (!kvs.ok()) return kvs.status();
  std::vector<NodeInfo> out;
  for (const KeyValue& kv : *kvs) {
    absl::StatusOr<NodeInfo> node = NodeInfo::Parse(kv.value);
    if (!node.ok()) {
      return absl::DataLossError(absl::StrCat(kv.key, ": ", node.status().message()));
    }
    out.push_back(std::move(*node));
  }
  return out;
}

absl::Status Election::Resign(int64_t epoch) {
  if (epoch <= 0) return absl::InvalidArgumentError("Election::Resign: epoch must be positive");
  return etcd_
      ->Txn({CreatedAt(keys_.leader(), epoch)},
            {TxnOp{TxnOp::Kind::kDelete, keys_.leader(), "", 0}})
      .status();
}

}  // namespace seatlock::cluster
