#include "server/cluster_node.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/mono_clock.h"
#include "common/str_error.h"
#include "persistence/file_util.h"
#include "protocol/sharding.h"
#include "server/log.h"
#include "server/reshard.h"

namespace seatlock {
namespace {

std::string ResyncMarker(const std::string& data_dir) { return data_dir + "/RESYNCING"; }

}  // namespace

ClusterNode::ClusterNode(ServerConfig config, ClusterOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  if (config_.hash_seed == 0) config_.hash_seed = protocol::kDefaultHashSeed;
  config_.node_id = options_.node_id;
}

ClusterNode::~ClusterNode() {
  receivers_.clear();
  if (sender_) sender_->Stop();
  primary_.reset();
  standby_.reset();
  if (keeper_) keeper_->Stop();
  UnlockDataDir();
}

void ClusterNode::Sleep(int64_t ms) const {
  const int64_t until = MonoMs() + ms;
  while (!stopping_.load() && MonoMs() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(10, ms)));
  }
}

bool ClusterNode::LockDataDir() {
  if (lock_fd_ >= 0) return true;
  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir, ec);
  const std::string path = config_.data_dir + "/LOCK";
  lock_fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (lock_fd_ >= 0) close(lock_fd_);
    lock_fd_ = -1;
    return false;
  }
  return true;
}

void ClusterNode::UnlockDataDir() {
  if (lock_fd_ >= 0) close(lock_fd_);
  lock_fd_ = -1;
}

bool ClusterNode::CanLead() const {
  std::error_code ec;
  return !std::filesystem::exists(ResyncMarker(config_.data_dir), ec);
}

absl::Status ClusterNode::Run() {
  if (!LockDataDir()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot lock ", config_.data_dir, "/LOCK (another seatlockd is using this --data-dir)"));
  }
  auto etcd = cluster::EtcdClient::Create({.endpoints = options_.etcd, .timeout_ms = 1000});
  if (!etcd.ok()) return etcd.status();
  etcd_ = std::move(*etcd);
  election_ = std::make_unique<cluster::Election>(etcd_.get(), options_.group, options_.node_id);
  keeper_ = std::make_unique<cluster::LeaseKeeper>(etcd_.get(), options_.lease_ttl_ms);
  hub_ = std::make_unique<ReplicationHub>(config_.shards, options_.sync_replicas > 0,
                                          options_.repl_hold_changes);
  config_.replication = hub_.get();
  hub_->SetRole(NodeRole::kReplica, 0, "");
  LogInfo("cluster: node ", options_.node_id, " of group ", options_.group, " (clients at ",
          options_.advertise, ", replication at ", options_.repl_advertise, ")");
  if (absl::Status st = EnsureStandby(); !st.ok()) return st;
  int64_t last_warn = 0;
  while (!stopping_.load()) {
    if (keeper_->lease() == 0 || keeper_->lost()) {
      keeper_->Stop();
      if (absl::Status st = keeper_->Start(); !st.ok()) {
        if (MonoMs() - last_warn > 5000) {
          LogWarning("cluster: cannot get an etcd lease: ", st.message(), "; retrying");
          last_warn = MonoMs();
        }
        Sleep(500);
        continue;
      }
    }
    PublishMember("replica");
    auto leader = election_->Leader();
    if (!leader.ok()) {
      if (MonoMs() - last_warn > 5000) {
        LogWarning("cluster: cannot read the leader from etcd: ", leader.status().message());
        last_warn = MonoMs();
      }
      Sleep(200);
      continue;
    }
    if (!leader->has_value()) {
      if (!CanLead()) {
        if (MonoMs() - last_warn > 5000) {
          LogWarning("cluster: no primary, and this node's copy is incomplete (",
                     ResyncMarker(config_.data_dir),
                     "): it may not lead; waiting for a node that may");
          last_warn = MonoMs();
        }
        Sleep(200);
        continue;
      }
      cluster::NodeInfo me{
          options_.node_id, options_.advertise, options_.repl_advertise, "primary", {}};
      auto epoch = election_->TryLead(me, keeper_->lease());
      if (!epoch.ok() || *epoch == 0) {
        Sleep(100);
        continue;
      }
      if (absl::Status st = RunPrimary(*epoch); !st.ok()) return st;
      continue;
    }
    const cluster::LeaderInfo& l = **leader;
    if (l.node.node_id == options_.node_id) {
      // Our own key from before a restart or a lost lease: wait for it to go.
      Sleep(200);
      continue;
    }
    RunReplica(l);
  }
  if (keeper_) keeper_->Stop();
  return absl::OkStatus();
}

absl::Status ClusterNode::EnsureStandby() {
  if (standby_ != nullptr) return absl::OkStatus();
  ServerConfig c = config_;
  c.standby = true;
  c.port_file.clear();
  standby_ = std::make_unique<Server>(c);
  absl::Status st = standby_->Start();
  if (!st.ok()) standby_.reset();
  return st;
}

