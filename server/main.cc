// seatlockd: the seatlock daemon. See README.md and docs/protocol.md.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/flag_spelling.h"
#include "persistence/file_util.h"
#include "server/cluster_node.h"
#include "server/log.h"
#include "server/memory_guard.h"
#include "server/server.h"

ABSL_FLAG(std::string, bind, "127.0.0.1", "Address to listen on (IPv4 or IPv6).");
ABSL_FLAG(int32_t, port, 7400,
          "Main port, shared by all shards. Shard i also listens on port+1+i. 0 picks ephemeral "
          "ports (for tests; see --port-file).");
ABSL_FLAG(int32_t, shards, 0, "Shard threads (0: one per CPU core).");
ABSL_FLAG(bool, pin, false, "Pin shard i to CPU core i.");
ABSL_FLAG(std::string, data_dir, "./data", "Directory for the write-ahead log and snapshots.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding a shared secret; clients must AUTH with it. Empty: no auth.");
ABSL_FLAG(std::string, io, "uring",
          "I/O backend: uring (falls back to epoll if refused) or epoll.");
ABSL_FLAG(int32_t, max_connections, 10000, "Maximum open client connections.");
ABSL_FLAG(int32_t, max_in_flight, 1024,
          "Maximum requests in flight per connection; beyond it the server stops reading.");
ABSL_FLAG(int64_t, idle_timeout_ms, 300000, "Close connections idle this long (0: never).");
ABSL_FLAG(int32_t, max_frame_bytes, 1 << 20, "Largest accepted frame.");
ABSL_FLAG(int32_t, metrics_port, -1,
          "Serve Prometheus metrics at http://BIND:PORT/metrics (-1: off; 0: an ephemeral port).");
ABSL_FLAG(int64_t, max_output_bytes, 8 << 20,
          "Replies queued for one connection, not yet sent, beyond which the server stops reading "
          "its requests until it reads replies (64 KiB before AUTH when auth is required).");
ABSL_FLAG(int64_t, max_reply_bytes, 2 << 20,
          "Largest reply; a request whose reply would be larger gets LIMIT_EXCEEDED.");
ABSL_FLAG(int64_t, output_stall_ms, 10000,
          "Close a connection that is over its output budget and has read nothing for this long.");
ABSL_FLAG(int64_t, auth_timeout_ms, 10000,
          "With --auth_token_file: close a connection that has not authenticated within this.");
ABSL_FLAG(int32_t, frames_per_turn, 64,
          "Requests one connection may run per loop pass before the shard serves the others.");
ABSL_FLAG(bool, hold_fast_path, true,
          "Decode a HOLD that names its seats by index, and encode its reply, without protobuf "
          "messages (the same bytes, less work; docs/engine.md). false: every request goes "
          "through protobuf (to compare the two).");
ABSL_FLAG(int64_t, max_memory, -1,
          "Memory guard, in bytes of resident memory: at or over it, new holds, joins and "
          "connections get RESOURCE_EXHAUSTED (confirms, releases and reads go on). -1: three "
          "quarters of the machine's RAM (or of the cgroup's memory.max); 0: no guard.");
ABSL_FLAG(int64_t, bind_retry_ms, 5000,
          "At start, retry a port that is still in use (a previous process exiting) this long.");
ABSL_FLAG(int32_t, shard_queue_depth, 4096,
          "Most messages queued from one shard to another at once; beyond it the sender keeps "
          "them in order until the receiver drains (STATS bus_backlog).");
ABSL_FLAG(int64_t, feed_ring, 100000,
          "Seat changes kept per shard so a SUBSCRIBE can resume after a disconnect.");
ABSL_FLAG(std::string, port_file, "", "Write the bound ports as JSON to this file once listening.");
ABSL_FLAG(std::string, fsync, "always",
          "always: answer a CONFIRM only after its log record is fdatasync'ed. none: skip the "
          "fdatasync (benchmarks only: acknowledged sales can be lost).");
ABSL_FLAG(int64_t, wal_segment_bytes, 64 << 20,
          "Roll the write-ahead log to a new segment at this size.");
ABSL_FLAG(int64_t, snapshot_bytes, 256 << 20,
          "Write a snapshot of a shard after this many bytes of log, then drop the log segments it "
          "covers (0: never).");
