// Tests for WalDir: segment files, rolling, recovery, repair, and simulated
// power loss. Each test works in its own temporary directory under /tmp,
// removed afterwards.
#include "persistence/wal_log.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "persistence/wal_format.h"
#include "persistence/wal_record.h"

namespace seatlock::wal {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------
// Helpers

std::string ReadWhole(const std::string& path) {
  std::string out;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

void WriteWhole(const std::string& path, const std::string& data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(std::fwrite(data.data(), 1, data.size(), f), data.size());
  std::fclose(f);
}

void AppendToFile(const std::string& path, const std::string& data) {
  WriteWhole(path, ReadWhole(path) + data);
}

uint64_t FileSize(const std::string& path) { return fs::file_size(path); }

std::string SegmentPath(const std::string& dir, uint64_t first_lsn) {
  char name[64];
  std::snprintf(name, sizeof(name), "wal-%020" PRIu64 ".log", first_lsn);
  return dir + "/" + name;
}

std::string PayloadFor(uint64_t lsn, size_t size = 20) {
  std::string p = "rec-" + std::to_string(lsn) + ":";
  while (p.size() < size) p.push_back(static_cast<char>('a' + (p.size() + lsn) % 26));
  p.resize(std::max(size, p.size()));
  return p;
}

struct Replayed {
  uint64_t lsn;
  RecordType type;
  std::string payload;
};

struct Recovered {
  RecoveryReport report;
  std::vector<Replayed> records;
};

absl::StatusOr<Recovered> RecoverAll(WalDir* wal, bool repair = false) {
  Recovered out;
  absl::StatusOr<RecoveryReport> report =
      wal->Recover(repair, [&](uint64_t lsn, const Record& rec) {
        out.records.push_back({lsn, rec.type, std::string(rec.payload)});
      });
  if (!report.ok()) return report.status();
  out.report = *report;
  return out;
}

// Writes `payloads` as one group the way the shard does: one pwrite at
// offset(), one fdatasync, then Advance. Returns the next LSN.
uint64_t AppendGroup(WalDir* wal, uint64_t next_lsn, const std::vector<std::string>& payloads) {
  std::string buf;
  for (const std::string& p : payloads) AppendRecord(RecordType::kConfirm, p, &buf);
  const ssize_t n = ::pwrite(wal->fd(), buf.data(), buf.size(), static_cast<off_t>(wal->offset()));
  EXPECT_EQ(n, static_cast<ssize_t>(buf.size()));
  EXPECT_EQ(::fdatasync(wal->fd()), 0);
  next_lsn += payloads.size();
  const absl::Status s = wal->Advance(buf.size(), next_lsn);
  EXPECT_TRUE(s.ok()) << s;
  return next_lsn;
}

// Appends records one per group, for LSNs [next_lsn, next_lsn + count).
uint64_t AppendOneByOne(WalDir* wal, uint64_t next_lsn, int count, size_t size = 20) {
  for (int i = 0; i < count; ++i)
    next_lsn = AppendGroup(wal, next_lsn, {PayloadFor(next_lsn, size)});
  return next_lsn;
}

void ExpectLsns(const std::vector<Replayed>& records, uint64_t first, uint64_t end) {
  ASSERT_EQ(records.size(), end - first);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].lsn, first + i);
    EXPECT_EQ(records[i].payload, PayloadFor(first + i)) << "LSN " << first + i;
  }
}

class WalLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/seatlock_wal_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/data/shard-0";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  WalDir OpenOrDie(uint64_t segment_bytes = kDefaultSegmentBytes) {
    absl::StatusOr<WalDir> wal = WalDir::Open(dir_, segment_bytes);
    EXPECT_TRUE(wal.ok()) << wal.status();
    return std::move(*wal);
  }

  // Opens and recovers, failing the test on error.
  std::pair<WalDir, Recovered> Reopen(uint64_t segment_bytes = kDefaultSegmentBytes) {
    WalDir wal = OpenOrDie(segment_bytes);
    absl::StatusOr<Recovered> r = RecoverAll(&wal);
    EXPECT_TRUE(r.ok()) << r.status();
    return {std::move(wal), r.ok() ? *r : Recovered{}};
  }

  std::string root_;
  std::string dir_;
};

