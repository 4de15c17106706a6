#include "server/shard.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/mono_clock.h"
#include "persistence/wal.pb.h"
#include "persistence/wal_record.h"
#include "protocol/sharding.h"
#include "server/engine_ops.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/reshard.h"
#include "server/wal_codec.h"

namespace seatlock {
namespace {

using wire::Request;
using wire::Response;

constexpr int kMetricsListener = 2;

// Fencing tokens are reserved in the log a block at a time, and the next
// block is reserved when half of this one is used, so a restart never hands
// out a token twice (the floor after a crash is the last reservation).
constexpr uint64_t kFencingBlock = uint64_t{1} << 30;

Response ErrorResponse(uint64_t request_id, wire::ResultCode code, std::string detail) {
  Response r;
  r.set_request_id(request_id);
  r.set_code(code);
  r.set_detail(std::move(detail));
  return r;
}

// Returns a non-empty message when a request is malformed: a required field
// is missing or out of range. Domain limits are the engine's business.
std::string Malformed(const Request& req) {
  switch (req.op_case()) {
    case Request::kDefineEvent:
      if (req.define_event().event_id().empty()) return "define_event.event_id is empty";
      if (req.define_event().sections_size() == 0) return "define_event.sections is empty";
      return "";
    case Request::kHold: {
      const auto& h = req.hold();
      if (h.event_id().empty()) return "hold.event_id is empty";
      if (h.seats_size() == 0) return "hold.seats is empty";
      for (const auto& s : h.seats()) {
        if (s.section().empty()) return "hold.seats[].section is empty";
        if (!s.has_index() && (s.row().empty() || s.seat().empty())) {
          return "hold.seats[] needs row and seat labels, or an index";
        }
      }
      if (h.holder().empty()) return "hold.holder is empty";
      if (h.ttl_ms() <= 0) return "hold.ttl_ms must be positive";
      return "";
    }
    case Request::kHoldBestAvailable: {
      const auto& h = req.hold_best_available();
      if (h.event_id().empty()) return "hold_best_available.event_id is empty";
      if (h.count() == 0) return "hold_best_available.count must be positive";
      if (h.holder().empty()) return "hold_best_available.holder is empty";
      if (h.ttl_ms() <= 0) return "hold_best_available.ttl_ms must be positive";
      return "";
    }
    case Request::kExtend:
      if (req.extend().hold_id() == 0) return "extend.hold_id is 0";
      if (req.extend().holder().empty()) return "extend.holder is empty";
      if (req.extend().ttl_ms() <= 0) return "extend.ttl_ms must be positive";
      return "";
    case Request::kRelease:
      if (req.release().hold_id() == 0) return "release.hold_id is 0";
      if (req.release().holder().empty()) return "release.holder is empty";
      return "";
    case Request::kConfirm:
      if (req.confirm().hold_id() == 0) return "confirm.hold_id is 0";
      if (req.confirm().holder().empty()) return "confirm.holder is empty";
      if (req.confirm().idempotency_key().empty()) return "confirm.idempotency_key is empty";
      return "";
    case Request::kCancelBooking:
      if (req.cancel_booking().booking_id() == 0) return "cancel_booking.booking_id is 0";
      return "";
    case Request::kGetSeats:
      if (req.get_seats().event_id().empty()) return "get_seats.event_id is empty";
      if (req.get_seats().section().empty()) return "get_seats.section is empty";
      return "";
    case Request::kGetAvailability:
      if (req.get_availability().event_id().empty()) return "get_availability.event_id is empty";
      return "";
    case Request::kGetHold:
      if (req.get_hold().hold_id() == 0) return "get_hold.hold_id is 0";
      return "";
    case Request::kSubscribe:
      if (req.subscribe().event_id().empty()) return "subscribe.event_id is empty";
      return "";
    case Request::kConfigureRoom:
      if (req.configure_room().event_id().empty()) return "configure_room.event_id is empty";
      return "";
    case Request::kJoinQueue:
      if (req.join_queue().event_id().empty()) return "join_queue.event_id is empty";
      if (req.join_queue().buyer_key().empty()) return "join_queue.buyer_key is empty";
      return "";
    case Request::kQueueStatus:
      if (req.queue_status().event_id().empty()) return "queue_status.event_id is empty";
      if (req.queue_status().number() == 0) return "queue_status.number is 0";
      return "";
    case Request::kLeaveQueue:
      if (req.leave_queue().event_id().empty()) return "leave_queue.event_id is empty";
      if (req.leave_queue().number() == 0) return "leave_queue.number is 0";
      return "";
    case Request::kRoomInfo:
      if (req.room_info().event_id().empty()) return "room_info.event_id is empty";
      return "";
    default:
      return "";
  }
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Compares every byte of the longer input so the time does not reveal
  // where the first difference is.
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

}  // namespace

Shard::Shard(uint32_t index, const ServerConfig& config, ShardGroup* group, int main_listen_fd,
             int shard_listen_fd, int metrics_listen_fd)
    : index_(index),
      config_(config),
      group_(group),
      main_listen_fd_(main_listen_fd),
      shard_listen_fd_(shard_listen_fd),
      metrics_listen_fd_(metrics_listen_fd),
      feed_(index, config.feed_ring),
      rooms_(index, config.shards, group->hash_seed, &clock_) {
  SeatEngine::Options opts;
  opts.clock = &clock_;
  opts.sink = &feed_;
  opts.limits = config.limits;
  opts.shard_index = static_cast<uint8_t>(index);
  const uint32_t count = config.shards;
  const uint64_t seed = group->hash_seed;
  opts.owns_section = [index, count, seed](std::string_view event, std::string_view section) {
    return protocol::ShardFor(event, section, count, seed) == index;
  };
  engine_ = std::make_unique<SeatEngine>(std::move(opts));
  feed_.set_engine(engine_.get());
}

Shard::~Shard() {
  // The loop first: its pending file writes (and the epoll backend's writer
  // thread) refer to the log's and snapshotter's buffers and file descriptors.
  loop_.reset();
}

void Shard::Run(std::promise<absl::Status>* started) {
  SetLogThreadName(absl::StrCat("shard ", index_));
  if (config_.pin) {
    cpu_set_t set;
    CPU_ZERO(&set);
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    CPU_SET(static_cast<int>(index_ % static_cast<uint32_t>(ncpu > 0 ? ncpu : 1)), &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
      LogWarning("could not pin shard ", index_, " to a CPU");
    }
  }
  if (group_->reshard_from > 0) {
    const absl::Status staged = StageReshard();
    group_->staged[index_].set_value(staged);
    const absl::Status swapped = group_->swapped.get();
    if (!staged.ok() || !swapped.ok()) {
      started->set_value(!staged.ok() ? staged : swapped);
      return;
    }
  }
  if (absl::Status st = Recover(); !st.ok()) {
    started->set_value(st);
    return;
  }
  auto loop = MakeEventLoop(config_.io);
  if (!loop.ok()) {
    started->set_value(loop.status());
    return;
  }
  loop_ = std::move(*loop);
  feed_.set_loop(loop_.get());
  log_ = std::make_unique<ShardLog>(std::move(*recovered_dir_), recovered_next_lsn_, loop_.get(),
                                    config_.fsync ? FsyncMode::kAlways : FsyncMode::kNone);
  recovered_dir_.reset();
  snapshotter_ =
      std::make_unique<Snapshotter>(absl::StrCat(config_.data_dir, "/shard-", index_), loop_.get());
  absl::Status st = loop_->AddListener(main_listen_fd_, 0);
  if (st.ok()) st = loop_->AddListener(shard_listen_fd_, 1);
  if (st.ok() && metrics_listen_fd_ >= 0)
    st = loop_->AddListener(metrics_listen_fd_, kMetricsListener);
  started->set_value(st);
  if (!st.ok()) return;
  group_->go.wait();  // every shard's loop exists before any shard routes
  loop_->Run(this);
  // loop_ stays alive (other shards may still Wake it) until ~Shard, which
  // the server runs after every shard thread has exited.
}

void Shard::Post(std::unique_ptr<ShardMessage> msg) {
  if (inbox_.Push(std::move(msg))) Wake();
}

void Shard::Wake() {
  // loop_ is set before the server starts routing (it waits for every shard
  // to report started), and reset only after all shards went idle.
  if (loop_ != nullptr) loop_->Wake();
}

void Shard::OnAccept(int listener_tag, int fd) {
  if (draining_) {
    close(fd);
    return;
  }
  if (group_->connections.load(std::memory_order_relaxed) >= config_.max_connections) {
    if (rejected_connections_++ % 1000 == 0) {
      LogWarning("connection limit (", config_.max_connections, ") reached; refusing connections");
    }
    close(fd);
    return;
  }
  group_->connections.fetch_add(1, std::memory_order_relaxed);
  // Replies and change-feed messages are small and must not wait for Nagle
  // (with the peer's delayed ACK that is a 40 ms stall on a one-way stream).
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const uint64_t id = next_conn_id_++;
  auto [it, inserted] = conns_.try_emplace(id, config_.max_frame_bytes);
  it->second.last_active_ms = clock_.NowMs();
  it->second.authed = config_.auth_token.empty();
  it->second.http = listener_tag == kMetricsListener;
  loop_->AddConnection(id, fd);
}

void Shard::OnData(uint64_t id, const char* data, size_t n) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second.closing) return;
  clock_.Refresh();
  if (it->second.http) {
    HandleHttp(id, it->second, data, n);
    return;
  }
  it->second.decoder.Append(data, n);
  it->second.last_active_ms = clock_.NowMs();
  DrainFrames(id);
  arena_.Reset();
}

