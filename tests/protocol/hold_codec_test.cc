// protocol/hold_codec.h against protobuf: DecodeHoldCall says yes only to
// bodies protobuf parses into the same HOLD (randomized, with mutated and
// truncated bodies), says no to every other shape, and AppendHoldReplyFrame
// writes the very bytes protobuf serializes for the same Response.
#include "protocol/hold_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "protocol/framing.h"
#include "protocol/seatlock.pb.h"

namespace seatlock::protocol {
namespace {

wire::Request Hold(std::vector<std::pair<std::string, uint32_t>> seats,
                   const std::string& event = "gig", const std::string& holder = "ann",
                   int64_t ttl_ms = 60'000, uint64_t request_id = 7) {
  wire::Request r;
  r.set_request_id(request_id);
  wire::HoldRequest* h = r.mutable_hold();
  h->set_event_id(event);
  for (const auto& [section, index] : seats) {
    wire::SeatRef* s = h->add_seats();
    s->set_section(section);
    s->set_index(index);
  }
  h->set_holder(holder);
  h->set_ttl_ms(ttl_ms);
  return r;
}

bool Decodes(const wire::Request& r, size_t max_seats = 32) {
  HoldCall call;
  return DecodeHoldCall(r.SerializeAsString(), max_seats, &call);
}

// The decoded call equals what protobuf parses from the same body.
void ExpectSameAsProtobuf(const std::string& body, const HoldCall& call) {
  wire::Request r;
  ASSERT_TRUE(r.ParseFromString(body)) << "the codec took a body protobuf refuses";
  ASSERT_EQ(r.op_case(), wire::Request::kHold);
  const wire::HoldRequest& h = r.hold();
  EXPECT_EQ(r.request_id(), call.request_id);
  EXPECT_EQ(h.event_id(), call.event_id);
  EXPECT_EQ(h.holder(), call.holder);
  EXPECT_EQ(h.pass(), call.pass);
  EXPECT_EQ(h.ttl_ms(), call.ttl_ms);
  ASSERT_EQ(static_cast<size_t>(h.seats_size()), call.seats.size());
  for (size_t i = 0; i < call.seats.size(); ++i) {
    const wire::SeatRef& s = h.seats(static_cast<int>(i));
    EXPECT_TRUE(s.has_index());
    EXPECT_TRUE(s.row().empty() && s.seat().empty());
    EXPECT_EQ(s.section(), call.seats[i].section);
    EXPECT_EQ(s.index(), call.seats[i].index);
  }
  // What Malformed() (server/request_validation.h) checks holds too.
  EXPECT_FALSE(h.event_id().empty());
  EXPECT_FALSE(h.holder().empty());
  EXPECT_GT(h.ttl_ms(), 0);
  EXPECT_GT(h.seats_size(), 0);
}

TEST(HoldCodec, DecodesAHoldBySeatIndex) {
  wire::Request r = Hold({{"A", 0}, {"VIP", 4'000'000'000u}}, "gig", "ann", 1, 0);
  r.mutable_hold()->set_pass("pass-123");
  const std::string body = r.SerializeAsString();
  HoldCall call;
  ASSERT_TRUE(DecodeHoldCall(body, 32, &call));
  EXPECT_EQ(call.request_id, 0u);
  EXPECT_EQ(call.event_id, "gig");
  EXPECT_EQ(call.pass, "pass-123");
  ASSERT_EQ(call.seats.size(), 2u);
  EXPECT_EQ(call.seats[1].index, 4'000'000'000u);
  ExpectSameAsProtobuf(body, call);
}

TEST(HoldCodec, LeavesEveryOtherShapeToProtobuf) {
  EXPECT_TRUE(Decodes(Hold({{"A", 1}})));
  EXPECT_FALSE(Decodes(wire::Request()));  // no op
  wire::Request ping;
  ping.mutable_ping();
  EXPECT_FALSE(Decodes(ping));
  wire::Request labels = Hold({{"A", 1}});
  labels.mutable_hold()->mutable_seats(0)->set_row("F");  // labels beside the index
  EXPECT_FALSE(Decodes(labels));
  labels.mutable_hold()->mutable_seats(0)->clear_index();
  labels.mutable_hold()->mutable_seats(0)->set_seat("12");
  EXPECT_FALSE(Decodes(labels));                                  // by labels only
  EXPECT_FALSE(Decodes(Hold({{"", 1}})));                         // no section
  EXPECT_FALSE(Decodes(Hold({})));                                // no seats
  EXPECT_FALSE(Decodes(Hold({{"A", 1}}, "")));                    // no event
  EXPECT_FALSE(Decodes(Hold({{"A", 1}}, "gig", "")));             // no holder
  EXPECT_FALSE(Decodes(Hold({{"A", 1}}, "gig", "ann", 0)));       // ttl 0
  EXPECT_FALSE(Decodes(Hold({{"A", 1}}, "gig", "ann", -5)));      // ttl < 0 (10-byte varint)
  EXPECT_FALSE(Decodes(Hold({{"A", 1}}, "gig", "ann\xc3\xa9")));  // UTF-8: protobuf checks it
  // The ASCII check reads eight bytes at a time: a byte >= 0x80 anywhere in
  // a longer string (in a word or in the tail) still sends it to protobuf.
  const std::string ascii = "buyer-0123456789abcdef";
  EXPECT_TRUE(Decodes(Hold({{ascii, 1}}, ascii, ascii)));
  for (size_t i = 0; i < ascii.size(); ++i) {
    const std::string high = ascii.substr(0, i) + "\xc3\xa9" + ascii.substr(i);  // valid UTF-8
    EXPECT_FALSE(Decodes(Hold({{"A", 1}}, "gig", high))) << "holder byte " << i;
    EXPECT_FALSE(Decodes(Hold({{"A", 1}}, high))) << "event byte " << i;
    EXPECT_FALSE(Decodes(Hold({{high, 1}}))) << "section byte " << i;
  }
  EXPECT_FALSE(Decodes(Hold({{"A", 1}, {"A", 2}, {"A", 3}}), 2));  // over max_seats
  EXPECT_TRUE(Decodes(Hold({{"A", 1}, {"A", 2}}), 2));

  const std::string body = Hold({{"A", 1}}).SerializeAsString();
  HoldCall call;
  // A field given twice (protobuf would merge or keep the last): request_id again.
  EXPECT_FALSE(DecodeHoldCall(body + std::string("\x08\x05", 2), 32, &call));
  // hold again (protobuf merges the two).
  EXPECT_FALSE(DecodeHoldCall(body + body.substr(2), 32, &call));
  // An unknown field (protobuf keeps it as unknown).
  EXPECT_FALSE(DecodeHoldCall(body + std::string("\xf8\x07\x01", 3), 32, &call));
  // Truncated anywhere.
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(DecodeHoldCall(body.substr(0, n), 32, &call)) << n;
  }
}

// `v` written in exactly `bytes` bytes: the low groups, then continuation
// bytes carrying zeros (a longer encoding of the same value).
std::string PaddedVarint(uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    uint8_t b = static_cast<uint8_t>(v & 0x7f);
    v >>= 7;
    if (i + 1 < bytes) b |= 0x80;
    out.push_back(static_cast<char>(b));
  }
  return out;
}

// protobuf 3.21 reads a tag or a length in at most 5 bytes and fails the
// parse on a longer one; the codec must not take such a frame either.
TEST(HoldCodec, TakesTagsAndLengthsOnlyInTheBytesProtobufReadsThem) {
  const std::string hold = Hold({{"A", 1}}).hold().SerializeAsString();
  for (int tag_bytes = 1; tag_bytes <= 7; ++tag_bytes) {
    for (int len_bytes = 1; len_bytes <= 7; ++len_bytes) {
      const std::string body = std::string("\x08\x07", 2) + PaddedVarint(14 << 3 | 2, tag_bytes) +
                               PaddedVarint(hold.size(), len_bytes) + hold;
      HoldCall call;
      const bool taken = DecodeHoldCall(body, 32, &call);
      EXPECT_EQ(taken, tag_bytes <= 5 && len_bytes <= 5) << tag_bytes << " " << len_bytes;
      if (taken) ExpectSameAsProtobuf(body, call);
    }
  }
  // A 5-byte tag whose last byte has bits past 32: ReadTag drops them (and
  // would read field 14); the codec leaves it to protobuf.
  std::string wide = PaddedVarint(14 << 3 | 2, 5);
  wide.back() = static_cast<char>(0x10);
  HoldCall call;
  EXPECT_FALSE(DecodeHoldCall(
      std::string("\x08\x07", 2) + wide + PaddedVarint(hold.size(), 1) + hold, 32, &call));
  // Inside the HOLD and its seats too: the seat's tag in 6 bytes.
  wire::Request r = Hold({{"A", 1}});
  std::string seat = r.hold().seats(0).SerializeAsString();
  std::string inner = std::string(
                          "\x0a\x03"
                          "gig",
                          5) +
                      PaddedVarint(2 << 3 | 2, 6) + PaddedVarint(seat.size(), 1) + seat +
                      std::string(
                          "\x1a\x03"
                          "ann"
                          "\x20\x01",
                          7);
  EXPECT_FALSE(
      DecodeHoldCall(std::string("\x72", 1) + PaddedVarint(inner.size(), 1) + inner, 32, &call));
  inner = std::string(
              "\x0a\x03"
              "gig",
              5) +
          PaddedVarint(2 << 3 | 2, 5) + PaddedVarint(seat.size(), 1) + seat +
          std::string(
              "\x1a\x03"
              "ann"
              "\x20\x01",
              7);
  const std::string ok = std::string("\x72", 1) + PaddedVarint(inner.size(), 1) + inner;
  ASSERT_TRUE(DecodeHoldCall(ok, 32, &call));
  ExpectSameAsProtobuf(ok, call);
}

// Random valid HOLDs, then single-byte mutations and cuts of them: whenever
// the codec says yes, protobuf parses the body to the same HOLD.
TEST(HoldCodec, AgreesWithProtobufOnRandomAndMutatedBodies) {
  std::mt19937_64 rng(42);
  auto pick = [&rng](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  HoldCall call;
  int accepted = 0, mutated_accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::vector<std::pair<std::string, uint32_t>> seats;
    for (uint64_t k = 1 + pick(6); k > 0; --k) {
      seats.emplace_back(std::string(1 + pick(20), static_cast<char>('A' + pick(26))),
                         static_cast<uint32_t>(pick(4) == 0 ? pick(uint64_t{1} << 32) : pick(200)));
    }
    wire::Request r =
        Hold(seats, "event-" + std::to_string(pick(1000)), std::string(1 + pick(40), 'h'),
             1 + static_cast<int64_t>(pick(1 << 30)), pick(uint64_t{1} << 63));
    if (pick(3) == 0) r.mutable_hold()->set_pass(std::string(pick(30), 'p'));
    std::string body = r.SerializeAsString();
    ASSERT_TRUE(DecodeHoldCall(body, 32, &call));
    ExpectSameAsProtobuf(body, call);
    ++accepted;
    // Mutate: flip a byte, or cut the body short.
    if (pick(2) == 0) {
      body[pick(body.size())] = static_cast<char>(pick(256));
    } else {
      body.resize(pick(body.size()));
    }
    if (DecodeHoldCall(body, 32, &call)) {
      ExpectSameAsProtobuf(body, call);
      ++mutated_accepted;
    }
  }
  EXPECT_EQ(accepted, 20'000);
  EXPECT_GT(mutated_accepted, 0);  // some mutations keep the shape (a changed letter)
}

TEST(HoldCodec, WritesTheBytesProtobufSerializes) {
  std::mt19937_64 rng(7);
  auto pick = [&rng](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  for (int i = 0; i < 5'000; ++i) {
    wire::Response resp;
    HoldReplyFields f;
    std::vector<uint64_t> parts;
    std::vector<ReplySeat> seats;
    std::vector<ReplyConflict> conflicts;
    std::vector<std::string> labels;
    labels.reserve(64);  // views into it stay valid
    auto label = [&]() -> std::string_view {
      labels.push_back(pick(5) == 0 ? "" : std::string(1 + pick(200), 'S'));
      return labels.back();
    };
    // Each field at its default half the time or so, and large values too.
    auto value = [&]() -> uint64_t {
      switch (pick(4)) {
        case 0:
          return 0;
        case 1:
          return pick(128);
        case 2:
          return pick(uint64_t{1} << 35);
        default:
          return rng();
      }
    };
    f.request_id = value();
    f.code = static_cast<uint32_t>(pick(3) == 0 ? 0 : pick(27));
    if (pick(2) == 0) {
      labels.push_back(std::string(pick(300), 'd'));
      f.detail = labels.back();
    }
    f.has_hold = pick(4) != 0;
    resp.set_request_id(f.request_id);
    resp.set_code(static_cast<wire::ResultCode>(f.code));
    resp.set_detail(std::string(f.detail));
    if (f.has_hold) {
      wire::HoldReply* h = resp.mutable_hold();
      f.hold_id = value();
      f.fencing_token = value();
      f.expires_ms = static_cast<int64_t>(value());
      f.remaining_ms = static_cast<int64_t>(value());
      h->set_hold_id(f.hold_id);
      h->set_fencing_token(f.fencing_token);
      h->set_expires_ms(f.expires_ms);
      h->set_remaining_ms(f.remaining_ms);
      for (uint64_t k = pick(3); k > 0; --k) {
        parts.push_back(value());
        h->add_part_hold_ids(parts.back());
      }
      for (uint64_t k = pick(5); k > 0; --k) {
        seats.push_back({label(), static_cast<uint32_t>(value())});
        wire::SeatRef* s = h->add_seats();
        s->set_section(std::string(seats.back().section));
        s->set_index(seats.back().index);
      }
      for (uint64_t k = pick(5); k > 0; --k) {
        conflicts.push_back({{label(), static_cast<uint32_t>(value())},
                             static_cast<uint32_t>(pick(3)),
                             static_cast<int64_t>(value())});
        wire::SeatConflict* c = h->add_conflicts();
        c->mutable_seat()->set_section(std::string(conflicts.back().seat.section));
        c->mutable_seat()->set_index(conflicts.back().seat.index);
        c->set_state(static_cast<wire::SeatState>(conflicts.back().state));
        c->set_held_until_ms(conflicts.back().held_until_ms);
      }
      f.part_hold_ids = parts;
      f.seats = seats;
      f.conflicts = conflicts;
    }
    std::string mine = "prefix";  // appends after what is there
    const size_t size = AppendHoldReplyFrame(f, &mine);
    std::string theirs = "prefix";
    ASSERT_TRUE(AppendFrame(resp, &theirs));
    ASSERT_EQ(mine, theirs) << i << ": " << resp.ShortDebugString();
    EXPECT_EQ(size, resp.ByteSizeLong());
  }
}

}  // namespace
}  // namespace seatlock::protocol
