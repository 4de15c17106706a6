// wal_fuzzer: hostile bytes through recovery. The first input byte picks a
// mode; every mode must end in OK or a clear Status, never a crash, a hang or
// an unbounded allocation:
//  0  the bytes as a snapshot, in memory: wal::RecordReader + ApplyRecord
//     (server/wal_codec.h) into a fresh engine and rooms, as recovery reads a
//     snapshot. The state reached is then written as a snapshot again and
//     replayed into another engine: it must replay cleanly to the same state.
//  1  the bytes as the only log segment of a shard directory, through the
//     real RecoverShard (server/recovery.h); with --wal-repair or not.
//  2  the bytes as the shard's snapshot file (and an empty log), through
//     RecoverShard.
//     With bit 3 of the mode byte set, modes 0-2 read the rest of the input
//     as records (type, length, payload) and frame each with a valid
//     checksum first, so the payload decoders are reached.
//  3  a valid log of every record type (built once with the WAL codec, in
//     three segments) damaged by the input: bytes changed, a segment cut
//     short, garbage appended. Recovery must do exactly what docs/wal.md §6
//     says: replay every record before the first damage; cut a damaged last
//     segment there and start; refuse on damage before the last segment or
//     a misnamed segment, unless repairing, which cuts there instead.
//     The recovered state must equal the state of that prefix of the log.
// In the directory modes a successful recovery is run a second time on the
// same directory (what the next start does): it must succeed with the same
// state. The shard directory is under $TMPDIR (default /tmp; /dev/shm when
// writable, for speed). `wal_fuzzer --write-seeds=DIR` writes the seeds.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/clock.h"
#include "engine/seat_engine.h"
#include "engine/waiting_room.h"
#include "fuzz/fuzz_input.h"
#include "google/protobuf/stubs/logging.h"
#include "persistence/wal.pb.h"
#include "persistence/wal_record.h"
#include "protocol/seatlock.pb.h"
#include "server/config.h"
#include "server/engine_ops.h"
#include "server/recovery.h"
#include "server/rooms.h"
#include "server/wal_codec.h"

