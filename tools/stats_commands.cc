// The stats and top commands: STATS replies as a per-shard table, and as
// per-shard rates refreshed until Ctrl-C. ShardStats fields are found by
// reflection, so fields the server adds (counters, flags, latency
// distributions) show without changes here. Declared in commands.h; main
// thread only (top's signal handler only sets a flag).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/struct.pb.h"
#include "tools/command_util.h"
#include "tools/commands.h"
#include "tools/format.h"

namespace seatlock::tools {
namespace {

std::vector<wire::ShardStats> SortedShards(const wire::StatsReply& st) {
  std::vector<wire::ShardStats> shards(st.shards().begin(), st.shards().end());
  std::sort(shards.begin(), shards.end(), [](const wire::ShardStats& a, const wire::ShardStats& b) {
    return a.shard() < b.shard();
  });
  return shards;
}

// Seconds as "850us", "1.25ms" or "1.20s"; "-" with no observations.
std::string FormatSeconds(double seconds, uint64_t count) {
  if (count == 0) return "-";
  if (seconds < 0.001) return absl::StrFormat("%.0fus", seconds * 1e6);
  if (seconds < 1.0) return absl::StrFormat("%.2fms", seconds * 1e3);
  return absl::StrFormat("%.2fs", seconds);
}

struct LatencyValue {
  uint64_t count = 0;
  double p50 = 0;
  double p99 = 0;
};

// A latency distribution in ShardStats: a message field with count,
// p50_seconds and p99_seconds (found by reflection; servers that do not
// report latencies have none).
struct LatencyField {
  const google::protobuf::FieldDescriptor* field;
  const google::protobuf::FieldDescriptor* count;
  const google::protobuf::FieldDescriptor* p50;
  const google::protobuf::FieldDescriptor* p99;

