// WalReceiver: a replica's copy of one shard (docs/cluster.md, "The
// stream"). On its own thread it connects to the primary's replication
// port, says which shard and epoch it wants, writes the snapshot the
// primary sends (if any) and then every WAL record, byte for byte and with
// the same LSNs, into its own <data-dir>/shard-<i>/, fdatasyncs each batch
// and acknowledges the highest LSN on its disk. It applies nothing itself:
// it publishes that LSN to the hub, and the standby shard's ReplicaApplier
// reads the files back to serve reads; when this node is promoted, its
// server starts from these files with the ordinary recovery code.
//
// For a fresh copy the shard directory must be empty (ClusterNode moves the
// old copy aside: a copy from another epoch is never kept, so a replica
// never keeps a record the new primary does not have). With `resume`, it
// continues a copy of the same epoch after a lost connection.
//
// Ownership: owns its thread, stream and WalDir. Start/Stop from the
// cluster thread; the getters from any thread.
#ifndef SEATLOCK_SERVER_WAL_RECEIVER_H_
#define SEATLOCK_SERVER_WAL_RECEIVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "server/repl_stream.h"
#include "server/replication_hub.h"

namespace seatlock {

class WalReceiver {
 public:
  struct Options {
    std::string node_id;  // this replica's --node-id
    uint32_t shard = 0;
    uint32_t shards = 1;
    uint64_t hash_seed = 0;
    int64_t epoch = 0;    // the epoch etcd names; the primary must have it
    std::string primary;  // the primary's replication address, host:port
    std::string dir;      // <data-dir>/shard-<i>, empty or missing
    uint64_t segment_bytes = 64ull << 20;
    bool fsync = true;
    int64_t silence_ms = 3'000;  // no frame this long (heartbeats are 200 ms): give up
    // Continue a copy from this same epoch that a lost connection cut: keep
    // the files, cut a torn tail, ask for the records after the last one.
    bool resume = false;
    // Where to publish the fsynced LSN for the standby shard's applier
    // (ReplicationHub::SetCopyDurable); nullptr: nowhere.
    ReplicationHub* hub = nullptr;
  };

  explicit WalReceiver(Options options);
  ~WalReceiver();

  void Start();
  // Closes the stream and joins the thread. What is on disk stays.
  void Stop();

  // Whether the stream ended (and why); a live one is ok.
  bool ended() const { return ended_.load(); }
  absl::Status status() const;
  // The primary cannot resume this copy (it dropped those records): the
  // next one must start from scratch.
  bool needs_fresh_copy() const { return needs_fresh_copy_.load(); }
  // Has fsynced everything the primary had durable when the copy began.
  bool caught_up() const { return caught_up_.load(); }
  uint64_t durable_lsn() const { return durable_.load(); }
  uint64_t primary_durable_lsn() const { return primary_durable_.load(); }

 private:
  void Run();
  absl::Status Copy();

  const Options options_;
  std::thread thread_;
  std::unique_ptr<ReplStream> stream_;
  mutable std::mutex mu_;  // guards stream_ (Stop vs Run) and status_
  absl::Status status_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> ended_{false};
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> needs_fresh_copy_{false};
  std::atomic<uint64_t> durable_{0};
  std::atomic<uint64_t> primary_durable_{0};
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_WAL_RECEIVER_H_
