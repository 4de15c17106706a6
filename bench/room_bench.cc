// room_bench: how fast seatlockd's waiting room takes joins and answers
// status polls (docs/waiting-room.md, docs/benchmarks.md).
//
//   room_bench --port 7400 --connections 50 --pipeline 16 --buyers 500000 --duration 5
//
// Setup defines a small event and configures its waiting room (rate mode,
// 1 buyer/s, places never lapse, so the queue stays long). Then:
//   1. join: --buyers JOIN_QUEUE requests with distinct buyer keys, each
//      connection keeping --pipeline in flight; reports the wall time for all
//      of them, joins/s and latency (a JOIN is answered once its WAL record
//      is durable).
//   2. status: QUEUE_STATUS of random joined buyers for --duration seconds,
//      closed loop; reports polls/s and latency.
//   3. ROOM_INFO: the room's memory estimate per buyer.
// Connections go to the room's home shard (as the client library routes
// them), or to the main port with --via_main. One thread, one epoll loop;
// every loop is bounded by --timeout_s.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_net.h"
#include "common/histogram.h"
#include "common/mono_clock.h"
#include "protocol/framing.h"
#include "protocol/seatlock.pb.h"
#include "protocol/sharding.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "seatlockd address (loopback only for load tests).");
ABSL_FLAG(int32_t, port, 7400, "seatlockd main port.");
ABSL_FLAG(int32_t, connections, 50, "Connections.");
ABSL_FLAG(int32_t, pipeline, 16, "Requests in flight per connection.");
ABSL_FLAG(int32_t, buyers, 500000, "Buyers to join.");
ABSL_FLAG(double, duration, 5, "Seconds of status polling.");
ABSL_FLAG(bool, via_main, false, "Connect to the main port instead of the room's home shard port.");
ABSL_FLAG(std::string, event, "", "Event id (default: room-bench-<pid>).");
ABSL_FLAG(std::string, json, "", "Also write the results as JSON to this file.");
ABSL_FLAG(double, timeout_s, 120, "Give up (exit 1) after this many seconds in all.");