void Shard::DrainFrames(uint64_t id) {
  // A reply that completes inside the loop (a local op) may call back here;
  // the loop already running picks up the freed in-flight slot instead, so
  // the stack does not grow with the number of pipelined frames.
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second.draining) return;
  it->second.draining = true;
  DrainFramesLoop(id);
  it = conns_.find(id);
  if (it != conns_.end()) it->second.draining = false;
}

void Shard::DrainFramesLoop(uint64_t id) {
  for (;;) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& c = it->second;
    if (c.closing) return;
    if (c.in_flight >= config_.max_in_flight || draining_) {
      if (!c.paused) {
        c.paused = true;
        loop_->SetReadEnabled(id, false);
      }
      return;
    }
    std::string_view body;
    switch (c.decoder.Next(&body)) {
      case protocol::FrameDecoder::Result::kNeedMore:
        if (c.paused) {
          c.paused = false;
          loop_->SetReadEnabled(id, true);
        }
        return;
      case protocol::FrameDecoder::Result::kTooLarge:
        ProtocolError(id, wire::BAD_FRAME, 0,
                      absl::StrCat("frame of ", c.decoder.last_length(),
                                   " bytes exceeds the limit of ", config_.max_frame_bytes));
        return;
      case protocol::FrameDecoder::Result::kFrame: {
        Request* req = google::protobuf::Arena::CreateMessage<Request>(&arena_);
        if (!req->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
          ProtocolError(id, wire::BAD_FRAME, 0, "frame body is not a valid Request message");
          return;
        }
        HandleRequest(id, c, std::move(*req));
        break;
      }
    }
  }
}

void Shard::ProtocolError(uint64_t id, wire::ResultCode code, uint64_t request_id,
                          std::string detail) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  LogWarning("connection ", id, ": ", detail, "; closing it");
  Reply(id, ErrorResponse(request_id, code, std::move(detail)));
  it = conns_.find(id);
  if (it == conns_.end()) return;
  it->second.closing = true;
  loop_->SetReadEnabled(id, false);
  if (it->second.in_flight == 0) CloseConn(id);
}

void Shard::HandleHttp(uint64_t id, Conn& conn, const char* data, size_t n) {
  if (conn.in_flight > 0) return;  // one request per connection
  conn.http_in.append(data, n);
  std::string method, path;
  if (!ParseHttpRequest(conn.http_in, &method, &path)) {
    if (conn.http_in.size() > 8192) {
      if (std::string* out = loop_->Output(id)) {
        *out += HttpResponse(431, "Request Header Fields Too Large", "text/plain",
                             "request too large\n");
      }
      CloseConn(id);
    }
    return;
  }
  if (method != "GET" || (path != "/metrics" && path.rfind("/metrics?", 0) != 0)) {
    if (std::string* out = loop_->Output(id)) {
      *out += HttpResponse(404, "Not Found", "text/plain", "seatlockd serves only GET /metrics\n");
    }
    CloseConn(id);
    return;
  }
  conn.in_flight++;
  Request req;
  req.mutable_stats();
  Route(std::move(req), [this, id](Response&& resp) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    it->second.in_flight--;
    if (std::string* out = loop_->Output(id)) {
      *out += HttpResponse(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                           RenderPrometheus(resp.stats()));
    }
    CloseConn(id);
  });
}

void Shard::CloseConn(uint64_t id) {
  feed_.DropConnection(id);
  if (conns_.erase(id) > 0) group_->connections.fetch_sub(1, std::memory_order_relaxed);
  loop_->Close(id);
}

void Shard::OnPeerClosed(uint64_t id, int /*error*/) { CloseConn(id); }

void Shard::Reply(uint64_t id, const Response& resp) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  std::string* out = loop_->Output(id);
  if (out != nullptr) protocol::AppendFrame(resp, out);
}

