// Acceptor: takes new connections off listening sockets for an event loop.
// The listeners sit in an epoll set; when one is readable, Accept() takes
// up to a batch of connections with accept4 and hands each to the handler.
//
// When accept4 fails for lack of resources (EMFILE, ENFILE, ENOBUFS,
// ENOMEM) the listener is taken out of the epoll set for a pause
// (kAcceptPauseMs), so a level-triggered listener does not spin the loop,
// and the warning is logged at most once per second with a count.
//
// The io_uring backend keeps its listeners here too, in an epoll set of
// their own that the ring polls, instead of in multishot accepts: a ring's
// pending requests hold references to their files, and after a kill -9 the
// kernel tears the ring down asynchronously, so a listener inside a request
// stayed bound for 20-80 ms and a quick restart failed with EADDRINUSE. An
// epoll set holds no reference: the sockets close when the process dies.
//
// Does not own the epoll fd or the listening fds. Loop thread only.
#ifndef SEATLOCK_SERVER_ACCEPTOR_H_
#define SEATLOCK_SERVER_ACCEPTOR_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"

namespace seatlock {

inline constexpr int64_t kAcceptPauseMs = 100;

class Acceptor {
 public:
  // `epfd`: the epoll set the listeners join; each listener's epoll data is
  // `data_bits | fd`.
  Acceptor(int epfd, uint64_t data_bits) : epfd_(epfd), data_bits_(data_bits) {}

  absl::Status Add(int fd, int tag);
  // Takes every listener out of the set (shutdown).
  void StopAll();
  bool listening() const { return listening_; }

  // Listener `fd` is readable: accepts up to a batch, calling
  // on_accept(tag, new_fd) for each. `now_ms` is the loop's monotonic time.
  void Accept(int fd, const std::function<void(int tag, int fd)>& on_accept, int64_t now_ms);
  // Puts paused listeners back whose pause is over. Returns the ms until the
  // next one is due, or -1 if none is paused.
  int64_t ResumeDue(int64_t now_ms);

 private:
  struct Listener {
    int fd;
    int tag;
    int64_t paused_until_ms;  // 0: in the epoll set
  };
  Listener* Find(int fd);

  const int epfd_;
  const uint64_t data_bits_;
  bool listening_ = true;
  std::vector<Listener> listeners_;
  int64_t last_warning_ms_ = -1'000'000;
  uint64_t failures_since_warning_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_ACCEPTOR_H_
