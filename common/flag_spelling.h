// Flag spelling shared by the command-line programs (seatlockd, seatbench,
// flashsale): Abseil names flags with '_', and people type '-'. Stateless;
// any thread.
#ifndef SEATLOCK_COMMON_FLAG_SPELLING_H_
#define SEATLOCK_COMMON_FLAG_SPELLING_H_

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace seatlock {

// argv with every "--flag-name[=value]" spelled "--flag_name[=value]" (the
// value and positional arguments are left alone; argv[0] too).
inline std::vector<std::string> UnderscoreFlagNames(int argc, char** argv) {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(argc));
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i > 0 && a.rfind("--", 0) == 0) {
      const size_t end = std::min(a.find('='), a.size());
      std::replace(a.begin() + 2, a.begin() + static_cast<std::ptrdiff_t>(end), '-', '_');
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace seatlock

#endif  // SEATLOCK_COMMON_FLAG_SPELLING_H_