namespace seatlock {
namespace {

constexpr std::string_view kTool = "room_bench";
[[noreturn]] void Die(const std::string& msg) { bench::Die(kTool, msg); }
int Dial(const std::string& host, int port) { return bench::Dial(kTool, host, port); }
void WriteAll(int fd, const std::string& s) { bench::WriteAll(kTool, fd, s); }

wire::Response Call(int fd, const wire::Request& req) {
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
  if (!resp.ParseFromArray(body.data(), static_cast<int>(body.size())))
    Die("bad response during setup");
  return resp;
}

struct Conn {
  int fd = -1;
  std::string out;
  std::string in;
  int in_flight = 0;
  std::vector<uint64_t> sent_ns;  // by request id & mask
};

// Runs one closed-loop phase: `next(req)` fills the next request (false: no
// more to send); `done(resp)` checks each response. Returns the seconds taken.
template <class Next, class Done>
double RunPhase(std::vector<Conn>& conns, int pipeline, double stop_after_s, int64_t deadline_ns,
                LatencyHistogram* hist, Next next, Done done) {
  uint64_t mask = 1;
  while (mask < static_cast<uint64_t>(pipeline) * 2) mask <<= 1;
  for (auto& c : conns) c.sent_ns.assign(mask, 0);
  --mask;
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  for (size_t i = 0; i < conns.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  uint64_t next_id = 1;
  bool exhausted = false;
  const uint64_t start = MonoNs();
  const uint64_t stop_at =
      stop_after_s > 0 ? start + static_cast<uint64_t>(stop_after_s * 1e9) : ~0ull;
  auto fill = [&](Conn& c) {
    while (!exhausted && c.in_flight < pipeline && MonoNs() < stop_at) {
      wire::Request req;
      if (!next(&req)) {
        exhausted = true;
        break;
      }
      const uint64_t id = next_id++;
      req.set_request_id(id);
      c.sent_ns[id & mask] = MonoNs();
      protocol::AppendFrame(req, &c.out);
      c.in_flight++;
    }
    if (!c.out.empty()) {
      WriteAll(c.fd, c.out);
      c.out.clear();
    }
  };
  for (auto& c : conns) fill(c);
  auto in_flight = [&] {
    int n = 0;
    for (const auto& c : conns) n += c.in_flight;
    return n;
  };
  epoll_event events[256];
  while (in_flight() > 0) {
    if (static_cast<int64_t>(MonoNs()) > deadline_ns)
      Die("--timeout_s passed before the phase finished");
    const int n = epoll_wait(ep, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      Conn& c = conns[events[i].data.u64];
      char buf[1 << 16];
      const ssize_t r = read(c.fd, buf, sizeof(buf));
      if (r <= 0)
        Die(absl::StrCat("connection lost: ", r == 0 ? "closed by the server" : strerror(errno)));
      c.in.append(buf, static_cast<size_t>(r));
      size_t off = 0;
      while (c.in.size() - off >= 4) {
        const uint32_t len = protocol::GetFrameHeader(c.in.data() + off);
        if (c.in.size() - off < 4 + len) break;
        wire::Response resp;
        if (!resp.ParseFromArray(c.in.data() + off + 4, static_cast<int>(len))) Die("bad response");
        off += 4 + len;
        hist->Record(MonoNs() - c.sent_ns[resp.request_id() & mask]);
        c.in_flight--;
        done(resp);
      }
      c.in.erase(0, off);
      fill(c);
    }
  }
  close(ep);
  return static_cast<double>(MonoNs() - start) / 1e9;
}

int Main() {
  const std::string host = absl::GetFlag(FLAGS_host);
  const int port = absl::GetFlag(FLAGS_port);
  const int connections = absl::GetFlag(FLAGS_connections);
  const int pipeline = absl::GetFlag(FLAGS_pipeline);
  const int buyers = absl::GetFlag(FLAGS_buyers);
  const double duration = absl::GetFlag(FLAGS_duration);
  if (connections < 1 || pipeline < 1 || buyers < 1 || duration <= 0 || duration > 600) {
    Die("--connections, --pipeline and --buyers must be >= 1, --duration in (0, 600]");
  }
  const int64_t deadline_ns =
      static_cast<int64_t>(MonoNs()) + static_cast<int64_t>(absl::GetFlag(FLAGS_timeout_s) * 1e9);
  const std::string event = absl::GetFlag(FLAGS_event).empty()
                                ? absl::StrCat("room-bench-", getpid())
                                : absl::GetFlag(FLAGS_event);

  const int setup_fd = Dial(host, port);
  wire::Request hello;
  hello.mutable_hello()->set_protocol_version(protocol::kProtocolVersion);
  const wire::Response hr = Call(setup_fd, hello);
  wire::Request def;
  def.set_request_id(1);
  def.mutable_define_event()->set_event_id(event);
  auto* sec = def.mutable_define_event()->add_sections();
  sec->set_label("A");
  sec->add_rows()->set_label("1");
  sec->mutable_rows(0)->set_seat_count(100);
  if (const wire::Response r = Call(setup_fd, def); r.code() != wire::OK) {
    Die(absl::StrCat("DEFINE_EVENT failed: ", wire::ResultCode_Name(r.code()), " ", r.detail()));
  }
  wire::Request cfg;
  cfg.set_request_id(2);
  cfg.mutable_configure_room()->set_event_id(event);
  auto* c = cfg.mutable_configure_room()->mutable_config();
  c->set_mode(wire::ADMIT_RATE);
  c->set_rate_per_sec(1);
  c->set_batch_size(1);
  c->set_grace_ms(-1);
  if (const wire::Response r = Call(setup_fd, cfg); r.code() != wire::OK) {
    Die(absl::StrCat("CONFIGURE_ROOM failed: ", wire::ResultCode_Name(r.code()), " ", r.detail()));
  }
  const uint32_t home =
      protocol::ShardFor(event, "", hr.hello().shard_count(), hr.hello().hash_seed());
  const bool via_main = absl::GetFlag(FLAGS_via_main);
  const int target_port =
      via_main ? port : static_cast<int>(hr.hello().shard_ports(static_cast<int>(home)));

  std::vector<Conn> conns(static_cast<size_t>(connections));
  for (auto& k : conns) k.fd = Dial(host, target_port);

  // 1. Joins.
  std::vector<uint64_t> number_of(static_cast<size_t>(buyers), 0);
  LatencyHistogram join_hist;
  uint64_t errors = 0;
  int next_buyer = 0;
  const double join_s = RunPhase(
      conns, pipeline, 0, deadline_ns, &join_hist,
      [&](wire::Request* req) {
        if (next_buyer >= buyers) return false;
        req->mutable_join_queue()->set_event_id(event);
        req->mutable_join_queue()->set_buyer_key(absl::StrCat("b", next_buyer++));
        return true;
      },
      [&](const wire::Response& r) {
        const uint64_t buyer = r.request_id() - 1;  // ids start at 1, one per buyer
        if (r.code() != wire::OK || buyer >= number_of.size()) {
          if (errors++ < 3)
            std::fprintf(stderr, "room_bench: JOIN: %s %s\n",
                         wire::ResultCode_Name(r.code()).c_str(), r.detail().c_str());
          return;
        }
        number_of[buyer] = r.join_queue().number();
      });

  // 2. Status polls of random joined buyers.
  std::mt19937_64 rng(42);
  LatencyHistogram status_hist;
  uint64_t polls_ok = 0;
  const double status_s = RunPhase(
      conns, pipeline, duration, deadline_ns, &status_hist,
      [&](wire::Request* req) {
        const int b = static_cast<int>(rng() % static_cast<uint64_t>(buyers));
        req->mutable_queue_status()->set_event_id(event);
        req->mutable_queue_status()->set_number(number_of[static_cast<size_t>(b)]);
        req->mutable_queue_status()->set_buyer_key(absl::StrCat("b", b));
        return true;
      },
      [&](const wire::Response& r) {
        if (r.code() != wire::OK) {
          if (errors++ < 3)
            std::fprintf(stderr, "room_bench: STATUS: %s %s\n",
                         wire::ResultCode_Name(r.code()).c_str(), r.detail().c_str());
          return;
        }
        ++polls_ok;
      });

  // 3. Memory.
  wire::Request info;
  info.set_request_id(3);
  info.mutable_room_info()->set_event_id(event);
  const wire::Response ir = Call(setup_fd, info);
  const double bytes_per_buyer = ir.room_info().joined() > 0
                                     ? static_cast<double>(ir.room_info().memory_bytes()) /
                                           static_cast<double>(ir.room_info().joined())
                                     : 0;
  close(setup_fd);
  for (auto& k : conns) close(k.fd);

  auto us = [](const LatencyHistogram& h, double q) {
    return static_cast<double>(h.Quantile(q)) / 1000.0;
  };
  const double join_rate = static_cast<double>(buyers) / join_s;
  const double poll_rate = static_cast<double>(status_hist.count()) / status_s;
  std::printf("room_bench: %d connections to %s (shard %u), pipeline %d\n", connections,
              via_main ? "the main port" : "the room's home shard", home, pipeline);
  std::printf(
      "  join:   %d buyers in %.3f s = %.0f joins/s; latency us p50 %.0f p99 %.0f p99.9 %.0f max "
      "%.0f\n",
      buyers, join_s, join_rate, us(join_hist, 0.5), us(join_hist, 0.99), us(join_hist, 0.999),
      static_cast<double>(join_hist.max()) / 1000.0);
  std::printf(
      "  status: %llu polls in %.2f s = %.0f polls/s; latency us p50 %.0f p99 %.0f p99.9 %.0f max "
      "%.0f\n",
      static_cast<unsigned long long>(status_hist.count()), status_s, poll_rate,
      us(status_hist, 0.5), us(status_hist, 0.99), us(status_hist, 0.999),
      static_cast<double>(status_hist.max()) / 1000.0);
  std::printf(
      "  memory: %.1f MiB for %llu buyers = %.0f bytes per waiting buyer (ROOM_INFO estimate)\n",
      static_cast<double>(ir.room_info().memory_bytes()) / (1 << 20),
      static_cast<unsigned long long>(ir.room_info().joined()), bytes_per_buyer);
  std::printf("  errors: %llu\n", static_cast<unsigned long long>(errors));
  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    std::ofstream j(path);
    j << "{\"connections\":" << connections << ",\"pipeline\":" << pipeline
      << ",\"buyers\":" << buyers << ",\"join_seconds\":" << join_s
      << ",\"joins_per_s\":" << join_rate << ",\"join_p50_us\":" << us(join_hist, 0.5)
      << ",\"join_p99_us\":" << us(join_hist, 0.99) << ",\"polls\":" << status_hist.count()
      << ",\"polls_per_s\":" << poll_rate << ",\"poll_p50_us\":" << us(status_hist, 0.5)
      << ",\"poll_p99_us\":" << us(status_hist, 0.99) << ",\"bytes_per_buyer\":" << bytes_per_buyer
      << ",\"errors\":" << errors << "}\n";
  }
  return errors == 0 && polls_ok > 0 ? 0 : 1;
}

}  // namespace
}  // namespace seatlock

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view f) {
    return absl::StrContains(f, "room_bench");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "room_bench: waiting-room joins/s and status polls/s against seatlockd (docs/benchmarks.md)");
  absl::ParseCommandLine(argc, argv);
  return seatlock::Main();
}
