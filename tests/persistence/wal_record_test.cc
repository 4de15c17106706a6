// Unit tests for WAL record encoding and RecordReader, on in-memory byte
// strings. One rule of wal_format.h per test.
#include "persistence/wal_record.h"

#include <gtest/gtest.h>

// Header-only XXH3, so tests can forge records whose checksum is right but
// whose header is not (the library links xxhash privately).
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "persistence/wal.pb.h"
#include "persistence/wal_format.h"

namespace seatlock::wal {

const char* ResultName(RecordReader::Result r) {
  switch (r) {
    case RecordReader::Result::kRecord:
      return "kRecord";
    case RecordReader::Result::kEof:
      return "kEof";
    case RecordReader::Result::kTruncated:
      return "kTruncated";
    case RecordReader::Result::kCorrupt:
      return "kCorrupt";
  }
  return "?";
}
void PrintTo(RecordReader::Result r, std::ostream* os) { *os << ResultName(r); }

namespace {

using Result = RecordReader::Result;

struct Input {
  RecordType type;
  std::string payload;
};

std::string Encode(const std::vector<Input>& records) {
  std::string out;
  for (const Input& in : records) AppendRecord(in.type, in.payload, &out);
  return out;
}

// Reads `data` to its end. Returns the records read and the final result.
struct ReadAll {
  std::vector<Record> records;
  Result end;
  uint64_t good;
  uint64_t bad;
};
ReadAll ReadEverything(std::string_view data) {
  RecordReader reader(data);
  ReadAll all;
  Record rec;
  while ((all.end = reader.Next(&rec)) == Result::kRecord) all.records.push_back(rec);
  all.good = reader.good_offset();
  all.bad = reader.bad_offset();
  return all;
}

// Rewrites the checksum of the record at `at` to match its (possibly edited)
// header and payload, so that only the edit itself is wrong.
void FixChecksum(std::string* data, size_t at, uint32_t length) {
  const uint64_t sum = XXH3_64bits(data->data() + at + 8, 8 + length);
  for (int i = 0; i < 8; ++i) (*data)[at + i] = static_cast<char>(sum >> (8 * i));
}

std::vector<Input> SomeRecords() {
  return {{RecordType::kFencing, "fence"},
          {RecordType::kConfirm, std::string(300, 'c')},
          {RecordType::kCancel, ""},
          {RecordType::kDefineEvent, "layout bytes"}};
}

// ---------------------------------------------------------------------------

TEST(WalRecordTest, EveryRecordTypeRoundTrips) {
  DefineEvent define;
  define.set_define_event_request(
      std::string("\x0a\x03"
                  "ev1\x00\xff",
                  7));

  Confirm confirm;
  confirm.set_booking_id(0x0100000000000001ull);
  confirm.set_hold_id(42);
  confirm.set_fencing_token(7);
  confirm.set_event_id("ev1");
  SeatPos* s = confirm.add_seats();
  s->set_section(1);
  s->set_seat(17);
  s = confirm.add_seats();
  s->set_section(1);
  s->set_seat(18);
  confirm.set_holder("alice");
  confirm.set_payment_ref("pay-9");
  confirm.set_idempotency_key("key-1");
  confirm.set_confirmed_ms(1'700'000'000'123);
  confirm.set_hold_lapsed(true);

  ConfirmRefused refused;
  refused.set_hold_id(43);
  refused.set_event_id("ev1");
  s = refused.add_seats();
  s->set_section(2);
  s->set_seat(3);
  *refused.add_taken() = *s;
  refused.set_holder("bob");
  refused.set_payment_ref("pay-10");
  refused.set_idempotency_key("key-2");
  refused.set_refused_ms(1'700'000'000'456);

  Cancel cancel;
  cancel.set_booking_id(0x0100000000000001ull);
  cancel.set_cancelled_ms(1'700'000'000'789);

  Fencing fencing;
  fencing.set_high_water(1'000'000);

  RoomRecord room;
  room.set_event_id("ev1");
  room.mutable_admit()->add_numbers(7);
  room.mutable_admit()->add_secrets(0x0123456789abcdefull);
  room.mutable_admit()->add_secrets(0xfedcba9876543210ull);
  room.mutable_admit()->add_expires_ms(1'700'000'060'000);
  room.mutable_admit()->set_admitted_ms(1'700'000'000'000);

  DeleteEvent del;
  del.set_event_id("ev1");
  del.set_deleted_ms(1'700'000'000'999);
  del.set_force(true);
  Epoch epoch;
  epoch.set_epoch(42);
  epoch.set_node_id("node-b");
  epoch.set_at_ms(1'700'000'001'000);

  const std::vector<Input> inputs = {
      {RecordType::kDefineEvent, define.SerializeAsString()},
      {RecordType::kConfirm, confirm.SerializeAsString()},
      {RecordType::kConfirmRefused, refused.SerializeAsString()},
      {RecordType::kCancel, cancel.SerializeAsString()},
      {RecordType::kFencing, fencing.SerializeAsString()},
      {RecordType::kRoom, room.SerializeAsString()},
      {RecordType::kDeleteEvent, del.SerializeAsString()},
      {RecordType::kEpoch, epoch.SerializeAsString()},
  };
  ASSERT_EQ(inputs.size(), kMaxRecordType);
  const std::string data = Encode(inputs);

  const ReadAll all = ReadEverything(data);
  EXPECT_EQ(all.end, Result::kEof);
  EXPECT_EQ(all.good, data.size());
  ASSERT_EQ(all.records.size(), inputs.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(all.records[i].type, inputs[i].type);
    EXPECT_EQ(all.records[i].payload, inputs[i].payload);
    EXPECT_EQ(all.records[i].offset, offset);
    offset += kHeaderBytes + inputs[i].payload.size();
  }

  DefineEvent define2;
  Confirm confirm2;
  ConfirmRefused refused2;
  Cancel cancel2;
  Fencing fencing2;
  RoomRecord room2;
  ASSERT_TRUE(room2.ParseFromArray(all.records[5].payload.data(),
                                   static_cast<int>(all.records[5].payload.size())));
  EXPECT_EQ(room2.DebugString(), room.DebugString());
  ASSERT_TRUE(define2.ParseFromArray(all.records[0].payload.data(),
                                     static_cast<int>(all.records[0].payload.size())));
  ASSERT_TRUE(confirm2.ParseFromArray(all.records[1].payload.data(),
                                      static_cast<int>(all.records[1].payload.size())));
  ASSERT_TRUE(refused2.ParseFromArray(all.records[2].payload.data(),
                                      static_cast<int>(all.records[2].payload.size())));
  ASSERT_TRUE(cancel2.ParseFromArray(all.records[3].payload.data(),
                                     static_cast<int>(all.records[3].payload.size())));
  ASSERT_TRUE(fencing2.ParseFromArray(all.records[4].payload.data(),
                                      static_cast<int>(all.records[4].payload.size())));
  EXPECT_EQ(define2.DebugString(), define.DebugString());
  EXPECT_EQ(confirm2.DebugString(), confirm.DebugString());
  EXPECT_EQ(refused2.DebugString(), refused.DebugString());
  EXPECT_EQ(cancel2.DebugString(), cancel.DebugString());
  EXPECT_EQ(fencing2.DebugString(), fencing.DebugString());
  EXPECT_TRUE(confirm2.hold_lapsed());
  EXPECT_EQ(confirm2.seats(1).seat(), 18u);
}

TEST(WalRecordTest, HeaderIsLittleEndianLengthTypeAndZeroReserved) {
  std::string data;
  AppendRecord(RecordType::kConfirmRefused, "abc", &data);
  ASSERT_EQ(data.size(), kHeaderBytes + 3);
  EXPECT_EQ(data.substr(8, 8), std::string("\x03\x00\x00\x00\x03\x00\x00\x00", 8));
  EXPECT_EQ(data.substr(16), "abc");
  const uint64_t sum = XXH3_64bits(data.data() + 8, 8 + 3);
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) stored |= uint64_t{static_cast<uint8_t>(data[i])} << (8 * i);
  EXPECT_EQ(stored, sum);
}

TEST(WalRecordTest, AppendKeepsWhatIsAlreadyInTheBuffer) {
  std::string data = "prefix";
  AppendRecord(RecordType::kFencing, "x", &data);
  EXPECT_EQ(data.substr(0, 6), "prefix");
  const ReadAll all = ReadEverything(std::string_view(data).substr(6));
  ASSERT_EQ(all.records.size(), 1u);
  EXPECT_EQ(all.records[0].payload, "x");
}

TEST(WalRecordTest, EmptyInputIsEof) {
  const ReadAll all = ReadEverything("");
  EXPECT_EQ(all.end, Result::kEof);
  EXPECT_TRUE(all.records.empty());
  EXPECT_EQ(all.good, 0u);
}

TEST(WalRecordTest, EmptyAndMaximumPayloadsRoundTrip) {
  const std::string big(kMaxPayloadBytes, 'm');
  const std::string data = Encode({{RecordType::kCancel, ""}, {RecordType::kDefineEvent, big}});
  const ReadAll all = ReadEverything(data);
  EXPECT_EQ(all.end, Result::kEof);
  ASSERT_EQ(all.records.size(), 2u);
  EXPECT_EQ(all.records[0].payload, "");
  EXPECT_EQ(all.records[1].payload.size(), big.size());
  EXPECT_EQ(all.records[1].payload, big);
}

TEST(WalRecordTest, ChecksumMismatchIsCorrupt) {
  const std::vector<Input> inputs = SomeRecords();
  const std::string clean = Encode(inputs);
  const size_t second = kHeaderBytes + inputs[0].payload.size();
  const size_t second_end = second + kHeaderBytes + inputs[1].payload.size();
  // A flipped bit in the stored checksum or in the payload of the second record.
  std::vector<size_t> positions;
  for (size_t i = second; i < second + 8; ++i) positions.push_back(i);
  for (size_t i = second + kHeaderBytes; i < second_end; ++i) positions.push_back(i);
  for (size_t pos : positions) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string data = clean;
      data[pos] = static_cast<char>(data[pos] ^ (1 << bit));
      const ReadAll all = ReadEverything(data);
      ASSERT_EQ(all.end, Result::kCorrupt) << "byte " << pos << " bit " << bit;
      ASSERT_EQ(all.records.size(), 1u);
      EXPECT_EQ(all.good, second);
      EXPECT_EQ(all.bad, second);
    }
  }
}

