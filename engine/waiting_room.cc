#include "engine/waiting_room.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace seatlock {
namespace {

constexpr size_t kSweepPerAdvance = 4096;  // grace-period checks per Advance
constexpr int64_t kRateWindowMs = 30'000;  // admissions the ETA looks at
constexpr int kMaxCatchUpBatches = 10;     // rate mode after a stall
constexpr size_t kMaxBuyerKeyBytes = 256;
constexpr int64_t kAdmissionSlotMs = 100;       // admissions are counted per 100 ms slot
constexpr size_t kMaxLapsesPerAdmit = 100'000;  // bounds one Advance's work and log record
constexpr int64_t kMaxDurationMs =
    366LL * 24 * 3600 * 1000;                      // pass lifetime, grace: a year at most
constexpr int64_t kMaxOnSaleMs = 253402300799999;  // 9999-12-31T23:59:59.999Z

// SplitMix64: a small deterministic generator, so a logged seed replays the
// same shuffle on any build.
struct SplitMix64 {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound), without modulo bias.
  uint64_t Below(uint64_t bound) {
    const uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const uint64_t r = Next();
      if (r >= threshold) return r % bound;
    }
  }
};

bool SameSecret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

std::string ValidateRoomConfig(const RoomConfig& c) {
  if (c.mode != AdmissionMode::kRate && c.mode != AdmissionMode::kCapacity)
    return "unknown admission mode";
  if (c.batch_size == 0 || c.batch_size > kMaxBatchSize) {
    return absl::StrCat("batch_size must be in [1, ", kMaxBatchSize, "]");
  }
  if (c.max_queue == 0 || c.max_queue > kMaxQueueLimit) {
    return absl::StrCat("max_queue must be in [1, ", kMaxQueueLimit, "]");
  }
  if (c.mode == AdmissionMode::kRate && c.rate_per_sec == 0)
    return "rate mode needs rate_per_sec >= 1";
  if (c.mode == AdmissionMode::kCapacity && c.max_active == 0)
    return "capacity mode needs max_active >= 1";
  if (c.pass_ttl_ms <= 0 || c.pass_ttl_ms > kMaxDurationMs)
    return "pass_ttl_ms must be in (0, one year]";
  if (c.grace_ms < 0)
    return "grace_ms must not be negative (0 here: places never lapse; on the wire that is -1)";
  if (c.grace_ms > kMaxDurationMs) return "grace_ms must be at most one year";
  if (c.max_seats_per_pass == 0 || c.max_seats_per_pass > 65535)
    return "max_seats_per_pass must be in [1, 65535]";
  if (c.on_sale_ms < 0 || c.on_sale_ms > kMaxOnSaleMs)
    return "on_sale_ms must be a Unix time in ms, 0 to year 9999";
  return "";
}

std::string_view QueueStateName(QueueState state) {
  switch (state) {
    case QueueState::kWaiting:
      return "WAITING";
    case QueueState::kAdmitted:
      return "ADMITTED";
    case QueueState::kLapsed:
      return "LAPSED";
    case QueueState::kLeft:
      return "LEFT";
    case QueueState::kPassExpired:
      return "PASS_EXPIRED";
    case QueueState::kDone:
      return "DONE";
    case QueueState::kSoldOut:
      return "SOLD_OUT";
  }
  return "UNKNOWN";
}

WaitingRoom::WaitingRoom(std::string event_id, const RoomConfig& config, const Clock* clock,
                         RandomFn random)
    : event_id_(std::move(event_id)), config_(config), clock_(clock), random_(std::move(random)) {}

std::string WaitingRoom::FormatPass(uint32_t number, const Pass& pass) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%" PRIu32 ".%016" PRIx64 "%016" PRIx64, number, pass.secret[0],
                pass.secret[1]);
  return buf;
}

// ---------------------------------------------------------------------------
// Positions

