#include "sink/sink.h"

#include <chrono>
#include <cstdio>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace seatlock::sink {
namespace {

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

std::vector<SeatRow> SeatsOf(const google::protobuf::RepeatedPtrField<wire::SeatRef>& refs) {
  std::vector<SeatRow> out;
  for (const wire::SeatRef& r : refs) {
    out.push_back(SeatRow{r.section(), r.row(), r.seat(),
                          r.has_index() ? static_cast<int64_t>(r.index()) : -1});
  }
  return out;
}

Sale SaleOf(const wire::BookingRecord& b, uint32_t shard) {
  Sale s;
  s.booking_id = b.booking_id();
  s.event_id = b.event_id();
  s.shard = shard;
  s.hold_id = b.hold_id();
  s.fencing_token = b.fencing_token();
  s.holder = b.holder();
  s.idempotency_key = b.idempotency_key();
  s.payment_ref = b.payment_ref();
  s.confirmed_ms = b.confirmed_ms();
  s.cancelled = b.cancelled();
  s.seats = SeatsOf(b.seats());
  return s;
}

std::string Label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

Sink::Sink(SinkOptions options) : options_(std::move(options)), pg_(options_.pg_conninfo) {
  PublishMetrics();
}

void Sink::Log(const std::string& line) const {
  std::fprintf(stderr, "%s seatlock-sink: %s\n",
               absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()).c_str(),
               line.c_str());
}

