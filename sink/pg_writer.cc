#include "sink/pg_writer.h"

#include <libpq-fe.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace seatlock::sink {
namespace {

// Bump with any change to the tables below; a database with another version
// is refused (docs/sink.md, "Schema").
constexpr int kSchemaVersion = 1;
// pg_advisory_lock key: one sink writes a database at a time.
constexpr char kLockKey[] = "7400515";

constexpr char kCreateSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS seatlock_sink_schema (
  version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  event_id TEXT PRIMARY KEY,
  sections INTEGER NOT NULL,
  total_seats BIGINT NOT NULL,
  first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS bookings (
  booking_id BIGINT PRIMARY KEY,
  event_id TEXT NOT NULL,
  shard INTEGER NOT NULL,
  holder TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  payment_ref TEXT NOT NULL,
  hold_id BIGINT NOT NULL,
  fencing_token BIGINT NOT NULL,
  confirmed_at TIMESTAMPTZ NOT NULL,
  cancelled_at TIMESTAMPTZ,
  status TEXT NOT NULL CHECK (status IN ('active', 'cancelled'))
);
CREATE TABLE IF NOT EXISTS booking_seats (
  booking_id BIGINT NOT NULL REFERENCES bookings (booking_id),
  event_id TEXT NOT NULL,
  section TEXT NOT NULL,
  row_label TEXT NOT NULL,
  seat_label TEXT NOT NULL,
  seat_index INTEGER,
  active BOOLEAN NOT NULL,
  PRIMARY KEY (booking_id, section, row_label, seat_label)
);
CREATE UNIQUE INDEX IF NOT EXISTS booking_seats_sold_once
  ON booking_seats (event_id, section, row_label, seat_label) WHERE active;
CREATE TABLE IF NOT EXISTS feed_position (
  server_id TEXT NOT NULL,
  shard INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  last_seq BIGINT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (server_id, shard, event_id)
);
)sql";

// The columns each table must have, in order (CheckSchema).
const std::vector<std::pair<std::string, std::vector<std::string>>>& ExpectedColumns() {
  static const auto* const cols = new std::vector<std::pair<std::string, std::vector<std::string>>>{
      {"booking_seats",
       {"booking_id", "event_id", "section", "row_label", "seat_label", "seat_index", "active"}},
      {"bookings",
       {"booking_id", "event_id", "shard", "holder", "idempotency_key", "payment_ref", "hold_id",
        "fencing_token", "confirmed_at", "cancelled_at", "status"}},
      {"events", {"event_id", "sections", "total_seats", "first_seen", "updated_at"}},
      {"feed_position", {"server_id", "shard", "event_id", "last_seq", "updated_at"}},
      {"seatlock_sink_schema", {"version"}},
  };
  return *cols;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Ms(int64_t ms) { return absl::StrCat(ms); }

}  // namespace

void PgWriter::ResultDeleter::operator()(pg_result* r) const { PQclear(r); }

PgWriter::PgWriter(std::string conninfo) : conninfo_(std::move(conninfo)) {}

PgWriter::~PgWriter() { Disconnect(); }

bool PgWriter::connected() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

void PgWriter::Disconnect() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

absl::Status PgWriter::Connect() {
  Disconnect();
  conn_ = PQconnectdb(conninfo_.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    absl::Status st = absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL: ", PQerrorMessage(conn_)));
    Disconnect();
    return st;
  }
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);  // "already exists, skipping"
  auto r = Exec(absl::StrCat("SELECT pg_try_advisory_lock(", kLockKey, ")"));
  if (!r.ok()) return r.status();
  if (std::string(PQgetvalue(r->get(), 0, 0)) != "t") {
    Disconnect();
    return absl::UnavailableError("another seatlock-sink holds this database's lock");
  }
  return absl::OkStatus();
}

absl::Status PgWriter::ErrorOf(pg_result* r, const std::string& what) {
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string msg =
      absl::StrCat(what, ": ", r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) return absl::UnavailableError(msg);
  if (state != nullptr && std::string(state) == "23505") return absl::AlreadyExistsError(msg);
  // Class 08 (connection exception), 57P (operator intervention: shutdown).
  if (state != nullptr &&
      (std::string(state).rfind("08", 0) == 0 || std::string(state).rfind("57P", 0) == 0)) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

absl::StatusOr<PgWriter::Result> PgWriter::Exec(const std::string& sql,
                                                const std::vector<std::string>& params) {
  if (conn_ == nullptr) return absl::UnavailableError("not connected to PostgreSQL");
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) values.push_back(p.c_str());
  Result r(PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                        nullptr, nullptr, 0));
  const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    return ErrorOf(r.get(), sql.substr(0, sql.find_first_of("(\n")));
  }
  return r;
}