void Shard::HandleRequest(uint64_t id, Conn& conn, Request&& req) {
  ++requests_;
  const uint64_t rid = req.request_id();
  const auto op = req.op_case();
  if (op == Request::OP_NOT_SET) {
    ProtocolError(id, wire::UNKNOWN_OP, rid, "request carries no known operation");
    return;
  }
  if (std::string why = Malformed(req); !why.empty()) {
    ProtocolError(id, wire::INVALID_ARGUMENT, rid, std::move(why));
    return;
  }
  if (op == Request::kHello) {
    Response r;
    r.set_request_id(rid);
    wire::HelloReply* h = r.mutable_hello();
    h->set_protocol_version(protocol::kProtocolVersion);
    h->set_server_version(kServerVersion);
    h->set_shard_count(config_.shards);
    for (uint16_t p : group_->shard_ports) h->add_shard_ports(p);
    h->set_hash_seed(group_->hash_seed);
    h->set_auth_required(!config_.auth_token.empty());
    h->set_max_frame_bytes(config_.max_frame_bytes);
    h->set_max_in_flight(config_.max_in_flight);
    Reply(id, r);
    return;
  }
  if (op == Request::kAuth) {
    const bool ok =
        config_.auth_token.empty() || ConstantTimeEquals(req.auth().token(), config_.auth_token);
    conn.authed = conn.authed || ok;
    Reply(id, ok ? ErrorResponse(rid, wire::OK, "")
                 : ErrorResponse(rid, wire::UNAUTHENTICATED, "wrong auth token"));
    return;
  }
  if (op == Request::kPing) {
    Response r;
    r.set_request_id(rid);
    r.mutable_ping()->set_payload(req.ping().payload());
    r.mutable_ping()->set_server_time_ms(clock_.NowMs());
    Reply(id, r);
    return;
  }
  if (!conn.authed) {
    Reply(id, ErrorResponse(rid, wire::UNAUTHENTICATED, "send AUTH with the server's token first"));
    return;
  }
  if (op == Request::kSubscribe) {
    // A stream on this connection; it does not count as in flight.
    if (req.subscribe().shard() != index_) {
      Reply(id, ErrorResponse(rid, wire::WRONG_SHARD,
                              absl::StrCat("this is shard ", index_, "; send SUBSCRIBE for shard ",
                                           req.subscribe().shard(), " to its port (see HELLO)")));
      return;
    }
    if (engine_->Layout(req.subscribe().event_id()) == nullptr) {
      Reply(id, ErrorResponse(rid, wire::EVENT_NOT_FOUND,
                              absl::StrCat("no event '", req.subscribe().event_id(), "'")));
      return;
    }
    Reply(id, feed_.Subscribe(id, req));
    return;
  }
  conn.in_flight++;
  Route(std::move(req), [this, id](Response&& resp) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& c = it->second;
    c.in_flight--;
    Reply(id, resp);
    if (c.closing && c.in_flight == 0) {
      CloseConn(id);
    } else if (c.paused && !draining_) {
      DrainFrames(id);
    }
  });
}

// ---------------------------------------------------------------------------
// Routing

void Shard::Route(Request&& req, Callback done) {
  const uint32_t n = config_.shards;
  auto by_id = [&](uint64_t id, const char* what) {
    const uint32_t owner = protocol::ShardOfId(id);
    if (owner >= n) {
      done(ErrorResponse(
          req.request_id(),
          std::string_view(what) == "booking" ? wire::BOOKING_NOT_FOUND : wire::HOLD_NOT_FOUND,
          absl::StrCat("no ", what, " ", id, " (it names shard ", owner, ")")));
      return;
    }
    CallShard(owner, std::move(req), std::move(done));
  };
  switch (req.op_case()) {
    case Request::kHold:
    case Request::kHoldBestAvailable:
      RouteAnyHold(std::move(req), std::move(done));
      return;
    case Request::kJoinQueue:
    case Request::kQueueStatus:
    case Request::kLeaveQueue:
    case Request::kRoomInfo: {
      const std::string& event_id =
          req.op_case() == Request::kJoinQueue     ? req.join_queue().event_id()
          : req.op_case() == Request::kQueueStatus ? req.queue_status().event_id()
          : req.op_case() == Request::kLeaveQueue  ? req.leave_queue().event_id()
                                                   : req.room_info().event_id();
      const uint32_t home = rooms_.HomeOf(event_id);
      CallShard(home, std::move(req), std::move(done));
      return;
    }
    case Request::kConfigureRoom: {
      // Every shard learns the event is gated; the home shard's answer
      // (with the room's figures) is the reply.
      const uint64_t rid = req.request_id();
      const uint32_t home = rooms_.HomeOf(req.configure_room().event_id());
      FanOut(req, [rid, home, done = std::move(done)](std::vector<Response>&& parts) {
        for (Response& p : parts) {
          if (p.code() != wire::OK) {
            p.set_request_id(rid);
            done(std::move(p));
            return;
          }
        }
        Response out = std::move(parts[home]);
        out.set_request_id(rid);
        done(std::move(out));
      });
      return;
    }
    default:
      break;
  }
  switch (req.op_case()) {
    case Request::kGetSeats: {
      const uint32_t owner = protocol::ShardFor(req.get_seats().event_id(),
                                                req.get_seats().section(), n, group_->hash_seed);
      CallShard(owner, std::move(req), std::move(done));
      return;
    }
    case Request::kExtend:
      by_id(req.extend().hold_id(), "hold");
      return;
    case Request::kRelease:
      by_id(req.release().hold_id(), "hold");
      return;
    case Request::kConfirm:
      if (!rooms_.empty()) {
        // A purchase of a gated event frees the buyer's slot in its room.
        auto confirm = std::make_shared<Request>(req);
        RouteConfirm(std::move(req), [this, confirm, done = std::move(done)](Response&& r) {
          if (r.code() == wire::OK && !r.confirm().replayed() &&
              rooms_.gated(r.confirm().event_id())) {
            NotePurchase(*confirm, r.confirm().event_id());
          }
          done(std::move(r));
        });
        return;
      }
      RouteConfirm(std::move(req), std::move(done));
      return;
    case Request::kGetHold:
      by_id(req.get_hold().hold_id(), "hold");
      return;
    case Request::kCancelBooking: {
      // After a reshard a booking's seats may live on any shard (and on
      // several): ask every shard; one that had it answers OK.
      const uint64_t rid = req.request_id();
      FanOut(req, [rid, done = std::move(done)](std::vector<Response>&& parts) {
        Response out = ErrorResponse(rid, wire::BOOKING_NOT_FOUND, "no such booking");
        for (Response& p : parts) {
          if (p.code() == wire::OK) {
            done(std::move(p));
            return;
          }
          if (p.code() != wire::BOOKING_NOT_FOUND) out = std::move(p);
        }
        out.set_request_id(rid);
        done(std::move(out));
      });
      return;
    }
    case Request::kDefineEvent:
    case Request::kGetAvailability:
    case Request::kListHolds:
    case Request::kListEvents:
    case Request::kStats: {
      const uint64_t rid = req.request_id();
      const auto op = req.op_case();
      const uint32_t limit =
          std::min(req.list_holds().limit() == 0 ? 1000u : req.list_holds().limit(),
                   config_.limits.max_list_results);
      std::string event_id = req.get_availability().event_id();
      FanOut(req, [rid, op, limit, event_id = std::move(event_id), done = std::move(done),
                   this](std::vector<Response>&& parts) {
        Response out;
        out.set_request_id(rid);
        out.set_code(wire::OK);
        // The first failure wins (every shard sees the same layout, so they
        // agree on DEFINE_EVENT and EVENT_NOT_FOUND).
        for (const Response& p : parts) {
          if (p.code() != wire::OK) {
            out.set_code(p.code());
            out.set_detail(p.detail());
            done(std::move(out));
            return;
          }
        }
        switch (op) {
          case Request::kGetAvailability: {
            auto* a = out.mutable_get_availability();
            std::vector<const wire::SectionAvailability*> sections;
            for (const Response& p : parts) {
              a->set_total(a->total() + p.get_availability().total());
              a->set_free(a->free() + p.get_availability().free());
              a->set_held(a->held() + p.get_availability().held());
              a->set_sold(a->sold() + p.get_availability().sold());
              for (const auto& s : p.get_availability().sections()) sections.push_back(&s);
            }
            // Report sections in layout order (every shard has the layout).
            if (const EventLayout* layout = engine_->Layout(event_id)) {
              std::map<std::string_view, size_t> order;
              for (size_t i = 0; i < layout->sections.size(); ++i)
                order[layout->sections[i].label] = i;
              std::sort(sections.begin(), sections.end(), [&order](const auto* x, const auto* y) {
                return order[x->section()] < order[y->section()];
              });
            }
            for (const auto* s : sections) *a->add_sections() = *s;
            break;
          }
          case Request::kListHolds: {
            auto* l = out.mutable_list_holds();
            for (const Response& p : parts) {
              for (const auto& h : p.list_holds().holds()) {
                if (static_cast<uint32_t>(l->holds_size()) >= limit) {
                  l->set_truncated(true);
                  break;
                }
                *l->add_holds() = h;
              }
              if (p.list_holds().truncated()) l->set_truncated(true);
            }
            break;
          }
          case Request::kListEvents: {
            auto* l = out.mutable_list_events();
            std::map<std::string, wire::EventSummary> merged;
            for (const Response& p : parts) {
              for (const auto& e : p.list_events().events()) {
                wire::EventSummary& m = merged[e.event_id()];
                m.set_event_id(e.event_id());
                m.set_total(m.total() + e.total());
                m.set_free(m.free() + e.free());
                m.set_held(m.held() + e.held());
                m.set_sold(m.sold() + e.sold());
              }
            }
            for (auto& [id, e] : merged) *l->add_events() = e;
            break;
          }
          case Request::kStats: {
            auto* s = out.mutable_stats();
            for (const Response& p : parts) {
              for (const auto& sh : p.stats().shards()) *s->add_shards() = sh;
            }
            s->set_uptime_ms(clock_.NowMs() - group_->start_ms);
            s->set_server_version(kServerVersion);
            s->set_io_backend(std::string(loop_->name()));
            break;
          }
          default:
            break;
        }
        done(std::move(out));
      });
      return;
    }
    default:
      done(ErrorResponse(req.request_id(), wire::UNKNOWN_OP, "unknown operation"));
      return;
  }
}