void Sink::SleepMs(int64_t ms) const {
  const int64_t until = NowMs() + ms;
  while (!stopping() && NowMs() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

absl::Status Sink::PgFailed(absl::Status st) {
  pg_failed_ = true;
  ++pg_errors_;
  return st;
}

absl::Status Sink::Run() {
  int64_t backoff = options_.backoff_initial_ms;
  while (!stopping()) {
    if (!pg_.connected()) {
      absl::Status st = pg_.Connect();
      if (st.ok()) st = pg_.EnsureSchema();
      if (absl::IsFailedPrecondition(st)) return st;
      if (!st.ok()) {
        ++pg_errors_;
        PublishMetrics();
        Log(absl::StrCat("PostgreSQL: ", st.message(), "; retrying in ", backoff, " ms"));
        pg_.Disconnect();
        SleepMs(backoff);
        backoff = std::min(backoff * 2, options_.backoff_max_ms);
        continue;
      }
      Log("connected to PostgreSQL; schema ok");
    }
    const uint64_t applied_before = changes_applied_ + reconciles_;
    absl::Status st = RunSession();
    feed_.reset();
    pending_.clear();
    streams_.clear();
    by_stream_id_.clear();
    known_events_.clear();
    if (st.ok()) return st;
    if (absl::IsFailedPrecondition(st) || absl::IsAlreadyExists(st)) return st;
    if (pg_failed_) {
      pg_.Disconnect();
      pg_failed_ = false;
      Log(absl::StrCat("PostgreSQL: ", st.message(), "; reconnecting in ", backoff, " ms"));
    } else {
      ++feed_errors_;
      Log(absl::StrCat("seatlockd: ", st.message(), "; reconnecting in ", backoff, " ms"));
    }
    PublishMetrics();
    if (changes_applied_ + reconciles_ != applied_before) backoff = options_.backoff_initial_ms;
    SleepMs(backoff);
    backoff = std::min(backoff * 2, options_.backoff_max_ms);
  }
  return absl::OkStatus();
}

absl::Status Sink::RunSession() {
  auto feed = FeedReader::Connect(options_.seatlockd);
  if (!feed.ok()) return feed.status();
  feed_ = std::move(*feed);
  ++sessions_;
  server_id_ = absl::StrFormat("%016x", feed_->epoch());
  Log(absl::StrCat("connected to seatlockd ", options_.seatlockd.host, ":", options_.seatlockd.port,
                   " (", feed_->shard_count(), " shards, feed epoch ", server_id_, ")"));
  if (absl::Status st = pg_.ForgetOtherServers(server_id_); !st.ok()) return PgFailed(st);
  auto positions = pg_.LoadPositions(server_id_);
  if (!positions.ok()) return PgFailed(positions.status());
  if (absl::Status st = SyncEvents(*positions); !st.ok()) return st;
  int64_t last_poll = NowMs();
  while (!stopping()) {
    if (options_.once && pending_.empty() && CaughtUp()) {
      Log(absl::StrCat("--once: caught up on ", streams_.size(), " streams; ", changes_applied_,
                       " changes applied, ", reconciles_, " reconciles"));
      return absl::OkStatus();
    }
    if (!options_.once && NowMs() - last_poll >= options_.event_poll_ms) {
      last_poll = NowMs();
      if (absl::Status st = SyncEvents({}); !st.ok()) return st;
    }
    // Gather up to a batch; wait a little only when nothing is pending.
    auto m = feed_->Next(pending_.empty() ? 50 : 0);
    while (m.has_value()) {
      auto it = by_stream_id_.find(m->stream);
      if (it != by_stream_id_.end()) {
        if (!m->message.ok()) return m->message.status();
        const wire::Response& r = *m->message;
        const size_t index = it->second;
        if (r.code() == wire::OK) {
          if (absl::Status st = Take(index, r); !st.ok()) return st;
        } else if (r.code() == wire::RESYNC_REQUIRED) {
          if (absl::Status st = Flush(); !st.ok()) return st;
          if (absl::Status st = Reconcile(index, absl::StrCat("RESYNC_REQUIRED: ", r.detail()));
              !st.ok()) {
            return st;
          }
        } else {
          return absl::UnavailableError(
              absl::StrCat("stream of ", streams_[index].event_id, " shard ", streams_[index].shard,
                           " ended: ", wire::ResultCode_Name(r.code()), " ", r.detail()));
        }
      }
      if (pending_.size() >= options_.batch_size) break;
      m = feed_->Next(0);
    }
    if (!pending_.empty()) {
      if (absl::Status st = Flush(); !st.ok()) return st;
    }
    MaybeLogLag();
  }
  return absl::OkStatus();
}

absl::Status Sink::SyncEvents(
    const std::map<std::pair<uint32_t, std::string>, uint64_t>& positions) {
  auto events = feed_->ListEvents();
  if (!events.ok()) return events.status();
  std::map<std::pair<uint32_t, std::string>, uint64_t> stored = positions;
  if (positions.empty() && !streams_.empty()) {
    // A poll: positions of new events may exist after all (none, normally).
    auto p = pg_.LoadPositions(server_id_);
    if (!p.ok()) return PgFailed(p.status());
    stored = std::move(*p);
  }
  for (const wire::EventSummary& e : *events) {
    if (known_events_.contains(e.event_id())) continue;
    known_events_[e.event_id()] = true;
    auto sections = feed_->SectionCount(e.event_id());
    if (!sections.ok()) return sections.status();
    if (absl::Status st = pg_.UpsertEvent(e.event_id(), *sections, e.total()); !st.ok()) {
      return PgFailed(st);
    }
    for (uint32_t shard = 0; shard < feed_->shard_count(); ++shard) {
      streams_.push_back(Stream{.event_id = e.event_id(), .shard = shard});
      auto it = stored.find({shard, e.event_id()});
      if (absl::Status st =
              OpenStream(streams_.size() - 1, it == stored.end() ? nullptr : &it->second);
          !st.ok()) {
        return st;
      }
    }
  }
  PublishMetrics();
  return absl::OkStatus();
}

absl::Status Sink::OpenStream(size_t index, const uint64_t* position) {
  Stream& s = streams_[index];
  if (position == nullptr) return Reconcile(index, "no stored position for this feed epoch");
  auto sub = feed_->Subscribe(s.event_id, s.shard, *position, false);
  if (!sub.ok()) return sub.status();
  const wire::Response& r = sub->second;
  if (r.code() == wire::RESYNC_REQUIRED || r.code() == wire::INVALID_ARGUMENT) {
    return Reconcile(index, absl::StrCat("resuming after ", *position, ": ",
                                         wire::ResultCode_Name(r.code()), " ", r.detail()));
  }
  if (r.code() == wire::EVENT_NOT_FOUND) return absl::OkStatus();  // deleted meanwhile
  if (r.code() != wire::OK) {
    return absl::UnavailableError(absl::StrCat("SUBSCRIBE ", s.event_id, " shard ", s.shard, ": ",
                                               wire::ResultCode_Name(r.code()), " ", r.detail()));
  }
  if (r.subscribe().feed_epoch() != feed_->epoch()) {
    return absl::UnavailableError("seatlockd restarted (another feed epoch)");
  }
  s.id = sub->first;
  by_stream_id_[s.id] = index;
  s.applied = s.received = *position;
  s.latest = s.target = r.subscribe().latest_seq();
  return Take(index, r);
}

absl::Status Sink::Reconcile(size_t index, const std::string& why) {
  Stream& s = streams_[index];
  if (s.id != 0) by_stream_id_.erase(s.id);
  s.id = 0;
  std::erase_if(pending_, [index](const Pending& p) { return p.stream == index; });
  // Subscribe first: the read below then covers every change before the
  // stream's start, and the changes after it arrive on the stream (applying
  // them again is harmless: sales and refunds are idempotent).
  auto sub = feed_->Subscribe(s.event_id, s.shard, 0, true);
  if (!sub.ok()) return sub.status();
  const wire::Response& r = sub->second;
  if (r.code() == wire::EVENT_NOT_FOUND) return absl::OkStatus();
  if (r.code() != wire::OK) {
    return absl::UnavailableError(absl::StrCat("SUBSCRIBE ", s.event_id, " shard ", s.shard, ": ",
                                               wire::ResultCode_Name(r.code()), " ", r.detail()));
  }
  if (r.subscribe().feed_epoch() != feed_->epoch()) {
    return absl::UnavailableError("seatlockd restarted (another feed epoch)");
  }
  const uint64_t start = r.subscribe().latest_seq();
  auto all = feed_->AllBookings(s.event_id, s.shard);
  if (!all.ok()) return all.status();
  Batch batch;
  // Refunds first, so a seat refunded and sold again is free when its new
  // sale is inserted.
  for (int pass = 0; pass < 2; ++pass) {
    for (const wire::BookingRecord& b : *all) {
      if (b.cancelled() != (pass == 0)) continue;
      batch.ops.push_back(Batch::Op{.kind = Batch::Op::kSale, .sale = SaleOf(b, s.shard)});
    }
  }
  batch.positions.push_back(FeedPosition{s.shard, s.event_id, start});
  auto applied = pg_.Apply(server_id_, batch);
  if (!applied.ok()) {
    if (absl::IsAlreadyExists(applied.status())) {
      Log(absl::StrCat("ALARM: the database refused a seat sold twice: ",
                       applied.status().message()));
    }
    return PgFailed(applied.status());
  }
  ++reconciles_;
  sales_ += applied->sales_inserted;
  refunds_ += applied->refunds_applied;
  duplicates_ += applied->duplicates;
  s.id = sub->first;
  by_stream_id_[s.id] = index;
  s.applied = s.received = s.latest = s.target = start;
  s.pending_since_ms = 0;
  Log(absl::StrCat("reconciled ", s.event_id, " shard ", s.shard, " (", why, "): ", all->size(),
                   " bookings read, ", applied->sales_inserted, " new, ", applied->refunds_applied,
                   " refunds; resuming after seq ", start));
  PublishMetrics();
  return absl::OkStatus();
}

absl::Status Sink::Take(size_t index, const wire::Response& message) {
  Stream& s = streams_[index];
  s.latest = std::max(s.latest, message.subscribe().latest_seq());
  for (const wire::ChangeEvent& c : message.subscribe().changes()) {
    s.latest = std::max(s.latest, c.seq());
    if (c.seq() <= s.received) continue;  // already taken
    if (c.seq() != s.received + 1) {
      if (absl::Status st = Flush(); !st.ok()) return st;
      return Reconcile(index,
                       absl::StrCat("gap: expected seq ", s.received + 1, ", got ", c.seq()));
    }
    s.received = c.seq();
    if (s.pending_since_ms == 0) s.pending_since_ms = c.time_ms() > 0 ? c.time_ms() : NowMs();
    pending_.push_back(Pending{index, c});
  }
  return absl::OkStatus();
}

absl::Status Sink::Flush() {
  if (pending_.empty()) return absl::OkStatus();
  // The sales' details, one LIST_BOOKINGS per stream.
  std::map<size_t, std::vector<uint64_t>> sold;
  for (const Pending& p : pending_) {
    if (p.change.kind() == wire::CHANGE_SOLD) sold[p.stream].push_back(p.change.booking_id());
  }
  std::map<uint64_t, wire::BookingRecord> records;
  for (const auto& [index, ids] : sold) {
    auto got = feed_->Bookings(streams_[index].event_id, streams_[index].shard, ids);
    if (!got.ok()) return got.status();
    for (wire::BookingRecord& b : *got) records[b.booking_id()] = std::move(b);
  }
  Batch batch;
  std::set<size_t> touched;
  for (const Pending& p : pending_) {
    const Stream& s = streams_[p.stream];
    touched.insert(p.stream);
    const wire::ChangeEvent& c = p.change;
    if (c.kind() == wire::CHANGE_SOLD) {
      Sale sale;
      auto it = records.find(c.booking_id());
      if (it != records.end()) {
        sale = SaleOf(it->second, s.shard);
        sale.cancelled = false;  // its refund, if any, follows in the feed
      } else {
        // The event was deleted since: what the change itself says.
        sale.booking_id = c.booking_id();
        sale.event_id = s.event_id;
        sale.shard = s.shard;
        sale.hold_id = c.hold_id();
        sale.confirmed_ms = c.time_ms();
        sale.seats = SeatsOf(c.seats());
      }
      sale.fencing_token = c.fencing_token();
      batch.ops.push_back(Batch::Op{.kind = Batch::Op::kSale, .sale = std::move(sale)});
    } else if (c.kind() == wire::CHANGE_CANCELLED) {
      batch.ops.push_back(
          Batch::Op{.kind = Batch::Op::kRefund, .refund = Refund{c.booking_id(), c.time_ms()}});
    }
  }
  for (size_t index : touched) {
    batch.positions.push_back(
        FeedPosition{streams_[index].shard, streams_[index].event_id, streams_[index].received});
  }
  auto applied = pg_.Apply(server_id_, batch);
  if (!applied.ok()) {
    if (absl::IsAlreadyExists(applied.status())) {
      Log(absl::StrCat("ALARM: the database refused a seat sold twice: ",
                       applied.status().message()));
    }
    return PgFailed(applied.status());
  }
  ++batches_;
  changes_applied_ += pending_.size();
  sales_ += applied->sales_inserted;
  refunds_ += applied->refunds_applied;
  duplicates_ += applied->duplicates;
  unknown_refunds_ += applied->unknown_refunds;
  if (applied->unknown_refunds > 0) {
    Log(absl::StrCat(applied->unknown_refunds, " refunds of bookings the database does not have"));
  }
  for (size_t index : touched) {
    streams_[index].applied = streams_[index].received;
    streams_[index].pending_since_ms = 0;
  }
  pending_.clear();
  PublishMetrics();
  return absl::OkStatus();
}

bool Sink::CaughtUp() const {
  for (const Stream& s : streams_) {
    if (s.id != 0 && s.applied < s.target) return false;
  }
  return true;
}

void Sink::MaybeLogLag() {
  const int64_t now = NowMs();
  if (options_.lag_log_ms <= 0 || now - last_lag_log_ms_ < options_.lag_log_ms) return;
  last_lag_log_ms_ = now;
  for (const Stream& s : streams_) {
    if (s.id == 0) continue;
    const double lag_s = s.pending_since_ms == 0 ? 0.0 : (now - s.pending_since_ms) / 1000.0;
    Log(absl::StrFormat("lag %s shard %u: applied seq %u of %u (%u behind, %.3f s)", s.event_id,
                        s.shard, s.applied, s.latest, s.latest - s.applied, lag_s));
  }
  PublishMetrics();
}

void Sink::PublishMetrics() {
  const int64_t now = NowMs();
  std::string out;
  auto counter = [&out](const char* name, const char* help, uint64_t v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ", v,
                    "\n");
  };
  counter("seatlock_sink_changes_applied_total", "Feed changes committed to PostgreSQL.",
          changes_applied_);
  counter("seatlock_sink_batches_total", "Transactions committed.", batches_);
  counter("seatlock_sink_sales_total", "Bookings inserted (each notified).", sales_);
  counter("seatlock_sink_refunds_total", "Bookings turned cancelled (each notified).", refunds_);
  counter("seatlock_sink_duplicates_total", "Changes the database already reflected.", duplicates_);
  counter("seatlock_sink_unknown_refunds_total", "Refunds of bookings the database did not have.",
          unknown_refunds_);
  counter("seatlock_sink_reconciles_total",
          "Full reads of a stream's bookings (no position, RESYNC_REQUIRED, gap).", reconciles_);
  counter("seatlock_sink_pg_errors_total", "PostgreSQL failures (then retried).", pg_errors_);
  counter("seatlock_sink_feed_errors_total", "seatlockd connection failures (then retried).",
          feed_errors_);
  absl::StrAppend(&out,
                  "# HELP seatlock_sink_lag_seq Changes announced by seatlockd and not yet "
                  "committed, per stream.\n# TYPE seatlock_sink_lag_seq gauge\n");
  std::string seconds =
      "# HELP seatlock_sink_lag_seconds Age of the oldest change not yet committed, per "
      "stream.\n# TYPE seatlock_sink_lag_seconds gauge\n";
  std::string applied =
      "# HELP seatlock_sink_applied_seq The committed feed position, per stream.\n"
      "# TYPE seatlock_sink_applied_seq gauge\n";
  for (const Stream& s : streams_) {
    const std::string labels =
        absl::StrCat("{event=\"", Label(s.event_id), "\",shard=\"", s.shard, "\"}");
    absl::StrAppend(&out, "seatlock_sink_lag_seq", labels, " ", s.latest - s.applied, "\n");
    absl::StrAppend(
        &seconds, "seatlock_sink_lag_seconds", labels, " ",
        absl::StrFormat("%.3f",
                        s.pending_since_ms == 0 ? 0.0 : (now - s.pending_since_ms) / 1000.0),
        "\n");
    absl::StrAppend(&applied, "seatlock_sink_applied_seq", labels, " ", s.applied, "\n");
  }
  out += seconds + applied;
  std::lock_guard<std::mutex> l(mu_);
  metrics_text_ = std::move(out);
}

std::string Sink::MetricsText() const {
  std::lock_guard<std::mutex> l(mu_);
  return metrics_text_;
}

}  // namespace seatlock::sink
