#include "protocol/sharding.h"

#include <xxhash.h>

namespace seatlock::protocol {

uint32_t ShardFor(std::string_view event_id, std::string_view section, uint32_t shard_count,
                  uint64_t seed) {
  if (shard_count <= 1) return 0;
  const uint64_t h1 = XXH3_64bits_withSeed(event_id.data(), event_id.size(), seed);
  const uint64_t h2 = XXH3_64bits_withSeed(section.data(), section.size(), h1);
  return static_cast<uint32_t>(h2 % shard_count);
}

}  // namespace seatlock::protocol
