// Blocking loopback socket helpers shared by the load generators (seatbench,
// room_bench). A failure prints "<tool>: <what went wrong>" and exits 2: a
// benchmark that cannot reach its server has nothing to measure. Stateless;
// any thread.
#ifndef SEATLOCK_BENCH_BENCH_NET_H_
#define SEATLOCK_BENCH_BENCH_NET_H_

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace seatlock::bench {

[[noreturn]] inline void Die(std::string_view tool, const std::string& msg) {
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(tool.size()), tool.data(), msg.c_str());
  std::exit(2);
}

// A TCP connection with TCP_NODELAY to host:port (an IPv4 address), or -1
// (errno says why; EINVAL: not an IPv4 address).
inline int TryDial(const std::string& host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    errno = EINVAL;
    return -1;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// TryDial, or exit with the reason.
inline int Dial(std::string_view tool, const std::string& host, int port) {
  const int fd = TryDial(host, port);
  if (fd < 0 && errno == EINVAL) Die(tool, "--host must be an IPv4 address");
  if (fd < 0) {
    Die(tool, "cannot connect to " + host + ":" + std::to_string(port) + ": " + strerror(errno));
  }
  return fd;
}

// Writes all of `s` to socket `fd`; false if the peer is gone (no SIGPIPE).
inline bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// SendAll, or exit with the reason.
inline void WriteAll(std::string_view tool, int fd, const std::string& s) {
  if (!SendAll(fd, s)) Die(tool, std::string("write: ") + strerror(errno));
}

}  // namespace seatlock::bench

#endif  // SEATLOCK_BENCH_BENCH_NET_H_
