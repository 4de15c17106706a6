#include "server/uring_loop.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "common/mono_clock.h"
#include "common/str_error.h"
#include "server/log.h"

namespace seatlock {
namespace {

// user_data: the operation kind in the top byte, the connection id (or the
// listener index) below it.
enum Op : uint64_t {
  kAccept = 1,
  kRecv = 2,
  kSend = 3,
  kWake = 4,
  kCancel = 5,
  kFileWrite = 6,
  kFileSync = 7
};
constexpr int kOpShift = 56;
constexpr uint64_t kIdMask = (uint64_t{1} << kOpShift) - 1;
uint64_t Tag(Op op, uint64_t id) {
  return (static_cast<uint64_t>(op) << kOpShift) | (id & kIdMask);
}

constexpr unsigned kRingEntries = 1024;
constexpr uint16_t kBufGroup = 1;
constexpr unsigned kBufCount = 512;  // power of two
constexpr unsigned kBufSize = 16 * 1024;

}  // namespace

absl::StatusOr<std::unique_ptr<UringLoop>> UringLoop::Create() {
  auto loop = std::unique_ptr<UringLoop>(new UringLoop());
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc = io_uring_queue_init_params(kRingEntries, &loop->ring_, &params);
  if (rc == -EINVAL) {  // older kernel: no SINGLE_ISSUER / DEFER_TASKRUN
    params = {};
    rc = io_uring_queue_init_params(kRingEntries, &loop->ring_, &params);
  }
  if (rc < 0) {
    return absl::UnavailableError(
        absl::StrCat("io_uring unavailable: io_uring_queue_init: ", StrError(-rc)));
  }
  loop->ring_ready_ = true;

  // Provided-buffer ring for multishot recv: ring entries and buffers in one
  // page-aligned mapping (liburing 2.3 has no io_uring_setup_buf_ring).
  const size_t ring_bytes = kBufCount * sizeof(io_uring_buf);
  loop->buf_ring_bytes_ = ring_bytes + static_cast<size_t>(kBufCount) * kBufSize;
  void* mem = mmap(nullptr, loop->buf_ring_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return absl::InternalError(absl::StrCat("mmap: ", StrError(errno)));
  loop->buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  loop->buf_base_ = static_cast<char*>(mem) + ring_bytes;
  io_uring_buf_ring_init(loop->buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(mem);
  reg.ring_entries = kBufCount;
  reg.bgid = kBufGroup;
  rc = io_uring_register_buf_ring(&loop->ring_, &reg, 0);
  if (rc < 0) {
    return absl::UnavailableError(
        absl::StrCat("io_uring unavailable: register_buf_ring: ", StrError(-rc)));
  }
  for (unsigned i = 0; i < kBufCount; ++i) {
    io_uring_buf_ring_add(loop->buf_ring_, loop->buf_base_ + static_cast<size_t>(i) * kBufSize,
                          kBufSize, static_cast<uint16_t>(i), io_uring_buf_ring_mask(kBufCount),
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(loop->buf_ring_, kBufCount);

  loop->evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->evfd_ < 0) return absl::InternalError(absl::StrCat("eventfd: ", StrError(errno)));
  loop->listen_epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (loop->listen_epfd_ < 0) {
    return absl::InternalError(absl::StrCat("epoll_create1: ", StrError(errno)));
  }
  loop->acceptor_ = std::make_unique<Acceptor>(loop->listen_epfd_, 0);
  loop->ArmWake();
  return loop;
}

UringLoop::~UringLoop() {
  for (auto& [id, c] : conns_) close(c.fd);
  if (ring_ready_) io_uring_queue_exit(&ring_);
  if (buf_ring_ != nullptr) munmap(buf_ring_, buf_ring_bytes_);
  if (evfd_ >= 0) close(evfd_);
  if (listen_epfd_ >= 0) close(listen_epfd_);
}

io_uring_sqe* UringLoop::GetSqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void UringLoop::ArmWake() {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_read(sqe, evfd_, &evfd_value_, sizeof(evfd_value_), 0);
  io_uring_sqe_set_data64(sqe, Tag(kWake, 0));
}

void UringLoop::ArmAcceptPoll() {
  if (accept_poll_armed_ || !acceptor_->listening() || stop_) return;
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_poll_add(sqe, listen_epfd_, POLLIN);
  io_uring_sqe_set_data64(sqe, Tag(kAccept, 0));
  accept_poll_armed_ = true;
}

void UringLoop::AcceptReady() {
  epoll_event events[16];
  const int n = epoll_wait(listen_epfd_, events, 16, 0);
  const int64_t now = MonoMs();
  for (int i = 0; i < n; ++i) {
    acceptor_->Accept(
        static_cast<int>(events[i].data.u64 & 0xffffffffu),
        [this](int tag, int fd) { handler_->OnAccept(tag, fd); }, now);
  }
}

absl::Status UringLoop::AddListener(int fd, int tag) {
  absl::Status st = acceptor_->Add(fd, tag);
  if (st.ok()) ArmAcceptPoll();
  return st;
}

void UringLoop::StopListening() {
  acceptor_->StopAll();
  if (accept_poll_armed_) {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, Tag(kAccept, 0), 0);
    io_uring_sqe_set_data64(sqe, Tag(kCancel, 0));
  }
}

void UringLoop::ArmRecv(uint64_t id, Conn& c) {
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufGroup;
  io_uring_sqe_set_data64(sqe, Tag(kRecv, id));
  c.recv_armed = true;
  c.ops++;
}

void UringLoop::AddConnection(uint64_t conn, int fd) {
  Conn& c = conns_[conn];
  c.fd = fd;
  ArmRecv(conn, c);
}

std::string* UringLoop::Output(uint64_t conn) {
  auto it = conns_.find(conn);
  if (it == conns_.end() || it->second.broken) return nullptr;
  dirty_.insert(conn);
  return &it->second.out;
}

size_t UringLoop::PendingOutput(uint64_t conn) const {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return 0;
  return it->second.out.size() + it->second.sending.size() - it->second.send_off;
}

void UringLoop::SetReadEnabled(uint64_t conn, bool enabled) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (c.want_read == enabled || c.closing) return;
  c.want_read = enabled;
  if (enabled && !c.stashed.empty()) unstash_.insert(conn);
  if (enabled && !c.recv_armed) {
    ArmRecv(conn, c);
  } else if (!enabled && c.recv_armed) {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, Tag(kRecv, conn), 0);
    io_uring_sqe_set_data64(sqe, Tag(kCancel, conn));
  }
}

void UringLoop::Close(uint64_t conn) {
  auto it = conns_.find(conn);
  if (it == conns_.end() || it->second.closing) return;
  Conn& c = it->second;
  c.closing = true;
  c.want_read = false;
  if (c.recv_armed) {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, Tag(kRecv, conn), 0);
    io_uring_sqe_set_data64(sqe, Tag(kCancel, conn));
  }
  dirty_.insert(conn);
  MaybeFinish(conn);
}

