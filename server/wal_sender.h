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
// A peer on the replication port is not trusted: streams are capped
// (Options::max_streams), a node id must be accepted (ClusterNode accepts
// the group's members in etcd), the frames it may send (Hello, Ack) are at
// most kMaxPeerFrameBytes, an ack above what was sent cuts the stream, and a
// second stream of one node and shard replaces the first. The snapshot is
// read and sent a chunk at a time.
//
// Ownership: owns its listening socket and, per connection, a stream and
// two threads (one sends, one reads acks). Start/Stop from one thread
// (the cluster thread); everything else runs on its own threads.
#ifndef SEATLOCK_SERVER_WAL_SENDER_H_
#define SEATLOCK_SERVER_WAL_SENDER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "server/repl_stream.h"
#include "server/replication_hub.h"

namespace seatlock {

// The largest frame a replica may send the primary (Hello, Ack).
inline constexpr uint32_t kMaxPeerFrameBytes = 4096;

class WalSender {
 public:
  struct Options {
    std::string data_dir;  // holds shard-<i>/ of a primary with `shards` shards
    uint32_t shards = 1;
    uint64_t hash_seed = 0;
    // Streams open at once, the Hello wait included (a replica needs one per
    // shard). A connection past this gets an error frame and is closed.
    uint32_t max_streams = 64;
    // Whether a Hello's node id may stream (unset: any).
    std::function<bool(const std::string&)> accept_node;
  };

  WalSender(Options options, ReplicationHub* hub);
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
    std::atomic<uint64_t> sent_lsn{0};  // the replica may ack up to here
    std::string node;                   // set once its Hello is accepted (under mu_)
    uint32_t shard = 0;
    // Its number in the hub (OpenStream), 0 before the copy starts. Set by
    // the sender thread before the acker thread starts.
    uint64_t hub_stream = 0;
  };
  void AcceptLoop();
  void Serve(Conn* conn);
  // Why `hello` may not stream ("" if it may).
  std::string Refusal(const repl::Hello& hello) const;
  // Sends everything of `shard` from the start; returns why it stopped.
  absl::Status Stream(Conn* conn, const repl::Hello& hello);
  // Joins and drops finished streams; returns how many are live (under mu_).
  size_t ReapLocked();

  const Options options_;
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
