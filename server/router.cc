#include "server/router.h"

#include "server/replication_hub.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "protocol/op_table.h"
#include "server/error_response.h"
#include "server/fanout_merge.h"

namespace seatlock {

using wire::Request;
using wire::Response;

CallFn Router::Caller() {
  return [this](uint32_t target, Request&& req, Callback done) {
    CallShard(target, std::move(req), std::move(done));
  };
}

void Router::CallShard(uint32_t target, Request&& req, Callback done) {
  if (target == p_.self) {
    p_.run_local(req, std::move(done));
    return;
  }
  p_.bus->Call(target, std::move(req), std::move(done));
}

void Router::Route(Request&& req, Callback done) {
  const protocol::OpInfo* op = protocol::FindOp(req.op_case());
  if (op != nullptr && op->gated) {
    const std::string& event_id = protocol::EventOf(req);
    if (p_.rooms->gated(event_id)) {
      const uint32_t home = p_.rooms->HomeOf(event_id);
      if (home == p_.self) {
        GateHold(std::move(req), std::move(done));
      } else {
        p_.bus->CallGateHold(home, std::move(req), std::move(done));
      }
      return;
    }
  }
  RouteUngated(std::move(req), std::move(done));
}

void Router::RouteUngated(Request&& req, Callback done) {
  const uint32_t n = p_.config->shards;
  if (req.op_case() == Request::kHold) {
    RouteHold(std::move(req), std::move(done));
    return;
  }
  const protocol::Target t = protocol::TargetOf(req, n, p_.group->hash_seed, /*gated=*/false);
  switch (t.kind) {
    case protocol::Target::kShard:
      if (t.shard >= n) {  // LIST_BOOKINGS naming a shard this server does not have
        done(ErrorResponse(req.request_id(), wire::WRONG_SHARD,
                           absl::StrCat("no shard ", t.shard, " (the server has ", n, ")")));
        return;
      }
      CallShard(t.shard, std::move(req), std::move(done));
      return;
    case protocol::Target::kReceiver: {
      // Only an id can name no shard: EXTEND, RELEASE or GET_HOLD.
      const uint64_t id = protocol::HoldIdOf(req);
      done(ErrorResponse(req.request_id(), wire::HOLD_NOT_FOUND,
                         absl::StrCat("no hold ", id, " (it names shard ", t.shard, ")")));
      return;
    }
    case protocol::Target::kSpread:  // HOLD_BEST_AVAILABLE without a section
      HoldBestAnywhere(Caller(), std::move(req), p_.self, n, std::move(done));
      return;
    case protocol::Target::kConfirm: {
      if (p_.rooms->empty()) {
        ConfirmAcrossShards(Caller(), std::move(req), n, std::move(done));
        return;
      }
      // A purchase of a gated event frees the buyer's place in its room.
      auto confirm = std::make_shared<Request>(req);
      ConfirmAcrossShards(Caller(), std::move(req), n,
                          [this, confirm, done = std::move(done)](Response&& r) {
                            if (r.code() == wire::OK && !r.confirm().replayed() &&
                                p_.rooms->gated(r.confirm().event_id())) {
                              NotePurchase(*confirm, r.confirm().event_id());
                            }
                            done(std::move(r));
                          });
      return;
    }
    case protocol::Target::kFanOut:
      RouteFanOut(std::move(req), std::move(done));
      return;
  }
}

void Router::RouteHold(Request&& req, Callback done) {
  const wire::HoldRequest& h = req.hold();
  const uint32_t max_seats = p_.config->limits.max_seats_per_hold;
  if (static_cast<uint32_t>(h.seats_size()) > max_seats) {
    done(ErrorResponse(
        req.request_id(), wire::LIMIT_EXCEEDED,
        absl::StrCat(h.seats_size(), " seats exceeds the maximum of ", max_seats, " per hold")));
    return;
  }
  if (const std::optional<uint32_t> owner =
          SoleHoldShard(req, p_.config->shards, p_.group->hash_seed)) {
    CallShard(*owner, std::move(req), std::move(done));
    return;
  }
  auto parts = SplitHoldByShard(req, p_.config->shards, p_.group->hash_seed);
  HoldAcrossShards(Caller(), req.request_id(), h.holder(), std::move(parts), std::move(done));
}

void Router::RouteFanOut(Request&& req, Callback done) {
  const uint64_t rid = req.request_id();
  switch (req.op_case()) {
    case Request::kCancelBooking:
      // After a reshard a booking's seats may live on any shard (and on
      // several): ask every shard; one that had it answers OK.
      FanOut(req, [rid, done = std::move(done)](std::vector<Response>&& parts) {
        done(merge::MergeCancelBooking(std::move(parts), rid));
      });
      return;
    case Request::kDeleteEvent:
      DeleteEvent(std::move(req), std::move(done));
      return;
    case Request::kConfigureRoom: {
      // Every shard learns the event is gated; the home's part (with the
      // room's figures) is the reply.
      const uint32_t home = p_.rooms->HomeOf(req.configure_room().event_id());
      FanOut(req, [rid, home, done = std::move(done)](std::vector<Response>&& parts) {
        done(merge::MergeConfigureRoom(std::move(parts), rid, home));
      });
      return;
    }
    default:
      break;
  }
  const auto op = req.op_case();
  const uint32_t limit = std::min(req.list_holds().limit() == 0 ? 1000u : req.list_holds().limit(),
                                  p_.config->limits.max_list_results);
  std::string event_id = req.get_availability().event_id();
  FanOut(req, [this, rid, op, limit, event_id = std::move(event_id),
               done = std::move(done)](std::vector<Response>&& parts) {
    merge::Context context;
    context.layout = p_.engine->Layout(event_id);
    context.list_limit = limit;
    context.uptime_ms = SystemClock::Get()->NowMs() - p_.group->start_ms;
    context.server_version = kServerVersion;
    context.io_backend = loop_ != nullptr ? loop_->name() : "";
    context.rss_bytes = MemoryGuard::ReadRss();
    context.max_memory_bytes = p_.group->memory.limit();
    context.memory_exceeded = p_.group->memory.exceeded();
    Response merged = merge::MergeParts(op, parts, rid, context);
    if (op == Request::kStats) FillReplication(merged.mutable_stats());
    done(std::move(merged));
  });
}

void Router::FillReplication(wire::StatsReply* s) const {
  const ReplicationHub* hub = p_.config->replication;
  if (hub == nullptr) {
    s->set_role("standalone");
    return;
  }
  s->set_role(RoleName(hub->role()));
  s->set_epoch(hub->epoch());
  s->set_hold_changes_dropped(hub->hold_changes_dropped());
  s->set_hold_resyncs(hub->hold_resyncs());
  if (hub->role() != NodeRole::kPrimary) return;
  s->set_sync_replica(hub->sync());
  s->set_repl_streams(hub->repl_streams());
  s->set_repl_streams_refused(hub->repl_refused());
  for (const ReplicationHub::ReplicaView& v : hub->Replicas()) {
    wire::ReplicaStatus* r = s->add_replicas();
    r->set_node_id(v.node);
    for (uint32_t i = 0; i < hub->shards(); ++i) {
      const uint64_t durable = hub->local_durable(i);
      r->add_acked_lsn(v.acked[i]);
      r->add_lag_records(durable > v.acked[i] ? durable - v.acked[i] : 0);
      r->add_lag_ms(v.lag_ms[i]);
      r->add_connected(v.connected[i]);
    }
  }
}

void Router::DeleteEvent(Request&& req, Callback done) {
  auto del = std::make_shared<Request>(std::move(req));
  auto run = [this, del](Callback reply) {
    FanOut(*del, [del, reply = std::move(reply)](std::vector<Response>&& parts) {
      reply(merge::MergeParts(Request::kDeleteEvent, parts, del->request_id(), merge::Context()));
    });
  };
  if (del->delete_event().force()) {
    run(std::move(done));
    return;
  }
  // Without force, look for live holds on every shard first, so that a
  // refusal leaves the event whole (a hold granted between the two steps can
  // still make a shard refuse its part: the reply says so, and a retry, with
  // force if need be, finishes the deletion).
  Request check;
  check.set_request_id(del->request_id());
  check.mutable_get_availability()->set_event_id(del->delete_event().event_id());
  FanOut(check, [run, del, done](std::vector<Response>&& parts) mutable {
    uint64_t held = 0;
    for (const Response& p : parts) {
      if (p.code() != wire::OK) {
        done(ErrorResponse(del->request_id(), p.code(), p.detail()));
        return;
      }
      held += p.get_availability().held();
    }
    if (held > 0) {
      done(ErrorResponse(del->request_id(), wire::EVENT_HAS_LIVE_HOLDS,
                         absl::StrCat("event '", del->delete_event().event_id(), "' has ", held,
                                      " held seat(s); release the holds, let them expire, or "
                                      "delete with force")));
      return;
    }
    run(std::move(done));
  });
}

void Router::FanOut(const Request& req, std::function<void(std::vector<Response>&&)> done) {
  struct Gather {
    std::vector<Response> parts;
    uint32_t remaining;
    std::function<void(std::vector<Response>&&)> done;
  };
  const uint32_t n = p_.config->shards;
  auto g = std::make_shared<Gather>();
  g->parts.resize(n);
  g->remaining = n;
  g->done = std::move(done);
  for (uint32_t s = 0; s < n; ++s) {
    Request copy = req;
    CallShard(s, std::move(copy), [g, s](Response&& r) {
      g->parts[s] = std::move(r);
      if (--g->remaining == 0) g->done(std::move(g->parts));
    });
  }
}

void Router::GateHold(Request&& req, Callback done) {
  // On the room's home shard: check the pass and reserve its seats, then
  // route the hold as usual; a refused hold gives the seats back.
  const bool best = req.op_case() == Request::kHoldBestAvailable;
  const std::string event_id = best ? req.hold_best_available().event_id() : req.hold().event_id();
  const std::string& pass = best ? req.hold_best_available().pass() : req.hold().pass();
  const uint32_t seats =
      best ? req.hold_best_available().count() : static_cast<uint32_t>(req.hold().seats_size());
  uint64_t number = 0;
  std::string detail;
  const wire::ResultCode code = p_.rooms->UsePass(event_id, pass, seats, &number, &detail);
  if (code != wire::OK) {
    done(ErrorResponse(req.request_id(), code, std::move(detail)));
    return;
  }
  RouteUngated(std::move(req),
               [this, event_id, number, seats, done = std::move(done)](Response&& r) {
                 if (r.code() == wire::OK) {
                   std::vector<uint64_t> ids{r.hold().hold_id()};
                   for (uint64_t id : r.hold().part_hold_ids()) ids.push_back(id);
                   p_.rooms->NoteHolds(event_id, number, ids);
                 } else {
                   p_.rooms->Refund(event_id, number, seats);
                 }
                 done(std::move(r));
               });
}

void Router::NotePurchase(const Request& confirm, const std::string& event_id) {
  const uint32_t home = p_.rooms->HomeOf(event_id);
  if (home == p_.self) {
    p_.rooms->Purchased(event_id, confirm.confirm().hold_id(), p_.commit->log());
    return;
  }
  p_.bus->NotePurchase(home, event_id, confirm.confirm().hold_id());
}

void Router::PollSupply(int64_t now_ms) {
  // The home shard measures its gated events' free and held seats across
  // every shard, so the room can pause admission and say SOLD_OUT.
  for (std::string& event_id : p_.rooms->SupplyDue(now_ms)) {
    Request req;
    req.mutable_get_availability()->set_event_id(event_id);
    FanOut(req, [this, event_id = std::move(event_id)](std::vector<Response>&& parts) {
      const merge::Supply s = merge::MergeSupply(parts);
      if (s.known) {
        p_.rooms->SetSupply(event_id, s.free, s.held);
      } else {
        p_.rooms->SetSupply(event_id, 1, 0);  // unknown: do not pause
      }
    });
  }
}

}  // namespace seatlock
