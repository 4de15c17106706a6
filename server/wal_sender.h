// WalSender: the primary's side of replication (docs/cluster.md, "The
// stream"). It listens on the replication port; each connection is one
// replica's copy of one shard. The sender checks the replica's Hello (same
// shard count and hash seed, and the epoch etcd names is this node's), then
// ships the shard's newest snapshot if the log no longer starts at LSN 1,
// then every WAL record from there on, read back from the shard's segment
// files up to the LSN durable on this node's disk (ReplicationHub), and
// keeps following the log. The replica's acks go to the hub, where they
// release the durable replies that wait for them (the ack rule).
//
// Reading the files, not the shard's memory, keeps the shard thread out of
// replication entirely: it only publishes its durable LSN.
//
// Ownership: owns its listening socket and, per connection, a stream and
// two threads (one sends, one reads acks). Start/Stop from one thread
// (the cluster thread); everything else runs on its own threads.
#ifndef SEATLOCK_SERVER_WAL_SENDER_H_
#define SEATLOCK_SERVER_WAL_SENDER_H_

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "server/repl_stream.h"
#include "server/replication_hub.h"

namespace seatlock {

class WalSender {
 public:
  // `data_dir` holds shard-<i>/ of a primary with `shards` shards.
  WalSender(std::string data_dir, uint32_t shards, uint64_t hash_seed, ReplicationHub* hub);
  ~WalSender();

  // Binds `bind`:`port` (0: ephemeral) and starts accepting.
  absl::Status Start(const std::string& bind, uint16_t port);
  uint16_t port() const { return port_; }
  // Closes the listener and every stream, and joins their threads.
  void Stop();

 private:
  struct Conn {
    std::unique_ptr<ReplStream> stream;
    std::thread sender;
    std::thread acker;
    std::atomic<bool> done{false};
  };
  void AcceptLoop();
  void Serve(Conn* conn);
  // Sends everything of `shard` from the start; returns why it stopped.
  absl::Status Stream(Conn* conn, const repl::Hello& hello);

  const std::string data_dir_;
  const uint32_t shards_;
  const uint64_t hash_seed_;
  ReplicationHub* const hub_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;  // guards conns_
  std::list<std::unique_ptr<Conn>> conns_;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_WAL_SENDER_H_
