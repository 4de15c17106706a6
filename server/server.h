// Server: the seatlockd process. Binds the listening sockets (the main port,
// shared by every shard through SO_REUSEPORT, and one port per shard), starts
// one thread per shard, and stops them all on SIGTERM/SIGINT.
//
// Owns the shards, their threads and the listening sockets. Start/Wait/Stop
// are called from the main thread; Stop may also be called from a signal
// watcher thread.
#ifndef SEATLOCK_SERVER_SERVER_H_
#define SEATLOCK_SERVER_SERVER_H_

#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "server/config.h"
#include "server/shard.h"

namespace seatlock {

class Server {
 public:
  explicit Server(ServerConfig config);
  ~Server();

  // Binds, starts the shard threads, and returns once all are serving.
  absl::Status Start();
  // Asks every shard to finish what is in flight and stop.
  void Stop();
  // Blocks until every shard thread has exited.
  void Wait();
  // Every live hold, by shard. Only after Wait (a standby server that is
  // being replaced by a primary: ClusterNode hands them to it).
  std::vector<std::vector<HoldImage>> LiveHolds() const;

  uint16_t main_port() const { return group_.main_port; }
  const std::vector<uint16_t>& shard_ports() const { return group_.shard_ports; }

 private:
  absl::Status Bind();
  absl::Status CheckShardLayout();

  ServerConfig config_;
  ShardGroup group_;
  std::promise<void> go_;
  std::promise<absl::Status> swapped_;
  std::vector<int> main_fds_;
  std::vector<int> shard_fds_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::thread> threads_;
  int lock_fd_ = -1;
  int metrics_fd_ = -1;
  uint16_t metrics_port_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_SERVER_H_
