#include "cluster/group_keys.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace seatlock::cluster {

absl::Status GroupKeys::ValidateName(std::string_view std_what, std::string_view std_name) {
  const absl::string_view what(std_what.data(), std_what.size());
  const absl::string_view name(std_name.data(), std_name.size());
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", name, "\": must be 1 to 64 characters"));
  }
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " \"", name, "\": only letters, digits, '_', '.' and '-'"));
    }
  }
  return absl::OkStatus();
}

GroupKeys::GroupKeys(std::string group) : group_(std::move(group)) {
  if (absl::Status st = ValidateName("group", group_); !st.ok()) {
    std::fprintf(stderr, "GroupKeys: %s\n", std::string(st.message()).c_str());
    std::abort();
  }
  prefix_ = absl::StrCat("/seatlock/", group_, "/");
}

}  // namespace seatlock::cluster
