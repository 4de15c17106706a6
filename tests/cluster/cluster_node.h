// ClusterProcess: one seatlockd of a replica group as a child process of a
// test (fixed loopback ports, since clients find nodes by address), with
// the faults the failover tests need: kill -9, SIGSTOP/SIGCONT, restart on
// the same data dir. FindPrimary asks every node's HELLO.
//
// Owns the child and its data dir (removed by the destructor). Test's main
// thread only.
#ifndef SEATLOCK_TESTS_CLUSTER_CLUSTER_NODE_H_
#define SEATLOCK_TESTS_CLUSTER_CLUSTER_NODE_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace seatlock::testing {

class ClusterProcess {
 public:
  // `etcd`: host:port. Ports are chosen free at construction.
  ClusterProcess(std::string node_id, std::string etcd, std::vector<std::string> extra_args);
  ~ClusterProcess();

  bool Start();
  void Kill9();
  // SIGSTOP, returning once every thread has stopped (process_stop.h);
  // false if they did not within 5 s.
  [[nodiscard]] bool Pause();
  void Resume();
  // SIGTERM and wait (bounded); false on timeout.
  bool Stop(int timeout_ms = 10'000);
  bool Running();

  const std::string& id() const { return id_; }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& log_path() const { return log_; }
  std::string Log() const;

 private:
  std::string id_;
  std::string etcd_;
  std::vector<std::string> extra_;
  std::string dir_;
  std::string log_;
  uint16_t port_ = 0;
  uint16_t repl_port_ = 0;
  pid_t pid_ = -1;
};

// The index of the node whose HELLO says "primary" (and that answers), or
// -1 after `timeout_ms`.
int FindPrimary(const std::vector<std::unique_ptr<ClusterProcess>>& nodes, int64_t timeout_ms);

}  // namespace seatlock::testing

#endif  // SEATLOCK_TESTS_CLUSTER_CLUSTER_NODE_H_
