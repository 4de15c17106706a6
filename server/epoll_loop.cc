#include "server/epoll_loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/mono_clock.h"
#include "common/str_error.h"
#include "server/log.h"

namespace seatlock {
namespace {
// epoll data: listeners and the eventfd are tagged in the top bits; a
// connection's data is its id (ids stay below 2^62).
constexpr uint64_t kListenerBit = uint64_t{1} << 63;
constexpr uint64_t kWakeBit = uint64_t{1} << 62;
constexpr uint64_t kFileDoneBit = uint64_t{1} << 61;
constexpr size_t kReadChunk = size_t{64} * 1024;
}  // namespace

absl::StatusOr<std::unique_ptr<EpollLoop>> EpollLoop::Create() {
  const int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return absl::InternalError(absl::StrCat("epoll_create1: ", StrError(errno)));
  const int evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (evfd < 0) {
    close(epfd);
    return absl::InternalError(absl::StrCat("eventfd: ", StrError(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeBit;
  epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev);
  const int iofd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ev.data.u64 = kFileDoneBit;
  epoll_ctl(epfd, EPOLL_CTL_ADD, iofd, &ev);
  auto loop = std::unique_ptr<EpollLoop>(new EpollLoop(epfd, evfd, iofd));
  loop->rbuf_.resize(kReadChunk);
  return loop;
}

EpollLoop::EpollLoop(int epfd, int evfd, int iofd)
    : iofd_(iofd), epfd_(epfd), evfd_(evfd), acceptor_(epfd, kListenerBit) {}

EpollLoop::~EpollLoop() {
  if (file_thread_.joinable()) {
    {
      std::lock_guard<std::mutex> l(file_mu_);
      file_stop_ = true;
      file_queue_.clear();  // not started: never write after the loop is gone
    }
    file_cv_.notify_all();
    file_thread_.join();
  }
  close(iofd_);
  for (auto& [id, c] : conns_) close(c.fd);
  close(evfd_);
  close(epfd_);
}

absl::Status EpollLoop::AddListener(int fd, int tag) { return acceptor_.Add(fd, tag); }

void EpollLoop::StopListening() { acceptor_.StopAll(); }

void EpollLoop::AddConnection(uint64_t conn, int fd) {
  Conn& c = conns_[conn];
  c.fd = fd;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = conn;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
}

std::string* EpollLoop::Output(uint64_t conn) {
  auto it = conns_.find(conn);
  if (it == conns_.end() || it->second.broken) return nullptr;
  dirty_.insert(conn);
  return &it->second.out;
}

size_t EpollLoop::PendingOutput(uint64_t conn) const {
  auto it = conns_.find(conn);
  return it == conns_.end() ? 0 : it->second.out.size() - it->second.out_off;
}

void EpollLoop::UpdateInterest(uint64_t id, Conn& c) {
  epoll_event ev{};
  uint32_t events = 0;
  if (c.want_read && !c.closing) events |= EPOLLIN | EPOLLRDHUP;
  if (c.want_write) events |= EPOLLOUT;
  ev.events = events;
  ev.data.u64 = id;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void EpollLoop::SetReadEnabled(uint64_t conn, bool enabled) {
  auto it = conns_.find(conn);
  if (it == conns_.end() || it->second.want_read == enabled) return;
  it->second.want_read = enabled;
  UpdateInterest(conn, it->second);
}

void EpollLoop::Close(uint64_t conn) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  c.closing = true;
  if (c.broken || c.out.size() == c.out_off) {
    Finish(conn);
  } else {
    dirty_.insert(conn);
    UpdateInterest(conn, c);
  }
}

void EpollLoop::Abort(uint64_t conn) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  it->second.broken = true;
  Finish(conn);
}

void EpollLoop::HangUp(uint64_t id, Conn& c, uint32_t events) {
  int err = 0;
  if (events & EPOLLERR) {
    socklen_t len = sizeof(err);
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  }
  if (c.closing) {
    // Output can no longer be delivered.
    c.broken = true;
    Finish(id);
    return;
  }
  // Reading is paused (backpressure): tell the handler now; it closes.
  c.broken = true;
  c.out.clear();
  c.out_off = 0;
  epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
  handler_->OnPeerClosed(id, err);
}

void EpollLoop::Finish(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  close(it->second.fd);  // also removes it from the epoll set
  conns_.erase(it);
  dirty_.erase(id);
}

void EpollLoop::FlushOne(uint64_t id, Conn& c) {
  while (c.out_off < c.out.size()) {
    const ssize_t n =
        send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.out_off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c.want_write) {
        c.want_write = true;
        UpdateInterest(id, c);
      }
      return;
    }
    c.broken = true;
    c.out.clear();
    c.out_off = 0;
    if (c.closing) {
      Finish(id);
    } else {
      handler_->OnPeerClosed(id, n < 0 ? errno : EPIPE);
    }
    return;
  }
  c.out.clear();
  c.out_off = 0;
  if (c.want_write) {
    c.want_write = false;
    UpdateInterest(id, c);
  }
  if (c.closing) Finish(id);
}

void EpollLoop::WriteAndSync(int fd, const char* data, size_t len, uint64_t offset, bool sync,
                             std::function<void(int)> done) {
  if (!file_thread_.joinable()) file_thread_ = std::thread([this] { FileWorker(); });
  {
    std::lock_guard<std::mutex> l(file_mu_);
    file_queue_.push_back(FileJob{fd, data, len, offset, sync, 0, std::move(done)});
  }
  file_cv_.notify_one();
}

void EpollLoop::FileWorker() {
  for (;;) {
    FileJob job;
    {
      std::unique_lock<std::mutex> l(file_mu_);
      file_cv_.wait(l, [this] { return file_stop_ || !file_queue_.empty(); });
      if (file_queue_.empty()) return;
      job = std::move(file_queue_.front());
      file_queue_.pop_front();
    }
    size_t off = 0;
    job.result = 0;
    while (off < job.len) {
      const ssize_t n =
          pwrite(job.fd, job.data + off, job.len - off, static_cast<off_t>(job.offset + off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        job.result = n < 0 ? -errno : -EIO;
        break;
      }
      off += static_cast<size_t>(n);
    }
    if (job.result == 0 && job.sync && fdatasync(job.fd) < 0) job.result = -errno;
    {
      std::lock_guard<std::mutex> l(file_mu_);
      file_done_.push_back(std::move(job));
    }
    const uint64_t one = 1;
    ssize_t unused = write(iofd_, &one, sizeof(one));
    (void)unused;
  }
}

void EpollLoop::RunFileCompletions() {
  uint64_t v;
  ssize_t unused = read(iofd_, &v, sizeof(v));
  (void)unused;
  std::deque<FileJob> done;
  {
    std::lock_guard<std::mutex> l(file_mu_);
    done.swap(file_done_);
  }
  for (FileJob& job : done) job.done(job.result);
}

void EpollLoop::Wake() {
  const uint64_t one = 1;
  ssize_t unused = write(evfd_, &one, sizeof(one));
  (void)unused;
}

void EpollLoop::Run(LoopHandler* handler) {
  handler_ = handler;
  std::vector<epoll_event> events(256);
  std::vector<uint64_t> flush;
  while (!stop_) {
    const int64_t wait_ms = handler_->OnPass();
    if (stop_) break;
    flush.assign(dirty_.begin(), dirty_.end());
    dirty_.clear();
    for (uint64_t id : flush) {
      auto it = conns_.find(id);
      if (it != conns_.end()) FlushOne(id, it->second);
    }
    int64_t wait = wait_ms;
    if (const int64_t resume = acceptor_.ResumeDue(MonoMs()); resume >= 0) {
      wait = wait < 0 ? resume : std::min(wait, resume);
    }
    const int timeout = wait < 0 ? -1 : static_cast<int>(std::min<int64_t>(wait, 1000));
    const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()),
                             dirty_.empty() ? timeout : 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      LogError("epoll_wait: ", StrError(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t data = events[i].data.u64;
      if (data & kListenerBit) {
        acceptor_.Accept(
            static_cast<int>(data & 0xffffffffu),
            [this](int tag, int fd) { handler_->OnAccept(tag, fd); }, MonoMs());
        continue;
      }
      if (data & kFileDoneBit) {
        RunFileCompletions();
        continue;
      }
      if (data & kWakeBit) {
        uint64_t v;
        ssize_t unused = read(evfd_, &v, sizeof(v));
        (void)unused;
        handler_->OnWake();
        continue;
      }
      const uint64_t id = data;
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      if (events[i].events & EPOLLOUT) {
        FlushOne(id, it->second);
        it = conns_.find(id);
        if (it == conns_.end()) continue;
      }
      const uint32_t got = events[i].events;
      if (!(got & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) continue;
      Conn& c = it->second;
      if (c.closing || !c.want_read) {
        // EPOLLHUP and EPOLLERR are reported whatever the interest set, and
        // level-triggered: settle them now or every pass sees them again.
        if (got & (EPOLLHUP | EPOLLERR)) HangUp(id, c, got);
        continue;
      }
      const ssize_t r = recv(c.fd, rbuf_.data(), rbuf_.size(), MSG_DONTWAIT);
      if (r > 0) {
        handler_->OnData(id, rbuf_.data(), static_cast<size_t>(r));
      } else if (r == 0) {
        handler_->OnPeerClosed(id, 0);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        handler_->OnPeerClosed(id, errno);
      }
    }
  }
}

}  // namespace seatlock
