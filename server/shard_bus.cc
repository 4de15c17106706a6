#include "server/shard_bus.h"

#include <algorithm>
#include <utility>

namespace seatlock {

BusFabric::BusFabric(uint32_t shards, uint64_t lane_capacity) : shards_(shards) {
  lanes_.reserve(static_cast<size_t>(shards) * shards);
  for (size_t i = 0; i < static_cast<size_t>(shards) * shards; ++i) {
    lanes_.push_back(std::make_unique<Inbox<BusMessage>>(lane_capacity));
  }
}

ShardBus::ShardBus(BusFabric* fabric, uint32_t self)
    : fabric_(fabric), self_(self), backlog_(fabric->shards()) {}

ShardBus::~ShardBus() {
  for (auto& q : backlog_) {
    for (BusMessage* m : q) delete m;
  }
}

void ShardBus::Call(uint32_t target, wire::Request&& request, Callback done) {
  auto* m = new BusMessage;
  m->body = BusMessage::RunOp{std::move(request)};
  SendCall(target, m, std::move(done));
}

void ShardBus::CallGateHold(uint32_t target, wire::Request&& request, Callback done) {
  auto* m = new BusMessage;
  m->body = BusMessage::GateHold{std::move(request)};
  SendCall(target, m, std::move(done));
}

void ShardBus::NotePurchase(uint32_t target, std::string event_id, uint64_t hold_id) {
  auto* m = new BusMessage;
  m->body = BusMessage::Purchase{std::move(event_id), hold_id};
  m->from = self_;
  Send(target, m);
}

void ShardBus::SendCall(uint32_t target, BusMessage* m, Callback&& done) {
  ++calls_sent_;
  m->from = self_;
  m->token = next_token_++;
  pending_.try_emplace(m->token, std::move(done));
  Send(target, m);
}

void ShardBus::Send(uint32_t target, BusMessage* m) {
  std::deque<BusMessage*>& backlog = backlog_[target];
  if (!backlog.empty()) {  // keep the lane's order
    backlog.push_back(m);
    ++backlog_count_;
    return;
  }
  switch (fabric_->lane(self_, target).Push(m)) {
    case Inbox<BusMessage>::kWasEmpty:
      wake_.push_back(target);
      break;
    case Inbox<BusMessage>::kPushed:
      break;
    case Inbox<BusMessage>::kFull:
      backlog.push_back(m);
      ++backlog_count_;
      break;
  }
}

Callback ShardBus::ReplyTo(BusMessage* m) {
  // The message travels back as the reply: the callback owns it until then.
  return [this, m](wire::Response&& response) {
    const uint32_t to = m->from;
    m->from = self_;
    m->body = BusMessage::Reply{std::move(response)};
    Send(to, m);
  };
}

void ShardBus::Drain(Receiver* receiver) {
  drained_.clear();
  for (uint32_t from = 0; from < fabric_->shards(); ++from) {
    if (from == self_) continue;
    Inbox<BusMessage>& lane = fabric_->lane(from, self_);
    if (lane.DrainAll(&drained_) > 0 && lane.TakeProducerWaiting()) wake_.push_back(from);
  }
  for (BusMessage* m : drained_) {
    if (auto* run = std::get_if<BusMessage::RunOp>(&m->body)) {
      receiver->OnRunOp(run->request, ReplyTo(m));
    } else if (auto* gate = std::get_if<BusMessage::GateHold>(&m->body)) {
      receiver->OnGateHold(std::move(gate->request), ReplyTo(m));
    } else if (auto* note = std::get_if<BusMessage::Purchase>(&m->body)) {
      receiver->OnPurchase(note->event_id, note->hold_id);
      delete m;
    } else {
      std::unique_ptr<BusMessage> reply(m);
      auto it = pending_.find(reply->token);
      if (it == pending_.end()) continue;
      Callback cb = std::move(it->second);
      pending_.erase(it);
      cb(std::move(std::get<BusMessage::Reply>(reply->body).response));
    }
  }
  drained_.clear();
}

void ShardBus::Flush() {
  if (backlog_count_ > 0) {
    for (uint32_t target = 0; target < backlog_.size(); ++target) {
      std::deque<BusMessage*>& q = backlog_[target];
      Inbox<BusMessage>& lane = fabric_->lane(self_, target);
      while (!q.empty()) {
        const auto r = lane.Push(q.front());
        if (r == Inbox<BusMessage>::kFull) {
          // Ask the receiver to wake us when it drains; if it already has
          // made room meanwhile, go on at once.
          if (lane.MarkProducerWaiting()) continue;
          break;
        }
        if (r == Inbox<BusMessage>::kWasEmpty) wake_.push_back(target);
        q.pop_front();
        --backlog_count_;
      }
    }
  }
  if (wake_.empty()) return;
  std::sort(wake_.begin(), wake_.end());
  wake_.erase(std::unique(wake_.begin(), wake_.end()), wake_.end());
  for (uint32_t t : wake_) fabric_->Wake(t);
  wake_.clear();
}

bool ShardBus::HasIncoming() const {
  for (uint32_t from = 0; from < fabric_->shards(); ++from) {
    if (from != self_ && !fabric_->lane(from, self_).empty()) return true;
  }
  return false;
}

}  // namespace seatlock