void WaitingRoom::IndexAdd(size_t i, int delta) {
  for (size_t k = i + 1; k < index_.size(); k += k & (~k + 1)) index_[k] += delta;
}

uint64_t WaitingRoom::IndexPrefix(size_t i) const {
  int64_t sum = 0;
  for (size_t k = i; k > 0; k -= k & (~k + 1)) sum += index_[k];
  return static_cast<uint64_t>(std::max<int64_t>(0, sum));
}

void WaitingRoom::RebuildIndex() {
  size_t cap = 1024;
  while (cap < order_.size() + 1) cap *= 2;
  index_.assign(cap + 1, 0);
  for (size_t i = 0; i < order_.size(); ++i) {
    index_[i + 1] = entries_[order_[i] - 1].state == QueueState::kWaiting ? 1 : 0;
  }
  for (size_t k = 1; k < index_.size(); ++k) {
    const size_t parent = k + (k & (~k + 1));
    if (parent < index_.size()) index_[parent] += index_[k];
  }
}

bool WaitingRoom::Overdue(const Entry& e, int64_t now) const {
  return config_.grace_ms > 0 &&
         now - std::max(e.last_seen_ms, config_.on_sale_ms) > config_.grace_ms;
}

void WaitingRoom::EndWaiting(uint32_t number, QueueState state) {
  Entry& e = entries_[number - 1];
  e.state = state;
  IndexAdd(e.order_index, -1);
  --waiting_;
  if (state == QueueState::kLapsed) ++counts_.lapsed;
  if (state == QueueState::kLeft) ++counts_.left;
}

void WaitingRoom::EndAdmitted(uint32_t number, QueueState state) {
  entries_[number - 1].state = state;
  passes_.erase(number);
  --active_;
  if (state == QueueState::kLeft) ++counts_.left;
  if (state == QueueState::kDone) ++counts_.done;
  if (state == QueueState::kPassExpired) ++counts_.pass_expired;
}

// ---------------------------------------------------------------------------
// Buyers

WaitingRoom::JoinResult WaitingRoom::Join(std::string_view buyer_key) {
  JoinResult r;
  const int64_t now = clock_->NowMs();
  if (buyer_key.empty()) {
    r.code = ResultCode::kInvalidArgument;
    r.detail = "buyer_key must not be empty";
    return r;
  }
  if (buyer_key.size() > kMaxBuyerKeyBytes) {
    r.code = ResultCode::kLimitExceeded;
    r.detail = absl::StrCat("buyer_key is ", buyer_key.size(), " bytes; the maximum is ",
                            kMaxBuyerKeyBytes);
    return r;
  }
  if (auto it = by_key_.find(buyer_key); it != by_key_.end()) {
    Entry& e = entries_[it->second - 1];
    if (e.state == QueueState::kWaiting) e.last_seen_ms = now;
    r.number = it->second;
    r.joined_ms = e.joined_ms;
    return r;
  }
  if (SoldOut()) {
    r.code = ResultCode::kSoldOut;
    r.detail = absl::StrCat("event '", event_id_, "' is sold out");
    return r;
  }
  if (entries_.size() >= config_.max_queue) {
    r.code = ResultCode::kCapacityExhausted;
    r.detail = absl::StrCat("the waiting room is full: ", config_.max_queue,
                            " buyers have joined (max_queue)");
    return r;
  }
  const uint32_t number = static_cast<uint32_t>(entries_.size() + 1);
  Entry& e = entries_.emplace_back();
  e.buyer_key.assign(buyer_key);
  if (e.buyer_key.capacity() > 15) key_heap_bytes_ += e.buyer_key.capacity() + 1;
  e.joined_ms = now;
  e.last_seen_ms = now;
  e.order_index = static_cast<uint32_t>(order_.size());
  by_key_.emplace(std::string_view(e.buyer_key), number);
  order_.push_back(number);
  ++waiting_;
  ++counts_.joined;
  if (order_.size() + 1 > index_.size()) {
    RebuildIndex();  // grows it; the new entry is counted there
  } else {
    IndexAdd(order_.size() - 1, 1);
  }
  r.number = number;
  r.fresh = true;
  r.joined_ms = now;
  return r;
}