void Shard::RouteAnyHold(Request&& req, Callback done) {
  const std::string& event_id = req.op_case() == Request::kHold
                                    ? req.hold().event_id()
                                    : req.hold_best_available().event_id();
  if (!rooms_.gated(event_id)) {
    RouteUngatedHold(std::move(req), std::move(done));
    return;
  }
  const uint32_t home = rooms_.HomeOf(event_id);
  if (home == index_) {
    GateHold(std::move(req), std::move(done));
    return;
  }
  PostCall(home, ShardMessage::Kind::kGatedHold, std::move(req), std::move(done));
}

void Shard::RouteUngatedHold(Request&& req, Callback done) {
  if (req.op_case() == Request::kHold) {
    RouteHold(std::move(req), std::move(done));
  } else if (req.hold_best_available().section().empty()) {
    RouteHoldAnywhere(std::move(req), std::move(done));
  } else {
    const uint32_t owner =
        protocol::ShardFor(req.hold_best_available().event_id(),
                           req.hold_best_available().section(), config_.shards, group_->hash_seed);
    CallShard(owner, std::move(req), std::move(done));
  }
}

void Shard::GateHold(Request&& req, Callback done) {
  // On the room's home shard: check the pass and reserve its seats, then
  // route the hold as usual; a refused hold gives the seats back.
  const bool best = req.op_case() == Request::kHoldBestAvailable;
  const std::string event_id = best ? req.hold_best_available().event_id() : req.hold().event_id();
  const std::string& pass = best ? req.hold_best_available().pass() : req.hold().pass();
  const uint32_t seats =
      best ? req.hold_best_available().count() : static_cast<uint32_t>(req.hold().seats_size());
  uint64_t number = 0;
  std::string detail;
  const wire::ResultCode code = rooms_.UsePass(event_id, pass, seats, &number, &detail);
  if (code != wire::OK) {
    done(ErrorResponse(req.request_id(), code, std::move(detail)));
    return;
  }
  RouteUngatedHold(std::move(req),
                   [this, event_id, number, seats, done = std::move(done)](Response&& r) {
                     if (r.code() == wire::OK) {
                       std::vector<uint64_t> ids{r.hold().hold_id()};
                       for (uint64_t id : r.hold().part_hold_ids()) ids.push_back(id);
                       rooms_.NoteHolds(event_id, number, ids);
                     } else {
                       rooms_.Refund(event_id, number, seats);
                     }
                     done(std::move(r));
                   });
}

void Shard::NotePurchase(const Request& confirm, const std::string& event_id) {
  const uint32_t home = rooms_.HomeOf(event_id);
  if (home == index_) {
    rooms_.Purchased(event_id, confirm.confirm().hold_id(), log_.get());
    return;
  }
  auto msg = std::make_unique<ShardMessage>();
  msg->kind = ShardMessage::Kind::kPurchased;
  msg->from = index_;
  msg->request = confirm;
  msg->response.mutable_confirm()->set_event_id(event_id);
  if (group_->shards[home]->inbox_.Push(std::move(msg))) wake_targets_.push_back(home);
}

