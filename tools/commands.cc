#include "tools/commands.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/str_error.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tools/command_util.h"
#include "tools/format.h"
#include "tools/seat_map.h"

namespace seatlock::tools {
namespace {

// A hold or booking id: decimal, or hex with 0x. Never 0.
bool ParseId(const std::string& text, uint64_t* id) {
  bool ok = false;
  if (text.rfind("0x", 0) == 0 || text.rfind("0X", 0) == 0) {
    ok = absl::SimpleHexAtoi(text.substr(2), id);
  } else {
    ok = absl::SimpleAtoi(text, id);
  }
  return ok && *id != 0;
}

// "SECTION/ROW/SEAT" -> a SeatRef with labels.
bool ParseSeat(const std::string& text, wire::SeatRef* ref) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  if (parts.size() != 3) return false;
  for (const std::string& p : parts) {
    if (p.empty()) return false;
  }
  *ref = SeatAt(parts[0], parts[1], parts[2]);
  return true;
}

// Flags that name a holder, key, ... must not be empty: the server treats
// an empty one as a malformed request and closes the connection.
bool NonEmptyFlags(Session& s, const std::string& command, const ParsedArgs& args,
                   std::initializer_list<const char*> flags) {
  for (const char* f : flags) {
    if (args.Get(f).empty()) {
      UsageError(s, command, absl::StrCat("--", f, " must not be empty"));
      return false;
    }
  }
  return true;
}

void PrintConflicts(std::ostream& os,
                    const google::protobuf::RepeatedPtrField<wire::SeatConflict>& conflicts) {
  const int64_t now = NowUnixMs();
  for (const wire::SeatConflict& c : conflicts) {
    os << "  " << SeatString(c.seat()) << " is ";
    if (c.state() == wire::HELD) {
      os << "held until " << FormatClock(c.held_until_ms()) << " ("
         << FormatDuration(c.held_until_ms() - now) << " from now)\n";
    } else {
      os << wire::SeatState_Name(c.state()) << "\n";
    }
  }
}

}  // namespace

int RunPing(const ParsedArgs&, Session& s) {
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_ping();
  wire::Response resp;
  const auto t0 = std::chrono::steady_clock::now();
  if (int rc = s.Call(std::move(req), &resp, "ping")) return rc;
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  s.out() << absl::StrFormat("pong from %s:%d in %.2f ms (server clock %s)\n", s.options().host,
                             s.options().port, ms, FormatUtc(resp.ping().server_time_ms()));
  return kExitOk;
}

int RunInfo(const ParsedArgs&, Session& s) {
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_stats();
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, "info")) return rc;
  const wire::HelloReply& h = s.hello();
  const wire::StatsReply& st = resp.stats();
  if (s.options().json) {
    google::protobuf::Struct doc;
    auto& f = *doc.mutable_fields();
    f["addr"] = JsonString(absl::StrCat(s.options().host, ":", s.options().port));
    f["hello"] = ToJsonValue(h);
    f["stats"] = ToJsonValue(st);
    PrintJson(s, doc);
    return kExitOk;
  }
  std::vector<std::string> ports;
  for (uint32_t p : h.shard_ports()) ports.push_back(absl::StrCat(p));
  Table t({{"seatlockd " + h.server_version()},
           {absl::StrCat("at ", s.options().host, ":", s.options().port)}});
  t.AddRow({"protocol version", absl::StrCat(h.protocol_version())});
  t.AddRow({"role", h.role().empty() ? "standalone" : h.role()});
  if (!h.node_id().empty()) {
    t.AddRow({"node id", h.node_id()});
    t.AddRow({"epoch", absl::StrCat(h.epoch())});
    t.AddRow({"primary", h.primary_address().empty() ? "(not known)" : h.primary_address()});
  }
  t.AddRow({"uptime", FormatDuration(st.uptime_ms())});
  t.AddRow({"shards", absl::StrCat(h.shard_count())});
  t.AddRow({"shard ports", absl::StrJoin(ports, " ")});
  t.AddRow({"io backend", st.io_backend()});
  t.AddRow({"auth required", h.auth_required() ? "yes" : "no"});
  t.AddRow({"hash seed", absl::StrCat("0x", absl::Hex(h.hash_seed(), absl::kZeroPad16))});
  t.AddRow({"max frame bytes", absl::StrCat(h.max_frame_bytes())});
  t.AddRow({"max in flight", absl::StrCat(h.max_in_flight())});
  uint64_t live = 0;
  uint64_t bookings = 0;
  uint64_t connections = 0;
  for (const wire::ShardStats& sh : st.shards()) {
    live += sh.live_holds();
    bookings += sh.bookings();
    connections += sh.connections();
  }
  t.AddRow({"live holds", absl::StrCat(live)});
  t.AddRow({"bookings", absl::StrCat(bookings)});
  t.AddRow({"connections", absl::StrCat(connections)});
  s.out() << t.Render();
  return kExitOk;
}

