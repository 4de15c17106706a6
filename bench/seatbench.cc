// seatbench: one load generator for seatlockd and for Redis + Lua, with the
// same workload against both (docs/benchmarks.md).
//
//   seatbench --target seatlock --port 7400 --connections 50 --pipeline 16
//   seatbench --target redis --port 6379 --connections 50 --pipeline 16
//
// Closed loop: each connection keeps --pipeline requests in flight. Threads
// (--threads) each run an epoll loop over their share of the connections;
// requests are encoded straight into each connection's output buffer and
// written with one send per pass, so the generator costs less per request
// than the server. Latency is measured per request, send to response, into a
// log-linear histogram. Not thread-safe beyond that split: each thread owns
// its connections and histogram; main merges them at the end.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/histogram.h"
#include "common/mono_clock.h"
#include "protocol/framing.h"
#include "protocol/seatlock.pb.h"
#include "protocol/sharding.h"

ABSL_FLAG(std::string, target, "seatlock", "seatlock or redis.");
ABSL_FLAG(std::string, host, "127.0.0.1", "Server address (loopback only for load tests).");
ABSL_FLAG(int32_t, port, 7400, "Server port (seatlockd main port, or Redis).");
ABSL_FLAG(std::string, workload, "hold1",
          "hold1 (one random seat), hold4 (4 adjacent seats), contended (one seat; 90% of requests on "
          "1% of the seats), or hold-confirm (hold a free seat, then CONFIRM it: durable sales; "
          "seatlock only, throughput counts confirms).");
ABSL_FLAG(int32_t, connections, 50, "Connections in total.");
ABSL_FLAG(int32_t, pipeline, 1, "Requests in flight per connection.");
ABSL_FLAG(int32_t, threads, 1, "Load-generator threads.");
ABSL_FLAG(double, duration, 10, "Seconds to measure.");
ABSL_FLAG(double, warmup, 2, "Seconds to run before measuring.");
ABSL_FLAG(int32_t, seats, 50000,
          "Seats in the event: rows of 50, 50 seats a section up to 50,000 seats, else 1,000 sections.");
ABSL_FLAG(int64_t, ttl, 1000, "Hold TTL in ms (short, so seats keep coming back).");
ABSL_FLAG(std::string, json, "", "Also write the results as JSON to this file.");
ABSL_FLAG(std::string, event, "", "Event id (default: bench-<pid>).");
ABSL_FLAG(std::string, lua, "bench/redis/hold.lua", "Hold script for --target redis.");

namespace seatlock {
namespace {

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "seatbench: %s\n", msg.c_str());
  std::exit(2);
}

int Dial(const std::string& host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) Die("--host must be an IPv4 address");
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
    Die(absl::StrCat("cannot connect to ", host, ":", port, ": ", strerror(errno)));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) Die(absl::StrCat("write: ", strerror(errno)));
    off += static_cast<size_t>(n);
  }
}

// Blocking request/response on a fresh seatlock connection (setup only).
wire::Response SeatlockCall(int fd, const wire::Request& req) {
  std::string out;
  protocol::AppendFrame(req, &out);
  WriteAll(fd, out);
  protocol::FrameDecoder dec(1 << 26);
  char buf[65536];
  std::string_view body;
  while (dec.Next(&body) != protocol::FrameDecoder::Result::kFrame) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) Die("server closed the connection during setup");
    dec.Append(buf, static_cast<size_t>(n));
  }
  wire::Response resp;
  resp.ParseFromArray(body.data(), static_cast<int>(body.size()));
  return resp;
}

// Blocking RESP command (setup only). Returns the first reply line.
std::string RedisCall(int fd, const std::vector<std::string>& args) {
  std::string cmd = absl::StrCat("*", args.size(), "\r\n");
  for (const auto& a : args) absl::StrAppend(&cmd, "$", a.size(), "\r\n", a, "\r\n");
  WriteAll(fd, cmd);
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1) {
    if (c == '\n') break;
    if (c != '\r') line.push_back(c);
  }
  if (!line.empty() && line[0] == '$') {  // bulk string: read it
    const int len = std::stoi(line.substr(1));
    std::string bulk(static_cast<size_t>(len) + 2, '\0');
    size_t got = 0;
    while (got < bulk.size()) {
      const ssize_t n = read(fd, bulk.data() + got, bulk.size() - got);
      if (n <= 0) Die("redis closed the connection");
      got += static_cast<size_t>(n);
    }
    return bulk.substr(0, static_cast<size_t>(len));
  }
  return line;
}

