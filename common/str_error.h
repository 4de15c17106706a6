// StrError: the message of an errno value, like strerror(), but safe to call
// from any thread (strerror may return a buffer shared by all threads).
#ifndef SEATLOCK_COMMON_STR_ERROR_H_
#define SEATLOCK_COMMON_STR_ERROR_H_

#include <string.h>

#include <string>

namespace seatlock {

namespace str_error_internal {
// strerror_r is the GNU one (returns the message) with _GNU_SOURCE, which g++
// and clang++ define, and the XSI one (fills buf, returns 0) otherwise.
inline const char* Message(const char* gnu_result, const char* /*buf*/) { return gnu_result; }
inline const char* Message(int xsi_result, const char* buf) {
  return xsi_result == 0 ? buf : "Unknown error";
}
}  // namespace str_error_internal

inline std::string StrError(int err) {
  char buf[256];
  buf[0] = '\0';
  return str_error_internal::Message(strerror_r(err, buf, sizeof(buf)), buf);
}

}  // namespace seatlock

#endif  // SEATLOCK_COMMON_STR_ERROR_H_