void UringLoop::Abort(uint64_t conn) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  // Drop the output and make a send blocked on the peer fail now, so the
  // socket closes once the ring has returned every request on it.
  c.broken = true;
  c.out.clear();
  shutdown(c.fd, SHUT_RDWR);
  Close(conn);
}

void UringLoop::MaybeFinish(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (!c.closing || c.ops > 0 || c.send_in_flight) return;
  if (!c.broken && !c.out.empty()) return;  // still has output to send
  close(c.fd);
  conns_.erase(it);
  dirty_.erase(id);
}

void UringLoop::StartSend(uint64_t id, Conn& c) {
  if (c.send_in_flight || c.broken) return;
  if (c.sending.size() == c.send_off) {
    if (c.out.empty()) return;
    c.sending.swap(c.out);
    c.out.clear();
    c.send_off = 0;
  }
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_send(sqe, c.fd, c.sending.data() + c.send_off, c.sending.size() - c.send_off,
                     MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, Tag(kSend, id));
  c.send_in_flight = true;
  c.ops++;
}

void UringLoop::WriteAndSync(int fd, const char* data, size_t len, uint64_t offset, bool sync,
                             std::function<void(int)> done) {
  const uint64_t id = next_file_write_++;
  file_writes_.emplace(id, FileWrite{fd, data, len, 0, offset, sync, 0, std::move(done)});
  SubmitFileWrite(id);
}