QueueStatus WaitingRoom::Status(uint64_t number, std::string_view buyer_key) {
  QueueStatus s;
  s.number = number;
  const int64_t now = clock_->NowMs();
  auto it = by_key_.find(buyer_key);
  if (number == 0 || number > entries_.size() || it == by_key_.end() || it->second != number) {
    s.code = ResultCode::kNotInQueue;
    s.detail = absl::StrCat("no queue number ", number,
                            " for this buyer key in the waiting room of '", event_id_, "'");
    return s;
  }
  Entry& e = entries_[number - 1];
  s.state = e.state;
  s.paused = Paused();
  switch (e.state) {
    case QueueState::kWaiting: {
      e.last_seen_ms = now;  // a poll while sold out keeps the place too
      if (SoldOut()) {
        s.state = QueueState::kSoldOut;
        return s;
      }
      s.position = IndexPrefix(e.order_index);
      Estimate(s.position, now, &s.eta_p50_ms, &s.eta_p90_ms);
      return s;
    }
    case QueueState::kAdmitted: {
      const Pass& p = passes_.at(static_cast<uint32_t>(number));
      s.pass = FormatPass(static_cast<uint32_t>(number), p);
      s.pass_expires_ms = p.expires_ms;
      s.seats_left =
          config_.max_seats_per_pass > e.seats_used ? config_.max_seats_per_pass - e.seats_used : 0;
      return s;
    }
    default:
      return s;
  }
}

WaitingRoom::EndResult WaitingRoom::Leave(uint64_t number, std::string_view buyer_key) {
  EndResult r;
  auto it = by_key_.find(buyer_key);
  if (number == 0 || number > entries_.size() || it == by_key_.end() || it->second != number) {
    r.code = ResultCode::kNotInQueue;
    r.detail = absl::StrCat("no queue number ", number, " for this buyer key");
    return r;
  }
  const uint32_t n = static_cast<uint32_t>(number);
  switch (entries_[n - 1].state) {
    case QueueState::kWaiting:
      EndWaiting(n, QueueState::kLeft);
      r.changed = true;
      break;
    case QueueState::kAdmitted:
      EndAdmitted(n, QueueState::kLeft);
      r.changed = true;
      break;
    default:
      break;  // already out of the line: nothing to do
  }
  return r;
}

ResultCode WaitingRoom::UsePass(std::string_view token, uint32_t seats, uint64_t* number,
                                std::string* detail) {
  const size_t dot = token.find('.');
  uint64_t n = 0;
  bool parsed = dot != std::string_view::npos && dot > 0 && dot <= 10 && token.size() == dot + 33;
  for (size_t i = 0; parsed && i < dot; ++i) {
    if (token[i] < '0' || token[i] > '9') parsed = false;
    n = n * 10 + static_cast<uint64_t>(token[i] - '0');
  }
  if (!parsed || n == 0 || n > entries_.size()) {
    *detail = token.empty() ? absl::StrCat("event '", event_id_,
                                           "' is gated by a waiting room: holds need a pass")
                            : "not a pass of this waiting room";
    return ResultCode::kPassInvalid;
  }
  auto it = passes_.find(static_cast<uint32_t>(n));
  const Entry& e = entries_[n - 1];
  if (it == passes_.end() || e.state != QueueState::kAdmitted) {
    // The same answer as a forged pass: without the secret, nobody learns
    // where another buyer's number stands.
    *detail = "not a valid pass of this waiting room (QUEUE_STATUS tells its buyer why)";
    return ResultCode::kPassInvalid;
  }
  const std::string expected = FormatPass(static_cast<uint32_t>(n), it->second);
  if (!SameSecret(token, expected)) {
    *detail = "not a valid pass of this waiting room (QUEUE_STATUS tells its buyer why)";
    return ResultCode::kPassInvalid;
  }
  if (it->second.expires_ms <= clock_->NowMs()) {
    *detail = "the pass has expired";
    return ResultCode::kPassInvalid;
  }
  if (static_cast<uint64_t>(e.seats_used) + seats > config_.max_seats_per_pass) {
    *detail = absl::StrCat("the pass allows ", config_.max_seats_per_pass, " seats and has used ",
                           e.seats_used);
    return ResultCode::kLimitExceeded;
  }
  entries_[n - 1].seats_used = static_cast<uint16_t>(e.seats_used + seats);
  *number = n;
  return ResultCode::kOk;
}

