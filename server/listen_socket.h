// Listening sockets: Listen binds and listens on one TCP address, retrying
// a port still held by an exiting process; BoundPort reads back the port.
// Used by Server (client, shard and metrics ports) and WalSender
// (replication port). Plain functions, any thread.
#ifndef SEATLOCK_SERVER_LISTEN_SOCKET_H_
#define SEATLOCK_SERVER_LISTEN_SOCKET_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace seatlock {

// A non-blocking listening socket on `bind`:`port` (0: ephemeral).
// EADDRINUSE is retried with backoff, 10 ms doubling to 500 ms, for up to
// `retry_ms`, and each retry is logged.
absl::StatusOr<int> Listen(const std::string& bind, uint16_t port, bool reuse_port,
                           int64_t retry_ms);
uint16_t BoundPort(int fd);

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_LISTEN_SOCKET_H_