int RunEvents(const ParsedArgs&, Session& s) {
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_list_events();
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, "events")) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  const auto& events = resp.list_events().events();
  if (events.empty()) {
    s.out() << "no events defined (define one with 'seatctl define-event E --layout FILE')\n";
    return kExitOk;
  }
  Table t({{"EVENT"},
           {"TOTAL", true},
           {"FREE", true},
           {"HELD", true},
           {"SOLD", true},
           {"SOLD%", true}});
  for (const wire::EventSummary& e : events) {
    t.AddRow({e.event_id(), absl::StrCat(e.total()), absl::StrCat(e.free()), absl::StrCat(e.held()),
              absl::StrCat(e.sold()), FormatPercent(e.sold(), e.total())});
  }
  s.out() << t.Render();
  return kExitOk;
}

int RunEvent(const ParsedArgs& args, Session& s) {
  const std::string& event = args.positional()[0];
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_get_availability()->set_event_id(event);
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("event ", event))) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  const wire::GetAvailabilityReply& a = resp.get_availability();
  s.out() << "event " << event << ": " << a.total() << " seats, " << a.free() << " free, "
          << a.held() << " held, " << a.sold() << " sold (" << FormatPercent(a.sold(), a.total())
          << " sold)\n\n";
  Table t({{"SECTION"},
           {"SHARD", true},
           {"TOTAL", true},
           {"FREE", true},
           {"HELD", true},
           {"SOLD", true},
           {"SOLD%", true}});
  for (const wire::SectionAvailability& sec : a.sections()) {
    t.AddRow({sec.section(), absl::StrCat(sec.shard()), absl::StrCat(sec.total()),
              absl::StrCat(sec.free()), absl::StrCat(sec.held()), absl::StrCat(sec.sold()),
              FormatPercent(sec.sold(), sec.total())});
  }
  s.out() << t.Render();
  return kExitOk;
}

int RunSeats(const ParsedArgs& args, Session& s) {
  const std::string& event = args.positional()[0];
  const std::string& section = args.positional()[1];
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_get_seats()->set_event_id(event);
  req.mutable_get_seats()->set_section(section);
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("seats ", event, " ", section)))
    return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  s.out() << RenderSeatMap(event, resp.get_seats());
  return kExitOk;
}

int RunHolds(const ParsedArgs& args, Session& s) {
  const std::string event = args.positional().empty() ? "" : args.positional()[0];
  uint32_t limit = 0;
  if (args.Has("limit") && (!absl::SimpleAtoi(args.Get("limit"), &limit) || limit == 0)) {
    return UsageError(
        s, "holds", absl::StrCat("bad --limit '", args.Get("limit"), "': write a number above 0"));
  }
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  auto* lh = req.mutable_list_holds();
  lh->set_event_id(event);
  lh->set_holder(args.Get("holder"));
  lh->set_limit(limit);
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, "holds")) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  const wire::ListHoldsReply& reply = resp.list_holds();
  std::string scope = event.empty() ? "any event" : absl::StrCat("event ", event);
  if (!args.Get("holder").empty()) absl::StrAppend(&scope, ", holder ", args.Get("holder"));
  if (reply.holds().empty()) {
    s.out() << "no live holds (" << scope << ")\n";
    return kExitOk;
  }
  std::vector<Table::Column> cols = {{"HOLD ID"},        {"HOLDER"},  {"SEATS"},
                                     {"TTL LEFT", true}, {"EXPIRES"}, {"FENCING", true}};
  if (event.empty()) cols.insert(cols.begin() + 1, Table::Column{"EVENT"});
  Table t(cols);
  for (const wire::HoldInfo& h : reply.holds()) {
    std::vector<std::string> row = {absl::StrCat(h.hold_id()),   h.holder(),
                                    SeatListString(h.seats()),   FormatDuration(h.remaining_ms()),
                                    FormatClock(h.expires_ms()), absl::StrCat(h.fencing_token())};
    if (event.empty()) row.insert(row.begin() + 1, h.event_id());
    t.AddRow(std::move(row));
  }
  s.out() << t.Render() << "\n"
          << Plural(static_cast<uint64_t>(reply.holds_size()), "live hold", "live holds") << " ("
          << scope << ")";
  if (reply.truncated()) s.out() << "; more exist: raise --limit or filter with --holder";
  s.out() << "\n";
  return kExitOk;
}

