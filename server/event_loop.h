// EventLoop: the I/O interface a shard thread runs on, with two backends
// behind it: io_uring (multishot accept, multishot recv with a provided-buffer
// ring, send, eventfd reads; see uring_loop.h) and epoll (epoll_loop.h) for
// hosts where io_uring is disabled.
//
// The loop owns the file descriptors and output buffers of its connections;
// the LoopHandler (the shard) owns everything protocol-level. Connections are
// named by 64-bit ids the handler chooses and never reuses.
//
// Threads: a loop is created, run and destroyed on one thread; every method
// except Wake() must be called on that thread. Wake() may be called from any
// thread.
#ifndef SEATLOCK_SERVER_EVENT_LOOP_H_
#define SEATLOCK_SERVER_EVENT_LOOP_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace seatlock {

class LoopHandler {
 public:
  virtual ~LoopHandler() = default;
  // A listener accepted `fd`. The handler calls AddConnection or closes it.
  virtual void OnAccept(int listener_tag, int fd) = 0;
  // Bytes arrived; `data` is valid only during the call.
  virtual void OnData(uint64_t conn, const char* data, size_t n) = 0;
  // The peer closed (error == 0) or the connection failed (errno value).
  // The handler should call Close(conn).
  virtual void OnPeerClosed(uint64_t conn, int error) = 0;
  // Wake() was called since the last OnWake.
  virtual void OnWake() = 0;
  // Once per loop pass, after completions were handled and before pending
  // output is sent and the loop waits. Returns the longest the loop may wait
  // for I/O in milliseconds (-1: until I/O or Wake()).
  virtual int64_t OnPass() = 0;
};

enum class IoBackend { kUring, kEpoll };

class EventLoop {
 public:
  virtual ~EventLoop() = default;
  virtual std::string_view name() const = 0;

  // Starts accepting on a listening socket; the loop does not own `fd`.
  virtual absl::Status AddListener(int fd, int tag) = 0;
  // Stops accepting on every listener (used at shutdown).
  virtual void StopListening() = 0;
  // Takes ownership of a connected socket and starts reading it.
  virtual void AddConnection(uint64_t conn, int fd) = 0;
  // The connection's output buffer: append bytes, they are sent after the
  // current pass. nullptr if the connection is gone.
  virtual std::string* Output(uint64_t conn) = 0;
  // Bytes queued or being sent on the connection.
  virtual size_t PendingOutput(uint64_t conn) const = 0;
  // Pauses or resumes reading (backpressure).
  virtual void SetReadEnabled(uint64_t conn, bool enabled) = 0;
  // Sends what is queued, then closes. No more OnData for this connection.
  virtual void Close(uint64_t conn) = 0;
  // Closes at once, dropping what is queued: for a peer that does not read
  // (its output would never drain). No more OnData for this connection.
  virtual void Abort(uint64_t conn) = 0;
  virtual size_t connection_count() const = 0;

  // Writes [data, data+len) at `offset` of the regular file `fd`, then, if
  // `sync`, fdatasync(fd); calls done(0) or done(-errno) on the loop thread.
  // `data` must stay valid until done runs. The io_uring backend submits the
  // write and the fdatasync as one linked pair on the ring; the epoll backend
  // runs them on a helper thread. At most one call per fd in flight.
  virtual void WriteAndSync(int fd, const char* data, size_t len, uint64_t offset, bool sync,
                            std::function<void(int)> done) = 0;

  // Runs passes until Stop(). Returns when stopped.
  virtual void Run(LoopHandler* handler) = 0;
  virtual void Stop() = 0;
  // Thread-safe: makes the loop call OnWake soon.
  virtual void Wake() = 0;
};

// Creates a loop of the asked kind on the calling thread. For kUring, if the
// kernel refuses io_uring (EPERM, ENOSYS: container policy or
// kernel.io_uring_disabled) this logs why and returns an epoll loop instead.
absl::StatusOr<std::unique_ptr<EventLoop>> MakeEventLoop(IoBackend backend);

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_EVENT_LOOP_H_
