#include "server/repl_stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/mono_clock.h"
#include "common/str_error.h"

namespace seatlock {

ReplStream::~ReplStream() { ::close(fd_); }

absl::StatusOr<std::unique_ptr<ReplStream>> ReplStream::Connect(const std::string& address,
                                                                int64_t timeout_ms) {
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port == 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad replication address '", address, "'"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0) {
    return absl::UnavailableError(absl::StrCat("resolve ", host, ": ", gai_strerror(rc)));
  }
  const int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return absl::InternalError(absl::StrCat("socket: ", StrError(errno)));
  }
  int rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc < 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    rc = poll(&p, 1, static_cast<int>(timeout_ms));
    int err = 0;
    socklen_t len = sizeof(err);
    if (rc == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (rc != 1 || err != 0) {
      ::close(fd);
      return absl::UnavailableError(absl::StrCat(
          "connect ", address, ": ", rc == 0 ? "timed out" : StrError(err ? err : errno)));
    }
  } else if (rc < 0) {
    const int err = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("connect ", address, ": ", StrError(err)));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::make_unique<ReplStream>(fd);
}

absl::Status ReplStream::Send(const repl::Frame& frame) {
  const size_t size = frame.ByteSizeLong();
  if (size > kMaxReplFrameBytes) {
    return absl::InternalError(absl::StrCat("replication frame of ", size, " bytes"));
  }
  std::string buf(4 + size, '\0');
  const uint32_t n = static_cast<uint32_t>(size);
  for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  frame.SerializeToArray(buf.data() + 4, static_cast<int>(size));
  size_t off = 0;
  while (off < buf.size()) {
    const ssize_t w = ::send(fd_, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, 10'000) == 1 && !(p.revents & (POLLERR | POLLHUP | POLLNVAL))) continue;
      return absl::UnavailableError("replication peer stopped reading for 10 s");
    }
    return absl::UnavailableError(absl::StrCat("send: ", StrError(errno)));
  }
  return absl::OkStatus();
}

absl::Status ReplStream::ReadFull(char* p, size_t n, int64_t timeout_ms) {
  const int64_t deadline = MonoMs() + timeout_ms;
  size_t off = 0;
  while (off < n) {
    const ssize_t r = ::recv(fd_, p + off, n - off, 0);
    if (r > 0) {
      off += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) return absl::UnavailableError("replication peer closed the connection");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return absl::UnavailableError(absl::StrCat("recv: ", StrError(errno)));
    }
    const int64_t left = deadline - MonoMs();
    if (left <= 0) {
      return off == 0 ? absl::DeadlineExceededError("no replication frame")
                      : absl::UnavailableError("replication frame cut short");
    }
    pollfd pf{fd_, POLLIN, 0};
    poll(&pf, 1, static_cast<int>(std::min<int64_t>(left, 100)));
  }
  return absl::OkStatus();
}

absl::Status ReplStream::Recv(repl::Frame* frame, int64_t timeout_ms, uint32_t max_bytes) {
  char len[4];
  if (absl::Status st = ReadFull(len, 4, timeout_ms); !st.ok()) return st;
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<uint32_t>(static_cast<uint8_t>(len[i])) << (8 * i);
  if (n > max_bytes) {
    return absl::DataLossError(
        absl::StrCat("replication frame of ", n, " bytes (limit ", max_bytes, ")"));
  }
  std::string buf(n, '\0');
  // A frame that began must finish within 30 s, whatever the caller's wait.
  if (absl::Status st = ReadFull(buf.data(), n, 30'000); !st.ok()) {
    return st.code() == absl::StatusCode::kDeadlineExceeded
               ? absl::UnavailableError("replication frame cut short")
               : st;
  }
  if (!frame->ParseFromString(buf)) return absl::DataLossError("unparsable replication frame");
  return absl::OkStatus();
}

void ReplStream::Shutdown() { ::shutdown(fd_, SHUT_RDWR); }

std::string ReplStream::peer() const {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (a.ss_family == AF_INET6) {
    auto* s = reinterpret_cast<sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
    port = ntohs(s->sin6_port);
  } else {
    auto* s = reinterpret_cast<sockaddr_in*>(&a);
    inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
    port = ntohs(s->sin_port);
  }
  return absl::StrCat(host, ":", port);
}

}  // namespace seatlock
