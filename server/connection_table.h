// ConnectionTable: one shard's client connections. It decodes frames,
// keeps each connection's state (requests in flight, auth, backpressure,
// idle time), answers the session ops itself (HELLO, AUTH, PING), serves
// the /metrics HTTP responder, and hands every other request to its
// Handler (the shard) with a callback that writes the reply.
//
// The HOLD fast path (--hold_fast_path, on by default): a frame that
// protocol::DecodeHoldCall takes (a well-formed HOLD by seat index) is
// offered to Handler::RunHoldCall before any protobuf parse, after the same
// auth and memory checks HandleRequest makes. The handler answers it in
// place or declines, and a declined frame goes the general way, so each
// request is answered as if the fast path were not there.
//
// Limits it enforces (docs/protocol.md §2 and §8):
//   - frame size, connections per server, the idle timeout;
//   - requests in flight per connection: beyond it, reading stops until
//     replies free a slot;
//   - the output budget: replies queued and not yet sent, plus
//     --max_reply_bytes for each request in flight whose reply may be large.
//     Over it, the connection's frames wait and reading stops; a connection
//     over budget that reads nothing for --output_stall_ms is closed. Before
//     AUTH (when auth is required) the budget is 64 KiB and the connection
//     must authenticate within --auth_timeout_ms;
//   - replies larger than --max_reply_bytes are refused (LIMIT_EXCEEDED);
//   - turns: a connection runs at most --frames_per_turn frames (or 256 KiB
//     of replies) per loop pass; the rest waits for its next turn, so one
//     pipelining client delays the others on the shard by about one pass.
//
// Ownership: owns the per-connection state; the EventLoop owns the sockets
// and output buffers. Requests are parsed into the shard's arena, which the
// shard resets between batches. Threads: the shard's thread only.
#ifndef SEATLOCK_SERVER_CONNECTION_TABLE_H_
#define SEATLOCK_SERVER_CONNECTION_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/clock.h"
#include "google/protobuf/arena.h"
#include "protocol/framing.h"
#include "protocol/hold_codec.h"
#include "protocol/seatlock.pb.h"
#include "server/config.h"
#include "server/coordinators.h"
#include "server/event_loop.h"
#include "server/shard_group.h"

namespace seatlock {

// Listener tags (EventLoop::AddListener).
inline constexpr int kMainListener = 0;
inline constexpr int kShardListener = 1;
inline constexpr int kMetricsListener = 2;

class ConnectionTable {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // An authenticated, well-formed request to route and run; `done` writes
    // the reply (it may run at once or later, on this thread).
    virtual void Dispatch(wire::Request&& request, Callback done) = 0;
    // SUBSCRIBE: the reply to send now (the stream follows on `conn`).
    virtual wire::Response Subscribe(uint64_t conn, const wire::Request& request) = 0;
    // `conn` is gone (drop its subscriptions).
    virtual void OnClosed(uint64_t conn) = 0;
    // The HOLD fast path: an authenticated, well-formed HOLD decoded without
    // protobuf (protocol/hold_codec.h). Runs it and appends its reply frame
    // to *out, or returns false, having done nothing, when it must take the
    // general path (Dispatch) instead: routed elsewhere, gated, or waiting
    // on the log.
    virtual bool RunHoldCall(const protocol::HoldCall& call, std::string* out) = 0;
  };

  // `clock`, `group`, `arena` and `handler` must outlive the table.
  ConnectionTable(const ServerConfig& config, ShardGroup* group, const Clock* clock,
                  google::protobuf::Arena* arena, Handler* handler);

  void set_loop(EventLoop* loop) { loop_ = loop; }

  // EventLoop events, forwarded by the shard.
  void Accept(int listener_tag, int fd);
  void OnData(uint64_t conn, const char* data, size_t n);
  void Close(uint64_t conn);
  // Closes at once, dropping unsent replies (a peer that does not read).
  void Abort(uint64_t conn);