int RunHold(const ParsedArgs& args, Session& s) {
  const std::string& event = args.positional()[0];
  int64_t ttl_ms = 0;
  if (!ParsePositive(args.Get("ttl-ms"), &ttl_ms)) {
    return UsageError(
        s, "hold",
        absl::StrCat("bad --ttl-ms '", args.Get("ttl-ms"), "': write milliseconds above 0"));
  }
  if (!NonEmptyFlags(s, "hold", args, {"holder"})) return kExitUsage;
  wire::Request req;
  auto* h = req.mutable_hold();
  h->set_event_id(event);
  h->set_holder(args.Get("holder"));
  h->set_ttl_ms(ttl_ms);
  h->set_pass(args.Get("pass"));
  for (size_t i = 1; i < args.positional().size(); ++i) {
    if (!ParseSeat(args.positional()[i], h->add_seats())) {
      return UsageError(s, "hold",
                        absl::StrCat("bad seat '", args.positional()[i],
                                     "': write SECTION/ROW/SEAT, e.g. 103/F/12"));
    }
  }
  if (int rc = s.Connect()) return rc;
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, "hold")) {
    if (resp.has_hold()) PrintConflicts(s.err(), resp.hold().conflicts());
    return rc;
  }
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  const wire::HoldReply& r = resp.hold();
  s.out() << "held " << Plural(static_cast<uint64_t>(r.seats_size()), "seat", "seats") << ": "
          << SeatListString(r.seats()) << "\n";
  Table t({{"  hold id"}, {absl::StrCat(r.hold_id())}});
  t.AddRow({"  holder", args.Get("holder")});
  t.AddRow({"  fencing token", absl::StrCat(r.fencing_token())});
  t.AddRow({"  expires", absl::StrCat(FormatClock(r.expires_ms()), " (in ",
                                      FormatDuration(r.remaining_ms()), ")")});
  if (r.part_hold_ids_size() > 1) {
    t.AddRow({"  parts",
              absl::StrCat(absl::StrJoin(r.part_hold_ids(), " "),
                           " (the seats span shards: extend, release and confirm each part)")});
  }
  s.out() << t.Render();
  return kExitOk;
}

int RunExtend(const ParsedArgs& args, Session& s) {
  uint64_t hold_id = 0;
  int64_t ttl_ms = 0;
  if (!ParseId(args.positional()[0], &hold_id)) {
    return UsageError(s, "extend",
                      absl::StrCat("bad HOLD_ID '", args.positional()[0],
                                   "': write the id 'seatctl "
                                   "hold' or 'seatctl holds' printed"));
  }
  if (!ParsePositive(args.Get("ttl-ms"), &ttl_ms)) {
    return UsageError(
        s, "extend",
        absl::StrCat("bad --ttl-ms '", args.Get("ttl-ms"), "': write milliseconds above 0"));
  }
  if (!NonEmptyFlags(s, "extend", args, {"holder"})) return kExitUsage;
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_extend()->set_hold_id(hold_id);
  req.mutable_extend()->set_holder(args.Get("holder"));
  req.mutable_extend()->set_ttl_ms(ttl_ms);
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("extend ", hold_id))) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  const wire::ExtendReply& r = resp.extend();
  s.out() << "hold " << hold_id << " now expires at " << FormatClock(r.expires_ms()) << " (in "
          << FormatDuration(r.remaining_ms()) << ")"
          << (r.capped() ? "; capped at the hold's maximum lifetime" : "") << "\n";
  return kExitOk;
}

int RunRelease(const ParsedArgs& args, Session& s) {
  uint64_t hold_id = 0;
  if (!ParseId(args.positional()[0], &hold_id)) {
    return UsageError(s, "release", absl::StrCat("bad HOLD_ID '", args.positional()[0], "'"));
  }
  if (!NonEmptyFlags(s, "release", args, {"holder"})) return kExitUsage;
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_release()->set_hold_id(hold_id);
  req.mutable_release()->set_holder(args.Get("holder"));
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("release ", hold_id))) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  s.out() << "hold " << hold_id << " released; its seats are free again\n";
  return kExitOk;
}

