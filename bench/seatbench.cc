// seatbench: one load generator for seatlockd and for Redis + Lua, with the
// same workload against both (docs/benchmarks.md, "seatbench reference").
//
//   seatbench --target seatlock --port 7400 --connections 50 --pipeline 16
//   seatbench --target redis --port 6390 --connections 50 --pipeline 16
//   seatbench --target redis --port 6390 --workload read --rate 50000 --verify
//
// Closed loop (default): each connection keeps --pipeline transactions in
// flight. Open loop (--rate R): each connection sends on a fixed schedule
// (R / connections per second), catching up at once when behind, and latency
// is measured from each request's intended send time, so queueing in the
// server or the generator is not hidden (no coordinated omission).
//
// --target seatlock --client async (default): requests go through the client
// library's pipelined AsyncClient (client/async_client.h), so the figures
// include its cost. K = --threads clients, each with its own I/O thread and
// connections / (K x shards) sockets per shard port; every logical connection
// (Conn: holder, rng, cursors, verify records) belongs to one client and one
// shard, and keeps its transactions in flight through AsyncClient::Call. The
// callbacks (on that client's I/O thread) record the reply and start the next
// transaction; open loop, the pacer runs on the same I/O thread
// (AsyncClient::RunAt). A per-client mutex guards the client's connections
// and stats, which main also reads.
//
// --client raw (and --target redis): threads (--threads) each run an epoll
// loop over their share of the connections; requests are encoded straight
// into each connection's output buffer and written with one send per pass, so
// the generator costs less per request than the server. Each thread owns its
// connections, histogram and verification records; main merges them at the
// end. Both: after the measured window every connection stops starting
// transactions and drains (a request left unanswered is an error), then
// --verify reads the final state back.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_net.h"
#include "client/async_client.h"
#include "client/client.h"
#include "common/flag_spelling.h"
#include "common/histogram.h"
#include "common/mono_clock.h"
#include "protocol/framing.h"
#include "protocol/seatlock.pb.h"
#include "protocol/sharding.h"

ABSL_FLAG(std::string, target, "seatlock", "seatlock or redis.");
ABSL_FLAG(std::string, client, "",
          "--target seatlock: async (the default: requests go through the client library's "
          "AsyncClient, max(1, connections / shards) clients, one socket per shard each) or raw "
          "(seatbench's own epoll code on the wire protocol: the server without client-library "
          "overhead). --target redis is always raw.");
ABSL_FLAG(std::string, host, "127.0.0.1", "Server address (loopback only for load tests).");
ABSL_FLAG(int32_t, port, 7400, "Server port (seatlockd main port, or Redis).");
ABSL_FLAG(std::string, nodes, "",
          "A seatlockd replica group: comma-separated host:port of its nodes. seatbench asks "
          "each node's HELLO and drives the primary (instead of --host/--port); a failover during "
          "the run: with --client raw, each lost connection (or NOT_PRIMARY) finds the primary "
          "again and reconnects; what it had in flight counts as lost to the failover, not as "
          "errors (docs/cluster.md).");
ABSL_FLAG(
    std::string, workload, "hold1",
    "hold1 (one random seat), hold4 (4 adjacent seats in a row), contended (one seat; 90% of "
    "requests on 1% of the seats), hold-confirm (hold a free seat, then confirm it in the same "
    "slot: durable sales; throughput counts sales), hold-release (hold1, and each granted hold "
    "released by its holder in the same slot: the success path; a transaction is the hold and "
    "its release), read (free seats of one random section; ~10% of the seats are held during "
    "setup), or ping (PING: the server loop's ceiling).");
ABSL_FLAG(int32_t, connections, 50, "Connections in total.");
ABSL_FLAG(int32_t, server_pid, 0,
          "If set: the server's process id. Its CPU time (user + system, all threads, io-wq "
          "workers included, from /proc/PID/stat) over the measured window is reported, with "
          "requests per server CPU-second.");
ABSL_FLAG(int32_t, pipeline, 1, "Closed loop: transactions in flight per connection.");
ABSL_FLAG(
    int32_t, threads, 1,
    "Load-generator threads (raw: epoll loops; --client async: clients, each with its own I/O "
    "thread, which also paces its open-loop sends).");
ABSL_FLAG(double, duration, 10, "Seconds to measure.");
ABSL_FLAG(double, warmup, 2, "Seconds to run before measuring.");
ABSL_FLAG(
    int32_t, seats, 50000,
    "Seats in the event: rows of 50, 50 seats a section up to 50,000 seats, else 1,000 sections.");
ABSL_FLAG(int64_t, ttl, 1000, "Hold TTL in ms (short, so seats keep coming back).");
ABSL_FLAG(std::string, json, "",
          "Also write the results (and a latency CDF) as JSON to this file.");
ABSL_FLAG(std::string, event, "",
          "Event id (default: bench-<pid>); Redis keys are prefixed with it.");
ABSL_FLAG(std::string, lua_dir, "bench/redis",
          "--target redis: directory with hold.lua, confirm.lua, release.lua, availability.lua "
          "(each loaded once with SCRIPT LOAD, called with EVALSHA).");
ABSL_FLAG(
    double, rate, 0,
    "Open loop: transactions per second in total, spread evenly over the connections; latency "
    "from each one's intended send time. 0: closed loop.");
ABSL_FLAG(int32_t, max_in_flight, 1024,
          "Open loop: most transactions in flight per connection (--pipeline is the closed-loop "
          "depth). A transaction sent 1 ms or more after its intended time counts as late.");
ABSL_FLAG(bool, verify, false,
          "Record every granted hold and acknowledged sale, read the final state back, and check "
          "that no seat was held or sold twice. Exit 1 on a violation.");
ABSL_FLAG(int64_t, verify_slack_ms, 20,
          "--verify: clock slack (the server's deadline is now_ms + ttl in whole ms, and its loop "
          "may read the clock a little before our send).");
ABSL_FLAG(std::string, read_op, "seats",
          "read workload on seatlock: seats (GET_SEATS of the section on its shard, free seats "
          "counted by seatbench: the like-for-like of availability.lua) or availability "
          "(GET_AVAILABILITY: every section's counts, fanned out to every shard).");

namespace seatlock {
namespace {

constexpr uint64_t kLateNs = 1'000'000;         // open loop: sent >= 1 ms after its intended time
constexpr uint64_t kDrainNs = 10'000'000'000;   // after the run: wait this long for replies
constexpr uint32_t kPreholdConn = 0xffffffffu;  // holder "bench-prehold" (read workload setup)
constexpr int kSetupBatch = 256;
constexpr int64_t kCallTimeoutMs = 10'000;  // --client async: as long as the drain

std::atomic<int> g_printed_errors{0};  // "unexpected result" lines printed, all threads

constexpr std::string_view kTool = "seatbench";
[[noreturn]] void Die(const std::string& msg) { bench::Die(kTool, msg); }
int Dial(const std::string& host, int port) { return bench::Dial(kTool, host, port); }
void WriteAll(int fd, const std::string& s) { bench::WriteAll(kTool, fd, s); }

void RespBulk(std::string* out, absl::string_view s) {
  absl::StrAppend(out, "$", s.size(), "\r\n", s, "\r\n");
}
void RespCommand(std::string* out, const std::vector<std::string>& args) {
  absl::StrAppend(out, "*", args.size(), "\r\n");
  for (const auto& a : args) RespBulk(out, a);
}

struct RespValue {
  char type = 0;  // '+', '-', ':', '$', '*'
  bool nil = false;
  int64_t integer = 0;
  std::string str;
  std::vector<RespValue> elems;
};

// A blocking connection for setup and verification (not the load path).
class SyncConn {
 public:
  SyncConn(const std::string& host, int port) : fd_(Dial(host, port)) {}
  ~SyncConn() { close(fd_); }
  SyncConn(const SyncConn&) = delete;
  SyncConn& operator=(const SyncConn&) = delete;

  // seatlock: send the requests in one write, return the responses in request order.
  std::vector<wire::Response> Calls(const std::vector<wire::Request>& reqs) {
    std::string out;
    std::unordered_map<uint64_t, size_t> pos;
    for (size_t i = 0; i < reqs.size(); ++i) {
      protocol::AppendFrame(reqs[i], &out);
      pos[reqs[i].request_id()] = i;
    }
    WriteAll(fd_, out);
    std::vector<wire::Response> resps(reqs.size());
    for (size_t got = 0; got < reqs.size(); ++got) {
      while (buf_.size() - off_ < 4 ||
             buf_.size() - off_ < 4 + protocol::GetFrameHeader(buf_.data() + off_)) {
        More();
      }
      const uint32_t len = protocol::GetFrameHeader(buf_.data() + off_);
      wire::Response r;
      if (!r.ParseFromArray(buf_.data() + off_ + 4, static_cast<int>(len)))
        Die("bad response frame");
      off_ += 4 + len;
      auto it = pos.find(r.request_id());
      if (it == pos.end())
        Die(absl::StrCat("response to an unknown request: ", wire::ResultCode_Name(r.code())));
      resps[it->second] = std::move(r);
    }
    Compact();
    return resps;
  }
  wire::Response Call(const wire::Request& req) { return Calls({req})[0]; }

  // Redis: send the commands in one write, return the replies in order.
  std::vector<RespValue> Commands(const std::vector<std::vector<std::string>>& cmds) {
    std::string out;
    for (const auto& c : cmds) RespCommand(&out, c);
    WriteAll(fd_, out);
    std::vector<RespValue> replies(cmds.size());
    for (auto& r : replies) r = ReadResp();
    Compact();
    return replies;
  }
  RespValue Command(const std::vector<std::string>& args) { return Commands({args})[0]; }