void Shard::RunRoomOp(const Request& req, Callback done) {
  Response resp;
  resp.set_request_id(req.request_id());
  uint64_t lsn = 0;
  if (req.op_case() == Request::kConfigureRoom) {
    const std::string& event_id = req.configure_room().event_id();
    const RoomConfig config = RoomConfigFromWire(req.configure_room().config());
    if (engine_->Layout(event_id) == nullptr) {
      done(ErrorResponse(req.request_id(), wire::EVENT_NOT_FOUND,
                         absl::StrCat("no event '", event_id, "'")));
      return;
    }
    if (std::string why = ValidateRoomConfig(config); !why.empty()) {
      done(ErrorResponse(req.request_id(), wire::INVALID_ARGUMENT, std::move(why)));
      return;
    }
    lsn = rooms_.Configure(event_id, config, log_.get());
    resp.set_code(wire::OK);
    if (rooms_.HomeOf(event_id) == index_) {
      Request info;
      info.mutable_room_info()->set_event_id(event_id);
      rooms_.Execute(info, &resp, nullptr);
    }
    rooms_active_ = true;
  } else {
    lsn = rooms_.Execute(req, &resp, log_.get());
    if (req.op_case() == Request::kJoinQueue) rooms_active_ = true;
  }
  if (lsn == 0 || log_ == nullptr) {
    done(std::move(resp));
    return;
  }
  if (log_->failed()) {
    done(ErrorResponse(req.request_id(), wire::UNAVAILABLE, std::string(log_->status().message())));
    return;
  }
  auto held = std::make_shared<Response>(std::move(resp));
  const uint64_t rid = req.request_id();
  log_->WhenDurable(lsn, [held, rid, done = std::move(done)](const absl::Status& st) {
    if (st.ok()) {
      done(std::move(*held));
    } else {
      done(ErrorResponse(rid, wire::UNAVAILABLE, std::string(st.message())));
    }
  });
}

void Shard::PollSupply() {
  // The home shard measures its gated events' free and held seats across
  // every shard, so the room can pause admission and say SOLD_OUT.
  for (std::string& event_id : rooms_.SupplyDue(clock_.NowMs())) {
    Request req;
    req.mutable_get_availability()->set_event_id(event_id);
    FanOut(req, [this, event_id = std::move(event_id)](std::vector<Response>&& parts) {
      uint64_t free = 0, held = 0;
      for (const Response& p : parts) {
        if (p.code() != wire::OK) {
          rooms_.SetSupply(event_id, 1, 0);  // unknown: do not pause
          return;
        }
        free += p.get_availability().free();
        held += p.get_availability().held();
      }
      rooms_.SetSupply(event_id, free, held);
    });
  }
}

void Shard::RouteConfirm(Request&& req, Callback done) {
  // The hold's shard first. HOLD_NOT_FOUND there may still be a replay whose
  // sale moved to another shard in a reshard: then ask the others, which
  // answer only from their idempotency records (they hold no such hold).
  const uint32_t n = config_.shards;
  const uint32_t owner = protocol::ShardOfId(req.confirm().hold_id());
  std::vector<uint32_t> order;
  if (owner < n) order.push_back(owner);
  for (uint32_t s = 0; s < n; ++s) {
    if (s != owner) order.push_back(s);
  }
  struct Attempt {
    Request req;
    std::vector<uint32_t> order;
    size_t next = 0;
    Callback done;
  };
  auto state = std::make_shared<Attempt>();
  state->req = std::move(req);
  state->order = std::move(order);
  state->done = std::move(done);
  auto step = std::make_shared<std::function<void()>>();
  *step = [this, state, step]() {
    Request copy = state->req;
    const uint32_t target = state->order[state->next++];
    CallShard(target, std::move(copy), [state, step](Response&& r) {
      if (r.code() != wire::HOLD_NOT_FOUND || state->next == state->order.size()) {
        state->done(std::move(r));
        *step = nullptr;
        return;
      }
      (*step)();
    });
  };
  (*step)();
}

void Shard::RouteHold(Request&& req, Callback done) {
  const uint32_t n = config_.shards;
  const wire::HoldRequest& h = req.hold();
  if (static_cast<uint32_t>(h.seats_size()) > config_.limits.max_seats_per_hold) {
    done(ErrorResponse(req.request_id(), wire::LIMIT_EXCEEDED,
                       absl::StrCat(h.seats_size(), " seats exceeds the maximum of ",
                                    config_.limits.max_seats_per_hold, " per hold")));
    return;
  }
  // Split the seats by owner shard.
  std::map<uint32_t, Request> parts;
  for (const wire::SeatRef& s : h.seats()) {
    const uint32_t owner = protocol::ShardFor(h.event_id(), s.section(), n, group_->hash_seed);
    auto [it, inserted] = parts.try_emplace(owner);
    if (inserted) {
      it->second.set_request_id(req.request_id());
      auto* p = it->second.mutable_hold();
      p->set_event_id(h.event_id());
      p->set_holder(h.holder());
      p->set_ttl_ms(h.ttl_ms());
    }
    *it->second.mutable_hold()->add_seats() = s;
  }
  if (parts.size() == 1) {
    CallShard(parts.begin()->first, std::move(req), std::move(done));
    return;
  }
  // All or nothing across shards: take the parts in shard order; on the first
  // refusal, release the parts already taken and report the refusal.
  struct MultiHold {
    std::vector<std::pair<uint32_t, Request>> parts;
    size_t next = 0;
    std::vector<std::pair<uint32_t, uint64_t>> taken;  // (shard, hold id)
    Response merged;
    Callback done;
    std::string holder;
  };
  auto state = std::make_shared<MultiHold>();
  for (auto& [shard, part] : parts) state->parts.emplace_back(shard, std::move(part));
  state->done = std::move(done);
  state->holder = h.holder();
  state->merged.set_request_id(req.request_id());
  state->merged.set_code(wire::OK);
  auto step = std::make_shared<std::function<void()>>();
  *step = [this, state, step]() {
    if (state->next == state->parts.size()) {
      state->done(std::move(state->merged));
      *step = nullptr;  // break the self-reference
      return;
    }
    auto& [shard, part] = state->parts[state->next++];
    CallShard(shard, std::move(part), [this, state, step, shard = shard](Response&& r) {
      if (r.code() != wire::OK) {
        for (const auto& [s, hold_id] : state->taken) {
          Request rel;
          rel.mutable_release()->set_hold_id(hold_id);
          rel.mutable_release()->set_holder(state->holder);
          CallShard(s, std::move(rel), [](Response&&) {});
        }
        r.set_request_id(state->merged.request_id());
        state->done(std::move(r));
        *step = nullptr;
        return;
      }
      state->taken.emplace_back(shard, r.hold().hold_id());
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
      (*step)();
    });
  };
  (*step)();
}

