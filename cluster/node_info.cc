#include "cluster/node_info.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace seatlock::cluster {

std::string NodeInfo::Encode() const {
  return absl::StrCat("node_id=", node_id, "\naddress=", address, "\nrepl_address=", repl_address,
                      "\nrole=", role, "\ndurable_lsn=", absl::StrJoin(durable_lsn, ","), "\n");
}

absl::StatusOr<NodeInfo> NodeInfo::Parse(std::string_view std_text) {
  const absl::string_view text(std_text.data(), std_text.size());
  NodeInfo info;
  bool has_id = false;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("node info: no '=' in line \"", line, "\""));
    }
    const absl::string_view key = line.substr(0, eq);
    const absl::string_view value = line.substr(eq + 1);
    if (key == "node_id") {
      info.node_id = std::string(value);
      has_id = true;
    } else if (key == "address") {
      info.address = std::string(value);
    } else if (key == "repl_address") {
      info.repl_address = std::string(value);
    } else if (key == "role") {
      info.role = std::string(value);
    } else if (key == "durable_lsn") {
      for (absl::string_view n : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        uint64_t lsn = 0;
        if (!absl::SimpleAtoi(n, &lsn)) {
          return absl::InvalidArgumentError(
              absl::StrCat("node info: durable_lsn \"", value, "\" is not a list of numbers"));
        }
        info.durable_lsn.push_back(lsn);
      }
    }
  }
  if (!has_id || info.node_id.empty()) {
    return absl::InvalidArgumentError("node info: no node_id");
  }
  return info;
}

}  // namespace seatlock::cluster