 private:
  void More() {
    char tmp[1 << 16];
    const ssize_t n = read(fd_, tmp, sizeof(tmp));
    if (n <= 0) Die("server closed the connection during setup or verification");
    buf_.append(tmp, static_cast<size_t>(n));
  }
  void Compact() {
    buf_.erase(0, off_);
    off_ = 0;
  }
  std::string Line() {
    size_t nl;
    while ((nl = buf_.find("\r\n", off_)) == std::string::npos) More();
    std::string line = buf_.substr(off_, nl - off_);
    off_ = nl + 2;
    return line;
  }
  RespValue ReadResp() {
    RespValue v;
    const std::string line = Line();
    if (line.empty()) Die("empty RESP line");
    v.type = line[0];
    const std::string rest = line.substr(1);
    switch (v.type) {
      case '+':
      case '-':
        v.str = rest;
        break;
      case ':':
        v.integer = std::stoll(rest);
        break;
      case '$': {
        const long len = std::stol(rest);
        if (len < 0) {
          v.nil = true;
          break;
        }
        while (buf_.size() - off_ < static_cast<size_t>(len) + 2) More();
        v.str = buf_.substr(off_, static_cast<size_t>(len));
        off_ += static_cast<size_t>(len) + 2;
        break;
      }
      case '*': {
        const long n = std::stol(rest);
        if (n < 0) {
          v.nil = true;
          break;
        }
        v.elems.reserve(static_cast<size_t>(n));
        for (long i = 0; i < n; ++i) v.elems.push_back(ReadResp());
        break;
      }
      default:
        Die(absl::StrCat("unexpected RESP reply: ", line));
    }
    return v;
  }
  int fd_;
  std::string buf_;
  size_t off_ = 0;
};

enum class Workload { kHold, kContended, kConfirm, kRead, kHoldRelease, kPing };

struct Setup {
  bool redis = false;
  Workload workload = Workload::kHold;
  bool open_loop = false;
  bool verify = false;
  bool read_availability = false;  // seatlock read: GET_AVAILABILITY instead of GET_SEATS
  int hold_seats = 1;
  std::string event;
  std::string sha_hold, sha_confirm, sha_release, sha_avail;  // redis scripts
  // seatlock: per shard, the sections it owns (Redis: one "shard" with all).
  std::vector<std::vector<int>> sections_of_shard;
  // contended: per shard, its hot seats (global seat numbers), 1% of its seats.
  std::vector<std::vector<uint32_t>> hot_of_shard;
  int sections = 0;
  int seats_per_section = 0;
  int64_t ttl = 1000;
  double ns_per_txn = 0;  // open loop: 1e9 / --rate
  int connections = 0;
  uint64_t start_ns = 0;                  // open loop: the schedule's origin
  std::vector<uint32_t> free_in_section;  // read: expected free seats per section
  uint64_t expected_free_total = 0;
  // --nodes: the group's nodes. A raw connection that is lost, or answered
  // NOT_PRIMARY, finds the primary again and reconnects (Worker::Reconnect).
  std::vector<std::string> nodes;

  uint32_t total_seats() const { return static_cast<uint32_t>(sections * seats_per_section); }
  std::string SeatKey(uint32_t g) const {
    return absl::StrCat("seat:", event, ":S", g / static_cast<uint32_t>(seats_per_section), ":",
                        g % static_cast<uint32_t>(seats_per_section));
  }
};

std::string HolderOf(uint32_t conn) {
  return conn == kPreholdConn ? std::string("bench-prehold") : absl::StrCat("bench-", conn);
}

// --verify records. Times are MonoNs.
struct GrantRec {
  uint32_t seat;  // first seat (global number); the hold covers seat .. seat+count-1
  uint32_t conn;  // holder: "bench-<conn>" (or kPreholdConn)
  uint64_t send_ns;
  uint64_t reply_ns;
  uint64_t hold_id;  // seatlock
  uint32_t ttl_ms;
  uint8_t count;
};
struct SaleRec {
  uint32_t seat;
  uint32_t conn;
  uint64_t key_id;  // the idempotency key's number (Redis sold marker)
  uint64_t booking;
};

struct Stats {
  LatencyHistogram hist;
  uint64_t ok = 0, refused = 0, errors = 0, late = 0, backlog = 0, unanswered = 0;
  // --nodes: transactions a failover cost (in flight on a lost connection,
  // or answered NOT_PRIMARY or UNAVAILABLE), and reconnections to a primary.
  uint64_t failover_lost = 0, reconnects = 0;
  std::vector<GrantRec> grants;
  std::vector<SaleRec> sales;
};

enum class Kind : uint8_t { kHold, kConfirm, kRead, kRelease, kPing };

// One request in flight.
struct Pending {
  uint64_t id = 0;         // 0: free slot
  uint64_t origin_ns = 0;  // latency origin: intended (open loop) or send time of the transaction
  uint64_t sent_ns = 0;    // this request's send time
  uint64_t key_id = 0;     // confirm: the idempotency key's number
  uint64_t hold_id = 0;    // confirm (seatlock): the hold being confirmed
  uint64_t hold_sent_ns =
      0;              // confirm: when its hold was sent (sent_ns: when the hold's reply came)
  uint32_t seat = 0;  // first seat (global), or the section for a read
  Kind kind = Kind::kHold;
};

// One connection's state, owned by its thread.
struct Conn {
  int fd = -1;
  uint32_t index = 0;  // global connection number: holder "bench-<index>"
  int shard = 0;
  std::string out;
  std::string in;
  size_t in_off = 0;
  std::vector<Pending> ring;  // indexed by request id & mask
  uint64_t next_id = 1;
  uint64_t next_done = 1;  // redis: replies arrive in send order
  int in_flight = 0;       // transactions (a sale's hold + confirm is one)
  uint64_t sched_k = 0;    // open loop: the next transaction's number
  // hold-confirm: this connection's next unsold seat, walking its sections.
  size_t section_cursor = 0;
  uint32_t seat_cursor = 0;
  bool sold_out = false;
  bool lost = false;  // --nodes: reconnect to the primary after this batch
  std::vector<int> my_sections;
  std::mt19937_64 rng;
  std::string holder;
};

// Raw: one load-generator thread's connections, driven by Run(). Async
// (`client` set): one AsyncClient's connections, driven by its callbacks and
// the Async* methods, all under mu_.
class Worker {
 public:
  Worker(const Setup& setup, std::vector<Conn> conns, int depth,
         std::unique_ptr<AsyncClient> client = nullptr)
      : setup_(setup), conns_(std::move(conns)), depth_(depth), client_(std::move(client)) {
    uint64_t size = 1;
    while (size < static_cast<uint64_t>(depth) * 4) size <<= 1;
    if (client_ == nullptr) {
      for (auto& c : conns_) c.ring.assign(size, Pending{});
    }
    mask_ = size - 1;
  }
  ~Worker() { AsyncClose(); }

  // ---- --client async -------------------------------------------------------
  // Closed loop: put --pipeline transactions in flight on every connection.
  void AsyncStart() {
    std::lock_guard<std::mutex> l(mu_);
    if (!setup_.open_loop) {
      for (auto& c : conns_) Fill(c);
    }
  }
  // Open loop: the pacer runs on the client's own I/O thread (RunAt), with
  // the reply callbacks: a pacing thread of its own would compete with the
  // I/O thread for the load generator's core and send late. Each pass sends
  // what is due and schedules the next at the earliest intended time (within
  // 1 ms: a connection at --pipeline depth has none until a reply frees it,
  // and the reply's callback sends for it).
  void AsyncPaceFrom(uint64_t start_ns) {
    client_->RunAt(start_ns, [this] { AsyncPaceTick(); });
  }
  void AsyncPaceTick() {
    uint64_t wake;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (draining_ || closed_) return;
      const uint64_t now = MonoNs();
      wake = now + 1'000'000;
      for (auto& c : conns_) wake = std::min(wake, IssueDue(c, now));
    }
    client_->RunAt(wake, [this] { AsyncPaceTick(); });
  }
  void AsyncMeasure() {
    std::lock_guard<std::mutex> l(mu_);
    measuring_ = true;
  }
  // The window is over: start no more transactions.
  void AsyncDrain() {
    std::lock_guard<std::mutex> l(mu_);
    draining_ = true;
    measuring_ = false;
    if (setup_.open_loop) CountBacklog(MonoNs());
  }
  int AsyncInFlight() {
    std::lock_guard<std::mutex> l(mu_);
    int open = 0;
    for (auto& c : conns_) open += c.in_flight;
    return open;
  }
  // Counts what is still in flight as unanswered (returned) and destroys the
  // client; the callbacks its shutdown runs (CANCELLED) are ignored.
  int AsyncClose() {
    if (client_ == nullptr) return 0;
    int open = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      closed_ = true;
      for (auto& c : conns_) open += c.in_flight;
      stats.unanswered += static_cast<uint64_t>(open);
    }
    client_.reset();  // joins its I/O thread: stats are then main's to read
    return open;
  }

