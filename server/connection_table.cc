#include "server/connection_table.h"

#include "server/replication_hub.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "protocol/op_table.h"
#include "server/error_response.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/request_validation.h"

namespace seatlock {
namespace {

using wire::Request;
using wire::Response;

// Output budget of a connection that has not authenticated (when the server
// requires AUTH), and the replies one connection may produce in one turn.
constexpr uint64_t kUnauthenticatedBudget = 64 << 10;
constexpr size_t kTurnBytes = 256 << 10;

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

ConnectionTable::ConnectionTable(const ServerConfig& config, ShardGroup* group, const Clock* clock,
                                 google::protobuf::Arena* arena, Handler* handler)
    : config_(config), group_(group), clock_(clock), arena_(arena), handler_(handler) {}

void ConnectionTable::Accept(int listener_tag, int fd) {
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
  if (group_->memory.exceeded() && listener_tag != kMetricsListener) {
    if (rejected_connections_++ % 1000 == 0) {
      LogWarning("over --max_memory; refusing connections");
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
  it->second.accepted_ms = clock_->NowMs();
  it->second.last_active_ms = it->second.accepted_ms;
  it->second.authed = config_.auth_token.empty();
  it->second.http = listener_tag == kMetricsListener;
  loop_->AddConnection(id, fd);
}

void ConnectionTable::OnData(uint64_t id, const char* data, size_t n) {
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second.closing) return;
  if (it->second.http) {
    HandleHttp(id, it->second, data, n);
    return;
  }
  it->second.decoder.Append(data, n);
  it->second.last_active_ms = clock_->NowMs();
  DrainFrames(id);
}

void ConnectionTable::DrainFrames(uint64_t id) {
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

void ConnectionTable::Pause(uint64_t id, Conn& c) {
  if (!c.paused) {
    c.paused = true;
    loop_->SetReadEnabled(id, false);
  }
}

uint64_t ConnectionTable::Budget(const Conn& c) const {
  return c.authed ? config_.max_output_bytes
                  : std::min<uint64_t>(kUnauthenticatedBudget, config_.max_output_bytes);
}

bool ConnectionTable::OverBudget(uint64_t id, const Conn& c) const {
  const uint64_t reserved = uint64_t{c.large_in_flight} * config_.max_reply_bytes;
  return loop_->PendingOutput(id) + reserved >= Budget(c);
}

void ConnectionTable::DrainFramesLoop(uint64_t id) {
  uint32_t frames = 0;
  size_t turn_start_output = 0;
  for (;;) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& c = it->second;
    if (c.closing) return;
    if (c.in_flight >= config_.max_in_flight || draining_ || c.blocked) {
      Pause(id, c);  // a reply, RunTurns or shutdown moves it on
      return;
    }
    const size_t pending = loop_->PendingOutput(id);
    if (OverBudget(id, c)) {
      Pause(id, c);
      c.blocked = true;
      c.stall_pending = pending;
      c.stall_since_ms = clock_->NowMs();
      blocked_.push_back(id);
      return;
    }
    if (frames == 0) turn_start_output = pending;
    if (frames >= config_.frames_per_turn || pending >= turn_start_output + kTurnBytes) {
      Pause(id, c);
      if (!c.has_turn) {
        c.has_turn = true;
        ready_.push_back(id);
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
        ++frames;
        if (config_.hold_fast_path &&
            protocol::DecodeHoldCall(body, config_.limits.max_seats_per_hold, &hold_call_) &&
            HandleHoldCall(id, c)) {
          break;
        }
        Request* req = google::protobuf::Arena::CreateMessage<Request>(arena_);
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

bool ConnectionTable::Unblock(uint64_t id, Conn& c, int64_t now) {
  const size_t pending = loop_->PendingOutput(id);
  if (!OverBudget(id, c)) {
    c.blocked = false;
    return true;
  }
  if (pending < c.stall_pending || c.large_in_flight > 0) {
    // The client read something, or the server still owes it replies.
    c.stall_pending = pending;
    c.stall_since_ms = now;
    return false;
  }
  if (now - c.stall_since_ms >= config_.output_stall_ms) {
    LogWarning("connection ", id, ": ", pending, " bytes of replies unread for ",
               now - c.stall_since_ms, " ms (over the output budget of ", Budget(c),
               " bytes; --output_stall_ms ", config_.output_stall_ms, "); closing it");
    ++closed_for_stall_;
    c.blocked = false;
    Abort(id);
  }
  return false;
}

bool ConnectionTable::RunTurns(int64_t now) {
  if (!blocked_.empty()) {
    scratch_.swap(blocked_);
    blocked_.clear();
    for (uint64_t id : scratch_) {
      auto it = conns_.find(id);
      if (it == conns_.end() || !it->second.blocked) continue;
      if (Unblock(id, it->second, now)) {
        DrainFrames(id);
      } else if (conns_.contains(id)) {
        blocked_.push_back(id);
      }
    }
    scratch_.clear();
  }
  if (!ready_.empty()) {
    scratch_.swap(ready_);
    ready_.clear();
    for (uint64_t id : scratch_) {
      auto it = conns_.find(id);
      if (it == conns_.end() || !it->second.has_turn) continue;
      it->second.has_turn = false;
      DrainFrames(id);
    }
    scratch_.clear();
  }
  return !ready_.empty();
}

void ConnectionTable::ProtocolError(uint64_t id, wire::ResultCode code, uint64_t request_id,
                                    std::string detail) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  LogWarning("connection ", id, ": ", detail, "; closing it");
  Reply(id, ErrorResponse(request_id, code, std::move(detail)));
  it = conns_.find(id);
  if (it == conns_.end()) return;
  it->second.closing = true;
  loop_->SetReadEnabled(id, false);
  if (it->second.in_flight == 0) Close(id);
}

void ConnectionTable::HandleHttp(uint64_t id, Conn& conn, const char* data, size_t n) {
  if (conn.in_flight > 0) return;  // one request per connection
  conn.http_in.append(data, n);
  std::string method, path;
  if (!ParseHttpRequest(conn.http_in, &method, &path)) {
    if (conn.http_in.size() > 8192) {
      if (std::string* out = loop_->Output(id)) {
        *out += HttpResponse(431, "Request Header Fields Too Large", "text/plain",
                             "request too large\n");
      }
      Close(id);
    }
    return;
  }
  if (method != "GET" || (path != "/metrics" && path.rfind("/metrics?", 0) != 0)) {
    if (std::string* out = loop_->Output(id)) {
      *out += HttpResponse(404, "Not Found", "text/plain", "seatlockd serves only GET /metrics\n");
    }
    Close(id);
    return;
  }
  conn.in_flight++;
  Request req;
  req.mutable_stats();
  handler_->Dispatch(std::move(req), [this, id](Response&& resp) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    it->second.in_flight--;
    if (std::string* out = loop_->Output(id)) {
      *out += HttpResponse(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                           RenderPrometheus(resp.stats()));
    }
    Close(id);
  });
}

void ConnectionTable::Close(uint64_t id) {
  handler_->OnClosed(id);
  if (conns_.erase(id) > 0) group_->connections.fetch_sub(1, std::memory_order_relaxed);
  loop_->Close(id);
}

void ConnectionTable::Abort(uint64_t id) {
  handler_->OnClosed(id);
  if (conns_.erase(id) > 0) group_->connections.fetch_sub(1, std::memory_order_relaxed);
  loop_->Abort(id);
}

void ConnectionTable::ReplyTooLarge(uint64_t id, uint64_t request_id, size_t size) {
  Reply(id, ErrorResponse(
                request_id, wire::LIMIT_EXCEEDED,
                absl::StrCat("the reply would be ", size, " bytes, over the server's limit of ",
                             config_.max_reply_bytes, " (--max_reply_bytes)")));
}

void ConnectionTable::Reply(uint64_t id, const Response& resp) {
  if (!conns_.contains(id)) return;
  std::string* out = loop_->Output(id);
  if (out != nullptr) protocol::AppendFrame(resp, out);
}

bool ConnectionTable::HandleSessionOp(uint64_t id, Conn& conn, const Request& req) {
  const uint64_t rid = req.request_id();
  switch (req.op_case()) {
    case Request::kHello: {
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
      h->set_feed_epoch(group_->feed_epoch);
      if (const ReplicationHub* hub = config_.replication) {
        h->set_role(RoleName(hub->role()));
        h->set_epoch(hub->epoch());
        h->set_primary_address(hub->primary_address());
        h->set_node_id(config_.node_id);
      } else {
        h->set_role("standalone");
      }
      Reply(id, r);
      return true;
    }
    case Request::kAuth: {
      const bool ok =
          config_.auth_token.empty() || ConstantTimeEquals(req.auth().token(), config_.auth_token);
      conn.authed = conn.authed || ok;
      Reply(id, ok ? ErrorResponse(rid, wire::OK, "")
                   : ErrorResponse(rid, wire::UNAUTHENTICATED, "wrong auth token"));
      return true;
    }
    case Request::kPing: {
      Response r;
      r.set_request_id(rid);
      r.mutable_ping()->set_payload(req.ping().payload());
      r.mutable_ping()->set_server_time_ms(clock_->NowMs());
      Reply(id, r);
      return true;
    }
    default:
      return false;
  }
}

bool ConnectionTable::HandleHoldCall(uint64_t id, Conn& conn) {
  // HandleRequest's checks, in its order; each refusal it would send goes
  // back to it. The decoder took only well-formed HOLDs (Malformed passes).
  if (!conn.authed) return false;
  if (group_->memory.exceeded()) return false;
  std::string* out = loop_->Output(id);
  if (out == nullptr) return false;
  const size_t at = out->size();
  if (!handler_->RunHoldCall(hold_call_, out)) return false;
  ++requests_;
  if (out->size() - at - protocol::kFrameHeaderBytes > config_.max_reply_bytes) {
    // Only with a --max_reply_bytes smaller than any seat map: as Dispatch's reply.
    const size_t size = out->size() - at - protocol::kFrameHeaderBytes;
    out->resize(at);
    ReplyTooLarge(id, hold_call_.request_id, size);
  }
  return true;
}

void ConnectionTable::HandleRequest(uint64_t id, Conn& conn, Request&& req) {
  ++requests_;
  const uint64_t rid = req.request_id();
  const protocol::OpInfo* op = protocol::FindOp(req.op_case());
  if (op == nullptr) {
    ProtocolError(id, wire::UNKNOWN_OP, rid, "request carries no known operation");
    return;
  }
  if (std::string why = Malformed(req); !why.empty()) {
    ProtocolError(id, wire::INVALID_ARGUMENT, rid, std::move(why));
    return;
  }
  if (HandleSessionOp(id, conn, req)) return;
  if (op->needs_auth && !conn.authed) {
    Reply(id, ErrorResponse(rid, wire::UNAUTHENTICATED, "send AUTH with the server's token first"));
    return;
  }
  if (op->grows_state && group_->memory.exceeded()) {
    Reply(id, ErrorResponse(rid, wire::RESOURCE_EXHAUSTED,
                            absl::StrCat("the server is over its memory limit (",
                                         group_->memory.rss_bytes() >> 20, " of ",
                                         group_->memory.limit() >> 20,
                                         " MiB, --max_memory): no new holds or joins now; "
                                         "confirms, releases and reads still work")));
    return;
  }
  if (req.op_case() == Request::kSubscribe) {
    // A stream on this connection; it does not count as in flight.
    Reply(id, handler_->Subscribe(id, req));
    return;
  }
  conn.in_flight++;
  const bool large = op->large_reply;
  if (large) conn.large_in_flight++;
  // `this` and one word: small enough for std::function's inline buffer, so
  // a request's callback allocates nothing. Ids count up from 1; the top bit
  // carries `large`.
  static constexpr uint64_t kLargeBit = uint64_t{1} << 63;
  const uint64_t tagged = id | (large ? kLargeBit : 0);
  handler_->Dispatch(std::move(req), [this, tagged](Response&& resp) {
    const uint64_t id = tagged & ~kLargeBit;
    const bool large = (tagged & kLargeBit) != 0;
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& c = it->second;
    c.in_flight--;
    if (large) c.large_in_flight--;
    if (const size_t size = resp.ByteSizeLong(); size > config_.max_reply_bytes) {
      ReplyTooLarge(id, resp.request_id(), size);
    } else {
      Reply(id, resp);
    }
    if (c.closing && c.in_flight == 0) {
      Close(id);
    } else if (c.paused && !draining_) {
      DrainFrames(id);
    }
  });
}

void ConnectionTable::BeginDrain() {
  draining_ = true;
  for (auto& [id, c] : conns_) Pause(id, c);
}

void ConnectionTable::CloseIdle(int64_t now) {
  std::vector<uint64_t> idle, unauthenticated;
  for (const auto& [id, c] : conns_) {
    if (config_.idle_timeout_ms > 0 && c.in_flight == 0 &&
        now - c.last_active_ms > config_.idle_timeout_ms) {
      idle.push_back(id);
    } else if (!c.authed && !c.http && now - c.accepted_ms > config_.auth_timeout_ms) {
      unauthenticated.push_back(id);
    }
  }
  for (uint64_t id : idle) Abort(id);  // idle: nothing in flight, and a reader would have read
  for (uint64_t id : unauthenticated) {
    LogWarning("connection ", id, ": no AUTH within ", config_.auth_timeout_ms,
               " ms (--auth_timeout_ms); closing it");
    Abort(id);
  }
}

void ConnectionTable::CloseAll() {
  std::vector<uint64_t> ids;
  ids.reserve(conns_.size());
  for (const auto& [id, c] : conns_) ids.push_back(id);
  for (uint64_t id : ids) Close(id);
}

uint64_t ConnectionTable::in_flight() const {
  uint64_t n = 0;
  for (const auto& [id, c] : conns_) n += c.in_flight;
  return n;
}

}  // namespace seatlock