struct Setup {
  bool redis = false;
  bool confirm = false;    // hold-confirm workload
  bool contended = false;  // 90% of requests on the first 1% of seats
  int hold_seats = 1;
  std::string event;
  std::string sha;  // redis script
  // seatlock: per shard, the sections it owns; the port to reach it.
  std::vector<std::vector<int>> sections_of_shard;
  std::vector<int> shard_ports;
  int sections = 0;
  int seats_per_section = 0;
  int64_t ttl = 1000;
};

struct Stats {
  LatencyHistogram hist;
  uint64_t ok = 0, refused = 0, errors = 0;
};

// One connection's state, owned by its thread.
struct Conn {
  int fd = -1;
  int shard = 0;
  std::string out;
  std::string in;
  size_t in_off = 0;
  std::vector<uint64_t> sent_ns;  // ring, indexed by request id & mask (FIFO for redis)
  uint64_t next_id = 1;
  uint64_t next_done = 1;         // redis: replies arrive in order
  // hold-confirm: this connection's next unsold seat, walking its sections.
  size_t section_cursor = 0;
  uint32_t seat_cursor = 0;
  std::vector<uint64_t> confirm_hold;  // ring: hold id of a pending confirm, 0 for a hold
  std::vector<uint64_t> txn_start_ns;  // ring: when the sale's HOLD was sent
  int in_flight = 0;
  std::mt19937_64 rng;
  std::string holder;
  std::vector<int> my_sections;  // hold-confirm: sections only this connection sells
};

class Worker {
 public:
  Worker(const Setup& setup, std::vector<Conn> conns, int pipeline)
      : setup_(setup), conns_(std::move(conns)), pipeline_(pipeline) {
    mask_ = 1;
    while (mask_ < static_cast<uint64_t>(pipeline) * 4) mask_ <<= 1;
    for (auto& c : conns_) {
      c.sent_ns.assign(mask_, 0);
      c.confirm_hold.assign(mask_, 0);
      c.txn_start_ns.assign(mask_, 0);
    }
    --mask_;
  }

