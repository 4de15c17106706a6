// CommandLine: a small parser for "program [global flags] COMMAND [args]
// [flags]" command lines, with subcommands that have their own flags and
// positional arguments, two-word commands ("wal dump"), and generated help.
// It knows nothing of seatlock: seatctl.cc declares the commands.
//
//   CommandLine cli("seatctl", "what it is", {{"addr", "HOST:PORT", "...", "127.0.0.1:7400"}},
//                   {{.name = "ping", .summary = "...", .flags = {}}});
//   Invocation inv = cli.Parse(argc, argv);
//   if (!inv.error.empty()) { print inv.error; exit 2 }
//   if (inv.help) { print cli.Help(inv); exit 0 }
//   inv.command->name, inv.args.Get("addr"), inv.args.positional()
//
// Flags are written --name VALUE, --name=VALUE, or --name for a switch;
// '-' and '_' are the same inside a name (--ttl-ms = --ttl_ms). Global flags
// go anywhere; a command's flags go after the command. "--" ends the flags.
// --help (or -h) anywhere asks for help on the command given so far.
//
// Plain values; no shared state. A CommandLine must outlive the Invocations
// it returns (they point at its CommandSpecs).
#ifndef SEATLOCK_TOOLS_ARGS_H_
#define SEATLOCK_TOOLS_ARGS_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace seatlock::tools {

struct FlagSpec {
  std::string name;        // "holder", written --holder
  std::string value_name;  // "H" for the help text; empty: a boolean switch
  std::string help;
  std::string default_value;  // shown in help; returned by Get() when unset
  bool required = false;
};

struct CommandSpec {
  std::string name;       // "hold", or two words: "wal dump"
  std::string arguments;  // positional synopsis for help: "E SECTION"
  std::string summary;    // one line, for the command list
  std::string details;    // more help text (arguments, output, an example)
  std::vector<FlagSpec> flags;
  size_t min_args = 0;
  size_t max_args = std::numeric_limits<size_t>::max();
};

// The flags and positional arguments of one parsed command line.
class ParsedArgs {
 public:
  bool Has(const std::string& flag) const { return values_.count(flag) != 0; }
  // The flag's value, its default when unset, or "" for an unknown name.
  const std::string& Get(const std::string& flag) const;
  // Switches: true when given as --flag, --flag=true or --flag=1.
  bool GetBool(const std::string& flag) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend class CommandLine;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> defaults_;
  std::vector<std::string> positional_;
};

struct Invocation {
  const CommandSpec* command = nullptr;  // null: no (complete) command given
  std::string group;                     // "wal" when only "seatctl wal" was given
  bool help = false;
  std::string error;  // a usage error, ready to print
  ParsedArgs args;
};

class CommandLine {
 public:
  // `description` opens the top-level help; `epilogue` closes it.
  CommandLine(std::string program, std::string description, std::string epilogue,
              std::vector<FlagSpec> global_flags, std::vector<CommandSpec> commands);

  Invocation Parse(int argc, const char* const* argv) const;
  Invocation Parse(const std::vector<std::string>& args) const;

  // Help for what `inv` names: the command, the group, or the top level.
  std::string Help(const Invocation& inv) const;
  std::string TopHelp() const;
  std::string CommandHelp(const CommandSpec& command) const;
  std::string GroupHelp(const std::string& group) const;

  const std::string& program() const { return program_; }

 private:
  const CommandSpec* Find(const std::string& name) const;
  bool IsGroup(const std::string& word) const;
  static const FlagSpec* FindFlag(const std::vector<FlagSpec>& flags, const std::string& name);
  std::string FlagsHelp(const std::vector<FlagSpec>& flags) const;

  std::string program_;
  std::string description_;
  std::string epilogue_;
  std::vector<FlagSpec> global_flags_;
  std::vector<CommandSpec> commands_;
};

}  // namespace seatlock::tools

#endif  // SEATLOCK_TOOLS_ARGS_H_
