#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/mono_clock.h"
#include "common/str_error.h"
#include "persistence/file_util.h"
#include "protocol/sharding.h"
#include "server/listen_socket.h"
#include "server/log.h"
#include "server/replication_hub.h"
#include "server/reshard.h"

namespace seatlock {

Server::Server(ServerConfig config) : config_(std::move(config)) {
  group_.hash_seed = config_.hash_seed != 0 ? config_.hash_seed : protocol::kDefaultHashSeed;
  group_.start_ms = SystemClock::Get()->NowMs();
  std::random_device rd;
  while (group_.feed_epoch == 0) group_.feed_epoch = (uint64_t{rd()} << 32) ^ rd();
  group_.go = go_.get_future().share();
}

Server::~Server() {
  if (config_.replication != nullptr) config_.replication->SetWaker(nullptr);
  Stop();
  Wait();
  for (int fd : main_fds_) close(fd);
  for (int fd : shard_fds_) close(fd);
  if (lock_fd_ >= 0) close(lock_fd_);
  if (metrics_fd_ >= 0) close(metrics_fd_);
}

absl::Status Server::Bind() {
  // The first main socket picks the port (ephemeral when --port 0); the other
  // shards join it through SO_REUSEPORT so the kernel spreads connections.
  for (uint32_t i = 0; i < config_.shards; ++i) {
    auto fd =
        Listen(config_.bind, i == 0 ? config_.port : group_.main_port, true, config_.bind_retry_ms);
    if (!fd.ok()) return fd.status();
    main_fds_.push_back(*fd);
    if (i == 0) group_.main_port = BoundPort(*fd);
  }
  for (uint32_t i = 0; i < config_.shards; ++i) {
    const uint16_t want = config_.port == 0 ? 0 : static_cast<uint16_t>(config_.port + 1 + i);
    auto fd = Listen(config_.bind, want, false, config_.bind_retry_ms);
    if (!fd.ok()) return fd.status();
    shard_fds_.push_back(*fd);
    group_.shard_ports.push_back(BoundPort(*fd));
  }
  if (config_.metrics_port >= 0) {
    auto fd = Listen(config_.bind, static_cast<uint16_t>(config_.metrics_port), false,
                     config_.bind_retry_ms);
    if (!fd.ok()) return fd.status();
    metrics_fd_ = *fd;
    metrics_port_ = BoundPort(*fd);
  }
  return absl::OkStatus();
}

absl::Status Server::CheckShardLayout() {
  std::error_code ec;
  std::filesystem::create_directories(config_.data_dir, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot create --data-dir ", config_.data_dir, ": ", ec.message()));
  // One daemon per data dir: hold an exclusive lock on <data-dir>/LOCK for
  // the life of the process (released by the kernel on any exit).
  const std::string lock_path = absl::StrCat(config_.data_dir, "/LOCK");
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot lock ", lock_path, ": ", StrError(errno),
                     errno == EWOULDBLOCK ? " (another seatlockd is using this --data-dir)" : ""));
  }
  if (absl::Status st = reshard::ResumeOrClean(config_.data_dir); !st.ok()) return st;
  const reshard::Layout want{config_.shards, group_.hash_seed};
  const absl::StatusOr<std::optional<reshard::Layout>> read = reshard::ReadLayout(config_.data_dir);
  if (!read.ok()) return read.status();
  const std::optional<reshard::Layout>& have = *read;
  if (!have) return reshard::WriteLayout(config_.data_dir, want);
  if (*have == want) return absl::OkStatus();
  // A section's sales are in the log of the shard that owned it under the
  // old layout: move them to their new owners before serving.
  LogInfo("resharding ", config_.data_dir, " from ", have->shards, " shards (seed ", have->seed,
          ") to ", want.shards, " (seed ", want.seed, ")");
  if (absl::Status st = reshard::PrepareOldLogs(config_.data_dir, have->shards, config_.wal_repair);
      !st.ok()) {
    return st;
  }
  group_.reshard_from = have->shards;
  group_.staged = std::vector<std::promise<absl::Status>>(config_.shards);
  group_.swapped = swapped_.get_future().share();
  return absl::OkStatus();
}

