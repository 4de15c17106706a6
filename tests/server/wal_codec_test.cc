// WAL codec (server/wal_codec.h): regression tests for what wal_fuzzer
// (fuzz/wal_fuzzer.cc) found. A FENCING mark or a CONFIRM token near 2^64 was
// accepted: SeatEngine::RaiseFencingFloor(2^64 - 1) wraps to a no-op, and
// RecoverShard's reservation (mark + kFencingBlock) wrapped to a small
// number, so tokens granted after the restart were below tokens already in
// the log. ApplyRecord now refuses values above kMaxFencingMark as damage.
// And a ROOM join record's number was trusted: Rooms::Apply now refuses one
// above kMaxQueueLimit instead of allocating an entry for every number below.
#include "server/wal_codec.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "engine/clock.h"
#include "engine/seat_engine.h"
#include "persistence/wal.pb.h"
#include "persistence/wal_record.h"
#include "protocol/seatlock.pb.h"
#include "server/config.h"
#include "server/engine_ops.h"
#include "server/recovery.h"
#include "server/rooms.h"

namespace seatlock {
namespace {

struct Shard {
  ManualClock clock{1'700'000'000'000};
  SeatEngine engine{SeatEngine::Options{.clock = &clock}};
  Rooms rooms{0, 1, 0, &clock};
  uint64_t fencing_seen = 0;