absl::Status ClusterNode::PrepareCopy() {
  const std::string& dir = config_.data_dir;
  if (absl::Status st = files::WriteFileAtomic(ResyncMarker(dir), "copying from the primary\n",
                                               /*sync=*/true);
      !st.ok()) {
    return st;
  }
  // The old copy is kept (once) for the operator, never served again.
  const std::string discarded = dir + "/discarded";
  std::error_code ec;
  std::filesystem::remove_all(discarded, ec);
  std::filesystem::create_directories(discarded, ec);
  for (uint32_t i = 0; i < 64; ++i) {
    const std::string shard = absl::StrCat(dir, "/shard-", i);
    if (std::filesystem::exists(shard, ec)) {
      std::filesystem::rename(shard, absl::StrCat(discarded, "/shard-", i), ec);
      if (ec) return absl::UnavailableError(absl::StrCat("move ", shard, ": ", ec.message()));
    }
  }
  if (absl::Status st = files::SyncDir(dir); !st.ok()) return st;
  return reshard::WriteLayout(dir, {config_.shards, config_.hash_seed});
}

void ClusterNode::RunReplica(const cluster::LeaderInfo& leader) {
  hub_->SetRole(NodeRole::kReplica, leader.epoch, leader.node.address);
  if (absl::Status st = EnsureStandby(); !st.ok()) {
    LogWarning("cluster: cannot start the standby server: ", st.message());
    Sleep(500);
    return;
  }
  const bool resume = copy_epoch_ == leader.epoch;
  if (!resume) {
    copy_epoch_ = 0;
    if (absl::Status st = PrepareCopy(); !st.ok()) {
      LogError("cluster: cannot prepare the data dir for a copy: ", st.message());
      Sleep(1000);
      return;
    }
    copy_epoch_ = leader.epoch;
    // A new standby server, whose shards apply the new copy from its start
    // (the old one stops before the hub forgets the old copy).
    standby_.reset();
    hub_->ResetCopy();
    if (absl::Status st = EnsureStandby(); !st.ok()) {
      LogWarning("cluster: cannot start the standby server: ", st.message());
      Sleep(500);
      return;
    }
    LogInfo("cluster: replica of ", leader.node.node_id, " (", leader.node.address, ") at epoch ",
            leader.epoch, "; copying its ", config_.shards, " shard(s)");
  }
  for (uint32_t i = 0; i < config_.shards; ++i) {
    WalReceiver::Options o;
    o.node_id = options_.node_id;
    o.shard = i;
    o.shards = config_.shards;
    o.hash_seed = config_.hash_seed;
    o.epoch = leader.epoch;
    o.primary = leader.node.repl_address;
    o.dir = absl::StrCat(config_.data_dir, "/shard-", i);
    o.segment_bytes = config_.wal_segment_bytes;
    o.fsync = config_.fsync;
    o.resume = resume;
    o.hub = hub_.get();
    receivers_.push_back(std::make_unique<WalReceiver>(o));
    receivers_.back()->Start();
  }
  int64_t last_member = 0;
  while (!stopping_.load()) {
    Sleep(100);
    auto cur = election_->Leader();
    if (cur.ok() && (!cur->has_value() || (*cur)->epoch != leader.epoch)) break;
    bool all = true;
    bool ended = false;
    for (auto& r : receivers_) {
      all = all && r->caught_up();
      ended = ended || r->ended();
    }
    if (all && !CanLead()) {
      if (files::RemoveFile(ResyncMarker(config_.data_dir)).ok() &&
          files::SyncDir(config_.data_dir).ok()) {
        LogInfo("cluster: copy complete; this node may now be named the synchronous replica");
      }
    }
    if (ended) {
      for (auto& r : receivers_) {
        if (r->needs_fresh_copy()) copy_epoch_ = 0;
      }
      Sleep(300);
      break;
    }
    if (MonoMs() - last_member >= 1000) {
      last_member = MonoMs();
      PublishMember("replica");
    }
  }
  receivers_.clear();  // stops them; what they wrote stays
}

