// The flash-sale scenario end to end (bench/flashsale.cc) at 2% of the
// seed's size, against a real seatlockd with a waiting room: 10,000 buyers
// in one second for 1,000 seats. flashsale checks its own invariants and
// exits 0 only when they hold; this test also reads its JSON report.
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/integration/daemon.h"

namespace seatlock {
namespace {

using testing::Daemon;
using testing::DaemonOptions;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
  std::string json;
};

RunResult RunFlashSale(const Daemon& daemon, const std::string& extra) {
  RunResult res;
  const std::string json_path = daemon.data_dir() + "/../flashsale.json";
  // --timeout_s bounds the buying phase; --poll_max_ms 1000 lets the
  // waiting buyers hear "sold out" within a second.
  const std::string cmd = std::string(FLASHSALE_PATH) + " --port " + std::to_string(daemon.port()) +
                          " --scale 0.02 --poll_max_ms 1000 --timeout_s 20 --json " + json_path +
                          " " + extra + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return res;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) res.output.append(buf, n);
  const int status = pclose(p);
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream f(json_path);
  std::stringstream ss;
  ss << f.rdbuf();
  res.json = ss.str();
  return res;
}

// The number after "key": in flashsale's JSON report (flat keys only).
double Field(const std::string& json, const std::string& key) {
  const std::string k = "\"" + key + "\": ";
  const size_t at = json.find(k);
  if (at == std::string::npos) return -1;
  return std::strtod(json.c_str() + at + k.size(), nullptr);
}

TEST(FlashSaleTest, WaitingRoomSellsOutWithoutOversellingOrDoubleCharging) {
  Daemon daemon(DaemonOptions{.shards = 2});
  ASSERT_TRUE(daemon.Start()) << daemon.Log();
  const RunResult r = RunFlashSale(daemon, "");
  ASSERT_EQ(r.exit_code, 0) << r.output << "\n--- seatlockd ---\n" << daemon.Log();
  ASSERT_FALSE(r.json.empty()) << r.output;
  EXPECT_NE(r.json.find("\"ok\": true"), std::string::npos) << r.json;
  EXPECT_EQ(Field(r.json, "oversold"), 0) << r.json;
  EXPECT_EQ(Field(r.json, "double_charges"), 0) << r.json;
  EXPECT_EQ(Field(r.json, "unacknowledged_sold_seats"), 0) << r.json;
  EXPECT_EQ(Field(r.json, "lost_sales_seats"), 0) << r.json;
  const double sales = Field(r.json, "sales_seats");
  EXPECT_GT(sales, 0) << r.json;
  EXPECT_EQ(sales, Field(r.json, "sold_seats_read_back")) << r.json;
  // The room sells every seat, and says so.
  EXPECT_EQ(sales, Field(r.json, "seats")) << r.json;
  EXPECT_GE(Field(r.json, "sold_out_by_room_ms"), 0) << r.json;
  // Dropped confirm answers were retried and replayed, not sold twice.
  EXPECT_GE(Field(r.json, "replayed_confirm_answers"), Field(r.json, "dropped_confirm_responses"))
      << r.json;
  // FIFO admission: earlier arrivals succeed more.
  EXPECT_GT(Field(r.json, "spearman_earliness_success"),
            0.5 * Field(r.json, "spearman_max_possible"))
      << r.json;
  EXPECT_EQ(daemon.Log().find("ERROR"), std::string::npos) << daemon.Log();
}

}  // namespace
}  // namespace seatlock
