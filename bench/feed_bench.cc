// feed_bench: expiry-to-notification delay of the change feed with many
// live holds. Places --holds single-seat holds whose TTLs all end in a
// window after the load, subscribes to every shard, and measures, for each
// EXPIRED change, the time from the hold's deadline to the moment the
// subscriber read it (same machine, same realtime clock).
//
//   feed_bench --port 7400 --holds 1000000 --ttl-min-ms 30000 --ttl-spread-ms 10000
#include <time.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "common/histogram.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "seatlockd address (loopback).");
ABSL_FLAG(int32_t, port, 7400, "seatlockd main port.");
ABSL_FLAG(int32_t, holds, 1000000, "Live holds to place (one seat each).");
ABSL_FLAG(int64_t, ttl_min_ms, 30000, "Shortest TTL: must outlast placing all the holds.");
ABSL_FLAG(int64_t, ttl_spread_ms, 10000, "TTLs are spread uniformly over this window.");
ABSL_FLAG(int32_t, window, 4000, "Hold requests in flight while loading.");

namespace {

int64_t RealUs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "feed_bench: change-feed expiry notification delay (docs/benchmarks.md)");
  absl::ParseCommandLine(argc, argv);
  using namespace seatlock;
  ClientOptions opts;
  opts.host = absl::GetFlag(FLAGS_host);
  opts.port = static_cast<uint16_t>(absl::GetFlag(FLAGS_port));
  opts.call_timeout_ms = 60000;
  auto client = Client::Connect(opts);
  if (!client.ok()) {
    std::fprintf(stderr, "feed_bench: %s\n", std::string(client.status().message()).c_str());
    return 2;
  }
  const int holds = absl::GetFlag(FLAGS_holds);
  const int sections = std::max(1, (holds + 999) / 1000);
  const std::string event = absl::StrCat("feedbench-", getpid());
  wire::DefineEventRequest def;
  def.set_event_id(event);
  for (int s = 0; s < sections; ++s) {
    auto* sec = def.add_sections();
    sec->set_label(absl::StrCat("S", s));
    for (int r = 0; r < 20; ++r) {
      auto* row = sec->add_rows();
      row->set_label(absl::StrCat("R", r));
      row->set_seat_count(50);
    }
  }
  auto d = (*client)->DefineEvent(def);
  if (!d.ok() || d->code() != wire::OK) {
    std::fprintf(stderr, "feed_bench: DEFINE_EVENT failed\n");
    return 2;
  }
  // Subscribe to every shard.
  std::mutex mu;
  LatencyHistogram delay_us;
  std::atomic<int> expired{0};
  const uint32_t shards = (*client)->hello().shard_count();
  for (uint32_t s = 0; s < shards; ++s) {
    wire::Request req;
    req.mutable_subscribe()->set_event_id(event);
    req.mutable_subscribe()->set_shard(s);
    req.mutable_subscribe()->set_from_now(true);
    (*client)->async().Subscribe(std::move(req), [&](absl::StatusOr<wire::Response> r) {
      if (!r.ok() || r->code() != wire::OK) {
        std::fprintf(stderr, "feed_bench: stream ended: %s\n",
                     r.ok() ? r->detail().c_str() : std::string(r.status().message()).c_str());
        return;
      }
      const int64_t now = RealUs();
      std::lock_guard<std::mutex> l(mu);
      for (const auto& c : r->subscribe().changes()) {
        if (c.kind() != wire::CHANGE_EXPIRED) continue;
        delay_us.Record(static_cast<uint64_t>(std::max<int64_t>(0, now - c.time_ms() * 1000)));
        expired++;
      }
    });
  }
  // Load the holds with a bounded window.
  std::mt19937_64 rng(42);
  const int64_t ttl_min = absl::GetFlag(FLAGS_ttl_min_ms);
  const int64_t spread = std::max<int64_t>(1, absl::GetFlag(FLAGS_ttl_spread_ms));
  const int64_t load_start = RealUs();
  std::atomic<int> in_flight{0}, granted{0}, failed{0};
  std::condition_variable cv;
  std::mutex wmu;
  const int window = absl::GetFlag(FLAGS_window);
  for (int i = 0; i < holds; ++i) {
    {
      std::unique_lock<std::mutex> l(wmu);
      cv.wait(l, [&] { return in_flight.load() < window; });
    }
    in_flight++;
    wire::Request req;
    auto* h = req.mutable_hold();
    h->set_event_id(event);
    *h->add_seats() = SeatIndex(absl::StrCat("S", i / 1000), static_cast<uint32_t>(i % 1000));
    h->set_holder("fb");
    // Deadlines spread over the window, counted from the start of the load.
    const int64_t deadline_us =
        load_start + (ttl_min + static_cast<int64_t>(rng() % spread)) * 1000;
    h->set_ttl_ms(std::max<int64_t>(1, (deadline_us - RealUs()) / 1000));
    (*client)->async().Call(std::move(req), [&](absl::StatusOr<wire::Response> r) {
      if (r.ok() && r->code() == wire::OK)
        granted++;
      else
        failed++;
      in_flight--;
      cv.notify_one();
    });
  }
  while (in_flight.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const double load_s = static_cast<double>(RealUs() - load_start) / 1e6;
  uint64_t live = 0;
  if (auto st = (*client)->Stats(); st.ok()) {
    for (const auto& s : st->stats().shards()) live += s.live_holds();
  }
  std::printf("placed %d holds (%d refused/failed) in %.1f s; live holds after loading: %llu\n",
              granted.load(), failed.load(), load_s, static_cast<unsigned long long>(live));
  if (load_s * 1000 > static_cast<double>(ttl_min)) {
    std::printf(
        "warning: loading took longer than --ttl-min-ms; some holds expired during the load\n");
  }
  // Wait for every expiry (bounded).
  const int64_t until = load_start + (ttl_min + spread + 10000) * 1000;
  while (expired.load() < granted.load() && RealUs() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::lock_guard<std::mutex> l(mu);
  auto ms = [&](double q) { return static_cast<double>(delay_us.Quantile(q)) / 1000.0; };
  std::printf(
      "expiry notifications: %d of %d; delay from deadline to subscriber: p50 %.2f ms  p99 %.2f ms "
      " "
      "p99.9 %.2f ms  max %.2f ms\n",
      expired.load(), granted.load(), ms(0.5), ms(0.99), ms(0.999),
      static_cast<double>(delay_us.max()) / 1000.0);
  return expired.load() == granted.load() ? 0 : 1;
}