void WaitingRoom::Reconfigure(const RoomConfig& config) {
  // Live passes keep their expiry; Admit keeps the expiry order sorted when
  // a shorter lifetime makes new passes end before older ones.
  config_ = config;
}

void WaitingRoom::RefundPass(uint64_t number, uint32_t seats) {
  if (number == 0 || number > entries_.size()) return;
  Entry& e = entries_[number - 1];
  e.seats_used = static_cast<uint16_t>(e.seats_used > seats ? e.seats_used - seats : 0);
}

bool WaitingRoom::Purchased(uint64_t number) {
  if (number == 0 || number > entries_.size()) return false;
  if (entries_[number - 1].state != QueueState::kAdmitted) return false;
  EndAdmitted(static_cast<uint32_t>(number), QueueState::kDone);
  return true;
}

void WaitingRoom::SetSupply(uint64_t free, uint64_t held) {
  supply_known_ = true;
  free_ = free;
  held_ = held;
}

// ---------------------------------------------------------------------------
// Admission

bool WaitingRoom::active() const {
  if (!opened_) return !order_.empty();
  return waiting_ > 0 || active_ > 0;
}

void WaitingRoom::Shuffle(uint64_t seed) {
  // Only the pre-queue (joined before on_sale_ms) is shuffled: buyers who
  // joined at or after it, before this first Advance, keep FIFO order
  // behind it. order_ is still in number order here, and joined_ms is
  // logged, so replay partitions the same way.
  const auto pre_end = std::stable_partition(order_.begin(), order_.end(), [this](uint32_t n) {
    return entries_[n - 1].joined_ms < config_.on_sale_ms;
  });
  SplitMix64 rng{seed};
  for (size_t i = static_cast<size_t>(pre_end - order_.begin()); i > 1; --i) {
    const size_t j = static_cast<size_t>(rng.Below(i));
    std::swap(order_[i - 1], order_[j]);
  }
  for (size_t i = 0; i < order_.size(); ++i)
    entries_[order_[i] - 1].order_index = static_cast<uint32_t>(i);
  head_ = 0;
  RebuildIndex();
}

void WaitingRoom::Admit(uint32_t number, int64_t now, Advanced* out) {
  Entry& e = entries_[number - 1];
  e.state = QueueState::kAdmitted;
  e.seats_used = 0;
  IndexAdd(e.order_index, -1);
  --waiting_;
  ++active_;
  ++counts_.admitted_total;
  Pass p;
  random_(p.secret.data(), sizeof(p.secret));
  p.expires_ms = now + config_.pass_ttl_ms;
  passes_[number] = p;
  if (expiry_order_.empty() || PassOf(expiry_order_.back()).expires_ms <= p.expires_ms) {
    expiry_order_.push_back(number);
  } else {
    // A shorter pass lifetime since, or a clock that stepped back: keep the
    // order sorted by expiry (rare, so a linear insert is fine).
    auto at = std::upper_bound(expiry_order_.begin(), expiry_order_.end(), p.expires_ms,
                               [this](int64_t t, uint32_t n) { return t < PassOf(n).expires_ms; });
    expiry_order_.insert(at, number);
  }
  out->admitted.push_back(number);
}

