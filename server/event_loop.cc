#include "server/event_loop.h"

#include "server/epoll_loop.h"
#include "server/log.h"
#include "server/uring_loop.h"

namespace seatlock {

absl::StatusOr<std::unique_ptr<EventLoop>> MakeEventLoop(IoBackend backend) {
  if (backend == IoBackend::kUring) {
    auto uring = UringLoop::Create();
    if (uring.ok()) return std::unique_ptr<EventLoop>(std::move(*uring));
    LogWarning(uring.status().message(), "; falling back to epoll");
  }
  auto epoll = EpollLoop::Create();
  if (!epoll.ok()) return epoll.status();
  return std::unique_ptr<EventLoop>(std::move(*epoll));
}

}  // namespace seatlock