absl::Status ClusterNode::RunPrimary(int64_t epoch) {
  copy_epoch_ = 0;  // what it writes as primary is no copy of anyone's
  // The holds that reached this replica survive: the primary takes them over.
  std::shared_ptr<std::vector<std::vector<HoldImage>>> adopted;
  if (standby_ != nullptr) {
    standby_->Stop();
    standby_->Wait();
    adopted = std::make_shared<std::vector<std::vector<HoldImage>>>(standby_->LiveHolds());
  }
  standby_.reset();
  for (uint32_t i = 0; i < config_.shards; ++i) hub_->holds(i).Clear();
  hub_->SetRole(NodeRole::kPrimary, epoch, options_.advertise);
  hub_->set_writes_valid_until_ns(keeper_->valid_until_ns());
  hub_->SetSync("");
  RefreshMembers();
  WalSender::Options so;
  so.data_dir = config_.data_dir;
  so.shards = config_.shards;
  so.hash_seed = config_.hash_seed;
  so.max_streams = options_.repl_max_streams;
  so.accept_node = [this](const std::string& node) { return IsMember(node); };
  sender_ = std::make_unique<WalSender>(std::move(so), hub_.get());
  if (absl::Status st = sender_->Start(config_.bind, options_.repl_port); !st.ok()) {
    LogError("cluster: cannot listen for replicas: ", st.message());
    sender_.reset();
    hub_->SetRole(NodeRole::kReplica, 0, "");
    election_->Resign(epoch).IgnoreError();
    Sleep(1000);
    return absl::OkStatus();
  }
  UnlockDataDir();
  ServerConfig c = config_;
  c.standby = false;
  c.epoch = epoch;
  c.adopt_holds = std::move(adopted);
  primary_ = std::make_unique<Server>(c);
  if (absl::Status st = primary_->Start(); !st.ok()) {
    primary_.reset();
    sender_->Stop();
    sender_.reset();
    hub_->SetRole(NodeRole::kReplica, 0, "");
    election_->Resign(epoch).IgnoreError();
    return st;  // recovery failed: not something another round fixes
  }
  if (options_.sync_replicas == 0) {
    LogWarning(
        "cluster: --sync_replicas=0: replication is asynchronous; a failover can lose "
        "acknowledged sales");
  }
  LogInfo("cluster: primary of group ", options_.group, " at epoch ", epoch);
  int64_t last_check = MonoMs();
  int64_t last_member = 0;
  std::string why;
  while (!stopping_.load()) {
    Sleep(20);
    hub_->set_writes_valid_until_ns(keeper_->valid_until_ns());
    if (keeper_->lost()) {
      why = "its etcd lease is gone";
      break;
    }
    const int64_t now = MonoMs();
    if (now - last_check >= 250) {
      last_check = now;
      auto leader = election_->Leader();
      if (leader.ok() && (!leader->has_value() || (*leader)->epoch != epoch)) {
        why = "etcd names another primary";
        break;
      }
      RefreshMembers();
      ManageSync(epoch);
    }
    if (now - last_member >= 1000) {
      last_member = now;
      PublishMember("primary");
    }
  }
  hub_->SetRole(NodeRole::kReplica, 0, "");  // no write is answered from here on
  if (!why.empty()) {
    LogError("cluster: deposed at epoch ", epoch, ": ", why,
             ". Stopping; this node rejoins as a replica with a fresh copy");
  }
  sender_->Stop();
  sender_.reset();
  primary_->Stop();
  primary_.reset();
  if (why.empty()) election_->Resign(epoch).IgnoreError();
  LockDataDir();
  return absl::OkStatus();
}

void ClusterNode::ManageSync(int64_t epoch) {
  const std::string cur = hub_->sync();
  const std::vector<ReplicationHub::ReplicaView> views = hub_->Replicas();
  for (const auto& v : views) {
    if (v.node != cur) continue;
    bool connected = true;
    for (bool c : v.connected) connected = connected && c;
    if (connected && v.copy_complete) return;  // keep it, caught up or catching up
    // A synchronous replica that began a copy from scratch in this epoch
    // cannot lead until it is complete: were the primary to die meanwhile, no
    // node could. Another caught-up replica takes its place if there is
    // one; if none, it stays named.
  }
  for (const auto& v : views) {
    if (!v.caught_up || !v.copy_complete || v.node == cur || !IsMember(v.node)) continue;
    auto named = election_->SetSync(epoch, v.node);
    if (named.ok() && *named) {
      hub_->SetSync(v.node);
      LogInfo("cluster: ", v.node, " is now the synchronous replica");
    }
    return;
  }
}

void ClusterNode::RefreshMembers() {
  auto members = election_->Members();
  if (!members.ok()) return;  // keep the last list while etcd does not answer
  absl::flat_hash_set<std::string> ids;
  for (const cluster::NodeInfo& m : *members) ids.insert(m.node_id);
  std::lock_guard<std::mutex> lock(members_mu_);
  members_ = std::move(ids);
}

bool ClusterNode::IsMember(const std::string& node_id) {
  if (node_id == options_.node_id) return false;  // never a replica of itself
  {
    std::lock_guard<std::mutex> lock(members_mu_);
    if (members_.contains(node_id)) return true;
  }
  // A replica registers just before it connects: read etcd again, but at
  // most every 200 ms, whoever knocks. A replica's shards say Hello at the
  // same moment: the others wait for the first one's read, and look again.
  std::lock_guard<std::mutex> reading(members_read_mu_);
  {
    std::lock_guard<std::mutex> lock(members_mu_);
    if (members_.contains(node_id)) return true;
    if (MonoMs() - members_read_ms_ < 200) return false;
  }
  RefreshMembers();
  std::lock_guard<std::mutex> lock(members_mu_);
  members_read_ms_ = MonoMs();
  return members_.contains(node_id);
}

void ClusterNode::PublishMember(const char* role) {
  if (keeper_->lease() == 0) return;
  cluster::NodeInfo me{options_.node_id, options_.advertise, options_.repl_advertise, role, {}};
  for (uint32_t i = 0; i < config_.shards; ++i) {
    if (primary_ != nullptr) {
      me.durable_lsn.push_back(hub_->local_durable(i));
    } else {
      me.durable_lsn.push_back(i < receivers_.size() ? receivers_[i]->durable_lsn() : 0);
    }
  }
  election_->PutMember(me, keeper_->lease()).IgnoreError();
}

}  // namespace seatlock
