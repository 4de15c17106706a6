// seatlock-sink end to end: a real seatlockd, a throwaway PostgreSQL 15
// cluster, and the seatlock-sink binary. Sales and refunds are mirrored with
// every field and a NOTIFY each; a second run resumes from feed_position;
// the unique index refuses a forged double sale; a schema mismatch stops
// the sink; and under kill -9 of the sink (three times), seatlockd (twice)
// and PostgreSQL (once) the database ends equal to seatlockd's state.
#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "sink/tests/pg_cluster.h"
#include "tests/integration/daemon.h"

namespace seatlock::sink {
namespace {

using seatlock::testing::Daemon;
using seatlock::testing::DaemonOptions;
using testing::PgCluster;
using testing::Query;

constexpr char kEvent[] = "gig";
// With 2 shards and the default seed, section "101" is on shard 0 and "A"
// on shard 1 (docs/protocol.md §3).
const std::vector<std::string> kSections = {"101", "A"};
constexpr int kSeatsPerRow = 30;

// A loopback port P with P+1 and P+2 unused too (seatlockd's shard ports),
// so a restarted seatlockd keeps its address.
uint16_t FreePortBlock() {
  for (int i = 0; i < 50; ++i) {
    const uint16_t p = seatlock::testing::UnusedLoopbackPort();
    if (p > 60000) continue;
    bool ok = true;
    for (int k = 1; k <= 2 && ok; ++k) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(p + k));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
      close(fd);
    }
    if (ok) return p;
  }
  return 0;
}

class SinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PgCluster::Available()) {
      GTEST_SKIP() << "PostgreSQL 15 binaries not found in /usr/lib/postgresql/15/bin "
                      "(apt-get install postgresql)";
    }
    pg_ = std::make_unique<PgCluster>();
    ASSERT_TRUE(pg_->Init()) << pg_->Log();
    ASSERT_TRUE(pg_->Start()) << pg_->Log();
    port_ = FreePortBlock();
    ASSERT_NE(port_, 0);
    daemon_ = std::make_unique<Daemon>(DaemonOptions{
        .shards = 2,
        .extra_args = {absl::StrCat("--port=", port_), absl::StrCat("--feed_ring=", feed_ring_)}});
    ASSERT_TRUE(daemon_->Start()) << daemon_->Log();
    ConnectClient();
    wire::DefineEventRequest def;
    def.set_event_id(kEvent);
    for (const std::string& label : kSections) {
      auto* sec = def.add_sections();
      sec->set_label(label);
      auto* row = sec->add_rows();
      row->set_label("R");
      row->set_seat_count(kSeatsPerRow);
    }
    ASSERT_EQ(client_->DefineEvent(def)->code(), wire::OK);
    sink_log_ = pg_->dir() + "/sink.log";
  }
  void TearDown() override {
    StopSink(SIGKILL);
    client_.reset();
    if (daemon_) daemon_->Kill9();
  }

  void ConnectClient() {
    ClientOptions opts;
    opts.port = port_;
    opts.call_timeout_ms = 3000;
    auto c = Client::Connect(opts);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
  }

  std::vector<std::string> SinkArgs(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {
        SEATLOCK_SINK_PATH,        absl::StrCat("--seatlockd=127.0.0.1:", port_),
        "--pg=" + pg_->conninfo(), "--batch_size=7",
        "--event_poll_ms=200",     "--backoff_max_ms=500"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  pid_t Spawn(const std::vector<std::string>& args) {
    const pid_t pid = fork();
    if (pid == 0) {
      const int fd = open(sink_log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 2);
      dup2(fd, 1);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    return pid;
  }
  // Runs the sink with --once (and `extra`); its exit code, or -1 after 60 s.
  int RunOnce(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> e = {"--once"};
    e.insert(e.end(), extra.begin(), extra.end());
    const pid_t pid = Spawn(SinkArgs(e));
    for (int i = 0; i < 6000; ++i) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid)
        return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  void StartSink() { sink_pid_ = Spawn(SinkArgs({})); }
  void StopSink(int sig) {
    if (sink_pid_ <= 0) return;
    kill(sink_pid_, sig);
    waitpid(sink_pid_, nullptr, 0);
    sink_pid_ = -1;
  }
  std::string SinkLog() const {
    std::ifstream f(sink_log_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  // A hold on `seats` of one section, confirmed; the booking id or 0.
  uint64_t Sell(const std::string& section, std::vector<int> seats, const std::string& holder,
                int64_t ttl_ms = 60000, int64_t wait_ms = 0) {
    std::vector<wire::SeatRef> refs;
    for (int s : seats) refs.push_back(SeatAt(section, "R", std::to_string(s)));
    auto h = client_->Hold(kEvent, refs, holder, ttl_ms);
    if (!h.ok() || h->code() != wire::OK) return 0;
    if (wait_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    auto c = client_->Confirm(h->hold().hold_id(), holder, absl::StrCat("key-", holder),
                              absl::StrCat("pay-", holder));
    if (!c.ok() || c->code() != wire::OK) return 0;
    return c->confirm().booking_id();
  }

  // seatlockd's sold seats: (section, row, seat) -> booking id.
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> ServerSoldSeats() {
    std::map<std::tuple<std::string, std::string, std::string>, uint64_t> out;
    for (const std::string& section : kSections) {
      auto r = client_->GetSeats(kEvent, section);
      EXPECT_TRUE(r.ok() && r->code() == wire::OK);
      if (!r.ok()) continue;
      for (const auto& s : r->get_seats().seats()) {
        if (s.state() == wire::SOLD) out[{section, s.row(), s.seat()}] = s.owner_id();
      }
    }
    return out;
  }
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> DbSoldSeats() {
    std::map<std::tuple<std::string, std::string, std::string>, uint64_t> out;
    for (const auto& r : Query(pg_->conninfo(),
                               "SELECT section, row_label, seat_label, booking_id FROM "
                               "booking_seats WHERE active")) {
      out[{r[0], r[1], r[2]}] = std::stoull(r[3]);
    }
    return out;
  }
  // seatlockd's bookings: id -> "holder|key|payment|cancelled".
  std::map<uint64_t, std::string> ServerBookings() {
    std::map<uint64_t, std::string> out;
    for (uint32_t shard = 0; shard < 2; ++shard) {
      wire::Request req;
      req.mutable_list_bookings()->set_event_id(kEvent);
      req.mutable_list_bookings()->set_shard(shard);
      req.mutable_list_bookings()->set_limit(10000);
      auto r = client_->Call(req);
      EXPECT_TRUE(r.ok() && r->code() == wire::OK) << (r.ok() ? r->detail() : "");
      if (!r.ok()) continue;
      for (const auto& b : r->list_bookings().bookings()) {
        out[b.booking_id()] =
            absl::StrCat(b.holder(), "|", b.idempotency_key(), "|", b.payment_ref(), "|",
                         b.cancelled() ? "cancelled" : "active");
      }
    }
    return out;
  }
  std::map<uint64_t, std::string> DbBookings() {
    std::map<uint64_t, std::string> out;
    for (const auto& r :
         Query(pg_->conninfo(),
               "SELECT booking_id, holder, idempotency_key, payment_ref, status FROM bookings")) {
      out[std::stoull(r[0])] = absl::StrCat(r[1], "|", r[2], "|", r[3], "|", r[4]);
    }
    return out;
  }
  // feed_position rows of the current seatlockd, and the feed's latest_seq.
  void ExpectPositionsMatchTheFeed() {
    const std::string server_id = absl::StrFormat("%016x", client_->hello().feed_epoch());
    for (uint32_t shard = 0; shard < 2; ++shard) {
      wire::Request req;
      req.mutable_subscribe()->set_event_id(kEvent);
      req.mutable_subscribe()->set_shard(shard);
      req.mutable_subscribe()->set_from_now(true);
      auto promise = std::make_shared<std::promise<wire::Response>>();
      auto done = std::make_shared<std::atomic<bool>>(false);
      client_->async().Subscribe(req, [promise, done](absl::StatusOr<wire::Response> r) {
        if (!done->exchange(true)) promise->set_value(r.ok() ? *r : wire::Response());
      });
      const wire::Response first = promise->get_future().get();
      ASSERT_EQ(first.code(), wire::OK);
      EXPECT_EQ(first.subscribe().feed_epoch(), client_->hello().feed_epoch());
      auto rows = Query(pg_->conninfo(),
                        absl::StrCat("SELECT last_seq FROM feed_position WHERE server_id = '",
                                     server_id, "' AND shard = ", shard, " AND event_id = 'gig'"));
      ASSERT_EQ(rows.size(), 1u) << "shard " << shard << "\n" << SinkLog();
      EXPECT_EQ(std::stoull(rows[0][0]), first.subscribe().latest_seq()) << "shard " << shard;
    }
    auto all = Query(pg_->conninfo(), "SELECT count(*) FROM feed_position");
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0][0], "2") << "only the current seatlockd's positions are kept";
  }

  std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Client> client_;
  uint16_t port_ = 0;
  int feed_ring_ = 100000;  // changes seatlockd keeps per shard for a resume
  std::string sink_log_;
  pid_t sink_pid_ = -1;
};

TEST_F(SinkTest, MirrorsSalesAndRefundsWithANotificationEach) {
  // A listener, as a notification service would run it.
  PGconn* listener = PQconnectdb(pg_->conninfo().c_str());
  ASSERT_EQ(PQstatus(listener), CONNECTION_OK);
  PQclear(PQexec(listener, "LISTEN seatlock_sales"));

  const uint64_t b1 = Sell("101", {1, 2}, "alice");
  const uint64_t b2 = Sell("A", {5}, "bob");
  const uint64_t b3 = Sell("A", {6}, "carol");
  ASSERT_NE(b1 * b2 * b3, 0u);
  ASSERT_EQ(client_->CancelBooking(b2)->code(), wire::OK);
  // The first run has no position: it reconciles from a full read.
  ASSERT_EQ(RunOnce(), 0) << SinkLog();
  EXPECT_NE(SinkLog().find("reconciled gig shard 1"), std::string::npos) << SinkLog();
  EXPECT_EQ(DbBookings(), ServerBookings());
  EXPECT_EQ(DbSoldSeats(), ServerSoldSeats());
  auto b1row = Query(pg_->conninfo(), absl::StrCat("SELECT holder, idempotency_key, payment_ref, "
                                                   "status, shard FROM bookings WHERE booking_id "
                                                   "= ",
                                                   b1));
  ASSERT_EQ(b1row.size(), 1u);
  EXPECT_EQ(b1row[0], (std::vector<std::string>{"alice", "key-alice", "pay-alice", "active", "0"}));
  EXPECT_EQ(Query(pg_->conninfo(), "SELECT sections, total_seats FROM events")[0],
            (std::vector<std::string>{"2", "60"}));

  // More sales, a refund and a late confirm: the second run resumes from
  // feed_position (no reconcile) and applies them from the feed.
  const size_t log_before = SinkLog().size();
  const uint64_t b4 = Sell("101", {3}, "dave");
  const uint64_t b5 = Sell("A", {7, 8}, "erin", /*ttl_ms=*/50, /*wait_ms=*/120);  // late confirm
  ASSERT_NE(b4 * b5, 0u);
  ASSERT_EQ(client_->CancelBooking(b1)->code(), wire::OK);
  const uint64_t b6 = Sell("101", {1}, "frank");  // a seat refunded and sold again
  ASSERT_NE(b6, 0u);
  ASSERT_EQ(RunOnce(), 0) << SinkLog();
  EXPECT_EQ(SinkLog().find("reconciled", log_before), std::string::npos) << SinkLog();
  EXPECT_EQ(DbBookings(), ServerBookings());
  EXPECT_EQ(DbSoldSeats(), ServerSoldSeats());
  ExpectPositionsMatchTheFeed();
  // A third run finds nothing new and changes nothing.
  ASSERT_EQ(RunOnce(), 0) << SinkLog();
  EXPECT_EQ(DbBookings(), ServerBookings());

  // One notification per sale (6) and per refund (2), each with its id.
  std::multiset<std::string> got;
  for (int i = 0; i < 100 && got.size() < 8; ++i) {
    PQconsumeInput(listener);
    while (PGnotify* n = PQnotifies(listener)) {
      got.insert(n->extra);
      PQfreemem(n);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  PQfinish(listener);
  std::multiset<std::string> want;
  for (uint64_t b : {b1, b2, b3, b4, b5, b6}) {
    want.insert(
        absl::StrCat("{\"kind\":\"sold\",\"booking_id\":\"", b, "\",\"event_id\":\"gig\"}"));
  }
  for (uint64_t b : {b1, b2}) {
    want.insert(
        absl::StrCat("{\"kind\":\"cancelled\",\"booking_id\":\"", b, "\",\"event_id\":\"gig\"}"));
  }
  EXPECT_EQ(got, want);
}

TEST_F(SinkTest, TheUniqueIndexRefusesAForgedDoubleSale) {
  const uint64_t b = Sell("101", {4}, "alice");
  ASSERT_NE(b, 0u);
  ASSERT_EQ(RunOnce(), 0) << SinkLog();
  std::string error, state;
  Query(pg_->conninfo(),
        "BEGIN; INSERT INTO bookings (booking_id, event_id, shard, holder, idempotency_key, "
        "payment_ref, hold_id, fencing_token, confirmed_at, status) VALUES (999, 'gig', 0, "
        "'mallory', 'k', 'p', 1, 1, now(), 'active'); INSERT INTO booking_seats (booking_id, "
        "event_id, section, row_label, seat_label, active) VALUES (999, 'gig', '101', 'R', '4', "
        "true); COMMIT;",
        &error, &state);
  EXPECT_EQ(state, "23505") << error;
  EXPECT_NE(error.find("booking_seats_sold_once"), std::string::npos) << error;
  EXPECT_EQ(DbSoldSeats(), ServerSoldSeats());
}

TEST_F(SinkTest, ASchemaMismatchStopsItWithAClearError) {
  Query(pg_->conninfo(), "CREATE TABLE bookings (id INTEGER PRIMARY KEY)");
  EXPECT_EQ(RunOnce(), 3) << SinkLog();
  EXPECT_NE(SinkLog().find("schema mismatch: table bookings has columns (id)"), std::string::npos)
      << SinkLog();
}

// A feed ring of 4 changes: a sink that stopped more than 4 changes ago gets
// RESYNC_REQUIRED on resume, and reconciles from a full read.
class SinkResyncTest : public SinkTest {
 protected:
  SinkResyncTest() { feed_ring_ = 4; }
};

TEST_F(SinkResyncTest, ReconcilesAfterResyncRequired) {
  ASSERT_NE(Sell("101", {1}, "alice"), 0u);
  ASSERT_EQ(RunOnce(), 0) << SinkLog();
  const size_t log_before = SinkLog().size();
  uint64_t refund = 0;
  for (int seat = 2; seat < 12; ++seat) {
    const uint64_t b = Sell(seat % 2 == 0 ? "101" : "A", {seat}, absl::StrCat("buyer-", seat));
    ASSERT_NE(b, 0u);
    if (seat == 5) refund = b;
  }
  ASSERT_EQ(client_->CancelBooking(refund)->code(), wire::OK);
  ASSERT_EQ(RunOnce(), 0) << SinkLog();
  const std::string log = SinkLog().substr(log_before);
  EXPECT_NE(log.find("(resuming after"), std::string::npos) << log;
  EXPECT_NE(log.find("RESYNC_REQUIRED"), std::string::npos) << log;
  EXPECT_EQ(DbBookings(), ServerBookings());
  EXPECT_EQ(DbSoldSeats(), ServerSoldSeats());
  ExpectPositionsMatchTheFeed();
}

TEST_F(SinkTest, RetriesWhilePostgresIsDownAndSkipsNothing) {
  ASSERT_TRUE(pg_->Stop());
  ASSERT_NE(Sell("101", {9}, "alice"), 0u);
  StartSink();
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_TRUE(pg_->Start()) << pg_->Log();
  ASSERT_NE(Sell("A", {9}, "bob"), 0u);
  for (int i = 0; i < 100 && DbBookings().size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  StopSink(SIGTERM);
  EXPECT_NE(SinkLog().find("retrying in"), std::string::npos) << SinkLog();
  EXPECT_EQ(DbBookings(), ServerBookings());
  EXPECT_EQ(DbSoldSeats(), ServerSoldSeats());
}

TEST_F(SinkTest, ExactlyOnceUnderKill9OfTheSinkSeatlockdAndPostgres) {
  std::atomic<bool> stop{false};
  std::atomic<int> sold{0}, cancelled{0}, late{0};
  // Mixed confirms, cancels and late confirms from another thread, with its
  // own client; failures while a process is down are expected and ignored.
  std::thread workload([&] {
    ClientOptions opts;
    opts.port = port_;
    opts.call_timeout_ms = 2000;
    std::unique_ptr<Client> c;
    std::mt19937 rng(7);
    std::vector<uint64_t> bookings;
    for (int i = 0; !stop; ++i) {
      if (!c) {
        auto made = Client::Connect(opts);
        if (!made.ok()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        c = std::move(*made);
      }
      const std::string section = kSections[rng() % 2];
      const std::string holder = absl::StrCat("buyer-", i);
      const bool is_late = rng() % 5 == 0;
      auto h = c->Hold(kEvent, {SeatAt(section, "R", std::to_string(1 + rng() % kSeatsPerRow))},
                       holder, is_late ? 30 : 5000);
      if (!h.ok()) {
        c.reset();
        continue;
      }
      if (h->code() == wire::OK) {
        if (is_late) std::this_thread::sleep_for(std::chrono::milliseconds(60));
        auto r = c->ConfirmWithRetry(h->hold().hold_id(), holder, "k-" + holder, "p-" + holder, 3);
        if (r.ok() && r->code() == wire::OK) {
          bookings.push_back(r->confirm().booking_id());
          ++sold;
          if (is_late) ++late;
        }
      }
      if (!bookings.empty() && rng() % 3 == 0) {
        const size_t k = rng() % bookings.size();
        auto r = c->CancelBooking(bookings[k]);
        if (r.ok() && r->code() == wire::OK) ++cancelled;
        bookings.erase(bookings.begin() + static_cast<std::ptrdiff_t>(k));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  });
  auto pause = [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
  auto restart_daemon = [&] {
    daemon_->Kill9();
    ASSERT_TRUE(daemon_->Start()) << daemon_->Log();
  };
  StartSink();
  pause(700);
  StopSink(SIGKILL);  // sink 1
  StartSink();
  pause(700);
  StopSink(SIGKILL);  // sink 2
  StartSink();
  pause(500);
  restart_daemon();  // seatlockd 1
  pause(1000);
  StopSink(SIGKILL);  // sink 3
  StartSink();
  pause(500);
  pg_->Kill9();  // PostgreSQL
  pause(300);
  ASSERT_TRUE(pg_->Start()) << pg_->Log();
  pause(800);
  restart_daemon();  // seatlockd 2
  pause(1200);
  stop = true;
  workload.join();
  StopSink(SIGTERM);
  pause(300);  // the last short holds expire
  ConnectClient();
  ASSERT_EQ(RunOnce(), 0) << SinkLog();

  EXPECT_GT(sold.load(), 20);
  EXPECT_GT(cancelled.load(), 3);
  EXPECT_GT(late.load(), 0);
  const auto server = ServerBookings();
  EXPECT_EQ(DbBookings(), server);
  EXPECT_EQ(DbSoldSeats(), ServerSoldSeats());
  ExpectPositionsMatchTheFeed();
  EXPECT_NE(SinkLog().find("reconciled"), std::string::npos);
  std::cerr << "sold " << sold << " (late " << late << "), cancelled " << cancelled << ", "
            << server.size() << " bookings on the server\n";
}

}  // namespace
}  // namespace seatlock::sink
