#include "tests/cluster/etcd_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "cluster/etcd_client.h"
#include "tests/cluster/process_stop.h"

namespace seatlock::cluster::testing {

bool WaitFor(const std::function<bool()>& done, int ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}
namespace {

constexpr char kEtcd[] = "/usr/bin/etcd";

// A loopback port nobody listens on now: binds an ephemeral one, lets it go.
uint16_t FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

bool EtcdServer::Available() { return access(kEtcd, X_OK) == 0; }

EtcdServer::EtcdServer() {
  // In memory (/dev/shm) where there is one: etcd fsyncs its log on every
  // write, and on a shared CI disk, busy with the daemons' own fsyncs, one of
  // those took over 2 s and failed a test through its client's deadline. The
  // tests fault etcd's process, never the machine, so the page cache keeps
  // what a killed etcd wrote either way.
  char shm[] = "/dev/shm/seatlock-etcd-XXXXXX";
  char tmp[] = "/tmp/seatlock-etcd-XXXXXX";
  const char* made = access("/dev/shm", W_OK) == 0 ? mkdtemp(shm) : nullptr;
  if (made == nullptr) made = mkdtemp(tmp);
  if (made != nullptr) dir_ = made;  // else empty, and Start fails
  client_port_ = FreeLoopbackPort();
  do {
    peer_port_ = FreeLoopbackPort();
  } while (peer_port_ == client_port_);
}

EtcdServer::~EtcdServer() {
  Kill9();
  if (dir_.empty()) return;
  std::string cmd = "rm -rf '" + dir_ + "'";
  int unused = system(cmd.c_str());
  (void)unused;
}

std::string EtcdServer::endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }

bool EtcdServer::Start() {
  if (pid_ > 0) return false;
  if (dir_.empty()) {
    start_error_ = "no temp dir: mkdtemp failed in /dev/shm and /tmp";
    return false;
  }
  const std::string client = url();
  const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::vector<std::string> args = {
      kEtcd,
      "--name=test",
      "--data-dir=" + dir_ + "/data",
      "--listen-client-urls=" + client,
      "--advertise-client-urls=" + client,
      "--listen-peer-urls=" + peer,
      "--initial-advertise-peer-urls=" + peer,
      "--initial-cluster=test=" + peer,
      "--initial-cluster-state=new",
      "--heartbeat-interval=50",
      "--election-timeout=500",
      "--logger=zap",
      "--log-outputs=stderr",
  };
  const std::string log = dir_ + "/etcd.log";
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the test
    if (getppid() != parent) _exit(1);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(kEtcd, argv.data());
    _exit(127);
  }
  pid_ = pid;
  paused_ = false;

  // Ready when a (linearizable) read succeeds: etcd is up and has a leader.
  EtcdOptions options;
  options.endpoints = {endpoint()};
  options.timeout_ms = 500;
  auto etcd = EtcdClient::Create(options);
  if (!etcd.ok()) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  absl::Status last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Running()) {
      start_error_ = "etcd exited";
      return false;
    }
    last = (*etcd)->Get("/seatlock-test-ready").status();
    if (last.ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  start_error_ = "etcd did not answer within 10 s: " + last.ToString();
  return false;
}

bool EtcdServer::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

bool EtcdServer::Stop(int timeout_ms) {
  if (!Running()) return false;
  if (paused_) Resume();
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Running()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill9();
  return true;
}

void EtcdServer::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  paused_ = false;
}

bool EtcdServer::Restart() {
  Stop();
  return Start();
}

bool EtcdServer::Pause() {
  if (pid_ <= 0) return false;
  paused_ = true;  // the signal is sent even when the wait times out
  return ::seatlock::testing::StopAndWait(pid_);
}

void EtcdServer::Resume() {
  if (pid_ > 0 && kill(pid_, SIGCONT) == 0) paused_ = false;
}

std::string EtcdServer::Log() const {
  std::ifstream f(dir_ + "/etcd.log");
  std::stringstream ss;
  ss << f.rdbuf();
  if (!start_error_.empty()) ss << "\nEtcdServer::Start: " << start_error_ << "\n";
  return ss.str();
}

}  // namespace seatlock::cluster::testing
