#include "server/acceptor.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "common/str_error.h"
#include "server/log.h"

namespace seatlock {
namespace {

constexpr int kAcceptBatch = 64;

bool OutOfResources(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

}  // namespace

absl::Status Acceptor::Add(int fd, int tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = data_bits_ | static_cast<uint32_t>(fd);
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
    return absl::InternalError(absl::StrCat("epoll_ctl(listener): ", StrError(errno)));
  }
  listeners_.push_back({fd, tag, 0});
  return absl::OkStatus();
}

void Acceptor::StopAll() {
  listening_ = false;
  for (const Listener& l : listeners_) {
    if (l.paused_until_ms == 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, l.fd, nullptr);
  }
  listeners_.clear();
}

Acceptor::Listener* Acceptor::Find(int fd) {
  for (Listener& l : listeners_) {
    if (l.fd == fd) return &l;
  }
  return nullptr;
}

void Acceptor::Accept(int fd, const std::function<void(int, int)>& on_accept, int64_t now_ms) {
  Listener* l = Find(fd);
  if (l == nullptr || l->paused_until_ms != 0) return;
  const int tag = l->tag;
  for (int k = 0; k < kAcceptBatch; ++k) {
    const int conn = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn >= 0) {
      on_accept(tag, conn);
      l = Find(fd);  // the handler may have stopped listening
      if (l == nullptr) return;
      continue;
    }
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED) return;
    ++failures_since_warning_;
    if (now_ms - last_warning_ms_ >= 1000) {
      LogWarning("accept: ", StrError(err),
                 OutOfResources(err) ? "; pausing accepts for 100 ms" : "", " (",
                 failures_since_warning_, " failures since the last warning)");
      last_warning_ms_ = now_ms;
      failures_since_warning_ = 0;
    }
    if (OutOfResources(err)) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
      l->paused_until_ms = now_ms + kAcceptPauseMs;
    }
    return;
  }
}

int64_t Acceptor::ResumeDue(int64_t now_ms) {
  int64_t next = -1;
  for (Listener& l : listeners_) {
    if (l.paused_until_ms == 0) continue;
    if (l.paused_until_ms <= now_ms) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = data_bits_ | static_cast<uint32_t>(l.fd);
      if (epoll_ctl(epfd_, EPOLL_CTL_ADD, l.fd, &ev) == 0) {
        l.paused_until_ms = 0;
        continue;
      }
      l.paused_until_ms = now_ms + kAcceptPauseMs;
    }
    const int64_t in = l.paused_until_ms - now_ms;
    if (next < 0 || in < next) next = in;
  }
  return next;
}

}  // namespace seatlock
