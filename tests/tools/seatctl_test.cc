// seatctl end to end: every command runs as a child process (popen) against
// a real seatlockd (2 shards, ephemeral ports); its exit code, text output
// and --json output are checked. The WAL commands run on the daemon's data
// dir after SIGTERM, and on a damaged copy of it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "persistence/wal_record.h"
#include "protocol/seatlock.pb.h"
#include "protocol/sharding.h"
#include "tests/integration/daemon.h"

namespace seatlock {
namespace {

namespace fs = std::filesystem;
using testing::Daemon;
using testing::DaemonOptions;
using ::testing::HasSubstr;
using ::testing::Not;

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'')
      q += "'\\''";
    else
      q += c;
  }
  return q + "'";
}

// A scratch directory, removed at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/seatctl-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& contents) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << contents;
    return p;
  }

 private:
  std::string path_;
};

// Runs seatctl with `args`; stdout through popen, stderr through a file.
Outcome Seatctl(const std::vector<std::string>& args) {
  static TempDir scratch;
  const std::string err_path = scratch.path() + "/stderr";
  std::string cmd = SEATCTL_PATH;
  for (const std::string& a : args) cmd += " " + ShellQuote(a);
  cmd += " 2>" + ShellQuote(err_path);
  Outcome r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err_path);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  return r;
}

std::string Describe(const Outcome& r) {
  return absl::StrCat("exit ", r.code, "\nstdout:\n", r.out, "\nstderr:\n", r.err);
}

template <class Message>
Message ParseJson(const std::string& text) {
  Message m;
  const auto st = google::protobuf::util::JsonStringToMessage(text, &m);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << text;
  return m;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// A port nobody listens on.
uint16_t UnusedPort() { return testing::UnusedLoopbackPort(); }

// The test event "gig": section 101 has rows A (12 seats), B (10), C (5);
// sections 102..106 have rows A..D of 10 seats.
std::string GigLayout() {
  std::string s = R"({"sections":[{"label":"101","rows":[{"label":"A","seat_count":12},)"
                  R"({"label":"B","seat_count":10},{"label":"C","seat_count":5}]})";
  for (int sec = 102; sec <= 106; ++sec) {
    absl::StrAppend(&s, R"(,{"label":")", sec, R"(","rows":[)");
    for (char row = 'A'; row <= 'D'; ++row) {
      absl::StrAppend(&s, row == 'A' ? "" : ",", R"({"label":")", std::string(1, row),
                      R"(","seat_count":10})");
    }
    s += "]}";
  }
  return s + "]}";
}
constexpr int kGigSeats = 27 + 5 * 40;

// Every command name, for the --help checks.
const std::vector<std::vector<std::string>> kCommands = {
    {"ping"},  {"info"},   {"events"},      {"event"},         {"seats"},          {"holds"},
    {"hold"},  {"extend"}, {"release"},     {"confirm"},       {"cancel-booking"}, {"define-event"},
    {"stats"}, {"top"},    {"wal", "dump"}, {"wal", "verify"}, {"delete-event"},   {"cluster"}};

TEST(SeatctlUsage, HelpAtEveryLevel) {
  Outcome top = Seatctl({"--help"});
  EXPECT_EQ(top.code, 0) << Describe(top);
  for (const auto& cmd : kCommands) {
    const std::string name = absl::StrJoin(cmd, " ");
    EXPECT_THAT(top.out, HasSubstr("  " + name)) << name;
    std::vector<std::string> args = cmd;
    args.push_back("--help");
    Outcome r = Seatctl(args);
    EXPECT_EQ(r.code, 0) << Describe(r);
    EXPECT_THAT(r.out, HasSubstr("Usage: seatctl " + name)) << Describe(r);
    EXPECT_THAT(r.out, HasSubstr("Example:")) << Describe(r);
  }
  Outcome wal = Seatctl({"wal", "--help"});
  EXPECT_EQ(wal.code, 0);
  EXPECT_THAT(wal.out, HasSubstr("wal verify DIR"));
  // -h works too, and --help wins over a usage error on the same line.
  EXPECT_EQ(Seatctl({"hold", "-h"}).code, 0);
  EXPECT_EQ(Seatctl({"hold", "--bogus", "--help"}).code, 0);
}