  LatencyValue Get(const wire::ShardStats& sh) const {
    const google::protobuf::Message& m = sh.GetReflection()->GetMessage(sh, field);
    const auto* r = m.GetReflection();
    return {r->GetUInt64(m, count), r->GetDouble(m, p50), r->GetDouble(m, p99)};
  }
  // "fsync_latency" -> "FSYNC"
  std::string ShortTitle() const {
    std::string name = field->name();
    if (absl::EndsWith(name, "_latency")) name.resize(name.size() - 8);
    return absl::AsciiStrToUpper(name);
  }
};

const std::vector<LatencyField>& LatencyFields() {
  using google::protobuf::FieldDescriptor;
  static const std::vector<LatencyField> fields = [] {
    std::vector<LatencyField> out;
    const auto* desc = wire::ShardStats::descriptor();
    for (int i = 0; i < desc->field_count(); ++i) {
      const FieldDescriptor* f = desc->field(i);
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) continue;
      const auto* sub = f->message_type();
      const FieldDescriptor* count = sub->FindFieldByName("count");
      const FieldDescriptor* p50 = sub->FindFieldByName("p50_seconds");
      const FieldDescriptor* p99 = sub->FindFieldByName("p99_seconds");
      if (count == nullptr || p50 == nullptr || p99 == nullptr || count->is_repeated() ||
          p50->is_repeated() || p99->is_repeated() ||
          count->cpp_type() != FieldDescriptor::CPPTYPE_UINT64 ||
          p50->cpp_type() != FieldDescriptor::CPPTYPE_DOUBLE ||
          p99->cpp_type() != FieldDescriptor::CPPTYPE_DOUBLE) {
        continue;
      }
      out.push_back({f, count, p50, p99});
    }
    return out;
  }();
  return fields;
}

const LatencyField* FindLatencyField(const google::protobuf::FieldDescriptor* f) {
  for (const LatencyField& l : LatencyFields()) {
    if (l.field == f) return &l;
  }
  return nullptr;
}

// One line of the stats table: a ShardStats field (or a part of one), its
// value per shard, and the all-shards value.
struct StatLine {
  std::string name;
  std::vector<std::string> per_shard;
  std::string total;
};

// Every field of ShardStats, found by reflection so that fields added to the
// schema show up without changes here. Counters are summed; the fencing
// mark and latency percentiles take the largest shard's value. A latency
// distribution (a message with count / p50_seconds / p99_seconds) gives
// three lines.
std::vector<StatLine> StatLines(const std::vector<wire::ShardStats>& shards) {
  using google::protobuf::FieldDescriptor;
  std::vector<StatLine> lines;
  const auto* desc = wire::ShardStats::descriptor();
  const auto* refl = wire::ShardStats::GetReflection();
  auto integer = [](const google::protobuf::Message& m, const FieldDescriptor* f) -> uint64_t {
    const auto* r = m.GetReflection();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_UINT64:
        return r->GetUInt64(m, f);
      case FieldDescriptor::CPPTYPE_UINT32:
        return r->GetUInt32(m, f);
      case FieldDescriptor::CPPTYPE_INT64:
        return static_cast<uint64_t>(std::max<int64_t>(0, r->GetInt64(m, f)));
      case FieldDescriptor::CPPTYPE_INT32:
        return static_cast<uint64_t>(std::max<int32_t>(0, r->GetInt32(m, f)));
      default:
        return 0;
    }
  };
  for (int i = 0; i < desc->field_count(); ++i) {
    const FieldDescriptor* f = desc->field(i);
    if (f->name() == "shard" || f->is_repeated()) continue;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_UINT64:
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_INT64:
      case FieldDescriptor::CPPTYPE_INT32: {
        const bool is_max = f->name() == "fencing_high_water";  // a mark, not a count
        const bool is_bytes = absl::EndsWith(f->name(), "_bytes");
        StatLine line{f->name(), {}, ""};
        uint64_t total = 0;
        for (const wire::ShardStats& sh : shards) {
          const uint64_t v = integer(sh, f);
          total = is_max ? std::max(total, v) : total + v;
          line.per_shard.push_back(is_bytes ? FormatBytes(v) : absl::StrCat(v));
        }
        line.total = is_bytes ? FormatBytes(total) : absl::StrCat(total);
        lines.push_back(std::move(line));
        break;
      }
      case FieldDescriptor::CPPTYPE_BOOL: {
        StatLine line{f->name(), {}, "no"};
        for (const wire::ShardStats& sh : shards) {
          const bool v = refl->GetBool(sh, f);
          line.per_shard.push_back(v ? "YES" : "no");
          if (v) line.total = "YES";
        }
        lines.push_back(std::move(line));
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        const LatencyField* lat = FindLatencyField(f);
        if (lat == nullptr) break;
        StatLine n{absl::StrCat(f->name(), " count"), {}, ""};
        StatLine l50{absl::StrCat(f->name(), " p50"), {}, ""};
        StatLine l99{absl::StrCat(f->name(), " p99"), {}, ""};
        uint64_t total = 0;
        double max50 = 0;
        double max99 = 0;
        for (const wire::ShardStats& sh : shards) {
          const LatencyValue v = lat->Get(sh);
          total += v.count;
          if (v.count > 0) {
            max50 = std::max(max50, v.p50);
            max99 = std::max(max99, v.p99);
          }
          n.per_shard.push_back(absl::StrCat(v.count));
          l50.per_shard.push_back(FormatSeconds(v.p50, v.count));
          l99.per_shard.push_back(FormatSeconds(v.p99, v.count));
        }
        n.total = absl::StrCat(total);
        l50.total = FormatSeconds(max50, total);
        l99.total = FormatSeconds(max99, total);
        lines.push_back(std::move(n));
        lines.push_back(std::move(l50));
        lines.push_back(std::move(l99));
        break;
      }
      default:
        break;
    }
  }
  return lines;
}

std::string StatsHeader(const wire::StatsReply& st) {
  return absl::StrCat("seatlockd ", st.server_version(), ", uptime ",
                      FormatDuration(st.uptime_ms()), ", io ", st.io_backend(), ", ",
                      Plural(static_cast<uint64_t>(st.shards_size()), "shard", "shards"));
}

}  // namespace

