// seatctl's waiting-room commands (docs/waiting-room.md): room show, room
// configure, room join, room status, room leave. Declared in commands.h;
// main thread only.
#include <algorithm>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/format.h"

namespace seatlock::tools {
namespace {

// A flag that holds a count or milliseconds: empty (unset) is fine, else
// an integer >= `min`.
bool FlagInt(const ParsedArgs& args, const char* flag, int64_t min, int64_t* out) {
  if (!args.Has(flag)) return true;
  return absl::SimpleAtoi(args.Get(flag), out) && *out >= min;
}

bool ParseNumber(const std::string& text, uint64_t* n) {
  return absl::SimpleAtoi(text, n) && *n > 0;
}

std::string StateName(wire::QueueState s) {
  switch (s) {
    case wire::QUEUE_WAITING:
      return "waiting";
    case wire::QUEUE_ADMITTED:
      return "admitted";
    case wire::QUEUE_LAPSED:
      return "lapsed (did not poll within the grace period; the place is lost)";
    case wire::QUEUE_LEFT:
      return "left";
    case wire::QUEUE_PASS_EXPIRED:
      return "pass expired";
    case wire::QUEUE_DONE:
      return "done (bought with the pass)";
    case wire::QUEUE_SOLD_OUT:
      return "sold out";
    default:
      return "unknown";
  }
}

}  // namespace

int RunRoom(const ParsedArgs& args, Session& s) {
  const std::string& event = args.positional()[0];
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_room_info()->set_event_id(event);
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("room show ", event))) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  const wire::RoomInfoReply& r = resp.room_info();
  const wire::RoomConfig& c = r.config();
  s.out() << "waiting room of " << event << " (home shard " << r.home_shard() << "): "
          << (r.sold_out()  ? "SOLD OUT"
              : !r.opened() ? "not open yet"
              : r.paused()  ? "paused (no free seats)"
                            : "open")
          << "\n";
  Table t({{"  mode"},
           {c.mode() == wire::ADMIT_CAPACITY
                ? absl::StrCat("capacity: at most ", c.max_active(), " admitted at once")
                : absl::StrCat("rate: ", c.rate_per_sec(), " buyers/s")}});
  t.AddRow({"  batch", absl::StrCat(c.batch_size())});
  t.AddRow({"  on sale", c.on_sale_ms() == 0 ? "at once" : FormatClock(c.on_sale_ms())});
  t.AddRow({"  pass lifetime", FormatDuration(c.pass_ttl_ms())});
  t.AddRow(
      {"  grace", c.grace_ms() < 0 ? "none (places never lapse)" : FormatDuration(c.grace_ms())});
  t.AddRow({"  seats per pass", absl::StrCat(c.max_seats_per_pass())});
  t.AddRow({"  max queue", absl::StrCat(c.max_queue())});
  t.AddRow({"  joined", absl::StrCat(r.joined())});
  t.AddRow({"  waiting", absl::StrCat(r.waiting())});
  t.AddRow({"  admitted now", absl::StrCat(r.admitted(), " (", r.admitted_total(), " in all)")});
  t.AddRow({"  done / left / lapsed / passes expired",
            absl::StrCat(r.done(), " / ", r.left(), " / ", r.lapsed(), " / ", r.pass_expired())});
  t.AddRow({"  admission rate",
            absl::StrCat(static_cast<int64_t>(r.admit_rate_per_sec()), " buyers/s (last 30 s)")});
  t.AddRow({"  memory", absl::StrCat(r.memory_bytes() / 1024, " KiB")});
  s.out() << t.Render();
  return kExitOk;
}