TEST(SeatctlUsage, UsageErrorsExitTwoAndSayWhatToDo) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{}, "no command given; see 'seatctl --help'"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"wal"}, "needs a subcommand: dump or verify"},
      {{"wal", "fix", "x"}, "unknown command 'wal fix'"},
      {{"seats", "gig"}, "'seatctl seats' needs E SECTION"},
      {{"ping", "extra"}, "got unexpected 'extra'"},
      {{"hold", "gig", "101/A/1", "--ttl-ms", "1000"}, "needs --holder H"},
      {{"--holder", "x", "holds"},
       "--holder is a flag of holds, hold, extend, release, confirm: write it after"},
      {{"ping", "--holder", "x"}, "unknown flag --holder for 'seatctl ping'"},
      {{"ping", "--timeout-ms"}, "--timeout-ms needs a value"},
      {{"--timeout-ms", "soon", "ping"}, "bad --timeout-ms 'soon'"},
      {{"--addr", "127.0.0.1:99999", "ping"}, "bad --addr '127.0.0.1:99999'"},
      {{"--auth-token-file", "/nonexistent/token", "ping"},
       "cannot read --auth-token-file /nonexistent/token"},
      // Arguments are checked before connecting: no server is needed to get these.
      {{"--addr", "127.0.0.1:1", "hold", "gig", "101-A-1", "--holder", "h", "--ttl-ms", "1000"},
       "bad seat '101-A-1': write SECTION/ROW/SEAT"},
      {{"--addr", "127.0.0.1:1", "hold", "gig", "101/A/1", "--holder", "h", "--ttl-ms", "0"},
       "bad --ttl-ms '0'"},
      {{"--addr", "127.0.0.1:1", "release", "abc", "--holder", "h"}, "bad HOLD_ID 'abc'"},
      {{"--addr", "127.0.0.1:1", "confirm", "5", "--holder", "h", "--key", ""},
       "--key must not be empty"},
      {{"--addr", "127.0.0.1:1", "define-event", "gig", "--layout", "/nonexistent.json"},
       "cannot read --layout /nonexistent.json"},
      {{"--addr", "127.0.0.1:1", "top", "--iterations", "-1"}, "bad --iterations '-1'"},
  };
  for (const Case& c : cases) {
    Outcome r = Seatctl(c.args);
    EXPECT_EQ(r.code, 2) << absl::StrJoin(c.args, " ") << "\n" << Describe(r);
    EXPECT_THAT(r.err, HasSubstr(c.message)) << absl::StrJoin(c.args, " ") << "\n" << Describe(r);
    EXPECT_EQ(r.out, "") << absl::StrJoin(c.args, " ");
  }
}

TEST(SeatctlUsage, RefusedConnectionSaysIsSeatlockdRunning) {
  const std::string addr = absl::StrCat("127.0.0.1:", UnusedPort());
  for (const auto& cmd :
       std::vector<std::vector<std::string>>{{"ping"}, {"events"}, {"--json", "stats"}}) {
    std::vector<std::string> args = {"--addr", addr};
    args.insert(args.end(), cmd.begin(), cmd.end());
    Outcome r = Seatctl(args);
    EXPECT_EQ(r.code, 2) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("connection refused to " + addr + ": is seatlockd running?"))
        << Describe(r);
  }
}

class SeatctlTest : public ::testing::Test {
 protected:
  void SetUp() override { StartDaemon({}); }
  void TearDown() override {
    if (daemon_ && daemon_->Running()) {
      EXPECT_EQ(daemon_->Stop(), 0) << daemon_->Log();
    }
  }
  void StartDaemon(std::vector<std::string> extra_args) {
    daemon_ =
        std::make_unique<Daemon>(DaemonOptions{.shards = 2, .extra_args = std::move(extra_args)});
    ASSERT_TRUE(daemon_->Start()) << daemon_->Log();
    addr_ = absl::StrCat("127.0.0.1:", daemon_->port());
  }
  // seatctl --addr <the daemon> args...
  Outcome Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--addr", addr_});
    return Seatctl(args);
  }
  // Runs and expects exit 0.
  Outcome Ok(std::vector<std::string> args) {
    Outcome r = Ctl(args);
    EXPECT_EQ(r.code, 0) << absl::StrJoin(args, " ") << "\n" << Describe(r);
    return r;
  }
  void DefineGig() {
    Ok({"define-event", "gig", "--layout", files_.Write("gig.json", GigLayout())});
  }
  // Holds seats and returns the hold id.
  uint64_t Hold(const std::vector<std::string>& seats, const std::string& holder) {
    std::vector<std::string> args = {"--json", "hold", "gig"};
    args.insert(args.end(), seats.begin(), seats.end());
    args.insert(args.end(), {"--holder", holder, "--ttl-ms", "600000"});
    Outcome r = Ok(args);
    const auto resp = ParseJson<wire::Response>(r.out);
    EXPECT_EQ(resp.code(), wire::OK);
    return resp.hold().hold_id();
  }
  uint64_t Confirm(uint64_t hold_id, const std::string& holder) {
    Outcome r = Ok({"--json", "confirm", absl::StrCat(hold_id), "--holder", holder, "--key",
                    absl::StrCat("key-", hold_id)});
    return ParseJson<wire::Response>(r.out).confirm().booking_id();
  }

  std::unique_ptr<Daemon> daemon_;
  std::string addr_;
  TempDir files_;
};

