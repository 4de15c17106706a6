#include "sink/feed_reader.h"

#include <chrono>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace seatlock::sink {

absl::StatusOr<std::unique_ptr<FeedReader>> FeedReader::Connect(const ClientOptions& options) {
  auto client = Client::Connect(options);
  if (!client.ok()) return client.status();
  if ((*client)->hello().feed_epoch() == 0) {
    return absl::FailedPreconditionError(
        "this seatlockd reports no feed_epoch in HELLO: it is older than seatlock-sink needs");
  }
  return std::unique_ptr<FeedReader>(new FeedReader(std::move(*client)));
}

absl::StatusOr<wire::Response> FeedReader::CallOk(wire::Request req, const char* what) {
  auto r = client_->Call(std::move(req));
  if (!r.ok()) return r.status();
  if (r->code() != wire::OK) {
    return absl::UnavailableError(
        absl::StrCat(what, ": ", wire::ResultCode_Name(r->code()), " ", r->detail()));
  }
  return r;
}

absl::StatusOr<std::vector<wire::EventSummary>> FeedReader::ListEvents() {
  wire::Request req;
  req.mutable_list_events();
  auto r = CallOk(std::move(req), "LIST_EVENTS");
  if (!r.ok()) return r.status();
  return std::vector<wire::EventSummary>(r->list_events().events().begin(),
                                         r->list_events().events().end());
}

absl::StatusOr<uint32_t> FeedReader::SectionCount(const std::string& event_id) {
  auto r = client_->GetAvailability(event_id);
  if (!r.ok()) return r.status();
  if (r->code() == wire::EVENT_NOT_FOUND) return 0;
  if (r->code() != wire::OK) {
    return absl::UnavailableError(absl::StrCat("GET_AVAILABILITY: ", r->detail()));
  }
  return static_cast<uint32_t>(r->get_availability().sections_size());
}

absl::StatusOr<std::pair<uint64_t, wire::Response>> FeedReader::Subscribe(
    const std::string& event_id, uint32_t shard, uint64_t from_seq, bool from_now) {
  const uint64_t id = next_stream_++;
  {
    std::lock_guard<std::mutex> l(queue_->mu);
    queue_->awaiting = id;
    queue_->first.reset();
  }
  wire::Request req;
  req.mutable_subscribe()->set_event_id(event_id);
  req.mutable_subscribe()->set_shard(shard);
  req.mutable_subscribe()->set_from_seq(from_seq);
  req.mutable_subscribe()->set_from_now(from_now);
  client_->async().Subscribe(std::move(req), [q = queue_, id](absl::StatusOr<wire::Response> r) {
    std::lock_guard<std::mutex> l(q->mu);
    if (q->awaiting == id) {
      q->first = std::move(r);
      q->awaiting = 0;
    } else {
      q->messages.push_back(StreamMessage{id, std::move(r)});
    }
    q->cv.notify_all();
  });
  std::unique_lock<std::mutex> l(queue_->mu);
  if (!queue_->cv.wait_for(l, std::chrono::seconds(10),
                           [&] { return queue_->first.has_value(); })) {
    queue_->awaiting = 0;
    return absl::UnavailableError("SUBSCRIBE: no answer within 10 s");
  }
  absl::StatusOr<wire::Response> first = std::move(*queue_->first);
  queue_->first.reset();
  if (!first.ok()) return first.status();
  return std::make_pair(id, std::move(*first));
}

std::optional<StreamMessage> FeedReader::Next(int64_t timeout_ms) {
  std::unique_lock<std::mutex> l(queue_->mu);
  if (!queue_->cv.wait_for(l, std::chrono::milliseconds(timeout_ms),
                           [&] { return !queue_->messages.empty(); })) {
    return std::nullopt;
  }
  StreamMessage m = std::move(queue_->messages.front());
  queue_->messages.pop_front();
  return m;
}

size_t FeedReader::queued() const {
  std::lock_guard<std::mutex> l(queue_->mu);
  return queue_->messages.size();
}

absl::StatusOr<std::vector<wire::BookingRecord>> FeedReader::Bookings(
    const std::string& event_id, uint32_t shard, const std::vector<uint64_t>& ids) {
  std::vector<wire::BookingRecord> out;
  constexpr size_t kPerCall = 1000;
  for (size_t at = 0; at < ids.size(); at += kPerCall) {
    wire::Request req;
    wire::ListBookingsRequest* l = req.mutable_list_bookings();
    l->set_event_id(event_id);
    l->set_shard(shard);
    for (size_t i = at; i < ids.size() && i < at + kPerCall; ++i) l->add_booking_ids(ids[i]);
    auto r = CallOk(std::move(req), "LIST_BOOKINGS");
    if (!r.ok()) return r.status();
    for (const auto& b : r->list_bookings().bookings()) out.push_back(b);
  }
  return out;
}

absl::StatusOr<std::vector<wire::BookingRecord>> FeedReader::AllBookings(
    const std::string& event_id, uint32_t shard) {
  std::vector<wire::BookingRecord> out;
  uint64_t after = 0;
  for (;;) {
    wire::Request req;
    wire::ListBookingsRequest* l = req.mutable_list_bookings();
    l->set_event_id(event_id);
    l->set_shard(shard);
    l->set_after_booking_id(after);
    l->set_limit(1000);
    auto r = CallOk(std::move(req), "LIST_BOOKINGS");
    if (!r.ok()) return r.status();
    for (const auto& b : r->list_bookings().bookings()) {
      out.push_back(b);
      after = b.booking_id();
    }
    if (!r->list_bookings().truncated() || r->list_bookings().bookings().empty()) return out;
  }
}

}  // namespace seatlock::sink