int RunStats(const ParsedArgs&, Session& s) {
  if (int rc = s.Connect()) return rc;
  wire::Request req;
  req.mutable_stats();
  wire::Response resp;
  if (int rc = s.Call(std::move(req), &resp, "stats")) return rc;
  if (s.options().json) {
    PrintJson(s, resp);
    return kExitOk;
  }
  const wire::StatsReply& st = resp.stats();
  const std::vector<wire::ShardStats> shards = SortedShards(st);
  // One line per ShardStats field, one column per shard: every field fits
  // however many shards there are.
  std::vector<Table::Column> cols = {{""}};
  for (const wire::ShardStats& sh : shards)
    cols.push_back({absl::StrCat("shard ", sh.shard()), true});
  cols.push_back({"all", true});
  Table t(cols);
  for (StatLine& line : StatLines(shards)) {
    std::vector<std::string> row = {line.name};
    row.insert(row.end(), line.per_shard.begin(), line.per_shard.end());
    row.push_back(line.total);
    t.AddRow(std::move(row));
  }
  s.out() << StatsHeader(st) << "\n\n" << t.Render();
  return kExitOk;
}

namespace {

std::atomic<bool> g_top_stop{false};
void OnTopSignal(int) { g_top_stop.store(true); }

// Counters that `top` turns into rates, and the gauges it shows as they are.
struct TopCounter {
  const char* title;
  const char* json;
  uint64_t (wire::ShardStats::*get)() const;
};
constexpr TopCounter kTopRates[] = {
    {"REQ/S", "requests_per_s", &wire::ShardStats::requests},
    {"HOLDS/S", "holds_granted_per_s", &wire::ShardStats::holds_granted},
    {"REFUSED/S", "holds_refused_per_s", &wire::ShardStats::holds_refused},
    {"RELEASED/S", "holds_released_per_s", &wire::ShardStats::holds_released},
    {"EXPIRED/S", "holds_expired_per_s", &wire::ShardStats::holds_expired},
    {"CONFIRMS/S", "confirms_per_s", &wire::ShardStats::confirms},
    {"FWD/S", "forwarded_out_per_s", &wire::ShardStats::forwarded_out},
};
constexpr TopCounter kTopGauges[] = {
    {"LIVE HOLDS", "live_holds", &wire::ShardStats::live_holds},
    {"BOOKINGS", "bookings", &wire::ShardStats::bookings},
    {"CONNS", "connections", &wire::ShardStats::connections},
    {"IN-FLIGHT", "in_flight", &wire::ShardStats::in_flight},
};

double Round2(double v) { return std::round(v * 100.0) / 100.0; }

// One frame: per-shard rates between two STATS replies `seconds` apart,
// the gauges as they are now, and the p99 of each latency distribution the
// server reports (since it started).
void PrintTopFrame(Session& s, const wire::StatsReply& before, const wire::StatsReply& now,
                   double seconds) {
  std::map<uint32_t, wire::ShardStats> prev;
  for (const wire::ShardStats& sh : before.shards()) prev[sh.shard()] = sh;
  const std::vector<wire::ShardStats> shards = SortedShards(now);
  auto rate = [&](const wire::ShardStats& sh, const TopCounter& c) {
    const uint64_t b = prev.count(sh.shard()) ? (prev[sh.shard()].*c.get)() : 0;
    const uint64_t a = (sh.*c.get)();
    return a >= b ? static_cast<double>(a - b) / seconds : 0.0;  // a restart resets counters
  };
  if (s.options().json) {
    google::protobuf::Struct doc;
    auto& f = *doc.mutable_fields();
    f["time_ms"] = JsonNumber(static_cast<double>(NowUnixMs()));
    f["interval_ms"] = JsonNumber(std::round(seconds * 1000.0));
    f["uptime_ms"] = JsonNumber(static_cast<double>(now.uptime_ms()));
    google::protobuf::Value list;
    for (const wire::ShardStats& sh : shards) {
      google::protobuf::Value v;
      auto& sf = *v.mutable_struct_value()->mutable_fields();
      sf["shard"] = JsonNumber(sh.shard());
      for (const TopCounter& c : kTopRates) sf[c.json] = JsonNumber(Round2(rate(sh, c)));
      for (const TopCounter& c : kTopGauges)
        sf[c.json] = JsonNumber(static_cast<double>((sh.*c.get)()));
      for (const LatencyField& l : LatencyFields()) {
        const LatencyValue lv = l.Get(sh);
        sf[l.field->name() + "_p50_ms"] = JsonNumber(lv.p50 * 1e3);
        sf[l.field->name() + "_p99_ms"] = JsonNumber(lv.p99 * 1e3);
      }
      *list.mutable_list_value()->add_values() = std::move(v);
    }
    f["shards"] = std::move(list);
    s.out() << ToJson(doc) << "\n";
    s.out().flush();
    return;
  }
  std::vector<Table::Column> cols = {{"SHARD", true}};
  for (const TopCounter& c : kTopRates) cols.push_back({c.title, true});
  for (const TopCounter& c : kTopGauges) cols.push_back({c.title, true});
  for (const LatencyField& l : LatencyFields()) cols.push_back({l.ShortTitle() + " P99", true});
  Table t(cols);
  std::vector<double> totals(std::size(kTopRates) + std::size(kTopGauges), 0.0);
  std::vector<LatencyValue> worst(LatencyFields().size());
  for (const wire::ShardStats& sh : shards) {
    std::vector<std::string> row = {absl::StrCat(sh.shard())};
    size_t i = 0;
    for (const TopCounter& c : kTopRates) {
      const double r = rate(sh, c);
      totals[i++] += r;
      row.push_back(absl::StrFormat("%.0f", r));
    }
    for (const TopCounter& c : kTopGauges) {
      const uint64_t v = (sh.*c.get)();
      totals[i++] += static_cast<double>(v);
      row.push_back(absl::StrCat(v));
    }
    for (size_t l = 0; l < LatencyFields().size(); ++l) {
      const LatencyValue lv = LatencyFields()[l].Get(sh);
      row.push_back(FormatSeconds(lv.p99, lv.count));
      worst[l].count += lv.count;
      if (lv.count > 0) worst[l].p99 = std::max(worst[l].p99, lv.p99);
    }
    t.AddRow(std::move(row));
  }
  std::vector<std::string> all = {"all"};
  for (double v : totals) all.push_back(absl::StrFormat("%.0f", v));
  for (const LatencyValue& w : worst) all.push_back(FormatSeconds(w.p99, w.count));
  t.AddRow(std::move(all));
  const bool tty = isatty(STDOUT_FILENO) == 1;
  if (tty) s.out() << "\033[H\033[2J";  // home, clear screen
  s.out() << StatsHeader(now) << "; " << FormatClock(NowUnixMs()) << ", rates over "
          << absl::StrFormat("%.1fs", seconds) << (tty ? " (Ctrl-C to quit)" : "") << "\n\n"
          << t.Render() << (tty ? "" : "\n");
  s.out().flush();
}

}  // namespace

