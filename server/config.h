// ServerConfig: everything seatlockd is started with, filled from flags in
// main.cc. A value type; each shard gets a const reference for its lifetime.
#ifndef SEATLOCK_SERVER_CONFIG_H_
#define SEATLOCK_SERVER_CONFIG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/limits.h"
#include "engine/seat_engine.h"
#include "server/event_loop.h"

namespace seatlock {
class ReplicationHub;
}

namespace seatlock {

inline constexpr char kServerVersion[] = "0.1.0";

struct ServerConfig {
  std::string bind = "127.0.0.1";
  uint16_t port = 7400;  // 0: pick ephemeral ports (tests)
  uint32_t shards = 1;
  bool pin = false;  // pin shard i to CPU i % ncpu
  std::string data_dir = "./data";
  std::string auth_token;  // empty: no AUTH required
  IoBackend io = IoBackend::kUring;
  uint32_t max_connections = 10'000;  // per server
  uint32_t max_in_flight = 1024;      // per connection
  int64_t idle_timeout_ms = 300'000;  // 0: never
  uint32_t max_frame_bytes = 1u << 20;
  uint32_t shard_queue_depth = 4096;  // messages in one shard-to-shard lane (shard_bus.h)
  // Connection budgets (connection_table.h, docs/protocol.md §8).
  uint64_t max_output_bytes = 8ull << 20;  // queued replies per connection before reading stops
  uint64_t max_reply_bytes = 2ull << 20;   // one reply larger than this is refused
  int64_t output_stall_ms = 10'000;        // over budget and draining nothing this long: close
  int64_t auth_timeout_ms = 10'000;        // with --auth_token_file: AUTH within this
  uint32_t frames_per_turn = 64;           // frames one connection may run per loop pass
  bool hold_fast_path = true;              // HOLD by index without protobuf messages (hold_codec.h)
  int64_t bind_retry_ms = 5'000;           // retry a port in use this long at start
  uint64_t max_memory = 0;                 // memory guard (memory_guard.h); 0: off
  uint64_t hash_seed = 0;                  // 0: protocol::kDefaultHashSeed
  std::string port_file;                   // write the bound ports here (JSON)
  uint64_t feed_ring = 100'000;            // change records kept per shard for resuming
  int metrics_port = -1;                   // serve /metrics here (-1: off, 0: ephemeral)
  bool fsync = true;                       // false: --fsync=none (benchmarks only)
  uint64_t wal_segment_bytes = 64ull << 20;
  bool wal_repair = false;                 // cut the log at mid-log corruption
  uint64_t snapshot_bytes = 256ull << 20;  // snapshot after this much log; 0: never
  EngineLimits limits;
  // Replica groups (docs/cluster.md); nullptr: standalone. Not owned.
  ReplicationHub* replication = nullptr;
  std::string node_id;  // --node-id, for HELLO
  // A primary of a replica group: the epoch it serves (>0), which recovery
  // writes to each shard's log as an EPOCH record. 0: standalone.
  int64_t epoch = 0;
  int64_t sync_timeout_ms = 5'000;  // strict mode: a durable reply waits this long for the replica
  // A replica's server: serves HELLO, PING and STATS, and GET_SEATS,
  // GET_AVAILABILITY and LIST_EVENTS from the copy it applies (when
  // `replication` is set: ReplicaApplier), answers everything else
  // NOT_PRIMARY, and never writes --data-dir (the replication threads do).
  bool standby = false;
  // A promoted replica: the live holds its standby shards had (by shard),
  // which the new primary's shards take over after recovery, before they
  // serve (docs/cluster.md, "Holds reach the replicas"). Null: none.
  std::shared_ptr<const std::vector<std::vector<HoldImage>>> adopt_holds;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_CONFIG_H_