ABSL_FLAG(bool, wal_repair, false,
          "If the log is corrupt before its tail, cut it there (losing later records) instead of "
          "refusing to start.");
ABSL_FLAG(int32_t, max_seats_per_hold, 32, "Most seats one hold may take.");
ABSL_FLAG(int64_t, max_ttl_ms, 3600000, "Longest TTL one HOLD or EXTEND may ask for.");
ABSL_FLAG(int64_t, max_hold_lifetime_ms, 7200000,
          "Longest total life of a hold, extensions included.");
ABSL_FLAG(int64_t, idempotency_retention_ms, 86400000,
          "How long confirm results are kept for replay.");
ABSL_FLAG(int64_t, lapsed_hold_retention_ms, 3600000,
          "How long an expired hold is remembered for a late CONFIRM.");
ABSL_FLAG(int64_t, max_lapsed_hold_bytes, int64_t{64} << 20,
          "Most memory all shards together spend remembering expired holds for a late CONFIRM; "
          "past it the oldest are forgotten first (0: remember none).");

ABSL_FLAG(std::string, etcd, "",
          "Comma-separated etcd endpoints (host:port): run as a member of a replica group "
          "(docs/cluster.md). Empty: standalone.");
ABSL_FLAG(std::string, group, "default", "Replica group name (with --etcd).");
ABSL_FLAG(std::string, node_id, "", "This node's id in its group, unique (with --etcd).");
ABSL_FLAG(std::string, advertise, "",
          "host:port clients reach this node's main port at (with --etcd; default BIND:PORT).");
ABSL_FLAG(int32_t, repl_port, -1,
          "Port replicas copy this node's log from, when it is the primary (with --etcd; "
          "-1: PORT+65).");
ABSL_FLAG(std::string, repl_advertise, "",
          "host:port replicas reach --repl_port at (default BIND:REPL_PORT).");
ABSL_FLAG(int32_t, repl_max_streams, 0,
          "Replication streams the primary serves at once (a replica needs one per shard); a "
          "connection past this is refused (0: 4 x --shards, room for two replicas that "
          "reconnect).");
ABSL_FLAG(int64_t, repl_hold_changes, 65536,
          "Hold changes (grants, extends, ends) kept per shard for the replication streams, and "
          "for a replica's standby shard to apply; past it the oldest go, and a stream or "
          "replica that missed some forgets its replicated holds (1024..16777216).");
ABSL_FLAG(int64_t, lease_ttl_ms, 3000,
          "The primary's etcd lease; it stops answering writes when it could not renew it within "
          "half of this, and a replica takes over after it expires.");
ABSL_FLAG(int32_t, sync_replicas, 1,
          "1: a CONFIRM (and every durable reply) waits for the synchronous replica's fsync too "
          "(strict, the default). 0: asynchronous replication; a failover can lose acknowledged "
          "sales.");
ABSL_FLAG(int64_t, sync_timeout_ms, 5000,
          "Strict mode: a durable reply the synchronous replica has not confirmed within this "
          "gets UNAVAILABLE.");

