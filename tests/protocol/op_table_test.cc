// The op table (protocol/op_table.h) is the routing contract of
// docs/protocol.md §3: these tests read that section's table and check the
// code agrees with it row by row, then check TargetOf on concrete requests.
#include "protocol/op_table.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "protocol/sharding.h"

namespace seatlock::protocol {
namespace {

using wire::Request;

// The rows of the table in docs/protocol.md §3: request cell -> owner cell.
std::vector<std::pair<std::string, std::string>> RoutingRows() {
  std::ifstream in(std::string(SEATLOCK_SOURCE_DIR) + "/docs/protocol.md");
  EXPECT_TRUE(in) << "cannot read docs/protocol.md";
  std::string line;
  bool in_section = false, in_table = false;
  std::vector<std::pair<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "## ")) in_section = absl::StartsWith(line, "## 3.");
    if (!in_section) continue;
    if (absl::StartsWith(line, "| request | owner |")) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    if (!absl::StartsWith(line, "|")) break;
    if (absl::StartsWith(line, "|---")) continue;
    std::vector<std::string> cells = absl::StrSplit(line, '|');
    // "", request, owner, handling, ""
    if (cells.size() < 4) continue;
    rows.emplace_back(std::string(absl::StripAsciiWhitespace(cells[1])),
                      std::string(absl::StripAsciiWhitespace(cells[2])));
  }
  return rows;
}

// The op names a request cell lists ("EXTEND, RELEASE, GET_HOLD";
// "HOLD_BEST_AVAILABLE, `section` set").
std::vector<std::string> OpNames(const std::string& cell) {
  std::vector<std::string> names;
  for (absl::string_view part : absl::StrSplit(cell, ',')) {
    part = absl::StripAsciiWhitespace(part);
    const size_t space = part.find(' ');
    const absl::string_view word = part.substr(0, space);
    if (!word.empty() && word.find('`') == absl::string_view::npos) names.emplace_back(word);
  }
  return names;
}

const OpInfo* ByName(const std::string& name) {
  for (const OpInfo& op : AllOps()) {
    if (op.name == name) return &op;
  }
  return nullptr;
}

TEST(OpTable, EveryRowOfTheDocsRoutingTableMatchesTheCode) {
  const auto rows = RoutingRows();
  ASSERT_GE(rows.size(), 10u) << "could not find the routing table in docs/protocol.md §3";
  std::set<std::string> documented;
  for (const auto& [request, owner] : rows) {
    const bool waiting_room = absl::StrContains(request, "waiting room");
    for (const std::string& name : OpNames(request)) {
      const OpInfo* op = ByName(name);
      ASSERT_NE(op, nullptr) << "docs name an op the table does not have: " << name;
      documented.insert(name);
      SCOPED_TRACE(name + ": " + owner);
      if (waiting_room) {
        EXPECT_TRUE(op->gated) << "docs say the room's home checks the pass first";
        EXPECT_TRUE(absl::StrContains(owner, "room's home first"));
        continue;
      }
      if (absl::StrContains(owner, "per seat")) {
        EXPECT_EQ(op->routing, Routing::kSeats);
      } else if (absl::StrContains(owner, "ShardFor(event_id, section)")) {
        EXPECT_TRUE(op->routing == Routing::kSection || op->routing == Routing::kBestSection);
      } else if (absl::StrContains(owner, "hold_id >> 56")) {
        EXPECT_EQ(op->routing, name == "CONFIRM" ? Routing::kConfirm : Routing::kHoldId);
      } else if (absl::StrContains(owner, "every shard")) {
        EXPECT_EQ(op->routing, Routing::kFanOut);
      } else if (absl::StrContains(owner, "room's home")) {
        EXPECT_EQ(op->routing, Routing::kRoomHome);
      } else if (owner == "none") {
        EXPECT_TRUE(op->routing == Routing::kReceiver || op->routing == Routing::kBestSection);
      } else {
        ADD_FAILURE() << "an owner the test does not know: " << owner;
      }
    }
  }
  // SUBSCRIBE and LIST_BOOKINGS are routed by the shard they name (§4), not in the table.
  for (const OpInfo& op : AllOps()) {
    if (op.routing == Routing::kNamedShard) continue;
    EXPECT_TRUE(documented.contains(std::string(op.name)))
        << op.name << " is missing from docs/protocol.md §3";
  }
}

TEST(OpTable, ListsEveryOpOnceInFieldOrderWithADenseIndex) {
  ASSERT_EQ(AllOps().size(), kOpCount);
  for (size_t i = 0; i < AllOps().size(); ++i) {
    EXPECT_EQ(OpIndex(AllOps()[i].op), i);
    EXPECT_EQ(FindOp(AllOps()[i].op), &AllOps()[i]);
  }
  EXPECT_EQ(FindOp(Request::OP_NOT_SET), nullptr);
  EXPECT_EQ(OpIndex(Request::OP_NOT_SET), kOpCount);
}

TEST(OpTable, OnlySessionOpsWorkWithoutAuth) {
  for (const OpInfo& op : AllOps()) {
    const bool session =
        op.op == Request::kHello || op.op == Request::kAuth || op.op == Request::kPing;
    EXPECT_EQ(op.needs_auth, !session) << op.name;
  }
}