TEST(WalRecordTest, EveryBitFlipIsDetected) {
  // Wherever one bit of a record flips (header included), that record is
  // never returned, and nothing before it is lost.
  const std::vector<Input> inputs = SomeRecords();
  const std::string clean = Encode(inputs);
  const size_t second = kHeaderBytes + inputs[0].payload.size();
  const size_t second_end = second + kHeaderBytes + inputs[1].payload.size();
  for (size_t pos = second; pos < second_end; ++pos) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string data = clean;
      data[pos] = static_cast<char>(data[pos] ^ (1 << bit));
      const ReadAll all = ReadEverything(data);
      ASSERT_NE(all.end, Result::kEof) << "byte " << pos << " bit " << bit;
      ASSERT_EQ(all.records.size(), 1u) << "byte " << pos << " bit " << bit;
      EXPECT_EQ(all.good, second);
    }
  }
}

TEST(WalRecordTest, UnknownTypeIsCorrupt) {
  for (int type : {0, kMaxRecordType + 1, 0x80, 0xff}) {
    std::string data = Encode({{RecordType::kFencing, "a"}, {RecordType::kFencing, "b"}});
    const size_t second = kHeaderBytes + 1;
    data[second + 12] = static_cast<char>(type);
    FixChecksum(&data, second, 1);
    const ReadAll all = ReadEverything(data);
    EXPECT_EQ(all.end, Result::kCorrupt) << "type " << type;
    EXPECT_EQ(all.records.size(), 1u);
    EXPECT_EQ(all.good, second);
  }
}

