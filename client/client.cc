#include "client/client.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

namespace seatlock {

wire::SeatRef SeatAt(std::string section, std::string row, std::string seat) {
  wire::SeatRef r;
  r.set_section(std::move(section));
  r.set_row(std::move(row));
  r.set_seat(std::move(seat));
  return r;
}

wire::SeatRef SeatIndex(std::string section, uint32_t index) {
  wire::SeatRef r;
  r.set_section(std::move(section));
  r.set_index(index);
  return r;
}

namespace {

// The primary among `options.nodes`: asks each node's HELLO, following a
// replica's primary_address first, until `timeout_ms`.
absl::StatusOr<std::unique_ptr<AsyncClient>> ConnectToPrimary(const ClientOptions& options,
                                                              int64_t timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last_error = "no node answered";
  std::vector<std::string> order = options.nodes;
  while (true) {
    std::string hint;
    for (size_t i = 0; i < order.size(); ++i) {
      const std::string& node = order[i];
      const size_t colon = node.rfind(':');
      ClientOptions o = options;
      o.nodes.clear();
      o.host = node.substr(0, colon);
      if (o.host.size() > 2 && o.host.front() == '[') o.host = o.host.substr(1, o.host.size() - 2);
      o.port = static_cast<uint16_t>(std::atoi(node.c_str() + colon + 1));
      o.connect_timeout_ms = std::min<int64_t>(o.connect_timeout_ms, 500);
      o.backoff_max_ms = std::min<int64_t>(o.backoff_max_ms, 200);
      if (colon == std::string::npos || o.port == 0) {
        return absl::InvalidArgumentError("ClientOptions::nodes: '" + node + "' is not host:port");
      }
      auto c = AsyncClient::Connect(o);
      if (!c.ok()) {
        last_error = node + ": " + std::string(c.status().message());
        continue;
      }
      const wire::HelloReply& h = (*c)->hello();
      if (h.role() == "primary" || h.role() == "standalone") return c;
      last_error = node + " is a " + h.role();
      if (!h.primary_address().empty()) hint = h.primary_address();
    }
    if (std::chrono::steady_clock::now() >= until) break;
    // The primary a replica named goes first next time.
    if (!hint.empty()) {
      order.erase(std::remove(order.begin(), order.end(), hint), order.end());
      order.insert(order.begin(), hint);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::UnavailableError("no primary among ClientOptions::nodes (" + last_error + ")");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  absl::StatusOr<std::unique_ptr<AsyncClient>> async =
      options.nodes.empty() ? AsyncClient::Connect(options)
                            : ConnectToPrimary(options, options.call_timeout_ms);
  if (!async.ok()) return async.status();
  return std::unique_ptr<Client>(new Client(options, std::move(*async)));
}

std::shared_ptr<AsyncClient> Client::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return async_;
}

bool Client::FindPrimaryAgain(const std::shared_ptr<AsyncClient>& seen) {
  std::lock_guard<std::mutex> lock(mu_);  // one search at a time; the others wait for it
  if (async_ != seen) return true;        // another call already moved on
  auto found = ConnectToPrimary(options_, options_.call_timeout_ms);
  if (!found.ok()) return false;
  async_ = std::move(*found);
  lost_ = false;
  return true;
}

absl::StatusOr<wire::Response> Client::Call(wire::Request req, int64_t timeout_ms) {
  const bool group = !options_.nodes.empty();
  const auto until =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(timeout_ms < 0 ? options_.call_timeout_ms : timeout_ms);
  while (true) {
    std::shared_ptr<AsyncClient> async;
    bool lost = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      async = async_;
      lost = lost_;
    }
    if (group && lost && FindPrimaryAgain(async)) async = Current();
    auto promise = std::make_shared<std::promise<absl::StatusOr<wire::Response>>>();
    auto future = promise->get_future();
    async->Call(
        req, [promise](absl::StatusOr<wire::Response> r) { promise->set_value(std::move(r)); },
        timeout_ms);
    absl::StatusOr<wire::Response> r = future.get();  // the async client always completes it
    if (!group) return r;
    if (!r.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (async_ == async) lost_ = true;
      return r;
    }
    // NOT_PRIMARY: nothing was done; send it to the primary.
    if (r->code() != wire::NOT_PRIMARY || std::chrono::steady_clock::now() >= until) return r;
    FindPrimaryAgain(async);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

absl::StatusOr<wire::Response> Client::Ping() {
  wire::Request r;
  r.mutable_ping();
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::DefineEvent(const wire::DefineEventRequest& layout) {
  wire::Request r;
  *r.mutable_define_event() = layout;
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::DeleteEvent(const std::string& event_id, bool force) {
  wire::Request r;
  r.mutable_delete_event()->set_event_id(event_id);
  r.mutable_delete_event()->set_force(force);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::Hold(const std::string& event_id,
                                            const std::vector<wire::SeatRef>& seats,
                                            const std::string& holder, int64_t ttl_ms,
                                            const std::string& pass) {
  wire::Request r;
  auto* h = r.mutable_hold();
  h->set_event_id(event_id);
  for (const auto& s : seats) *h->add_seats() = s;
  h->set_holder(holder);
  h->set_ttl_ms(ttl_ms);
  h->set_pass(pass);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::HoldBestAvailable(const std::string& event_id,
                                                         const std::string& section, uint32_t count,
                                                         bool scattered_ok,
                                                         const std::string& holder, int64_t ttl_ms,
                                                         const std::string& pass) {
  wire::Request r;
  auto* h = r.mutable_hold_best_available();
  h->set_pass(pass);
  h->set_event_id(event_id);
  h->set_section(section);
  h->set_count(count);
  h->set_scattered_ok(scattered_ok);
  h->set_holder(holder);
  h->set_ttl_ms(ttl_ms);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::Extend(uint64_t hold_id, const std::string& holder,
                                              int64_t ttl_ms) {
  wire::Request r;
  r.mutable_extend()->set_hold_id(hold_id);
  r.mutable_extend()->set_holder(holder);
  r.mutable_extend()->set_ttl_ms(ttl_ms);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::Release(uint64_t hold_id, const std::string& holder) {
  wire::Request r;
  r.mutable_release()->set_hold_id(hold_id);
  r.mutable_release()->set_holder(holder);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::Confirm(uint64_t hold_id, const std::string& holder,
                                               const std::string& idempotency_key,
                                               const std::string& payment_ref) {
  wire::Request r;
  auto* c = r.mutable_confirm();
  c->set_hold_id(hold_id);
  c->set_holder(holder);
  c->set_idempotency_key(idempotency_key);
  c->set_payment_ref(payment_ref);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::ConfirmWithRetry(uint64_t hold_id, const std::string& holder,
                                                        const std::string& idempotency_key,
                                                        const std::string& payment_ref,
                                                        int attempts) {
  absl::StatusOr<wire::Response> last = absl::UnavailableError("no attempt made");
  for (int i = 0; i < attempts; ++i) {
    last = Confirm(hold_id, holder, idempotency_key, payment_ref);
    if (last.ok() && last->code() != wire::IN_PROGRESS && last->code() != wire::UNAVAILABLE) {
      return last;
    }
    if (i + 1 == attempts) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50 << std::min(i, 5)));
  }
  return last;
}

absl::StatusOr<wire::Response> Client::CancelBooking(uint64_t booking_id) {
  wire::Request r;
  r.mutable_cancel_booking()->set_booking_id(booking_id);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::GetSeats(const std::string& event_id,
                                                const std::string& section) {
  wire::Request r;
  r.mutable_get_seats()->set_event_id(event_id);
  r.mutable_get_seats()->set_section(section);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::GetAvailability(const std::string& event_id) {
  wire::Request r;
  r.mutable_get_availability()->set_event_id(event_id);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::GetHold(uint64_t hold_id) {
  wire::Request r;
  r.mutable_get_hold()->set_hold_id(hold_id);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::ListHolds(const std::string& event_id,
                                                 const std::string& holder, uint32_t limit) {
  wire::Request r;
  r.mutable_list_holds()->set_event_id(event_id);
  r.mutable_list_holds()->set_holder(holder);
  r.mutable_list_holds()->set_limit(limit);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::ListEvents() {
  wire::Request r;
  r.mutable_list_events();
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::Stats() {
  wire::Request r;
  r.mutable_stats();
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::ConfigureRoom(const std::string& event_id,
                                                     const wire::RoomConfig& config) {
  wire::Request r;
  r.mutable_configure_room()->set_event_id(event_id);
  *r.mutable_configure_room()->mutable_config() = config;
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::JoinQueue(const std::string& event_id,
                                                 const std::string& buyer_key) {
  wire::Request r;
  r.mutable_join_queue()->set_event_id(event_id);
  r.mutable_join_queue()->set_buyer_key(buyer_key);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::QueueStatus(const std::string& event_id, uint64_t number,
                                                   const std::string& buyer_key) {
  wire::Request r;
  r.mutable_queue_status()->set_event_id(event_id);
  r.mutable_queue_status()->set_number(number);
  r.mutable_queue_status()->set_buyer_key(buyer_key);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::LeaveQueue(const std::string& event_id, uint64_t number,
                                                  const std::string& buyer_key) {
  wire::Request r;
  r.mutable_leave_queue()->set_event_id(event_id);
  r.mutable_leave_queue()->set_number(number);
  r.mutable_leave_queue()->set_buyer_key(buyer_key);
  return Call(std::move(r));
}

absl::StatusOr<wire::Response> Client::RoomInfo(const std::string& event_id) {
  wire::Request r;
  r.mutable_room_info()->set_event_id(event_id);
  return Call(std::move(r));
}

}  // namespace seatlock
