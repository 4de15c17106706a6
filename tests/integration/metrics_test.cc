// /metrics: seatlockd serves the Prometheus text format on --metrics_port,
// from shard 0's event loop, with per-shard counters, gauges and latency
// histograms. Checked against the format's grammar and against the
// operations the test made.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "client/client.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon.h"

namespace seatlock {
namespace {

using testing::Daemon;
using testing::DaemonOptions;

std::string HttpGet(uint16_t port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST(MetricsTest, ServesPrometheusTextThatMatchesTheOperations) {
  Daemon d(DaemonOptions{.shards = 2, .extra_args = {"--metrics_port=0"}});
  ASSERT_TRUE(d.Start()) << d.Log();
  ASSERT_NE(d.metrics_port(), 0);
  ClientOptions opts;
  opts.port = d.port();
  auto c = Client::Connect(opts);
  ASSERT_TRUE(c.ok());
  wire::DefineEventRequest def;
  def.set_event_id("m");
  for (const char* s : {"A", "B", "C", "D"}) {
    auto* sec = def.add_sections();
    sec->set_label(s);
    auto* row = sec->add_rows();
    row->set_label("1");
    row->set_seat_count(10);
  }
  ASSERT_EQ((*c)->DefineEvent(def)->code(), wire::OK);
  for (const char* s : {"A", "B", "C"}) {
    auto h = (*c)->Hold("m", {SeatAt(s, "1", "1")}, "x", 60000);
    ASSERT_EQ(h->code(), wire::OK);
    ASSERT_EQ((*c)->Confirm(h->hold().hold_id(), "x", std::string("k") + s, "p")->code(), wire::OK);
  }
  EXPECT_EQ((*c)->Hold("m", {SeatAt("A", "1", "1")}, "y", 60000)->code(), wire::SEAT_UNAVAILABLE);

  const std::string resp = HttpGet(d.metrics_port(), "/metrics");
  ASSERT_EQ(resp.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << resp.substr(0, 200);
  EXPECT_NE(resp.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  const std::string body = resp.substr(resp.find("\r\n\r\n") + 4);

  // The grammar: HELP and TYPE lines, then samples of declared families.
  const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)");
  const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$)");
  const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$)");
  std::map<std::string, std::string> types;
  std::map<std::string, double> totals;  // family name -> sum over shards
  std::istringstream lines(body);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_match(line, m, help)) continue;
    if (std::regex_match(line, m, type)) {
      types[m[1]] = m[2];
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, sample)) << "not Prometheus text: " << line;
    std::string family = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (family.size() > s.size() && family.compare(family.size() - s.size(), s.size(), s) == 0 &&
          types.count(family.substr(0, family.size() - s.size()))) {
        family = family.substr(0, family.size() - s.size());
      }
    }
    ASSERT_TRUE(types.count(family)) << "sample before its # TYPE: " << line;
    if (m[1] == family) totals[family] += std::stod(m[4]);
    ++samples;
  }
  EXPECT_GT(samples, 40);
  EXPECT_EQ(totals["seatlock_holds_granted_total"], 3);
  EXPECT_EQ(totals["seatlock_holds_refused_total"], 1);
  EXPECT_EQ(totals["seatlock_confirms_total"], 3);
  EXPECT_EQ(totals["seatlock_bookings"], 3);
  EXPECT_EQ(types["seatlock_wal_fsync_seconds"], "histogram");
  EXPECT_NE(body.find("seatlock_confirm_latency_seconds_count{shard="), std::string::npos);

  const std::string missing = HttpGet(d.metrics_port(), "/nope");
  EXPECT_EQ(missing.rfind("HTTP/1.1 404", 0), 0u);
  c->reset();
  EXPECT_EQ(d.Stop(), 0);
}

}  // namespace
}  // namespace seatlock
