// Small helpers shared by the online commands (commands.cc,
// stats_commands.cc): argument checks, usage errors, JSON printing. Inline
// functions with no state; main thread.
#ifndef SEATLOCK_TOOLS_COMMAND_UTIL_H_
#define SEATLOCK_TOOLS_COMMAND_UTIL_H_

#include <time.h>

#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message.h"
#include "tools/format.h"
#include "tools/session.h"

namespace seatlock::tools {

inline int64_t NowUnixMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// Prints "seatctl: <command>: <message>; see 'seatctl <command> --help'".
inline int UsageError(Session& s, const std::string& command, const std::string& message) {
  s.err() << "seatctl: " << command << ": " << message << "; see 'seatctl " << command
          << " --help'\n";
  return kExitUsage;
}

inline bool ParsePositive(const std::string& text, int64_t* v) {
  return absl::SimpleAtoi(text, v) && *v > 0;
}

inline void PrintJson(Session& s, const google::protobuf::Message& m) {
  s.out() << ToJson(m) << "\n";
}

inline std::string Plural(uint64_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

}  // namespace seatlock::tools

#endif  // SEATLOCK_TOOLS_COMMAND_UTIL_H_
