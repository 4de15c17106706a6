#include "server/log.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace seatlock {
namespace {
thread_local std::string g_thread_name = "main";
}

void SetLogThreadName(std::string_view name) { g_thread_name.assign(name.data(), name.size()); }

void LogLine(LogLevel level, std::string_view message) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  char stamp[64];
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000);
  const char* lvl = level == LogLevel::kInfo      ? "INFO"
                    : level == LogLevel::kWarning ? "WARN"
                                                  : "ERROR";
  std::string line = std::string(stamp) + " " + lvl + " [" + g_thread_name + "] ";
  line.append(message.data(), message.size());
  line.push_back('\n');
  ssize_t unused = ::write(STDERR_FILENO, line.data(), line.size());
  (void)unused;
}

}  // namespace seatlock
