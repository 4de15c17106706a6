// The seatctl commands that talk to a running seatlockd, one function each
// (commands.cc; stats and top in stats_commands.cc). Each gets its parsed
// command line and a Session not yet connected: it checks its arguments
// first (so usage errors need no server), then connects, writes its result
// to session.out() (text, or JSON with --json) and its complaints to
// session.err(), and returns seatctl's exit code (session.h). The command
// table with the help texts is in seatctl.cc. Main thread only.
#ifndef SEATLOCK_TOOLS_COMMANDS_H_
#define SEATLOCK_TOOLS_COMMANDS_H_

#include "tools/args.h"
#include "tools/session.h"

namespace seatlock::tools {

using OnlineCommand = int (*)(const ParsedArgs& args, Session& session);

int RunPing(const ParsedArgs& args, Session& session);
int RunCluster(const ParsedArgs& args, Session& s);
int RunInfo(const ParsedArgs& args, Session& session);
int RunEvents(const ParsedArgs& args, Session& session);
int RunEvent(const ParsedArgs& args, Session& session);
int RunSeats(const ParsedArgs& args, Session& session);
int RunHolds(const ParsedArgs& args, Session& session);
int RunHold(const ParsedArgs& args, Session& session);
int RunExtend(const ParsedArgs& args, Session& session);
int RunRelease(const ParsedArgs& args, Session& session);
int RunConfirm(const ParsedArgs& args, Session& session);
int RunCancelBooking(const ParsedArgs& args, Session& session);
int RunDefineEvent(const ParsedArgs& args, Session& session);
int RunDeleteEvent(const ParsedArgs& args, Session& session);
int RunStats(const ParsedArgs& args, Session& session);
// Until Ctrl-C (SIGINT/SIGTERM: exits 0), or --iterations frames.
int RunTop(const ParsedArgs& args, Session& session);
// The waiting room (room_commands.cc).
int RunRoom(const ParsedArgs& args, Session& session);
int RunRoomConfigure(const ParsedArgs& args, Session& session);
int RunRoomJoin(const ParsedArgs& args, Session& session);
int RunRoomStatus(const ParsedArgs& args, Session& session);
int RunRoomLeave(const ParsedArgs& args, Session& session);

}  // namespace seatlock::tools

#endif  // SEATLOCK_TOOLS_COMMANDS_H_