TEST_F(SeatctlTest, PingAndInfo) {
  Outcome ping = Ok({"ping"});
  EXPECT_THAT(ping.out, HasSubstr("pong from " + addr_ + " in "));
  auto pj = ParseJson<wire::Response>(Ok({"--json", "ping"}).out);
  EXPECT_EQ(pj.code(), wire::OK);
  EXPECT_GT(pj.ping().server_time_ms(), 0);

  Outcome info = Ok({"info"});
  EXPECT_THAT(info.out, HasSubstr("seatlockd "));
  EXPECT_THAT(info.out, HasSubstr("protocol version  1"));
  EXPECT_THAT(info.out, ::testing::ContainsRegex("shards +2\n"));
  EXPECT_THAT(info.out,
              HasSubstr(absl::StrCat(daemon_->shard_ports()[0], " ", daemon_->shard_ports()[1])));
  EXPECT_THAT(info.out, ::testing::ContainsRegex("io backend +(io_uring|uring|epoll)"));
  EXPECT_THAT(info.out, HasSubstr("uptime"));

  auto doc = ParseJson<google::protobuf::Struct>(Ok({"info", "--json"}).out);
  const auto& hello = doc.fields().at("hello").struct_value().fields();
  EXPECT_EQ(hello.at("shard_count").number_value(), 2);
  EXPECT_EQ(hello.at("shard_ports").list_value().values_size(), 2);
  const auto& stats = doc.fields().at("stats").struct_value().fields();
  EXPECT_EQ(stats.at("shards").list_value().values_size(), 2);
  EXPECT_FALSE(stats.at("io_backend").string_value().empty());
  EXPECT_THAT(info.out, ::testing::ContainsRegex("role +standalone"));
}