absl::Status PgWriter::EnsureSchema() {
  // Several statements: the simple query protocol (PQexec), one transaction.
  Result r(PQexec(conn_, absl::StrCat("BEGIN; SELECT pg_advisory_xact_lock(", kLockKey, " + 1);",
                                      kCreateSchema, "COMMIT;")
                             .c_str()));
  if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    absl::Status st = ErrorOf(r.get(), "creating the schema");
    Result rollback(PQexec(conn_, "ROLLBACK"));
    if (absl::IsUnavailable(st)) return st;
    // Tables that exist with other columns: say which, if the check can.
    if (absl::Status check = CheckSchema(); !check.ok()) return check;
    return absl::FailedPreconditionError(absl::StrCat("schema mismatch: ", st.message()));
  }
  return CheckSchema();
}

absl::Status PgWriter::CheckSchema() {
  auto cols = Exec(
      "SELECT table_name, column_name FROM information_schema.columns "
      "WHERE table_schema = current_schema() AND table_name IN "
      "('events', 'bookings', 'booking_seats', 'feed_position', 'seatlock_sink_schema') "
      "ORDER BY table_name, ordinal_position");
  if (!cols.ok()) return cols.status();
  std::map<std::string, std::vector<std::string>> have;
  for (int i = 0; i < PQntuples(cols->get()); ++i) {
    have[PQgetvalue(cols->get(), i, 0)].push_back(PQgetvalue(cols->get(), i, 1));
  }
  // Tables with other columns first (the likely cause), then missing ones.
  for (const auto& [table, want] : ExpectedColumns()) {
    if (!have[table].empty() && have[table] != want) {
      return absl::FailedPreconditionError(absl::StrCat(
          "schema mismatch: table ", table, " has columns (", absl::StrJoin(have[table], ", "),
          "), seatlock-sink expects (", absl::StrJoin(want, ", "),
          "); see docs/sink.md, or point --pg at another database"));
    }
  }
  for (const auto& [table, want] : ExpectedColumns()) {
    if (have[table].empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("schema mismatch: table ", table, " is missing"));
    }
  }
  auto idx = Exec(
      "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
      "AND indexname = 'booking_seats_sold_once'");
  if (!idx.ok()) return idx.status();
  if (PQntuples(idx->get()) != 1) {
    return absl::FailedPreconditionError(
        "schema mismatch: the unique index booking_seats_sold_once is missing");
  }
  auto ver = Exec("SELECT version FROM seatlock_sink_schema");
  if (!ver.ok()) return ver.status();
  if (PQntuples(ver->get()) == 0) {
    auto ins = Exec("INSERT INTO seatlock_sink_schema (version) VALUES ($1)",
                    {absl::StrCat(kSchemaVersion)});
    return ins.status();
  }
  const std::string v = PQgetvalue(ver->get(), 0, 0);
  if (PQntuples(ver->get()) != 1 || v != absl::StrCat(kSchemaVersion)) {
    return absl::FailedPreconditionError(
        absl::StrCat("schema mismatch: the database has schema "
                     "version ",
                     v, ", this seatlock-sink writes version ", kSchemaVersion));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::pair<uint32_t, std::string>, uint64_t>> PgWriter::LoadPositions(
    const std::string& server_id) {
  auto r =
      Exec("SELECT shard, event_id, last_seq FROM feed_position WHERE server_id = $1", {server_id});
  if (!r.ok()) return r.status();
  std::map<std::pair<uint32_t, std::string>, uint64_t> out;
  for (int i = 0; i < PQntuples(r->get()); ++i) {
    out[{static_cast<uint32_t>(std::stoul(PQgetvalue(r->get(), i, 0))),
         PQgetvalue(r->get(), i, 1)}] = std::stoull(PQgetvalue(r->get(), i, 2));
  }
  return out;
}

absl::Status PgWriter::ForgetOtherServers(const std::string& server_id) {
  return Exec("DELETE FROM feed_position WHERE server_id <> $1", {server_id}).status();
}

absl::Status PgWriter::UpsertEvent(const std::string& event_id, uint32_t sections,
                                   uint64_t total_seats) {
  return Exec(
             "INSERT INTO events (event_id, sections, total_seats) VALUES ($1, $2, $3) "
             "ON CONFLICT (event_id) DO UPDATE SET sections = excluded.sections, "
             "total_seats = excluded.total_seats, updated_at = now() "
             "WHERE events.sections <> excluded.sections "
             "OR events.total_seats <> excluded.total_seats",
             {event_id, absl::StrCat(sections), absl::StrCat(total_seats)})
      .status();
}

absl::Status PgWriter::Notify(const char* kind, uint64_t booking_id, const std::string& event_id) {
  const std::string payload = absl::StrCat("{\"kind\":\"", kind, "\",\"booking_id\":\"", booking_id,
                                           "\",\"event_id\":", JsonString(event_id), "}");
  return Exec("SELECT pg_notify($1, $2)", {kNotifyChannel, payload}).status();
}

absl::Status PgWriter::ApplySale(const Sale& s, ApplyResult* out) {
  auto ins = Exec(
      "INSERT INTO bookings (booking_id, event_id, shard, holder, idempotency_key, payment_ref, "
      "hold_id, fencing_token, confirmed_at, cancelled_at, status) VALUES ($1, $2, $3, $4, $5, "
      "$6, $7, $8, to_timestamp($9::bigint / 1000.0), "
      "CASE WHEN $10 = 'cancelled' THEN COALESCE(to_timestamp(NULLIF($11::bigint, 0) / 1000.0), "
      "now()) END, $10) ON CONFLICT (booking_id) DO NOTHING",
      {absl::StrCat(s.booking_id), s.event_id, absl::StrCat(s.shard), s.holder, s.idempotency_key,
       s.payment_ref, absl::StrCat(s.hold_id), absl::StrCat(s.fencing_token), Ms(s.confirmed_ms),
       s.cancelled ? "cancelled" : "active", Ms(s.cancelled_ms)});
  if (!ins.ok()) return ins.status();
  if (std::string(PQcmdTuples(ins->get())) != "1") {
    // Already stored: a replay. A reconcile may still bring its refund.
    if (s.cancelled) return ApplyRefund(s.booking_id, s.cancelled_ms, out);
    ++out->duplicates;
    return absl::OkStatus();
  }
  for (const SeatRow& seat : s.seats) {
    auto r = Exec(
        "INSERT INTO booking_seats (booking_id, event_id, section, row_label, seat_label, "
        "seat_index, active) VALUES ($1, $2, $3, $4, $5, NULLIF($6::integer, -1), $7)",
        {absl::StrCat(s.booking_id), s.event_id, seat.section, seat.row, seat.seat,
         absl::StrCat(seat.index), s.cancelled ? "false" : "true"});
    if (!r.ok()) return r.status();
  }
  ++out->sales_inserted;
  if (absl::Status st = Notify("sold", s.booking_id, s.event_id); !st.ok()) return st;
  if (s.cancelled) {
    ++out->refunds_applied;
    return Notify("cancelled", s.booking_id, s.event_id);
  }
  return absl::OkStatus();
}

absl::Status PgWriter::ApplyRefund(uint64_t booking_id, int64_t cancelled_ms, ApplyResult* out) {
  const std::string id = absl::StrCat(booking_id);
  auto up = Exec(
      "UPDATE bookings SET status = 'cancelled', cancelled_at = "
      "COALESCE(to_timestamp(NULLIF($2::bigint, 0) / 1000.0), now()) "
      "WHERE booking_id = $1 AND status = 'active' RETURNING event_id",
      {id, Ms(cancelled_ms)});
  if (!up.ok()) return up.status();
  if (PQntuples(up->get()) == 0) {
    auto known = Exec("SELECT 1 FROM bookings WHERE booking_id = $1", {id});
    if (!known.ok()) return known.status();
    if (PQntuples(known->get()) == 0) {
      ++out->unknown_refunds;
    } else {
      ++out->duplicates;
    }
    return absl::OkStatus();
  }
  const std::string event_id = PQgetvalue(up->get(), 0, 0);
  auto seats = Exec("UPDATE booking_seats SET active = false WHERE booking_id = $1", {id});
  if (!seats.ok()) return seats.status();
  ++out->refunds_applied;
  return Notify("cancelled", booking_id, event_id);
}

absl::StatusOr<ApplyResult> PgWriter::Apply(const std::string& server_id, const Batch& batch) {
  ApplyResult out;
  if (auto b = Exec("BEGIN"); !b.ok()) return b.status();
  absl::Status st;
  for (const Batch::Op& op : batch.ops) {
    st = op.kind == Batch::Op::kSale
             ? ApplySale(op.sale, &out)
             : ApplyRefund(op.refund.booking_id, op.refund.cancelled_ms, &out);
    if (!st.ok()) break;
  }
  for (size_t i = 0; st.ok() && i < batch.positions.size(); ++i) {
    const FeedPosition& p = batch.positions[i];
    st = Exec(
             "INSERT INTO feed_position (server_id, shard, event_id, last_seq) "
             "VALUES ($1, $2, $3, $4) ON CONFLICT (server_id, shard, event_id) "
             "DO UPDATE SET last_seq = excluded.last_seq, updated_at = now()",
             {server_id, absl::StrCat(p.shard), p.event_id, absl::StrCat(p.seq)})
             .status();
  }
  if (st.ok()) {
    auto c = Exec("COMMIT");
    if (c.ok()) return out;
    st = c.status();
  }
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK)
    Result rollback(PQexec(conn_, "ROLLBACK"));
  return st;
}

}  // namespace seatlock::sink
