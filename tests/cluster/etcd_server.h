// EtcdServer: a real etcd (/usr/bin/etcd, Debian's etcd-server) as a child
// process for tests: one member on 127.0.0.1, client and peer ports chosen
// free at construction, data in a temp dir (in /dev/shm when there is one). Start waits (at most 10
// s) until it answers a read; Stop, Kill9, Pause (SIGSTOP) and Resume (SIGCONT) fault it; Start
// again (or Restart) brings it back with the same data dir and ports, so its keys, revisions and
// leases survive.
//
// Its election timeout is 500 ms (heartbeat 50 ms), so it accepts leases of
// 1 s (etcd's minimum TTL is 1.5 election timeouts, rounded up to seconds).
//
// Owns the child and the temp dir; the destructor kills the one (SIGKILL, it
// also dies with the test process) and removes the other. Use from the test's
// main thread.
#ifndef SEATLOCK_TESTS_CLUSTER_ETCD_SERVER_H_
#define SEATLOCK_TESTS_CLUSTER_ETCD_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

namespace seatlock::cluster::testing {

// Polls `done` every 20 ms for at most `ms`; its last answer.
bool WaitFor(const std::function<bool()>& done, int ms);

class EtcdServer {
 public:
  // Whether the etcd binary is installed (scripts/setup.sh installs it).
  static bool Available();

  EtcdServer();
  ~EtcdServer();
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  // Starts etcd and waits until it answers. False (with the reason in Log())
  // if it does not within 10 s.
  bool Start();
  // SIGTERM, then SIGKILL after timeout_ms. False if it was not running.
  bool Stop(int timeout_ms = 5000);
  void Kill9();
  // Stop, then Start with the same data dir and ports.
  bool Restart();
  // SIGSTOP, returning once every etcd thread has stopped (process_stop.h):
  // etcd holds its connections open but answers nothing. False if it did not
  // stop within 5 s.
  [[nodiscard]] bool Pause();
  void Resume();  // SIGCONT
  bool Running();

  // "127.0.0.1:<client port>", for EtcdOptions::endpoints.
  std::string endpoint() const;
  // "http://127.0.0.1:<client port>"
  std::string url() const { return "http://" + endpoint(); }
  uint16_t client_port() const { return client_port_; }
  const std::string& dir() const { return dir_; }
  // Everything etcd wrote (to its log file in dir()).
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  bool paused_ = false;
  uint16_t client_port_ = 0;
  uint16_t peer_port_ = 0;
  std::string dir_;
  std::string start_error_;  // why the last Start failed
};

}  // namespace seatlock::cluster::testing

#endif  // SEATLOCK_TESTS_CLUSTER_ETCD_SERVER_H_