  void Run(const std::atomic<int>* phase) {
    const int ep = epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < conns_.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(ep, EPOLL_CTL_ADD, conns_[i].fd, &ev);
    }
    for (auto& c : conns_) Fill(c);
    Flush();
    epoll_event events[256];
    while (phase->load(std::memory_order_relaxed) < 2) {
      measuring_ = phase->load(std::memory_order_relaxed) == 1;
      const int n = epoll_wait(ep, events, 256, 100);
      for (int i = 0; i < n; ++i) {
        Conn& c = conns_[events[i].data.u64];
        char buf[1 << 16];
        const ssize_t r = read(c.fd, buf, sizeof(buf));
        if (r <= 0) Die(absl::StrCat("connection lost: ", r == 0 ? "closed" : strerror(errno)));
        c.in.append(buf, static_cast<size_t>(r));
        if (setup_.redis) ParseRedis(c); else ParseSeatlock(c);
        Fill(c);
      }
      Flush();
    }
    close(ep);
  }

  Stats stats;

 private:
  void Fill(Conn& c) {
    while (c.in_flight < pipeline_) {
      const uint64_t id = c.next_id++;
      c.sent_ns[id & mask_] = MonoNs();
      c.in_flight++;
      if (setup_.redis) EncodeRedis(c); else EncodeSeatlock(c, id);
    }
    dirty_.push_back(&c);
  }
  void Flush() {
    for (Conn* c : dirty_) {
      if (c->out.empty()) continue;
      WriteAll(c->fd, c->out);
      c->out.clear();
    }
    dirty_.clear();
  }
  void Done(Conn& c, uint64_t id, int outcome) {
    c.in_flight--;
    if (!measuring_) return;
    stats.hist.Record(MonoNs() - (setup_.confirm ? c.txn_start_ns[id & mask_] : c.sent_ns[id & mask_]));
    if (outcome == 0) stats.ok++;
    else if (outcome == 1) stats.refused++;
    else stats.errors++;
  }
  void EncodeSeatlock(Conn& c, uint64_t id) {
    wire::Request req;
    req.set_request_id(id);
    auto* h = req.mutable_hold();
    h->set_event_id(setup_.event);
    const auto& secs = setup_.sections_of_shard[c.shard];
    int sec = secs[c.rng() % secs.size()];
    uint32_t first = static_cast<uint32_t>(c.rng() % (setup_.seats_per_section - setup_.hold_seats + 1));
    if (setup_.contended && c.rng() % 10 != 0) {
      // The hot 1%: the first section this shard owns, its first seats.
      sec = secs[0];
      const uint32_t hot = std::max<uint32_t>(1, static_cast<uint32_t>(setup_.sections * setup_.seats_per_section /
                                                                       100 / setup_.sections_of_shard.size()));
      first = static_cast<uint32_t>(c.rng() % std::min<uint32_t>(hot, setup_.seats_per_section));
    }
    if (setup_.confirm) {  // walk this connection's own seats, so each hold finds a free seat
      c.confirm_hold[id & mask_] = 0;
      c.txn_start_ns[id & mask_] = c.sent_ns[id & mask_];
      if (c.seat_cursor >= static_cast<uint32_t>(setup_.seats_per_section)) {
        c.seat_cursor = 0;
        c.section_cursor += 1;
      }
      const auto& mine = c.my_sections;
      if (c.section_cursor >= mine.size()) Die("hold-confirm sold every seat: raise --seats");
      sec = mine[c.section_cursor];
      first = c.seat_cursor++;
    }
    for (int k = 0; k < setup_.hold_seats; ++k) {
      auto* s = h->add_seats();
      s->set_section(absl::StrCat("S", sec));
      s->set_index(first + static_cast<uint32_t>(k));
    }
    h->set_holder(c.holder);
    h->set_ttl_ms(setup_.ttl);
    protocol::AppendFrame(req, &c.out);
  }
  void ParseSeatlock(Conn& c) {
    for (;;) {
      const size_t avail = c.in.size() - c.in_off;
      if (avail < 4) break;
      const uint32_t len = protocol::GetFrameHeader(c.in.data() + c.in_off);
      if (avail < 4 + len) break;
      wire::Response resp;
      if (!resp.ParseFromArray(c.in.data() + c.in_off + 4, static_cast<int>(len))) Die("bad response");
      c.in_off += 4 + len;
      if (setup_.confirm && resp.code() == wire::OK && resp.has_hold()) {
        // The hold of a sale: send its CONFIRM in the same slot of the pipeline.
        const uint64_t hid = resp.hold().hold_id();
        const uint64_t start = c.txn_start_ns[resp.request_id() & mask_];
        const uint64_t id = c.next_id++;
        c.sent_ns[id & mask_] = MonoNs();
        c.txn_start_ns[id & mask_] = start;
        c.confirm_hold[id & mask_] = hid;
        wire::Request req;
        req.set_request_id(id);
        auto* cf = req.mutable_confirm();
        cf->set_hold_id(hid);
        cf->set_holder(c.holder);
        cf->set_idempotency_key(absl::StrCat(setup_.event, "-", c.holder, "-", id));
        cf->set_payment_ref("bench");
        protocol::AppendFrame(req, &c.out);
        dirty_.push_back(&c);
        continue;
      }
      const int outcome = resp.code() == wire::OK ? 0 : resp.code() == wire::SEAT_UNAVAILABLE ? 1 : 2;
      if (outcome == 2 && printed_errors_++ < 3) {
        std::fprintf(stderr, "seatbench: unexpected result %s: %s\n",
                     wire::ResultCode_Name(resp.code()).c_str(), resp.detail().c_str());
      }
      Done(c, resp.request_id(), outcome);
    }
    c.in.erase(0, c.in_off);
    c.in_off = 0;
  }
  void EncodeRedis(Conn& c) {
    int sec = static_cast<int>(c.rng() % static_cast<uint64_t>(setup_.sections));
    int first = static_cast<int>(c.rng() % static_cast<uint64_t>(setup_.seats_per_section - setup_.hold_seats + 1));
    if (setup_.contended && c.rng() % 10 != 0) {  // the hot 1% of seats
      const int hot = std::max(1, setup_.sections * setup_.seats_per_section / 100);
      const int k = static_cast<int>(c.rng() % static_cast<uint64_t>(hot));
      sec = k / setup_.seats_per_section;
      first = std::min(k % setup_.seats_per_section, setup_.seats_per_section - setup_.hold_seats);
    }
    const std::string ttl = std::to_string(setup_.ttl);
    absl::StrAppend(&c.out, "*", 5 + setup_.hold_seats, "\r\n$7\r\nEVALSHA\r\n$", setup_.sha.size(), "\r\n",
                    setup_.sha, "\r\n");
    const std::string nkeys = std::to_string(setup_.hold_seats);
    absl::StrAppend(&c.out, "$", nkeys.size(), "\r\n", nkeys, "\r\n");
    for (int k = 0; k < setup_.hold_seats; ++k) {
      const std::string key = absl::StrCat("seat:", setup_.event, ":S", sec, ":", first + k);
      absl::StrAppend(&c.out, "$", key.size(), "\r\n", key, "\r\n");
    }
    absl::StrAppend(&c.out, "$", c.holder.size(), "\r\n", c.holder, "\r\n$", ttl.size(), "\r\n", ttl, "\r\n");
  }
  void ParseRedis(Conn& c) {
    for (;;) {
      const size_t nl = c.in.find("\r\n", c.in_off);
      if (nl == std::string::npos) break;
      const char kind = c.in[c.in_off];
      int outcome = 2;
      if (kind == ':') outcome = c.in[c.in_off + 1] == '1' ? 0 : 1;
      if (outcome == 2 && printed_errors_++ < 3) {
        std::fprintf(stderr, "seatbench: unexpected redis reply %s\n", c.in.substr(c.in_off, nl - c.in_off).c_str());
      }
      c.in_off = nl + 2;
      Done(c, c.next_done++, outcome);
    }
    c.in.erase(0, c.in_off);
    c.in_off = 0;
  }

  const Setup& setup_;
  std::vector<Conn> conns_;
  int pipeline_;
  uint64_t mask_;
  bool measuring_ = false;
  int printed_errors_ = 0;
  std::vector<Conn*> dirty_;
};