// A standalone server is no group: cluster says so and exits 1. (A real
// group: tests/cluster/failover_test.cc.)
TEST_F(SeatctlTest, ClusterOfAStandaloneServerHasNoPrimary) {
  Outcome r = Seatctl({"--addr", addr_, "cluster"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_THAT(r.out, ::testing::ContainsRegex("standalone"));
  EXPECT_THAT(r.err, HasSubstr("no node answered as primary"));
  Outcome down = Seatctl({"--addr", addr_, "cluster", "127.0.0.1:1"});
  EXPECT_EQ(down.code, 1) << Describe(down);
  EXPECT_THAT(down.out, HasSubstr("unreachable"));
}

TEST_F(SeatctlTest, DefineEventEventsAndEvent) {
  Outcome none = Ok({"events"});
  EXPECT_THAT(none.out, HasSubstr("no events defined"));

  // The documented example layout defines, and defining it again is a no-op.
  const std::string example = std::string(SEATLOCK_SOURCE_DIR) + "/docs/layout-example.json";
  Outcome def = Ok({"define-event", "arena-2025-06-01", "--layout", example});
  EXPECT_THAT(def.out, HasSubstr("event arena-2025-06-01 defined: 3 sections, 7 rows, 110 seats"));
  Ok({"define-event", "arena-2025-06-01", "--layout", example});
  EXPECT_EQ(ParseJson<wire::Response>(
                Ok({"define-event", "arena-2025-06-01", "--layout", example, "--json"}).out)
                .code(),
            wire::OK);
  // The file names its event: another id on the command line is a usage error.
  Outcome other = Ctl({"define-event", "other", "--layout", example});
  EXPECT_EQ(other.code, 2);
  EXPECT_THAT(other.err,
              HasSubstr("is for event 'arena-2025-06-01' but the command names 'other'"));
  Outcome garbage = Ctl({"define-event", "x", "--layout",
                         files_.Write("bad.json", "{\"sections\": [ {\"lable\": 1}]}")});
  EXPECT_EQ(garbage.code, 2);
  EXPECT_THAT(garbage.err, HasSubstr("cannot parse layout"));
  EXPECT_THAT(garbage.err, HasSubstr("docs/layout-example.json"));

  DefineGig();
  // Another layout under an existing id: a domain refusal.
  Outcome exists = Ctl({"define-event", "gig", "--layout", example});
  EXPECT_EQ(exists.code, 2) << "the file names arena-2025-06-01";
  Outcome exists2 =
      Ctl({"define-event", "gig", "--layout",
           files_.Write("small.json",
                        R"({"sections":[{"label":"1","rows":[{"label":"A","seat_count":3}]}]})")});
  EXPECT_EQ(exists2.code, 1) << Describe(exists2);
  EXPECT_THAT(exists2.err, HasSubstr("EVENT_EXISTS"));
  EXPECT_THAT(exists2.err, HasSubstr("use a new event id"));

  Confirm(Hold({"102/A/1", "102/A/2"}, "alice"), "alice");
  Hold({"101/C/5"}, "bob");

  Outcome events = Ok({"events"});
  EXPECT_THAT(events.out, HasSubstr("EVENT"));
  EXPECT_THAT(events.out, ::testing::ContainsRegex("arena-2025-06-01 +110 +110 +0 +0"));
  EXPECT_THAT(events.out, ::testing::ContainsRegex(
                              absl::StrCat("gig +", kGigSeats, " +", kGigSeats - 3, " +1 +2")));
  auto ej = ParseJson<wire::Response>(Ok({"events", "--json"}).out);
  ASSERT_EQ(ej.list_events().events_size(), 2);
  EXPECT_EQ(ej.list_events().events(1).event_id(), "gig");
  EXPECT_EQ(ej.list_events().events(1).sold(), 2u);

  Outcome event = Ok({"event", "gig"});
  EXPECT_THAT(event.out, HasSubstr(absl::StrCat("event gig: ", kGigSeats, " seats, ", kGigSeats - 3,
                                                " free, 1 held, 2 sold")));
  EXPECT_THAT(event.out, ::testing::ContainsRegex("\n101 +[01] +27 +26 +1 +0 "));
  EXPECT_THAT(event.out, ::testing::ContainsRegex("\n102 +[01] +40 +38 +0 +2 "));
  auto avj = ParseJson<wire::Response>(Ok({"event", "gig", "--json"}).out);
  ASSERT_EQ(avj.get_availability().sections_size(), 6);
  EXPECT_EQ(avj.get_availability().sections(1).sold(), 2u);

  Outcome missing = Ctl({"event", "nope"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("EVENT_NOT_FOUND"));
  EXPECT_THAT(missing.err, HasSubstr("'seatctl events'"));
  // --json on a refusal: the reply on stdout, still exit 1.
  Outcome missing_json = Ctl({"event", "nope", "--json"});
  EXPECT_EQ(missing_json.code, 1);
  EXPECT_EQ(ParseJson<wire::Response>(missing_json.out).code(), wire::EVENT_NOT_FOUND);
}

TEST_F(SeatctlTest, HoldExtendReleaseConfirmCancel) {
  DefineGig();
  Outcome held =
      Ok({"hold", "gig", "101/A/3", "101/A/4", "--holder", "alice", "--ttl-ms", "600000"});
  EXPECT_THAT(held.out, HasSubstr("held 2 seats: 101/A:3,4"));
  EXPECT_THAT(held.out, ::testing::ContainsRegex("hold id +[0-9]+"));
  EXPECT_THAT(held.out, ::testing::ContainsRegex("fencing token +[0-9]+"));

  // A seat already held: a domain refusal, exit 1, naming the seat.
  Outcome taken =
      Ctl({"hold", "gig", "101/A/4", "101/A/5", "--holder", "bob", "--ttl-ms", "600000"});
  EXPECT_EQ(taken.code, 1) << Describe(taken);
  EXPECT_THAT(taken.err, HasSubstr("seatctl: hold: SEAT_UNAVAILABLE"));
  EXPECT_THAT(taken.err, HasSubstr("101/A/4 is held until"));
  EXPECT_EQ(taken.out, "");
  Outcome unknown = Ctl({"hold", "gig", "101/Z/1", "--holder", "bob", "--ttl-ms", "1000"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("UNKNOWN_SEAT"));

  auto holds = ParseJson<wire::Response>(Ok({"holds", "gig", "--json"}).out);
  ASSERT_EQ(holds.list_holds().holds_size(), 1);
  const wire::HoldInfo& h = holds.list_holds().holds(0);
  EXPECT_EQ(h.holder(), "alice");
  EXPECT_EQ(h.seats_size(), 2);
  const std::string id = absl::StrCat(h.hold_id());

  Outcome list = Ok({"holds", "gig"});
  EXPECT_THAT(list.out,
              ::testing::ContainsRegex(absl::StrCat(
                  id, " +alice +101/A:3,4 +[0-9.]+m[0-9]+s +[0-9:]+ +", h.fencing_token())));
  EXPECT_THAT(list.out, HasSubstr("1 live hold (event gig)"));
  EXPECT_THAT(Ok({"holds"}).out, HasSubstr(" gig "));  // every event: an EVENT column
  EXPECT_THAT(Ok({"holds", "gig", "--holder", "bob"}).out,
              HasSubstr("no live holds (event gig, holder bob)"));

  // Only the holder can extend; a short TTL can shorten the hold.
  Outcome wrong = Ctl({"extend", id, "--holder", "bob", "--ttl-ms", "1000"});
  EXPECT_EQ(wrong.code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("NOT_HOLDER"));
  EXPECT_THAT(Ok({"extend", id, "--holder", "alice", "--ttl-ms", "900000"}).out,
              HasSubstr(absl::StrCat("hold ", id, " now expires at ")));
  auto ext = ParseJson<wire::Response>(
      Ok({"--json", "extend", id, "--holder", "alice", "--ttl-ms", "120000"}).out);
  EXPECT_LE(ext.extend().remaining_ms(), 120000);

  // Confirm, then the same key again: the first result, replayed.
  Outcome conf = Ok({"confirm", id, "--holder", "alice", "--key", "k-1", "--payment-ref", "pay-1"});
  EXPECT_THAT(conf.out, ::testing::ContainsRegex("booking [0-9]+ confirmed: 101/A:3,4"));
  auto replay = ParseJson<wire::Response>(
      Ok({"confirm", id, "--holder", "alice", "--key", "k-1", "--payment-ref", "pay-1", "--json"})
          .out);
  EXPECT_TRUE(replay.confirm().replayed());
  const std::string booking = absl::StrCat(replay.confirm().booking_id());
  Outcome mismatch =
      Ctl({"confirm", id, "--holder", "alice", "--key", "k-1", "--payment-ref", "other"});
  EXPECT_EQ(mismatch.code, 1);
  EXPECT_THAT(mismatch.err, HasSubstr("IDEMPOTENCY_MISMATCH"));
  // The hold is gone once confirmed.
  Outcome gone = Ctl({"release", id, "--holder", "alice"});
  EXPECT_EQ(gone.code, 1);
  EXPECT_THAT(gone.err, HasSubstr("HOLD_NOT_FOUND"));
  EXPECT_THAT(gone.err, HasSubstr("'seatctl holds E'"));

  EXPECT_THAT(Ok({"cancel-booking", booking}).out, HasSubstr("booking " + booking + " cancelled"));
  Outcome again = Ctl({"cancel-booking", booking});
  EXPECT_EQ(again.code, 1);
  EXPECT_THAT(again.err, HasSubstr("BOOKING_CANCELLED"));
  EXPECT_EQ(Ctl({"cancel-booking", "999999"}).code, 1);

  // Release frees the seats; the hold id may be given in hex too.
  const uint64_t second = Hold({"101/A/4"}, "bob");
  char hex[32];
  std::snprintf(hex, sizeof(hex), "0x%llx", static_cast<unsigned long long>(second));
  EXPECT_THAT(Ok({"release", hex, "--holder", "bob"}).out,
              HasSubstr(absl::StrCat("hold ", second, " released")));
  EXPECT_EQ(ParseJson<wire::Response>(Ok({"event", "gig", "--json"}).out).get_availability().free(),
            static_cast<uint64_t>(kGigSeats));
}

TEST_F(SeatctlTest, DeleteEventRefusedWhileHeldThenForced) {
  DefineGig();
  Confirm(Hold({"101/A/1"}, "alice"), "alice");
  const uint64_t live = Hold({"102/B/2", "102/B/3"}, "bob");

  Outcome refused = Ctl({"delete-event", "gig"});
  EXPECT_EQ(refused.code, 1) << Describe(refused);
  EXPECT_THAT(refused.err, HasSubstr("seatctl: delete-event gig: EVENT_HAS_LIVE_HOLDS"));
  EXPECT_THAT(refused.err, HasSubstr("2 held seat(s)"));
  EXPECT_THAT(refused.err, HasSubstr("add --force"));
  EXPECT_EQ(refused.out, "");
  EXPECT_EQ(ParseJson<wire::Response>(Ok({"event", "gig", "--json"}).out).get_availability().held(),
            2u);

  Outcome forced = Ok({"delete-event", "gig", "--force"});
  EXPECT_THAT(forced.out, HasSubstr("event gig deleted: 1 live hold released, 1 booking dropped"));
  Outcome gone = Ctl({"event", "gig"});
  EXPECT_EQ(gone.code, 1);
  EXPECT_THAT(gone.err, HasSubstr("EVENT_NOT_FOUND"));
  EXPECT_EQ(Ctl({"release", absl::StrCat(live), "--holder", "bob"}).code, 1);
  Outcome again = Ctl({"--json", "delete-event", "gig"});
  EXPECT_EQ(again.code, 1);
  EXPECT_EQ(ParseJson<wire::Response>(again.out).code(), wire::EVENT_NOT_FOUND);

  // The id can be defined again, and starts clean.
  DefineGig();
  EXPECT_EQ(ParseJson<wire::Response>(Ok({"event", "gig", "--json"}).out).get_availability().free(),
            static_cast<uint64_t>(kGigSeats));
  auto json = ParseJson<wire::Response>(Ok({"--json", "delete-event", "gig"}).out);
  EXPECT_EQ(json.code(), wire::OK);
  EXPECT_EQ(json.delete_event().bookings_dropped(), 0u);
}

TEST_F(SeatctlTest, HoldAcrossShardsListsItsParts) {
  DefineGig();
  std::string a, b;
  for (int s = 101; s <= 106 && b.empty(); ++s) {
    const std::string label = absl::StrCat(s);
    if (a.empty()) {
      a = label;
    } else if (protocol::ShardFor("gig", label, 2) != protocol::ShardFor("gig", a, 2)) {
      b = label;
    }
  }
  ASSERT_FALSE(b.empty());
  Outcome r = Ok({"hold", "gig", a + "/A/1", b + "/A/1", "--holder", "carol", "--ttl-ms", "60000"});
  EXPECT_THAT(r.out, HasSubstr("held 2 seats"));
  EXPECT_THAT(r.out, HasSubstr("(the seats span shards: extend, release and confirm each part)"));
}

TEST_F(SeatctlTest, SeatMapShowsFreeHeldAndSold) {
  DefineGig();
  Hold({"101/A/3", "101/A/4"}, "alice");
  Confirm(Hold({"101/B/1", "101/B/2"}, "bob"), "bob");

  Outcome map = Ok({"seats", "gig", "101"});
  const std::string expected =
      "gig / section 101\n"
      "\n"
      "       [ STAGE ]\n"
      "     1          11\n"
      "  A  ..hh...... ..\n"
      "  B  XX........\n"
      "  C  .....\n"
      "\n"
      ". free 23   h held 2   X sold 2   of 27 seats (1 hold, 1 booking)\n";
  EXPECT_EQ(map.out, expected);

  auto seats = ParseJson<wire::Response>(Ok({"seats", "gig", "101", "--json"}).out);
  ASSERT_EQ(seats.get_seats().seats_size(), 27);
  EXPECT_EQ(seats.get_seats().seats(2).state(), wire::HELD);
  EXPECT_EQ(seats.get_seats().seats(12).state(), wire::SOLD);
  EXPECT_EQ(seats.get_seats().rows_size(), 3);

  Outcome missing = Ctl({"seats", "gig", "999"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("UNKNOWN_SEAT"));
}

TEST_F(SeatctlTest, StatsAndTop) {
  DefineGig();
  Hold({"101/A/1"}, "alice");
  Outcome stats = Ok({"stats"});
  EXPECT_THAT(stats.out, HasSubstr("shard 0"));
  EXPECT_THAT(stats.out, HasSubstr("shard 1"));
  EXPECT_THAT(stats.out, ::testing::ContainsRegex("\nlive_holds +[01] +[01] +1\n"));
  EXPECT_THAT(stats.out, ::testing::ContainsRegex("\nholds_granted +[01] +[01] +1\n"));
  EXPECT_THAT(stats.out, ::testing::ContainsRegex("\nrequests +[0-9]+ +[0-9]+ +[0-9]+\n"));
  auto sj = ParseJson<wire::Response>(Ok({"stats", "--json"}).out);
  ASSERT_EQ(sj.stats().shards_size(), 2);
  EXPECT_EQ(sj.stats().shards(0).live_holds() + sj.stats().shards(1).live_holds(), 1u);

  Outcome top = Ok({"top", "--iterations", "2", "--interval-ms", "200"});
  size_t frames = 0;
  for (size_t at = 0; (at = top.out.find("REQ/S", at)) != std::string::npos; ++at) ++frames;
  EXPECT_EQ(frames, 2u) << top.out;
  EXPECT_THAT(top.out, ::testing::ContainsRegex("\n +all +[0-9]+ "));
  EXPECT_THAT(top.out, ::testing::ContainsRegex("rates over 0\\.[0-9]s"));

  Outcome tj = Ok({"top", "--iterations", "2", "--interval-ms", "100", "--json"});
  const auto lines = Lines(tj.out);
  ASSERT_EQ(lines.size(), 2u) << tj.out;
  for (const std::string& line : lines) {
    auto frame = ParseJson<google::protobuf::Struct>(line);
    const auto& shards = frame.fields().at("shards").list_value();
    ASSERT_EQ(shards.values_size(), 2);
    double live = 0;
    double requests_per_s = 0;
    for (const auto& s : shards.values()) {
      live += s.struct_value().fields().at("live_holds").number_value();
      requests_per_s += s.struct_value().fields().at("requests_per_s").number_value();
    }
    EXPECT_EQ(live, 1);
    EXPECT_GT(requests_per_s, 0);  // top's own STATS requests count
  }
}

TEST_F(SeatctlTest, AuthTokenFile) {
  const std::string token = files_.Write("token", "s3cret\n");
  const std::string wrong = files_.Write("wrong", "nope");
  daemon_->Stop();
  StartDaemon({"--auth_token_file=" + token});
  Outcome none = Ctl({"events"});
  EXPECT_EQ(none.code, 2);
  EXPECT_THAT(none.err, HasSubstr("requires authentication: pass --auth-token-file FILE"));
  Outcome bad = Ctl({"--auth-token-file", wrong, "events"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("authentication failed"));
  EXPECT_THAT(Ok({"--auth-token-file", token, "events"}).out, HasSubstr("no events defined"));
  Ok({"ping"});  // PING needs no AUTH
}

// Copies a data dir (the daemon removes its own at exit).
std::string CopyTree(const std::string& from, const std::string& to) {
  fs::copy(from, to, fs::copy_options::recursive);
  return to;
}

// Where the first record of `type` is, in the log segments under `data_dir`.
bool FindRecord(const std::string& data_dir, wal::RecordType type, std::string* file,
                uint64_t* offset) {
  for (const auto& shard : fs::directory_iterator(data_dir)) {
    if (!shard.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(shard.path())) {
      if (f.path().extension() != ".log") continue;
      std::ifstream in(f.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      wal::RecordReader reader(bytes);
      wal::Record rec;
      while (reader.Next(&rec) == wal::RecordReader::Result::kRecord) {
        if (rec.type == type) {
          *file = f.path().string();
          *offset = rec.offset;
          return true;
        }
      }
    }
  }
  return false;
}

TEST_F(SeatctlTest, WalDumpAndVerifyAfterShutdown) {
  // A tiny snapshot threshold, so that the shards also write snapshots.
  daemon_->Stop();
  StartDaemon({"--snapshot_bytes=1"});
  DefineGig();
  const uint64_t booking = Confirm(Hold({"101/A/3", "101/A/4"}, "alice"), "alice");
  Ok({"cancel-booking", absl::StrCat(booking)});
  const uint64_t booking2 = Confirm(Hold({"102/B/7"}, "bob"), "bob");
  // Wait for a snapshot to land, then stop the daemon cleanly.
  bool have_snapshot = false;
  for (int i = 0; i < 300 && !have_snapshot; ++i) {
    for (const auto& shard : fs::directory_iterator(daemon_->data_dir())) {
      if (!shard.is_directory()) continue;
      for (const auto& f : fs::directory_iterator(shard.path()))
        have_snapshot |= f.path().extension() == ".snap";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(have_snapshot);
  ASSERT_EQ(daemon_->Stop(), 0) << daemon_->Log();
  const std::string data = CopyTree(daemon_->data_dir(), files_.path() + "/data");

  Outcome verify = Seatctl({"wal", "verify", data});
  EXPECT_EQ(verify.code, 0) << Describe(verify);
  EXPECT_THAT(verify.out, HasSubstr("OK   " + data + "/shard-0: "));
  EXPECT_THAT(verify.out, HasSubstr("OK   " + data + "/shard-1: "));
  EXPECT_THAT(verify.out, HasSubstr("verified 2 shard dirs: "));
  auto vj = ParseJson<google::protobuf::Struct>(Seatctl({"wal", "verify", data, "--json"}).out);
  EXPECT_TRUE(vj.fields().at("ok").bool_value());
  EXPECT_EQ(vj.fields().at("shards").list_value().values_size(), 2);

  Outcome dump = Seatctl({"wal", "dump", data});
  EXPECT_EQ(dump.code, 0) << Describe(dump);
  EXPECT_THAT(dump.out, HasSubstr("data dir " + data + ": shards=2"));
  EXPECT_THAT(dump.out, ::testing::ContainsRegex("LSN 1 +@0 +(FENCING|DEFINE_EVENT)"));
  EXPECT_THAT(dump.out, HasSubstr(absl::StrCat(
                            "DEFINE_EVENT    event=gig sections=6 rows=23 seats=", kGigSeats)));
  EXPECT_THAT(dump.out, ::testing::ContainsRegex(absl::StrCat(
                            "CONFIRM +booking=", booking,
                            " hold=[0-9]+ token=[0-9]+ event=gig seats=101/A:3,4 "
                            "holder=alice key=key-[0-9]+ payment=\"\" at=20[0-9-]+T")));
  EXPECT_THAT(dump.out, HasSubstr(absl::StrCat("CANCEL          booking=", booking, " at=")));
  EXPECT_THAT(dump.out, HasSubstr(absl::StrCat("booking=", booking2)));
  EXPECT_THAT(dump.out, HasSubstr("seats=102/B:7"));
  // The newest snapshot comes before the log segments of its shard.
  const size_t snap_at = dump.out.find("\nsnapshot " + data + "/shard-");
  ASSERT_NE(snap_at, std::string::npos) << dump.out;
  const std::string shard_dir =
      dump.out.substr(snap_at + 10, dump.out.find("/snapshot-", snap_at) - snap_at - 10);
  EXPECT_LT(snap_at, dump.out.find("\nsegment " + shard_dir + "/wal-")) << dump.out;

  // --json: one object per record, the CONFIRM decoded with seat labels.
  int confirms = 0;
  for (const std::string& line : Lines(Seatctl({"wal", "dump", data, "--json"}).out)) {
    auto rec = ParseJson<google::protobuf::Struct>(line);
    ASSERT_TRUE(rec.fields().count("type")) << line;
    EXPECT_TRUE(rec.fields().count("offset")) << line;
    if (rec.fields().at("type").string_value() != "CONFIRM") continue;
    const auto& payload = rec.fields().at("payload").struct_value().fields();
    if (payload.at("booking_id").string_value() != absl::StrCat(booking)) continue;
    ++confirms;
    EXPECT_EQ(payload.at("holder").string_value(), "alice");
    const auto& labels = payload.at("seat_labels").list_value();
    ASSERT_EQ(labels.values_size(), 2);
    EXPECT_EQ(labels.values(0).string_value(), "101/A/3");
  }
  EXPECT_GE(confirms, 1);

  // One shard dir alone works too.
  EXPECT_EQ(Seatctl({"wal", "verify", data + "/shard-0"}).code, 0);
  Outcome empty = Seatctl({"wal", "verify", files_.path()});
  EXPECT_EQ(empty.code, 2);
  EXPECT_THAT(empty.err, HasSubstr("no write-ahead log in"));

  // A flipped byte inside the CONFIRM record's payload: verify names the
  // file and the record's offset, and exits 1.
  const std::string bad = CopyTree(data, files_.path() + "/bad");
  std::string file;
  uint64_t offset = 0;
  ASSERT_TRUE(FindRecord(bad, wal::RecordType::kConfirm, &file, &offset));
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset + wal::kHeaderBytes + 2));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset + wal::kHeaderBytes + 2));
    f.put(static_cast<char>(c ^ 0x5a));
  }
  const std::string where = absl::StrCat(file, ":", offset);
  Outcome broken = Seatctl({"wal", "verify", bad});
  EXPECT_EQ(broken.code, 1) << Describe(broken);
  EXPECT_THAT(broken.out, HasSubstr("BAD  "));
  EXPECT_THAT(broken.out, HasSubstr("corrupt record at " + where));
  EXPECT_THAT(broken.err, HasSubstr("first at " + where + " (corrupt)"));
  auto bj = ParseJson<google::protobuf::Struct>(Seatctl({"wal", "verify", bad, "--json"}).out);
  EXPECT_FALSE(bj.fields().at("ok").bool_value());
  bool reported = false;
  for (const auto& s : bj.fields().at("shards").list_value().values()) {
    const auto& f = s.struct_value().fields();
    if (!f.count("error")) continue;
    reported = true;
    EXPECT_EQ(f.at("error").struct_value().fields().at("offset").number_value(),
              static_cast<double>(offset));
    EXPECT_EQ(f.at("error").struct_value().fields().at("file").string_value(), file);
  }
  EXPECT_TRUE(reported);
  Outcome broken_dump = Seatctl({"wal", "dump", bad});
  EXPECT_EQ(broken_dump.code, 1);
  EXPECT_THAT(broken_dump.out, HasSubstr("!! corrupt record at " + where));

  // A segment cut short inside a record: truncated.
  const std::string cut = CopyTree(data, files_.path() + "/cut");
  ASSERT_TRUE(FindRecord(cut, wal::RecordType::kConfirm, &file, &offset));
  fs::resize_file(file, offset + wal::kHeaderBytes + 1);
  Outcome truncated = Seatctl({"wal", "verify", cut});
  EXPECT_EQ(truncated.code, 1);
  EXPECT_THAT(truncated.out, HasSubstr(absl::StrCat("truncated record at ", file, ":", offset)));
}

}  // namespace
}  // namespace seatlock
