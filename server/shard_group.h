// ShardGroup: what every shard of one server can see of the others. The
// server fills it before the shard threads start; afterwards only the
// atomics change, and the bus fabric's lanes (each with its own rules,
// shard_bus.h).
#ifndef SEATLOCK_SERVER_SHARD_GROUP_H_
#define SEATLOCK_SERVER_SHARD_GROUP_H_

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "server/memory_guard.h"
#include "server/shard_bus.h"

namespace seatlock {

class Shard;

struct ShardGroup {
  std::vector<Shard*> shards;
  std::unique_ptr<BusFabric> bus;  // lanes between every pair of shards
  std::vector<uint16_t> shard_ports;
  uint16_t main_port = 0;
  uint64_t hash_seed = 0;
  uint64_t feed_epoch = 0;  // random per start (HELLO, SUBSCRIBE): feed positions are per epoch
  int64_t start_ms = 0;
  std::shared_future<void> go;  // ready once every shard has its loop
  std::atomic<bool> stopping{false};
  std::atomic<int> busy_shards{0};       // shards still answering during shutdown
  std::atomic<uint32_t> connections{0};  // across all shards
  MemoryGuard memory;                    // --max_memory
  // Resharding at start (reshard.h): the old shard count (0: none), each
  // shard's "staged" report, and the main thread's "swapped" answer.
  uint32_t reshard_from = 0;
  std::vector<std::promise<absl::Status>> staged;
  std::shared_future<absl::Status> swapped;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_SHARD_GROUP_H_