TEST(OpTable, DurableOpsAreTheOnesThatWriteTheLog) {
  std::set<std::string> durable;
  for (const OpInfo& op : AllOps()) {
    if (op.durable) durable.insert(std::string(op.name));
  }
  EXPECT_EQ(durable,
            (std::set<std::string>{"DEFINE_EVENT", "CONFIRM", "CANCEL_BOOKING", "CONFIGURE_ROOM",
                                   "JOIN_QUEUE", "QUEUE_STATUS", "LEAVE_QUEUE", "DELETE_EVENT"}));
}

Request Hold(const std::string& event, std::vector<std::string> sections) {
  Request r;
  r.mutable_hold()->set_event_id(event);
  for (const auto& s : sections) {
    wire::SeatRef* ref = r.mutable_hold()->add_seats();
    ref->set_section(s);
    ref->set_row("A");
    ref->set_seat("1");
  }
  return r;
}

TEST(TargetOf, SendsASectionsRequestsToShardForOfThatSection) {
  // docs/protocol.md §3 test vectors: gig/101 -> n=3: 1; gig/A -> n=8: 5.
  Request seats;
  seats.mutable_get_seats()->set_event_id("gig");
  seats.mutable_get_seats()->set_section("101");
  EXPECT_EQ(TargetOf(seats, 3, kDefaultHashSeed, false).kind, Target::kShard);
  EXPECT_EQ(TargetOf(seats, 3, kDefaultHashSeed, false).shard, 1u);
  const Target t = TargetOf(Hold("gig", {"A", "A"}), 8, kDefaultHashSeed, false);
  EXPECT_EQ(t.kind, Target::kShard);
  EXPECT_EQ(t.shard, 5u);
}

TEST(TargetOf, AHoldSpanningShardsIsCoordinatedByTheReceiver) {
  // gig/101 and gig/A are on shards 0 and 5 of 8.
  EXPECT_EQ(TargetOf(Hold("gig", {"101", "A"}), 8, kDefaultHashSeed, false).kind, Target::kSpread);
  Request best;
  best.mutable_hold_best_available()->set_event_id("gig");
  EXPECT_EQ(TargetOf(best, 8, kDefaultHashSeed, false).kind, Target::kSpread);
  best.mutable_hold_best_available()->set_section("A");
  EXPECT_EQ(TargetOf(best, 8, kDefaultHashSeed, false).shard, 5u);
}

TEST(TargetOf, AGatedHoldGoesToTheRoomsHome) {
  const uint32_t home = ShardFor("gig", "", 8, kDefaultHashSeed);
  const Target t = TargetOf(Hold("gig", {"101", "A"}), 8, kDefaultHashSeed, /*gated=*/true);
  EXPECT_EQ(t.kind, Target::kShard);
  EXPECT_EQ(t.shard, home);
  Request join;
  join.mutable_join_queue()->set_event_id("gig");
  EXPECT_EQ(TargetOf(join, 8, kDefaultHashSeed, false).shard, home);
  // Gating applies to holds only.
  Request seats;
  seats.mutable_get_seats()->set_event_id("gig");
  seats.mutable_get_seats()->set_section("A");
  EXPECT_EQ(TargetOf(seats, 8, kDefaultHashSeed, true).shard, 5u);
}

TEST(TargetOf, IdsCarryTheirShardAndAnIdOfNoShardStaysWithTheReceiver) {
  Request ext;
  ext.mutable_extend()->set_hold_id((uint64_t{3} << 56) | 7);
  EXPECT_EQ(TargetOf(ext, 4, kDefaultHashSeed, false).kind, Target::kShard);
  EXPECT_EQ(TargetOf(ext, 4, kDefaultHashSeed, false).shard, 3u);
  const Target none = TargetOf(ext, 3, kDefaultHashSeed, false);
  EXPECT_EQ(none.kind, Target::kReceiver);
  EXPECT_EQ(none.shard, 3u);
  Request confirm;
  confirm.mutable_confirm()->set_hold_id((uint64_t{2} << 56) | 1);
  EXPECT_EQ(TargetOf(confirm, 4, kDefaultHashSeed, false).kind, Target::kConfirm);
  EXPECT_EQ(TargetOf(confirm, 4, kDefaultHashSeed, false).shard, 2u);
}

TEST(TargetOf, FanOutsAndSessionOps) {
  Request r;
  r.mutable_stats();
  EXPECT_EQ(TargetOf(r, 4, kDefaultHashSeed, false).kind, Target::kFanOut);
  r.mutable_cancel_booking()->set_booking_id(1);
  EXPECT_EQ(TargetOf(r, 4, kDefaultHashSeed, false).kind, Target::kFanOut);
  r.mutable_ping();
  EXPECT_EQ(TargetOf(r, 4, kDefaultHashSeed, false).kind, Target::kReceiver);
  r.mutable_subscribe()->set_shard(2);
  EXPECT_EQ(TargetOf(r, 4, kDefaultHashSeed, false).shard, 2u);
  r.mutable_list_bookings()->set_shard(3);
  EXPECT_EQ(TargetOf(r, 4, kDefaultHashSeed, false).kind, Target::kShard);
  EXPECT_EQ(TargetOf(r, 4, kDefaultHashSeed, false).shard, 3u);
  Request empty;
  EXPECT_EQ(TargetOf(empty, 4, kDefaultHashSeed, false).kind, Target::kReceiver);
}

}  // namespace
}  // namespace seatlock::protocol
