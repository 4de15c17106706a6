// Fan-out merges (server/fanout_merge.h): how the parts every shard sends
// back become the one reply docs/protocol.md §3 promises.
#include "server/fanout_merge.h"

#include <vector>

#include "gtest/gtest.h"

namespace seatlock::merge {
namespace {

using wire::Request;
using wire::Response;

Response Ok() {
  Response r;
  r.set_code(wire::OK);
  return r;
}

Response Code(wire::ResultCode code, const std::string& detail) {
  Response r;
  r.set_code(code);
  r.set_detail(detail);
  return r;
}

Response Availability(uint64_t total, uint64_t free, uint64_t held, uint64_t sold,
                      std::vector<std::string> sections) {
  Response r = Ok();
  auto* a = r.mutable_get_availability();
  a->set_total(total);
  a->set_free(free);
  a->set_held(held);
  a->set_sold(sold);
  for (const auto& s : sections) a->add_sections()->set_section(s);
  return r;
}

TEST(MergeParts, TheFirstFailingPartInShardOrderIsTheReply) {
  std::vector<Response> parts{Ok(), Code(wire::EVENT_NOT_FOUND, "no event 'x'"),
                              Code(wire::INVALID_ARGUMENT, "later")};
  const Response r = MergeParts(Request::kGetAvailability, parts, 42, Context{});
  EXPECT_EQ(r.request_id(), 42u);
  EXPECT_EQ(r.code(), wire::EVENT_NOT_FOUND);
  EXPECT_EQ(r.detail(), "no event 'x'");
  EXPECT_FALSE(r.has_get_availability());
}

TEST(MergeParts, AvailabilitySumsCountsAndListsSectionsInLayoutOrder) {
  EventLayout layout;
  layout.sections.resize(3);
  layout.sections[0].label = "C";
  layout.sections[1].label = "A";
  layout.sections[2].label = "B";
  std::vector<Response> parts{Availability(10, 4, 3, 3, {"A", "B"}),
                              Availability(5, 5, 0, 0, {"C"})};
  Context c;
  c.layout = &layout;
  const Response r = MergeParts(Request::kGetAvailability, parts, 7, c);
  ASSERT_EQ(r.code(), wire::OK);
  const auto& a = r.get_availability();
  EXPECT_EQ(a.total(), 15u);
  EXPECT_EQ(a.free(), 9u);
  EXPECT_EQ(a.held(), 3u);
  EXPECT_EQ(a.sold(), 3u);
  ASSERT_EQ(a.sections_size(), 3);
  EXPECT_EQ(a.sections(0).section(), "C");
  EXPECT_EQ(a.sections(1).section(), "A");
  EXPECT_EQ(a.sections(2).section(), "B");
}

TEST(MergeParts, ListHoldsStopsAtTheLimitAndSaysItWasTruncated) {
  std::vector<Response> parts(2, Ok());
  for (int i = 0; i < 3; ++i) parts[0].mutable_list_holds()->add_holds()->set_hold_id(i + 1);
  for (int i = 0; i < 3; ++i) parts[1].mutable_list_holds()->add_holds()->set_hold_id(i + 10);
  Context c;
  c.list_limit = 4;
  const Response r = MergeParts(Request::kListHolds, parts, 1, c);
  ASSERT_EQ(r.list_holds().holds_size(), 4);
  EXPECT_EQ(r.list_holds().holds(3).hold_id(), 10u);
  EXPECT_TRUE(r.list_holds().truncated());
  c.list_limit = 6;
  EXPECT_FALSE(MergeParts(Request::kListHolds, parts, 1, c).list_holds().truncated());
  parts[1].mutable_list_holds()->set_truncated(true);
  EXPECT_TRUE(MergeParts(Request::kListHolds, parts, 1, c).list_holds().truncated());
}

TEST(MergeParts, ListEventsAddsUpEachEventAcrossShardsSortedById) {
  std::vector<Response> parts(2, Ok());
  auto add = [](Response& r, const std::string& id, uint64_t total, uint64_t sold) {
    auto* e = r.mutable_list_events()->add_events();
    e->set_event_id(id);
    e->set_total(total);
    e->set_sold(sold);
  };
  add(parts[0], "zeta", 10, 1);
  add(parts[0], "alpha", 4, 0);
  add(parts[1], "zeta", 6, 2);
  const Response r = MergeParts(Request::kListEvents, parts, 1, Context{});
  ASSERT_EQ(r.list_events().events_size(), 2);
  EXPECT_EQ(r.list_events().events(0).event_id(), "alpha");
  EXPECT_EQ(r.list_events().events(1).event_id(), "zeta");
  EXPECT_EQ(r.list_events().events(1).total(), 16u);
  EXPECT_EQ(r.list_events().events(1).sold(), 3u);
}

TEST(MergeParts, StatsConcatenatesShardsAndAddsTheServerWideFields) {
  std::vector<Response> parts(2, Ok());
  parts[0].mutable_stats()->add_shards()->set_shard(0);
  parts[1].mutable_stats()->add_shards()->set_shard(1);
  Context c;
  c.uptime_ms = 1234;
  c.server_version = "9.9.9";
  c.io_backend = "epoll";
  const Response r = MergeParts(Request::kStats, parts, 3, c);
  ASSERT_EQ(r.stats().shards_size(), 2);
  EXPECT_EQ(r.stats().shards(1).shard(), 1u);
  EXPECT_EQ(r.stats().uptime_ms(), 1234);
  EXPECT_EQ(r.stats().server_version(), "9.9.9");
  EXPECT_EQ(r.stats().io_backend(), "epoll");
}

TEST(MergeParts, DeleteEventSumsWhatEachShardFreed) {
  std::vector<Response> parts{Ok(), Ok()};
  parts[0].mutable_delete_event()->set_holds_released(1);
  parts[0].mutable_delete_event()->set_bookings_dropped(5);
  parts[1].mutable_delete_event()->set_bookings_dropped(7);
  const Response r = MergeParts(Request::kDeleteEvent, parts, 9, Context{});
  EXPECT_EQ(r.code(), wire::OK);
  EXPECT_EQ(r.delete_event().holds_released(), 1u);
  EXPECT_EQ(r.delete_event().bookings_dropped(), 12u);
  parts[1] = Code(wire::EVENT_HAS_LIVE_HOLDS, "event 'gig' has 1 live hold(s)");
  EXPECT_EQ(MergeParts(Request::kDeleteEvent, parts, 9, Context{}).code(),
            wire::EVENT_HAS_LIVE_HOLDS);
}

TEST(MergeCancelBooking, AnyShardThatHadTheBookingAnswers) {
  std::vector<Response> parts{Code(wire::BOOKING_NOT_FOUND, "no"), Ok(),
                              Code(wire::BOOKING_NOT_FOUND, "no")};
  parts[1].set_request_id(9);
  const Response r = MergeCancelBooking(std::move(parts), 9);
  EXPECT_EQ(r.code(), wire::OK);
  EXPECT_EQ(r.request_id(), 9u);
}

TEST(MergeCancelBooking, OtherwiseTheMostSpecificRefusalThenNotFound) {
  std::vector<Response> parts{Code(wire::BOOKING_NOT_FOUND, "no"),
                              Code(wire::UNAVAILABLE, "log failed")};
  Response r = MergeCancelBooking(std::move(parts), 5);
  EXPECT_EQ(r.code(), wire::UNAVAILABLE);
  EXPECT_EQ(r.request_id(), 5u);
  std::vector<Response> none{Code(wire::BOOKING_NOT_FOUND, "x"),
                             Code(wire::BOOKING_NOT_FOUND, "y")};
  r = MergeCancelBooking(std::move(none), 6);
  EXPECT_EQ(r.code(), wire::BOOKING_NOT_FOUND);
  EXPECT_EQ(r.detail(), "no such booking");
  EXPECT_EQ(r.request_id(), 6u);
}

TEST(MergeConfigureRoom, TheHomesPartUnlessAShardRefused) {
  std::vector<Response> parts(3, Ok());
  parts[2].mutable_room_info()->set_joined(17);
  Response r = MergeConfigureRoom(std::vector<Response>(parts), 4, 2);
  EXPECT_EQ(r.code(), wire::OK);
  EXPECT_EQ(r.request_id(), 4u);
  EXPECT_EQ(r.room_info().joined(), 17u);
  parts[1] = Code(wire::EVENT_NOT_FOUND, "no event");
  r = MergeConfigureRoom(std::move(parts), 4, 2);
  EXPECT_EQ(r.code(), wire::EVENT_NOT_FOUND);
  EXPECT_EQ(r.request_id(), 4u);
}

TEST(MergeSupply, SumsFreeAndHeldAndIsUnknownIfAnyPartFailed) {
  std::vector<Response> parts{Availability(10, 4, 3, 3, {}), Availability(5, 5, 1, 0, {})};
  Supply s = MergeSupply(parts);
  EXPECT_TRUE(s.known);
  EXPECT_EQ(s.free, 9u);
  EXPECT_EQ(s.held, 4u);
  parts.push_back(Code(wire::EVENT_NOT_FOUND, ""));
  s = MergeSupply(parts);
  EXPECT_FALSE(s.known);
}

}  // namespace
}  // namespace seatlock::merge
