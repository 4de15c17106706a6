// room_fuzzer: waiting-room operations (join, status, leave, passes,
// reconfigure, seat supply, admission steps and clock steps) against one
// WaitingRoom (engine/waiting_room.h) with a ManualClock, decoded from the
// input (at most kMaxOps). After every op it checks, and traps on a break:
//  * queue numbers are unique: a fresh join gets the next number, a key
//    that joined again gets its own number back, and the serving order is a
//    permutation of 1..joined;
//  * the waiting buyers' positions (QUEUE_STATUS) are exactly 0..waiting-1
//    in serving order, and Stats() counts the same waiting and admitted;
//  * an admission step never leaves more than max_active buyers admitted in
//    capacity mode, and never admits in a paused or unopened room;
//  * an admitted buyer's pass (as QUEUE_STATUS shows it) is accepted, and a
//    pass with one character changed is not;
//  * a room rebuilt from its own snapshot view through the Restore* calls
//    (as recovery does) reports the same state for every number.
// `room_fuzzer --write-seeds=DIR` writes the seed corpus (fuzz/corpus/).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/clock.h"
#include "engine/waiting_room.h"
#include "fuzz/fuzz_input.h"

namespace seatlock::fuzz {
namespace {

constexpr int kMaxOps = 48;
constexpr int64_t kStart = 1'700'000'000'000;

enum Op : uint8_t {
  kJoin,
  kStatus,
  kLeave,
  kUsePass,
  kRefund,
  kPurchased,
  kSupply,
  kReconfigure,
  kAdvance,
  kClock,
  kJoinMany,
  kRestoreCheck,
  kOpCount
};

uint64_t SplitMix(uint64_t* s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

WaitingRoom::RandomFn Random(uint64_t seed) {
  auto state = std::make_shared<uint64_t>(seed);
  return [state](void* out, size_t n) {
    auto* p = static_cast<uint8_t*>(out);
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(SplitMix(state.get()));
  };
}

RoomConfig DecodeConfig(FuzzInput& in, int64_t now) {
  RoomConfig c;
  const uint8_t b = in.U8();
  c.mode = b & 1 ? AdmissionMode::kCapacity : AdmissionMode::kRate;
  c.rate_per_sec = b & 2 ? in.U32() % 2000 : 1 + in.Below(20);
  c.max_active = b & 4 ? in.U32() % 100 : 1 + in.Below(5);
  c.batch_size = b & 8 ? in.U32() % (kMaxBatchSize + 2) : 1 + in.Below(4);
  c.on_sale_ms = b & 16 ? now + in.Below(4) * 1000 : (b & 32 ? 0 : now - 1);
  c.pass_ttl_ms = b & 64 ? static_cast<int64_t>(in.U32()) - 10 : 1000 * (1 + in.Below(10));
  const uint8_t g = in.U8();
  c.grace_ms = g % 4 == 0 ? 0 : (g % 4 == 1 ? -1 : 1000 * (g / 4 % 8));
  c.max_seats_per_pass = in.Bool() ? in.U16() : 1 + in.Below(6);
  c.max_queue = in.Bool() ? in.U32() % 40 : 10'000'000;
  return c;
}

std::string PickKey(FuzzInput& in) {
  const uint8_t b = in.U8();
  if (b < 200) return absl::StrCat("buyer-", b % 24);
  switch (b % 4) {
    case 0:
      return "";
    case 1:
      return std::string(257, 'k');  // one over the limit
    case 2:
      return std::string(256, 'k');
    default:
      return in.Bytes(40);
  }
}

struct Run {
  ManualClock clock{kStart};
  std::unique_ptr<WaitingRoom> room;
  std::map<std::string, uint64_t> numbers;  // key -> number, as Join answered
  std::vector<std::string> keys;            // by number - 1
};

uint64_t PickNumber(FuzzInput& in, const Run& run) {
  const uint8_t b = in.U8();
  if (b < 192 && !run.keys.empty()) return 1 + b % run.keys.size();
  return b % 4 == 0 ? 0 : (b % 4 == 1 ? run.keys.size() + 1 : in.U64());
}
std::string KeyOf(const Run& run, uint64_t number) {
  return number > 0 && number <= run.keys.size() ? run.keys[number - 1] : "nobody";
}

// Serving order, positions, counts.
void CheckRoom(Run& run) {
  WaitingRoom& room = *run.room;
  const RoomStats st = room.Stats();
  if (st.joined != run.keys.size() || room.size() != run.keys.size()) {
    Fail(absl::StrCat("joined ", st.joined, ", size ", room.size(), ", issued ", run.keys.size()));
  }
  std::vector<bool> seen(run.keys.size() + 1, false);
  uint64_t waiting = 0, admitted = 0;
  for (size_t i = 0; i < room.size(); ++i) {
    const WaitingRoom::EntryView e = room.EntryInOrder(i);
    if (e.number == 0 || e.number > run.keys.size() || seen[e.number]) {
      Fail(absl::StrCat("serving order is not a permutation: ", e.number, " at ", i));
    }
    seen[e.number] = true;
    if (e.buyer_key != run.keys[e.number - 1]) Fail("an entry has another buyer's key");
    if (e.state == QueueState::kAdmitted) ++admitted;
    if (e.state != QueueState::kWaiting) continue;
    // QUEUE_STATUS counts as a poll; it is asked only at the current time,
    // so it never rescues a buyer whose grace ran out before now.
    const QueueStatus s = room.Status(e.number, e.buyer_key);
    if (s.code != ResultCode::kOk) Fail("a waiting buyer's status fails");
    if (s.state == QueueState::kSoldOut) {
      if (!st.sold_out) Fail("SOLD_OUT status in a room that is not sold out");
    } else if (s.state != QueueState::kWaiting || s.position != waiting) {
      Fail(absl::StrCat("number ", e.number, " at position ", s.position, ", expected ", waiting));
    }
    ++waiting;
  }
  if (waiting != st.waiting || admitted != st.admitted) {
    Fail(absl::StrCat("Stats() waiting/admitted ", st.waiting, "/", st.admitted, ", entries ",
                      waiting, "/", admitted));
  }
}

// Rebuilds the room from its snapshot view (Rooms::AppendState writes the
// same facts) and compares every number's state.
void CheckRestore(Run& run) {
  WaitingRoom& room = *run.room;
  WaitingRoom copy(room.event_id(), room.config(), &run.clock, Random(1));
  if (room.opened()) copy.RestoreOpen(0);
  for (size_t i = 0; i < room.size(); ++i) {
    const WaitingRoom::EntryView e = room.EntryInOrder(i);
    copy.RestoreJoin(e.number, e.buyer_key, e.joined_ms);
  }
  for (size_t i = 0; i < room.size(); ++i) {
    const WaitingRoom::EntryView e = room.EntryInOrder(i);
    if (e.state == QueueState::kAdmitted) {
      copy.RestoreAdmit(e.number, e.pass, run.clock.NowMs());
    } else if (e.state != QueueState::kWaiting && e.state != QueueState::kSoldOut) {
      copy.RestoreEnd(e.number, e.state);
    }
  }
  copy.FinishRestore();
  if (copy.size() != room.size()) Fail("the restored room has another size");
  for (size_t i = 0; i < room.size(); ++i) {
    const WaitingRoom::EntryView a = room.EntryInOrder(i);
    const WaitingRoom::EntryView b = copy.EntryInOrder(i);
    if (a.number != b.number || a.state != b.state || a.buyer_key != b.buyer_key) {
      Fail(absl::StrCat("restored room differs at ", i, ": number ", a.number, "/", b.number,
                        " state ", std::string(QueueStateName(a.state)), "/",
                        std::string(QueueStateName(b.state))));
    }
    if (a.state == QueueState::kAdmitted &&
        (a.pass.secret != b.pass.secret || a.pass.expires_ms != b.pass.expires_ms)) {
      Fail("restored pass differs");
    }
  }
  if (copy.Stats().waiting != room.Stats().waiting ||
      copy.Stats().admitted != room.Stats().admitted) {
    Fail("restored room counts differ");
  }
}

// Runs one op; returns it.
uint8_t Step(FuzzInput& in, Run& run, std::map<uint64_t, uint32_t>& reserved) {
  WaitingRoom& room = *run.room;
  const uint8_t op = in.U8() % kOpCount;
  switch (op) {
    case kJoin:
    case kJoinMany: {
      const int n = in.U8() % 8 == 0 ? 1 + in.Below(16) : 1;
      for (int i = 0; i < n; ++i) {
        const std::string key = n > 1 ? absl::StrCat("many-", run.keys.size()) : PickKey(in);
        const WaitingRoom::JoinResult r = room.Join(key);
        auto it = run.numbers.find(key);
        if (r.code != ResultCode::kOk) {
          if (it != run.numbers.end()) Fail("a buyer who joined is refused on joining again");
          continue;
        }
        if (it != run.numbers.end()) {
          if (r.fresh || r.number != it->second) Fail("a second join got another number");
          continue;
        }
        if (!r.fresh || r.number != run.keys.size() + 1) {
          Fail(absl::StrCat("fresh join got number ", r.number, " after ", run.keys.size()));
        }
        run.numbers[key] = r.number;
        run.keys.push_back(key);
      }
      return op;
    }
    case kStatus: {
      const uint64_t n = PickNumber(in, run);
      const QueueStatus s = room.Status(n, in.Bool() ? KeyOf(run, n) : PickKey(in));
      if (s.code == ResultCode::kOk && s.state == QueueState::kAdmitted) {
        uint64_t number = 0;
        std::string detail;
        std::string forged = s.pass;
        forged[forged.size() - 1 - in.Below(32)] ^= 1;
        if (room.UsePass(forged, 0, &number, &detail) != ResultCode::kPassInvalid) {
          Fail("a forged pass is accepted");
        }
        // Zero seats: only a pass already over its seat limit (a reconfigure
        // lowered it) may say LIMIT_EXCEEDED.
        const ResultCode c = room.UsePass(s.pass, 0, &number, &detail);
        const bool ok = (c == ResultCode::kOk && number == n) ||
                        (c == ResultCode::kLimitExceeded && s.seats_left == 0);
        if (s.pass_expires_ms > run.clock.NowMs() && !ok) {
          Fail(absl::StrCat("the pass QUEUE_STATUS shows is refused: ", detail));
        }
      }
      return op;
    }
    case kLeave: {
      const uint64_t n = PickNumber(in, run);
      room.Leave(n, in.Bool() ? KeyOf(run, n) : PickKey(in));
      return op;
    }
    case kUsePass: {
      const uint64_t n = PickNumber(in, run);
      const uint32_t seats = in.Below(8);
      std::string token;
      if (room.IsAdmitted(n)) {
        token = WaitingRoom::FormatPass(static_cast<uint32_t>(n),
                                        room.PassOf(static_cast<uint32_t>(n)));
      }
      if (in.Bool()) token = in.Bytes(48);
      uint64_t number = 0;
      std::string detail;
      if (room.UsePass(token, seats, &number, &detail) == ResultCode::kOk) {
        reserved[number] += seats;
      }
      return op;
    }
    case kRefund: {
      const uint64_t n = PickNumber(in, run);
      const uint32_t seats = in.Below(8);
      room.RefundPass(n, seats);
      return op;
    }
    case kPurchased:
      room.Purchased(PickNumber(in, run));
      return op;
    case kSupply: {
      const uint8_t b = in.U8();
      room.SetSupply(b & 1 ? 0 : in.Below(50), b & 2 ? 0 : in.Below(50));
      return op;
    }
    case kReconfigure: {
      const RoomConfig c = DecodeConfig(in, run.clock.NowMs());
      if (ValidateRoomConfig(c).empty()) room.Reconfigure(c);
      return op;
    }
    case kAdvance: {
      const uint64_t before = room.Stats().admitted;
      const bool opened = room.opened();
      const WaitingRoom::Advanced a = room.Advance();
      const RoomStats st = room.Stats();
      if (!a.admitted.empty()) {
        if (st.paused) Fail("admitted while paused");
        if (!opened && !a.opened) Fail("admitted before the sale opened");
        if (room.config().mode == AdmissionMode::kCapacity &&
            st.admitted > room.config().max_active) {
          Fail(absl::StrCat(st.admitted, " admitted (", before, " before), max_active ",
                            room.config().max_active));
        }
        for (uint32_t n : a.admitted) {
          if (!room.IsAdmitted(n)) Fail("a number reported admitted is not");
        }
      }
      if (a.opened && opened) Fail("opened twice");
      return op;
    }
    case kClock: {
      static constexpr int64_t kSteps[] = {1, 99, 100, 999, 1000, 5000, 60'000, 600'001};
      const uint8_t b = in.U8();
      run.clock.AdvanceMs(b < 224 ? kSteps[b % 8] : in.U32());
      return op;
    }
    default:  // kRestoreCheck
      CheckRestore(run);
      return op;
  }
}

}  // namespace

int RunInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  Run run;
  const uint64_t seed = in.U64();
  RoomConfig config = DecodeConfig(in, run.clock.NowMs());
  if (!ValidateRoomConfig(config).empty()) config = RoomConfig{};
  run.room = std::make_unique<WaitingRoom>("gig", config, &run.clock, Random(seed));
  std::map<uint64_t, uint32_t> reserved;
  for (int i = 0; i < kMaxOps && !in.empty(); ++i) {
    // Not after a clock step: the status polls of CheckRoom would keep every
    // waiting buyer's place, so grace lapses could never be reached.
    if (Step(in, run, reserved) != kClock) CheckRoom(run);
  }
  return 0;
}

void WriteSeeds(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> seeds;
  {  // rate mode: joins, admission, status with pass, leave
    FuzzOutput o;
    o.U64(42).U8(0).U8(0).U8(0).U8(0).U8(2).U8(0).U8(0).U8(0).U8(0);
    o.U8(kJoin).U8(1).U8(1).U8(kJoin).U8(1).U8(2).U8(kJoin).U8(1).U8(3);
    o.U8(kAdvance).U8(kClock).U8(4).U8(kAdvance);
    o.U8(kStatus).U8(0).U8(1).U8(kStatus).U8(2).U8(1).U8(kLeave).U8(1).U8(1);
    o.U8(kRestoreCheck);
    seeds.emplace_back("rate_join_admit", o.str());
  }
  {  // capacity mode, pre-queue before on-sale, purchases, supply
    FuzzOutput o;
    o.U64(7).U8(1 | 16).U8(0).U8(1).U8(1).U8(2).U8(0).U8(0).U8(0).U8(0).U8(0);
    for (uint8_t k = 1; k <= 5; ++k) o.U8(kJoin).U8(1).U8(k);
    o.U8(kClock).U8(4).U8(kAdvance).U8(kUsePass).U8(0).U8(2).U8(0).U8(kPurchased).U8(0);
    o.U8(kAdvance).U8(kSupply).U8(1).U8(3).U8(kAdvance).U8(kRestoreCheck);
    seeds.emplace_back("capacity_prequeue", o.str());
  }
  {  // grace lapses and reconfigure
    FuzzOutput o;
    o.U64(9).U8(0).U8(0).U8(0).U8(0).U8(2).U8(4 * 1 + 2).U8(0).U8(0).U8(0).U8(0);
    o.U8(kJoinMany).U8(0).U8(20).U8(kClock).U8(5).U8(kAdvance);
    o.U8(kReconfigure).U8(1).U8(2).U8(1).U8(0).U8(2).U8(0).U8(0).U8(0).U8(kAdvance);
    seeds.emplace_back("lapse_reconfigure", o.str());
  }
  for (const auto& [name, bytes] : seeds) {
    if (!WriteSeed(dir, name, bytes)) std::exit(1);
  }
}

}  // namespace seatlock::fuzz

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  for (int i = 1; i < *argc; ++i) {
    if (std::strncmp((*argv)[i], "--write-seeds=", 14) == 0) {
      seatlock::fuzz::WriteSeeds((*argv)[i] + 14);
      std::exit(0);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return seatlock::fuzz::RunInput(data, size);
}
