// seatlock-sink: mirrors every sale and refund of a seatlockd into
// PostgreSQL exactly once, with a NOTIFY per change (docs/sink.md). This file
// reads the flags and runs a Sink; exit codes: 0 stopped (or --once caught
// up), 2 bad flags, 3 a fault retrying cannot fix (schema mismatch, a seat
// sold twice refused by the database).
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/flag_spelling.h"
#include "sink/metrics_http.h"
#include "sink/sink.h"

ABSL_FLAG(std::string, seatlockd, "127.0.0.1:7400",
          "seatlockd's address, HOST:PORT (its main port; the shard ports come from HELLO).");
ABSL_FLAG(std::string, pg, "",
          "PostgreSQL connection string (libpq), e.g. 'host=127.0.0.1 port=5432 dbname=tickets "
          "user=seatlock'. Required.");
ABSL_FLAG(int32_t, batch_size, 500, "Most feed changes committed in one transaction.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding seatlockd's AUTH token (surrounding whitespace stripped); empty: no AUTH.");
ABSL_FLAG(bool, once, false,
          "Apply every change there is when the sink starts, then exit 0 (for scripts).");
ABSL_FLAG(int32_t, metrics_port, -1,
          "Serve Prometheus /metrics (counters, lag per stream) on this port; -1: off; 0: "
          "ephemeral (the port is logged).");
ABSL_FLAG(std::string, metrics_bind, "127.0.0.1", "Address the /metrics port listens on (IPv4).");
ABSL_FLAG(int64_t, event_poll_ms, 1000, "List seatlockd's events this often, to follow new ones.");
ABSL_FLAG(int64_t, lag_log_ms, 10000, "Log each stream's lag this often (0: never).");
ABSL_FLAG(int64_t, backoff_max_ms, 5000,
          "Longest wait between reconnects to seatlockd or PostgreSQL (doubling from 100 ms).");

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

bool OurFlags(absl::string_view file) { return absl::StrContains(file, "sink/main.cc"); }

int Fail(const std::string& message) {
  std::fprintf(stderr, "seatlock-sink: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = OurFlags;
  usage.contains_helpshort_flags = OurFlags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "seatlock-sink: mirrors every sale and refund of a seatlockd into PostgreSQL, exactly "
      "once,\nwith NOTIFY seatlock_sales per change (docs/sink.md).\n"
      "Usage: seatlock-sink --seatlockd 127.0.0.1:7400 --pg 'host=... dbname=...' [--once] ...\n"
      "Flags may be spelled with '-' or '_' (--batch-size or --batch_size).");
  std::vector<std::string> normalized = seatlock::UnderscoreFlagNames(argc, argv);
  std::vector<char*> args;
  args.reserve(normalized.size());
  for (auto& a : normalized) args.push_back(a.data());
  std::vector<char*> rest = absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (rest.size() > 1)
    return Fail(absl::StrCat("unexpected argument '", rest[1], "' (see --help)"));

  seatlock::sink::SinkOptions opts;
  const std::string addr = absl::GetFlag(FLAGS_seatlockd);
  const size_t colon = addr.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(addr.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return Fail(absl::StrCat("--seatlockd must be HOST:PORT, not '", addr, "'"));
  }
  opts.seatlockd.host = addr.substr(0, colon);
  opts.seatlockd.port = static_cast<uint16_t>(port);
  opts.seatlockd.client_name = "seatlock-sink";
  opts.seatlockd.call_timeout_ms = 10000;
  if (const std::string f = absl::GetFlag(FLAGS_auth_token_file); !f.empty()) {
    std::ifstream in(f);
    if (!in) return Fail(absl::StrCat("cannot read --auth-token-file '", f, "'"));
    std::stringstream token;
    token << in.rdbuf();
    opts.seatlockd.auth_token = std::string(absl::StripAsciiWhitespace(token.str()));
    if (opts.seatlockd.auth_token.empty()) {
      return Fail(absl::StrCat("--auth-token-file '", f, "' is empty"));
    }
  }
  opts.pg_conninfo = absl::GetFlag(FLAGS_pg);
  if (opts.pg_conninfo.empty()) return Fail("--pg is required (a libpq connection string)");
  const int32_t batch = absl::GetFlag(FLAGS_batch_size);
  if (batch < 1 || batch > 100000) return Fail("--batch_size must be between 1 and 100000");
  opts.batch_size = static_cast<size_t>(batch);
  opts.once = absl::GetFlag(FLAGS_once);
  opts.event_poll_ms = absl::GetFlag(FLAGS_event_poll_ms);
  opts.lag_log_ms = absl::GetFlag(FLAGS_lag_log_ms);
  opts.backoff_max_ms = absl::GetFlag(FLAGS_backoff_max_ms);
  if (opts.event_poll_ms <= 0) return Fail("--event_poll_ms must be positive");
  if (opts.backoff_max_ms < opts.backoff_initial_ms) {
    return Fail(absl::StrCat("--backoff_max_ms must be at least ", opts.backoff_initial_ms));
  }
  opts.stop = &g_stop;
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);

  seatlock::sink::Sink sink(opts);
  seatlock::sink::MetricsHttp metrics([&sink] { return sink.MetricsText(); });
  if (const int32_t mp = absl::GetFlag(FLAGS_metrics_port); mp >= 0) {
    if (mp > 65535) return Fail("--metrics_port must be at most 65535");
    auto bound = metrics.Start(absl::GetFlag(FLAGS_metrics_bind), static_cast<uint16_t>(mp));
    if (!bound.ok()) return Fail(std::string(bound.status().message()));
    std::fprintf(stderr, "seatlock-sink: /metrics on %s:%u\n",
                 absl::GetFlag(FLAGS_metrics_bind).c_str(), *bound);
  }
  const absl::Status st = sink.Run();
  metrics.Stop();
  if (!st.ok()) {
    std::fprintf(stderr, "seatlock-sink: stopped: %s\n", std::string(st.message()).c_str());
    return 3;
  }
  return 0;
}