namespace seatlock::fuzz {
namespace {

constexpr int64_t kStart = 1'700'000'000'000;

EngineLimits Limits() {
  EngineLimits l;
  l.max_seats_per_event = 100'000;  // bounds what one DEFINE_EVENT record allocates
  return l;
}

// One engine + rooms, as a shard has them.
struct State {
  ManualClock clock{kStart};
  SeatEngine engine{SeatEngine::Options{.clock = &clock, .limits = Limits()}};
  Rooms rooms{0, 1, 0, &clock};
  uint64_t fencing_seen = 0;
};

// Everything a snapshot of `s` would hold (docs/wal.md §8), as one string;
// with a fencing mark of 0 when `fencing` is false.
std::string Encode(State& s, bool fencing = true) {
  std::string out;
  AppendStateHeader(s.engine, s.rooms, fencing ? s.engine.fencing_high_water() : 0, &out);
  s.rooms.AppendState(&out);
  for (size_t i = 0; i < s.engine.booking_count(); ++i) AppendSale(s.engine.BookingAt(i), &out);
  return out;
}

// Encode() in a canonical order, for comparing two states: the engine and
// the rooms write some records in hash-map order (refused confirms, room
// configs, rooms), which differs between two maps of the same contents. The
// records are stably sorted by type, then by event for ROOM records (whose
// order within an event matters and is kept), then by payload for the others
// of the unordered kinds.
std::string Canon(const std::string& encoded) {
  struct Rec {
    int type;
    std::string key;
    std::string_view bytes;
  };
  std::vector<Rec> recs;
  wal::RecordReader reader(encoded);
  wal::Record rec;
  while (reader.Next(&rec) == wal::RecordReader::Result::kRecord) {
    Rec r{static_cast<int>(rec.type), "",
          std::string_view(encoded).substr(rec.offset, 16 + rec.payload.size())};
    if (rec.type == wal::RecordType::kRoom) {
      wal::RoomRecord m;
      if (m.ParseFromArray(rec.payload.data(), static_cast<int>(rec.payload.size()))) {
        r.key = m.event_id();
      }
    } else if (rec.type == wal::RecordType::kConfirmRefused) {
      r.key = std::string(rec.payload);
    }
    recs.push_back(std::move(r));
  }
  std::stable_sort(recs.begin(), recs.end(), [](const Rec& a, const Rec& b) {
    return std::tie(a.type, a.key) < std::tie(b.type, b.key);
  });
  std::string out;
  for (const Rec& r : recs) out += r.bytes;
  return out;
}

// Replays `bytes` as a snapshot (recovery.cc ReplaySnapshot); returns the
// number of records applied, or -1 on the first error.
int64_t Replay(std::string_view bytes, State& s) {
  wal::RecordReader reader(bytes);
  wal::Record rec;
  int64_t n = 0;
  wal::RecordReader::Result r;
  while ((r = reader.Next(&rec)) == wal::RecordReader::Result::kRecord) {
    if (!ApplyRecord(s.engine, s.rooms, rec, &s.fencing_seen).ok()) return -1;
    ++n;
  }
  s.rooms.FinishRestore();
  return r == wal::RecordReader::Result::kEof ? n : -1;
}

// ---- the shard directory -----------------------------------------------

std::string& Base() {
  static std::string base;
  return base;
}
std::string ShardDir() { return Base() + "/shard-0"; }

void ClearShardDir() {
  DIR* d = opendir(ShardDir().c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      names.emplace_back(e->d_name);
    }
  }
  closedir(d);
  for (const std::string& n : names) unlink((ShardDir() + "/" + n).c_str());
}

void WriteFileOrDie(const std::string& path, std::string_view bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() ||
      std::fclose(f) != 0) {
    Fail("cannot write " + path);
  }
}

std::string SegmentName(uint64_t lsn) { return absl::StrFormat("wal-%020d.log", lsn); }

// RecoverShard with its log lines sent to /dev/null; *reserved is the block
// of fencing tokens it reserved.
absl::Status Recover(bool repair, State& s, uint64_t* reserved = nullptr) {
  static const int devnull = open("/dev/null", O_WRONLY);
  static const int saved = dup(2);
  ServerConfig config;
  config.data_dir = Base();
  config.fsync = false;
  config.wal_repair = repair;
  dup2(devnull, 2);
  auto r = RecoverShard(config, 0, s.engine, s.rooms);
  dup2(saved, 2);
  if (r.ok() && reserved != nullptr) *reserved = r->fencing_reserved;
  return r.status();
}

// Tokens the engine grants next must be above every token and mark it was
// given (SeatEngine::RaiseFencingFloor's contract).
void CheckFencing(State& s) {
  uint64_t top = s.fencing_seen;
  for (size_t i = 0; i < s.engine.booking_count(); ++i) {
    top = std::max(top, s.engine.BookingAt(i).fencing_token);
  }
  if (s.engine.fencing_high_water() < top) {
    Fail(absl::StrCat("replayed tokens up to ", top, " but the engine grants from ",
                      s.engine.fencing_high_water() + 1));
  }
}

// After a successful recovery, the next start must succeed to the same state,
// and reserve its fencing tokens above the first start's block.
void CheckRestart(State& first, uint64_t first_reserved) {
  State again;
  uint64_t reserved = 0;
  const absl::Status st = Recover(false, again, &reserved);
  if (!st.ok()) Fail(absl::StrCat("a second recovery fails: ", st.ToString()));
  if (reserved <= first_reserved) {
    Fail(absl::StrCat("the second start reserved fencing tokens up to ", reserved,
                      ", not above the first start's ", first_reserved));
  }
  // The first start reserved a block of tokens above what it had seen.
  if (again.engine.fencing_high_water() <= first.engine.fencing_high_water()) {
    Fail("the fencing mark did not grow across a restart");
  }
  if (Canon(Encode(again, false)) != Canon(Encode(first, false))) {
    Fail("a second recovery reaches another state");
  }
}