size_t WaitingRoom::AdmitUpTo(size_t n, int64_t now, Advanced* out) {
  size_t admitted = 0;
  while (admitted < n && head_ < order_.size() && out->lapsed.size() < kMaxLapsesPerAdmit) {
    const uint32_t number = order_[head_];
    Entry& e = entries_[number - 1];
    if (e.state != QueueState::kWaiting) {
      ++head_;
      continue;
    }
    if (Overdue(e, now)) {
      EndWaiting(number, QueueState::kLapsed);
      out->lapsed.push_back(number);
      ++head_;
      continue;
    }
    Admit(number, now, out);
    ++head_;
    ++admitted;
  }
  if (admitted > 0) {
    // One entry per 100 ms slot keeps the history (and each ETA) small.
    if (!admissions_.empty() && now - admissions_.back().first < kAdmissionSlotMs &&
        now >= admissions_.back().first) {
      admissions_.back().second += static_cast<uint32_t>(admitted);
    } else {
      admissions_.emplace_back(now, static_cast<uint32_t>(admitted));
    }
  }
  return admitted;
}

WaitingRoom::Advanced WaitingRoom::Advance() {
  Advanced out;
  const int64_t now = clock_->NowMs();
  if (!opened_) {
    if (now < config_.on_sale_ms) return out;
    uint64_t seed = 0;
    random_(&seed, sizeof(seed));
    Shuffle(seed);
    opened_ = true;
    out.opened = true;
    out.shuffle_seed = seed;
    next_batch_ms_ = now;
  }
  // Passes that ran out.
  while (!expiry_order_.empty()) {
    const uint32_t number = expiry_order_.front();
    auto it = passes_.find(number);
    if (it == passes_.end() || entries_[number - 1].state != QueueState::kAdmitted) {
      expiry_order_.pop_front();
      continue;
    }
    if (it->second.expires_ms > now) break;
    EndAdmitted(number, QueueState::kPassExpired);
    out.expired.push_back(number);
    expiry_order_.pop_front();
  }
  // Buyers who stopped polling, a slice of the line per call.
  if (config_.grace_ms > 0 && waiting_ > 0) {
    if (sweep_ < head_ || sweep_ >= order_.size()) sweep_ = head_;
    for (size_t k = 0; k < kSweepPerAdvance && sweep_ < order_.size(); ++k, ++sweep_) {
      const uint32_t number = order_[sweep_];
      const Entry& e = entries_[number - 1];
      if (e.state == QueueState::kWaiting && Overdue(e, now)) {
        EndWaiting(number, QueueState::kLapsed);
        out.lapsed.push_back(number);
      }
    }
  }
  while (!admissions_.empty() && admissions_.front().first < now - kRateWindowMs)
    admissions_.pop_front();
  if (Paused()) {
    next_batch_ms_ = std::max(next_batch_ms_, now);  // no credit builds up while paused
    return out;
  }
  if (config_.mode == AdmissionMode::kRate) {
    const int64_t interval = std::max<int64_t>(
        1, static_cast<int64_t>(config_.batch_size) * 1000 / config_.rate_per_sec);
    // At most kMaxCatchUpBatches after a stall; never far ahead of a clock
    // that stepped back.
    next_batch_ms_ =
        std::clamp(next_batch_ms_, now - kMaxCatchUpBatches * interval, now + interval);
    while (next_batch_ms_ <= now) {
      AdmitUpTo(config_.batch_size, now, &out);
      next_batch_ms_ += interval;
    }
  } else if (active_ < config_.max_active) {
    AdmitUpTo(std::min<uint64_t>(config_.batch_size, config_.max_active - active_), now, &out);
  }
  return out;
}

