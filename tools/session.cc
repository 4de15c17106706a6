#include "tools/session.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <fstream>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/str_error.h"
#include "tools/format.h"

namespace seatlock::tools {
namespace {

// "host:port", "[v6]:port", or "host" (default port).
absl::Status SplitAddr(const std::string& addr, std::string* host, uint16_t* port) {
  std::string port_text;
  if (!addr.empty() && addr[0] == '[') {
    const size_t close = addr.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError("missing ']'");
    *host = addr.substr(1, close - 1);
    if (close + 1 < addr.size()) {
      if (addr[close + 1] != ':') return absl::InvalidArgumentError("expected ':' after ']'");
      port_text = addr.substr(close + 2);
    }
  } else if (const size_t colon = addr.rfind(':'); colon != std::string::npos) {
    *host = addr.substr(0, colon);
    port_text = addr.substr(colon + 1);
  } else {
    *host = addr;
  }
  if (host->empty()) return absl::InvalidArgumentError("empty host");
  if (!port_text.empty()) {
    uint32_t p = 0;
    if (!absl::SimpleAtoi(port_text, &p) || p == 0 || p > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("'", port_text, "' is not a port (1..65535)"));
    }
    *port = static_cast<uint16_t>(p);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GlobalOptions> GlobalOptionsFrom(const ParsedArgs& args) {
  GlobalOptions o;
  o.addr = args.Get("addr");
  if (absl::Status st = SplitAddr(o.addr, &o.host, &o.port); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("bad --addr '", o.addr, "': ", st.message(),
                                                   "; write HOST:PORT, e.g. 127.0.0.1:7400"));
  }
  o.json = args.GetBool("json");
  const std::string& timeout = args.Get("timeout-ms");
  if (!absl::SimpleAtoi(timeout, &o.timeout_ms) || o.timeout_ms <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad --timeout-ms '", timeout, "': write a number of milliseconds above 0"));
  }
  o.token_file = args.Get("auth-token-file");
  if (!o.token_file.empty()) {
    std::ifstream in(o.token_file);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read --auth-token-file ", o.token_file, ": ", StrError(errno)));
    }
    std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    o.auth_token = std::string(absl::StripAsciiWhitespace(token));
    if (o.auth_token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--auth-token-file ", o.token_file,
                                                     " is empty: it must hold the server's token"));
    }
  }
  return o;
}

int Session::Connect() {
  // Resolve first, so a typo in the host name gets its own message.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(options_.host.c_str(), nullptr, &hints, &res); rc != 0) {
    err_ << "seatctl: cannot resolve host '" << options_.host << "' (from --addr " << options_.addr
         << "): " << gai_strerror(rc) << "; check --addr\n";
    return kExitUsage;
  }
  freeaddrinfo(res);

  ClientOptions co;
  co.host = options_.host;
  co.port = options_.port;
  co.auth_token = options_.auth_token;
  co.shard_aware = false;
  co.call_timeout_ms = options_.timeout_ms;
  co.connect_timeout_ms = options_.timeout_ms;
  co.client_name = "seatctl";
  auto client = Client::Connect(co);
  if (client.ok()) {
    client_ = std::move(*client);
    return kExitOk;
  }
  const absl::Status& st = client.status();
  const std::string where = absl::StrCat(options_.host, ":", options_.port);
  const std::string msg(st.message());
  if (msg.find("refused") != std::string::npos) {
    err_ << "seatctl: connection refused to " << where
         << ": is seatlockd running? (start it, or point --addr at it)\n";
  } else if (absl::IsDeadlineExceeded(st)) {
    err_ << "seatctl: timed out connecting to " << where << " after " << options_.timeout_ms
         << " ms: is the address right, and is the port open? (or raise --timeout-ms)\n";
  } else if (absl::IsFailedPrecondition(st)) {
    err_ << "seatctl: " << where << ": " << msg
         << ": use a seatctl from the same seatlock release\n";
  } else {
    err_ << "seatctl: cannot connect to " << where << ": " << msg
         << "; is seatlockd running there?\n";
  }
  return kExitUsage;
}

int Session::Call(wire::Request req, wire::Response* resp, const std::string& what) {
  const std::string where = absl::StrCat(options_.host, ":", options_.port);
  auto r = client_->Call(std::move(req), options_.timeout_ms);
  if (!r.ok()) {
    if (absl::IsDeadlineExceeded(r.status())) {
      err_ << "seatctl: " << what << ": no answer from " << where << " within "
           << options_.timeout_ms
           << " ms: the server may be overloaded or stuck; retry, or raise --timeout-ms\n";
    } else {
      err_ << "seatctl: " << what << ": lost the connection to " << where << ": "
           << r.status().message() << "; is seatlockd still running?\n";
    }
    return kExitUsage;
  }
  *resp = std::move(*r);
  if (resp->code() == wire::OK) return kExitOk;

  const std::string code = wire::ResultCode_Name(resp->code());
  if (resp->code() == wire::UNAUTHENTICATED) {
    if (options_.auth_token.empty()) {
      err_ << "seatctl: " << what << ": " << where
           << " requires authentication: pass --auth-token-file FILE (the file seatlockd was "
              "started with)\n";
    } else {
      err_ << "seatctl: " << what << ": authentication failed at " << where << ": the token in "
           << options_.token_file << " is not the server's; check --auth-token-file\n";
    }
    return kExitUsage;
  }
  const bool protocol_error = resp->code() == wire::BAD_FRAME || resp->code() == wire::UNKNOWN_OP;
  if (options_.json) out_ << ToJson(*resp) << "\n";
  err_ << "seatctl: " << what << ": " << code;
  if (!resp->detail().empty()) err_ << ": " << resp->detail();
  err_ << "\n  " << HintFor(resp->code()) << "\n";
  return protocol_error ? kExitUsage : kExitRefused;
}

