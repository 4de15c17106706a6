// seatctl: the operator's command line for seatlockd. This file declares the
// commands (names, arguments, flags, help) and dispatches to them; the
// online commands are in commands.cc, the offline WAL commands in
// wal_inspect.cc. Exit codes: 0 ok, 1 the server refused (a domain result
// code) or `wal` found damage, 2 usage, connection or authentication errors.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "tools/args.h"
#include "tools/commands.h"
#include "tools/session.h"
#include "tools/wal_inspect.h"

namespace seatlock::tools {
namespace {

using OfflineCommand = int (*)(const std::string& dir, bool json, std::ostream& out,
                               std::ostream& err);

struct Command {
  CommandSpec spec;
  OnlineCommand online = nullptr;
  OfflineCommand offline = nullptr;
};

const FlagSpec kHolder{"holder", "H", "the holder name the hold was made with", "", true};

std::vector<Command> Commands() {
  return {
      {{.name = "ping",
        .summary = "Check that seatlockd answers, and how fast",
        .details = "Example:\n  seatctl ping\n  pong from 127.0.0.1:7400 in 0.21 ms (server clock "
                   "2025-06-01T12:00:00.123Z)",
        .max_args = 0},
       RunPing},
      {{.name = "info",
        .summary =
            "Server version, uptime, shards and their ports, I/O backend, protocol and limits",
        .details = "From HELLO and STATS.\n\nExample:\n  seatctl --addr 10.0.0.5:7400 info",
        .max_args = 0},
       RunInfo},
      {{.name = "events",
        .summary = "Every event with its seat counts: total, free, held, sold",
        .details = "Example:\n  seatctl events",
        .max_args = 0},
       RunEvents},
      {{.name = "event",
        .arguments = "E",
        .summary = "One event's seat counts per section, with the shard that owns each section",
        .details = "Example:\n  seatctl event arena-2025-06-01",
        .min_args = 1,
        .max_args = 1},
       RunEvent},
      {{.name = "seats",
        .arguments = "E SECTION",
        .summary = "A seat map of one section: one line per row, one character per seat",
        .details = "Rows are drawn nearest the stage first. '.' free, 'h' held, 'X' sold; seats\n"
                   "are grouped by ten, with the first seat number of each group above.\n\n"
                   "Example:\n  seatctl seats arena-2025-06-01 101",
        .min_args = 2,
        .max_args = 2},
       RunSeats},
      {{.name = "holds",
        .arguments = "[E]",
        .summary = "Live holds: id, holder, seats, remaining TTL, fencing token",
        .details = "Without E, the holds of every event. Lapsed holds are not listed.\n\n"
                   "Example:\n  seatctl holds arena-2025-06-01 --holder buyer-17",
        .flags = {{"holder", "H", "only this holder's holds"},
                  {"limit", "N", "at most N holds (the server's default is 1000)"}},
        .max_args = 1},
       RunHolds},
      {{.name = "hold",
        .arguments = "E SEAT...",
        .summary = "Hold seats (all or none) for a holder, for TTL milliseconds",
        .details = "SEAT is SECTION/ROW/SEAT, e.g. 101/C/7. Prints the hold id and fencing token;\n"
                   "when the seats span shards, one part id per shard (extend, release and\n"
                   "confirm each). A refusal lists the seats that are taken.\n\n"
                   "Example:\n  seatctl hold arena-2025-06-01 101/C/7 101/C/8 --holder ops-fix-42 "
                   "--ttl-ms 600000",
        .flags = {{"holder", "H", "who holds the seats", "", true},
                  {"ttl-ms", "T", "how long the hold lasts, in milliseconds", "", true},
                  {"pass", "P",
                   "admission pass ('seatctl room status'), when the event has a waiting room"}},
        .min_args = 2},
       RunHold},
      {{.name = "extend",
        .arguments = "HOLD_ID",
        .summary = "Set a hold's deadline to now + TTL (only its holder can)",
        .details =
            "Example:\n  seatctl extend 72057594037927937 --holder ops-fix-42 --ttl-ms 600000",
        .flags = {kHolder, {"ttl-ms", "T", "the new TTL from now, in milliseconds", "", true}},
        .min_args = 1,
        .max_args = 1},
       RunExtend},
      {{.name = "release",
        .arguments = "HOLD_ID",
        .summary = "Release a hold: its seats become free (only its holder can)",
        .details = "Example:\n  seatctl release 72057594037927937 --holder ops-fix-42",
        .flags = {kHolder},
        .min_args = 1,
        .max_args = 1},
       RunRelease},
      {{.name = "confirm",
        .arguments = "HOLD_ID",
        .summary = "Sell a hold's seats: turn it into a booking (idempotent on --key)",
        .details =
            "Running it again with the same --key, holder and payment ref returns the first\n"
            "result (marked replayed). A hold that lapsed is still sold if its seats are\n"
            "free; otherwise HOLD_EXPIRED_SEATS_TAKEN (exit 1): refund the buyer.\n\n"
            "Example:\n  seatctl confirm 72057594037927937 --holder ops-fix-42 --key ops-fix-42 "
            "--payment-ref pi_3Nx",
        .flags = {kHolder,
                  {"key", "K", "idempotency key", "", true},
                  {"payment-ref", "P", "payment reference stored with the booking"}},
        .min_args = 1,
        .max_args = 1},
       RunConfirm},
      {{.name = "cancel-booking",
        .arguments = "BOOKING_ID",
        .summary = "Cancel a booking (a refund): its seats become free",
        .details = "Example:\n  seatctl cancel-booking 72057594037927938",
        .min_args = 1,
        .max_args = 1},
       RunCancelBooking},
      {{.name = "define-event",
        .arguments = "E",
        .summary = "Define an event from a JSON layout file",
        .details =
            "The layout is protobuf JSON of seatlock.wire.DefineEventRequest: sections,\n"
            "each with rows nearest the stage first, each row with seat_count (seats\n"
            "1..n) or seat_labels. event_id may be left out (E is used). See\n"
            "docs/layout-example.json and docs/seatctl.md. Sending the same layout\n"
            "again is a no-op; another layout for an existing event is EVENT_EXISTS.\n\n"
            "Example:\n  seatctl define-event arena-2025-06-01 --layout docs/layout-example.json",
        .flags = {{"layout", "FILE", "the layout (JSON)", "", true}},
        .min_args = 1,
        .max_args = 1},
       RunDefineEvent},
      {{.name = "delete-event",
        .arguments = "E",
        .summary = "Delete an event: its seats, holds, bookings and waiting room",
        .details = "Frees everything the server keeps for E and logs the deletion, so it survives\n"
                   "a restart. Refused with EVENT_HAS_LIVE_HOLDS (exit 1) while E has live holds;\n"
                   "--force releases them first (subscribers see the seats freed). Its bookings\n"
                   "and idempotency records are dropped: a late CONFIRM of one of its holds gets\n"
                   "HOLD_NOT_FOUND. The sales stay in the write-ahead log for audit ('seatctl wal\n"
                   "dump'). E may then be defined again; it starts with every seat free.\n\n"
                   "Example:\n  seatctl delete-event arena-2025-06-01 --force",
        .flags = {{"force", "", "release live holds instead of refusing"}},
        .min_args = 1,
        .max_args = 1},
       RunDeleteEvent},
      {{.name = "cluster",
        .arguments = "[NODE...]",
        .summary = "A replica group: each node's role and epoch, and the replicas' lag per shard",
        .details = "Asks each NODE (host:port of its main port; default --addr) for HELLO and\n"
                   "STATS, and the primary any replica names. The lag comes from the primary:\n"
                   "per replica and shard, the records durable on the primary that the replica\n"
                   "has not acknowledged, and for how long it has been behind.\n"
                   "Exit 1 when no node answers as primary.\n\n"
                   "Example:\n  seatctl cluster 10.0.0.5:7400 10.0.0.6:7400",
        .max_args = 16},
       RunCluster},
      {{.name = "stats",
        .summary = "Every per-shard counter and gauge, one column per shard",
        .details = "Example:\n  seatctl stats",
        .max_args = 0},
       RunStats},
      {{.name = "top",
        .summary =
            "Per-shard rates (requests, holds, expirations, confirms /s), refreshed until Ctrl-C",
        .details =
            "Rates are the STATS counter deltas over each interval. With --json, one JSON\n"
            "object per line per interval.\n\n"
            "Example:\n  seatctl top\n  seatctl top --iterations 5 --interval-ms 2000 > top.log",
        .flags = {{"iterations", "N", "stop after N refreshes (default: until Ctrl-C)"},
                  {"interval-ms", "MS", "time between refreshes", "1000"}},
        .max_args = 0},
       RunTop},
      {{.name = "room show",
        .arguments = "E",
        .summary = "An event's waiting room: config, queue counts, admission rate, memory",
        .details = "Example:\n  seatctl room show arena-2025-06-01",
        .min_args = 1,
        .max_args = 1},
       RunRoom},
      {{.name = "room configure",
        .arguments = "E",
        .summary = "Create or change an event's waiting room; from then on its holds need a pass",
        .details = "Unset flags take the server's defaults (batch 10, pass 10 min, grace 60 s,\n"
                   "6 seats per pass, on sale at once). See docs/waiting-room.md.\n\n"
                   "Example:\n  seatctl room configure arena-2025-06-01 --mode rate --rate 200 "
                   "--batch 20\n"
                   "  seatctl room configure arena-2025-06-01 --mode capacity --max-active 500",
        .flags = {{"mode", "M", "rate (N buyers a second) or capacity (at most N admitted at once)",
                   "rate"},
                  {"rate", "N", "rate mode: buyers admitted per second"},
                  {"max-active", "N", "capacity mode: buyers admitted at once"},
                  {"batch", "N", "buyers admitted together"},
                  {"on-sale-ms", "MS", "Unix ms the sale opens; joins before it are shuffled"},
                  {"pass-ttl-ms", "MS", "how long a pass lasts"},
                  {"grace-ms", "MS", "a waiting buyer must poll this often (-1: never lapse)"},
                  {"max-seats", "N", "seats one pass may hold in all"},
                  {"max-queue", "N", "buyers who may join in all (default 10,000,000)"}},
        .min_args = 1,
        .max_args = 1},
       RunRoomConfigure},
      {{.name = "room join",
        .arguments = "E",
        .summary = "Join an event's waiting room as a buyer; prints the queue number",
        .details = "Example:\n  seatctl room join arena-2025-06-01 --buyer user-17",
        .flags = {{"buyer", "K", "the buyer key (joining again returns the same number)", "",
                   true}},
        .min_args = 1,
        .max_args = 1},
       RunRoomJoin},
      {{.name = "room status",
        .arguments = "E NUMBER",
        .summary = "A queue number's position and estimated wait, or its admission pass",
        .details = "Counts as a poll: it keeps the buyer's place.\n\n"
                   "Example:\n  seatctl room status arena-2025-06-01 4711 --buyer user-17",
        .flags = {{"buyer", "K", "the buyer key that joined", "", true}},
        .min_args = 2,
        .max_args = 2},
       RunRoomStatus},
      {{.name = "room leave",
        .arguments = "E NUMBER",
        .summary = "Leave the waiting room (frees an admitted buyer's slot at once)",
        .details = "Example:\n  seatctl room leave arena-2025-06-01 4711 --buyer user-17",
        .flags = {{"buyer", "K", "the buyer key that joined", "", true}},
        .min_args = 2,
        .max_args = 2},
       RunRoomLeave},
      {{.name = "wal dump",
        .arguments = "DIR",
        .summary =
            "Offline: print every WAL record of a shard dir, or of every shard-* of a data dir",
        .details =
            "Needs no server and changes nothing. Per shard: the newest snapshot's records,\n"
            "then every log segment's, each with its LSN (log) and byte offset, type and\n"
            "decoded payload; seat positions are shown as SECTION/ROW/SEAT. With --json,\n"
            "one JSON object per record per line. Exit 1 if a record is damaged.\n\n"
            "Example:\n  seatctl wal dump ./data\n  seatctl wal dump ./data/shard-1 --json | jq "
            ".type",
        .min_args = 1,
        .max_args = 1},
       nullptr,
       WalDump},
      {{.name = "wal verify",
        .arguments = "DIR",
        .summary =
            "Offline: check every WAL record's checksum; report the first bad file and offset",
        .details =
            "Checks each record's header and checksum, that its payload decodes, and that\n"
            "the segments follow on without LSN gaps. Exit 0 with a per-shard summary, or\n"
            "1 naming the first damage per shard as FILE:OFFSET and what seatlockd will do.\n\n"
            "Example:\n  seatctl wal verify ./data",
        .min_args = 1,
        .max_args = 1},
       nullptr,
       WalVerify},
  };
}

int Main(int argc, char** argv) {
  const std::vector<Command> commands = Commands();
  std::vector<CommandSpec> specs;
  specs.reserve(commands.size());
  for (const Command& c : commands) specs.push_back(c.spec);
  const CommandLine cli(
      "seatctl",
      "seatctl: operate a seatlockd seat-lock server (and read its write-ahead log offline).",
      "Exit status: 0 ok; 1 the server refused the operation (e.g. SEAT_UNAVAILABLE,\n"
      "HOLD_NOT_FOUND) or 'wal' found damage; 2 usage, connection or authentication error.\n"
      "See docs/seatctl.md.",
      {{"addr", "HOST:PORT", "seatlockd's address (main port)", "127.0.0.1:7400"},
       {"auth-token-file", "F", "file with the server's auth token (seatlockd --auth_token_file)"},
       {"json", "", "machine-readable output (protobuf JSON of the reply)"},
       {"timeout-ms", "MS", "connect and per-request timeout", "5000"}},
      specs);
  const Invocation inv = cli.Parse(argc, argv);
  if (inv.help) {
    std::cout << cli.Help(inv);
    return kExitOk;
  }
  if (!inv.error.empty()) {
    std::cerr << "seatctl: " << inv.error << "\n";
    return kExitUsage;
  }
  auto options = GlobalOptionsFrom(inv.args);
  if (!options.ok()) {
    std::cerr << "seatctl: " << options.status().message() << "\n";
    return kExitUsage;
  }
  for (const Command& c : commands) {
    if (c.spec.name != inv.command->name) continue;
    if (c.offline != nullptr)
      return c.offline(inv.args.positional()[0], options->json, std::cout, std::cerr);
    Session session(*options, std::cout, std::cerr);
    return c.online(inv.args, session);
  }
  return kExitUsage;  // unreachable: Parse only returns declared commands
}

}  // namespace
}  // namespace seatlock::tools

int main(int argc, char** argv) { return seatlock::tools::Main(argc, argv); }