void WaitingRoom::Estimate(uint64_t position, int64_t now, int64_t* p50, int64_t* p90) const {
  // Rates in buyers per second: over the whole window (p50), and the 10th
  // percentile of its whole seconds (p90: a slow second is what delays you).
  double r50 = 0, r10 = 0;
  if (admissions_.size() >= 2 && now - admissions_.front().first >= 1000 &&
      admissions_.back().first <= now) {
    const int64_t span = now - admissions_.front().first;
    uint64_t total = 0;
    for (size_t i = 1; i < admissions_.size(); ++i) total += admissions_[i].second;
    r50 = static_cast<double>(total) * 1000.0 / static_cast<double>(span);
    const int64_t seconds = span / 1000;
    // Whole seconds only say something when batches come more often than
    // once a second; otherwise assume a modest spread.
    const int64_t mean_gap = span / static_cast<int64_t>(admissions_.size() - 1);
    if (seconds >= 3 && mean_gap * 2 <= 1000) {
      std::vector<double> per_second(static_cast<size_t>(seconds), 0.0);
      for (const auto& [t, n] : admissions_) {
        if (t > now) continue;  // the wall clock stepped back
        const int64_t ago = (now - t) / 1000;
        if (ago < seconds) per_second[static_cast<size_t>(ago)] += n;
      }
      std::sort(per_second.begin(), per_second.end());
      r10 = per_second[per_second.size() / 10];
    } else {
      r10 = r50 / 1.25;
    }
    if (config_.mode == AdmissionMode::kRate) {
      r50 = std::min<double>(r50, config_.rate_per_sec);
      r10 = std::min<double>(r10, config_.rate_per_sec);
    }
  }
  if (r50 <= 0) {
    // Nothing measured yet: what the configuration promises.
    if (config_.mode == AdmissionMode::kRate) {
      r50 = r10 = config_.rate_per_sec;
    } else {
      // A buyer keeps a slot for at most the pass lifetime; assume half of it.
      r10 = static_cast<double>(config_.max_active) * 1000.0 /
            static_cast<double>(config_.pass_ttl_ms);
      r50 = 2 * r10;
    }
  }
  if (r10 <= 0) r10 = r50 / 4;
  const int64_t until_open = opened_ ? 0 : std::max<int64_t>(0, config_.on_sale_ms - now);
  // Clamped to about 30 years: the doubles cannot overflow an int64.
  constexpr double kMaxEtaMs = 1e12;
  *p50 = until_open +
         static_cast<int64_t>(std::min(kMaxEtaMs, static_cast<double>(position) * 1000.0 / r50));
  *p90 = until_open +
         static_cast<int64_t>(std::min(kMaxEtaMs, static_cast<double>(position) * 1000.0 / r10));
}

WaitingRoom::Pass WaitingRoom::PassOf(uint32_t number) const {
  auto it = passes_.find(number);
  return it == passes_.end() ? Pass{} : it->second;
}

// ---------------------------------------------------------------------------
// Recovery and snapshots

void WaitingRoom::RestoreJoin(uint32_t number, std::string_view buyer_key, int64_t joined_ms) {
  // An empty key is how an unused number looks; recovery refuses such records.
  if (number == 0 || buyer_key.empty() || by_key_.contains(buyer_key)) return;
  if (number <= entries_.size() && !entries_[number - 1].buyer_key.empty()) return;
  if (number > entries_.size()) entries_.resize(number);
  Entry& e = entries_[number - 1];
  e.buyer_key.assign(buyer_key);
  if (e.buyer_key.capacity() > 15) key_heap_bytes_ += e.buyer_key.capacity() + 1;
  e.joined_ms = joined_ms;
  e.last_seen_ms = clock_->NowMs();  // a fresh grace period after a restart
  e.order_index = static_cast<uint32_t>(order_.size());
  e.state = QueueState::kWaiting;
  by_key_.emplace(std::string_view(e.buyer_key), number);
  order_.push_back(number);
  ++waiting_;
  ++counts_.joined;
}