// ---- mode 3: a valid log, damaged ---------------------------------------

struct ValidLog {
  std::vector<std::string> records;           // each encoded record
  std::vector<std::string> segments;          // records 0-3, 4-8, 9-
  std::vector<uint64_t> first_lsn;            // per segment
  std::vector<std::vector<uint64_t>> starts;  // record offsets per segment
  std::vector<std::string> prefix_state;      // Encode() after the first k records
};

void Add(ValidLog& log, wal::RecordType type, const std::string& payload) {
  std::string rec;
  wal::AppendRecord(type, payload, &rec);
  log.records.push_back(std::move(rec));
}

wire::DefineEventRequest Layout() {
  wire::DefineEventRequest d;
  d.set_event_id("gig");
  wire::SectionLayout* a = d.add_sections();
  a->set_label("A");
  for (const char* row : {"A", "B"}) {
    wire::RowLayout* r = a->add_rows();
    r->set_label(row);
    r->set_seat_count(4);
  }
  wire::SectionLayout* b = d.add_sections();
  b->set_label("B");
  wire::RowLayout* r = b->add_rows();
  r->set_label("A");
  for (const char* seat : {"x", "y", "z"}) r->add_seat_labels(seat);
  return d;
}

const ValidLog& TheLog() {
  static const ValidLog* log = [] {
    auto* l = new ValidLog;
    // Real operations on an engine, logged as a shard logs them.
    State s;
    SeatEngine& e = s.engine;
    const wire::DefineEventRequest layout = Layout();
    e.DefineEvent(LayoutFromWire(layout));
    wal::DefineEvent def;
    def.set_define_event_request(layout.SerializeAsString());
    Add(*l, wal::RecordType::kDefineEvent, def.SerializeAsString());
    wal::Fencing f;
    f.set_high_water(1000);
    Add(*l, wal::RecordType::kFencing, f.SerializeAsString());
    const HoldResult h1 = e.Hold("gig", {{0, 0}, {0, 1}}, "alice", 60'000);
    e.Confirm(h1.hold_id, "alice", "k1", "pay-1");
    const HoldResult h2 = e.Hold("gig", {{0, 2}}, "bob", 1000);
    s.clock.AdvanceMs(2000);
    e.Hold("gig", {{0, 2}}, "carol", 60'000);
    e.Confirm(h2.hold_id, "bob", "k2", "pay-2");  // refused: the seat is taken
    const HoldResult h3 = e.Hold("gig", {{1, 0}, {1, 2}}, "dave", 60'000);
    e.Confirm(h3.hold_id, "dave", "k3", "");
    Add(*l, wal::RecordType::kConfirm, ConfirmRecordOf(e.BookingAt(0)).SerializeAsString());
    Add(*l, wal::RecordType::kConfirmRefused,
        RefusalRecordOf(e.Refusals().at(0)).SerializeAsString());
    Add(*l, wal::RecordType::kConfirm, ConfirmRecordOf(e.BookingAt(1)).SerializeAsString());
    e.CancelBooking(e.BookingAt(0).booking_id);
    wal::Cancel c;
    c.set_booking_id(e.BookingAt(0).booking_id);
    c.set_cancelled_ms(s.clock.NowMs());
    Add(*l, wal::RecordType::kCancel, c.SerializeAsString());
    // A waiting room: config, three joins, open, an admission, a leave.
    auto room = [&](auto fill) {
      wal::RoomRecord r;
      r.set_event_id("gig");
      fill(r);
      Add(*l, wal::RecordType::kRoom, r.SerializeAsString());
    };
    room([](wal::RoomRecord& r) {
      wal::RoomConfigRecord* c = r.mutable_config();
      c->set_mode(1);
      c->set_max_active(2);
      c->set_batch_size(1);
      c->set_pass_ttl_ms(600'000);
      c->set_grace_ms(60'000);
      c->set_max_seats_per_pass(4);
      c->set_max_queue(100);
    });
    for (uint32_t n = 1; n <= 3; ++n) {
      room([n](wal::RoomRecord& r) {
        r.mutable_join()->set_number(n);
        r.mutable_join()->set_buyer_key(absl::StrCat("buyer-", n));
        r.mutable_join()->set_joined_ms(kStart + n);
      });
    }
    room([](wal::RoomRecord& r) { r.mutable_open()->set_shuffle_seed(5); });
    room([](wal::RoomRecord& r) {
      wal::RoomAdmit* a = r.mutable_admit();
      a->add_numbers(1);
      a->add_secrets(0x1234);
      a->add_secrets(0x5678);
      a->add_expires_ms(kStart + 600'000);
      a->set_admitted_ms(kStart + 10);
    });
    room([](wal::RoomRecord& r) {
      r.mutable_end()->add_numbers(2);
      r.mutable_end()->set_state(3);  // LEFT
    });
    f.set_high_water(2000);
    f.set_next_booking_seq(7);
    Add(*l, wal::RecordType::kFencing, f.SerializeAsString());

    const size_t cuts[] = {0, 4, 9, l->records.size()};
    for (int seg = 0; seg < 3; ++seg) {
      std::string bytes;
      std::vector<uint64_t> starts;
      for (size_t i = cuts[seg]; i < cuts[seg + 1]; ++i) {
        starts.push_back(bytes.size());
        bytes += l->records[i];
      }
      l->segments.push_back(bytes);
      l->starts.push_back(starts);
      l->first_lsn.push_back(cuts[seg] + 1);
    }
    // The state after each prefix of the log.
    for (size_t k = 0; k <= l->records.size(); ++k) {
      State p;
      std::string bytes;
      for (size_t i = 0; i < k; ++i) bytes += l->records[i];
      if (Replay(bytes, p) != static_cast<int64_t>(k)) Fail("the valid log does not replay");
      l->prefix_state.push_back(Canon(Encode(p)));
    }
    return l;
  }();
  return *log;
}

void DamagedLog(FuzzInput& in) {
  const ValidLog& log = TheLog();
  const uint8_t flags = in.U8();
  const bool repair = flags & 1;
  std::vector<std::string> segs = log.segments;
  std::vector<uint64_t> names = log.first_lsn;
  size_t total = 0;
  for (const std::string& s : segs) total += s.size();
  const int changes = 1 + in.Below(6);
  for (int i = 0; i < changes; ++i) {
    const uint8_t kind = in.U8();
    size_t pos = in.U16() % total;
    size_t seg = 0;
    while (pos >= log.segments[seg].size()) pos -= log.segments[seg++].size();
    std::string& s = segs[seg];
    switch (kind % 8) {
      case 0:
      case 1:
      case 2:
        if (pos < s.size()) s[pos] = static_cast<char>(s[pos] ^ (1 << in.Below(8)));
        break;
      case 3:
        if (pos < s.size()) s[pos] = static_cast<char>(in.U8());
        break;
      case 4:  // a segment cut short, mid-record or at a record boundary
        if (in.Bool()) {
          s.resize(std::min(s.size(), pos));
        } else {
          const auto& st = log.starts[seg];
          s.resize(std::min<size_t>(s.size(), st[in.U8() % st.size()]));
        }
        break;
      case 5:  // garbage, or zeros, after the last segment's end
        segs.back() += in.Bool() ? std::string(1 + in.Below(40), '\0') : in.Bytes(64);
        break;
      case 6:  // a segment misnamed (once each, so the names keep their order)
        if (names[seg] == log.first_lsn[seg]) names[seg] += 1 + in.Below(3);
        break;
      default:  // a whole record repeated at the end of the last segment
        segs.back() += log.records[in.U8() % log.records.size()];
        break;
    }
  }

  // What docs/wal.md §6 says must happen. With no snapshot, a log whose
  // first segment does not start at LSN 1 is missing records: refused, with
  // or without repair (the continuity rule, docs/wal.md "Recovery").
  bool expect_ok = names[0] == 1;
  size_t applied = 0;
  uint64_t lsn = names[0];
  for (size_t i = 0; i < segs.size() && expect_ok; ++i) {
    const bool last = i + 1 == segs.size();
    if (names[i] != lsn) {  // a gap: refuse, or repair drops the segment
      expect_ok = repair;
      break;
    }
    wal::RecordReader reader(segs[i]);
    wal::Record rec;
    wal::RecordReader::Result r;
    while ((r = reader.Next(&rec)) == wal::RecordReader::Result::kRecord) {
      // A changed record that still passes its checksum is beyond what the
      // format can detect; the repeated-record case appends a valid copy.
      const size_t k = applied;
      if (k >= log.records.size() ||
          std::string_view(segs[i]).substr(rec.offset, 16 + rec.payload.size()) != log.records[k]) {
        return;
      }
      ++applied;
      ++lsn;
    }
    if (r != wal::RecordReader::Result::kEof) {
      expect_ok = last || repair;
      break;
    }
  }
  ClearShardDir();
  for (size_t i = 0; i < segs.size(); ++i) {
    WriteFileOrDie(ShardDir() + "/" + SegmentName(names[i]), segs[i]);
  }
  State s;
  uint64_t reserved = 0;
  const absl::Status st = Recover(repair, s, &reserved);
  if (st.ok() != expect_ok) {
    Fail(absl::StrCat("recovery answered ", st.ToString(), "; docs/wal.md says ",
                      expect_ok ? "OK" : "refuse", " (repair=", repair, ")"));
  }
  if (!st.ok()) return;
  if (Canon(Encode(s)) != log.prefix_state[applied]) {
    Fail(absl::StrCat("recovered state is not the first ", applied, " records"));
  }
  CheckRestart(s, reserved);
}

}  // namespace

// Framed records: the input as (type, length, payload) triples, each
// written with a valid header and checksum (wal::AppendRecord), so that the
// payloads, not the checksums, meet the decoders. At most 64 records.
std::string Framed(FuzzInput& in) {
  std::string out;
  for (int i = 0; i < 64 && !in.empty(); ++i) {
    const auto type = static_cast<wal::RecordType>(1 + in.Below(6));
    const size_t n = in.U8();
    std::string payload;
    for (size_t k = 0; k < n && !in.empty(); ++k) payload.push_back(static_cast<char>(in.U8()));
    if (type == wal::RecordType::kRoom) {
      // A join number up to the largest max_queue is valid and costs memory
      // in proportion (a room of 100 M buyers): leave those out, but keep
      // the ones above the limit, which recovery must refuse.
      wal::RoomRecord r;
      if (r.ParseFromString(payload) && r.has_join() && r.join().number() > 100'000 &&
          r.join().number() <= kMaxQueueLimit) {
        continue;
      }
    }
    wal::AppendRecord(type, payload, &out);
  }
  return out;
}

int RunInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  FuzzInput in(data + 1, size - 1);
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string framed;
  if ((data[0] & 8) && data[0] % 4 != 3) {
    framed = Framed(in);
    rest = framed;
  }
  switch (data[0] % 4) {
    case 0: {
      State s;
      if (Replay(rest, s) < 0) return 0;
      CheckFencing(s);
      const std::string snap = Encode(s);
      State again;
      if (Replay(snap, again) < 0) Fail("a snapshot of a recovered state does not replay");
      if (Canon(Encode(again)) != Canon(snap)) {
        Fail("a snapshot of a recovered state replays differently");
      }
      return 0;
    }
    case 1:
    case 2: {
      const bool repair = data[0] & 4;
      ClearShardDir();
      if (data[0] % 4 == 1) {
        WriteFileOrDie(ShardDir() + "/" + SegmentName(1), rest);
      } else {
        WriteFileOrDie(ShardDir() + "/snapshot-00000000000000000001.snap", rest);
      }
      State s;
      uint64_t reserved = 0;
      if (Recover(repair, s, &reserved).ok()) CheckRestart(s, reserved);
      return 0;
    }
    default:
      DamagedLog(in);
      return 0;
  }
}

void WriteSeeds(const std::string& dir) {
  const ValidLog& log = TheLog();
  std::string all;
  for (const std::string& r : log.records) all += r;
  // Modes 0-2: the whole valid log; and one record of each type alone.
  for (uint8_t mode = 0; mode < 3; ++mode) {
    WriteSeed(dir, absl::StrCat("log_mode", int{mode}), std::string(1, char(mode)) + all);
  }
  const char* names[] = {"define",    "fencing",     "confirm",    "refused",    "confirm2",
                         "cancel",    "room_config", "room_join1", "room_join2", "room_join3",
                         "room_open", "room_admit",  "room_end",   "fencing2"};
  for (size_t i = 0; i < log.records.size() && i < std::size(names); ++i) {
    std::string bytes(1, '\0');
    if (i > 0) bytes += log.records[0];  // the event first
    bytes += log.records[i];
    WriteSeed(dir, absl::StrCat("record_", names[i]), bytes);
  }
  // Modes 0-2, framed: the event, then each record's payload, as triples.
  for (uint8_t mode : {8, 9}) {
    for (size_t i = 1; i < log.records.size() && i < std::size(names); ++i) {
      FuzzOutput o;
      o.U8(mode);
      for (size_t r : {size_t{0}, i}) {
        const std::string_view payload = std::string_view(log.records[r]).substr(16);
        if (payload.size() > 255) continue;
        o.U8(static_cast<uint8_t>(log.records[r][12] - 1)).Bytes(payload);
      }
      WriteSeed(dir, absl::StrCat("framed", int{mode}, "_", names[i]), o.str());
    }
  }
  // Mode 3: one flipped bit, a cut segment, appended zeros, a misnamed segment.
  FuzzOutput flip, cut, tail, name;
  flip.U8(3).U8(0).U8(0).U8(0).U16(40).U8(3);
  cut.U8(3).U8(1).U8(0).U8(4).U16(500).U8(1).U8(2);
  tail.U8(3).U8(0).U8(0).U8(5).U16(0).U8(1).U8(9);
  name.U8(3).U8(0).U8(0).U8(6).U16(700).U8(0);
  WriteSeed(dir, "damage_flip", flip.str());
  WriteSeed(dir, "damage_cut", cut.str());
  WriteSeed(dir, "damage_tail", tail.str());
  WriteSeed(dir, "damage_name", name.str());
}

}  // namespace seatlock::fuzz

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  for (int i = 1; i < *argc; ++i) {
    if (std::strncmp((*argv)[i], "--write-seeds=", 14) == 0) {
      seatlock::fuzz::WriteSeeds((*argv)[i] + 14);
      std::exit(0);
    }
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (tmp ? tmp : "/tmp");
  base += "/wal_fuzzer.XXXXXX";
  if (mkdtemp(base.data()) == nullptr) seatlock::fuzz::Fail("mkdtemp " + base);
  seatlock::fuzz::Base() = base;
  mkdir((base + "/shard-0").c_str(), 0755);
  // The directory is removed at exit (a crash leaves it for inspection).
  std::atexit([] {
    seatlock::fuzz::ClearShardDir();
    rmdir(seatlock::fuzz::ShardDir().c_str());
    rmdir(seatlock::fuzz::Base().c_str());
  });
  google::protobuf::SetLogHandler(nullptr);  // payloads that do not parse are expected
  (void)seatlock::fuzz::TheLog();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return seatlock::fuzz::RunInput(data, size);
}
