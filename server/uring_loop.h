// UringLoop: the EventLoop backend on io_uring (liburing 2.3). One ring per
// shard thread, set up with SINGLE_ISSUER | DEFER_TASKRUN when the kernel
// allows. Listeners sit in a small epoll set that the ring polls (Acceptor,
// acceptor.h says why not multishot accept); connections use multishot recv
// into a ring of provided buffers; replies go out with one send per
// connection at a time, coalescing everything queued meanwhile; an eventfd
// read wakes the loop for cross-shard messages.
//
// Owns the ring, the provided-buffer memory, and every connection's socket
// and output buffers. All methods on the creating thread, except Wake().
#ifndef SEATLOCK_SERVER_URING_LOOP_H_
#define SEATLOCK_SERVER_URING_LOOP_H_

#include <liburing.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/acceptor.h"
#include "server/event_loop.h"

namespace seatlock {

class UringLoop final : public EventLoop {
 public:
  // Returns an error whose message starts with "io_uring unavailable" when
  // the kernel refuses io_uring, so the caller can fall back to epoll.
  static absl::StatusOr<std::unique_ptr<UringLoop>> Create();
  ~UringLoop() override;

  std::string_view name() const override { return "io_uring"; }
  absl::Status AddListener(int fd, int tag) override;
  void StopListening() override;
  void AddConnection(uint64_t conn, int fd) override;
  std::string* Output(uint64_t conn) override;
  size_t PendingOutput(uint64_t conn) const override;
  void SetReadEnabled(uint64_t conn, bool enabled) override;
  void Close(uint64_t conn) override;
  void Abort(uint64_t conn) override;
  size_t connection_count() const override { return conns_.size(); }
  void WriteAndSync(int fd, const char* data, size_t len, uint64_t offset, bool sync,
                    std::function<void(int)> done) override;
  void Run(LoopHandler* handler) override;
  void Stop() override { stop_ = true; }
  void Wake() override;

 private:
  struct Conn {
    int fd = -1;
    std::string out;      // queued, not yet submitted
    std::string sending;  // submitted to the kernel
    size_t send_off = 0;
    int ops = 0;  // SQEs in flight that name this connection
    bool recv_armed = false;
    bool want_read = true;
    bool send_in_flight = false;
    bool closing = false;
    bool broken = false;
    // Bytes that arrived after reading was paused (a multishot recv already
    // under way): handed over once reading is enabled again.
    std::string stashed;
  };

  UringLoop() = default;
  io_uring_sqe* GetSqe();
  void ArmRecv(uint64_t id, Conn& c);
  void ArmAcceptPoll();
  void AcceptReady();
  void ArmWake();
  void StartSend(uint64_t id, Conn& c);
  void MaybeFinish(uint64_t id);
  void HandleCqe(const io_uring_cqe* cqe);
  void RecycleBuffer(uint16_t bid);
  void DeliverStashed();
  void SubmitFileWrite(uint64_t id);

  struct FileWrite {
    int fd;
    const char* data;
    size_t len;
    size_t done_bytes;
    uint64_t offset;
    bool sync;
    int write_res;
    std::function<void(int)> done;
  };
  absl::flat_hash_map<uint64_t, FileWrite> file_writes_;
  uint64_t next_file_write_ = 1;

  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  char* buf_base_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  int evfd_ = -1;
  uint64_t evfd_value_ = 0;
  bool stop_ = false;
  LoopHandler* handler_ = nullptr;
  int listen_epfd_ = -1;  // the listeners' epoll set, polled by the ring
  std::unique_ptr<Acceptor> acceptor_;
  bool accept_poll_armed_ = false;
  absl::flat_hash_map<uint64_t, Conn> conns_;
  absl::flat_hash_set<uint64_t> dirty_;
  absl::flat_hash_set<uint64_t> unstash_;  // reading enabled again with bytes stashed
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_URING_LOOP_H_