TEST(WalRecordTest, NonzeroReservedIsCorrupt) {
  for (size_t i = 13; i < 16; ++i) {
    std::string data = Encode({{RecordType::kCancel, "payload"}});
    data[i] = 1;
    FixChecksum(&data, 0, 7);
    const ReadAll all = ReadEverything(data);
    EXPECT_EQ(all.end, Result::kCorrupt) << "reserved byte " << i;
    EXPECT_TRUE(all.records.empty());
    EXPECT_EQ(all.good, 0u);
  }
}

TEST(WalRecordTest, LengthOverMaximumIsCorruptNotTruncated) {
  // A header claiming more than kMaxPayloadBytes is garbage, even though the
  // input also ends before such a payload could.
  std::string data = Encode({{RecordType::kConfirm, "x"}});
  const uint32_t bad = kMaxPayloadBytes + 1;
  for (int i = 0; i < 4; ++i) data[8 + i] = static_cast<char>(bad >> (8 * i));
  const ReadAll all = ReadEverything(data);
  EXPECT_EQ(all.end, Result::kCorrupt);
  EXPECT_EQ(all.good, 0u);
}

TEST(WalRecordTest, TruncationAtEveryByteOfLastRecordIsTruncated) {
  const std::vector<Input> inputs = SomeRecords();
  const std::string full = Encode(inputs);
  const size_t last_len = kHeaderBytes + inputs.back().payload.size();
  const size_t last = full.size() - last_len;
  for (size_t cut = last + 1; cut < full.size(); ++cut) {
    const ReadAll all = ReadEverything(std::string_view(full).substr(0, cut));
    ASSERT_EQ(all.end, Result::kTruncated) << "cut at " << cut;
    ASSERT_EQ(all.records.size(), inputs.size() - 1) << "cut at " << cut;
    for (size_t i = 0; i + 1 < inputs.size(); ++i) {
      EXPECT_EQ(all.records[i].payload, inputs[i].payload);
    }
    EXPECT_EQ(all.good, last);
    EXPECT_EQ(all.bad, last);
  }
  // Cut exactly at the record boundary: a clean end.
  const ReadAll at_boundary = ReadEverything(std::string_view(full).substr(0, last));
  EXPECT_EQ(at_boundary.end, Result::kEof);
  EXPECT_EQ(at_boundary.records.size(), inputs.size() - 1);
}