void Shard::RouteHoldAnywhere(Request&& req, Callback done) {
  // Try this shard first (no hop), then the others in order, until one has
  // a block; the refusal reported is the most specific one seen.
  struct Attempt {
    Request req;
    std::vector<uint32_t> order;
    size_t next = 0;
    Response best_failure;
    Callback done;
  };
  auto state = std::make_shared<Attempt>();
  state->order.push_back(index_);
  for (uint32_t s = 0; s < config_.shards; ++s) {
    if (s != index_) state->order.push_back(s);
  }
  state->req = std::move(req);
  state->done = std::move(done);
  state->best_failure.set_code(wire::NOT_ENOUGH_SEATS);
  auto step = std::make_shared<std::function<void()>>();
  *step = [this, state, step]() {
    if (state->next == state->order.size()) {
      state->best_failure.set_request_id(state->req.request_id());
      state->done(std::move(state->best_failure));
      *step = nullptr;
      return;
    }
    Request copy = state->req;
    CallShard(state->order[state->next++], std::move(copy), [state, step](Response&& r) {
      if (r.code() == wire::OK) {
        state->done(std::move(r));
        *step = nullptr;
        return;
      }
      // EVENT_NOT_FOUND and argument errors are the same on every shard.
      if (r.code() != wire::NOT_ENOUGH_SEATS && r.code() != wire::NO_ADJACENT_SEATS) {
        state->done(std::move(r));
        *step = nullptr;
        return;
      }
      if (r.code() == wire::NO_ADJACENT_SEATS || state->best_failure.detail().empty()) {
        state->best_failure = std::move(r);
      }
      (*step)();
    });
  };
  (*step)();
}

void Shard::FanOut(const Request& req, std::function<void(std::vector<Response>&&)> done) {
  struct Gather {
    std::vector<Response> parts;
    uint32_t remaining;
    std::function<void(std::vector<Response>&&)> done;
  };
  auto g = std::make_shared<Gather>();
  g->parts.resize(config_.shards);
  g->remaining = config_.shards;
  g->done = std::move(done);
  for (uint32_t s = 0; s < config_.shards; ++s) {
    Request copy = req;
    CallShard(s, std::move(copy), [g, s](Response&& r) {
      g->parts[s] = std::move(r);
      if (--g->remaining == 0) g->done(std::move(g->parts));
    });
  }
}

void Shard::CallShard(uint32_t target, Request&& req, Callback done) {
  if (target == index_) {
    RunOp(req, std::move(done));
    return;
  }
  PostCall(target, ShardMessage::Kind::kCall, std::move(req), std::move(done));
}

void Shard::PostCall(uint32_t target, ShardMessage::Kind kind, Request&& req, Callback done) {
  ++forwarded_;
  auto msg = std::make_unique<ShardMessage>();
  msg->kind = kind;
  msg->from = index_;
  msg->token = next_token_++;
  msg->request = std::move(req);
  pending_.emplace(msg->token, std::move(done));
  if (group_->shards[target]->inbox_.Push(std::move(msg))) wake_targets_.push_back(target);
}

void Shard::ExecuteLocal(const Request& req, Response* resp) {
  ExecuteEngineOp(*engine_, index_, req, resp);
  if (req.op_case() == Request::kStats && resp->stats().shards_size() == 1) {
    wire::ShardStats* s = resp->mutable_stats()->mutable_shards(0);
    s->set_connections(conns_.size());
    s->set_requests(requests_);
    s->set_forwarded_out(forwarded_);
    uint64_t in_flight = 0;
    for (const auto& [id, c] : conns_) in_flight += c.in_flight;
    s->set_in_flight(in_flight);
    auto ops = [this](Request::OpCase c) {
      return ops_by_case_[static_cast<size_t>(c) % ops_by_case_.size()];
    };
    s->set_ops_hold(ops(Request::kHold));
    s->set_ops_hold_best_available(ops(Request::kHoldBestAvailable));
    s->set_ops_extend(ops(Request::kExtend));
    s->set_ops_release(ops(Request::kRelease));
    s->set_ops_confirm(ops(Request::kConfirm));
    s->set_ops_cancel_booking(ops(Request::kCancelBooking));
    s->set_ops_get_seats(ops(Request::kGetSeats));
    s->set_ops_get_hold(ops(Request::kGetHold));
    uint64_t all = 0;
    for (uint64_t n : ops_by_case_) all += n;
    s->set_ops_other(all - s->ops_hold() - s->ops_hold_best_available() - s->ops_extend() -
                     s->ops_release() - s->ops_confirm() - s->ops_cancel_booking() -
                     s->ops_get_seats() - s->ops_get_hold());
    s->set_forward_queue(pending_.size());
    s->set_wal_queue(log_ != nullptr ? log_->waiting() : 0);
    s->set_subscriptions(feed_.subscriptions());
    FillLatencyBuckets(hold_latency_, s->mutable_hold_latency());
    FillLatencyBuckets(confirm_latency_, s->mutable_confirm_latency());
    if (log_ != nullptr) {
      FillLatencyBuckets(log_->sync_latency(), s->mutable_fsync_latency());
      s->set_wal_groups(log_->groups_written());
      s->set_wal_failed(log_->failed());
    }
  }
}

void Shard::RunOp(const Request& req, Callback done) {
  const auto op = req.op_case();
  if (op == Request::kConfigureRoom || op == Request::kJoinQueue || op == Request::kQueueStatus ||
      op == Request::kLeaveQueue || op == Request::kRoomInfo) {
    ops_by_case_[static_cast<size_t>(op) % ops_by_case_.size()]++;
    RunRoomOp(req, std::move(done));
    return;
  }
  const bool durable =
      op == Request::kConfirm || op == Request::kCancelBooking || op == Request::kDefineEvent;
  if (durable && log_ != nullptr && log_->failed()) {
    done(ErrorResponse(req.request_id(), wire::UNAVAILABLE, std::string(log_->status().message())));
    return;
  }
  const bool new_event =
      op == Request::kDefineEvent && engine_->Layout(req.define_event().event_id()) == nullptr;
  Response* resp = google::protobuf::Arena::CreateMessage<Response>(&arena_);
  ops_by_case_[static_cast<size_t>(op) % ops_by_case_.size()]++;
  const uint64_t started_ns = MonoNs();
  ExecuteLocal(req, resp);
  if (op == Request::kHold || op == Request::kHoldBestAvailable)
    hold_latency_.Record(MonoNs() - started_ns);
  uint64_t lsn = 0;
  if (log_ != nullptr) {
    if (op == Request::kConfirm &&
        (resp->code() == wire::OK || resp->code() == wire::HOLD_EXPIRED_SEATS_TAKEN)) {
      const std::string& key = req.confirm().idempotency_key();
      if (resp->confirm().replayed()) {
        // The first attempt may still be on its way to disk: answer when it is.
        auto it = undurable_keys_.find(key);
        if (it != undurable_keys_.end() && it->second > log_->durable_lsn()) lsn = it->second;
      } else {
        lsn = LogConfirm(req, *resp);
        undurable_keys_[key] = lsn;
      }
    } else if (op == Request::kCancelBooking && resp->code() == wire::OK) {
      wal::Cancel c;
      c.set_booking_id(req.cancel_booking().booking_id());
      c.set_cancelled_ms(clock_.NowMs());
      lsn = log_->Append(wal::RecordType::kCancel, c);
    } else if (new_event && resp->code() == wire::OK) {
      wal::DefineEvent d;
      d.set_define_event_request(req.define_event().SerializeAsString());
      lsn = log_->Append(wal::RecordType::kDefineEvent, d);
    }
    if (engine_->fencing_high_water() + kFencingBlock / 2 >= fencing_reserved_) ReserveFencing();
  }
  if (lsn == 0) {
    if (op == Request::kConfirm) confirm_latency_.Record(MonoNs() - started_ns);
    done(std::move(*resp));
    return;
  }
  auto held = std::make_shared<Response>(*resp);  // outlives this batch's arena
  const uint64_t rid = req.request_id();
  log_->WhenDurable(
      lsn, [this, op, started_ns, held, rid, done = std::move(done)](const absl::Status& st) {
        if (op == Request::kConfirm) confirm_latency_.Record(MonoNs() - started_ns);
        if (st.ok()) {
          done(std::move(*held));
        } else {
          done(ErrorResponse(rid, wire::UNAVAILABLE, std::string(st.message())));
        }
      });
}

