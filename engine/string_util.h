// Bridges std::string_view and Debian 12's Abseil (20220623), which is built
// with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW=0), so that
// absl::StrCat and heterogeneous hash-map lookups accept std::string_view.
// Header-only, stateless, usable from any thread.
#ifndef SEATLOCK_ENGINE_STRING_UTIL_H_
#define SEATLOCK_ENGINE_STRING_UTIL_H_

#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace seatlock {

inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return absl::Hash<absl::string_view>{}(ToAbsl(s)); }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};

// A flat_hash_map keyed by std::string that can be searched by string_view.
template <class V>
using StringMap = absl::flat_hash_map<std::string, V, StringHash, StringEq>;

}  // namespace seatlock

#endif  // SEATLOCK_ENGINE_STRING_UTIL_H_