absl::Status Server::Start() {
  if (config_.shards == 0 || config_.shards > 64) {
    return absl::InvalidArgumentError("--shards must be between 1 and 64");
  }
  // The data dir records the shard count and seed it was written with
  // (<data-dir>/SHARDS); a start with others reshards it first.
  // A replica's standby server leaves --data-dir to the replication threads.
  if (!config_.standby) {
    if (absl::Status st = CheckShardLayout(); !st.ok()) return st;
  }
  if (absl::Status st = Bind(); !st.ok()) return st;
  group_.memory.set_limit(config_.max_memory);
  group_.bus = std::make_unique<BusFabric>(config_.shards, config_.shard_queue_depth);
  group_.bus->set_waker([this](uint32_t to) { group_.shards[to]->Wake(); });
  for (uint32_t i = 0; i < config_.shards; ++i) {
    shards_.push_back(std::make_unique<Shard>(i, config_, &group_, main_fds_[i], shard_fds_[i],
                                              i == 0 ? metrics_fd_ : -1));
    group_.shards.push_back(shards_.back().get());
  }
  group_.busy_shards = static_cast<int>(config_.shards);
  if (config_.replication != nullptr) {
    config_.replication->SetWaker([this](uint32_t i) { group_.shards[i]->Wake(); });
  }
  std::vector<std::promise<absl::Status>> started(config_.shards);
  for (uint32_t i = 0; i < config_.shards; ++i) {
    threads_.emplace_back([this, i, p = &started[i]] { shards_[i]->Run(p); });
  }
  if (group_.reshard_from > 0) {
    absl::Status staged;
    for (auto& p : group_.staged) {
      absl::Status st = p.get_future().get();
      if (!st.ok() && staged.ok()) staged = st;
    }
    if (staged.ok()) {
      staged =
          reshard::Swap(config_.data_dir, group_.reshard_from, {config_.shards, group_.hash_seed});
    }
    swapped_.set_value(staged);
  }
  absl::Status first_error;
  for (auto& p : started) {
    absl::Status st = p.get_future().get();
    if (!st.ok() && first_error.ok()) first_error = st;
  }
  go_.set_value();
  if (!first_error.ok()) {
    Stop();
    Wait();
    return first_error;
  }
  LogInfo("listening on ", config_.bind, ":", group_.main_port, " (shard ports ",
          absl::StrJoin(group_.shard_ports, ","), ")",
          metrics_fd_ >= 0
              ? absl::StrCat("; metrics on http://", config_.bind, ":", metrics_port_, "/metrics")
              : "");
  if (!config_.port_file.empty()) {
    // Atomic (readers poll for it) but not durable: it describes this run.
    absl::Status st = files::WriteFileAtomic(
        config_.port_file,
        absl::StrCat("{\"port\":", group_.main_port, ",\"shard_ports\":[",
                     absl::StrJoin(group_.shard_ports, ","),
                     "],\"metrics_port\":", metrics_fd_ >= 0 ? metrics_port_ : 0, "}\n"),
        /*sync=*/false);
    if (!st.ok()) {
      Stop();
      Wait();
      return absl::Status(st.code(), absl::StrCat("--port-file: ", st.message()));
    }
  }
  return absl::OkStatus();
}

void Server::Stop() {
  if (group_.stopping.exchange(true)) return;
  for (Shard* s : group_.shards) s->Wake();
}

void Server::Wait() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::vector<std::vector<HoldImage>> Server::LiveHolds() const {
  std::vector<std::vector<HoldImage>> out;
  for (const auto& shard : shards_) out.push_back(shard->LiveHolds());
  return out;
}

}  // namespace seatlock