uint64_t Shard::LogConfirm(const Request& req, const Response& resp) {
  const wire::ConfirmRequest& c = req.confirm();
  if (resp.code() == wire::OK) {
    return log_->Append(wal::RecordType::kConfirm,
                        ConfirmRecordOf(*engine_->GetBooking(resp.confirm().booking_id())));
  }
  // HOLD_EXPIRED_SEATS_TAKEN: the lapsed hold is still remembered.
  RefusalInfo r;
  r.hold_id = c.hold_id();
  r.holder = c.holder();
  r.payment_ref = c.payment_ref();
  r.idempotency_key = c.idempotency_key();
  r.refused_ms = resp.confirm().confirmed_ms();
  if (auto h = engine_->GetHold(c.hold_id())) {
    r.event_id = h->event_id;
    r.seats = h->seats;
    for (const auto& conflict : resp.confirm().conflicts()) {
      r.taken.push_back({static_cast<uint32_t>(std::max(
                             0, engine_->SectionIndex(h->event_id, conflict.seat().section()))),
                         conflict.seat().index()});
    }
  }
  return log_->Append(wal::RecordType::kConfirmRefused, RefusalRecordOf(r));
}

void Shard::ReserveFencing() {
  fencing_reserved_ = std::max(fencing_reserved_, engine_->fencing_high_water()) + kFencingBlock;
  wal::Fencing f;
  f.set_high_water(fencing_reserved_);
  log_->Append(wal::RecordType::kFencing, f);
}

absl::Status Shard::StageReshard() {
  clock_.Refresh();
  // Every old shard's sales, keeping the sections this shard now owns (the
  // engine skips the others); then this shard's state as a fresh snapshot.
  const int64_t t0 = SystemClock::Get()->NowMs();
  uint64_t fencing_seen = 0;
  for (uint32_t k = 0; k < group_->reshard_from; ++k) {
    const std::string dir = absl::StrCat(config_.data_dir, "/shard-", k);
    absl::Status st = reshard::ReplayReadOnly(dir, [&](const wal::Record& rec) {
      return ApplyRecord(*engine_, rooms_, rec, &fencing_seen);
    });
    if (!st.ok()) return st;
  }
  const std::string staged = absl::StrCat(reshard::StagingDir(config_.data_dir), "/shard-", index_);
  rooms_.FinishRestore();
  absl::Status st = reshard::WriteSnapshotSync(
      *engine_, rooms_, std::max(fencing_seen, engine_->fencing_high_water()), staged);
  if (st.ok()) {
    LogInfo("resharding: staged ", engine_->Stats().bookings, " bookings from ",
            group_->reshard_from, " old shards in ", SystemClock::Get()->NowMs() - t0, " ms");
  }
  return st;
}

