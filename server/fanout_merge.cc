#include "server/fanout_merge.h"

#include <algorithm>
#include <map>
#include <string>

namespace seatlock::merge {
namespace {

using wire::Request;
using wire::Response;

void MergeAvailability(const std::vector<Response>& parts, const EventLayout* layout,
                       wire::GetAvailabilityReply* a) {
  std::vector<const wire::SectionAvailability*> sections;
  for (const Response& p : parts) {
    a->set_total(a->total() + p.get_availability().total());
    a->set_free(a->free() + p.get_availability().free());
    a->set_held(a->held() + p.get_availability().held());
    a->set_sold(a->sold() + p.get_availability().sold());
    for (const auto& s : p.get_availability().sections()) sections.push_back(&s);
  }
  if (layout != nullptr) {
    std::map<std::string_view, size_t> order;
    for (size_t i = 0; i < layout->sections.size(); ++i) order[layout->sections[i].label] = i;
    auto rank = [&order](const wire::SectionAvailability* s) {
      auto it = order.find(s->section());
      return it == order.end() ? size_t{0} : it->second;
    };
    std::stable_sort(sections.begin(), sections.end(),
                     [&rank](const auto* x, const auto* y) { return rank(x) < rank(y); });
  }
  for (const auto* s : sections) *a->add_sections() = *s;
}

void MergeListHolds(const std::vector<Response>& parts, uint32_t limit, wire::ListHoldsReply* l) {
  for (const Response& p : parts) {
    for (const auto& h : p.list_holds().holds()) {
      if (static_cast<uint32_t>(l->holds_size()) >= limit) {
        l->set_truncated(true);
        break;
      }
      *l->add_holds() = h;
    }
    if (p.list_holds().truncated()) l->set_truncated(true);
  }
}

void MergeListEvents(const std::vector<Response>& parts, wire::ListEventsReply* l) {
  std::map<std::string, wire::EventSummary> merged;
  for (const Response& p : parts) {
    for (const auto& e : p.list_events().events()) {
      wire::EventSummary& m = merged[e.event_id()];
      m.set_event_id(e.event_id());
      m.set_total(m.total() + e.total());
      m.set_free(m.free() + e.free());
      m.set_held(m.held() + e.held());
      m.set_sold(m.sold() + e.sold());
    }
  }
  for (auto& [id, e] : merged) *l->add_events() = e;
}

}  // namespace

Response MergeParts(Request::OpCase op, const std::vector<Response>& parts, uint64_t request_id,
                    const Context& context) {
  Response out;
  out.set_request_id(request_id);
  out.set_code(wire::OK);
  // The first failure wins (every shard sees the same layout, so they agree
  // on DEFINE_EVENT and EVENT_NOT_FOUND).
  for (const Response& p : parts) {
    if (p.code() != wire::OK) {
      out.set_code(p.code());
      out.set_detail(p.detail());
      return out;
    }
  }
  switch (op) {
    case Request::kGetAvailability:
      MergeAvailability(parts, context.layout, out.mutable_get_availability());
      break;
    case Request::kListHolds:
      MergeListHolds(parts, context.list_limit, out.mutable_list_holds());
      break;
    case Request::kListEvents:
      MergeListEvents(parts, out.mutable_list_events());
      break;
    case Request::kStats: {
      wire::StatsReply* s = out.mutable_stats();
      for (const Response& p : parts) {
        for (const auto& sh : p.stats().shards()) *s->add_shards() = sh;
      }
      s->set_uptime_ms(context.uptime_ms);
      s->set_server_version(std::string(context.server_version));
      s->set_io_backend(std::string(context.io_backend));
      s->set_rss_bytes(context.rss_bytes);
      s->set_max_memory_bytes(context.max_memory_bytes);
      s->set_memory_exceeded(context.memory_exceeded);
      break;
    }
    case Request::kDeleteEvent: {
      wire::DeleteEventReply* d = out.mutable_delete_event();
      for (const Response& p : parts) {
        d->set_holds_released(d->holds_released() + p.delete_event().holds_released());
        d->set_bookings_dropped(d->bookings_dropped() + p.delete_event().bookings_dropped());
      }
      break;
    }
    default:  // DEFINE_EVENT: OK carries nothing more
      break;
  }
  return out;
}

Response MergeCancelBooking(std::vector<Response>&& parts, uint64_t request_id) {
  Response out;
  out.set_code(wire::BOOKING_NOT_FOUND);
  out.set_detail("no such booking");
  for (Response& p : parts) {
    if (p.code() == wire::OK) return std::move(p);
    if (p.code() != wire::BOOKING_NOT_FOUND) out = std::move(p);
  }
  out.set_request_id(request_id);
  return out;
}

Response MergeConfigureRoom(std::vector<Response>&& parts, uint64_t request_id, uint32_t home) {
  for (Response& p : parts) {
    if (p.code() != wire::OK) {
      p.set_request_id(request_id);
      return std::move(p);
    }
  }
  Response out = std::move(parts[home]);
  out.set_request_id(request_id);
  return out;
}

Supply MergeSupply(const std::vector<Response>& parts) {
  Supply s;
  for (const Response& p : parts) {
    if (p.code() != wire::OK) return Supply{};
    s.free += p.get_availability().free();
    s.held += p.get_availability().held();
  }
  s.known = true;
  return s;
}

}  // namespace seatlock::merge