int Main() {
  Setup setup;
  const std::string target = absl::GetFlag(FLAGS_target);
  if (target != "seatlock" && target != "redis") Die("--target must be seatlock or redis");
  setup.redis = target == "redis";
  const std::string workload = absl::GetFlag(FLAGS_workload);
  if (workload == "hold1") setup.hold_seats = 1;
  else if (workload == "hold4") setup.hold_seats = 4;
  else if (workload == "hold-confirm") setup.confirm = true;
  else if (workload == "contended") setup.contended = true;
  else Die("--workload must be hold1, hold4, hold-confirm or contended");
  if (setup.confirm && setup.redis) {
    Die("--workload hold-confirm is seatlock-only for now; for Redis use redis-benchmark SET against "
        "redis-server --appendonly yes --appendfsync always (docs/benchmarks.md)");
  }
  const std::string host = absl::GetFlag(FLAGS_host);
  const int port = absl::GetFlag(FLAGS_port);
  const int connections = absl::GetFlag(FLAGS_connections);
  const int pipeline = absl::GetFlag(FLAGS_pipeline);
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));
  const double duration = absl::GetFlag(FLAGS_duration);
  const double warmup = absl::GetFlag(FLAGS_warmup);
  if (connections < 1 || pipeline < 1 || duration <= 0 || warmup < 0 || duration > 3600) {
    Die("--connections and --pipeline must be >= 1, --duration in (0, 3600]");
  }
  // Sections of rows of 50 seats: 50 seats a section up to 50,000 seats,
  // then at most 1,000 sections with more rows each.
  const int seats = std::max(50, absl::GetFlag(FLAGS_seats));
  setup.sections = std::min(1000, seats / 50);
  setup.seats_per_section = (seats / setup.sections) / 50 * 50;
  setup.ttl = absl::GetFlag(FLAGS_ttl);
  setup.event = absl::GetFlag(FLAGS_event).empty() ? absl::StrCat("bench-", getpid()) : absl::GetFlag(FLAGS_event);

  std::vector<Conn> conns(static_cast<size_t>(connections));
  if (setup.redis) {
    std::ifstream f(absl::GetFlag(FLAGS_lua));
    if (!f) Die(absl::StrCat("cannot read --lua ", absl::GetFlag(FLAGS_lua)));
    std::stringstream ss;
    ss << f.rdbuf();
    const int fd = Dial(host, port);
    setup.sha = RedisCall(fd, {"SCRIPT", "LOAD", ss.str()});
    if (setup.sha.size() != 40) Die(absl::StrCat("SCRIPT LOAD failed: ", setup.sha));
    close(fd);
    for (int i = 0; i < connections; ++i) conns[i].fd = Dial(host, port);
  } else {
    const int fd = Dial(host, port);
    wire::Request hello;
    hello.mutable_hello()->set_protocol_version(protocol::kProtocolVersion);
    const wire::Response hr = SeatlockCall(fd, hello);
    const uint32_t shards = hr.hello().shard_count();
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
    const wire::Response dr = SeatlockCall(fd, def);
    if (dr.code() != wire::OK) Die(absl::StrCat("DEFINE_EVENT failed: ", dr.detail()));
    close(fd);
    setup.sections_of_shard.resize(shards);
    for (int s = 0; s < setup.sections; ++s) {
      setup.sections_of_shard[protocol::ShardFor(setup.event, absl::StrCat("S", s), shards,
                                                 hr.hello().hash_seed())]
          .push_back(s);
    }
    std::vector<int> usable;
    for (uint32_t s = 0; s < shards; ++s) {
      if (!setup.sections_of_shard[s].empty()) usable.push_back(static_cast<int>(s));
    }
    std::vector<size_t> dealt(shards, 0);
    for (int i = 0; i < connections; ++i) {
      const int shard = usable[static_cast<size_t>(i) % usable.size()];
      conns[i].shard = shard;
      conns[i].fd = Dial(host, static_cast<int>(hr.hello().shard_ports(shard)));
    }
    if (setup.confirm) {  // deal each shard's sections out to its connections
      for (uint32_t s = 0; s < shards; ++s) {
        std::vector<Conn*> on_shard;
        for (auto& c : conns) {
          if (c.shard == static_cast<int>(s)) on_shard.push_back(&c);
        }
        for (size_t k = 0; k < setup.sections_of_shard[s].size() && !on_shard.empty(); ++k) {
          on_shard[k % on_shard.size()]->my_sections.push_back(setup.sections_of_shard[s][k]);
        }
      }
    }
  }
  for (int i = 0; i < connections; ++i) {
    conns[i].rng.seed(static_cast<uint64_t>(i) * 7919 + 17);
    conns[i].holder = absl::StrCat("bench-", i);
  }
  // Split connections over threads.
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) {
    std::vector<Conn> mine;
    for (int i = t; i < connections; i += threads) mine.push_back(std::move(conns[i]));
    workers.push_back(std::make_unique<Worker>(setup, std::move(mine), pipeline));
  }
  std::atomic<int> phase{0};
  std::vector<std::thread> ts;
  for (auto& w : workers) ts.emplace_back([&w, &phase] { w->Run(&phase); });
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  phase = 1;
  const uint64_t start = MonoNs();
  std::this_thread::sleep_for(std::chrono::duration<double>(duration));
  phase = 2;
  const double secs = static_cast<double>(MonoNs() - start) / 1e9;
  for (auto& t : ts) t.join();
  Stats total;
  for (auto& w : workers) {
    total.hist.Merge(w->stats.hist);
    total.ok += w->stats.ok;
    total.refused += w->stats.refused;
    total.errors += w->stats.errors;
  }
  const uint64_t n = total.hist.count();
  const double rate = static_cast<double>(n) / secs;
  auto us = [&](double q) { return static_cast<double>(total.hist.Quantile(q)) / 1000.0; };
  std::printf("target=%s workload=%s connections=%d pipeline=%d threads=%d duration=%.1fs\n", target.c_str(),
              workload.c_str(), connections, pipeline, threads, secs);
  std::printf("  %s %llu  throughput %.0f /s  granted %.1f%%  refused %.1f%%  errors %llu\n",
              setup.confirm ? "sales" : "requests", static_cast<unsigned long long>(n), rate, n ? 100.0 * static_cast<double>(total.ok) / static_cast<double>(n) : 0,
              n ? 100.0 * static_cast<double>(total.refused) / static_cast<double>(n) : 0,
              static_cast<unsigned long long>(total.errors));
  std::printf("  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", us(0.5), us(0.9), us(0.99),
              us(0.999), static_cast<double>(total.hist.max()) / 1000.0);
  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    std::ofstream j(path);
    j << "{\"target\":\"" << target << "\",\"workload\":\"" << workload << "\",\"connections\":" << connections
      << ",\"pipeline\":" << pipeline << ",\"threads\":" << threads << ",\"seconds\":" << secs
      << ",\"requests\":" << n << ",\"throughput\":" << rate << ",\"granted\":" << total.ok
      << ",\"refused\":" << total.refused << ",\"errors\":" << total.errors << ",\"p50_us\":" << us(0.5)
      << ",\"p90_us\":" << us(0.9) << ",\"p99_us\":" << us(0.99) << ",\"p999_us\":" << us(0.999)
      << ",\"max_us\":" << static_cast<double>(total.hist.max()) / 1000.0 << "}\n";
  }
  return total.errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace seatlock

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view f) { return absl::StrContains(f, "seatbench"); };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage("seatbench: load generator for seatlockd and Redis (docs/benchmarks.md)");
  absl::ParseCommandLine(argc, argv);
  return seatlock::Main();
}
