#include "server/listen_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/mono_clock.h"
#include "common/str_error.h"
#include "server/log.h"

namespace seatlock {

absl::StatusOr<int> Listen(const std::string& bind, uint16_t port, bool reuse_port,
                           int64_t retry_ms) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, bind.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, bind.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(*v6);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--bind: '", bind, "' is not an IPv4 or IPv6 address"));
  }
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", StrError(errno)));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  const int64_t give_up = MonoMs() + retry_ms;
  int64_t backoff_ms = 10;
  while (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0) {
    const int err = errno;
    if (err == EADDRINUSE && port != 0 && MonoMs() + backoff_ms <= give_up) {
      LogWarning("cannot bind ", bind, ":", port, ": ", StrError(err), "; retrying in ", backoff_ms,
                 " ms");
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 500);
      continue;
    }
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot bind ", bind, ":", port, ": ", StrError(err),
                     err == EADDRINUSE ? " (is another seatlockd running?)" : ""));
  }
  if (listen(fd, 4096) < 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("listen: ", StrError(err)));
  }
  return fd;
}

uint16_t BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

}  // namespace seatlock
