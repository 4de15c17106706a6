#include "tools/args.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace seatlock::tools {
namespace {

// --ttl_ms and --ttl-ms are the same flag.
std::string NormalizeFlagName(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

bool LooksLikeFlag(const std::string& tok) {
  // "-" alone and negative numbers are positional arguments.
  return tok.size() > 1 && tok[0] == '-' && !std::isdigit(static_cast<unsigned char>(tok[1]));
}

std::string FlagSynopsis(const FlagSpec& f) {
  std::string s = absl::StrCat("--", f.name);
  if (!f.value_name.empty()) absl::StrAppend(&s, " ", f.value_name);
  return s;
}

// "  left<pad>right" lines with `right` aligned in a column.
void AppendAligned(std::string* out,
                   const std::vector<std::pair<std::string, std::string>>& lines) {
  size_t width = 0;
  for (const auto& [left, right] : lines) width = std::max(width, left.size());
  for (const auto& [left, right] : lines) {
    absl::StrAppend(out, "  ", left, std::string(width - left.size() + 3, ' '), right, "\n");
  }
}

}  // namespace

const std::string& ParsedArgs::Get(const std::string& flag) const {
  static const std::string kEmpty;
  if (auto it = values_.find(flag); it != values_.end()) return it->second;
  if (auto it = defaults_.find(flag); it != defaults_.end()) return it->second;
  return kEmpty;
}

bool ParsedArgs::GetBool(const std::string& flag) const {
  const std::string& v = Get(flag);
  return v == "true" || v == "1";
}

CommandLine::CommandLine(std::string program, std::string description, std::string epilogue,
                         std::vector<FlagSpec> global_flags, std::vector<CommandSpec> commands)
    : program_(std::move(program)),
      description_(std::move(description)),
      epilogue_(std::move(epilogue)),
      global_flags_(std::move(global_flags)),
      commands_(std::move(commands)) {}

const CommandSpec* CommandLine::Find(const std::string& name) const {
  for (const CommandSpec& c : commands_) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

bool CommandLine::IsGroup(const std::string& word) const {
  const std::string prefix = word + " ";
  for (const CommandSpec& c : commands_) {
    if (c.name.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

const FlagSpec* CommandLine::FindFlag(const std::vector<FlagSpec>& flags, const std::string& name) {
  for (const FlagSpec& f : flags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Invocation CommandLine::Parse(int argc, const char* const* argv) const {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return Parse(args);
}

Invocation CommandLine::Parse(const std::vector<std::string>& args) const {
  Invocation inv;
  // Only the first problem is reported; parsing goes on so that a --help
  // later on the line still gets help.
  auto fail = [&inv](std::string message) {
    if (inv.error.empty()) inv.error = std::move(message);
  };
  const std::string see_top = absl::StrCat("see '", program_, " --help'");
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& tok = args[i];
    if (!flags_done && tok == "--") {
      flags_done = true;
      continue;
    }
    if (!flags_done && (tok == "--help" || tok == "-h" || tok == "-help")) {
      inv.help = true;
      continue;
    }
    if (!flags_done && LooksLikeFlag(tok)) {
      std::string body = tok.substr(tok[1] == '-' ? 2 : 1);
      std::string value;
      const size_t eq = body.find('=');
      const bool has_value = eq != std::string::npos;
      if (has_value) {
        value = body.substr(eq + 1);
        body.resize(eq);
      }
      const std::string name = NormalizeFlagName(body);
      const FlagSpec* spec = inv.command != nullptr ? FindFlag(inv.command->flags, name) : nullptr;
      if (spec == nullptr) spec = FindFlag(global_flags_, name);
      if (spec == nullptr) {
        if (inv.command != nullptr) {
          fail(absl::StrCat("unknown flag --", name, " for '", program_, " ", inv.command->name,
                            "'; see '", program_, " ", inv.command->name, " --help'"));
        } else {
          std::vector<std::string> owners;
          for (const CommandSpec& c : commands_) {
            if (FindFlag(c.flags, name) != nullptr) owners.push_back(c.name);
          }
          fail(owners.empty()
                   ? absl::StrCat("unknown flag --", name, "; ", see_top)
                   : absl::StrCat("--", name, " is a flag of ", absl::StrJoin(owners, ", "),
                                  ": write it after the command"));
        }
        continue;
      }
      if (spec->value_name.empty()) {
        if (!has_value) value = "true";
        if (value != "true" && value != "false" && value != "1" && value != "0") {
          fail(absl::StrCat("--", name, " is a switch: write --", name, " or --", name, "=false"));
          continue;
        }
      } else if (!has_value) {
        if (i + 1 >= args.size()) {
          fail(absl::StrCat("--", name, " needs a value: --", name, " ", spec->value_name));
          continue;
        }
        value = args[++i];
      }
      inv.args.values_[name] = value;
      continue;
    }
    // A word: the command, the second word of a two-word command, or an argument.
    if (inv.command != nullptr) {
      inv.args.positional_.push_back(tok);
    } else if (!inv.group.empty()) {
      inv.command = Find(absl::StrCat(inv.group, " ", tok));
      if (inv.command == nullptr) {
        fail(absl::StrCat("unknown command '", inv.group, " ", tok, "'; see '", program_, " ",
                          inv.group, " --help'"));
        inv.group.clear();
        flags_done = true;  // stop interpreting the rest
      }
    } else if ((inv.command = Find(tok)) != nullptr) {
      // found
    } else if (IsGroup(tok)) {
      inv.group = tok;
    } else {
      fail(absl::StrCat("unknown command '", tok, "'; ", see_top, " for the list"));
      flags_done = true;
    }
  }
  if (inv.help) {
    inv.error.clear();
    return inv;
  }
  if (!inv.error.empty()) return inv;
  if (inv.command == nullptr) {
    if (!inv.group.empty()) {
      std::vector<std::string> subs;
      for (const CommandSpec& c : commands_) {
        if (c.name.rfind(inv.group + " ", 0) == 0)
          subs.push_back(c.name.substr(inv.group.size() + 1));
      }
      fail(absl::StrCat("'", program_, " ", inv.group,
                        "' needs a subcommand: ", absl::StrJoin(subs, " or "), "; see '", program_,
                        " ", inv.group, " --help'"));
    } else {
      fail(absl::StrCat("no command given; ", see_top));
    }
    return inv;
  }
  const CommandSpec& cmd = *inv.command;
  const std::string see_cmd = absl::StrCat("see '", program_, " ", cmd.name, " --help'");
  const size_t n = inv.args.positional_.size();
  if (n < cmd.min_args) {
    fail(absl::StrCat("'", program_, " ", cmd.name, "' needs ", cmd.arguments, "; ", see_cmd));
    return inv;
  }
  if (n > cmd.max_args) {
    fail(absl::StrCat("'", program_, " ", cmd.name, "' takes ",
                      cmd.arguments.empty() ? std::string("no arguments") : cmd.arguments,
                      ", got unexpected '", inv.args.positional_[cmd.max_args], "'; ", see_cmd));
    return inv;
  }
  for (const FlagSpec& f : cmd.flags) {
    if (f.required && !inv.args.Has(f.name)) {
      fail(absl::StrCat("'", program_, " ", cmd.name, "' needs ", FlagSynopsis(f), "; ", see_cmd));
      return inv;
    }
    if (!f.default_value.empty()) inv.args.defaults_[f.name] = f.default_value;
  }
  for (const FlagSpec& f : global_flags_) {
    if (!f.default_value.empty()) inv.args.defaults_[f.name] = f.default_value;
  }
  return inv;
}

std::string CommandLine::Help(const Invocation& inv) const {
  if (inv.command != nullptr) return CommandHelp(*inv.command);
  if (!inv.group.empty()) return GroupHelp(inv.group);
  return TopHelp();
}

std::string CommandLine::FlagsHelp(const std::vector<FlagSpec>& flags) const {
  std::vector<std::pair<std::string, std::string>> lines;
  for (const FlagSpec& f : flags) {
    std::string help = f.help;
    if (f.required) absl::StrAppend(&help, " (required)");
    if (!f.default_value.empty()) absl::StrAppend(&help, " (default ", f.default_value, ")");
    lines.emplace_back(FlagSynopsis(f), help);
  }
  std::string out;
  AppendAligned(&out, lines);
  return out;
}

std::string CommandLine::TopHelp() const {
  std::string out = absl::StrCat(description_, "\n\nUsage: ", program_,
                                 " [global flags] COMMAND [ARGS] [FLAGS]\n\n", "Commands:\n");
  std::vector<std::pair<std::string, std::string>> lines;
  for (const CommandSpec& c : commands_) {
    lines.emplace_back(c.arguments.empty() ? c.name : absl::StrCat(c.name, " ", c.arguments),
                       c.summary);
  }
  AppendAligned(&out, lines);
  absl::StrAppend(&out, "\nGlobal flags (anywhere on the line):\n", FlagsHelp(global_flags_));
  absl::StrAppend(&out, "\nRun '", program_,
                  " COMMAND --help' for a command's arguments and flags.\n");
  if (!epilogue_.empty()) absl::StrAppend(&out, "\n", epilogue_, "\n");
  return out;
}

std::string CommandLine::GroupHelp(const std::string& group) const {
  std::string out =
      absl::StrCat("Usage: ", program_, " ", group, " SUBCOMMAND [ARGS] [FLAGS]\n\nSubcommands:\n");
  std::vector<std::pair<std::string, std::string>> lines;
  for (const CommandSpec& c : commands_) {
    if (c.name.rfind(group + " ", 0) != 0) continue;
    lines.emplace_back(absl::StrCat(c.name, " ", c.arguments), c.summary);
  }
  AppendAligned(&out, lines);
  absl::StrAppend(&out, "\nRun '", program_, " ", group, " SUBCOMMAND --help' for details.\n");
  return out;
}

std::string CommandLine::CommandHelp(const CommandSpec& c) const {
  std::string out = absl::StrCat("Usage: ", program_, " ", c.name);
  if (!c.arguments.empty()) absl::StrAppend(&out, " ", c.arguments);
  for (const FlagSpec& f : c.flags) {
    absl::StrAppend(&out, f.required ? " " : " [", FlagSynopsis(f), f.required ? "" : "]");
  }
  absl::StrAppend(&out, "\n\n", c.summary, "\n");
  if (!c.details.empty()) absl::StrAppend(&out, "\n", c.details, "\n");
  if (!c.flags.empty()) absl::StrAppend(&out, "\nFlags:\n", FlagsHelp(c.flags));
  absl::StrAppend(&out, "\nGlobal flags:\n", FlagsHelp(global_flags_));
  return out;
}

}  // namespace seatlock::tools