  // Shutdown: refuse new connections and stop reading every connection;
  // replies to requests in flight are still written.
  void BeginDrain();
  // Closes connections idle longer than the idle timeout (none in flight).
  void CloseIdle(int64_t now_ms);
  void CloseAll();
  // Once per loop pass: gives connections with frames left their next turn,
  // and resumes (or, when stalled, closes) connections over budget. Returns
  // true if a connection still waits for a turn (the loop must not sleep).
  bool RunTurns(int64_t now_ms);

  size_t size() const { return conns_.size(); }
  // Connections whose frames wait for output room now.
  size_t blocked_on_output() const { return blocked_.size(); }
  uint64_t closed_for_stall() const { return closed_for_stall_; }
  uint64_t in_flight() const;
  uint64_t requests() const { return requests_; }

 private:
  struct Conn {
    explicit Conn(uint32_t max_frame) : decoder(max_frame) {}
    protocol::FrameDecoder decoder;
    uint32_t in_flight = 0;
    bool authed = false;
    bool closing = false;          // protocol error: answer what is in flight, then close
    bool paused = false;           // reading paused for backpressure
    bool http = false;             // a /metrics connection, not the seatlock protocol
    bool draining = false;         // inside DrainFrames (replies must not recurse into it)
    bool has_turn = false;         // in ready_: frames left for its next turn
    bool blocked = false;          // in blocked_: over its output budget
    uint32_t large_in_flight = 0;  // requests in flight with a large reply
    std::string http_in;
    int64_t accepted_ms = 0;
    int64_t last_active_ms = 0;
    // While blocked: the output still queued, and when it last went down.
    size_t stall_pending = 0;
    int64_t stall_since_ms = 0;
  };

  void DrainFrames(uint64_t id);
  void DrainFramesLoop(uint64_t id);
  void HandleRequest(uint64_t id, Conn& conn, wire::Request&& req);
  // hold_call_, decoded from a frame: runs it on the fast path and returns
  // true, or returns false for HandleRequest to take it (having done
  // nothing, so the general path answers it as if this were not here).
  bool HandleHoldCall(uint64_t id, Conn& conn);
  // HELLO, AUTH and PING: answered here. Returns false for other ops.
  bool HandleSessionOp(uint64_t id, Conn& conn, const wire::Request& req);
  void HandleHttp(uint64_t id, Conn& conn, const char* data, size_t n);
  void Reply(uint64_t id, const wire::Response& resp);
  // LIMIT_EXCEEDED for a reply of `size` bytes over --max_reply_bytes.
  void ReplyTooLarge(uint64_t id, uint64_t request_id, size_t size);
  void ProtocolError(uint64_t id, wire::ResultCode code, uint64_t request_id, std::string detail);
  void Pause(uint64_t id, Conn& conn);
  uint64_t Budget(const Conn& conn) const;
  bool OverBudget(uint64_t id, const Conn& conn) const;
  // Checks a blocked connection; returns false if it stays blocked.
  bool Unblock(uint64_t id, Conn& conn, int64_t now_ms);

  const ServerConfig& config_;
  ShardGroup* const group_;
  const Clock* const clock_;
  google::protobuf::Arena* const arena_;
  Handler* const handler_;
  EventLoop* loop_ = nullptr;
  absl::flat_hash_map<uint64_t, Conn> conns_;
  uint64_t next_conn_id_ = 1;
  bool draining_ = false;
  uint64_t requests_ = 0;
  uint64_t rejected_connections_ = 0;
  uint64_t closed_for_stall_ = 0;
  std::vector<uint64_t> ready_;    // connections with a turn to come
  std::vector<uint64_t> blocked_;  // connections over their output budget
  std::vector<uint64_t> scratch_;
  // The fast path's decoded HOLD (its seats keep their capacity; at most
  // --max_seats_per_hold of them).
  protocol::HoldCall hold_call_;
};

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_CONNECTION_TABLE_H_
