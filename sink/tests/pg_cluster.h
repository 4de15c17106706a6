// PgCluster: a throwaway PostgreSQL 15 cluster for seatlock-sink's tests:
// initdb and pg_ctl (/usr/lib/postgresql/15/bin) on a temp dir, listening on
// a loopback port. As root it runs them as the `postgres` user (PostgreSQL
// refuses root). Owns the cluster; the destructor stops it and removes the
// dir. Use from the test's main thread.
//
// Also: Query, a one-shot libpq query for the tests' checks.
#ifndef SEATLOCK_SINK_TESTS_PG_CLUSTER_H_
#define SEATLOCK_SINK_TESTS_PG_CLUSTER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace seatlock::sink::testing {

class PgCluster {
 public:
  // Whether the PostgreSQL 15 binaries are installed (else tests skip).
  static bool Available();
  PgCluster();
  ~PgCluster();
  bool Init();   // initdb
  bool Start();  // pg_ctl start, waits until it accepts connections
  bool Stop();   // pg_ctl stop -m fast
  void Kill9();  // SIGKILL the postmaster and its children
  std::string conninfo(const std::string& db = "postgres") const;
  const std::string& dir() const { return dir_; }
  std::string Log() const;

 private:
  bool Run(const std::string& command) const;  // as postgres when root
  int PostmasterPid() const;
  std::string dir_;
  uint16_t port_ = 0;
};

// Rows of `sql` on `conninfo`, each a vector of text values (NULL: "");
// `error` gets the error message (and SQLSTATE in `sqlstate`) on failure.
std::vector<std::vector<std::string>> Query(const std::string& conninfo, const std::string& sql,
                                            std::string* error = nullptr,
                                            std::string* sqlstate = nullptr);

}  // namespace seatlock::sink::testing

#endif  // SEATLOCK_SINK_TESTS_PG_CLUSTER_H_
