// EpollLoop: the EventLoop backend on epoll(7), level-triggered, for hosts
// where io_uring is disabled. Owns its epoll fd, its eventfd and every
// connection's socket and output buffer. One thread; Wake() from any thread.
#ifndef SEATLOCK_SERVER_EPOLL_LOOP_H_
#define SEATLOCK_SERVER_EPOLL_LOOP_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/acceptor.h"
#include "server/event_loop.h"

namespace seatlock {

class EpollLoop final : public EventLoop {
 public:
  static absl::StatusOr<std::unique_ptr<EpollLoop>> Create();
  ~EpollLoop() override;

  std::string_view name() const override { return "epoll"; }
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
    std::string out;
    size_t out_off = 0;
    bool want_read = true;
    bool want_write = false;  // EPOLLOUT registered
    bool closing = false;
    bool broken = false;
  };
  EpollLoop(int epfd, int evfd, int iofd);
  void FileWorker();
  void RunFileCompletions();

  // File writes run on a helper thread (blocking pwrite + fdatasync), which
  // hands results back through iofd_. Guarded by file_mu_.
  struct FileJob {
    int fd;
    const char* data;
    size_t len;
    uint64_t offset;
    bool sync;
    int result;
    std::function<void(int)> done;
  };
  std::mutex file_mu_;
  std::condition_variable file_cv_;
  std::deque<FileJob> file_queue_;
  std::deque<FileJob> file_done_;
  bool file_stop_ = false;
  std::thread file_thread_;
  int iofd_;
  void UpdateInterest(uint64_t id, Conn& c);
  void FlushOne(uint64_t id, Conn& c);
  void Finish(uint64_t id);
  // EPOLLHUP/EPOLLERR on a connection that is not being read.
  void HangUp(uint64_t id, Conn& c, uint32_t events);

  int epfd_;
  int evfd_;
  bool stop_ = false;
  LoopHandler* handler_ = nullptr;
  Acceptor acceptor_;  // listeners share epfd_
  absl::flat_hash_map<uint64_t, Conn> conns_;
  absl::flat_hash_set<uint64_t> dirty_;  // have output to flush
  std::vector<char> rbuf_;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_EPOLL_LOOP_H_