std::string HintFor(wire::ResultCode code) {
  switch (code) {
    case wire::OK:
      return "done";
    case wire::SEAT_UNAVAILABLE:
      return "some seats are held or sold (listed below); pick others, or look with 'seatctl seats "
             "E SECTION'";
    case wire::UNKNOWN_SEAT:
      return "no such section, row or seat; see the sections with 'seatctl event E' and a "
             "section's seats with "
             "'seatctl seats E SECTION'";
    case wire::EVENT_NOT_FOUND:
      return "no such event; list the events with 'seatctl events'";
    case wire::EVENT_EXISTS:
      return "the event exists with another layout; events cannot be changed or deleted, so use a "
             "new event id";
    case wire::HOLD_NOT_FOUND:
      return "no such hold: it was released, confirmed or purged, or never existed; list live "
             "holds with "
             "'seatctl holds E'";
    case wire::NOT_HOLDER:
      return "the hold belongs to another holder; pass the --holder it was made with (see 'seatctl "
             "holds E')";
    case wire::HOLD_EXPIRED:
      return "the hold's deadline has passed; 'seatctl confirm' can still sell its seats if they "
             "are free";
    case wire::HOLD_EXPIRED_SEATS_TAKEN:
      return "the hold lapsed and a seat was taken since; nothing was sold: refund the buyer";
    case wire::IDEMPOTENCY_MISMATCH:
      return "this key was used with another hold, holder or payment ref; use a new --key, or the "
             "original "
             "arguments to get the first result back";
    case wire::NO_ADJACENT_SEATS:
      return "no block of seats together; allow scattered seats or ask for fewer";
    case wire::NOT_ENOUGH_SEATS:
      return "not enough free seats";
    case wire::LIMIT_EXCEEDED:
      return "a server limit was hit (seats per hold, TTL, label or layout size); see "
             "docs/protocol.md section 8";
    case wire::LIFETIME_EXCEEDED:
      return "the hold already runs to its maximum lifetime; confirm or release it";
    case wire::BOOKING_NOT_FOUND:
      return "no booking has this id; check the id (bookings are never deleted)";
    case wire::BOOKING_CANCELLED:
      return "the booking was already cancelled; nothing to do";
    case wire::INVALID_ARGUMENT:
      return "the server refused the request as invalid; see the detail above";
    case wire::CAPACITY_EXHAUSTED:
      return "the shard's hold or booking table is full; see 'seatctl stats'";
    case wire::IN_PROGRESS:
      return "the result is being made durable; retry with the same --key";
    case wire::UNAVAILABLE:
      return "the server cannot serve now (shutting down, or its log failed); check seatlockd's "
             "log";
    case wire::UNAUTHENTICATED:
      return "pass --auth-token-file with the server's token";
    case wire::INTERNAL:
      return "a server bug; check seatlockd's log and report it";
    case wire::SOLD_OUT:
      return "the event is sold out: no free seats and no live holds";
    case wire::PASS_INVALID:
      return "the event has a waiting room: hold with --pass, the pass 'seatctl room status' shows "
             "once admitted";
    case wire::ROOM_NOT_FOUND:
      return "the event has no waiting room; create one with 'seatctl room configure E'";
    case wire::NOT_IN_QUEUE:
      return "no such queue number for this --buyer; join with 'seatctl room join E'";
    case wire::RESOURCE_EXHAUSTED:
      return "the server is over its memory guard (--max_memory); confirms, releases and reads "
             "still work; see 'seatctl stats'";
    case wire::NOT_PRIMARY:
      return "this node is a replica (or lost its lease); send it to the primary: 'seatctl info' "
             "names it, 'seatctl cluster' shows the group";
    case wire::EVENT_HAS_LIVE_HOLDS:
      return "nothing was deleted; list the holds with 'seatctl holds E', or add --force to "
             "release them";
    case wire::BAD_FRAME:
    case wire::UNKNOWN_OP:
      return "the server did not understand the request: is it an older seatlockd? compare "
             "'seatctl info'";
    default:
      return "unexpected result code; see docs/protocol.md section 7";
  }
}

}  // namespace seatlock::tools