namespace {

bool OurFlags(absl::string_view file) { return absl::StrContains(file, "server/main.cc"); }

int Fail(const std::string& message) {
  std::fprintf(stderr, "seatlockd: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = OurFlags;
  usage.contains_helpshort_flags = OurFlags;
  usage.version_string = [] { return std::string("seatlockd ") + seatlock::kServerVersion + "\n"; };
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "seatlockd: in-memory seat-lock server for flash-sale ticketing.\n"
      "Usage: seatlockd [--bind 127.0.0.1] [--port 7400] [--shards N] [--data-dir ./data] ...\n"
      "Flags may be spelled with '-' or '_' (--data-dir or --data_dir).");
  // Accept --data-dir as well as --data_dir (Abseil spells flags with '_').
  std::vector<std::string> normalized = seatlock::UnderscoreFlagNames(argc, argv);
  std::vector<char*> args;
  args.reserve(normalized.size());
  for (auto& a : normalized) args.push_back(a.data());
  std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (rest.size() > 1)
    return Fail(absl::StrCat("unexpected argument '", rest[1], "' (see --help)"));

  seatlock::ServerConfig config;
  config.bind = absl::GetFlag(FLAGS_bind);
  const int32_t port = absl::GetFlag(FLAGS_port);
  if (port < 0 || port > 65535 - 65) return Fail("--port must be between 0 and 65470");
  config.port = static_cast<uint16_t>(port);
  int32_t shards = absl::GetFlag(FLAGS_shards);
  if (shards == 0) shards = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  if (shards < 1 || shards > 64) return Fail("--shards must be between 1 and 64");
  config.shards = static_cast<uint32_t>(shards);
  config.pin = absl::GetFlag(FLAGS_pin);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  const std::string io = absl::GetFlag(FLAGS_io);
  if (io == "uring")
    config.io = seatlock::IoBackend::kUring;
  else if (io == "epoll")
    config.io = seatlock::IoBackend::kEpoll;
  else
    return Fail(absl::StrCat("--io must be 'uring' or 'epoll', not '", io, "'"));
  if (const std::string f = absl::GetFlag(FLAGS_auth_token_file); !f.empty()) {
    std::string token;
    if (absl::Status st = seatlock::files::ReadFile(f, &token); !st.ok())
      return Fail(absl::StrCat("cannot read --auth-token-file: ", st.message()));
    config.auth_token = std::string(absl::StripAsciiWhitespace(token));
    if (config.auth_token.empty())
      return Fail(absl::StrCat("--auth-token-file '", f, "' is empty"));
  }
  auto positive = [](int64_t v, const char* name) -> std::string {
    return v > 0 ? "" : absl::StrCat("--", name, " must be positive");
  };
  for (auto [v, name] :
       {std::pair<int64_t, const char*>{absl::GetFlag(FLAGS_max_connections), "max_connections"},
        {absl::GetFlag(FLAGS_max_in_flight), "max_in_flight"},
        {absl::GetFlag(FLAGS_max_frame_bytes), "max_frame_bytes"},
        {absl::GetFlag(FLAGS_max_seats_per_hold), "max_seats_per_hold"},
        {absl::GetFlag(FLAGS_max_ttl_ms), "max_ttl_ms"},
        {absl::GetFlag(FLAGS_max_hold_lifetime_ms), "max_hold_lifetime_ms"},
        {absl::GetFlag(FLAGS_idempotency_retention_ms), "idempotency_retention_ms"},
        {absl::GetFlag(FLAGS_lapsed_hold_retention_ms), "lapsed_hold_retention_ms"}}) {
    if (std::string e = positive(v, name); !e.empty()) return Fail(e);
  }
  if (absl::GetFlag(FLAGS_idle_timeout_ms) < 0) return Fail("--idle_timeout_ms must be >= 0");
  config.max_connections = static_cast<uint32_t>(absl::GetFlag(FLAGS_max_connections));
  config.max_in_flight = static_cast<uint32_t>(absl::GetFlag(FLAGS_max_in_flight));
  config.idle_timeout_ms = absl::GetFlag(FLAGS_idle_timeout_ms);
  config.max_frame_bytes = static_cast<uint32_t>(absl::GetFlag(FLAGS_max_frame_bytes));
  config.port_file = absl::GetFlag(FLAGS_port_file);
  config.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  if (absl::GetFlag(FLAGS_feed_ring) < 0) return Fail("--feed_ring must be >= 0");
  config.feed_ring = static_cast<uint64_t>(absl::GetFlag(FLAGS_feed_ring));
  if (absl::GetFlag(FLAGS_max_output_bytes) < (64 << 10)) {
    return Fail("--max_output_bytes must be at least 65536");
  }
  config.max_output_bytes = static_cast<uint64_t>(absl::GetFlag(FLAGS_max_output_bytes));
  if (absl::GetFlag(FLAGS_max_reply_bytes) < 4096) {
    return Fail("--max_reply_bytes must be at least 4096");
  }
  config.max_reply_bytes = static_cast<uint64_t>(absl::GetFlag(FLAGS_max_reply_bytes));
  if (config.max_reply_bytes > config.max_output_bytes) {
    return Fail("--max_reply_bytes must not exceed --max_output_bytes");
  }
  for (auto [value, name] : {std::pair{absl::GetFlag(FLAGS_output_stall_ms), "output_stall_ms"},
                             std::pair{absl::GetFlag(FLAGS_auth_timeout_ms), "auth_timeout_ms"}}) {
    if (value <= 0) return Fail(absl::StrCat("--", name, " must be positive"));
  }
  config.output_stall_ms = absl::GetFlag(FLAGS_output_stall_ms);
  config.auth_timeout_ms = absl::GetFlag(FLAGS_auth_timeout_ms);
  if (absl::GetFlag(FLAGS_frames_per_turn) < 1) return Fail("--frames_per_turn must be positive");
  config.frames_per_turn = static_cast<uint32_t>(absl::GetFlag(FLAGS_frames_per_turn));
  config.hold_fast_path = absl::GetFlag(FLAGS_hold_fast_path);
  if (absl::GetFlag(FLAGS_bind_retry_ms) < 0) return Fail("--bind_retry_ms must be >= 0");
  config.bind_retry_ms = absl::GetFlag(FLAGS_bind_retry_ms);
  const int64_t max_memory = absl::GetFlag(FLAGS_max_memory);
  if (max_memory < -1) return Fail("--max_memory must be -1 (the default), 0 (off) or bytes");
  config.max_memory =
      max_memory == -1 ? seatlock::MemoryGuard::DefaultLimit() : static_cast<uint64_t>(max_memory);
  const int32_t queue_depth = absl::GetFlag(FLAGS_shard_queue_depth);
  if (queue_depth < 16 || queue_depth > (1 << 20)) {
    return Fail("--shard_queue_depth must be between 16 and 1048576");
  }
  config.shard_queue_depth = static_cast<uint32_t>(queue_depth);
  if (config.metrics_port < -1 || config.metrics_port > 65535)
    return Fail("--metrics_port must be -1..65535");
  const std::string fsync = absl::GetFlag(FLAGS_fsync);
  if (fsync != "always" && fsync != "none") return Fail("--fsync must be 'always' or 'none'");
  config.fsync = fsync == "always";
  if (absl::GetFlag(FLAGS_wal_segment_bytes) < 4096)
    return Fail("--wal_segment_bytes must be >= 4096");
  config.wal_segment_bytes = static_cast<uint64_t>(absl::GetFlag(FLAGS_wal_segment_bytes));
  config.wal_repair = absl::GetFlag(FLAGS_wal_repair);
  if (absl::GetFlag(FLAGS_snapshot_bytes) < 0) return Fail("--snapshot_bytes must be >= 0");
  config.snapshot_bytes = static_cast<uint64_t>(absl::GetFlag(FLAGS_snapshot_bytes));
  config.limits.max_seats_per_hold = static_cast<uint32_t>(absl::GetFlag(FLAGS_max_seats_per_hold));
  config.limits.max_ttl_ms = absl::GetFlag(FLAGS_max_ttl_ms);
  config.limits.max_hold_lifetime_ms = absl::GetFlag(FLAGS_max_hold_lifetime_ms);
  config.limits.idempotency_retention_ms = absl::GetFlag(FLAGS_idempotency_retention_ms);
  config.limits.lapsed_hold_retention_ms = absl::GetFlag(FLAGS_lapsed_hold_retention_ms);
  if (absl::GetFlag(FLAGS_max_lapsed_hold_bytes) < 0)
    return Fail("--max_lapsed_hold_bytes must be >= 0");
  config.limits.max_lapsed_hold_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_lapsed_hold_bytes));

  // Signals: SIGPIPE ignored; SIGTERM/SIGINT handled by sigwait below, so
  // block them before any thread starts (threads inherit the mask).
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  seatlock::LogInfo(
      "seatlockd ", seatlock::kServerVersion, " starting: bind=", config.bind,
      " port=", config.port, " shards=", config.shards, " io=", io,
      " pin=", config.pin ? "yes" : "no", " data_dir=", config.data_dir,
      " auth=", config.auth_token.empty() ? "off" : "on",
      " max_connections=", config.max_connections, " max_in_flight=", config.max_in_flight,
      " max_frame_bytes=", config.max_frame_bytes, " fsync=", fsync,
      " wal_segment_bytes=", config.wal_segment_bytes, config.wal_repair ? " wal_repair=yes" : "");
  if (!config.fsync) {
    seatlock::LogWarning(
        "--fsync=none: confirms are answered before they are on disk; a crash or "
        "power loss can lose acknowledged sales. For benchmarks only.");
  }
  if (!absl::GetFlag(FLAGS_etcd).empty()) {
    seatlock::ClusterOptions copts;
    copts.etcd = absl::StrSplit(absl::GetFlag(FLAGS_etcd), ',', absl::SkipEmpty());
    copts.group = absl::GetFlag(FLAGS_group);
    copts.node_id = absl::GetFlag(FLAGS_node_id);
    if (copts.node_id.empty()) return Fail("--etcd needs --node_id");
    if (config.port == 0) return Fail("--etcd needs a fixed --port (clients find nodes by it)");
    copts.advertise = absl::GetFlag(FLAGS_advertise);
    if (copts.advertise.empty()) copts.advertise = absl::StrCat(config.bind, ":", config.port);
    const int32_t repl_port = absl::GetFlag(FLAGS_repl_port);
    if (repl_port < -1 || repl_port > 65535) return Fail("--repl_port must be -1..65535");
    copts.repl_port = static_cast<uint16_t>(repl_port == -1 ? config.port + 65 : repl_port);
    copts.repl_advertise = absl::GetFlag(FLAGS_repl_advertise);
    if (copts.repl_advertise.empty())
      copts.repl_advertise = absl::StrCat(config.bind, ":", copts.repl_port);
    const int32_t max_streams = absl::GetFlag(FLAGS_repl_max_streams);
    if (max_streams != 0 &&
        (max_streams < static_cast<int32_t>(config.shards) || max_streams > 4096)) {
      return Fail(absl::StrCat("--repl_max_streams must be 0 or between --shards (", config.shards,
                               ") and 4096"));
    }
    copts.repl_max_streams =
        max_streams == 0 ? 4 * config.shards : static_cast<uint32_t>(max_streams);
    const int64_t hold_changes = absl::GetFlag(FLAGS_repl_hold_changes);
    if (hold_changes < 1024 || hold_changes > (int64_t{1} << 24)) {
      return Fail("--repl_hold_changes must be between 1024 and 16777216");
    }
    copts.repl_hold_changes = static_cast<size_t>(hold_changes);
    copts.lease_ttl_ms = absl::GetFlag(FLAGS_lease_ttl_ms);
    if (copts.lease_ttl_ms < 1000) return Fail("--lease_ttl_ms must be at least 1000");
    const int32_t sync = absl::GetFlag(FLAGS_sync_replicas);
    if (sync != 0 && sync != 1) return Fail("--sync_replicas must be 0 or 1");
    copts.sync_replicas = static_cast<uint32_t>(sync);
    config.sync_timeout_ms = absl::GetFlag(FLAGS_sync_timeout_ms);
    if (config.sync_timeout_ms <= 0) return Fail("--sync_timeout_ms must be positive");
    seatlock::ClusterNode node(config, copts);
    std::thread watcher([&node, set] {
      int sig = 0;
      sigwait(&set, &sig);
      seatlock::LogInfo("received ", sig == SIGTERM ? "SIGTERM" : "SIGINT", "; leaving the group");
      node.Stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(8000));
      seatlock::LogError("shutdown did not finish within 8 s; exiting");
      _exit(1);
    });
    watcher.detach();
    if (absl::Status st = node.Run(); !st.ok()) {
      seatlock::LogError("cluster node failed: ", st.message());
      return 1;
    }
    seatlock::LogInfo("stopped");
    return 0;
  }
  seatlock::Server server(config);
  if (absl::Status st = server.Start(); !st.ok()) {
    seatlock::LogError("start failed: ", st.message());
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  seatlock::LogInfo("received ", sig == SIGTERM ? "SIGTERM" : "SIGINT", "; shutting down");
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(4800));
    seatlock::LogError("shutdown did not finish within 5 s; exiting");
    _exit(1);
  }).detach();
  server.Stop();
  server.Wait();
  seatlock::LogInfo("stopped");
  return 0;
}