void UringLoop::SubmitFileWrite(uint64_t id) {
  FileWrite& w = file_writes_.at(id);
  // The write and its fdatasync must reach the kernel in one submission:
  // if GetSqe had to submit between them, the link would be cut and the sync
  // could run before the write, acknowledging data that is not on disk.
  if (w.sync && io_uring_sq_space_left(&ring_) < 2) io_uring_submit(&ring_);
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_write(sqe, w.fd, w.data + w.done_bytes, static_cast<unsigned>(w.len - w.done_bytes),
                      w.offset + w.done_bytes);
  io_uring_sqe_set_data64(sqe, Tag(kFileWrite, id));
  if (w.sync) {
    sqe->flags |= IOSQE_IO_LINK;  // the fdatasync runs only after the write
    io_uring_sqe* fsq = GetSqe();
    io_uring_prep_fsync(fsq, w.fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(fsq, Tag(kFileSync, id));
  }
}

void UringLoop::RecycleBuffer(uint16_t bid) {
  io_uring_buf_ring_add(buf_ring_, buf_base_ + static_cast<size_t>(bid) * kBufSize, kBufSize, bid,
                        io_uring_buf_ring_mask(kBufCount), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

void UringLoop::Wake() {
  const uint64_t one = 1;
  ssize_t unused = write(evfd_, &one, sizeof(one));
  (void)unused;
}

void UringLoop::HandleCqe(const io_uring_cqe* cqe) {
  const uint64_t data = io_uring_cqe_get_data64(cqe);
  const Op op = static_cast<Op>(data >> kOpShift);
  const uint64_t id = data & kIdMask;
  const int res = cqe->res;
  const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  switch (op) {
    case kWake:
      handler_->OnWake();
      if (!stop_) ArmWake();
      return;
    case kCancel:
      return;
    case kFileWrite:
    case kFileSync: {
      auto it = file_writes_.find(id);
      if (it == file_writes_.end()) return;
      FileWrite& w = it->second;
      if (op == kFileWrite) {
        w.write_res = res;
        if (res > 0) w.done_bytes += static_cast<size_t>(res);
        if (w.sync) return;  // the linked fsync's completion decides
      }
      int result = res;
      if (w.write_res < 0) {
        result = w.write_res;
      } else if (w.write_res == 0 && w.len > 0) {
        result = -EIO;
      } else if (w.done_bytes < w.len) {
        SubmitFileWrite(id);  // short write: the rest, then sync again
        return;
      }
      if (op == kFileWrite && result > 0) result = 0;  // an unsynced write: bytes, not an error
      auto done = std::move(w.done);
      file_writes_.erase(it);
      done(result < 0 ? result : 0);
      return;
    }
    case kAccept:
      // The listeners' epoll set is readable (or the poll was cancelled).
      accept_poll_armed_ = false;
      if (res >= 0 && acceptor_->listening()) AcceptReady();
      ArmAcceptPoll();  // one-shot, so a listener still readable fires again
      return;
    case kRecv: {
      const bool has_buf = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
      const uint16_t bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      auto it = conns_.find(id);
      if (it == conns_.end()) {
        if (has_buf) RecycleBuffer(bid);
        return;
      }
      if (res > 0 && has_buf) {
        const char* bytes = buf_base_ + static_cast<size_t>(bid) * kBufSize;
        if (it->second.closing) {
          // dropped: no more OnData after Close
        } else if (it->second.want_read && it->second.stashed.empty()) {
          handler_->OnData(id, bytes, static_cast<size_t>(res));
        } else {
          it->second.stashed.append(bytes, static_cast<size_t>(res));
        }
        RecycleBuffer(bid);
      } else if (has_buf) {
        RecycleBuffer(bid);
      }
      it = conns_.find(id);  // the handler may have closed it
      if (it == conns_.end()) return;
      Conn& c = it->second;
      if (res == 0 || (res < 0 && res != -ENOBUFS && res != -ECANCELED)) {
        c.recv_armed = false;
        c.ops--;
        if (!c.closing) handler_->OnPeerClosed(id, res == 0 ? 0 : -res);
        MaybeFinish(id);
        return;
      }
      if (!more) {
        c.recv_armed = false;
        c.ops--;
        if (c.want_read && !c.closing && !stop_) ArmRecv(id, c);  // ENOBUFS or ended
        MaybeFinish(id);
      }
      return;
    }
    case kSend: {
      auto it = conns_.find(id);
      if (it == conns_.end()) return;
      Conn& c = it->second;
      c.ops--;
      c.send_in_flight = false;
      if (res < 0) {
        c.broken = true;
        c.out.clear();
        c.sending.clear();
        c.send_off = 0;
        if (!c.closing) handler_->OnPeerClosed(id, -res);
        MaybeFinish(id);
        return;
      }
      c.send_off += static_cast<size_t>(res);
      if (c.send_off == c.sending.size()) {
        c.sending.clear();
        c.send_off = 0;
      }
      StartSend(id, c);
      MaybeFinish(id);
      return;
    }
  }
}

void UringLoop::DeliverStashed() {
  if (unstash_.empty()) return;
  std::vector<uint64_t> ids(unstash_.begin(), unstash_.end());
  unstash_.clear();
  for (uint64_t id : ids) {
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second.closing || !it->second.want_read) continue;
    std::string bytes = std::move(it->second.stashed);
    it->second.stashed.clear();
    handler_->OnData(id, bytes.data(), bytes.size());
  }
}

void UringLoop::Run(LoopHandler* handler) {
  handler_ = handler;
  std::vector<uint64_t> flush;
  while (!stop_) {
    DeliverStashed();
    const int64_t wait_ms = handler_->OnPass();
    if (stop_) break;
    flush.assign(dirty_.begin(), dirty_.end());
    dirty_.clear();
    for (uint64_t id : flush) {
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      StartSend(id, it->second);
      MaybeFinish(id);
    }
    int64_t wait = unstash_.empty() ? wait_ms : 0;  // reading resumed with bytes stashed
    if (const int64_t resume = acceptor_->ResumeDue(MonoMs()); resume >= 0) {
      wait = wait < 0 ? resume : std::min(wait, resume);
      ArmAcceptPoll();
    }
    io_uring_cqe* cqe = nullptr;
    int rc;
    if (wait < 0) {
      rc = io_uring_submit_and_wait(&ring_, 1);
    } else {
      __kernel_timespec ts{};
      ts.tv_sec = wait / 1000;
      ts.tv_nsec = (wait % 1000) * 1000000;
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      LogError("io_uring_submit_and_wait: ", StrError(-rc));
      break;
    }
    unsigned head;
    unsigned count = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      HandleCqe(cqe);
      ++count;
    }
    io_uring_cq_advance(&ring_, count);
  }
}

}  // namespace seatlock
