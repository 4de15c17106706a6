// Daemon: runs a real seatlockd as a child process on ephemeral loopback
// ports for integration tests. Owns the child; the destructor kills it.
// Use from the test's main thread.
#ifndef SEATLOCK_TESTS_INTEGRATION_DAEMON_H_
#define SEATLOCK_TESTS_INTEGRATION_DAEMON_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seatlock::testing {

// The I/O backend daemons start with unless a test names one:
// $SEATLOCK_TEST_IO if set (scripts/test.sh runs the daemon tests again with
// "epoll"), else "uring".
std::string DefaultTestIo();

struct DaemonOptions {
  uint32_t shards = 2;
  std::string io = DefaultTestIo();
  std::vector<std::string> extra_args;
  int nofile_limit = 0;  // > 0: RLIMIT_NOFILE of the daemon
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions options);
  ~Daemon();
  void KeepFiles() { keep_ = true; }
  // For the next Start(): restart the same data dir with another shard count.
  void set_shards(uint32_t shards) { options_.shards = shards; }
  // Starts seatlockd and waits until it listens. Returns false on failure.
  bool Start();
  // SIGTERM, then waits. Returns the exit status (or -1 on timeout).
  int Stop(int timeout_ms = 6000);
  void Kill9();
  bool Running();

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  uint16_t metrics_port() const { return metrics_port_; }  // 0 unless --metrics_port
  const std::vector<uint16_t>& shard_ports() const { return shard_ports_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& log_path() const { return log_path_; }
  std::string Log() const;  // everything the daemon wrote to stderr

 private:
  DaemonOptions options_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint16_t metrics_port_ = 0;
  std::vector<uint16_t> shard_ports_;
  std::string dir_;
  std::string data_dir_;
  std::string log_path_;
  bool keep_ = false;
};

// A loopback port nobody listens on now: binds an ephemeral one and lets it go.
uint16_t UnusedLoopbackPort();

// Path of the seatlockd binary under test (set by CMake).
std::string SeatlockdPath();

}  // namespace seatlock::testing

#endif  // SEATLOCK_TESTS_INTEGRATION_DAEMON_H_