TEST(WalRecordTest, ZeroFilledTailIsNotARecord) {
  // The checksum of an all-zero header is not zero, and type 0 is unknown.
  const char zeros[8] = {};
  ASSERT_NE(XXH3_64bits(zeros, 8), 0u);

  const std::vector<Input> inputs = SomeRecords();
  const std::string clean = Encode(inputs);
  for (size_t n : {1, 7, 15, 16, 17, 64, 4096, 65536}) {
    const std::string data = clean + std::string(n, '\0');
    const ReadAll all = ReadEverything(data);
    EXPECT_EQ(all.end, n < kHeaderBytes ? Result::kTruncated : Result::kCorrupt) << n;
    EXPECT_EQ(all.records.size(), inputs.size()) << n;
    EXPECT_EQ(all.good, clean.size()) << n;
  }
}

TEST(WalRecordTest, RandomGarbageAfterRecordsIsNeverARecord) {
  const uint32_t seed = 20261128;
  std::mt19937 rng(seed);
  const std::vector<Input> inputs = SomeRecords();
  const std::string clean = Encode(inputs);
  for (int round = 0; round < 20000; ++round) {
    std::string data = clean;
    const size_t n = 1 + rng() % 64;
    for (size_t i = 0; i < n; ++i) data.push_back(static_cast<char>(rng()));
    const ReadAll all = ReadEverything(data);
    ASSERT_NE(all.end, Result::kEof) << "seed " << seed << " round " << round;
    ASSERT_EQ(all.records.size(), inputs.size()) << "seed " << seed << " round " << round;
    ASSERT_EQ(all.good, clean.size());
  }
}

TEST(WalRecordTest, ReaderKeepsAnsweringTheSameAfterAnError) {
  std::string data = Encode(SomeRecords());
  data.push_back('\x01');
  RecordReader reader(data);
  Record rec;
  int records = 0;
  Result r;
  while ((r = reader.Next(&rec)) == Result::kRecord) ++records;
  EXPECT_EQ(r, Result::kTruncated);
  const uint64_t good = reader.good_offset();
  EXPECT_EQ(reader.Next(&rec), Result::kTruncated);
  EXPECT_EQ(reader.Next(&rec), Result::kTruncated);
  EXPECT_EQ(reader.good_offset(), good);
  EXPECT_EQ(records, 4);
}

TEST(WalRecordDeathTest, OversizedPayloadIsRefusedAtTheWriter) {
  std::string out;
  const std::string big(kMaxPayloadBytes + 1, 'x');
  EXPECT_DEATH(AppendRecord(RecordType::kConfirm, big, &out), "bad record");
}

}  // namespace
}  // namespace seatlock::wal
