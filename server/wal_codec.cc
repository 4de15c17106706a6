#include "server/wal_codec.h"

#include "absl/strings/str_cat.h"
#include "protocol/seatlock.pb.h"
#include "server/engine_ops.h"

namespace seatlock {
namespace {

void AddSeats(const SeatList& seats, google::protobuf::RepeatedPtrField<wal::SeatPos>* out) {
  for (const SeatKey k : seats) {
    wal::SeatPos* p = out->Add();
    p->set_section(k.section);
    p->set_seat(k.seat);
  }
}

SeatList SeatsOf(const google::protobuf::RepeatedPtrField<wal::SeatPos>& in) {
  SeatList out;
  for (const wal::SeatPos& p : in) out.push_back({p.section(), p.seat()});
  return out;
}

}  // namespace

wal::Confirm ConfirmRecordOf(const BookingInfo& b) {
  wal::Confirm rec;
  FillConfirmRecord(b, &rec);
  return rec;
}

void FillConfirmRecord(const BookingInfo& b, wal::Confirm* rec) {
  rec->Clear();  // keeps the seat elements and string capacity for reuse
  rec->set_booking_id(b.booking_id);
  rec->set_hold_id(b.hold_id);
  rec->set_fencing_token(b.fencing_token);
  rec->set_event_id(b.event_id);
  AddSeats(b.seats, rec->mutable_seats());
  rec->set_holder(b.holder);
  rec->set_payment_ref(b.payment_ref);
  rec->set_idempotency_key(b.idempotency_key);
  rec->set_confirmed_ms(b.confirmed_ms);
  rec->set_hold_lapsed(b.hold_lapsed);
}

wal::ConfirmRefused RefusalRecordOf(const RefusalInfo& r) {
  wal::ConfirmRefused rec;
  rec.set_hold_id(r.hold_id);
  rec.set_event_id(r.event_id);
  AddSeats(r.seats, rec.mutable_seats());
  AddSeats(r.taken, rec.mutable_taken());
  rec.set_holder(r.holder);
  rec.set_payment_ref(r.payment_ref);
  rec.set_idempotency_key(r.idempotency_key);
  rec.set_refused_ms(r.refused_ms);
  return rec;
}

void AppendStateHeader(const SeatEngine& engine, const Rooms& rooms, uint64_t fencing_mark,
                       std::string* out) {
  std::string room_state;
  rooms.AppendState(&room_state);
  uint64_t room_records = 0;
  wal::RecordReader reader(room_state);
  wal::Record rec;
  while (reader.Next(&rec) == wal::RecordReader::Result::kRecord) ++room_records;
  for (const std::string& id : engine.EventIds()) {
    wal::DefineEvent d;
    d.set_define_event_request(WireFromLayout(*engine.Layout(id)).SerializeAsString());
    wal::AppendRecord(wal::RecordType::kDefineEvent, d.SerializeAsString(), out);
  }
  for (const RefusalInfo& r : engine.Refusals()) {
    wal::AppendRecord(wal::RecordType::kConfirmRefused, RefusalRecordOf(r).SerializeAsString(),
                      out);
  }
  wal::Fencing f;
  f.set_high_water(fencing_mark);
  f.set_next_booking_seq(engine.next_booking_seq());
  f.set_counted(true);
  f.set_room_records(room_records);
  f.set_sales(engine.booking_count());
  wal::AppendRecord(wal::RecordType::kFencing, f.SerializeAsString(), out);
  out->append(room_state);
}

void SnapshotTally::Note(const wal::Record& rec) {
  if (rec.type == wal::RecordType::kRoom) ++room_records_seen_;
  if (rec.type == wal::RecordType::kConfirm) ++sales_seen_;
  if (rec.type != wal::RecordType::kFencing || fencing_) return;
  fencing_ = true;
  wal::Fencing f;
  if (f.ParseFromArray(rec.payload.data(), static_cast<int>(rec.payload.size())) && f.counted()) {
    counted_ = true;
    room_records_ = f.room_records();
    sales_ = f.sales();
  }
}

absl::Status SnapshotTally::Finish(const std::string& path, uint64_t bytes) const {
  if (!fencing_) {
    return absl::DataLossError(
        absl::StrCat("snapshot ", path, " is truncated: ", bytes, " bytes and no FENCING record"));
  }
  if (counted_ && (room_records_seen_ != room_records_ || sales_seen_ != sales_)) {
    return absl::DataLossError(
        absl::StrCat("snapshot ", path, " is truncated: it ends after ", room_records_seen_, " of ",
                     room_records_, " room records and ", sales_seen_, " of ", sales_, " sales"));
  }
  return absl::OkStatus();
}

void AppendSale(const BookingInfo& b, std::string* out) {
  wal::AppendRecord(wal::RecordType::kConfirm, ConfirmRecordOf(b).SerializeAsString(), out);
  if (b.cancelled) {
    wal::Cancel c;
    c.set_booking_id(b.booking_id);
    wal::AppendRecord(wal::RecordType::kCancel, c.SerializeAsString(), out);
  }
}

absl::Status ApplyRecord(SeatEngine& engine, Rooms& rooms, const wal::Record& rec,
                         uint64_t* fencing_seen) {
  const int size = static_cast<int>(rec.payload.size());
  switch (rec.type) {
    case wal::RecordType::kDefineEvent: {
      wal::DefineEvent m;
      wire::DefineEventRequest d;
      if (!m.ParseFromArray(rec.payload.data(), size) ||
          !d.ParseFromString(m.define_event_request())) {
        return absl::DataLossError("DEFINE_EVENT payload does not parse");
      }
      SimpleResult r = engine.DefineEvent(LayoutFromWire(d));
      if (!r.ok()) return absl::DataLossError(absl::StrCat("DEFINE_EVENT rejected: ", r.detail));
      return absl::OkStatus();
    }
    case wal::RecordType::kConfirm: {
      wal::Confirm m;
      if (!m.ParseFromArray(rec.payload.data(), size)) {
        return absl::DataLossError("CONFIRM payload does not parse");
      }
      if (m.fencing_token() > kMaxFencingMark) {
        return absl::DataLossError(absl::StrCat("CONFIRM fencing token ", m.fencing_token(),
                                                " is above the maximum ", kMaxFencingMark));
      }
      SeatEngine::DurableSale sale;
      sale.booking_id = m.booking_id();
      sale.hold_id = m.hold_id();
      sale.fencing_token = m.fencing_token();
      sale.event_id = m.event_id();
      sale.seats = SeatsOf(m.seats());
      sale.holder = m.holder();
      sale.payment_ref = m.payment_ref();
      sale.idempotency_key = m.idempotency_key();
      sale.confirmed_ms = m.confirmed_ms();
      sale.hold_lapsed = m.hold_lapsed();
      if (!engine.RestoreSale(sale)) {
        return absl::DataLossError(
            absl::StrCat("booking ", m.booking_id(), " conflicts with the state before it"));
      }
      return absl::OkStatus();
    }
    case wal::RecordType::kConfirmRefused: {
      wal::ConfirmRefused m;
      if (!m.ParseFromArray(rec.payload.data(), size)) {
        return absl::DataLossError("CONFIRM_REFUSED payload does not parse");
      }
      engine.RestoreRefusal(m.hold_id(), m.event_id(), SeatsOf(m.seats()), SeatsOf(m.taken()),
                            m.holder(), m.payment_ref(), m.idempotency_key(), m.refused_ms());
      return absl::OkStatus();
    }
    case wal::RecordType::kCancel: {
      wal::Cancel m;
      if (!m.ParseFromArray(rec.payload.data(), size)) {
        return absl::DataLossError("CANCEL payload does not parse");
      }
      engine.RestoreCancel(m.booking_id());
      return absl::OkStatus();
    }
    case wal::RecordType::kFencing: {
      wal::Fencing m;
      if (!m.ParseFromArray(rec.payload.data(), size)) {
        return absl::DataLossError("FENCING payload does not parse");
      }
      if (m.high_water() > kMaxFencingMark) {
        return absl::DataLossError(absl::StrCat("FENCING mark ", m.high_water(),
                                                " is above the maximum ", kMaxFencingMark));
      }
      *fencing_seen = std::max(*fencing_seen, m.high_water());
      engine.RaiseFencingFloor(m.high_water());
      engine.RaiseBookingSeq(m.next_booking_seq());
      return absl::OkStatus();
    }
    case wal::RecordType::kDeleteEvent: {
      wal::DeleteEvent m;
      if (!m.ParseFromArray(rec.payload.data(), size)) {
        return absl::DataLossError("DELETE_EVENT payload does not parse");
      }
      // Replayed in log order after the snapshot, so the event is there;
      // an unknown one (never defined here) changes nothing.
      engine.DeleteEvent(m.event_id(), /*force=*/true);
      rooms.Delete(m.event_id());
      return absl::OkStatus();
    }
    case wal::RecordType::kRoom: {
      wal::RoomRecord m;
      if (!m.ParseFromArray(rec.payload.data(), size)) {
        return absl::DataLossError("ROOM payload does not parse");
      }
      return rooms.Apply(m);
    }
    case wal::RecordType::kEpoch: {
      // A mark for operators and tools (wal_inspect); it changes no state.
      wal::Epoch m;
      if (!m.ParseFromArray(rec.payload.data(), size)) {
        return absl::DataLossError("EPOCH payload does not parse");
      }
      if (m.epoch() <= 0) return absl::DataLossError(absl::StrCat("EPOCH ", m.epoch()));
      return absl::OkStatus();
    }
  }
  return absl::DataLossError("unknown record type");
}

}  // namespace seatlock
