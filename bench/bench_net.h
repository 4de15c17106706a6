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

// A TCP connection with TCP_NODELAY to host:port (an IPv4 address).
inline int Dial(std::string_view tool, const std::string& host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    Die(tool, "--host must be an IPv4 address");
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
    Die(tool, "cannot connect to " + host + ":" + std::to_string(port) + ": " + strerror(errno));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

inline void WriteAll(std::string_view tool, int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) Die(tool, std::string("write: ") + strerror(errno));
    off += static_cast<size_t>(n);
  }
}

}  // namespace seatlock::bench

#endif  // SEATLOCK_BENCH_BENCH_NET_H_
