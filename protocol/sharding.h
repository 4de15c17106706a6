// ShardFor: the one function that maps (event, section) to its owning shard.
// The server and shard-aware clients both call it, with the seed and shard
// count the server announces in HELLO, so they always agree. Pure function.
#ifndef SEATLOCK_PROTOCOL_SHARDING_H_
#define SEATLOCK_PROTOCOL_SHARDING_H_

#include <cstdint>
#include <string_view>

namespace seatlock::protocol {

inline constexpr uint64_t kDefaultHashSeed = 0x5ea71ec45ea71ec4ULL;

// XXH3-64 of the event id, then of the section label seeded with that hash,
// modulo shard_count. shard_count must be >= 1.
uint32_t ShardFor(std::string_view event_id, std::string_view section, uint32_t shard_count,
                  uint64_t seed = kDefaultHashSeed);

// Hold and booking ids carry the issuing shard in their top 8 bits.
inline uint32_t ShardOfId(uint64_t id) { return static_cast<uint32_t>(id >> 56); }

}  // namespace seatlock::protocol

#endif  // SEATLOCK_PROTOCOL_SHARDING_H_