void WaitingRoom::RestoreOpen(uint64_t shuffle_seed) {
  if (opened_) return;
  Shuffle(shuffle_seed);
  opened_ = true;
}

void WaitingRoom::RestoreAdmit(uint32_t number, const Pass& pass, int64_t /*admitted_ms*/) {
  if (number == 0 || number > entries_.size()) return;
  Entry& e = entries_[number - 1];
  if (e.buyer_key.empty() || e.state != QueueState::kWaiting) return;
  e.state = QueueState::kAdmitted;
  --waiting_;
  ++active_;
  ++counts_.admitted_total;
  passes_[number] = pass;
}

void WaitingRoom::RestoreEnd(uint32_t number, QueueState state) {
  if (number == 0 || number > entries_.size()) return;
  Entry& e = entries_[number - 1];
  if (e.buyer_key.empty()) return;
  if (e.state == QueueState::kWaiting) {
    --waiting_;
    // A snapshot ends these straight from its joins, without their admit
    // records; they were admitted all the same.
    if (state == QueueState::kDone || state == QueueState::kPassExpired) ++counts_.admitted_total;
  } else if (e.state == QueueState::kAdmitted) {
    --active_;
    passes_.erase(number);
  } else {
    return;
  }
  e.state = state;
  if (state == QueueState::kLapsed) ++counts_.lapsed;
  if (state == QueueState::kLeft) ++counts_.left;
  if (state == QueueState::kDone) ++counts_.done;
  if (state == QueueState::kPassExpired) ++counts_.pass_expired;
}

void WaitingRoom::FinishRestore() {
  // Everyone waiting gets a fresh grace period from the end of recovery.
  const int64_t now = clock_->NowMs();
  for (Entry& e : entries_) {
    if (e.state == QueueState::kWaiting) e.last_seen_ms = now;
  }
  RebuildIndex();
  head_ = 0;
  while (head_ < order_.size() && entries_[order_[head_] - 1].state != QueueState::kWaiting)
    ++head_;
  sweep_ = head_;
  std::vector<uint32_t> admitted;
  for (const auto& [number, pass] : passes_) admitted.push_back(number);
  std::sort(admitted.begin(), admitted.end(), [this](uint32_t a, uint32_t b) {
    return passes_.at(a).expires_ms < passes_.at(b).expires_ms;
  });
  expiry_order_.assign(admitted.begin(), admitted.end());
  next_batch_ms_ = clock_->NowMs();
}

WaitingRoom::EntryView WaitingRoom::EntryInOrder(size_t i) const {
  const uint32_t number = order_[i];
  const Entry& e = entries_[number - 1];
  return EntryView{number, e.buyer_key, e.joined_ms, e.state, PassOf(number)};
}

RoomStats WaitingRoom::Stats() const {
  RoomStats s = counts_;
  s.waiting = waiting_;
  s.admitted = active_;
  s.opened = opened_;
  s.sold_out = SoldOut();
  s.paused = Paused();
  const int64_t now = clock_->NowMs();
  if (admissions_.size() >= 2 && now > admissions_.front().first) {
    uint64_t total = 0;
    for (size_t i = 1; i < admissions_.size(); ++i) total += admissions_[i].second;
    s.admit_rate_per_sec =
        static_cast<double>(total) * 1000.0 / static_cast<double>(now - admissions_.front().first);
  }
  uint64_t bytes = entries_.size() * sizeof(Entry) + order_.capacity() * sizeof(uint32_t) +
                   index_.capacity() * sizeof(int32_t) +
                   by_key_.capacity() * (sizeof(std::pair<std::string_view, uint32_t>) + 1) +
                   passes_.capacity() * (sizeof(std::pair<uint32_t, Pass>) + 1) +
                   expiry_order_.size() * sizeof(uint32_t);
  s.memory_bytes = bytes + key_heap_bytes_;
  return s;
}

}  // namespace seatlock
