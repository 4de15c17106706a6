// Log: one line per notable event to stderr, with a UTC timestamp, a level
// and the shard (or "main"). Thread-safe: each line is one write(2).
#ifndef SEATLOCK_SERVER_LOG_H_
#define SEATLOCK_SERVER_LOG_H_

#include <string_view>

#include "absl/strings/str_cat.h"

namespace seatlock {

enum class LogLevel { kInfo, kWarning, kError };

void LogLine(LogLevel level, std::string_view message);
// Sets the calling thread's tag shown in each line ("main", "shard 1").
void SetLogThreadName(std::string_view name);

template <class... Args>
void LogInfo(const Args&... args) {
  LogLine(LogLevel::kInfo, absl::StrCat(args...));
}
template <class... Args>
void LogWarning(const Args&... args) {
  LogLine(LogLevel::kWarning, absl::StrCat(args...));
}
template <class... Args>
void LogError(const Args&... args) {
  LogLine(LogLevel::kError, absl::StrCat(args...));
}

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_LOG_H_
