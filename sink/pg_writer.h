// PgWriter: seatlock-sink's PostgreSQL side, through libpq. It creates the
// schema when absent and refuses a database whose schema differs
// (docs/sink.md), reads the stored feed positions, and commits a Batch of
// sales and refunds together with the feed positions they reach in one
// transaction, with a NOTIFY seatlock_sales per committed sale or refund
// (PostgreSQL delivers them only if the transaction commits).
//
// Applying is idempotent on booking id (a sale already stored is skipped, a
// refund of a cancelled booking changes nothing and notifies nobody), so a
// change replayed after a crash cannot double a row or a notification; the
// stored position is what makes the sink resume at the right change.
//
// Errors: kUnavailable when the connection is lost or cannot be made (retry
// later: nothing of the failed transaction was kept), kFailedPrecondition
// for a schema mismatch, kAlreadyExists when the unique index on active
// seats refused a seat sold twice (an alarm: stop and investigate).
//
// Owns its PGconn. One thread at a time (seatlock-sink's main thread).
#ifndef SEATLOCK_SINK_PG_WRITER_H_
#define SEATLOCK_SINK_PG_WRITER_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sink/sink_types.h"

struct pg_conn;
struct pg_result;

namespace seatlock::sink {

// The NOTIFY channel of committed sales and refunds.
inline constexpr char kNotifyChannel[] = "seatlock_sales";

class PgWriter {
 public:
  explicit PgWriter(std::string conninfo);
  ~PgWriter();
  PgWriter(const PgWriter&) = delete;
  PgWriter& operator=(const PgWriter&) = delete;

  // Connects and takes the sink's advisory lock (one sink per database).
  absl::Status Connect();
  bool connected() const;
  void Disconnect();
  // Creates the tables and the unique index when absent, then checks that
  // what is there is what this version writes.
  absl::Status EnsureSchema();

  // Stored positions of `server_id`, keyed by (shard, event).
  absl::StatusOr<std::map<std::pair<uint32_t, std::string>, uint64_t>> LoadPositions(
      const std::string& server_id);
  // Deletes the positions of every other server id (an earlier seatlockd
  // process: its sequence numbers mean nothing now).
  absl::Status ForgetOtherServers(const std::string& server_id);
  // Records an event's layout summary (upsert).
  absl::Status UpsertEvent(const std::string& event_id, uint32_t sections, uint64_t total_seats);
  // One transaction: every op in order, then the positions.
  absl::StatusOr<ApplyResult> Apply(const std::string& server_id, const Batch& batch);

 private:
  struct ResultDeleter {
    void operator()(pg_result* r) const;
  };
  using Result = std::unique_ptr<pg_result, ResultDeleter>;
  // Runs `sql` with text parameters; an error status unless the result is
  // COMMAND_OK or TUPLES_OK.
  absl::StatusOr<Result> Exec(const std::string& sql, const std::vector<std::string>& params = {});
  absl::Status ErrorOf(pg_result* r, const std::string& what);
  absl::Status ApplySale(const Sale& s, ApplyResult* out);
  absl::Status ApplyRefund(uint64_t booking_id, int64_t cancelled_ms, ApplyResult* out);
  absl::Status Notify(const char* kind, uint64_t booking_id, const std::string& event_id);
  absl::Status CheckSchema();

  std::string conninfo_;
  pg_conn* conn_ = nullptr;
};

}  // namespace seatlock::sink

#endif  // SEATLOCK_SINK_PG_WRITER_H_