int RunConfirm(const ParsedArgs& args, Session& s) {
  uint64_t hold_id = 0;
  if (!ParseId(args.positional()[0], &hold_id)) {
    return UsageError(s, "confirm", absl::StrCat("bad HOLD_ID '", args.positional()[0], "'"));
  }
  if (!NonEmptyFlags(s, "confirm", args, {"holder", "key"})) return kExitUsage;
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  auto* c = req.mutable_confirm();
  c->set_hold_id(hold_id);
  c->set_holder(args.Get("holder"));
  c->set_idempotency_key(args.Get("key"));
  c->set_payment_ref(args.Get("payment-ref"));
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("confirm ", hold_id))) {
    if (resp.has_confirm() && resp.confirm().conflicts_size() > 0) {
      s.err() << "  seats taken since the hold lapsed:\n";
      PrintConflicts(s.err(), resp.confirm().conflicts());
    }
    return rc;
  }
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  const wire::ConfirmReply& r = resp.confirm();
  s.out() << "booking " << r.booking_id() << " confirmed: " << SeatListString(r.seats()) << "\n";
  Table t({{"  booking id"}, {absl::StrCat(r.booking_id())}});
  t.AddRow({"  fencing token", absl::StrCat(r.fencing_token())});
  t.AddRow({"  confirmed at", FormatClock(r.confirmed_ms())});
  s.out() << t.Render();
  if (r.replayed())
    s.out() << "  (replayed: this key was confirmed before; this is the first result)\n";
  if (r.hold_lapsed())
    s.out() << "  (the hold had lapsed, but its seats were still free, so they are sold)\n";
  return kExitOk;
}

int RunCancelBooking(const ParsedArgs& args, Session& s) {
  uint64_t booking_id = 0;
  if (!ParseId(args.positional()[0], &booking_id)) {
    return UsageError(s, "cancel-booking",
                      absl::StrCat("bad BOOKING_ID '", args.positional()[0], "'"));
  }
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_cancel_booking()->set_booking_id(booking_id);
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("cancel-booking ", booking_id)))
    return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  s.out() << "booking " << booking_id << " cancelled; its seats are free again\n";
  return kExitOk;
}

int RunDefineEvent(const ParsedArgs& args, Session& s) {
  const std::string& event = args.positional()[0];
  const std::string& path = args.Get("layout");
  std::ifstream in(path);
  if (!in) {
    return UsageError(s, "define-event",
                      absl::StrCat("cannot read --layout ", path, ": ", StrError(errno)));
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  wire::DefineEventRequest layout;
  if (auto st = google::protobuf::util::JsonStringToMessage(text, &layout); !st.ok()) {
    return UsageError(
        s, "define-event",
        absl::StrCat("cannot parse layout ", path, ": ", st.message().as_string(),
                     "; it must be protobuf JSON of seatlock.wire.DefineEventRequest, as in "
                     "docs/layout-example.json"));
  }
  if (!layout.event_id().empty() && layout.event_id() != event) {
    return UsageError(s, "define-event",
                      absl::StrCat("layout ", path, " is for event '", layout.event_id(),
                                   "' but the command names '", event,
                                   "'; drop event_id from the file or use the same id"));
  }
  layout.set_event_id(event);
  if (layout.sections().empty()) {
    return UsageError(s, "define-event", absl::StrCat("layout ", path, " has no sections"));
  }
  uint64_t rows = 0;
  uint64_t seats = 0;
  for (const auto& sec : layout.sections()) {
    rows += static_cast<uint64_t>(sec.rows_size());
    for (const auto& row : sec.rows()) {
      seats += row.seat_labels_size() > 0 ? static_cast<uint64_t>(row.seat_labels_size())
                                          : row.seat_count();
    }
  }
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  *req.mutable_define_event() = layout;
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("define-event ", event))) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  s.out() << "event " << event << " defined: "
          << Plural(static_cast<uint64_t>(layout.sections_size()), "section", "sections") << ", "
          << Plural(rows, "row", "rows") << ", " << Plural(seats, "seat", "seats")
          << " (an identical layout sent again is a no-op)\n";
  return kExitOk;
}

int RunDeleteEvent(const ParsedArgs& args, Session& s) {
  const std::string& event = args.positional()[0];
  const bool force = args.GetBool("force");
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_delete_event()->set_event_id(event);
  req.mutable_delete_event()->set_force(force);
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, absl::StrCat("delete-event ", event))) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  s.out() << "event " << event << " deleted: "
          << Plural(resp.delete_event().holds_released(), "live hold released",
                    "live holds released")
          << ", " << Plural(resp.delete_event().bookings_dropped(), "booking", "bookings")
          << " dropped from memory (the log keeps them for audit; the id may be defined again)\n";
  return kExitOk;
}