int RunRoomConfigure(const ParsedArgs& args, Session& s) {
  const std::string& event = args.positional()[0];
  const std::string mode = args.Has("mode") ? args.Get("mode") : "rate";
  if (mode != "rate" && mode != "capacity") {
    return UsageError(s, "room configure",
                      absl::StrCat("bad --mode '", mode, "': write rate or capacity"));
  }
  int64_t rate = 0, max_active = 0, batch = 0, on_sale = 0, pass_ttl = 0, grace = 0, seats = 0,
          max_queue = 0;
  if (!FlagInt(args, "rate", 1, &rate) || !FlagInt(args, "max-active", 1, &max_active) ||
      !FlagInt(args, "batch", 1, &batch) || !FlagInt(args, "on-sale-ms", 0, &on_sale) ||
      !FlagInt(args, "pass-ttl-ms", 1, &pass_ttl) || !FlagInt(args, "grace-ms", -1, &grace) ||
      !FlagInt(args, "max-seats", 1, &seats) || !FlagInt(args, "max-queue", 1, &max_queue)) {
    return UsageError(s, "room configure",
                      "counts and milliseconds must be whole numbers above 0 "
                      "(--on-sale-ms may be 0, --grace-ms -1)");
  }
  if (mode == "rate" && rate == 0) return UsageError(s, "room configure", "rate mode needs --rate");
  if (mode == "capacity" && max_active == 0)
    return UsageError(s, "room configure", "capacity mode needs --max-active");
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  auto* cr = req.mutable_configure_room();
  cr->set_event_id(event);
  auto* c = cr->mutable_config();
  c->set_mode(mode == "capacity" ? wire::ADMIT_CAPACITY : wire::ADMIT_RATE);
  c->set_rate_per_sec(static_cast<uint32_t>(rate));
  c->set_max_active(static_cast<uint32_t>(max_active));
  c->set_batch_size(static_cast<uint32_t>(batch));
  c->set_on_sale_ms(on_sale);
  c->set_pass_ttl_ms(pass_ttl);
  c->set_grace_ms(grace);
  c->set_max_seats_per_pass(static_cast<uint32_t>(seats));
  c->set_max_queue(static_cast<uint32_t>(std::min<int64_t>(max_queue, 0xffffffffLL)));
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("room configure ", event))) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  s.out() << "waiting room of " << event << " configured; holds on it now need a pass\n";
  return kExitOk;
}

int RunRoomJoin(const ParsedArgs& args, Session& s) {
  const std::string& event = args.positional()[0];
  if (args.Get("buyer").empty()) return UsageError(s, "room join", "--buyer must not be empty");
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_join_queue()->set_event_id(event);
  req.mutable_join_queue()->set_buyer_key(args.Get("buyer"));
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("room join ", event))) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  s.out() << "queue number " << resp.join_queue().number()
          << (resp.join_queue().rejoined() ? " (joined before)" : "") << ", joined "
          << FormatClock(resp.join_queue().joined_ms()) << "\n";
  return kExitOk;
}

int RunRoomStatus(const ParsedArgs& args, Session& s) {
  const std::string& event = args.positional()[0];
  uint64_t number = 0;
  if (!ParseNumber(args.positional()[1], &number)) {
    return UsageError(s, "room status", absl::StrCat("bad NUMBER '", args.positional()[1], "'"));
  }
  if (args.Get("buyer").empty()) return UsageError(s, "room status", "--buyer must not be empty");
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_queue_status()->set_event_id(event);
  req.mutable_queue_status()->set_number(number);
  req.mutable_queue_status()->set_buyer_key(args.Get("buyer"));
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("room status ", event))) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  const wire::QueueStatusReply& q = resp.queue_status();
  s.out() << "number " << q.number() << ": " << StateName(q.state()) << "\n";
  if (q.state() == wire::QUEUE_WAITING) {
    s.out() << "  " << q.position() << " ahead; estimated wait " << FormatDuration(q.eta_p50_ms())
            << " (p90 " << FormatDuration(q.eta_p90_ms()) << ")"
            << (q.paused() ? "; paused: no free seats now" : "") << "\n";
  } else if (q.state() == wire::QUEUE_ADMITTED) {
    s.out() << "  pass " << q.pass() << "\n  valid until " << FormatClock(q.pass_expires_ms())
            << ", for " << q.seats_left() << " more seats\n";
  }
  return kExitOk;
}

int RunRoomLeave(const ParsedArgs& args, Session& s) {
  const std::string& event = args.positional()[0];
  uint64_t number = 0;
  if (!ParseNumber(args.positional()[1], &number)) {
    return UsageError(s, "room leave", absl::StrCat("bad NUMBER '", args.positional()[1], "'"));
  }
  if (args.Get("buyer").empty()) return UsageError(s, "room leave", "--buyer must not be empty");
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_leave_queue()->set_event_id(event);
  req.mutable_leave_queue()->set_number(number);
  req.mutable_leave_queue()->set_buyer_key(args.Get("buyer"));
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("room leave ", event))) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  s.out() << "number " << number << " left the waiting room of " << event << "\n";
  return kExitOk;
}

}  // namespace seatlock::tools
