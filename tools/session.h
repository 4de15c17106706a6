// Session: seatctl's connection to one seatlockd, and the translation of
// every failure into a message that says what went wrong and what to do.
//
// It uses the blocking Client on the main port only (not shard-aware): one
// TCP connection, so one AUTH, and the server forwards to the owning shard.
// Exit codes follow seatctl's rules: 0 the server answered OK; 1 it refused
// the operation with a domain result code (SEAT_UNAVAILABLE, HOLD_NOT_FOUND,
// ...); 2 usage, connection, authentication or protocol errors.
//
// Owns the Client (and so its I/O thread). Used from one thread.
#ifndef SEATLOCK_TOOLS_SESSION_H_
#define SEATLOCK_TOOLS_SESSION_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "protocol/seatlock.pb.h"
#include "tools/args.h"

namespace seatlock::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;

// The global flags, checked.
struct GlobalOptions {
  std::string addr;  // as given: "127.0.0.1:7400"
  std::string host;
  uint16_t port = 7400;
  std::string token_file;  // --auth-token-file, "" for none
  std::string auth_token;  // its contents, surrounding whitespace stripped
  bool json = false;
  int64_t timeout_ms = 5000;
};

// Reads --addr, --auth-token-file, --json and --timeout-ms. An error
// message (a usage error, exit 2) when one is malformed or unreadable.
absl::StatusOr<GlobalOptions> GlobalOptionsFrom(const ParsedArgs& args);

class Session {
 public:
  Session(const GlobalOptions& options, std::ostream& out, std::ostream& err)
      : options_(options), out_(out), err_(err) {}

  // Connects and says HELLO. kExitOk, or kExitUsage after printing why.
  int Connect();

  // Sends `req` and waits. Returns kExitOk when the server answered OK.
  // Otherwise prints what went wrong (prefixed "seatctl: <what>: ") with a
  // hint, and returns the exit code; for a refusal it also fills *resp, and
  // with --json prints it to stdout, so the caller may add details.
  int Call(wire::Request req, wire::Response* resp, const std::string& what);

  const wire::HelloReply& hello() const { return client_->hello(); }
  const GlobalOptions& options() const { return options_; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }

 private:
  GlobalOptions options_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<Client> client_;
};

// What an operator should do about a result code, in one sentence.
std::string HintFor(wire::ResultCode code);

}  // namespace seatlock::tools

#endif  // SEATLOCK_TOOLS_SESSION_H_