int RunTop(const ParsedArgs& args, Session& s) {
  int64_t iterations = 0;
  int64_t interval_ms = 0;
  if (args.Has("iterations") && !ParsePositive(args.Get("iterations"), &iterations)) {
    return UsageError(
        s, "top",
        absl::StrCat("bad --iterations '", args.Get("iterations"), "': write a number above 0"));
  }
  if (!ParsePositive(args.Get("interval-ms"), &interval_ms)) {
    return UsageError(s, "top",
                      absl::StrCat("bad --interval-ms '", args.Get("interval-ms"),
                                   "': write milliseconds above 0"));
  }
  if (int rc = s.Connect()) return rc;
  struct sigaction sa {};
  sa.sa_handler = OnTopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  auto sample = [&s](wire::StatsReply* out) {
    wire::Request req;
    req.mutable_stats();
    wire::Response resp;
    const int rc = s.Call(std::move(req), &resp, "top");
    if (rc == kExitOk) *out = resp.stats();
    return rc;
  };
  wire::StatsReply before;
  if (int rc = sample(&before)) return rc;
  auto t_before = std::chrono::steady_clock::now();
  for (int64_t frame = 0; iterations == 0 || frame < iterations; ++frame) {
    const auto wake = t_before + std::chrono::milliseconds(interval_ms);
    while (!g_top_stop.load() && std::chrono::steady_clock::now() < wake) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(50), wake - std::chrono::steady_clock::now()));
    }
    if (g_top_stop.load()) break;
    wire::StatsReply now;
    if (int rc = sample(&now)) return rc;
    const auto t_now = std::chrono::steady_clock::now();
    PrintTopFrame(s, before, now, std::chrono::duration<double>(t_now - t_before).count());
    before = std::move(now);
    t_before = t_now;
  }
  return kExitOk;
}

}  // namespace seatlock::tools