  void Run(const std::atomic<int>* phase) {
    const int ep = epoll_create1(EPOLL_CLOEXEC);
    ep_ = ep;
    for (size_t i = 0; i < conns_.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(ep, EPOLL_CTL_ADD, conns_[i].fd, &ev);
    }
    int tfd = -1;
    if (setup_.open_loop) {
      tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
      if (tfd < 0) Die(absl::StrCat("timerfd_create: ", strerror(errno)));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = UINT64_MAX;
      epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    }
    uint64_t drain_deadline = 0;
    uint64_t armed = 0;
    epoll_event events[256];
    for (;;) {
      const int p = phase->load(std::memory_order_relaxed);
      if (p >= 2) {
        if (!draining_) {
          draining_ = true;
          measuring_ = false;
          drain_deadline = MonoNs() + kDrainNs;
          if (setup_.open_loop) CountBacklog(MonoNs());
        }
        int open = 0;
        for (auto& c : conns_) open += c.in_flight;
        if (open == 0) break;
        if (MonoNs() > drain_deadline) {
          stats.unanswered += static_cast<uint64_t>(open);
          std::fprintf(stderr, "seatbench: %d transactions unanswered %.0f s after the run\n", open,
                       static_cast<double>(kDrainNs) / 1e9);
          break;
        }
      } else {
        measuring_ = p == 1;
      }
      int timeout_ms = 100;
      if (!draining_) {
        if (setup_.open_loop) {
          const uint64_t now = MonoNs();
          uint64_t wake = UINT64_MAX;
          for (auto& c : conns_) wake = std::min(wake, IssueDue(c, now));
          if (wake != UINT64_MAX && wake != armed) {
            itimerspec its{};
            its.it_value.tv_sec = static_cast<time_t>(wake / 1'000'000'000);
            its.it_value.tv_nsec = static_cast<long>(wake % 1'000'000'000);
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, nullptr);
            armed = wake;
          }
        } else {
          for (auto& c : conns_) Fill(c);
        }
      }
      Flush();
      const int n = epoll_wait(ep, events, 256, timeout_ms);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == UINT64_MAX) {
          uint64_t expirations;
          if (read(tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
            Die("timerfd read");
          armed = 0;
          continue;
        }
        Conn& c = conns_[events[i].data.u64];
        if (c.lost) continue;
        char buf[1 << 16];
        const ssize_t r = read(c.fd, buf, sizeof(buf));
        if (r <= 0) {
          if (setup_.nodes.empty())
            Die(absl::StrCat("connection lost: ", r == 0 ? "closed" : strerror(errno)));
          c.lost = true;
          continue;
        }
        c.in.append(buf, static_cast<size_t>(r));
        if (setup_.redis)
          ParseRedis(c);
        else
          ParseSeatlock(c);
      }
      for (auto& c : conns_) {
        if (c.lost) Reconnect(c);
      }
    }
    if (tfd >= 0) close(tfd);
    close(ep);
  }

  Stats stats;

 private:
  // Closed loop: keep `depth_` transactions in flight.
  void Fill(Conn& c) {
    const uint64_t now = MonoNs();
    while (c.in_flight < depth_ && !c.sold_out) {
      if (!StartTxn(c, now, now)) break;
    }
  }
  // Open loop: send every transaction whose intended time has come (catching
  // up when behind, up to `depth_` in flight). Returns the next wake-up time.
  uint64_t IssueDue(Conn& c, uint64_t now) {
    for (;;) {
      const uint64_t t = Intended(c, c.sched_k);
      if (t > now) return t;
      if (c.in_flight >= depth_ || c.sold_out) return UINT64_MAX;  // woken by a reply
      if (!StartTxn(c, t, now)) return UINT64_MAX;
      if (measuring_ && now - t >= kLateNs) stats.late++;
      c.sched_k++;
    }
  }
  uint64_t Intended(const Conn& c, uint64_t k) const {
    const double slot = static_cast<double>(c.index) + static_cast<double>(k) * setup_.connections;
    return setup_.start_ns + static_cast<uint64_t>(slot * setup_.ns_per_txn);
  }
  void CountBacklog(uint64_t now) {
    for (auto& c : conns_) {
      while (Intended(c, c.sched_k) <= now) {
        stats.backlog++;
        c.sched_k++;
      }
    }
  }

  // A free ring slot and its request id, or nullptr when none is free.
  Pending* NewRequest(Conn& c, uint64_t* id) {
    for (int tries = 0; tries < 4; ++tries) {
      Pending& p = c.ring[c.next_id & mask_];
      if (p.id == 0) {
        *id = c.next_id++;
        p.id = *id;
        return &p;
      }
      if (setup_.redis) return nullptr;  // replies in order: ids must stay contiguous
      c.next_id++;
    }
    return nullptr;
  }

  // Raw: a free ring slot (nullptr when none is free). Async: *local, with a
  // fresh number from the connection's counter (idempotency keys use it).
  Pending* Allocate(Conn& c, Pending* local) {
    if (client_ == nullptr) {
      uint64_t id;
      return NewRequest(c, &id);
    }
    *local = Pending{};
    local->id = c.next_id++;
    return local;
  }

  bool StartTxn(Conn& c, uint64_t origin, uint64_t now) {
    Pending local;
    Pending* p = Allocate(c, &local);
    if (p == nullptr) return false;
    p->origin_ns = origin;
    p->sent_ns = now;
    const int sps = setup_.seats_per_section;
    const auto& secs = setup_.sections_of_shard[static_cast<size_t>(c.shard)];
    if (setup_.workload == Workload::kPing) {
      p->kind = Kind::kPing;
      if (setup_.redis) {
        c.out.append("*1\r\n$4\r\nPING\r\n");
      } else {
        wire::Request req;
        req.mutable_ping();
        SendSeatlock(c, *p, req);
      }
    } else if (setup_.workload == Workload::kRead) {
      p->kind = Kind::kRead;
      p->seat = static_cast<uint32_t>(secs[c.rng() % secs.size()]);  // the section
      if (setup_.redis)
        EncodeRedisRead(c, p->seat);
      else
        EncodeSeatlockRead(c, *p);
    } else {
      p->kind = Kind::kHold;
      uint32_t first;
      if (setup_.workload == Workload::kConfirm) {  // walk this connection's own seats
        if (c.seat_cursor >= static_cast<uint32_t>(sps)) {
          c.seat_cursor = 0;
          c.section_cursor++;
        }
        if (c.section_cursor >= c.my_sections.size()) {
          c.sold_out = true;
          p->id = 0;
          c.next_id--;
          stats.errors++;
          std::fprintf(stderr, "seatbench: connection %u sold all its seats: raise --seats\n",
                       c.index);
          return false;
        }
        first =
            static_cast<uint32_t>(c.my_sections[c.section_cursor]) * static_cast<uint32_t>(sps) +
            c.seat_cursor++;
      } else if (setup_.workload == Workload::kContended && c.rng() % 10 != 0) {
        const auto& hot = setup_.hot_of_shard[static_cast<size_t>(c.shard)];
        first = hot[c.rng() % hot.size()];
      } else {  // a random run of hold_seats seats inside one row
        const uint32_t sec = static_cast<uint32_t>(secs[c.rng() % secs.size()]);
        const uint32_t row = static_cast<uint32_t>(c.rng() % static_cast<uint64_t>(sps / 50));
        const uint32_t pos =
            static_cast<uint32_t>(c.rng() % static_cast<uint64_t>(50 - setup_.hold_seats + 1));
        first = sec * static_cast<uint32_t>(sps) + row * 50 + pos;
      }
      p->seat = first;
      if (setup_.redis)
        EncodeRedisHold(c, first);
      else
        EncodeSeatlockHold(c, *p);
    }
    c.in_flight++;
    MarkDirty(c);
    return true;
  }

  void MarkDirty(Conn& c) {
    if (client_ == nullptr) dirty_.push_back(&c);
  }
  void Flush() {
    for (Conn* c : dirty_) {
      if (c->out.empty() || c->lost) continue;
      if (setup_.nodes.empty()) {
        WriteAll(c->fd, c->out);
      } else if (!bench::SendAll(c->fd, c->out)) {
        c->lost = true;  // reconnected after this batch
      }
      c->out.clear();
    }
    dirty_.clear();
  }
  // --nodes: `c` was lost, or a node that is no longer the primary answered
  // it. Whatever it had in flight is lost to the failover; it finds the
  // primary again (HELLO on the nodes, through the client library) and
  // dials the same shard's port there. The thread waits meanwhile, as a
  // booking service would; at most 30 s.
  void Reconnect(Conn& c) {
    c.lost = false;
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
    for (auto& p : c.ring) p.id = 0;
    stats.failover_lost += static_cast<uint64_t>(c.in_flight);
    c.in_flight = 0;
    c.in.clear();
    c.in_off = 0;
    c.out.clear();
    const uint64_t deadline = MonoNs() + 30'000'000'000ull;
    while (c.fd < 0 && MonoNs() < deadline) {
      ClientOptions o;
      o.nodes = setup_.nodes;
      o.shard_aware = false;
      o.connect_timeout_ms = 500;
      o.call_timeout_ms = 1000;
      auto client = Client::Connect(o);
      if (client.ok() && (*client)->hello().role() == "primary" &&
          (*client)->hello().shard_ports_size() > c.shard) {
        const std::string primary = (*client)->hello().primary_address();
        const size_t colon = primary.rfind(':');
        if (colon != std::string::npos) {
          c.fd = bench::TryDial(primary.substr(0, colon),
                                static_cast<int>((*client)->hello().shard_ports(c.shard)));
        }
      }
      if (c.fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (c.fd < 0) Die("--nodes: no primary answered within 30 s");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(&c - conns_.data());
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    stats.reconnects++;
  }

  // A transaction ended (its last reply arrived). outcome: 0 ok, 1 refused,
  // 2 error, 3 lost to a failover (--nodes: NOT_PRIMARY or UNAVAILABLE).
  void Done(Conn& c, const Pending& p, uint64_t now, int outcome) {
    c.in_flight--;
    if (outcome == 3) {
      stats.failover_lost++;
      return;
    }
    if (!measuring_) return;
    stats.hist.Record(now - p.origin_ns);
    if (outcome == 0)
      stats.ok++;
    else if (outcome == 1)
      stats.refused++;
    else
      stats.errors++;
  }
  void Unexpected(const std::string& what) {
    if (g_printed_errors.fetch_add(1, std::memory_order_relaxed) < 5) {
      std::fprintf(stderr, "seatbench: unexpected result: %s\n", what.c_str());
    }
  }

  // ---- seatlock ----
  // Sends the request of `p`. Raw: into the connection's output buffer, with
  // the ring slot's id; `req` is left as it was but for that id, so a caller
  // may reuse it. Async: moved into the client; the callback handles the
  // reply under mu_ on the client's I/O thread.
  void SendSeatlock(Conn& c, const Pending& p, wire::Request& req) {
    if (client_ != nullptr) {
      client_->Call(
          std::move(req),
          [this, &c, p](absl::StatusOr<wire::Response> r) { OnAsyncReply(c, p, std::move(r)); },
          kCallTimeoutMs);
      return;
    }
    req.set_request_id(p.id);
    protocol::AppendFrame(req, &c.out);
  }
  void OnAsyncReply(Conn& c, const Pending& p, absl::StatusOr<wire::Response> r) {
    const uint64_t now = MonoNs();
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return;  // the client is shutting down; counted as unanswered
    if (r.ok()) {
      OnSeatlockReply(c, p, *r, now);
    } else {
      // The call failed (timeout, connection lost): the server's answer is
      // unknown. An error, whatever the phase.
      const uint32_t sps = static_cast<uint32_t>(setup_.seats_per_section);
      Unexpected(absl::StrCat(p.kind == Kind::kRead
                                  ? absl::StrCat("read of section S", p.seat)
                                  : absl::StrCat(p.kind == Kind::kHold ? "HOLD" : "CONFIRM",
                                                 " of seat ", p.seat / sps, "/", p.seat % sps),
                              " failed: ", r.status().ToString()));
      if (setup_.verify && p.kind == Kind::kConfirm) {  // the hold may still stand
        stats.grants.push_back(GrantRec{p.seat, c.index, p.hold_sent_ns, p.sent_ns, p.hold_id,
                                        static_cast<uint32_t>(setup_.ttl), 1});
      }
      c.in_flight--;
      stats.errors++;
      if (measuring_) stats.hist.Record(now - p.origin_ns);
    }
    if (draining_) return;
    if (setup_.open_loop) {
      IssueDue(c, now);  // what waited for a free slot (the pacer sends the rest)
    } else {
      Fill(c);
    }
  }
  // Raw: one Request is reused for every HOLD, its strings and seat entries
  // overwritten in place, so the load generator allocates nothing per HOLD
  // (its CPU, not the server's, would otherwise cap hold1 on a pinned core).
  // Async: a fresh Request, which the client takes.
  void EncodeSeatlockHold(Conn& c, const Pending& p) {
    const uint32_t sps = static_cast<uint32_t>(setup_.seats_per_section);
    const uint32_t first = p.seat;
    wire::Request fresh;
    wire::Request& req = client_ == nullptr ? hold_req_ : fresh;
    auto* h = req.mutable_hold();
    h->set_event_id(setup_.event);
    auto* seats = h->mutable_seats();
    while (seats->size() > setup_.hold_seats) seats->RemoveLast();
    for (int k = 0; k < setup_.hold_seats; ++k) {
      auto* s = k < seats->size() ? seats->Mutable(k) : seats->Add();
      s->set_section(SectionLabel(first / sps));
      s->set_index(first % sps + static_cast<uint32_t>(k));
    }
    h->set_holder(c.holder);
    h->set_ttl_ms(setup_.ttl);
    SendSeatlock(c, p, req);
  }
  // "S<n>", made once per section.
  const std::string& SectionLabel(uint32_t section) {
    while (section_labels_.size() <= section) {
      section_labels_.push_back(absl::StrCat("S", section_labels_.size()));
    }
    return section_labels_[section];
  }
  void EncodeSeatlockRead(Conn& c, const Pending& p) {
    wire::Request req;
    if (setup_.read_availability) {
      req.mutable_get_availability()->set_event_id(setup_.event);
    } else {
      auto* g = req.mutable_get_seats();
      g->set_event_id(setup_.event);
      g->set_section(absl::StrCat("S", p.seat));
    }
    SendSeatlock(c, p, req);
  }
  void ParseSeatlock(Conn& c) {
    for (;;) {
      const size_t avail = c.in.size() - c.in_off;
      if (avail < 4) break;
      const uint32_t len = protocol::GetFrameHeader(c.in.data() + c.in_off);
      if (avail < 4 + static_cast<size_t>(len)) break;
      wire::Response& resp = resp_;  // reused: parsing clears it, keeping its allocations
      if (!resp.ParseFromArray(c.in.data() + c.in_off + 4, static_cast<int>(len)))
        Die("bad response");
      c.in_off += 4 + len;
      const uint64_t now = MonoNs();
      Pending& slot = c.ring[resp.request_id() & mask_];
      if (slot.id != resp.request_id() || slot.id == 0) {
        Die(absl::StrCat("response to an unknown request id ", resp.request_id(), ": ",
                         wire::ResultCode_Name(resp.code()), " ", resp.detail()));
      }
      const Pending p = slot;
      slot.id = 0;
      if (!setup_.nodes.empty() &&
          (resp.code() == wire::NOT_PRIMARY || resp.code() == wire::UNAVAILABLE)) {
        // A failover: a deposed primary, or a CONFIRM the new primary could
        // not yet get its replica's ack for.
        if (resp.code() == wire::NOT_PRIMARY) c.lost = true;
        Done(c, p, now, 3);
        continue;
      }
      OnSeatlockReply(c, p, resp, now);
    }
    c.in.erase(0, c.in_off);
    c.in_off = 0;
  }
  void OnSeatlockReply(Conn& c, const Pending& p, const wire::Response& resp, uint64_t now) {
    const uint32_t sps = static_cast<uint32_t>(setup_.seats_per_section);
    switch (p.kind) {
      case Kind::kHold: {
        if (resp.code() == wire::OK) {
          if (setup_.workload == Workload::kConfirm) {  // send its CONFIRM in the same slot
            Pending local;
            Pending* q = Allocate(c, &local);
            if (q == nullptr) Die("request ring full");
            const uint64_t id = q->id;
            q->kind = Kind::kConfirm;
            q->origin_ns = p.origin_ns;
            q->sent_ns = now;
            q->seat = p.seat;
            q->key_id = id;
            q->hold_id = resp.hold().hold_id();
            q->hold_sent_ns = p.sent_ns;
            wire::Request req;
            auto* cf = req.mutable_confirm();
            cf->set_hold_id(resp.hold().hold_id());
            cf->set_holder(c.holder);
            cf->set_idempotency_key(absl::StrCat(setup_.event, "-", c.holder, "-", id));
            cf->set_payment_ref("bench");
            SendSeatlock(c, *q, req);
            MarkDirty(c);
            return;
          }
          if (setup_.workload == Workload::kHoldRelease) {  // release it in the same slot
            Pending local;
            Pending* q = Allocate(c, &local);
            if (q == nullptr) Die("request ring full");
            q->kind = Kind::kRelease;
            q->origin_ns = p.origin_ns;
            q->sent_ns = now;
            q->seat = p.seat;
            q->hold_id = resp.hold().hold_id();
            wire::Request req;
            req.mutable_release()->set_hold_id(resp.hold().hold_id());
            req.mutable_release()->set_holder(c.holder);
            SendSeatlock(c, *q, req);
            MarkDirty(c);
            return;
          }
          if (setup_.verify) {
            stats.grants.push_back(GrantRec{p.seat, c.index, p.sent_ns, now, resp.hold().hold_id(),
                                            static_cast<uint32_t>(setup_.ttl),
                                            static_cast<uint8_t>(setup_.hold_seats)});
          }
          Done(c, p, now, 0);
          return;
        }
        const bool refusal =
            resp.code() == wire::SEAT_UNAVAILABLE && setup_.workload != Workload::kConfirm;
        if (!refusal) {
          Unexpected(absl::StrCat("HOLD of seat ", p.seat / sps, "/", p.seat % sps, ": ",
                                  wire::ResultCode_Name(resp.code()), " ", resp.detail()));
        }
        Done(c, p, now, refusal ? 1 : 2);
        return;
      }
      case Kind::kPing:
        if (resp.code() != wire::OK) Unexpected(absl::StrCat("PING: ", resp.detail()));
        Done(c, p, now, resp.code() == wire::OK ? 0 : 2);
        return;
      case Kind::kRelease:
        // The hold was granted a moment ago with a TTL far longer than the
        // round trip: anything but OK is a bug.
        if (resp.code() != wire::OK) {
          Unexpected(absl::StrCat("RELEASE of hold ", p.hold_id, ": ",
                                  wire::ResultCode_Name(resp.code()), " ", resp.detail()));
        }
        Done(c, p, now, resp.code() == wire::OK ? 0 : 2);
        return;
      case Kind::kConfirm: {
        const auto& cf = resp.confirm();
        if (resp.code() == wire::OK && cf.booking_id() != 0 && !cf.replayed()) {
          if (setup_.verify)
            stats.sales.push_back(SaleRec{p.seat, c.index, p.key_id, cf.booking_id()});
          Done(c, p, now, 0);
          return;
        }
        Unexpected(absl::StrCat("CONFIRM: ", wire::ResultCode_Name(resp.code()), " booking ",
                                cf.booking_id(), cf.replayed() ? " replayed " : " ",
                                resp.detail()));
        if (setup_.verify) {  // the hold may still stand
          stats.grants.push_back(GrantRec{p.seat, c.index, p.hold_sent_ns, p.sent_ns, p.hold_id,
                                          static_cast<uint32_t>(setup_.ttl), 1});
        }
        Done(c, p, now, 2);
        return;
      }
      case Kind::kRead: {
        bool good = resp.code() == wire::OK;
        uint64_t free = 0, want = 0;
        if (good && setup_.read_availability) {
          free = resp.get_availability().free();
          want = setup_.expected_free_total;
        } else if (good) {
          for (const auto& s : resp.get_seats().seats()) free += s.state() == wire::FREE ? 1 : 0;
          want = setup_.free_in_section[p.seat];
          good = resp.get_seats().seats_size() == setup_.seats_per_section;
        }
        if (!good || free != want) {
          Unexpected(absl::StrCat("read of section S", p.seat, ": ",
                                  wire::ResultCode_Name(resp.code()), " free ", free, ", expected ",
                                  want, " ", resp.detail()));
          Done(c, p, now, 2);
          return;
        }
        Done(c, p, now, 0);
        return;
      }
    }
  }

  // ---- Redis ----
  void EncodeRedisHold(Conn& c, uint32_t first) {
    const std::string ttl = std::to_string(setup_.ttl);
    absl::StrAppend(&c.out, "*", 5 + setup_.hold_seats, "\r\n$7\r\nEVALSHA\r\n");
    RespBulk(&c.out, setup_.sha_hold);
    RespBulk(&c.out, std::to_string(setup_.hold_seats));
    for (int k = 0; k < setup_.hold_seats; ++k)
      RespBulk(&c.out, setup_.SeatKey(first + static_cast<uint32_t>(k)));
    RespBulk(&c.out, c.holder);
    RespBulk(&c.out, ttl);
  }
  void EncodeRedisConfirm(Conn& c, uint64_t key_id, uint32_t seat) {
    absl::StrAppend(&c.out, "*8\r\n$7\r\nEVALSHA\r\n");
    RespBulk(&c.out, setup_.sha_confirm);
    RespBulk(&c.out, "3");
    RespBulk(&c.out, IdemKey(c.index, key_id));
    RespBulk(&c.out, absl::StrCat("bookings:", setup_.event));
    RespBulk(&c.out, setup_.SeatKey(seat));
    RespBulk(&c.out, c.holder);
    RespBulk(&c.out, "86400");
  }
  void EncodeRedisRelease(Conn& c, uint32_t first) {
    absl::StrAppend(&c.out, "*", 4 + setup_.hold_seats, "\r\n$7\r\nEVALSHA\r\n");
    RespBulk(&c.out, setup_.sha_release);
    RespBulk(&c.out, std::to_string(setup_.hold_seats));
    for (int k = 0; k < setup_.hold_seats; ++k)
      RespBulk(&c.out, setup_.SeatKey(first + static_cast<uint32_t>(k)));
    RespBulk(&c.out, c.holder);
  }
  std::string IdemKey(uint32_t conn, uint64_t key_id) const {
    return absl::StrCat("idem:", setup_.event, ":", HolderOf(conn), ":", key_id);
  }
  void EncodeRedisRead(Conn& c, uint32_t section) {
    absl::StrAppend(&c.out, "*5\r\n$7\r\nEVALSHA\r\n");
    RespBulk(&c.out, setup_.sha_avail);
    RespBulk(&c.out, "0");
    RespBulk(&c.out, absl::StrCat("seat:", setup_.event, ":S", section, ":"));
    RespBulk(&c.out, std::to_string(setup_.seats_per_section));
  }
  void ParseRedis(Conn& c) {
    for (;;) {
      if (c.in_off >= c.in.size()) break;
      const size_t nl = c.in.find("\r\n", c.in_off);
      if (nl == std::string::npos) break;
      const char kind = c.in[c.in_off];
      if (kind != ':' && kind != '-' && kind != '+') {  // + only for PING's +PONG
        Die(absl::StrCat("unexpected redis reply ", c.in.substr(c.in_off, nl - c.in_off)));
      }
      const uint64_t now = MonoNs();
      Pending& slot = c.ring[c.next_done & mask_];
      if (slot.id != c.next_done) Die("redis reply with no request in flight");
      const Pending p = slot;
      slot.id = 0;
      c.next_done++;
      if (kind == '-') {
        Unexpected(absl::StrCat("redis error ", c.in.substr(c.in_off, nl - c.in_off)));
        c.in_off = nl + 2;
        Done(c, p, now, 2);
        continue;
      }
      const int64_t value =
          kind == '+' ? 0 : std::strtoll(c.in.c_str() + c.in_off + 1, nullptr, 10);
      c.in_off = nl + 2;
      OnRedisReply(c, p, value, now);
    }
    c.in.erase(0, c.in_off);
    c.in_off = 0;
  }
  void OnRedisReply(Conn& c, const Pending& p, int64_t value, uint64_t now) {
    switch (p.kind) {
      case Kind::kHold:
        if (value == 1) {
          if (setup_.workload == Workload::kConfirm) {  // EVALSHA confirm in the same slot
            uint64_t id;
            Pending* q = NewRequest(c, &id);
            if (q == nullptr) Die("request ring full");
            q->kind = Kind::kConfirm;
            q->origin_ns = p.origin_ns;
            q->sent_ns = now;
            q->seat = p.seat;
            q->key_id = id;
            q->hold_sent_ns = p.sent_ns;
            EncodeRedisConfirm(c, id, p.seat);
            MarkDirty(c);
            return;
          }
          if (setup_.workload == Workload::kHoldRelease) {  // release.lua in the same slot
            uint64_t id;
            Pending* q = NewRequest(c, &id);
            if (q == nullptr) Die("request ring full");
            q->kind = Kind::kRelease;
            q->origin_ns = p.origin_ns;
            q->sent_ns = now;
            q->seat = p.seat;
            EncodeRedisRelease(c, p.seat);
            MarkDirty(c);
            return;
          }
          if (setup_.verify) {
            stats.grants.push_back(GrantRec{p.seat, c.index, p.sent_ns, now, 0,
                                            static_cast<uint32_t>(setup_.ttl),
                                            static_cast<uint8_t>(setup_.hold_seats)});
          }
          Done(c, p, now, 0);
        } else if (value == 0 && setup_.workload != Workload::kConfirm) {
          Done(c, p, now, 1);
        } else {
          Unexpected(absl::StrCat("hold.lua returned ", value, " for ", setup_.SeatKey(p.seat)));
          Done(c, p, now, 2);
        }
        return;
      case Kind::kConfirm: {
        if (value > 0) {  // a booking id
          if (setup_.verify)
            stats.sales.push_back(SaleRec{p.seat, c.index, p.key_id, static_cast<uint64_t>(value)});
          Done(c, p, now, 0);
          return;
        }
        // 0: the seat was no longer held by us. With a TTL shorter than the
        // hold-to-confirm time that is the hold expiring: a refusal, not a
        // bug (seatlockd would sell it late; the Lua has no record to do so).
        if (setup_.verify) {
          stats.grants.push_back(GrantRec{p.seat, c.index, p.hold_sent_ns, p.sent_ns, 0,
                                          static_cast<uint32_t>(setup_.ttl), 1});
        }
        Done(c, p, now, 1);
        return;
      }
      case Kind::kPing:
        Done(c, p, now, 0);
        return;
      case Kind::kRelease:
        if (value != setup_.hold_seats) {
          Unexpected(absl::StrCat("release.lua returned ", value, " for ", setup_.SeatKey(p.seat)));
        }
        Done(c, p, now, value == setup_.hold_seats ? 0 : 2);
        return;
      case Kind::kRead:
        if (value != static_cast<int64_t>(setup_.free_in_section[p.seat])) {
          Unexpected(absl::StrCat("availability.lua for S", p.seat, " returned ", value,
                                  ", expected ", setup_.free_in_section[p.seat]));
          Done(c, p, now, 2);
          return;
        }
        Done(c, p, now, 0);
        return;
    }
  }

  const Setup& setup_;
  std::vector<Conn> conns_;
  int depth_;
  uint64_t mask_;
  bool measuring_ = false;
  bool draining_ = false;
  std::vector<Conn*> dirty_;
  // --client async. mu_ guards conns_, stats and the flags above once the
  // client's callbacks may run (its I/O thread, which also paces, and main).
  std::unique_ptr<AsyncClient> client_;
  std::mutex mu_;
  bool closed_ = false;
  int ep_ = -1;                              // Run's epoll set (raw)
  wire::Request hold_req_;                   // raw: EncodeSeatlockHold's, reused
  wire::Response resp_;                      // raw: ParseSeatlock's, reused
  std::vector<std::string> section_labels_;  // SectionLabel's
};

// ---- --verify ---------------------------------------------------------------

class Verifier {
 public:
  Verifier(const Setup& setup, std::vector<GrantRec> grants, std::vector<SaleRec> sales,
           int64_t slack_ms)
      : setup_(setup),
        grants_(std::move(grants)),
        sales_(std::move(sales)),
        slack_ns_(static_cast<uint64_t>(slack_ms) * 1'000'000) {}

  // Returns the number of violations (each printed, up to 20).
  // The run saw a failover (--nodes): a hold granted just before it may not
  // have reached the new primary, so held and free seats cannot be checked
  // against the grants, and a CONFIRM in flight
  // at the failover may have sold its seat without the answer arriving.
  void set_failover(bool f) { failover_ = f; }

  uint64_t Run(const std::string& host, int port) {
    CheckSales();
    IndexGrants();
    if (failover_) {
      std::printf(
          "verify: a failover happened: checking sales only (every acknowledged sale SOLD to its "
          "booking on the new primary, no seat sold twice); the holds granted just before the "
          "failover may not have reached it\n");
    } else {
      CheckGrantOverlaps();
    }
    if (setup_.redis)
      ReadBackRedis(host, port);
    else
      ReadBackSeatlock(host, port);
    if (violations_ == 0) {
      std::printf(
          "verify: OK (%llu checks: %zu granted holds, %zu acknowledged sales, %u seats read "
          "back)\n",
          static_cast<unsigned long long>(checks_), grants_.size(), sales_.size(),
          setup_.total_seats());
      if (failover_) {
        std::printf(
            "verify: %llu seats SOLD with no acknowledged sale (their CONFIRM was in "
            "flight at the failover)\n",
            static_cast<unsigned long long>(unacknowledged_sold_));
      }
    } else {
      std::printf("verify: FAILED: %llu violations in %llu checks\n",
                  static_cast<unsigned long long>(violations_),
                  static_cast<unsigned long long>(checks_));
    }
    return violations_;
  }
  uint64_t checks() const { return checks_; }

 private:
  bool failover_ = false;
  uint64_t unacknowledged_sold_ = 0;  // failover: SOLD seats whose CONFIRM answer was lost
  void Violation(const std::string& msg) {
    if (violations_++ < 20) std::printf("verify: VIOLATION: %s\n", msg.c_str());
  }
  std::string SeatName(uint32_t g) const {
    return absl::StrCat("S", g / static_cast<uint32_t>(setup_.seats_per_section), "/",
                        g % static_cast<uint32_t>(setup_.seats_per_section));
  }
  static double Ms(uint64_t ns) { return std::round(static_cast<double>(ns) / 1e3) / 1e3; }

  // No two acknowledged sales share a seat or a booking id.
  void CheckSales() {
    sale_of_.assign(setup_.total_seats(), -1);
    for (size_t i = 0; i < sales_.size(); ++i) {
      const SaleRec& s = sales_[i];
      checks_++;
      if (sale_of_[s.seat] >= 0) {
        const SaleRec& o = sales_[static_cast<size_t>(sale_of_[s.seat])];
        Violation(absl::StrCat("seat ", SeatName(s.seat), " sold twice: booking ", o.booking, " (",
                               HolderOf(o.conn), ") and booking ", s.booking, " (",
                               HolderOf(s.conn), ")"));
        continue;
      }
      sale_of_[s.seat] = static_cast<int32_t>(i);
    }
    std::vector<uint64_t> ids;
    ids.reserve(sales_.size());
    for (const auto& s : sales_) ids.push_back(s.booking);
    std::sort(ids.begin(), ids.end());
    for (size_t i = 1; i < ids.size(); ++i) {
      checks_++;
      if (ids[i] == ids[i - 1])
        Violation(absl::StrCat("booking id ", ids[i], " acknowledged for two sales"));
    }
  }

  // Per seat, its granted holds in send order (CSR: offsets_ into by_seat_).
  void IndexGrants() {
    const uint32_t n = setup_.total_seats();
    offsets_.assign(static_cast<size_t>(n) + 1, 0);
    for (const auto& g : grants_) {
      for (uint32_t k = 0; k < g.count; ++k) offsets_[g.seat + k + 1]++;
    }
    for (uint32_t i = 0; i < n; ++i) offsets_[i + 1] += offsets_[i];
    by_seat_.assign(offsets_[n], 0);
    std::vector<uint32_t> fill(offsets_.begin(), offsets_.end() - 1);
    for (uint32_t i = 0; i < grants_.size(); ++i) {
      for (uint32_t k = 0; k < grants_[i].count; ++k) by_seat_[fill[grants_[i].seat + k]++] = i;
    }
    for (uint32_t s = 0; s < n; ++s) {
      std::sort(by_seat_.begin() + offsets_[s], by_seat_.begin() + offsets_[s + 1],
                [&](uint32_t a, uint32_t b) { return grants_[a].send_ns < grants_[b].send_ns; });
    }
  }

  // Two granted holds A and B of one seat, neither released (no workload
  // releases; a confirmed hold is not recorded as a grant). The server
  // granted A at some time in [A.send, A.reply] with a deadline of at least
  // A.send + ttl, and likewise B. If B was granted after A, it must have been
  // granted after A's deadline, so B.reply >= A.send + ttl; or the other way
  // round. A double hold is a pair where neither order is possible:
  //   B.reply < A.send + ttl  and  A.reply < B.send + ttl   (less the slack).
  void CheckGrantOverlaps() {
    const uint32_t n = setup_.total_seats();
    for (uint32_t s = 0; s < n; ++s) {
      if (violations_ > 100000) {  // a broken target: the pairs would be quadratic
        std::printf("verify: over 100000 violations; stopped checking holds for overlaps\n");
        return;
      }
      for (uint32_t i = offsets_[s]; i < offsets_[s + 1]; ++i) {
        const GrantRec& a = grants_[by_seat_[i]];
        checks_++;
        if (sale_of_[s] >= 0) {
          Violation(absl::StrCat("seat ", SeatName(s), " sold (booking ",
                                 sales_[static_cast<size_t>(sale_of_[s])].booking,
                                 ") and also held by ", HolderOf(a.conn),
                                 " with its confirm failing"));
        }
        const uint64_t a_end = a.send_ns + uint64_t{a.ttl_ms} * 1'000'000;
        for (uint32_t j = i + 1; j < offsets_[s + 1]; ++j) {
          const GrantRec& b = grants_[by_seat_[j]];
          if (b.send_ns >= a_end) break;  // sorted by send: no later grant can overlap A
          checks_++;
          const uint64_t b_end = b.send_ns + uint64_t{b.ttl_ms} * 1'000'000;
          if (b.reply_ns + slack_ns_ < a_end && a.reply_ns + slack_ns_ < b_end) {
            Violation(absl::StrCat("seat ", SeatName(s), " held twice at once: ", HolderOf(a.conn),
                                   " (sent ", Ms(a.send_ns - run_origin()), " ms, granted by ",
                                   Ms(a.reply_ns - run_origin()), " ms, ttl ", a.ttl_ms, ") and ",
                                   HolderOf(b.conn), " (sent ", Ms(b.send_ns - run_origin()),
                                   " ms, granted by ", Ms(b.reply_ns - run_origin()), " ms)"));
          }
        }
      }
    }
  }
  uint64_t run_origin() const { return grants_origin_; }

  // The seat's latest grant (by send time), and whether another grant's
  // reply came after it was sent (then the server's order is not known).
  const GrantRec* Latest(uint32_t s, bool* ambiguous) const {
    *ambiguous = false;
    if (offsets_[s] == offsets_[s + 1]) return nullptr;
    const GrantRec* last = &grants_[by_seat_[offsets_[s + 1] - 1]];
    for (uint32_t i = offsets_[s]; i + 1 < offsets_[s + 1]; ++i) {
      if (grants_[by_seat_[i]].reply_ns > last->send_ns) *ambiguous = true;
    }
    return last;
  }
  template <typename Match>
  bool AnyGrant(uint32_t s, Match match) const {
    for (uint32_t i = offsets_[s]; i < offsets_[s + 1]; ++i) {
      if (match(grants_[by_seat_[i]])) return true;
    }
    return false;
  }
  // The hold surely still stood when the state was read (read by read_ns).
  bool SurelyLive(const GrantRec& g, uint64_t read_ns) const {
    return read_ns + slack_ns_ < g.send_ns + uint64_t{g.ttl_ms} * 1'000'000;
  }

  enum class Seen { kFree, kHeld, kSold };
  // One seat's read-back state. owner_matches(grant) says whether a HELD seat's
  // owner is that grant's; sold_ok whether a SOLD seat matches its sale.
  template <typename OwnerMatches>
  void CheckSeat(uint32_t s, Seen seen, uint64_t read_ns, OwnerMatches owner_matches, bool sold_ok,
                 const std::string& shown) {
    checks_++;
    const int32_t sale = sale_of_[s];
    if (sale >= 0) {
      if (seen != Seen::kSold || !sold_ok) {
        Violation(absl::StrCat("seat ", SeatName(s), " acknowledged as sold (booking ",
                               sales_[static_cast<size_t>(sale)].booking, ", ",
                               HolderOf(sales_[static_cast<size_t>(sale)].conn), ") reads back as ",
                               shown));
      }
      return;
    }
    if (seen == Seen::kSold) {
      if (failover_) {
        unacknowledged_sold_++;  // its CONFIRM's answer was lost in the failover
        return;
      }
      Violation(absl::StrCat("seat ", SeatName(s), " reads back as ", shown,
                             " with no acknowledged sale"));
      return;
    }
    if (failover_) return;
    bool ambiguous;
    const GrantRec* last = Latest(s, &ambiguous);
    if (seen == Seen::kHeld) {
      const bool ok =
          last != nullptr && (owner_matches(*last) || (ambiguous && AnyGrant(s, owner_matches)));
      if (!ok)
        Violation(absl::StrCat("seat ", SeatName(s), " reads back as ", shown,
                               ", not the latest granted hold"));
      return;
    }
    if (last != nullptr && SurelyLive(*last, read_ns)) {
      Violation(absl::StrCat("seat ", SeatName(s), " reads back as free while the hold granted to ",
                             HolderOf(last->conn), " had not expired"));
    }
  }

  void ReadBackSeatlock(const std::string& host, int port) {
    SyncConn conn(host, port);
    const uint32_t sps = static_cast<uint32_t>(setup_.seats_per_section);
    for (int first = 0; first < setup_.sections; first += 16) {
      std::vector<wire::Request> reqs;
      for (int sec = first; sec < std::min(setup_.sections, first + 16); ++sec) {
        wire::Request r;
        r.set_request_id(static_cast<uint64_t>(sec) + 1);
        r.mutable_get_seats()->set_event_id(setup_.event);
        r.mutable_get_seats()->set_section(absl::StrCat("S", sec));
        reqs.push_back(std::move(r));
      }
      const auto resps = conn.Calls(reqs);
      const uint64_t read_ns = MonoNs();
      for (size_t k = 0; k < resps.size(); ++k) {
        const uint32_t sec = static_cast<uint32_t>(first) + static_cast<uint32_t>(k);
        const auto& r = resps[k];
        checks_++;
        if (r.code() != wire::OK || r.get_seats().seats_size() != setup_.seats_per_section) {
          Violation(absl::StrCat("GET_SEATS S", sec, ": ", wire::ResultCode_Name(r.code()),
                                 " with ", r.get_seats().seats_size(), " seats ", r.detail()));
          continue;
        }
        for (const auto& info : r.get_seats().seats()) {
          const uint32_t s = sec * sps + info.index();
          const uint64_t owner = info.owner_id();
          const Seen seen = info.state() == wire::SOLD   ? Seen::kSold
                            : info.state() == wire::HELD ? Seen::kHeld
                                                         : Seen::kFree;
          const int32_t sale = sale_of_[s];
          const bool sold_ok = sale >= 0 && owner == sales_[static_cast<size_t>(sale)].booking;
          CheckSeat(
              s, seen, read_ns, [owner](const GrantRec& g) { return g.hold_id == owner; }, sold_ok,
              absl::StrCat(wire::SeatState_Name(info.state()), " (owner ", owner, ")"));
        }
      }
    }
  }

  void ReadBackRedis(const std::string& host, int port) {
    SyncConn conn(host, port);
    const uint32_t n = setup_.total_seats();
    constexpr uint32_t kBatch = 1000;
    for (uint32_t first = 0; first < n; first += kBatch) {
      std::vector<std::string> cmd{"MGET"};
      for (uint32_t s = first; s < std::min(n, first + kBatch); ++s)
        cmd.push_back(setup_.SeatKey(s));
      const RespValue v = conn.Command(cmd);
      const uint64_t read_ns = MonoNs();
      checks_++;
      if (v.type != '*' || v.elems.size() != cmd.size() - 1) {
        Violation(absl::StrCat("MGET of ", cmd.size() - 1, " seats: bad reply ", v.str));
        continue;
      }
      for (size_t k = 0; k < v.elems.size(); ++k) {
        const uint32_t s = first + static_cast<uint32_t>(k);
        const RespValue& e = v.elems[k];
        const std::string& val = e.str;
        const Seen seen = e.nil                            ? Seen::kFree
                          : absl::StartsWith(val, "sold:") ? Seen::kSold
                                                           : Seen::kHeld;
        const int32_t sale = sale_of_[s];
        bool sold_ok = false;
        if (sale >= 0) {
          const SaleRec& r = sales_[static_cast<size_t>(sale)];
          sold_ok = val == absl::StrCat("sold:", HolderOf(r.conn), ":idem:", setup_.event, ":",
                                        HolderOf(r.conn), ":", r.key_id);
        }
        CheckSeat(
            s, seen, read_ns, [&val](const GrantRec& g) { return HolderOf(g.conn) == val; },
            sold_ok, e.nil ? std::string("free") : absl::StrCat("\"", val, "\""));
      }
    }
    if (setup_.workload ==
        Workload::kConfirm) {  // every INCR of the counter is an acknowledged sale
      const RespValue v = conn.Command({"GET", absl::StrCat("bookings:", setup_.event)});
      const uint64_t counter = v.nil ? 0 : std::stoull(v.str);
      checks_++;
      if (counter != sales_.size()) {
        Violation(absl::StrCat("booking counter is ", counter, " but ", sales_.size(),
                               " sales were acknowledged"));
      }
    }
  }

  const Setup& setup_;
  std::vector<GrantRec> grants_;
  std::vector<SaleRec> sales_;
  uint64_t slack_ns_;
  uint64_t grants_origin_ = 0;
  std::vector<int32_t> sale_of_;
  std::vector<uint32_t> offsets_;
  std::vector<uint32_t> by_seat_;
  uint64_t checks_ = 0;
  uint64_t violations_ = 0;

 public:
  void set_origin(uint64_t ns) { grants_origin_ = ns; }
};

// ---- setup ------------------------------------------------------------------

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) Die(absl::StrCat("cannot read ", path, " (see --lua_dir)"));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// read workload: hold ~10% of the seats (chosen at random) with a TTL that
// outlasts the run, and remember each section's free count.
void Prehold(Setup* setup, const std::string& host, int port, int64_t ttl_ms,
             std::vector<GrantRec>* grants) {
  std::mt19937_64 rng(12345);
  const uint32_t sps = static_cast<uint32_t>(setup->seats_per_section);
  setup->free_in_section.assign(static_cast<size_t>(setup->sections), sps);
  std::vector<uint32_t> chosen;
  for (uint32_t s = 0; s < setup->total_seats(); ++s) {
    if (rng() % 10 == 0) chosen.push_back(s);
  }
  SyncConn conn(host, port);
  for (size_t first = 0; first < chosen.size(); first += kSetupBatch) {
    const size_t end = std::min(chosen.size(), first + kSetupBatch);
    const uint64_t send_ns = MonoNs();
    std::vector<bool> ok(end - first, false);
    if (setup->redis) {
      std::vector<std::vector<std::string>> cmds;
      for (size_t i = first; i < end; ++i) {
        cmds.push_back({"EVALSHA", setup->sha_hold, "1", setup->SeatKey(chosen[i]),
                        HolderOf(kPreholdConn), std::to_string(ttl_ms)});
      }
      const auto replies = conn.Commands(cmds);
      for (size_t i = 0; i < replies.size(); ++i)
        ok[i] = replies[i].type == ':' && replies[i].integer == 1;
    } else {
      std::vector<wire::Request> reqs;
      for (size_t i = first; i < end; ++i) {
        wire::Request r;
        r.set_request_id(i + 1);
        auto* h = r.mutable_hold();
        h->set_event_id(setup->event);
        auto* seat = h->add_seats();
        seat->set_section(absl::StrCat("S", chosen[i] / sps));
        seat->set_index(chosen[i] % sps);
        h->set_holder(HolderOf(kPreholdConn));
        h->set_ttl_ms(ttl_ms);
        reqs.push_back(std::move(r));
      }
      const auto resps = conn.Calls(reqs);
      for (size_t i = 0; i < resps.size(); ++i) {
        ok[i] = resps[i].code() == wire::OK;
        if (ok[i]) {
          grants->push_back(GrantRec{chosen[first + i], kPreholdConn, send_ns, 0,
                                     resps[i].hold().hold_id(), static_cast<uint32_t>(ttl_ms), 1});
        }
      }
    }
    const uint64_t reply_ns = MonoNs();
    for (size_t i = 0; i < ok.size(); ++i) {
      if (!ok[i]) Die(absl::StrCat("read setup: could not hold seat ", chosen[first + i]));
      if (setup->redis) {
        grants->push_back(GrantRec{chosen[first + i], kPreholdConn, send_ns, reply_ns, 0,
                                   static_cast<uint32_t>(ttl_ms), 1});
      }
      setup->free_in_section[chosen[first + i] / sps]--;
    }
    if (!setup->redis) {
      for (auto it = grants->end() - static_cast<std::ptrdiff_t>(ok.size()); it != grants->end();
           ++it)
        it->reply_ns = reply_ns;
    }
  }
  setup->expected_free_total = setup->total_seats() - chosen.size();
  std::printf("setup: held %zu of %u seats for %lld ms (read workload)\n", chosen.size(),
              setup->total_seats(), static_cast<long long>(ttl_ms));
}

// ---- main -------------------------------------------------------------------

std::string JsonCdf(const LatencyHistogram& h) {
  // ~150 points, log-spaced in latency from the fastest bucket to the max:
  // [latency_us, fraction of requests at most that latency].
  std::string out = "[";
  if (h.count() > 0) {
    const double lo = static_cast<double>(std::max<uint64_t>(1000, h.Quantile(0)));
    const double hi = static_cast<double>(std::max<uint64_t>(h.max(), 1001));
    constexpr int kPoints = 150;
    uint64_t prev = 0;
    bool first = true;
    for (int i = 0; i <= kPoints; ++i) {
      const uint64_t v =
          static_cast<uint64_t>(lo * std::pow(hi / lo, static_cast<double>(i) / kPoints));
      if (v == prev) continue;
      prev = v;
      const double frac =
          i == kPoints ? 1.0
                       : static_cast<double>(h.CountAtMost(v)) / static_cast<double>(h.count());
      absl::StrAppend(&out, first ? "" : ",", "[", static_cast<double>(v) / 1000.0, ",", frac, "]");
      first = false;
    }
  }
  return out + "]";
}

// CPU seconds (user + system) the process `pid` has used: all its threads,
// including the kernel's io-wq workers for it, from /proc/PID/stat.
double ProcessCpuSeconds(int pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (!f.good() && stat.empty()) Die(absl::StrCat("--server_pid ", pid, ": no /proc/", pid));
  if (paren == std::string::npos) Die(absl::StrCat("cannot parse /proc/", pid, "/stat"));
  std::vector<std::string> fields = absl::StrSplit(stat.substr(paren + 2), ' ');
  // Fields after the name start at 3 (state); utime is 14, stime 15.
  if (fields.size() < 13) Die(absl::StrCat("cannot parse /proc/", pid, "/stat"));
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
}

int Main() {
  Setup setup;
  const std::string target = absl::GetFlag(FLAGS_target);
  if (target != "seatlock" && target != "redis") Die("--target must be seatlock or redis");
  setup.redis = target == "redis";
  const std::string workload = absl::GetFlag(FLAGS_workload);
  if (workload == "hold1")
    setup.hold_seats = 1;
  else if (workload == "hold4")
    setup.hold_seats = 4;
  else if (workload == "hold-confirm")
    setup.workload = Workload::kConfirm;
  else if (workload == "contended")
    setup.workload = Workload::kContended;
  else if (workload == "read")
    setup.workload = Workload::kRead;
  else if (workload == "hold-release")
    setup.workload = Workload::kHoldRelease;
  else if (workload == "ping")
    setup.workload = Workload::kPing;
  else
    Die("--workload must be hold1, hold4, contended, hold-confirm, hold-release, read or ping");
  const std::string read_op = absl::GetFlag(FLAGS_read_op);
  if (read_op != "seats" && read_op != "availability")
    Die("--read_op must be seats or availability");
  setup.read_availability = read_op == "availability" && !setup.redis;
  std::string client_mode = absl::GetFlag(FLAGS_client);
  if (client_mode.empty()) client_mode = setup.redis ? "raw" : "async";
  if (client_mode != "async" && client_mode != "raw") Die("--client must be async or raw");
  if (setup.redis && client_mode != "raw")
    Die("--client async needs --target seatlock (Redis is always raw)");
  const bool async = client_mode == "async";
  std::string host = absl::GetFlag(FLAGS_host);
  int port = absl::GetFlag(FLAGS_port);
  if (const std::string nodes = absl::GetFlag(FLAGS_nodes); !nodes.empty()) {
    if (setup.redis) Die("--nodes is for --target seatlock");
    ClientOptions o;
    o.nodes = absl::StrSplit(nodes, ',', absl::SkipEmpty());
    o.shard_aware = false;
    setup.nodes = o.nodes;
    auto c = Client::Connect(o);
    if (!c.ok()) Die(absl::StrCat("--nodes: ", c.status().message()));
    const std::string primary = (*c)->hello().primary_address();
    const size_t colon = primary.rfind(':');
    if (colon == std::string::npos) Die("--nodes: the primary did not say its address");
    host = primary.substr(0, colon);
    port = std::atoi(primary.c_str() + colon + 1);
    std::fprintf(stderr, "seatbench: --nodes: the primary is %s (epoch %lld)\n", primary.c_str(),
                 static_cast<long long>((*c)->hello().epoch()));
  }
  const int connections = absl::GetFlag(FLAGS_connections);
  const int pipeline = absl::GetFlag(FLAGS_pipeline);
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));
  const double duration = absl::GetFlag(FLAGS_duration);
  const double warmup = absl::GetFlag(FLAGS_warmup);
  const double rate = absl::GetFlag(FLAGS_rate);
  const int max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  if (connections < 1 || pipeline < 1 || duration <= 0 || warmup < 0 || duration > 3600 ||
      rate < 0 || max_in_flight < 1 || max_in_flight > 65536) {
    Die("--connections, --pipeline, --max_in_flight must be >= 1, --duration in (0, 3600], --rate "
        ">= 0");
  }
  setup.open_loop = rate > 0;
  setup.ns_per_txn = setup.open_loop ? 1e9 / rate : 0;
  setup.connections = connections;
  setup.verify = absl::GetFlag(FLAGS_verify);
  const int depth = setup.open_loop ? max_in_flight : pipeline;
  // Sections of rows of 50 seats: 50 seats a section up to 50,000 seats,
  // then at most 1,000 sections with more rows each.
  const int seats = std::max(50, absl::GetFlag(FLAGS_seats));
  setup.sections = std::min(1000, seats / 50);
  setup.seats_per_section = (seats / setup.sections) / 50 * 50;
  setup.ttl = absl::GetFlag(FLAGS_ttl);
  if (setup.ttl <= 0 || setup.ttl > 3'600'000) Die("--ttl must be in (0, 3600000] ms");
  setup.event = absl::GetFlag(FLAGS_event).empty() ? absl::StrCat("bench-", getpid())
                                                   : absl::GetFlag(FLAGS_event);
  const int64_t prehold_ttl =
      std::min<int64_t>(3'600'000, static_cast<int64_t>((warmup + duration) * 1000) + 120'000);

  std::vector<Conn> conns(static_cast<size_t>(connections));
  for (int i = 0; i < connections; ++i) {
    conns[i].index = static_cast<uint32_t>(i);
    conns[i].rng.seed(static_cast<uint64_t>(i) * 7919 + 17);
    conns[i].holder = HolderOf(static_cast<uint32_t>(i));
  }
  std::vector<GrantRec> setup_grants;
  uint32_t shards = 1;
  int usable_shards = 1;
  if (setup.redis) {
    const std::string dir = absl::GetFlag(FLAGS_lua_dir);
    SyncConn conn(host, port);
    auto load = [&](const char* name) {
      const RespValue v = conn.Command({"SCRIPT", "LOAD", ReadFile(absl::StrCat(dir, "/", name))});
      if (v.type != '$' || v.str.size() != 40)
        Die(absl::StrCat("SCRIPT LOAD ", name, " failed: ", v.str));
      return v.str;
    };
    setup.sha_hold = load("hold.lua");
    setup.sha_confirm = load("confirm.lua");
    setup.sha_release = load("release.lua");
    setup.sha_avail = load("availability.lua");
    setup.sections_of_shard.assign(1, {});
    for (int s = 0; s < setup.sections; ++s) setup.sections_of_shard[0].push_back(s);
    for (int i = 0; i < connections; ++i) conns[i].fd = Dial(host, port);
  } else {
    SyncConn conn(host, port);
    wire::Request hello;
    hello.mutable_hello()->set_protocol_version(protocol::kProtocolVersion);
    const wire::Response hr = conn.Call(hello);
    shards = hr.hello().shard_count();
    if (shards == 0 || static_cast<uint32_t>(hr.hello().shard_ports_size()) != shards)
      Die("bad HELLO reply");
    wire::Request def;
    def.set_request_id(1);
    auto* d = def.mutable_define_event();
    d->set_event_id(setup.event);
    for (int s = 0; s < setup.sections; ++s) {
      auto* sec = d->add_sections();
      sec->set_label(absl::StrCat("S", s));
      for (int r = 0; r < setup.seats_per_section / 50; ++r) {
        auto* row = sec->add_rows();
        row->set_label(absl::StrCat("R", r));
        row->set_seat_count(50);
      }
    }
    const wire::Response dr = conn.Call(def);
    if (dr.code() != wire::OK) Die(absl::StrCat("DEFINE_EVENT failed: ", dr.detail()));
    setup.sections_of_shard.resize(shards);
    for (int s = 0; s < setup.sections; ++s) {
      setup
          .sections_of_shard[protocol::ShardFor(setup.event, absl::StrCat("S", s), shards,
                                                hr.hello().hash_seed())]
          .push_back(s);
    }
    std::vector<int> usable;
    for (uint32_t s = 0; s < shards; ++s) {
      if (!setup.sections_of_shard[s].empty()) usable.push_back(static_cast<int>(s));
    }
    for (int i = 0; i < connections; ++i) {
      conns[i].shard = usable[static_cast<size_t>(i) % usable.size()];
      if (!async)
        conns[i].fd = Dial(host, static_cast<int>(hr.hello().shard_ports(conns[i].shard)));
    }
    usable_shards = static_cast<int>(usable.size());
  }
  // contended: each shard's hot seats are the first 1% of its seats (Redis:
  // one "shard", the first 1% of all seats), so both targets have the same
  // number of hot seats.
  setup.hot_of_shard.resize(setup.sections_of_shard.size());
  for (size_t sh = 0; sh < setup.sections_of_shard.size(); ++sh) {
    const auto& secs = setup.sections_of_shard[sh];
    const uint64_t want = std::max<uint64_t>(
        1, (secs.size() * static_cast<uint64_t>(setup.seats_per_section) + 99) / 100);
    for (size_t k = 0; k < secs.size() && setup.hot_of_shard[sh].size() < want; ++k) {
      for (int i = 0; i < setup.seats_per_section && setup.hot_of_shard[sh].size() < want; ++i) {
        setup.hot_of_shard[sh].push_back(
            static_cast<uint32_t>(secs[k] * setup.seats_per_section + i));
      }
    }
  }
  if (setup.workload == Workload::kConfirm) {  // deal each shard's sections out to its connections
    for (size_t sh = 0; sh < setup.sections_of_shard.size(); ++sh) {
      std::vector<Conn*> on_shard;
      for (auto& c : conns) {
        if (c.shard == static_cast<int>(sh)) on_shard.push_back(&c);
      }
      for (size_t k = 0; k < setup.sections_of_shard[sh].size() && !on_shard.empty(); ++k) {
        on_shard[k % on_shard.size()]->my_sections.push_back(setup.sections_of_shard[sh][k]);
      }
    }
    for (const auto& c : conns) {
      if (c.my_sections.empty()) Die("hold-confirm: more connections than sections; raise --seats");
    }
  }
  if (setup.workload == Workload::kRead) Prehold(&setup, host, port, prehold_ttl, &setup_grants);

  std::vector<std::unique_ptr<Worker>> workers;
  int clients = 0;
  if (async) {
    // K = --threads clients (one I/O thread each, as a booking service would
    // run), each with connections / (K x shards) sockets per shard port, so
    // that K x shards x that ~ --connections. Connection i (on shard
    // usable[i % U]) belongs to client (i / U) % K.
    clients = std::max(1, std::min(threads, connections / usable_shards));
    std::vector<std::vector<Conn>> mine(static_cast<size_t>(clients));
    for (int i = 0; i < connections; ++i) {
      mine[static_cast<size_t>((i / usable_shards) % clients)].push_back(std::move(conns[i]));
    }
    ClientOptions opts;
    opts.host = host;
    opts.port = static_cast<uint16_t>(port);
    opts.call_timeout_ms = kCallTimeoutMs;
    opts.client_name = "seatbench";
    opts.connections_per_port = std::clamp(connections / (clients * usable_shards), 1, 64);
    for (int k = 0; k < clients; ++k) {
      auto client = AsyncClient::Connect(opts);
      if (!client.ok()) Die(absl::StrCat("AsyncClient::Connect: ", client.status().ToString()));
      workers.push_back(std::make_unique<Worker>(setup, std::move(mine[static_cast<size_t>(k)]),
                                                 depth, std::move(*client)));
    }
  } else {  // split connections over threads
    for (int t = 0; t < threads; ++t) {
      std::vector<Conn> mine;
      for (int i = t; i < connections; i += threads) mine.push_back(std::move(conns[i]));
      workers.push_back(std::make_unique<Worker>(setup, std::move(mine), depth));
    }
  }
  const uint64_t run_start = MonoNs();
  setup.start_ns = run_start + 5'000'000;  // open loop: the schedule starts in 5 ms
  std::atomic<int> phase{0};
  std::vector<std::thread> ts;
  if (async) {
    for (auto& w : workers) w->AsyncStart();
    if (setup.open_loop) {  // each client paces its connections on its I/O thread
      for (auto& w : workers) w->AsyncPaceFrom(setup.start_ns);
    }
  } else {
    for (auto& w : workers) ts.emplace_back([&w, &phase] { w->Run(&phase); });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  const int server_pid = absl::GetFlag(FLAGS_server_pid);
  const double cpu_start = server_pid > 0 ? ProcessCpuSeconds(server_pid) : 0;
  phase = 1;
  const uint64_t start = MonoNs();
  if (async) {
    for (auto& w : workers) w->AsyncMeasure();
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(duration));
  phase = 2;
  const double server_cpu = server_pid > 0 ? ProcessCpuSeconds(server_pid) - cpu_start : 0;
  if (async) {
    for (auto& w : workers) w->AsyncDrain();
  }
  const double secs = static_cast<double>(MonoNs() - start) / 1e9;
  for (auto& t : ts) t.join();
  if (async) {  // wait for the replies still due, then close the clients
    const uint64_t drain_deadline = MonoNs() + kDrainNs;
    for (;;) {
      int open = 0;
      for (auto& w : workers) open += w->AsyncInFlight();
      if (open == 0) break;
      if (MonoNs() > drain_deadline) {
        std::fprintf(stderr, "seatbench: %d transactions unanswered %.0f s after the run\n", open,
                     static_cast<double>(kDrainNs) / 1e9);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (auto& w : workers) w->AsyncClose();
  }
  Stats total;
  std::vector<GrantRec> grants = std::move(setup_grants);
  std::vector<SaleRec> sales;
  for (auto& w : workers) {
    total.hist.Merge(w->stats.hist);
    total.ok += w->stats.ok;
    total.refused += w->stats.refused;
    total.errors += w->stats.errors;
    total.late += w->stats.late;
    total.backlog += w->stats.backlog;
    total.unanswered += w->stats.unanswered;
    total.failover_lost += w->stats.failover_lost;
    total.reconnects += w->stats.reconnects;
    grants.insert(grants.end(), w->stats.grants.begin(), w->stats.grants.end());
    sales.insert(sales.end(), w->stats.sales.begin(), w->stats.sales.end());
    w->stats.grants = {};
    w->stats.sales = {};
  }
  const bool confirm = setup.workload == Workload::kConfirm;
  const uint64_t n = total.hist.count();
  const uint64_t done = confirm ? total.ok : n;  // hold-confirm: throughput counts completed sales
  const double throughput = static_cast<double>(done) / secs;
  auto us = [&](double q) { return static_cast<double>(total.hist.Quantile(q)) / 1000.0; };
  auto pct = [&](uint64_t x) {
    return n ? 100.0 * static_cast<double>(x) / static_cast<double>(n) : 0.0;
  };
  const char* mode = setup.open_loop ? "open" : "closed";
  std::printf(
      "target=%s client=%s%s workload=%s%s mode=%s connections=%d %s=%d threads=%d seats=%u "
      "ttl=%lldms "
      "duration=%.1fs\n",
      target.c_str(), client_mode.c_str(),
      async ? absl::StrCat(" (", clients, clients == 1 ? " client)" : " clients)").c_str() : "",
      workload.c_str(),
      setup.workload == Workload::kRead && !setup.redis ? absl::StrCat(" (", read_op, ")").c_str()
                                                        : "",
      mode, connections, setup.open_loop ? "max_in_flight" : "pipeline", depth, threads,
      setup.total_seats(), static_cast<long long>(setup.ttl), secs);
  if (setup.open_loop) {
    std::printf(
        "  offered %.0f /s  achieved %.0f /s  late %llu (%.2f%%, sent >= 1 ms after the intended "
        "time)  "
        "backlog at end %llu\n",
        rate, static_cast<double>(n) / secs, static_cast<unsigned long long>(total.late),
        pct(total.late), static_cast<unsigned long long>(total.backlog));
  }
  const char* ok_word = confirm                                    ? "sold"
                        : setup.workload == Workload::kRead        ? "read"
                        : setup.workload == Workload::kPing        ? "answered"
                        : setup.workload == Workload::kHoldRelease ? "held+released"
                                                                   : "granted";
  std::printf(
      "  %s %llu  throughput %.0f /s  %s %.1f%%  refused %.1f%%  errors %llu  unanswered %llu\n",
      confirm ? "sales" : "requests", static_cast<unsigned long long>(confirm ? total.ok : n),
      throughput, ok_word, pct(total.ok), pct(total.refused),
      static_cast<unsigned long long>(total.errors),
      static_cast<unsigned long long>(total.unanswered));
  if (!setup.nodes.empty()) {
    std::printf(
        "  failover: %llu transactions lost (in flight on a lost connection, or answered "
        "NOT_PRIMARY or UNAVAILABLE), %llu reconnections to a primary\n",
        static_cast<unsigned long long>(total.failover_lost),
        static_cast<unsigned long long>(total.reconnects));
  }
  if (server_pid > 0) {
    std::printf("  server cpu %.2f s over %.2f s  requests per server cpu-second %.0f\n",
                server_cpu, secs, server_cpu > 0 ? static_cast<double>(n) / server_cpu : 0.0);
  }
  std::printf("  latency us%s: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
              setup.open_loop ? " (from intended send time)"
              : confirm       ? " (hold sent to confirm answered)"
                              : "",
              us(0.5), us(0.9), us(0.99), us(0.999),
              static_cast<double>(total.hist.max()) / 1000.0);
  std::fflush(stdout);

  uint64_t violations = 0, checks = 0;
  if (setup.verify) {
    Verifier v(setup, std::move(grants), std::move(sales), absl::GetFlag(FLAGS_verify_slack_ms));
    v.set_origin(run_start);
    if (total.reconnects > 0) {
      // The primary changed: read back from the one serving now. The last
      // holds may not have reached it, so only the sales can be checked exactly.
      v.set_failover(true);
      ClientOptions o;
      o.nodes = setup.nodes;
      o.shard_aware = false;
      auto c = Client::Connect(o);
      if (!c.ok()) Die(absl::StrCat("--verify: no primary: ", c.status().message()));
      const std::string primary = (*c)->hello().primary_address();
      host = primary.substr(0, primary.rfind(':'));
      port = std::atoi(primary.c_str() + primary.rfind(':') + 1);
    }
    violations = v.Run(host, port);
    checks = v.checks();
  }
  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    std::ofstream j(path);
    j << "{\"target\":\"" << target << "\",\"client\":\"" << client_mode << "\",\"workload\":\""
      << workload << "\",\"mode\":\"" << mode << "\",\"read_op\":\""
      << (setup.workload == Workload::kRead ? (setup.redis ? "availability.lua" : read_op) : "")
      << "\",\"connections\":" << connections << ",\"pipeline\":" << pipeline
      << ",\"max_in_flight\":" << depth << ",\"threads\":" << threads
      << ",\"seats\":" << setup.total_seats() << ",\"ttl_ms\":" << setup.ttl
      << ",\"seconds\":" << secs << ",\"rate_offered\":" << rate
      << ",\"rate_achieved\":" << static_cast<double>(n) / secs << ",\"requests\":" << n
      << ",\"throughput\":" << throughput << ",\"granted\":" << total.ok
      << ",\"refused\":" << total.refused << ",\"errors\":" << total.errors
      << ",\"unanswered\":" << total.unanswered << ",\"failover_lost\":" << total.failover_lost
      << ",\"reconnects\":" << total.reconnects << ",\"late\":" << total.late
      << ",\"backlog\":" << total.backlog << ",\"p50_us\":" << us(0.5) << ",\"p90_us\":" << us(0.9)
      << ",\"p99_us\":" << us(0.99) << ",\"p999_us\":" << us(0.999)
      << ",\"max_us\":" << static_cast<double>(total.hist.max()) / 1000.0
      << ",\"mean_us\":" << total.hist.mean() / 1000.0 << ",\"server_cpu_s\":" << server_cpu
      << ",\"per_server_cpu_s\":" << (server_cpu > 0 ? static_cast<double>(n) / server_cpu : 0.0)
      << ",\"verify\":" << (setup.verify ? (violations == 0 ? "\"ok\"" : "\"failed\"") : "null")
      << ",\"verify_checks\":" << checks << ",\"verify_violations\":" << violations
      << ",\"cdf\":" << JsonCdf(total.hist) << "}\n";
    if (!j) Die(absl::StrCat("cannot write --json ", path));
  }
  if (total.errors + total.unanswered > 0) {
    std::fprintf(stderr, "seatbench: %llu errors, %llu unanswered: failing the run\n",
                 static_cast<unsigned long long>(total.errors),
                 static_cast<unsigned long long>(total.unanswered));
  }
  return total.errors + total.unanswered == 0 && violations == 0 ? 0 : 1;
}

}  // namespace
}  // namespace seatlock

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view f) { return absl::StrContains(f, "seatbench"); };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "seatbench: load generator for seatlockd and Redis (docs/benchmarks.md). Flags may be "
      "spelled "
      "with '-' or '_' (--lua-dir or --lua_dir).");
  // Accept --lua-dir as well as --lua_dir (Abseil spells flags with '_').
  std::vector<std::string> normalized = seatlock::UnderscoreFlagNames(argc, argv);
  std::vector<char*> args;
  for (auto& a : normalized) args.push_back(a.data());
  const std::vector<char*> rest =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (rest.size() > 1) {
    std::fprintf(stderr, "seatbench: unexpected argument '%s' (see --help)\n", rest[1]);
    return 2;
  }
  return seatlock::Main();
}
