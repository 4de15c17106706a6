// ReplStream: one blocking TCP connection carrying replication frames
// (replication.proto): a 4-byte little-endian length, then a serialized
// repl::Frame of at most kMaxReplFrameBytes. Used by WalSender (primary) and
// WalReceiver (replica) on their own threads.
//
// Owns its socket. Send may be called from one thread while Recv runs on
// another; Shutdown from any thread (it unblocks both).
#ifndef SEATLOCK_SERVER_REPL_STREAM_H_
#define SEATLOCK_SERVER_REPL_STREAM_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/replication.pb.h"

namespace seatlock {

inline constexpr uint32_t kMaxReplFrameBytes = 64u << 20;

class ReplStream {
 public:
  explicit ReplStream(int fd) : fd_(fd) {}
  ~ReplStream();
  ReplStream(const ReplStream&) = delete;
  ReplStream& operator=(const ReplStream&) = delete;

  // Connects to "host:port" within `timeout_ms`.
  static absl::StatusOr<std::unique_ptr<ReplStream>> Connect(const std::string& address,
                                                             int64_t timeout_ms);

  absl::Status Send(const repl::Frame& frame);
  // Waits up to `timeout_ms` for a whole frame of at most `max_bytes`.
  // DeadlineExceeded if none began to arrive in time; Unavailable when the
  // peer closed; DataLoss for a frame too big or unparsable.
  absl::Status Recv(repl::Frame* frame, int64_t timeout_ms,
                    uint32_t max_bytes = kMaxReplFrameBytes);
  // Wakes a blocked Send or Recv; later calls fail.
  void Shutdown();
  std::string peer() const;

 private:
  absl::Status ReadFull(char* p, size_t n, int64_t timeout_ms);

  const int fd_;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_REPL_STREAM_H_