absl::Status Shard::Recover() {
  clock_.Refresh();  // recovery stamps restored queue entries with the time
  const std::string dir = absl::StrCat(config_.data_dir, "/shard-", index_);
  auto wal_dir = wal::WalDir::Open(dir, config_.wal_segment_bytes);
  if (!wal_dir.ok()) return wal_dir.status();
  uint64_t fencing_seen = 0;
  absl::Status apply_error;
  // The newest snapshot first, then the whole log: records the snapshot
  // already holds are skipped (replay is idempotent).
  uint64_t snap_lsn = 0;
  const std::string snap = Snapshotter::Latest(dir, &snap_lsn);
  uint64_t snap_records = 0;
  if (!snap.empty()) {
    std::string bytes;
    {
      std::ifstream in(snap, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    wal::RecordReader reader(bytes);
    wal::Record rec;
    wal::RecordReader::Result r;
    while ((r = reader.Next(&rec)) == wal::RecordReader::Result::kRecord) {
      if (absl::Status st = ApplyRecord(*engine_, rooms_, rec, &fencing_seen); !st.ok()) {
        return absl::DataLossError(
            absl::StrCat(snap, " at offset ", rec.offset, ": ", st.message()));
      }
      ++snap_records;
    }
    if (r != wal::RecordReader::Result::kEof) {
      return absl::DataLossError(absl::StrCat("snapshot ", snap, " is damaged at offset ",
                                              reader.bad_offset(),
                                              "; move it out of the way to recover from the log "
                                              "alone, if the log still starts at LSN 1"));
    }
  }
  auto apply = [&](uint64_t lsn, const wal::Record& rec) {
    if (!apply_error.ok()) return;
    if (absl::Status st = ApplyRecord(*engine_, rooms_, rec, &fencing_seen); !st.ok()) {
      apply_error = absl::DataLossError(
          absl::StrCat(dir, ": record ", lsn, " at offset ", rec.offset, ": ", st.message()));
    }
  };
  const int64_t t0 = SystemClock::Get()->NowMs();
  auto report = wal_dir->Recover(config_.wal_repair, apply);
  if (!report.ok()) return report.status();
  if (!apply_error.ok()) return apply_error;
  rooms_.FinishRestore();
  rooms_active_ = !rooms_.empty();
  if (report->dropped_bytes > 0) {
    LogWarning("write-ahead log ", dir, ": cut ", report->dropped_bytes, " bytes at ",
               report->dropped_where,
               config_.wal_repair ? " (--wal-repair)" : " (torn tail from a crash)");
  }
  const EngineStats st = engine_->Stats();
  LogInfo("recovered ", dir, ": ",
          snap.empty() ? std::string("no snapshot")
                       : absl::StrCat(snap_records, " records from ", snap),
          ", then ", report->records, " records in ", report->segments, " segments (",
          report->bytes, " bytes), ", st.events, " events, ", st.bookings, " bookings, in ",
          SystemClock::Get()->NowMs() - t0, " ms");
  // Reserve a block of fencing tokens above anything granted before the
  // restart, durably, before any hold is granted.
  fencing_reserved_ = std::max(fencing_seen, engine_->fencing_high_water()) + kFencingBlock;
  wal::Fencing f;
  f.set_high_water(fencing_reserved_);
  std::string rec;
  wal::AppendRecord(wal::RecordType::kFencing, f.SerializeAsString(), &rec);
  size_t off = 0;
  while (off < rec.size()) {
    const ssize_t n = pwrite(wal_dir->fd(), rec.data() + off, rec.size() - off,
                             static_cast<off_t>(wal_dir->offset() + off));
    if (n <= 0)
      return absl::DataLossError(absl::StrCat(dir, ": cannot write the log: ", strerror(errno)));
    off += static_cast<size_t>(n);
  }
  if (config_.fsync && fdatasync(wal_dir->fd()) < 0) {
    return absl::DataLossError(absl::StrCat(dir, ": fdatasync failed: ", strerror(errno)));
  }
  if (absl::Status adv = wal_dir->Advance(rec.size(), report->next_lsn + 1); !adv.ok()) return adv;
  recovered_next_lsn_ = report->next_lsn + 1;
  recovered_dir_ = std::make_unique<wal::WalDir>(std::move(*wal_dir));
  return absl::OkStatus();
}

void Shard::FlushWakes() {
  std::sort(wake_targets_.begin(), wake_targets_.end());
  wake_targets_.erase(std::unique(wake_targets_.begin(), wake_targets_.end()), wake_targets_.end());
  for (uint32_t t : wake_targets_) group_->shards[t]->Wake();
  wake_targets_.clear();
}

void Shard::OnWake() {
  clock_.Refresh();
  drained_.clear();
  inbox_.DrainAll(&drained_);
  // The message travels back as the reply: the callback owns it until then.
  auto reply_with = [this](ShardMessage* m) {
    return [this, m](Response&& resp) {
      std::unique_ptr<ShardMessage> reply(m);
      const uint32_t from = reply->from;
      reply->response = std::move(resp);
      reply->request.Clear();
      reply->kind = ShardMessage::Kind::kReply;
      if (group_->shards[from]->inbox_.Push(std::move(reply))) wake_targets_.push_back(from);
    };
  };
  for (auto& msg : drained_) {
    if (msg->kind == ShardMessage::Kind::kCall) {
      ShardMessage* m = msg.release();
      RunOp(m->request, reply_with(m));
    } else if (msg->kind == ShardMessage::Kind::kGatedHold) {
      ShardMessage* m = msg.release();
      GateHold(std::move(m->request), reply_with(m));
    } else if (msg->kind == ShardMessage::Kind::kPurchased) {
      rooms_.Purchased(msg->response.confirm().event_id(), msg->request.confirm().hold_id(),
                       log_.get());
    } else {
      auto it = pending_.find(msg->token);
      if (it == pending_.end()) continue;
      Callback cb = std::move(it->second);
      pending_.erase(it);
      cb(std::move(msg->response));
    }
  }
  drained_.clear();
  if (group_->stopping.load() && !draining_) BeginShutdown();
}

void Shard::BeginShutdown() {
  draining_ = true;
  drain_deadline_ms_ = clock_.NowMs() + 4000;
  loop_->StopListening();
  for (auto& [id, c] : conns_) {
    if (!c.paused) {
      c.paused = true;
      loop_->SetReadEnabled(id, false);
    }
  }
  LogInfo("shutting down: stopped accepting; answering requests in flight");
}

int64_t Shard::OnPass() {
  if (!inbox_.empty()) OnWake();  // messages that raced with the last wake
  arena_.Reset();
  clock_.Refresh();
  engine_->ExpireDue();
  feed_.Flush();  // changes of this pass (requests and expiries), one message per subscriber
  if (log_ != nullptr && !draining_) {
    if (snapshotter_->active()) {
      if (const uint64_t covered = snapshotter_->Step(*engine_); covered != 0) {
        if (absl::Status st = log_->DropBefore(covered); !st.ok()) {
          LogWarning("could not drop log segments covered by the snapshot: ", st.message());
        }
      }
    } else if (config_.snapshot_bytes > 0 &&
               log_->bytes_since_snapshot() >= config_.snapshot_bytes && !log_->failed()) {
      log_->MarkSnapshotStarted();
      if (absl::Status st =
              snapshotter_->Start(*engine_, rooms_, log_->last_lsn() + 1, fencing_reserved_);
          !st.ok()) {
        LogError("cannot start a snapshot: ", st.message());
      }
    }
  }
  if (rooms_active_ && !draining_) {
    rooms_active_ = rooms_.Tick(log_.get());
    PollSupply();
  }
  if (log_ != nullptr) {
    log_->Flush();  // group commit: everything appended this pass, one write + fdatasync
    if (!undurable_keys_.empty()) {
      const uint64_t durable = log_->durable_lsn();
      absl::erase_if(undurable_keys_, [durable](const auto& kv) { return kv.second <= durable; });
    }
  }
  const int64_t now = clock_.NowMs();
  if (config_.idle_timeout_ms > 0 && now - last_idle_check_ms_ >= 1000) {
    last_idle_check_ms_ = now;
    std::vector<uint64_t> idle;
    for (const auto& [id, c] : conns_) {
      if (c.in_flight == 0 && now - c.last_active_ms > config_.idle_timeout_ms) idle.push_back(id);
    }
    for (uint64_t id : idle) CloseConn(id);
  }
  if (draining_) {
    uint64_t in_flight = 0;
    for (const auto& [id, c] : conns_) in_flight += c.in_flight;
    const bool idle = in_flight == 0 && pending_.empty();
    if ((idle || now >= drain_deadline_ms_) && !counted_idle_) {
      counted_idle_ = true;
      if (group_->busy_shards.fetch_sub(1) == 1) {
        for (Shard* s : group_->shards) {
          if (s != this) s->Wake();
        }
      }
    }
    if (counted_idle_ && group_->busy_shards.load() <= 0) {
      if (!closing_all_) {
        closing_all_ = true;
        std::vector<uint64_t> ids;
        for (const auto& [id, c] : conns_) ids.push_back(id);
        for (uint64_t id : ids) CloseConn(id);
      }
      if (loop_->connection_count() == 0 || now >= drain_deadline_ms_ + 500) {
        FlushWakes();
        loop_->Stop();
        return 0;
      }
      FlushWakes();
      return 10;
    }
  }
  FlushWakes();
  int64_t wait = engine_->MsUntilNextTimer();
  if (wait < 0 || wait > 1000) wait = 1000;
  if (snapshotter_ != nullptr && snapshotter_->active() && !snapshotter_->waiting_for_io()) {
    wait = 0;  // keep encoding between requests
  }
  if (draining_ || rooms_active_) wait = std::min<int64_t>(wait, 10);  // rooms admit every 10 ms
  return wait;
}

}  // namespace seatlock