int RunCluster(const ParsedArgs& args, Session& s) {
  std::vector<std::string> todo(args.positional().begin(), args.positional().end());
  if (todo.empty()) todo.push_back(absl::StrCat(s.options().host, ":", s.options().port));
  struct Seen {
    std::string addr;
    wire::HelloReply hello;
    wire::StatsReply stats;
    std::string error;
  };
  std::vector<Seen> seen;
  for (size_t i = 0; i < todo.size() && i < 16; ++i) {
    const std::string addr = todo[i];
    Seen n{addr, {}, {}, ""};
    const size_t colon = addr.rfind(':');
    ClientOptions o;
    o.host = colon == std::string::npos ? addr : addr.substr(0, colon);
    o.port = colon == std::string::npos
                 ? 7400
                 : static_cast<uint16_t>(std::atoi(addr.c_str() + colon + 1));
    o.shard_aware = false;
    o.auth_token = s.options().auth_token;
    o.call_timeout_ms = s.options().timeout_ms;
    o.connect_timeout_ms = std::min<int64_t>(s.options().timeout_ms, 1000);
    o.client_name = "seatctl";
    auto c = Client::Connect(o);
    if (!c.ok()) {
      n.error = std::string(c.status().message());
    } else {
      n.hello = (*c)->hello();
      auto st = (*c)->Stats();
      if (st.ok() && st->code() == wire::OK) {
        n.stats = st->stats();
      } else {
        n.error = st.ok() ? st->detail() : std::string(st.status().message());
      }
      const std::string& primary = n.hello.primary_address();
      if (!primary.empty() && std::find(todo.begin(), todo.end(), primary) == todo.end()) {
        todo.push_back(primary);
      }
    }
    seen.push_back(std::move(n));
  }
  const Seen* primary = nullptr;
  for (const Seen& n : seen) {
    if (n.error.empty() && n.stats.role() == "primary") primary = &n;
  }
  if (s.options().json) {
    google::protobuf::Struct doc;
    auto* nodes = (*doc.mutable_fields())["nodes"].mutable_list_value();
    for (const Seen& n : seen) {
      google::protobuf::Struct one;
      auto& f = *one.mutable_fields();
      f["addr"] = JsonString(n.addr);
      if (!n.error.empty()) {
        f["error"] = JsonString(n.error);
      } else {
        f["hello"] = ToJsonValue(n.hello);
        f["stats"] = ToJsonValue(n.stats);
      }
      *nodes->add_values()->mutable_struct_value() = one;
    }
    PrintJson(s, doc);
    return primary != nullptr ? kExitOk : kExitRefused;
  }
  Table t({{"node"}, {"address"}, {"role"}, {"epoch"}, {"primary"}});
  for (const Seen& n : seen) {
    if (!n.error.empty()) {
      t.AddRow({"?", n.addr, "unreachable: " + n.error, "", ""});
      continue;
    }
    t.AddRow({n.hello.node_id().empty() ? "-" : n.hello.node_id(), n.addr,
              n.stats.role().empty() ? "standalone" : n.stats.role(), absl::StrCat(n.stats.epoch()),
              n.hello.primary_address()});
  }
  s.out() << t.Render();
  if (primary == nullptr) {
    s.err() << "seatctl: cluster: no node answered as primary (a failover may be under way)\n";
    return kExitRefused;
  }
  s.out() << "\nsynchronous replica: "
          << (primary->stats.sync_replica().empty() ? "(none yet: CONFIRMs wait)"
                                                    : primary->stats.sync_replica())
          << "\n";
  Table lag({{"replica"}, {"shard"}, {"acked LSN"}, {"lag records"}, {"lag ms"}, {"connected"}});
  for (const wire::ReplicaStatus& r : primary->stats.replicas()) {
    for (int i = 0; i < r.acked_lsn_size(); ++i) {
      lag.AddRow({r.node_id(), absl::StrCat(i), absl::StrCat(r.acked_lsn(i)),
                  absl::StrCat(r.lag_records(i)), absl::StrCat(r.lag_ms(i)),
                  r.connected(i) ? "yes" : "no"});
    }
  }
  s.out() << lag.Render();
  return kExitOk;
}

}  // namespace seatlock::tools
