#include "sink/tests/pg_cluster.h"

#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/daemon.h"

namespace seatlock::sink::testing {
namespace {

constexpr char kBin[] = "/usr/lib/postgresql/15/bin";

}  // namespace

bool PgCluster::Available() {
  return access((std::string(kBin) + "/initdb").c_str(), X_OK) == 0 &&
         access((std::string(kBin) + "/pg_ctl").c_str(), X_OK) == 0;
}

PgCluster::PgCluster() {
  char tmpl[] = "/tmp/seatlock-pg-XXXXXX";
  dir_ = mkdtemp(tmpl);
  chmod(dir_.c_str(), 0755);
  if (geteuid() == 0) {
    std::string cmd = "chown postgres:postgres '" + dir_ + "'";
    int unused = system(cmd.c_str());
    (void)unused;
  }
  port_ = seatlock::testing::UnusedLoopbackPort();
}

PgCluster::~PgCluster() {
  if (PostmasterPid() > 0) Kill9();
  std::string cmd = "rm -rf '" + dir_ + "'";
  int unused = system(cmd.c_str());
  (void)unused;
}

bool PgCluster::Run(const std::string& command) const {
  std::string cmd = command;
  if (geteuid() == 0) {
    std::string quoted;
    for (char c : command) {
      if (c == '\'') {
        quoted += "'\\''";
      } else {
        quoted += c;
      }
    }
    cmd = "runuser -u postgres -- sh -c '" + quoted + "'";
  }
  cmd += " >> '" + dir_ + "/commands.log' 2>&1";
  return system(cmd.c_str()) == 0;
}

bool PgCluster::Init() {
  return Run(std::string(kBin) + "/initdb -D " + dir_ +
             "/data -U postgres -A trust --no-sync -E UTF8 --locale=C");
}

bool PgCluster::Start() {
  return Run(std::string(kBin) + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
             "/postgres.log -w -t 30 -o \"-p " + std::to_string(port_) + " -k " + dir_ +
             " -c listen_addresses=127.0.0.1\" start");
}

bool PgCluster::Stop() {
  return Run(std::string(kBin) + "/pg_ctl -D " + dir_ + "/data -m fast -w stop");
}

int PgCluster::PostmasterPid() const {
  std::ifstream f(dir_ + "/data/postmaster.pid");
  int pid = 0;
  if (!(f >> pid)) return 0;
  return kill(pid, 0) == 0 ? pid : 0;
}

void PgCluster::Kill9() {
  const int pid = PostmasterPid();
  if (pid <= 0) return;
  // The postmaster's children first (their parent pid is the postmaster).
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == pid) kill(std::stoi(name), SIGKILL);
  }
  kill(pid, SIGKILL);
  for (int i = 0; i < 500 && kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string PgCluster::conninfo(const std::string& db) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + db +
         " connect_timeout=5";
}

std::string PgCluster::Log() const {
  std::ifstream f(dir_ + "/postgres.log");
  std::stringstream ss;
  ss << f.rdbuf();
  std::ifstream c(dir_ + "/commands.log");
  ss << c.rdbuf();
  return ss.str();
}

std::vector<std::vector<std::string>> Query(const std::string& conninfo, const std::string& sql,
                                            std::string* error, std::string* sqlstate) {
  std::vector<std::vector<std::string>> rows;
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    if (error != nullptr) *error = PQerrorMessage(c);
    PQfinish(c);
    return rows;
  }
  PGresult* r = PQexec(c, sql.c_str());
  const ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    if (error != nullptr) *error = PQresultErrorMessage(r);
    if (sqlstate != nullptr) {
      const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      *sqlstate = s != nullptr ? s : "";
    }
  } else {
    for (int i = 0; i < PQntuples(r); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetvalue(r, i, j));
      rows.push_back(std::move(row));
    }
  }
  PQclear(r);
  PQfinish(c);
  return rows;
}

}  // namespace seatlock::sink::testing
