#include "tests/integration/daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace seatlock::testing {

uint16_t UnusedLoopbackPort() {
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

std::string DefaultTestIo() {
  const char* io = getenv("SEATLOCK_TEST_IO");
  return io != nullptr && *io != '\0' ? io : "uring";
}

std::string SeatlockdPath() { return SEATLOCKD_PATH; }

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {
  char tmpl[] = "/tmp/seatlock-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  data_dir_ = dir_ + "/data";
  log_path_ = dir_ + "/seatlockd.log";
}

Daemon::~Daemon() {
  if (pid_ > 0) Kill9();
  if (keep_) return;
  std::string cmd = "rm -rf '" + dir_ + "'";
  int unused = system(cmd.c_str());
  (void)unused;
}

bool Daemon::Start() {
  const std::string port_file = dir_ + "/ports.json";
  unlink(port_file.c_str());
  std::vector<std::string> args = {
      SeatlockdPath(),           "--port=0",
      "--bind=127.0.0.1",        "--shards=" + std::to_string(options_.shards),
      "--io=" + options_.io,     "--data_dir=" + data_dir_,
      "--port_file=" + port_file};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  pid_ = fork();
  if (pid_ == 0) {
    if (options_.nofile_limit > 0) {
      const rlimit lim{static_cast<rlim_t>(options_.nofile_limit),
                       static_cast<rlim_t>(options_.nofile_limit)};
      setrlimit(RLIMIT_NOFILE, &lim);
    }
    const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 2);
    const int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  for (int i = 0; i < 500; ++i) {
    std::ifstream f(port_file);
    if (f) {
      std::stringstream ss;
      ss << f.rdbuf();
      const std::string s = ss.str();
      // {"port":N,"shard_ports":[a,b]}
      port_ = static_cast<uint16_t>(std::stoi(s.substr(s.find(':') + 1)));
      shard_ports_.clear();
      if (const size_t m = s.find("\"metrics_port\":"); m != std::string::npos) {
        metrics_port_ = static_cast<uint16_t>(std::stoi(s.substr(m + 15)));
      }
      size_t p = s.find('[') + 1;
      while (p < s.size() && s[p] != ']') {
        shard_ports_.push_back(static_cast<uint16_t>(std::stoi(s.substr(p))));
        p = s.find_first_of(",]", p);
        if (s[p] == ',') ++p;
      }
      return true;
    }
    if (!Running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

bool Daemon::Running() {
  if (pid_ <= 0) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int Daemon::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

void Daemon::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string Daemon::Log() const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace seatlock::testing
