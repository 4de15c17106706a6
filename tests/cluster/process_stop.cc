#include "tests/cluster/process_stop.h"

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

namespace seatlock::testing {
namespace {

// The state letter of /proc/<pid>/task/<tid>/stat: the field after the
// command name, which is in parentheses and may itself hold spaces or ')'.
char ThreadState(const std::filesystem::path& stat) {
  std::ifstream f(stat);
  std::string line;
  if (!std::getline(f, line)) return '?';
  const auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return '?';
  return line[close + 2];
}

}  // namespace

bool AllThreadsStopped(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/task", ec);
  if (ec) return false;
  int threads = 0;
  for (const auto& task : it) {
    const char state = ThreadState(task.path() / "stat");
    // 'T' stopped by a signal, 't' by a tracer; 'Z'/'X' a thread already gone.
    if (state != 'T' && state != 't' && state != 'Z' && state != 'X') return false;
    ++threads;
  }
  return threads > 0;
}

bool StopAndWait(pid_t pid, int timeout_ms) {
  if (pid <= 0 || kill(pid, SIGSTOP) != 0) return false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!AllThreadsStopped(pid)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace seatlock::testing
