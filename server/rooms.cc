#include "server/rooms.h"

#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "persistence/wal_record.h"
#include "protocol/sharding.h"

namespace seatlock {
namespace {

using wire::Request;
using wire::Response;

constexpr int64_t kSupplyPollMs = 50;       // how often a home measures its event's free seats
constexpr int64_t kIdleSupplyPollMs = 500;  // the same while nobody is queued or admitted
constexpr size_t kSnapshotNumbersPerRecord = 100'000;  // keeps records far below the 16 MiB limit

void RandomBytes(void* out, size_t n) {
  auto* p = static_cast<uint8_t*>(out);
  while (n > 0) {
    const ssize_t got = getrandom(p, n, 0);
    if (got > 0) {
      p += got;
      n -= static_cast<size_t>(got);
      continue;
    }
    // getrandom cannot fail on Linux >= 3.17 except for EINTR; fall back to
    // random_device rather than hand out a predictable pass.
    std::random_device rd;
    for (; n > 0; --n) *p++ = static_cast<uint8_t>(rd());
  }
}

void SetCode(Response* resp, wire::ResultCode code, std::string detail) {
  resp->set_code(code);
  resp->set_detail(std::move(detail));
}

wire::ResultCode Wire(ResultCode c) { return static_cast<wire::ResultCode>(static_cast<int>(c)); }

wal::RoomConfigRecord ConfigRecordOf(const RoomConfig& c) {
  wal::RoomConfigRecord r;
  r.set_mode(static_cast<uint32_t>(c.mode));
  r.set_rate_per_sec(c.rate_per_sec);
  r.set_max_active(c.max_active);
  r.set_batch_size(c.batch_size);
  r.set_on_sale_ms(c.on_sale_ms);
  r.set_pass_ttl_ms(c.pass_ttl_ms);
  r.set_grace_ms(c.grace_ms);
  r.set_max_seats_per_pass(c.max_seats_per_pass);
  r.set_max_queue(c.max_queue);
  return r;
}

RoomConfig ConfigOfRecord(const wal::RoomConfigRecord& r) {
  RoomConfig c;
  c.mode = r.mode() == 1 ? AdmissionMode::kCapacity : AdmissionMode::kRate;
  c.rate_per_sec = r.rate_per_sec();
  c.max_active = r.max_active();
  c.batch_size = r.batch_size();
  c.on_sale_ms = r.on_sale_ms();
  c.pass_ttl_ms = r.pass_ttl_ms();
  c.grace_ms = r.grace_ms();
  c.max_seats_per_pass = r.max_seats_per_pass();
  if (r.max_queue() != 0) c.max_queue = r.max_queue();
  return c;
}

void AppendRoomRecord(const wal::RoomRecord& rec, std::string* out) {
  wal::AppendRecord(wal::RecordType::kRoom, rec.SerializeAsString(), out);
}

}  // namespace

RoomConfig RoomConfigFromWire(const wire::RoomConfig& in) {
  RoomConfig c;
  c.mode = in.mode() == wire::ADMIT_CAPACITY ? AdmissionMode::kCapacity : AdmissionMode::kRate;
  c.rate_per_sec = in.rate_per_sec();
  c.max_active = in.max_active();
  c.batch_size = in.batch_size() == 0 ? 10 : in.batch_size();
  c.on_sale_ms = in.on_sale_ms();
  c.pass_ttl_ms = in.pass_ttl_ms() == 0 ? 600'000 : in.pass_ttl_ms();
  c.grace_ms = in.grace_ms() == 0 ? 60'000 : in.grace_ms() == -1 ? 0 : in.grace_ms();
  c.max_seats_per_pass = in.max_seats_per_pass() == 0 ? 6 : in.max_seats_per_pass();
  if (in.max_queue() != 0) c.max_queue = in.max_queue();
  return c;
}

void RoomConfigToWire(const RoomConfig& in, wire::RoomConfig* out) {
  out->set_mode(in.mode == AdmissionMode::kCapacity ? wire::ADMIT_CAPACITY : wire::ADMIT_RATE);
  out->set_rate_per_sec(in.rate_per_sec);
  out->set_max_active(in.max_active);
  out->set_batch_size(in.batch_size);
  out->set_on_sale_ms(in.on_sale_ms);
  out->set_pass_ttl_ms(in.pass_ttl_ms);
  out->set_grace_ms(in.grace_ms == 0 ? -1 : in.grace_ms);
  out->set_max_seats_per_pass(in.max_seats_per_pass);
  out->set_max_queue(in.max_queue);
}

Rooms::Rooms(uint32_t shard, uint32_t shards, uint64_t hash_seed, const Clock* clock)
    : shard_(shard), shards_(shards), hash_seed_(hash_seed), clock_(clock) {}

uint32_t Rooms::HomeOf(std::string_view event_id) const {
  return protocol::ShardFor(event_id, "", shards_, hash_seed_);
}

Rooms::Home* Rooms::FindHome(std::string_view event_id) {
  auto it = homes_.find(event_id);
  return it == homes_.end() ? nullptr : &it->second;
}

uint64_t Rooms::Log(ShardLog* log, const wal::RoomRecord& rec) {
  return log == nullptr ? 0 : log->Append(wal::RecordType::kRoom, rec);
}

uint64_t Rooms::Configure(const std::string& event_id, const RoomConfig& config, ShardLog* log) {
  configs_[event_id] = config;
  if (HomeOf(event_id) == shard_) {
    Home& h = homes_[event_id];
    if (h.room == nullptr) {
      h.room = std::make_unique<WaitingRoom>(event_id, config, clock_, RandomBytes);
    } else {
      h.room->Reconfigure(config);
    }
  }
  wal::RoomRecord rec;
  rec.set_event_id(event_id);
  *rec.mutable_config() = ConfigRecordOf(config);
  return Log(log, rec);
}

uint64_t Rooms::Execute(const Request& req, Response* resp, ShardLog* log) {
  std::string_view event_id;
  switch (req.op_case()) {
    case Request::kJoinQueue:
      event_id = req.join_queue().event_id();
      break;
    case Request::kQueueStatus:
      event_id = req.queue_status().event_id();
      break;
    case Request::kLeaveQueue:
      event_id = req.leave_queue().event_id();
      break;
    case Request::kRoomInfo:
      event_id = req.room_info().event_id();
      break;
    default:
      SetCode(resp, wire::INTERNAL, "not a waiting-room operation");
      return 0;
  }
  Home* h = FindHome(event_id);
  if (h == nullptr) {
    SetCode(resp, wire::ROOM_NOT_FOUND,
            absl::StrCat("event '", ToAbsl(event_id),
                         "' has no waiting room (CONFIGURE_ROOM creates one)"));
    return 0;
  }
  WaitingRoom& room = *h->room;
  const uint64_t durable = log == nullptr ? ~0ull : log->durable_lsn();
  switch (req.op_case()) {
    case Request::kJoinQueue: {
      WaitingRoom::JoinResult r = room.Join(req.join_queue().buyer_key());
      SetCode(resp, Wire(r.code), r.detail);
      if (r.code != ResultCode::kOk) return 0;
      auto* out = resp->mutable_join_queue();
      out->set_number(r.number);
      out->set_joined_ms(r.joined_ms);
      out->set_rejoined(!r.fresh);
      if (!r.fresh) return h->last_join_lsn > durable ? h->last_join_lsn : 0;
      wal::RoomRecord rec;
      rec.set_event_id(std::string(event_id));
      auto* j = rec.mutable_join();
      j->set_number(static_cast<uint32_t>(r.number));
      j->set_buyer_key(req.join_queue().buyer_key());
      j->set_joined_ms(r.joined_ms);
      const uint64_t lsn = Log(log, rec);
      h->last_join_lsn = std::max(h->last_join_lsn, lsn);
      return lsn;
    }
    case Request::kQueueStatus: {
      QueueStatus s = room.Status(req.queue_status().number(), req.queue_status().buyer_key());
      SetCode(resp, Wire(s.code), s.detail);
      if (s.code != ResultCode::kOk) return 0;
      auto* out = resp->mutable_queue_status();
      out->set_state(static_cast<wire::QueueState>(static_cast<int>(s.state)));
      out->set_number(s.number);
      out->set_position(s.position);
      out->set_eta_p50_ms(s.eta_p50_ms);
      out->set_eta_p90_ms(s.eta_p90_ms);
      out->set_paused(s.paused);
      out->set_pass(s.pass);
      out->set_pass_expires_ms(s.pass_expires_ms);
      out->set_seats_left(s.seats_left);
      if (s.state == QueueState::kAdmitted && h->last_admit_lsn > durable) return h->last_admit_lsn;
      return 0;
    }
    case Request::kLeaveQueue: {
      WaitingRoom::EndResult r =
          room.Leave(req.leave_queue().number(), req.leave_queue().buyer_key());
      SetCode(resp, Wire(r.code), r.detail);
      if (!r.changed) return 0;
      wal::RoomRecord rec;
      rec.set_event_id(std::string(event_id));
      rec.mutable_end()->add_numbers(static_cast<uint32_t>(req.leave_queue().number()));
      rec.mutable_end()->set_state(static_cast<uint32_t>(QueueState::kLeft));
      return Log(log, rec);
    }
    case Request::kRoomInfo: {
      const RoomStats st = room.Stats();
      auto* out = resp->mutable_room_info();
      out->set_event_id(std::string(event_id));
      RoomConfigToWire(room.config(), out->mutable_config());
      out->set_home_shard(shard_);
      out->set_joined(st.joined);
      out->set_waiting(st.waiting);
      out->set_admitted(st.admitted);
      out->set_admitted_total(st.admitted_total);
      out->set_lapsed(st.lapsed);
      out->set_left(st.left);
      out->set_done(st.done);
      out->set_pass_expired(st.pass_expired);
      out->set_opened(st.opened);
      out->set_sold_out(st.sold_out);
      out->set_paused(st.paused);
      out->set_admit_rate_per_sec(st.admit_rate_per_sec);
      out->set_memory_bytes(st.memory_bytes);
      SetCode(resp, wire::OK, "");
      return 0;
    }
    default:
      return 0;
  }
}

wire::ResultCode Rooms::UsePass(std::string_view event_id, std::string_view pass, uint32_t seats,
                                uint64_t* number, std::string* detail) {
  Home* h = FindHome(event_id);
  if (h == nullptr) {
    *detail = absl::StrCat("event '", ToAbsl(event_id), "' has no waiting room on its home shard");
    return wire::INTERNAL;
  }
  return Wire(h->room->UsePass(pass, seats, number, detail));
}

void Rooms::Refund(std::string_view event_id, uint64_t number, uint32_t seats) {
  if (Home* h = FindHome(event_id)) h->room->RefundPass(number, seats);
}

void Rooms::NoteHolds(std::string_view event_id, uint64_t number,
                      const std::vector<uint64_t>& hold_ids) {
  Home* h = FindHome(event_id);
  if (h == nullptr) return;
  for (uint64_t id : hold_ids) h->hold_buyer[id] = number;
}

void Rooms::Purchased(std::string_view event_id, uint64_t hold_id, ShardLog* log) {
  Home* h = FindHome(event_id);
  if (h == nullptr) return;
  h->next_supply_ms = 0;  // seats were sold: measure again now (it may be sold out)
  auto it = h->hold_buyer.find(hold_id);
  if (it == h->hold_buyer.end()) return;
  const uint64_t number = it->second;
  h->hold_buyer.erase(it);
  if (!h->room->Purchased(number)) return;
  wal::RoomRecord rec;
  rec.set_event_id(std::string(event_id));
  rec.mutable_end()->add_numbers(static_cast<uint32_t>(number));
  rec.mutable_end()->set_state(static_cast<uint32_t>(QueueState::kDone));
  Log(log, rec);
}

uint64_t Rooms::LogAdvance(const std::string& event_id, const WaitingRoom& room,
                           const WaitingRoom::Advanced& a, ShardLog* log) {
  uint64_t lsn = 0;
  if (a.opened) {
    wal::RoomRecord rec;
    rec.set_event_id(event_id);
    rec.mutable_open()->set_shuffle_seed(a.shuffle_seed);
    lsn = Log(log, rec);
  }
  // Records of at most kSnapshotNumbersPerRecord buyers each, far below the
  // log's 16 MiB record limit whatever the batch size.
  const size_t chunk = kSnapshotNumbersPerRecord;
  auto ends = [&](const std::vector<uint32_t>& numbers, QueueState state) {
    for (size_t off = 0; off < numbers.size(); off += chunk) {
      wal::RoomRecord rec;
      rec.set_event_id(event_id);
      for (size_t k = off; k < std::min(numbers.size(), off + chunk); ++k)
        rec.mutable_end()->add_numbers(numbers[k]);
      rec.mutable_end()->set_state(static_cast<uint32_t>(state));
      lsn = Log(log, rec);
    }
  };
  ends(a.expired, QueueState::kPassExpired);
  ends(a.lapsed, QueueState::kLapsed);
  for (size_t off = 0; off < a.admitted.size(); off += chunk) {
    wal::RoomRecord rec;
    rec.set_event_id(event_id);
    auto* ad = rec.mutable_admit();
    ad->set_admitted_ms(clock_->NowMs());
    for (size_t k = off; k < std::min(a.admitted.size(), off + chunk); ++k) {
      const uint32_t n = a.admitted[k];
      const WaitingRoom::Pass p = room.PassOf(n);
      ad->add_numbers(n);
      ad->add_secrets(p.secret[0]);
      ad->add_secrets(p.secret[1]);
      ad->add_expires_ms(p.expires_ms);
    }
    lsn = Log(log, rec);
  }
  return lsn;
}

bool Rooms::Tick(ShardLog* log) {
  for (auto& [event_id, h] : homes_) {
    WaitingRoom::Advanced a = h.room->Advance();
    if (!a.empty()) {
      const uint64_t lsn = LogAdvance(event_id, *h.room, a, log);
      if (!a.admitted.empty()) h.last_admit_lsn = std::max(h.last_admit_lsn, lsn);
    }
    const int64_t now = clock_->NowMs();
    if (now >= h.next_cleanup_ms) {
      // Holds of buyers no longer admitted (bought, left, pass expired)
      // cannot free a slot any more: forget them.
      h.next_cleanup_ms = now + 5000;
      const WaitingRoom& room = *h.room;
      absl::erase_if(h.hold_buyer, [&room](const auto& kv) { return !room.IsAdmitted(kv.second); });
    }
  }
  // Supply is measured even while a room is idle (SupplyDue), so a sold-out
  // room with nobody in line still refuses joins, and reopens once seats
  // come back (a cancellation): keep ticking while this shard is a home.
  return !homes_.empty();
}

std::vector<std::string> Rooms::SupplyDue(int64_t now_ms) {
  std::vector<std::string> due;
  for (auto& [event_id, h] : homes_) {
    if (h.supply_in_flight || now_ms < h.next_supply_ms) continue;
    h.supply_in_flight = true;
    h.next_supply_ms = now_ms + (h.room->active() ? kSupplyPollMs : kIdleSupplyPollMs);
    due.push_back(event_id);
  }
  return due;
}

void Rooms::SetSupply(std::string_view event_id, uint64_t free, uint64_t held) {
  Home* h = FindHome(event_id);
  if (h == nullptr) return;
  h->supply_in_flight = false;
  h->room->SetSupply(free, held);
}

absl::Status Rooms::Apply(const wal::RoomRecord& rec) {
  const std::string& event_id = rec.event_id();
  if (rec.change_case() == wal::RoomRecord::kConfig) {
    const RoomConfig config = ConfigOfRecord(rec.config());
    if (std::string why = ValidateRoomConfig(config); !why.empty()) {
      return absl::DataLossError(absl::StrCat("room config for '", event_id, "': ", why));
    }
    Configure(event_id, config, nullptr);
    return absl::OkStatus();
  }
  if (HomeOf(event_id) != shard_) return absl::OkStatus();  // another shard's queue (resharding)
  Home* h = FindHome(event_id);
  if (h == nullptr)
    return absl::DataLossError(absl::StrCat("room record for '", event_id, "' before its config"));
  WaitingRoom& room = *h->room;
  switch (rec.change_case()) {
    case wal::RoomRecord::kJoin:
      // No room issues a number above the largest max_queue; restoring one
      // would allocate an entry for every number below it.
      if (rec.join().number() > kMaxQueueLimit) {
        return absl::DataLossError(absl::StrCat("room join record: number ", rec.join().number(),
                                                " is above the maximum queue size ",
                                                kMaxQueueLimit));
      }
      // A live JOIN refuses an empty key; restoring one would leave an entry
      // that looks free, and a second join of its number would list it twice.
      if (rec.join().number() == 0) return absl::DataLossError("room join record: number 0");
      if (rec.join().buyer_key().empty()) {
        return absl::DataLossError(absl::StrCat("room join record: number ", rec.join().number(),
                                                " has an empty buyer key"));
      }
      room.RestoreJoin(rec.join().number(), rec.join().buyer_key(), rec.join().joined_ms());
      break;
    case wal::RoomRecord::kOpen:
      room.RestoreOpen(rec.open().shuffle_seed());
      break;
    case wal::RoomRecord::kAdmit: {
      const auto& a = rec.admit();
      if (a.secrets_size() != 2 * a.numbers_size() || a.expires_ms_size() != a.numbers_size()) {
        return absl::DataLossError("room admit record: numbers, secrets and expiries do not match");
      }
      for (int i = 0; i < a.numbers_size(); ++i) {
        WaitingRoom::Pass p;
        p.secret = {a.secrets(2 * i), a.secrets(2 * i + 1)};
        p.expires_ms = a.expires_ms(i);
        room.RestoreAdmit(a.numbers(i), p, a.admitted_ms());
      }
      break;
    }
    case wal::RoomRecord::kEnd: {
      const uint32_t s = rec.end().state();
      if (s != static_cast<uint32_t>(QueueState::kLapsed) &&
          s != static_cast<uint32_t>(QueueState::kLeft) &&
          s != static_cast<uint32_t>(QueueState::kPassExpired) &&
          s != static_cast<uint32_t>(QueueState::kDone)) {
        return absl::DataLossError(absl::StrCat("room end record with state ", s));
      }
      for (uint32_t n : rec.end().numbers()) room.RestoreEnd(n, static_cast<QueueState>(s));
      break;
    }
    default:
      return absl::DataLossError("room record with no change");
  }
  return absl::OkStatus();
}

void Rooms::Delete(std::string_view event_id) {
  if (auto it = homes_.find(event_id); it != homes_.end()) homes_.erase(it);
  if (auto it = configs_.find(event_id); it != configs_.end()) configs_.erase(it);
}

void Rooms::FinishRestore() {
  for (auto& [event_id, h] : homes_) h.room->FinishRestore();
}

void Rooms::AppendState(std::string* out) const {
  // Configs of every gated event; then, per home room: open (so the joins
  // that follow are taken as already in serving order), joins in serving
  // order, admissions with their passes, and the ends.
  for (const auto& [event_id, config] : configs_) {
    wal::RoomRecord rec;
    rec.set_event_id(event_id);
    *rec.mutable_config() = ConfigRecordOf(config);
    AppendRoomRecord(rec, out);
  }
  for (const auto& [event_id, h] : homes_) {
    const WaitingRoom& room = *h.room;
    wal::RoomRecord rec;
    rec.set_event_id(event_id);
    if (room.opened()) {
      rec.mutable_open()->set_shuffle_seed(0);
      AppendRoomRecord(rec, out);
    }
    std::vector<std::vector<uint32_t>> ended(8);
    wal::RoomRecord admit;
    admit.set_event_id(event_id);
    admit.mutable_admit()->set_admitted_ms(clock_->NowMs());
    for (size_t i = 0; i < room.size(); ++i) {
      const WaitingRoom::EntryView e = room.EntryInOrder(i);
      rec.Clear();
      rec.set_event_id(event_id);
      auto* j = rec.mutable_join();
      j->set_number(e.number);
      j->set_buyer_key(std::string(e.buyer_key));
      j->set_joined_ms(e.joined_ms);
      AppendRoomRecord(rec, out);
      if (e.state == QueueState::kAdmitted) {
        if (static_cast<size_t>(admit.admit().numbers_size()) >= kSnapshotNumbersPerRecord) {
          AppendRoomRecord(admit, out);
          admit.mutable_admit()->clear_numbers();
          admit.mutable_admit()->clear_secrets();
          admit.mutable_admit()->clear_expires_ms();
        }
        admit.mutable_admit()->add_numbers(e.number);
        admit.mutable_admit()->add_secrets(e.pass.secret[0]);
        admit.mutable_admit()->add_secrets(e.pass.secret[1]);
        admit.mutable_admit()->add_expires_ms(e.pass.expires_ms);
      } else if (e.state != QueueState::kWaiting) {
        ended[static_cast<size_t>(e.state)].push_back(e.number);
      }
    }
    if (admit.admit().numbers_size() > 0) AppendRoomRecord(admit, out);
    for (size_t s = 0; s < ended.size(); ++s) {
      const size_t chunk = kSnapshotNumbersPerRecord;
      for (size_t off = 0; off < ended[s].size(); off += chunk) {
        rec.Clear();
        rec.set_event_id(event_id);
        auto* end = rec.mutable_end();
        end->set_state(static_cast<uint32_t>(s));
        for (size_t k = off; k < std::min(ended[s].size(), off + chunk); ++k)
          end->add_numbers(ended[s][k]);
        AppendRoomRecord(rec, out);
      }
    }
  }
}

}  // namespace seatlock
