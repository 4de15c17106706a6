// replica_lag: how long a hold, a release and a sale take to show on a
// replica (docs/cluster.md, "Holds reach the replicas"). Every --interval_ms,
// for --samples rounds: HOLD a seat of its own event on the primary, then
// read the seat on the replica (GET_SEATS, every 0.2 ms) until it shows
// HELD; RELEASE it and wait for FREE; every fourth round, CONFIRM instead of
// RELEASE and wait for SOLD. Prints the delay percentiles per kind, from the
// primary's OK to the replica's first read that shows it (same machine, one
// monotonic clock). Run it beside a load (bench/replica_bench.sh) for the
// lag under load.
//
//   replica_lag --primary 127.0.0.1:27500 --replica 127.0.0.1:27600 --samples 200
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/client.h"
#include "common/histogram.h"

ABSL_FLAG(std::string, primary, "127.0.0.1:7400", "The group's primary (host:port, loopback).");
ABSL_FLAG(std::string, replica, "", "A replica of it (host:port).");
ABSL_FLAG(int32_t, samples, 200, "Rounds (1..1000; each uses a seat of its own).");
ABSL_FLAG(int32_t, interval_ms, 20, "Pause between rounds.");
ABSL_FLAG(int32_t, timeout_ms, 5000, "A change not shown on the replica within this is a miss.");

namespace {

using namespace seatlock;

int64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::unique_ptr<Client> Dial(const std::string& addr) {
  std::pair<std::string, std::string> hp = absl::StrSplit(addr, absl::MaxSplits(':', 1));
  uint32_t port = 0;
  if (!absl::SimpleAtoi(hp.second, &port) || port == 0 || port > 65535) {
    std::fprintf(stderr, "replica_lag: bad address '%s' (want host:port)\n", addr.c_str());
    return nullptr;
  }
  ClientOptions o;
  o.host = hp.first;
  o.port = static_cast<uint16_t>(port);
  o.call_timeout_ms = 5000;
  auto c = Client::Connect(o);
  if (!c.ok()) {
    std::fprintf(stderr, "replica_lag: %s: %s\n", addr.c_str(),
                 std::string(c.status().message()).c_str());
    return nullptr;
  }
  return std::move(*c);
}

// Ns from `since` until `seat` reads `want` on `replica`; -1 after the timeout.
int64_t WaitFor(Client& replica, const std::string& event, uint32_t seat, wire::SeatState want,
                int64_t since, int64_t timeout_ns) {
  while (MonoNs() - since < timeout_ns) {
    auto r = replica.GetSeats(event, "A");
    if (r.ok() && r->code() == wire::OK &&
        r->get_seats().seats(static_cast<int>(seat)).state() == want) {
      return MonoNs() - since;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return -1;
}

void Print(const char* what, const LatencyHistogram& h, int misses) {
  std::printf("%-8s n=%-6llu p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  misses %d\n", what,
              static_cast<unsigned long long>(h.count()), h.Quantile(0.50) / 1e6,
              h.Quantile(0.90) / 1e6, h.Quantile(0.99) / 1e6, h.Quantile(1.0) / 1e6, misses);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "replica_lag: how long a hold, a release and a sale take to show on a replica");
  absl::ParseCommandLine(argc, argv);
  const int samples = absl::GetFlag(FLAGS_samples);
  if (samples < 1 || samples > 1000 || absl::GetFlag(FLAGS_replica).empty()) {
    std::fprintf(stderr, "replica_lag: --replica is required, and --samples 1..1000\n");
    return 2;
  }
  auto primary = Dial(absl::GetFlag(FLAGS_primary));
  auto replica = Dial(absl::GetFlag(FLAGS_replica));
  if (primary == nullptr || replica == nullptr) return 2;
  const std::string event = absl::StrCat("replica-lag-", getpid());
  wire::DefineEventRequest def;
  def.set_event_id(event);
  auto* sec = def.add_sections();
  sec->set_label("A");
  auto* row = sec->add_rows();
  row->set_label("1");
  row->set_seat_count(1000);
  auto d = primary->DefineEvent(def);
  if (!d.ok() || d->code() != wire::OK) {
    std::fprintf(stderr, "replica_lag: DEFINE_EVENT on the primary failed: %s\n",
                 d.ok() ? d->detail().c_str() : std::string(d.status().message()).c_str());
    return 1;
  }
  const int64_t timeout_ns = int64_t{absl::GetFlag(FLAGS_timeout_ms)} * 1'000'000;
  LatencyHistogram held, freed, sold;
  int held_miss = 0, freed_miss = 0, sold_miss = 0;
  for (int i = 0; i < samples; ++i) {
    const uint32_t seat = static_cast<uint32_t>(i);
    auto h = primary->Hold(event, {SeatIndex("A", seat)}, "probe", 60'000);
    const int64_t t0 = MonoNs();
    if (!h.ok() || h->code() != wire::OK) {
      std::fprintf(stderr, "replica_lag: HOLD failed: %s\n",
                   h.ok() ? h->detail().c_str() : std::string(h.status().message()).c_str());
      return 1;
    }
    const int64_t ns = WaitFor(*replica, event, seat, wire::HELD, t0, timeout_ns);
    ns >= 0 ? held.Record(static_cast<uint64_t>(ns)) : void(++held_miss);
    if (i % 4 == 3) {
      auto c = primary->Confirm(h->hold().hold_id(), "probe", absl::StrCat(event, "-", i), "pay");
      const int64_t t1 = MonoNs();
      if (c.ok() && c->code() == wire::OK) {
        const int64_t s = WaitFor(*replica, event, seat, wire::SOLD, t1, timeout_ns);
        s >= 0 ? sold.Record(static_cast<uint64_t>(s)) : void(++sold_miss);
      }
    } else {
      auto r = primary->Release(h->hold().hold_id(), "probe");
      const int64_t t1 = MonoNs();
      if (r.ok() && r->code() == wire::OK) {
        const int64_t f = WaitFor(*replica, event, seat, wire::FREE, t1, timeout_ns);
        f >= 0 ? freed.Record(static_cast<uint64_t>(f)) : void(++freed_miss);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(absl::GetFlag(FLAGS_interval_ms)));
  }
  std::printf("primary OK -> the replica shows it (GET_SEATS polled every 0.2 ms):\n");
  Print("held", held, held_miss);
  Print("released", freed, freed_miss);
  Print("sold", sold, sold_miss);
  return held_miss + freed_miss + sold_miss > 0 ? 1 : 0;
}