// ---------------------------------------------------------------------------

TEST_F(WalLogTest, OpenCreatesTheDirectoryWithParents) {
  ASSERT_FALSE(fs::exists(root_ + "/data"));
  auto [wal, rec] = Reopen();
  EXPECT_TRUE(fs::is_directory(dir_));
  EXPECT_EQ(wal.path(), dir_);
  EXPECT_EQ(rec.report.records, 0u);
  EXPECT_EQ(rec.report.next_lsn, 1u);
  EXPECT_EQ(rec.report.dropped_bytes, 0u);
  // A fresh log gets its first segment, named for LSN 1.
  EXPECT_THAT(wal.SegmentPaths(), ::testing::ElementsAre(SegmentPath(dir_, 1)));
  EXPECT_GE(wal.fd(), 0);
  EXPECT_EQ(wal.offset(), 0u);
}

TEST_F(WalLogTest, OpenRefusesAFileWhereTheDirectoryShouldBe) {
  fs::create_directories(root_ + "/data");
  WriteWhole(dir_, "not a directory");
  EXPECT_FALSE(WalDir::Open(dir_, kDefaultSegmentBytes).ok());
}

TEST_F(WalLogTest, RecoverTwiceIsRefused) {
  WalDir wal = OpenOrDie();
  ASSERT_TRUE(RecoverAll(&wal).ok());
  EXPECT_EQ(RecoverAll(&wal).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(WalLogTest, FilesThatAreNotSegmentsAreIgnored) {
  fs::create_directories(dir_);
  WriteWhole(dir_ + "/wal-1.log", "x");
  WriteWhole(dir_ + "/wal-0000000000000000000x.log", "x");
  WriteWhole(dir_ + "/snapshot.tmp", "x");
  auto [wal, rec] = Reopen();
  EXPECT_EQ(rec.report.records, 0u);
  EXPECT_EQ(rec.report.segments, 0u);
  EXPECT_EQ(wal.SegmentPaths().size(), 1u);
}

TEST_F(WalLogTest, AppendAfterRecoveryContinues) {
  uint64_t next = 1;
  {
    auto [wal, rec] = Reopen();
    next = AppendOneByOne(&wal, rec.report.next_lsn, 5);
    next = AppendGroup(&wal, next, {PayloadFor(6), PayloadFor(7), PayloadFor(8)});
  }
  {
    auto [wal, rec] = Reopen();
    EXPECT_EQ(rec.report.next_lsn, 9u);
    EXPECT_EQ(rec.report.records, 8u);
    EXPECT_EQ(rec.report.segments, 1u);
    EXPECT_EQ(rec.report.bytes, 8 * (kHeaderBytes + 20));
    ExpectLsns(rec.records, 1, 9);
    EXPECT_EQ(wal.offset(), FileSize(SegmentPath(dir_, 1)));
    next = AppendOneByOne(&wal, rec.report.next_lsn, 4);
  }
  auto [wal, rec] = Reopen();
  EXPECT_EQ(rec.report.next_lsn, next);
  ExpectLsns(rec.records, 1, 13);
  EXPECT_EQ(rec.records[0].type, RecordType::kConfirm);
  EXPECT_EQ(wal.SegmentPaths().size(), 1u);
}

// The startup fencing record is written with AppendSync, before the event
// loop exists; appends after it (through the loop) continue after its LSN.
TEST_F(WalLogTest, AppendSyncRecordIsRecoveredAndTheNextAppendContinuesAfterIt) {
  {
    auto [wal, rec] = Reopen();
    EXPECT_EQ(wal.next_lsn(), 1u);
    const uint64_t next = AppendOneByOne(&wal, 1, 3);
    EXPECT_EQ(wal.next_lsn(), next);
    const uint64_t before = wal.offset();
    absl::StatusOr<uint64_t> lsn = wal.AppendSync(RecordType::kFencing, "fence", /*sync=*/true);
    ASSERT_TRUE(lsn.ok()) << lsn.status();
    EXPECT_EQ(*lsn, 4u);
    EXPECT_EQ(wal.next_lsn(), 5u);
    EXPECT_EQ(wal.offset(), before + kHeaderBytes + 5);
    AppendGroup(&wal, wal.next_lsn(), {PayloadFor(5)});
    EXPECT_EQ(wal.next_lsn(), 6u);
  }
  auto [wal, rec] = Reopen();
  EXPECT_EQ(rec.report.next_lsn, 6u);
  EXPECT_EQ(wal.next_lsn(), 6u);
  ASSERT_EQ(rec.records.size(), 5u);
  for (uint64_t i = 0; i < 5; ++i) EXPECT_EQ(rec.records[i].lsn, i + 1);
  EXPECT_EQ(rec.records[3].type, RecordType::kFencing);
  EXPECT_EQ(rec.records[3].payload, "fence");
  EXPECT_EQ(rec.records[4].type, RecordType::kConfirm);
  EXPECT_EQ(rec.records[4].payload, PayloadFor(5));
  EXPECT_EQ(wal.offset(), FileSize(SegmentPath(dir_, 1)));
}

TEST_F(WalLogTest, AppendSyncOnAFreshLogGetsLsn1AndEachCallTheNext) {
  {
    auto [wal, rec] = Reopen();
    for (uint64_t want = 1; want <= 3; ++want) {
      absl::StatusOr<uint64_t> lsn = wal.AppendSync(RecordType::kConfirm, PayloadFor(want),
                                                    /*sync=*/want % 2 == 1);
      ASSERT_TRUE(lsn.ok()) << lsn.status();
      EXPECT_EQ(*lsn, want);
    }
  }
  auto [wal, rec] = Reopen();
  ExpectLsns(rec.records, 1, 4);
}

TEST_F(WalLogTest, AppendSyncRollsToASegmentNamedForTheNextLsn) {
  // 16 + 20 = 36-byte records; a 100-byte segment takes three.
  constexpr uint64_t kSegment = 100;
  {
    auto [wal, rec] = Reopen(kSegment);
    for (uint64_t lsn = 1; lsn <= 4; ++lsn) {
      ASSERT_TRUE(wal.AppendSync(RecordType::kConfirm, PayloadFor(lsn), true).ok());
    }
    EXPECT_EQ(wal.offset(), 36u);
  }
  auto [wal, rec] = Reopen(kSegment);
  EXPECT_EQ(wal.SegmentPaths(),
            (std::vector<std::string>{SegmentPath(dir_, 1), SegmentPath(dir_, 4)}));
  ExpectLsns(rec.records, 1, 5);
}

TEST_F(WalLogTest, AppendSyncBeforeRecoverIsRefused) {
  WalDir wal = OpenOrDie();
  EXPECT_EQ(wal.AppendSync(RecordType::kFencing, "fence", true).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(WalLogTest, RollsAtSegmentSize) {
  // Each record is 16 + 20 = 36 bytes; a 100-byte segment takes three.
  constexpr uint64_t kSegment = 100;
  {
    auto [wal, rec] = Reopen(kSegment);
    AppendOneByOne(&wal, 1, 7);
    // 1-3 | 4-6 | 7 (open, 36 bytes)
    EXPECT_EQ(wal.offset(), 36u);
  }
  const std::vector<std::string> expect = {SegmentPath(dir_, 1), SegmentPath(dir_, 4),
                                           SegmentPath(dir_, 7)};
  auto [wal, rec] = Reopen(kSegment);
  EXPECT_EQ(wal.SegmentPaths(), expect);
  EXPECT_EQ(FileSize(expect[0]), 108u);
  EXPECT_EQ(FileSize(expect[1]), 108u);
  EXPECT_EQ(FileSize(expect[2]), 36u);
  EXPECT_EQ(rec.report.segments, 3u);
  ExpectLsns(rec.records, 1, 8);
  // Recovery appends to the last segment while it has room...
  EXPECT_EQ(wal.offset(), 36u);
  AppendOneByOne(&wal, 8, 2);
  EXPECT_EQ(wal.offset(), 0u);  // 7-9 filled it; the roll made wal-10
  EXPECT_EQ(wal.SegmentPaths().back(), SegmentPath(dir_, 10));
}

TEST_F(WalLogTest, RecoveryStartsANewSegmentWhenTheLastIsFull) {
  constexpr uint64_t kSegment = 100;
  {
    auto [wal, rec] = Reopen(kSegment);
    AppendOneByOne(&wal, 1, 2);
  }
  // Reopened with a smaller segment size, the last segment is already full.
  auto [wal, rec] = Reopen(50);
  EXPECT_EQ(rec.report.next_lsn, 3u);
  EXPECT_EQ(wal.offset(), 0u);
  EXPECT_EQ(wal.SegmentPaths(),
            (std::vector<std::string>{SegmentPath(dir_, 1), SegmentPath(dir_, 3)}));
}

TEST_F(WalLogTest, LsnsContinueAcrossSegmentsAndAfterDropBefore) {
  constexpr uint64_t kSegment = 100;  // three records per segment
  {
    auto [wal, rec] = Reopen(kSegment);
    AppendOneByOne(&wal, 1, 10);  // 1-3 | 4-6 | 7-9 | 10 (open)
    // Segments holding only LSNs < 5: just wal-1 (wal-4 still holds 5 and 6).
    ASSERT_TRUE(wal.DropBefore(5).ok());
    EXPECT_EQ(wal.SegmentPaths().front(), SegmentPath(dir_, 4));
  }
  {
    auto [wal, rec] = Reopen(kSegment);
    EXPECT_EQ(rec.report.segments, 3u);
    ExpectLsns(rec.records, 4, 11);
    EXPECT_EQ(rec.report.next_lsn, 11u);
    // Dropping everything keeps the open segment, whose name carries the LSNs on.
    ASSERT_TRUE(wal.DropBefore(1000).ok());
    EXPECT_EQ(wal.SegmentPaths(), std::vector<std::string>{SegmentPath(dir_, 10)});
    AppendOneByOne(&wal, 11, 1);
  }
  {
    auto [wal, rec] = Reopen(kSegment);
    ExpectLsns(rec.records, 10, 12);
    AppendOneByOne(&wal, 12, 3);  // 10-12 | 13-14
    ASSERT_TRUE(wal.DropBefore(13).ok());
    ASSERT_EQ(wal.SegmentPaths(), std::vector<std::string>{SegmentPath(dir_, 13)});
  }
  // Even with an empty open segment left, the next LSN survives a restart.
  {
    auto [wal, rec] = Reopen(kSegment);
    ExpectLsns(rec.records, 13, 15);
    EXPECT_EQ(rec.report.next_lsn, 15u);
  }
}

TEST_F(WalLogTest, DropBeforeKeepsTheSegmentHoldingTheLsn) {
  constexpr uint64_t kSegment = 100;
  auto [wal, rec] = Reopen(kSegment);
  AppendOneByOne(&wal, 1, 7);           // 1-3 | 4-6 | 7
  ASSERT_TRUE(wal.DropBefore(4).ok());  // all of wal-1 is < 4
  EXPECT_EQ(wal.SegmentPaths().front(), SegmentPath(dir_, 4));
  ASSERT_TRUE(wal.DropBefore(6).ok());  // wal-4 still holds 6
  EXPECT_EQ(wal.SegmentPaths().front(), SegmentPath(dir_, 4));
  ASSERT_TRUE(wal.DropBefore(1).ok());
  EXPECT_EQ(wal.SegmentPaths().size(), 2u);
}

TEST_F(WalLogTest, GarbageAfterTailIsCut) {
  {
    auto [wal, rec] = Reopen();
    AppendOneByOne(&wal, 1, 3);
  }
  const std::string seg = SegmentPath(dir_, 1);
  const uint64_t good = FileSize(seg);
  AppendToFile(seg, "this is not a record at all, just garbage");
  {
    auto [wal, rec] = Reopen();
    ExpectLsns(rec.records, 1, 4);
    EXPECT_EQ(rec.report.dropped_bytes, 41u);
    EXPECT_EQ(rec.report.dropped_where, seg + ":" + std::to_string(good));
    EXPECT_EQ(FileSize(seg), good);
    EXPECT_EQ(wal.offset(), good);
    AppendOneByOne(&wal, 4, 1);
  }
  auto [wal, rec] = Reopen();
  ExpectLsns(rec.records, 1, 5);
  EXPECT_EQ(rec.report.dropped_bytes, 0u);
  EXPECT_EQ(rec.report.dropped_where, "");
}

TEST_F(WalLogTest, TornLastRecordIsCut) {
  {
    auto [wal, rec] = Reopen();
    AppendOneByOne(&wal, 1, 3);
  }
  const std::string seg = SegmentPath(dir_, 1);
  const std::string whole = ReadWhole(seg);
  const uint64_t record = kHeaderBytes + 20;
  // Every cut inside the third record.
  for (uint64_t cut = 2 * record + 1; cut < 3 * record; ++cut) {
    WriteWhole(seg, whole.substr(0, cut));
    auto [wal, rec] = Reopen();
    ASSERT_EQ(rec.records.size(), 2u) << "cut " << cut;
    EXPECT_EQ(rec.report.next_lsn, 3u);
    EXPECT_EQ(rec.report.dropped_bytes, cut - 2 * record);
    EXPECT_EQ(rec.report.dropped_where, seg + ":" + std::to_string(2 * record));
    EXPECT_EQ(FileSize(seg), 2 * record);
  }
}

TEST_F(WalLogTest, ZeroFilledTailIsNotARecord) {
  {
    auto [wal, rec] = Reopen();
    AppendOneByOne(&wal, 1, 2);
  }
  const std::string seg = SegmentPath(dir_, 1);
  const uint64_t good = FileSize(seg);
  AppendToFile(seg, std::string(4096, '\0'));
  auto [wal, rec] = Reopen();
  ExpectLsns(rec.records, 1, 3);
  EXPECT_EQ(rec.report.dropped_bytes, 4096u);
  EXPECT_EQ(FileSize(seg), good);
}

// Three segments of three records each, then an open one: 1-3 | 4-6 | 7-9 | 10.
class DamagedLogTest : public WalLogTest {
 protected:
  static constexpr uint64_t kSegment = 100;
  static constexpr uint64_t kRecord = kHeaderBytes + 20;
  void SetUp() override {
    WalLogTest::SetUp();
    auto [wal, rec] = Reopen(kSegment);
    AppendOneByOne(&wal, 1, 10);
  }
};

TEST_F(DamagedLogTest, CorruptionInEarlierSegmentRefusesWithFileAndOffset) {
  const std::string seg = SegmentPath(dir_, 4);
  std::string data = ReadWhole(seg);
  data[kRecord + kHeaderBytes + 3] ^= 0x10;  // payload of LSN 5
  WriteWhole(seg, data);
  const std::vector<std::string> before = OpenOrDie(kSegment).SegmentPaths();

  WalDir wal = OpenOrDie(kSegment);
  absl::StatusOr<Recovered> rec = RecoverAll(&wal);
  ASSERT_FALSE(rec.ok());
  EXPECT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  const std::string msg(rec.status().message());
  EXPECT_THAT(msg, HasSubstr(seg + ":" + std::to_string(kRecord)));
  EXPECT_THAT(msg, HasSubstr("--wal-repair"));
  EXPECT_THAT(msg, HasSubstr("LSN 5"));
  // Nothing was cut.
  EXPECT_EQ(OpenOrDie(kSegment).SegmentPaths(), before);
  EXPECT_EQ(ReadWhole(seg), data);
}

TEST_F(DamagedLogTest, TruncatedEarlierSegmentRefuses) {
  const std::string seg = SegmentPath(dir_, 4);
  ASSERT_EQ(::truncate(seg.c_str(), kRecord + 5), 0);
  WalDir wal = OpenOrDie(kSegment);
  absl::StatusOr<Recovered> rec = RecoverAll(&wal);
  ASSERT_FALSE(rec.ok());
  EXPECT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rec.status().message()), HasSubstr(seg + ":" + std::to_string(kRecord)));
}

TEST_F(DamagedLogTest, MissingMiddleSegmentRefuses) {
  ASSERT_TRUE(fs::remove(SegmentPath(dir_, 4)));
  WalDir wal = OpenOrDie(kSegment);
  absl::StatusOr<Recovered> rec = RecoverAll(&wal);
  ASSERT_FALSE(rec.ok());
  EXPECT_EQ(rec.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(rec.status().message()), HasSubstr(SegmentPath(dir_, 7) + ":0"));
}

TEST_F(DamagedLogTest, MisnamedLastSegmentRefuses) {
  // A crash cannot make a gap, even before the last segment: refuse.
  fs::rename(SegmentPath(dir_, 10), SegmentPath(dir_, 12));
  WalDir wal = OpenOrDie(kSegment);
  EXPECT_EQ(RecoverAll(&wal).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(DamagedLogTest, RepairCutsTheLogAtTheDamage) {
  const std::string seg = SegmentPath(dir_, 4);
  std::string data = ReadWhole(seg);
  data[kRecord + kHeaderBytes + 3] ^= 0x10;  // payload of LSN 5
  WriteWhole(seg, data);
  const uint64_t later = FileSize(SegmentPath(dir_, 7)) + FileSize(SegmentPath(dir_, 10));
  {
    WalDir wal = OpenOrDie(kSegment);
    absl::StatusOr<Recovered> rec = RecoverAll(&wal, /*repair=*/true);
    ASSERT_TRUE(rec.ok()) << rec.status();
    ExpectLsns(rec->records, 1, 5);
    EXPECT_EQ(rec->report.next_lsn, 5u);
    EXPECT_EQ(rec->report.dropped_where, seg + ":" + std::to_string(kRecord));
    EXPECT_EQ(rec->report.dropped_bytes, (data.size() - kRecord) + later);
    EXPECT_EQ(FileSize(seg), kRecord);
    EXPECT_EQ(wal.SegmentPaths(),
              (std::vector<std::string>{SegmentPath(dir_, 1), SegmentPath(dir_, 4)}));
    EXPECT_EQ(wal.offset(), kRecord);
    AppendOneByOne(&wal, 5, 3);  // 4-6 | 7 (open)
  }
  // The repaired log is clean, and appends after the repair are kept.
  auto [wal, rec] = Reopen(kSegment);
  EXPECT_EQ(rec.report.dropped_bytes, 0u);
  ExpectLsns(rec.records, 1, 8);
}

TEST_F(DamagedLogTest, RepairDropsAMisnamedSegment) {
  ASSERT_TRUE(fs::remove(SegmentPath(dir_, 4)));
  WalDir wal = OpenOrDie(kSegment);
  absl::StatusOr<Recovered> rec = RecoverAll(&wal, /*repair=*/true);
  ASSERT_TRUE(rec.ok()) << rec.status();
  ExpectLsns(rec->records, 1, 4);
  EXPECT_EQ(rec->report.dropped_where, SegmentPath(dir_, 7) + ":0");
  EXPECT_EQ(rec->report.dropped_bytes, 3 * kRecord + kRecord);
  // wal-1 is full, so appends go to a new segment named for LSN 4.
  EXPECT_EQ(wal.SegmentPaths(),
            (std::vector<std::string>{SegmentPath(dir_, 1), SegmentPath(dir_, 4)}));
  EXPECT_EQ(wal.offset(), 0u);
}

// ---------------------------------------------------------------------------
// Simulated power loss.
//
// PowerLossFile models what a crash leaves of the open segment: bytes up to
// the last "fsync" survive; of the bytes written since, a random prefix
// survives (the page cache wrote some of them back), optionally followed by
// junk (a torn sector, or blocks allocated but never written, which read as
// zeros). Closed segments were synced before the roll, so they survive whole.
// The writer does real pwrites through WalDir's fd but no real fdatasync: the
// model, not the disk, decides what a crash keeps.
class PowerLossFile {
 public:
  void Reset(std::string path, uint64_t synced) {
    path_ = std::move(path);
    synced_ = synced;
    unsynced_ends_.clear();
  }
  void Wrote(uint64_t record_end) { unsynced_ends_.push_back(record_end); }
  void Synced(uint64_t end) {
    synced_ = end;
    unsynced_ends_.clear();
  }

  struct Crash {
    uint64_t whole_records_kept;  // unsynced records that survived whole
    uint64_t junk_bytes;          // bytes recovery must cut
  };
  // Rewrites the file as the crash left it.
  Crash CrashNow(std::mt19937_64& rng) {
    std::string data = ReadWhole(path_);
    const uint64_t written = data.size();
    Crash c{0, 0};
    uint64_t keep = synced_;
    if (written > synced_) keep += rng() % (written - synced_ + 1);
    data.resize(keep);
    uint64_t boundary = synced_;
    for (uint64_t end : unsynced_ends_) {
      if (end > keep) break;
      boundary = end;
      ++c.whole_records_kept;
    }
    c.junk_bytes = keep - boundary;
    switch (rng() % 4) {
      case 0: {  // random junk
        const uint64_t n = rng() % 100;
        for (uint64_t i = 0; i < n; ++i) data.push_back(static_cast<char>(rng()));
        c.junk_bytes += n;
        break;
      }
      case 1: {  // zeros
        const uint64_t n = rng() % 5000;
        data.append(n, '\0');
        c.junk_bytes += n;
        break;
      }
      default:
        break;
    }
    WriteWhole(path_, data);
    return c;
  }

 private:
  std::string path_;
  uint64_t synced_ = 0;
  std::vector<uint64_t> unsynced_ends_;
};

TEST_F(WalLogTest, PowerLossNeverLosesAnAcknowledgedRecord) {
  uint64_t seed = 0x5ea7'10c4'2026'1128ull;
  if (const char* env = std::getenv("SEATLOCK_WAL_SEED")) seed = std::strtoull(env, nullptr, 0);
  std::cout << "PowerLoss seed " << seed << " (set SEATLOCK_WAL_SEED to replay)\n";
  std::mt19937_64 rng(seed);
  constexpr uint64_t kSegment = 2048;
  constexpr int kCrashes = 400;

  std::vector<std::string> written;  // written[lsn - 1]: every record ever written
  uint64_t acked = 0;                // LSNs 1..acked were acknowledged
  uint64_t kept_from = 1;            // DropBefore never asked to drop LSNs >= this
  PowerLossFile file;
  uint64_t total_records = 0, total_dropped = 0;
  struct Expect {
    uint64_t next_lsn;
    uint64_t dropped_bytes;
  };
  std::optional<Expect> expect;  // what the last crash left

  for (int crash = 0; crash <= kCrashes; ++crash) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " crash " + std::to_string(crash));
    std::optional<WalDir> wal;
    {
      absl::StatusOr<WalDir> opened = WalDir::Open(dir_, kSegment);
      ASSERT_TRUE(opened.ok()) << opened.status();
      wal.emplace(std::move(*opened));
    }
    std::vector<std::pair<uint64_t, std::string>> got;
    absl::StatusOr<RecoveryReport> report = wal->Recover(
        false,
        [&](uint64_t lsn, const Record& rec) { got.emplace_back(lsn, std::string(rec.payload)); });
    ASSERT_TRUE(report.ok()) << report.status();

    // What came back is a prefix of what was written, from where dropping
    // stopped, including every acknowledged record, each one whole.
    const uint64_t first = got.empty() ? report->next_lsn : got.front().first;
    ASSERT_LE(first, kept_from);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].first, first + i);
      ASSERT_LE(got[i].first, written.size());
      ASSERT_EQ(got[i].second, written[got[i].first - 1]) << "LSN " << got[i].first;
    }
    ASSERT_EQ(report->next_lsn, first + got.size());
    ASSERT_GE(report->next_lsn, acked + 1);
    // And exactly what the crash left: no more, no less.
    if (expect) {
      EXPECT_EQ(report->next_lsn, expect->next_lsn);
      EXPECT_EQ(report->dropped_bytes, expect->dropped_bytes);
    }
    total_records += got.size();
    total_dropped += report->dropped_bytes;

    // Records that survived unacknowledged are now part of the log; the rest
    // are gone and their LSNs will be reused.
    written.resize(report->next_lsn - 1);
    acked = written.size();
    uint64_t next = report->next_lsn;
    if (crash == kCrashes) break;
    file.Reset(wal->SegmentPaths().back(), wal->offset());

    // Write groups until the crash. Each group: one pwrite, maybe a crash
    // before its fsync, else fsync, acknowledge, Advance.
    const int groups = 1 + static_cast<int>(rng() % 12);
    for (int g = 0;; ++g) {
      std::string buf;
      const int count = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < count; ++i) {
        std::string payload = "lsn " + std::to_string(next + i) + " ";
        const size_t extra = rng() % 8 == 0 ? rng() % 1500 : rng() % 120;
        for (size_t k = 0; k < extra; ++k) payload.push_back(static_cast<char>(rng()));
        AppendRecord(static_cast<RecordType>(1 + rng() % kMaxRecordType), payload, &buf);
        file.Wrote(wal->offset() + buf.size());
        written.push_back(std::move(payload));
      }
      ASSERT_EQ(::pwrite(wal->fd(), buf.data(), buf.size(), static_cast<off_t>(wal->offset())),
                static_cast<ssize_t>(buf.size()));
      if (g == groups) break;  // power fails before this group's fsync
      file.Synced(wal->offset() + buf.size());
      acked = written.size();  // the fsync completed: answer these confirms
      next += count;
      const uint64_t before = wal->offset();
      ASSERT_TRUE(wal->Advance(buf.size(), next).ok());
      if (wal->offset() < before + buf.size()) file.Reset(wal->SegmentPaths().back(), 0);
      if (rng() % 16 == 0) {  // a snapshot covered everything up to some LSN
        const uint64_t upto = 1 + rng() % acked;
        ASSERT_TRUE(wal->DropBefore(upto).ok());
        kept_from = std::max(kept_from, upto);
      }
    }
    wal.reset();  // the process dies
    const PowerLossFile::Crash c = file.CrashNow(rng);
    expect = Expect{acked + 1 + c.whole_records_kept, c.junk_bytes};
  }
  std::cout << "PowerLoss: " << kCrashes << " crashes, " << written.size()
            << " records in the final log, " << total_records << " records replayed, "
            << total_dropped << " bytes cut\n";
}

}  // namespace
}  // namespace seatlock::wal
