#include "server/change_feed.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "protocol/framing.h"

namespace seatlock {
namespace {

wire::ChangeKind ToWire(ChangeKind k) { return static_cast<wire::ChangeKind>(k); }

wire::SeatState StateAfter(ChangeKind k) {
  switch (k) {
    case ChangeKind::kHeld:
      return wire::HELD;
    case ChangeKind::kSold:
      return wire::SOLD;
    default:
      return wire::FREE;
  }
}

}  // namespace

void ChangeFeed::Fill(const Stored& s, wire::ChangeEvent* out) const {
  out->set_seq(s.seq);
  out->set_time_ms(s.time_ms);
  out->set_kind(ToWire(s.kind));
  out->set_new_state(StateAfter(s.kind));
  out->set_hold_id(s.hold_id);
  out->set_booking_id(s.booking_id);
  out->set_fencing_token(s.fencing_token);
  for (size_t i = 0; i < s.seats.size(); ++i) {
    const SeatKey k = s.seats[i];
    wire::SeatRef* ref = out->add_seats();
    std::optional<SeatLabel> label;
    if (i < s.labels.size()) {
      label = s.labels[i];
    } else if (engine_ != nullptr) {
      label = engine_->LabelOf(s.event_id, k);
    }
    if (label) {
      ref->set_section(label->section);
      ref->set_row(label->row);
      ref->set_seat(label->seat);
    }
    ref->set_index(k.seat);
  }
}

void ChangeFeed::OnChange(const ChangeRecord& rec) {
  uint64_t& seq = event_seq_[rec.event_id];
  ++seq;
  ++emitted_;
  pending_.push_back(Stored{seq, std::string(rec.event_id), rec.time_ms, rec.kind, rec.hold_id,
                            rec.booking_id, rec.fencing_token,
                            SeatList(rec.seats.begin(), rec.seats.end())});
  if (!pin_event_.empty() && rec.event_id == pin_event_) {
    Stored& s = pending_.back();
    for (SeatKey k : s.seats) {
      s.labels.push_back(engine_->LabelOf(s.event_id, k).value_or(SeatLabel{}));
    }
  }
}

void ChangeFeed::HoldUntilDurable(uint64_t since, uint64_t lsn) {
  if (emitted_ <= since) return;
  const size_t n = std::min<uint64_t>(emitted_ - since, pending_.size());
  for (size_t i = pending_.size() - n; i < pending_.size(); ++i) pending_[i].lsn = lsn;
}

void ChangeFeed::Flush(uint64_t durable_lsn, const absl::Status& log_status) {
  while (!pending_.empty() && pending_.front().lsn <= durable_lsn) {
    Release(std::move(pending_.front()));
    pending_.pop_front();
  }
  // What was released goes out first, then any end of the streams.
  for (auto& [key, resp] : gathering_) {
    if (std::string* out = loop_->Output(key.first)) protocol::AppendFrame(resp, out);
  }
  gathering_.clear();
  if (!log_status.ok() && failed_.ok()) {
    failed_ = log_status;
    EndAll(wire::UNAVAILABLE,
           absl::StrCat("this shard's log failed (", log_status.message(),
                        "); changes it could not make durable are never sent: restart "
                        "seatlockd, re-read the seats, then subscribe again"));
  } else if (pending_.size() > std::max(capacity_, kMinPendingCapacity)) {
    ++overflows_;
    EndAll(wire::RESYNC_REQUIRED,
           "more changes wait for the log than the feed keeps; re-read the seats, then "
           "subscribe from latest_seq");
  }
}

void ChangeFeed::PinLabels(std::string_view event_id) {
  if (engine_ == nullptr) return;
  auto pin = [&](Stored& s) {
    if (s.event_id != event_id || !s.labels.empty()) return;
    for (SeatKey k : s.seats) {
      s.labels.push_back(engine_->LabelOf(s.event_id, k).value_or(SeatLabel{}));
    }
  };
  for (Stored& s : pending_) pin(s);
  for (Stored& s : ring_) pin(s);
  pin_event_ = std::string(event_id);
}

void ChangeFeed::Release(Stored&& s) {
  released_[s.event_id] = s.seq;
  for (size_t i = 0; i < subs_.size() && loop_ != nullptr;) {
    const Sub& sub = subs_[i];
    if (sub.event_id != s.event_id) {
      ++i;
      continue;
    }
    if (loop_->PendingOutput(sub.conn) > kMaxBacklogBytes) {
      gathering_.erase({sub.conn, sub.request_id});
      Resync(sub, s.seq);  // too far behind: say so rather than queue without bound
      subs_[i] = subs_.back();
      subs_.pop_back();
      continue;
    }
    if (loop_->Output(sub.conn) == nullptr) {  // the connection is gone
      subs_[i] = subs_.back();
      subs_.pop_back();
      continue;
    }
    wire::Response& resp = gathering_[{sub.conn, sub.request_id}];
    if (!resp.has_subscribe()) {
      resp.set_request_id(sub.request_id);
      resp.mutable_subscribe()->set_shard(shard_);
    }
    resp.mutable_subscribe()->set_latest_seq(s.seq);
    Fill(s, resp.mutable_subscribe()->add_changes());
    ++i;
  }
  if (capacity_ == 0) return;
  if (ring_.size() >= capacity_) ring_.pop_front();
  ring_.push_back(std::move(s));
}

void ChangeFeed::EndAll(wire::ResultCode code, const std::string& detail) {
  // The dropped changes count as released: their sequence numbers are not
  // given again, and no resume may cross the gap (the ring is emptied).
  for (const Stored& st : pending_) released_[st.event_id] = st.seq;
  pending_.clear();
  ring_.clear();
  gathering_.clear();
  for (const Sub& sub : subs_) {
    std::string* out = loop_ != nullptr ? loop_->Output(sub.conn) : nullptr;
    if (out == nullptr) continue;
    wire::Response resp;
    resp.set_request_id(sub.request_id);
    resp.set_code(code);
    resp.set_detail(detail);
    resp.mutable_subscribe()->set_shard(shard_);
    auto it = released_.find(sub.event_id);
    resp.mutable_subscribe()->set_latest_seq(it == released_.end() ? 0 : it->second);
    protocol::AppendFrame(resp, out);
  }
  subs_.clear();
}

void ChangeFeed::Resync(const Sub& sub, uint64_t latest) {
  std::string* out = loop_ != nullptr ? loop_->Output(sub.conn) : nullptr;
  if (out == nullptr) return;
  wire::Response resp;
  resp.set_request_id(sub.request_id);
  resp.set_code(wire::RESYNC_REQUIRED);
  resp.set_detail(
      "the subscriber fell too far behind; re-read the seats, then subscribe from latest_seq");
  resp.mutable_subscribe()->set_shard(shard_);
  resp.mutable_subscribe()->set_latest_seq(latest);
  protocol::AppendFrame(resp, out);
}

wire::Response ChangeFeed::Subscribe(uint64_t conn, const wire::Request& req) {
  const wire::SubscribeRequest& s = req.subscribe();
  wire::Response resp;
  resp.set_request_id(req.request_id());
  wire::SubscribeReply* r = resp.mutable_subscribe();
  r->set_shard(shard_);
  if (!failed_.ok()) {
    resp.set_code(wire::UNAVAILABLE);
    resp.set_detail(
        absl::StrCat("this shard's log failed (", failed_.message(), "); restart seatlockd"));
    return resp;
  }
  // Only released changes count: a sale not yet durable is not announced.
  auto it = released_.find(s.event_id());
  const uint64_t latest = it == released_.end() ? 0 : it->second;
  r->set_latest_seq(latest);
  // The oldest change of this event still in the ring.
  uint64_t oldest = latest + 1;
  for (const Stored& st : ring_) {
    if (st.event_id == s.event_id()) {
      oldest = st.seq;
      break;
    }
  }
  r->set_oldest_seq(oldest);
  const uint64_t from = s.from_now() ? latest : s.from_seq();
  if (from > latest) {
    resp.set_code(wire::INVALID_ARGUMENT);
    resp.set_detail(absl::StrCat("from_seq ", from, " is beyond the newest change (", latest, ")"));
    return resp;
  }
  if (from < latest && from + 1 < oldest) {
    resp.set_code(wire::RESYNC_REQUIRED);
    resp.set_detail(absl::StrCat("changes after ", from, " are no longer kept (oldest is ", oldest,
                                 "); re-read the seats, then subscribe from latest_seq"));
    return resp;
  }
  if (from < latest) {
    for (const Stored& st : ring_) {
      if (st.event_id == s.event_id() && st.seq > from) Fill(st, r->add_changes());
    }
  }
  subs_.push_back(Sub{conn, req.request_id(), s.event_id()});
  return resp;
}

void ChangeFeed::DropConnection(uint64_t conn) {
  absl::erase_if(gathering_, [conn](const auto& kv) { return kv.first.first == conn; });
  for (size_t i = 0; i < subs_.size();) {
    if (subs_[i].conn == conn) {
      subs_[i] = subs_.back();
      subs_.pop_back();
    } else {
      ++i;
    }
  }
}

}  // namespace seatlock
