#include "server/coordinators.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "protocol/sharding.h"

namespace seatlock {
namespace {

using wire::Request;
using wire::Response;
using Next = CallSteps::Next;

struct Sequence {
  CallFn call;
  CallSteps steps;
  size_t next = 0;
};

void Step(const std::shared_ptr<Sequence>& s) {
  if (s->next == s->steps.targets.size()) {
    s->steps.on_end();
    return;
  }
  const size_t i = s->next++;
  s->call(s->steps.targets[i], s->steps.request(i), [s, i](Response&& r) {
    if (s->steps.on_reply(i, std::move(r)) == Next::kContinue) Step(s);
  });
}

// Every shard but `skip` (all of them if it names none), in order.
std::vector<uint32_t> OthersThan(uint32_t skip, uint32_t shard_count) {
  std::vector<uint32_t> order;
  for (uint32_t s = 0; s < shard_count; ++s) {
    if (s != skip) order.push_back(s);
  }
  return order;
}

// The shards to ask, `first` first (if it is a shard), then the others in
// ascending order.
std::vector<uint32_t> FirstThenOthers(uint32_t first, uint32_t shard_count) {
  std::vector<uint32_t> order = OthersThan(first, shard_count);
  if (first < shard_count) order.insert(order.begin(), first);
  return order;
}

// CONFIRM's search: asks `targets` in turn; the first answer other than
// HOLD_NOT_FOUND, or the last answer, is the reply.
void AskInTurn(CallFn call, Request&& confirm, std::vector<uint32_t> targets, Callback done) {
  struct State {
    Request req;
    Callback done;
  };
  auto state = std::make_shared<State>();
  state->req = std::move(confirm);
  state->done = std::move(done);
  CallSteps steps;
  steps.targets = std::move(targets);
  const size_t last = steps.targets.size() - 1;
  steps.request = [state](size_t) { return state->req; };
  steps.on_reply = [state, last](size_t i, Response&& r) {
    if (r.code() != wire::HOLD_NOT_FOUND || i == last) {
      state->done(std::move(r));
      return Next::kStop;
    }
    return Next::kContinue;
  };
  steps.on_end = [] {};  // the last reply always stops
  CallInTurn(std::move(call), std::move(steps));
}

}  // namespace

void CallInTurn(CallFn call, CallSteps steps) {
  auto s = std::make_shared<Sequence>();
  s->call = std::move(call);
  s->steps = std::move(steps);
  Step(s);
}

std::optional<uint32_t> SoleHoldShard(const Request& req, uint32_t n, uint64_t seed) {
  const wire::HoldRequest& h = req.hold();
  if (h.seats().empty()) return 0;  // shard 0's engine refuses it: no seats requested
  const std::string& first = h.seats(0).section();
  const uint32_t owner = protocol::ShardFor(h.event_id(), first, n, seed);
  for (const wire::SeatRef& s : h.seats()) {
    if (s.section() != first && protocol::ShardFor(h.event_id(), s.section(), n, seed) != owner) {
      return std::nullopt;
    }
  }
  return owner;
}

std::map<uint32_t, Request> SplitHoldByShard(const Request& req, uint32_t n, uint64_t seed) {
  const wire::HoldRequest& h = req.hold();
  std::map<uint32_t, Request> parts;
  for (const wire::SeatRef& s : h.seats()) {
    const uint32_t owner = protocol::ShardFor(h.event_id(), s.section(), n, seed);
    auto [it, inserted] = parts.try_emplace(owner);
    if (inserted) {
      it->second.set_request_id(req.request_id());
      wire::HoldRequest* p = it->second.mutable_hold();
      p->set_event_id(h.event_id());
      p->set_holder(h.holder());
      p->set_ttl_ms(h.ttl_ms());
    }
    *it->second.mutable_hold()->add_seats() = s;
  }
  return parts;
}

void HoldAcrossShards(CallFn call, uint64_t request_id, std::string holder,
                      std::map<uint32_t, Request>&& parts, Callback done) {
  struct State {
    std::vector<Request> parts;
    std::vector<std::pair<uint32_t, uint64_t>> taken;  // (shard, hold id)
    Response merged;
    Callback done;
    std::string holder;
  };
  auto state = std::make_shared<State>();
  CallSteps steps;
  for (auto& [shard, part] : parts) {
    steps.targets.push_back(shard);
    state->parts.push_back(std::move(part));
  }
  state->done = std::move(done);
  state->holder = std::move(holder);
  state->merged.set_request_id(request_id);
  state->merged.set_code(wire::OK);
  steps.request = [state](size_t i) { return std::move(state->parts[i]); };
  steps.on_reply = [state, call, targets = steps.targets](size_t i, Response&& r) {
    if (r.code() != wire::OK) {
      // Roll back: release what was taken, then report the refusal.
      for (const auto& [shard, hold_id] : state->taken) {
        Request rel;
        rel.mutable_release()->set_hold_id(hold_id);
        rel.mutable_release()->set_holder(state->holder);
        call(shard, std::move(rel), [](Response&&) {});
      }
      r.set_request_id(state->merged.request_id());
      state->done(std::move(r));
      return Next::kStop;
    }
    state->taken.emplace_back(targets[i], r.hold().hold_id());
    wire::HoldReply* m = state->merged.mutable_hold();
    if (m->hold_id() == 0) {
      m->set_hold_id(r.hold().hold_id());
      m->set_expires_ms(r.hold().expires_ms());
      m->set_remaining_ms(r.hold().remaining_ms());
    }
    m->add_part_hold_ids(r.hold().hold_id());
    m->set_fencing_token(std::max(m->fencing_token(), r.hold().fencing_token()));
    m->set_expires_ms(std::min(m->expires_ms(), r.hold().expires_ms()));
    m->set_remaining_ms(std::min(m->remaining_ms(), r.hold().remaining_ms()));
    for (const auto& s : r.hold().seats()) *m->add_seats() = s;
    return Next::kContinue;
  };
  steps.on_end = [state] { state->done(std::move(state->merged)); };
  CallInTurn(std::move(call), std::move(steps));
}

void ConfirmAcrossShards(CallFn call, Request&& confirm, uint32_t shard_count, Callback done) {
  if (shard_count == 1) {  // no one else to ask: no state, no copy
    call(0, std::move(confirm), std::move(done));
    return;
  }
  const uint32_t owner = protocol::ShardOfId(confirm.confirm().hold_id());
  if (owner >= shard_count) {  // an id no shard of this server issued
    AskInTurn(std::move(call), std::move(confirm), OthersThan(owner, shard_count), std::move(done));
    return;
  }
  // The usual case: the owner answers, and only its HOLD_NOT_FOUND (the sale
  // was made before a reshard) sends the CONFIRM on to the others. The copy
  // kept for them is the one allocation.
  struct Fallback {
    Request req;
    Callback done;
  };
  auto fb = std::make_shared<Fallback>();
  fb->req = confirm;
  fb->done = std::move(done);
  call(owner, std::move(confirm), [call, fb, owner, shard_count](Response&& r) mutable {
    if (r.code() != wire::HOLD_NOT_FOUND) {
      fb->done(std::move(r));
      return;
    }
    AskInTurn(std::move(call), std::move(fb->req), OthersThan(owner, shard_count),
              std::move(fb->done));
  });
}

void HoldBestAnywhere(CallFn call, Request&& req, uint32_t self, uint32_t shard_count,
                      Callback done) {
  struct State {
    Request req;
    Response best_failure;
    Callback done;
  };
  auto state = std::make_shared<State>();
  state->req = std::move(req);
  state->done = std::move(done);
  state->best_failure.set_code(wire::NOT_ENOUGH_SEATS);
  CallSteps steps;
  steps.targets = FirstThenOthers(self, shard_count);
  steps.request = [state](size_t) { return state->req; };
  steps.on_reply = [state](size_t, Response&& r) {
    // EVENT_NOT_FOUND and argument errors are the same on every shard.
    if (r.code() != wire::NOT_ENOUGH_SEATS && r.code() != wire::NO_ADJACENT_SEATS) {
      state->done(std::move(r));
      return Next::kStop;
    }
    if (r.code() == wire::NO_ADJACENT_SEATS || state->best_failure.detail().empty()) {
      state->best_failure = std::move(r);
    }
    return Next::kContinue;
  };
  steps.on_end = [state] {
    state->best_failure.set_request_id(state->req.request_id());
    state->done(std::move(state->best_failure));
  };
  CallInTurn(std::move(call), std::move(steps));
}

}  // namespace seatlock
