#include "server/metrics.h"

#include <cstdio>
#include <functional>

#include "absl/strings/str_cat.h"

namespace seatlock {
namespace {

constexpr double kBoundsSeconds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

void Family(std::string* out, absl::string_view name, absl::string_view type,
            absl::string_view help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

void FillLatencyBuckets(const LatencyHistogram& h, wire::LatencyBuckets* out) {
  for (double b : kBoundsSeconds) {
    out->add_le_seconds(b);
    out->add_counts(h.CountAtMost(static_cast<uint64_t>(b * 1e9)));
  }
  out->set_count(h.count());
  out->set_sum_seconds(static_cast<double>(h.sum()) / 1e9);
  out->set_p50_seconds(static_cast<double>(h.Quantile(0.5)) / 1e9);
  out->set_p99_seconds(static_cast<double>(h.Quantile(0.99)) / 1e9);
}

std::string RenderPrometheus(const wire::StatsReply& stats) {
  std::string out;
  using Getter = std::function<double(const wire::ShardStats&)>;
  auto per_shard = [&](absl::string_view name, absl::string_view type, absl::string_view help,
                       const Getter& get) {
    Family(&out, name, type, help);
    for (const auto& s : stats.shards()) {
      absl::StrAppend(&out, name, "{shard=\"", s.shard(), "\"} ", Num(get(s)), "\n");
    }
  };
  auto u = [](uint64_t v) { return static_cast<double>(v); };
  per_shard("seatlock_requests_total", "counter", "Requests received by the shard.",
            [&](const auto& s) { return u(s.requests()); });
  per_shard("seatlock_forwarded_total", "counter", "Requests forwarded to another shard.",
            [&](const auto& s) { return u(s.forwarded_out()); });
  per_shard("seatlock_holds_granted_total", "counter", "Holds granted.",
            [&](const auto& s) { return u(s.holds_granted()); });
  per_shard("seatlock_holds_refused_total", "counter", "Holds refused (seat taken, limits, ...).",
            [&](const auto& s) { return u(s.holds_refused()); });
  per_shard("seatlock_holds_released_total", "counter", "Holds released by their holder.",
            [&](const auto& s) { return u(s.holds_released()); });
  per_shard("seatlock_holds_expired_total", "counter", "Holds that ran out.",
            [&](const auto& s) { return u(s.holds_expired()); });
  per_shard("seatlock_confirms_total", "counter", "Sales made by CONFIRM.",
            [&](const auto& s) { return u(s.confirms()); });
  per_shard("seatlock_confirms_replayed_total", "counter",
            "CONFIRMs answered from an idempotency record.",
            [&](const auto& s) { return u(s.confirms_replayed()); });
  per_shard("seatlock_bookings_cancelled_total", "counter", "Bookings cancelled.",
            [&](const auto& s) { return u(s.bookings_cancelled()); });
  per_shard("seatlock_wal_groups_total", "counter",
            "Write-ahead log groups written (one fdatasync each).",
            [&](const auto& s) { return u(s.wal_groups()); });
  Family(&out, "seatlock_ops_total", "counter", "Operations run on the shard, by op.");
  for (const auto& s : stats.shards()) {
    const std::pair<const char*, uint64_t> ops[] = {
        {"hold", s.ops_hold()},           {"hold_best_available", s.ops_hold_best_available()},
        {"extend", s.ops_extend()},       {"release", s.ops_release()},
        {"confirm", s.ops_confirm()},     {"cancel_booking", s.ops_cancel_booking()},
        {"get_seats", s.ops_get_seats()}, {"get_hold", s.ops_get_hold()},
        {"other", s.ops_other()}};
    for (const auto& [name, n] : ops) {
      absl::StrAppend(&out, "seatlock_ops_total{shard=\"", s.shard(), "\",op=\"", name, "\"} ", n,
                      "\n");
    }
  }
  per_shard("seatlock_forward_queue", "gauge",
            "Requests sent to other shards and not yet answered.",
            [&](const auto& s) { return u(s.forward_queue()); });
  per_shard("seatlock_wal_queue", "gauge", "Answers waiting for their log record's fdatasync.",
            [&](const auto& s) { return u(s.wal_queue()); });
  per_shard("seatlock_subscriptions", "gauge", "SUBSCRIBE streams open on the shard.",
            [&](const auto& s) { return u(s.subscriptions()); });
  per_shard("seatlock_bus_backlog", "gauge",
            "Messages to other shards waiting for room in a full shard-to-shard queue.",
            [&](const auto& s) { return u(s.bus_backlog()); });
  per_shard("seatlock_output_blocked", "gauge",
            "Connections over their output budget: their requests wait until they read replies.",
            [&](const auto& s) { return u(s.output_blocked()); });
  per_shard("seatlock_closed_for_stall_total", "counter",
            "Connections closed for reading no replies while over the output budget.",
            [&](const auto& s) { return u(s.closed_for_stall()); });
  per_shard("seatlock_feed_pending", "gauge",
            "Seat changes held back until their sale's or refund's log record is durable.",
            [&](const auto& s) { return u(s.feed_pending()); });
  per_shard("seatlock_feed_overflows_total", "counter",
            "Times more changes waited for the log than --feed_ring: subscribers resynced.",
            [&](const auto& s) { return u(s.feed_overflows()); });
  per_shard("seatlock_holds_fast_path_total", "counter",
            "HOLDs by seat index decoded and answered without protobuf messages (of ops_total "
            "op=\"hold\").",
            [&](const auto& s) { return u(s.holds_fast_path()); });
  per_shard("seatlock_live_holds", "gauge", "Holds currently live.",
            [&](const auto& s) { return u(s.live_holds()); });
  per_shard("seatlock_lapsed_holds", "gauge", "Expired holds remembered for a late CONFIRM.",
            [&](const auto& s) { return u(s.lapsed_holds()); });
  per_shard("seatlock_lapsed_hold_bytes", "gauge",
            "Memory the remembered expired holds take (capped by --max_lapsed_hold_bytes).",
            [&](const auto& s) { return u(s.lapsed_hold_bytes()); });
  per_shard("seatlock_lapsed_holds_evicted_total", "counter",
            "Expired holds forgotten early to stay within --max_lapsed_hold_bytes.",
            [&](const auto& s) { return u(s.lapsed_holds_evicted()); });
  per_shard("seatlock_lapsed_holds_purged_total", "counter",
            "Expired holds forgotten after --lapsed_hold_retention_ms.",
            [&](const auto& s) { return u(s.lapsed_holds_purged()); });
  per_shard("seatlock_bookings", "gauge", "Bookings held by the shard (cancelled ones included).",
            [&](const auto& s) { return u(s.bookings()); });
  per_shard("seatlock_events", "gauge", "Events defined.",
            [&](const auto& s) { return u(s.events()); });
  per_shard("seatlock_connections", "gauge", "Open client connections on the shard.",
            [&](const auto& s) { return u(s.connections()); });
  per_shard("seatlock_in_flight", "gauge", "Requests being processed.",
            [&](const auto& s) { return u(s.in_flight()); });
  per_shard("seatlock_memory_bytes", "gauge", "Approximate bytes held by the shard's engine.",
            [&](const auto& s) { return u(s.memory_bytes()); });
  per_shard("seatlock_fencing_high_water", "gauge", "Largest fencing token granted.",
            [&](const auto& s) { return u(s.fencing_high_water()); });
  per_shard("seatlock_wal_failed", "gauge",
            "1 if the shard's log failed and it stopped acknowledging sales.",
            [&](const auto& s) { return s.wal_failed() ? 1.0 : 0.0; });
  auto histogram =
      [&](absl::string_view name, absl::string_view help,
          const std::function<const wire::LatencyBuckets&(const wire::ShardStats&)>& get) {
        Family(&out, name, "histogram", help);
        for (const auto& s : stats.shards()) {
          const wire::LatencyBuckets& b = get(s);
          for (int i = 0; i < b.le_seconds_size() && i < b.counts_size(); ++i) {
            absl::StrAppend(&out, name, "_bucket{shard=\"", s.shard(), "\",le=\"",
                            Num(b.le_seconds(i)), "\"} ", b.counts(i), "\n");
          }
          absl::StrAppend(&out, name, "_bucket{shard=\"", s.shard(), "\",le=\"+Inf\"} ", b.count(),
                          "\n");
          absl::StrAppend(&out, name, "_sum{shard=\"", s.shard(), "\"} ", Num(b.sum_seconds()),
                          "\n");
          absl::StrAppend(&out, name, "_count{shard=\"", s.shard(), "\"} ", b.count(), "\n");
        }
      };
  histogram("seatlock_hold_latency_seconds", "Time to run a HOLD in its shard.",
            [](const auto& s) -> const wire::LatencyBuckets& { return s.hold_latency(); });
  histogram("seatlock_confirm_latency_seconds", "Time to answer a CONFIRM, fdatasync included.",
            [](const auto& s) -> const wire::LatencyBuckets& { return s.confirm_latency(); });
  histogram("seatlock_wal_fsync_seconds", "Time of one log group's write + fdatasync.",
            [](const auto& s) -> const wire::LatencyBuckets& { return s.fsync_latency(); });
  Family(&out, "seatlock_resident_memory_bytes", "gauge", "Resident memory of seatlockd.");
  absl::StrAppend(&out, "seatlock_resident_memory_bytes ", stats.rss_bytes(), "\n");
  Family(&out, "seatlock_max_memory_bytes", "gauge",
         "The memory guard's limit (--max_memory; 0: none).");
  absl::StrAppend(&out, "seatlock_max_memory_bytes ", stats.max_memory_bytes(), "\n");
  Family(&out, "seatlock_memory_exceeded", "gauge",
         "1 while over --max_memory: new holds, joins and connections are refused.");
  absl::StrAppend(&out, "seatlock_memory_exceeded ", stats.memory_exceeded() ? 1 : 0, "\n");
  Family(&out, "seatlock_role", "gauge",
         "1 for this node's role in its replica group (standalone, primary or replica).");
  absl::StrAppend(&out, "seatlock_role{role=\"", stats.role().empty() ? "standalone" : stats.role(),
                  "\"} 1\n");
  Family(&out, "seatlock_epoch", "gauge", "The replica group's epoch as this node knows it.");
  absl::StrAppend(&out, "seatlock_epoch ", stats.epoch(), "\n");
  Family(&out, "seatlock_replication_lag_records", "gauge",
         "Primary: records durable here that a replica has not acknowledged, per shard.");
  for (const wire::ReplicaStatus& r : stats.replicas()) {
    for (int i = 0; i < r.lag_records_size(); ++i) {
      absl::StrAppend(&out, "seatlock_replication_lag_records{replica=\"", r.node_id(),
                      "\",shard=\"", i, "\"} ", r.lag_records(i), "\n");
    }
  }
  Family(&out, "seatlock_replication_lag_seconds", "gauge",
         "Primary: how long a replica has been behind on a shard (0: caught up).");
  for (const wire::ReplicaStatus& r : stats.replicas()) {
    for (int i = 0; i < r.lag_ms_size(); ++i) {
      absl::StrAppend(&out, "seatlock_replication_lag_seconds{replica=\"", r.node_id(),
                      "\",shard=\"", i, "\"} ", Num(static_cast<double>(r.lag_ms(i)) / 1000.0),
                      "\n");
    }
  }
  Family(&out, "seatlock_repl_streams", "gauge",
         "Primary: replication streams open on --repl_port (bound: --repl_max_streams).");
  absl::StrAppend(&out, "seatlock_repl_streams ", stats.repl_streams(), "\n");
  Family(&out, "seatlock_repl_streams_refused_total", "counter",
         "Connections the replication port refused or cut: over --repl_max_streams, a bad "
         "Hello, a node not in the group, another epoch or layout, an ack above what was sent.");
  absl::StrAppend(&out, "seatlock_repl_streams_refused_total ", stats.repl_streams_refused(), "\n");
  Family(&out, "seatlock_repl_hold_changes_dropped_total", "counter",
         "Hold changes dropped past --repl_hold_changes before a stream or the standby read "
         "them.");
  absl::StrAppend(&out, "seatlock_repl_hold_changes_dropped_total ", stats.hold_changes_dropped(),
                  "\n");
  Family(&out, "seatlock_repl_hold_resyncs_total", "counter",
         "Times a replication stream or a replica shard missed hold changes and started its "
         "replicated holds over (the missed holds are lost: their seats read free there).");
  absl::StrAppend(&out, "seatlock_repl_hold_resyncs_total ", stats.hold_resyncs(), "\n");
  Family(&out, "seatlock_uptime_seconds", "gauge", "Seconds since seatlockd started.");
  absl::StrAppend(&out, "seatlock_uptime_seconds ",
                  Num(static_cast<double>(stats.uptime_ms()) / 1000.0), "\n");
  return out;
}

bool ParseHttpRequest(absl::string_view request, std::string* method, std::string* path) {
  if (request.find("\r\n\r\n") == absl::string_view::npos) return false;
  const size_t eol = request.find("\r\n");
  absl::string_view line = request.substr(0, eol);
  const size_t a = line.find(' ');
  const size_t b = a == absl::string_view::npos ? a : line.find(' ', a + 1);
  if (a == absl::string_view::npos || b == absl::string_view::npos) {
    method->clear();
    path->clear();
    return true;
  }
  *method = std::string(line.substr(0, a));
  *path = std::string(line.substr(a + 1, b - a - 1));
  return true;
}

std::string HttpResponse(int status, absl::string_view reason, absl::string_view content_type,
                         absl::string_view body) {
  return absl::StrCat("HTTP/1.1 ", status, " ", reason, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

}  // namespace seatlock
