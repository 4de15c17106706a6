#include "server/commit_pipeline.h"

#include <algorithm>
#include <string>
#include <utility>

#include "common/mono_clock.h"
#include "engine/string_util.h"
#include "persistence/wal.pb.h"
#include "server/wal_codec.h"

namespace seatlock {

using wire::Request;
using wire::Response;

void CommitPipeline::Open(std::unique_ptr<ShardLog> log, uint64_t fencing_reserved) {
  log_ = std::move(log);
  fencing_reserved_ = fencing_reserved;
  engine_->set_fencing_ceiling(fencing_reserved);  // recovery wrote it with AppendSync
}

uint64_t CommitPipeline::Record(const Request& req, const Response& resp, bool new_event) {
  if (log_ == nullptr) return 0;
  uint64_t lsn = 0;
  const auto op = req.op_case();
  if (op == Request::kConfirm &&
      (resp.code() == wire::OK || resp.code() == wire::HOLD_EXPIRED_SEATS_TAKEN)) {
    const uint64_t key = StringHash()(req.confirm().idempotency_key());
    if (resp.confirm().replayed()) {
      // The first attempt may still be on its way to disk: answer when it is.
      auto it = undurable_keys_.find(key);
      if (it != undurable_keys_.end() && it->second > log_->durable_lsn()) lsn = it->second;
    } else {
      lsn = LogConfirm(req, resp);
      uint64_t& newest = undurable_keys_[key];
      newest = std::max(newest, lsn);
    }
  } else if (op == Request::kCancelBooking && resp.code() == wire::OK) {
    wal::Cancel c;
    c.set_booking_id(req.cancel_booking().booking_id());
    c.set_cancelled_ms(clock_->NowMs());
    lsn = log_->Append(wal::RecordType::kCancel, c);
  } else if (op == Request::kDeleteEvent && resp.code() == wire::OK) {
    wal::DeleteEvent d;
    d.set_event_id(req.delete_event().event_id());
    d.set_deleted_ms(clock_->NowMs());
    d.set_force(req.delete_event().force());
    lsn = log_->Append(wal::RecordType::kDeleteEvent, d);
  } else if (new_event && resp.code() == wire::OK) {
    wal::DefineEvent d;
    d.set_define_event_request(req.define_event().SerializeAsString());
    lsn = log_->Append(wal::RecordType::kDefineEvent, d);
  }
  TopUpFencing();
  return lsn;
}

void CommitPipeline::TopUpFencing() {
  if (log_ == nullptr) return;
  if (engine_->fencing_high_water() + kFencingBlock / 2 >= fencing_reserved_) ReserveFencing();
}

bool CommitPipeline::ShowsSeatStates(const Request& req, const Response& resp) {
  switch (req.op_case()) {
    case Request::kGetSeats:
    case Request::kGetAvailability:
    case Request::kListEvents:
    case Request::kStats:  // bookings and cancellation counts
    case Request::kListBookings:
      return true;
    case Request::kHold:
    case Request::kHoldBestAvailable:
      // Refusals that name or count seats another op may have sold.
      return resp.code() == wire::SEAT_UNAVAILABLE || resp.code() == wire::NOT_ENOUGH_SEATS ||
             resp.code() == wire::NO_ADJACENT_SEATS;
    case Request::kCancelBooking:
      // A retried cancel: the first one may still be on its way to disk.
      return resp.code() == wire::BOOKING_CANCELLED;
    default:
      return false;
  }
}

uint64_t CommitPipeline::ReadBarrier() const {
  if (log_ == nullptr) return 0;
  const uint64_t last = log_->last_lsn();
  return last > log_->durable_lsn() ? last : 0;
}

void CommitPipeline::ReplyWhenDurable(uint64_t lsn, const Response& resp, Callback done,
                                      LatencyHistogram* latency, uint64_t started_ns) {
  if (lsn == 0 || log_ == nullptr) {
    if (latency != nullptr) latency->Record(MonoNs() - started_ns);
    Response copy = resp;
    done(std::move(copy));
    return;
  }
  uint32_t slot;
  if (free_reply_slots_.empty()) {
    slot = static_cast<uint32_t>(reply_slots_.size());
    reply_slots_.push_back(std::make_unique<PendingReply>());
  } else {
    slot = free_reply_slots_.back();
    free_reply_slots_.pop_back();
    if (reply_slots_[slot] == nullptr) {
      reply_slots_[slot] = std::make_unique<PendingReply>();
    } else {
      spare_reply_slots_--;
    }
  }
  PendingReply& p = *reply_slots_[slot];
  p.resp = google::protobuf::Arena::CreateMessage<Response>(&p.arena);
  p.resp->CopyFrom(resp);
  p.done = std::move(done);
  p.latency = latency;
  p.started_ns = started_ns;
  // `this` and a slot number: small enough for std::function's inline buffer.
  log_->WhenDurable(lsn, [this, slot](const absl::Status& st) { FinishReply(slot, st); });
}

void CommitPipeline::FinishReply(uint32_t slot, const absl::Status& status) {
  // The slot stays taken while done runs, so a reply it sends (and any
  // ReplyWhenDurable that causes) cannot reuse it; PendingReply objects do
  // not move when reply_slots_ grows.
  PendingReply& p = *reply_slots_[slot];
  Callback done = std::move(p.done);
  if (p.latency != nullptr) p.latency->Record(MonoNs() - p.started_ns);
  if (status.ok()) {
    done(std::move(*p.resp));  // the receiver reads it (or copies it out)
  } else {
    Response r;
    r.set_request_id(p.resp->request_id());
    r.set_code(wire::UNAVAILABLE);
    r.set_detail(std::string(status.message()));
    done(std::move(r));
  }
  free_reply_slots_.push_back(slot);
  p.resp = nullptr;
  if (spare_reply_slots_ < kSpareReplySlots) {
    p.arena.Reset();  // back to its first block
    spare_reply_slots_++;
  } else {
    reply_slots_[slot].reset();
  }
}

void CommitPipeline::Flush() {
  if (log_ == nullptr) return;
  log_->Flush();  // group commit: everything appended this pass, one write + fdatasync
  if (reservation_lsn_ != 0 && reservation_lsn_ <= log_->durable_lsn()) {
    engine_->set_fencing_ceiling(fencing_reserved_);
    reservation_lsn_ = 0;
  }
  if (!undurable_keys_.empty()) {
    const uint64_t durable = log_->durable_lsn();
    absl::erase_if(undurable_keys_, [durable](const auto& kv) { return kv.second <= durable; });
  }
}

uint64_t CommitPipeline::LogConfirm(const Request& req, const Response& resp) {
  const wire::ConfirmRequest& c = req.confirm();
  if (resp.code() == wire::OK) {
    engine_->CopyBooking(resp.confirm().booking_id(), &booking_scratch_);  // it was just made
    FillConfirmRecord(booking_scratch_, &record_scratch_);
    return log_->Append(wal::RecordType::kConfirm, record_scratch_);
  }
  // HOLD_EXPIRED_SEATS_TAKEN: the lapsed hold is still remembered.
  RefusalInfo r;
  r.hold_id = c.hold_id();
  r.holder = c.holder();
  r.payment_ref = c.payment_ref();
  r.idempotency_key = c.idempotency_key();
  r.refused_ms = resp.confirm().confirmed_ms();
  if (auto h = engine_->GetHold(c.hold_id())) {
    r.event_id = h->event_id;
    r.seats = h->seats;
    for (const auto& conflict : resp.confirm().conflicts()) {
      r.taken.push_back({static_cast<uint32_t>(std::max(
                             0, engine_->SectionIndex(h->event_id, conflict.seat().section()))),
                         conflict.seat().index()});
    }
  }
  return log_->Append(wal::RecordType::kConfirmRefused, RefusalRecordOf(r));
}

void CommitPipeline::ReserveFencing() {
  fencing_reserved_ = std::max(fencing_reserved_, engine_->fencing_high_water()) + kFencingBlock;
  wal::Fencing f;
  f.set_high_water(fencing_reserved_);
  reservation_lsn_ = log_->Append(wal::RecordType::kFencing, f);
}

}  // namespace seatlock
