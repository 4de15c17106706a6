#include "tests/cluster/cluster_node.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "client/client.h"
#include "tests/cluster/process_stop.h"

namespace seatlock::testing {
namespace {

bool PortFree(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// The lowest port the kernel hands out for outgoing connections.
int EphemeralLow() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  return (f >> low) && low > 12000 ? low : 32768;
}

// A main port whose shard ports (up to 8 shards) are free too. Below the
// ephemeral range: a node that is killed and restarted keeps its ports, and
// while it is down an outgoing connection (a client, a replica's stream)
// could otherwise be given one of them, and the restart fail to bind (seen
// once in CI: "cannot bind ... Address already in use", then no replica).
uint16_t FreePortRun(int count) {
  static std::mt19937 rng(static_cast<uint32_t>(getpid()) ^
                          static_cast<uint32_t>(std::random_device{}()));
  static const int span = EphemeralLow() - 10000 - 16;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const uint16_t base = static_cast<uint16_t>(10000 + rng() % static_cast<uint32_t>(span));
    bool ok = true;
    for (int i = 0; i < count && ok; ++i) ok = PortFree(static_cast<uint16_t>(base + i));
    if (ok) return base;
  }
  return 0;
}

}  // namespace

ClusterProcess::ClusterProcess(std::string node_id, std::string etcd,
                               std::vector<std::string> extra_args)
    : id_(std::move(node_id)), etcd_(std::move(etcd)), extra_(std::move(extra_args)) {
  dir_ = std::filesystem::temp_directory_path() /
         ("seatlock_cluster_" + std::to_string(getpid()) + "_" + id_ + "_" +
          std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir_);
  log_ = dir_ + "/seatlockd.log";
  port_ = FreePortRun(10);
  repl_port_ = FreePortRun(1);
}

ClusterProcess::~ClusterProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (std::getenv("SEATLOCK_KEEP_CLUSTER_LOGS") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool ClusterProcess::Start() {
  if (pid_ > 0) return false;
  std::vector<std::string> args = {SEATLOCKD_PATH,
                                   "--etcd=" + etcd_,
                                   "--node_id=" + id_,
                                   "--group=test",
                                   "--port=" + std::to_string(port_),
                                   "--repl_port=" + std::to_string(repl_port_),
                                   "--shards=2",
                                   "--data_dir=" + dir_ + "/data",
                                   "--max_memory=0",
                                   "--bind_retry_ms=3000"};
  if (const char* io = std::getenv("SEATLOCK_TEST_IO")) args.push_back(std::string("--io=") + io);
  for (const auto& a : extra_) args.push_back(a);
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a test that crashed or was killed
    const int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  return pid > 0;
}

void ClusterProcess::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool ClusterProcess::Pause() { return StopAndWait(pid_); }

void ClusterProcess::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

bool ClusterProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return true;
  kill(pid_, SIGCONT);
  kill(pid_, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill9();
  return false;
}

bool ClusterProcess::Running() {
  if (pid_ <= 0) return false;
  if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string ClusterProcess::Log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int FindPrimary(const std::vector<std::unique_ptr<ClusterProcess>>& nodes, int64_t timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!nodes[i]->Running()) continue;
      auto c = Client::Connect({.port = nodes[i]->port(),
                                .shard_aware = false,
                                .call_timeout_ms = 500,
                                .connect_timeout_ms = 300,
                                .backoff_max_ms = 100});
      if (!c.ok()) continue;
      if ((*c)->hello().role() == "primary") {
        // Writes allowed: an unknown hold, not NOT_PRIMARY. (Shard 0's last
        // token: never granted; hold 1 may be a live one a failover kept.)
        auto probe = (*c)->GetHold((uint64_t{1} << 56) - 1);
        if (probe.ok() && probe->code() == wire::HOLD_NOT_FOUND) return static_cast<int>(i);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

}  // namespace seatlock::testing