  absl::Status Apply(wal::RecordType type, const std::string& payload) {
    std::string bytes;
    wal::AppendRecord(type, payload, &bytes);
    wal::RecordReader reader(bytes);
    wal::Record rec;
    EXPECT_EQ(reader.Next(&rec), wal::RecordReader::Result::kRecord);
    return ApplyRecord(engine, rooms, rec, &fencing_seen);
  }
};

std::string FencingPayload(uint64_t high_water) {
  wal::Fencing f;
  f.set_high_water(high_water);
  return f.SerializeAsString();
}

std::string DefineGig() {
  wire::DefineEventRequest d;
  d.set_event_id("gig");
  wire::SectionLayout* s = d.add_sections();
  s->set_label("A");
  wire::RowLayout* r = s->add_rows();
  r->set_label("1");
  r->set_seat_count(4);
  wal::DefineEvent def;
  def.set_define_event_request(d.SerializeAsString());
  return def.SerializeAsString();
}

std::string ConfirmPayload(uint64_t fencing_token) {
  wal::Confirm c;
  c.set_booking_id(1);
  c.set_hold_id(1);
  c.set_fencing_token(fencing_token);
  c.set_event_id("gig");
  wal::SeatPos* p = c.add_seats();
  p->set_section(0);
  p->set_seat(0);
  c.set_holder("alice");
  c.set_idempotency_key("k1");
  return c.SerializeAsString();
}

TEST(WalCodecTest, FencingMarkUpToTheMaximumIsHonoured) {
  Shard s;
  ASSERT_TRUE(s.Apply(wal::RecordType::kFencing, FencingPayload(kMaxFencingMark)).ok());
  EXPECT_EQ(s.fencing_seen, kMaxFencingMark);
  EXPECT_EQ(s.engine.fencing_high_water(), kMaxFencingMark);
}

TEST(WalCodecTest, FencingMarkNearTwoToTheSixtyFourIsRefused) {
  for (uint64_t mark : {kMaxFencingMark + 1, UINT64_MAX - (uint64_t{1} << 30), UINT64_MAX}) {
    Shard s;
    const absl::Status st = s.Apply(wal::RecordType::kFencing, FencingPayload(mark));
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << mark;
    EXPECT_NE(st.message().find("above the maximum"), std::string::npos) << st;
  }
}

TEST(WalCodecTest, ConfirmTokenNearTwoToTheSixtyFourIsRefused) {
  Shard s;
  ASSERT_TRUE(s.Apply(wal::RecordType::kDefineEvent, DefineGig()).ok());
  EXPECT_EQ(s.Apply(wal::RecordType::kConfirm, ConfirmPayload(UINT64_MAX)).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(s.engine.booking_count(), 0u);
  ASSERT_TRUE(s.Apply(wal::RecordType::kConfirm, ConfirmPayload(kMaxFencingMark)).ok());
  EXPECT_EQ(s.engine.fencing_high_water(), kMaxFencingMark);
}

std::string RoomPayload(const std::function<void(wal::RoomRecord&)>& fill) {
  wal::RoomRecord r;
  r.set_event_id("gig");
  fill(r);
  return r.SerializeAsString();
}

// A valid ROOM config record for "gig": the room the join records below go to.
std::string GigRoomConfig() {
  return RoomPayload([](wal::RoomRecord& r) {
    r.mutable_config()->set_rate_per_sec(100);
    r.mutable_config()->set_batch_size(10);
    r.mutable_config()->set_pass_ttl_ms(600'000);
    r.mutable_config()->set_max_seats_per_pass(6);
  });
}

// A ROOM join record with number 4,000,000,000 made recovery resize the
// room's entries to that many (terabytes): two records of 53 bytes in all.
TEST(WalCodecTest, RoomJoinNumberAboveTheQueueLimitIsRefused) {
  Shard s;
  ASSERT_TRUE(s.Apply(wal::RecordType::kRoom, GigRoomConfig()).ok());
  const absl::Status st = s.Apply(wal::RecordType::kRoom, RoomPayload([](wal::RoomRecord& r) {
                                    r.mutable_join()->set_number(4'000'000'000u);
                                    r.mutable_join()->set_buyer_key("eve");
                                  }));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("above the maximum queue size"), std::string::npos) << st;
  EXPECT_TRUE(s.Apply(wal::RecordType::kRoom, RoomPayload([](wal::RoomRecord& r) {
                        r.mutable_join()->set_number(3);
                        r.mutable_join()->set_buyer_key("eve");
                      }))
                  .ok());
}

// wal_fuzzer: a join record with an empty buyer key was restored as an entry
// that still looked unused, so a second join of the same number listed it
// twice in the queue order, and a snapshot of the recovered room replayed to
// a different room.
TEST(WalCodecTest, RoomJoinWithAnEmptyBuyerKeyIsRefused) {
  Shard s;
  ASSERT_TRUE(s.Apply(wal::RecordType::kRoom, GigRoomConfig()).ok());
  const absl::Status st =
      s.Apply(wal::RecordType::kRoom,
              RoomPayload([](wal::RoomRecord& r) { r.mutable_join()->set_number(1796); }));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("empty buyer key"), std::string::npos) << st;
  EXPECT_EQ(s.Apply(wal::RecordType::kRoom,
                    RoomPayload([](wal::RoomRecord& r) { r.mutable_join()->set_buyer_key("eve"); }))
                .code(),
            absl::StatusCode::kDataLoss);
  ASSERT_TRUE(s.Apply(wal::RecordType::kRoom, RoomPayload([](wal::RoomRecord& r) {
                        r.mutable_join()->set_number(1796);
                        r.mutable_join()->set_buyer_key("eve");
                      }))
                  .ok());
  // The number is taken now: a second join of it changes nothing.
  ASSERT_TRUE(s.Apply(wal::RecordType::kRoom, RoomPayload([](wal::RoomRecord& r) {
                        r.mutable_join()->set_number(1796);
                        r.mutable_join()->set_buyer_key("mallory");
                      }))
                  .ok());
  std::string state;
  s.rooms.AppendState(&state);
  EXPECT_EQ(state.find("eve"), state.rfind("eve")) << "the join is listed twice";
  EXPECT_EQ(state.find("mallory"), std::string::npos);
}

// The whole path: a log whose FENCING mark is 2^64 - 1 stops the start
// instead of reserving tokens from 2^30 - 1.
TEST(WalCodecTest, RecoveryRefusesALogWithAFencingMarkThatWouldWrap) {
  char dir[] = "/tmp/wal_codec_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  ServerConfig config;
  config.data_dir = dir;
  config.fsync = false;
  std::string segment;
  wal::AppendRecord(wal::RecordType::kFencing, FencingPayload(UINT64_MAX), &segment);
  const std::string shard_dir = std::string(dir) + "/shard-0";
  ASSERT_EQ(mkdir(shard_dir.c_str(), 0755), 0);
  const std::string path = shard_dir + "/wal-00000000000000000001.log";
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(segment.data(), 1, segment.size(), f), segment.size());
  ASSERT_EQ(std::fclose(f), 0);

  Shard s;
  auto r = RecoverShard(config, 0, s.engine, s.rooms);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  std::remove(path.c_str());
  rmdir(shard_dir.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace seatlock
