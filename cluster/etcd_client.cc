#include "cluster/etcd_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cluster/etcd.grpc.pb.h"
#include "cluster/etcd.pb.h"

namespace seatlock::cluster {

// One etcd endpoint: its channel and the three service stubs on it (stubs are
// thread-safe).
struct EtcdClient::Endpoint {
  std::string name;  // host:port
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
};

namespace {

// "host:port" from "host:port" or "http://host:port" (a trailing "/" is
// allowed), or an error.
absl::StatusOr<std::string> ParseEndpoint(const std::string& endpoint) {
  std::string s = endpoint;
  if (absl::StartsWith(s, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd endpoint \"", endpoint, "\": https is not supported"));
  }
  if (absl::StartsWith(s, "http://")) s = s.substr(7);
  if (absl::EndsWith(s, "/")) s.pop_back();
  const size_t colon = s.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(s.substr(colon + 1), &port) ||
      port == 0 || port > 65535 || s.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd endpoint \"", endpoint, "\": want host:port or http://host:port"));
  }
  return s;
}

absl::Status FromGrpc(const EtcdClient::Endpoint& ep, const std::string& what,
                      const grpc::Status& st) {
  if (st.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(st.error_code());
  return absl::Status(code, absl::StrCat("etcd ", ep.name, ": ", what, ": ",
                                         absl::StatusCodeToString(code), ": ", st.error_message()));
}

void SetDeadline(grpc::ClientContext* ctx, int64_t timeout_ms) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
}

KeyValue FromProto(const mvccpb::KeyValue& kv) {
  KeyValue out;
  out.key = kv.key();
  out.value = kv.value();
  out.create_revision = kv.create_revision();
  out.mod_revision = kv.mod_revision();
  out.version = kv.version();
  out.lease = kv.lease();
  return out;
}

void ToProto(const Compare& c, etcdserverpb::Compare* out) {
  out->set_key(c.key);
  switch (c.result) {
    case Compare::Result::kEqual:
      out->set_result(etcdserverpb::Compare::EQUAL);
      break;
    case Compare::Result::kGreater:
      out->set_result(etcdserverpb::Compare::GREATER);
      break;
    case Compare::Result::kLess:
      out->set_result(etcdserverpb::Compare::LESS);
      break;
    case Compare::Result::kNotEqual:
      out->set_result(etcdserverpb::Compare::NOT_EQUAL);
      break;
  }
  switch (c.target) {
    case Compare::Target::kVersion:
      out->set_target(etcdserverpb::Compare::VERSION);
      out->set_version(c.number);
      break;
    case Compare::Target::kCreateRevision:
      out->set_target(etcdserverpb::Compare::CREATE);
      out->set_create_revision(c.number);
      break;
    case Compare::Target::kModRevision:
      out->set_target(etcdserverpb::Compare::MOD);
      out->set_mod_revision(c.number);
      break;
    case Compare::Target::kValue:
      out->set_target(etcdserverpb::Compare::VALUE);
      out->set_value(c.value);
      break;
    case Compare::Target::kLease:
      out->set_target(etcdserverpb::Compare::LEASE);
      out->set_lease(c.number);
      break;
  }
}

void ToProto(const TxnOp& op, etcdserverpb::RequestOp* out) {
  switch (op.kind) {
    case TxnOp::Kind::kPut: {
      auto* put = out->mutable_request_put();
      put->set_key(op.key);
      put->set_value(op.value);
      put->set_lease(op.lease);
      break;
    }
    case TxnOp::Kind::kDelete:
      out->mutable_request_delete_range()->set_key(op.key);
      break;
  }
}

}  // namespace

std::string EtcdClient::PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(const EtcdOptions& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("etcd: no endpoints given");
  }
  if (options.timeout_ms <= 0) {
    return absl::InvalidArgumentError("etcd: timeout_ms must be positive");
  }
  std::unique_ptr<EtcdClient> client(new EtcdClient(options));
  for (const std::string& e : options.endpoints) {
    absl::StatusOr<std::string> name = ParseEndpoint(e);
    if (!name.ok()) return name.status();
    auto ep = std::make_unique<Endpoint>();
    ep->name = *name;
    grpc::ChannelArguments args;
    // Reconnect within a second of etcd coming back (gRPC's default backoff
    // grows to two minutes); while disconnected, calls fail at once with
    // UNAVAILABLE rather than waiting.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // gRPC's name for the timeout of one connection attempt (default 20 s):
    // an endpoint that swallows SYNs is given up after 2 s, so that calls on it
    // fail at once (and go to the next endpoint) instead of each waiting for
    // its deadline.
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000);
    // Find a dead connection under a quiet watch stream: a ping every 10 s
    // (etcd refuses pings more often than every 5 s), dead after 5 s unanswered.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5'000);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    ep->channel = grpc::CreateCustomChannel(ep->name, grpc::InsecureChannelCredentials(), args);
    ep->kv = etcdserverpb::KV::NewStub(ep->channel);
    ep->lease = etcdserverpb::Lease::NewStub(ep->channel);
    ep->watch = etcdserverpb::Watch::NewStub(ep->channel);
    client->endpoints_.push_back(std::move(ep));
  }
  client->connector_ = std::thread([c = client.get()] { c->DriveConnections(); });
  return client;
}

EtcdClient::EtcdClient(EtcdOptions options) : options_(std::move(options)) {}

EtcdClient::~EtcdClient() {
  stop_.store(true, std::memory_order_relaxed);
  if (connector_.joinable()) connector_.join();
}

// gRPC's synchronous API does I/O only in threads that wait for something: a
// call that fails at once (the channel is disconnected) waits for nothing, so
// nobody would see the reconnection attempt complete until gRPC's backup
// poller runs, every 5 s. Waiting here on each channel's state, in turn, keeps
// the channels polled: a channel reconnects within ~100 ms of its backoff.
void EtcdClient::DriveConnections() {
  const size_t n = endpoints_.size();
  const auto slice = std::chrono::milliseconds(std::max<size_t>(100 / n, 10));
  while (!stop_.load(std::memory_order_relaxed)) {
    for (const auto& ep : endpoints_) {
      const grpc_connectivity_state state = ep->channel->GetState(/*try_to_connect=*/true);
      ep->channel->WaitForStateChange(state, std::chrono::system_clock::now() + slice);
      if (stop_.load(std::memory_order_relaxed)) return;
    }
  }
}

absl::Status EtcdClient::OnEndpoints(const std::function<absl::Status(Endpoint&)>& call) {
  const size_t n = endpoints_.size();
  const size_t start = preferred_.load(std::memory_order_relaxed) % n;
  std::vector<std::string> errors;
  absl::Status last;
  for (size_t i = 0; i < n; ++i) {
    const size_t idx = (start + i) % n;
    last = call(*endpoints_[idx]);
    if (!absl::IsUnavailable(last)) {
      if (i > 0) preferred_.store(idx, std::memory_order_relaxed);
      return last;
    }
    errors.emplace_back(last.message());
  }
  if (n == 1) return last;
  return absl::UnavailableError(
      absl::StrCat("every etcd endpoint is unavailable: ", absl::StrJoin(errors, "; ")));
}

absl::StatusOr<std::optional<KeyValue>> EtcdClient::Get(const std::string& key) {
  std::optional<KeyValue> out;
  absl::Status st = OnEndpoints([&](Endpoint& ep) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, options_.timeout_ms);
    etcdserverpb::RangeRequest req;
    req.set_key(key);
    etcdserverpb::RangeResponse resp;
    absl::Status s = FromGrpc(ep, absl::StrCat("Range ", key), ep.kv->Range(&ctx, req, &resp));
    if (s.ok() && resp.kvs_size() > 0) out = FromProto(resp.kvs(0));
    return s;
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::vector<KeyValue>> EtcdClient::GetPrefix(const std::string& prefix) {
  std::vector<KeyValue> out;
  absl::Status st = OnEndpoints([&](Endpoint& ep) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, options_.timeout_ms);
    etcdserverpb::RangeRequest req;
    req.set_key(prefix.empty() ? std::string(1, '\0') : prefix);
    req.set_range_end(PrefixEnd(prefix));
    req.set_sort_order(etcdserverpb::RangeRequest::ASCEND);
    req.set_sort_target(etcdserverpb::RangeRequest::KEY);
    etcdserverpb::RangeResponse resp;
    absl::Status s =
        FromGrpc(ep, absl::StrCat("Range prefix ", prefix), ep.kv->Range(&ctx, req, &resp));
    if (s.ok()) {
      out.clear();
      for (const auto& kv : resp.kvs()) out.push_back(FromProto(kv));
    }
    return s;
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<int64_t> EtcdClient::Put(const std::string& key, const std::string& value,
                                        int64_t lease) {
  int64_t revision = 0;
  absl::Status st = OnEndpoints([&](Endpoint& ep) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, options_.timeout_ms);
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    req.set_lease(lease);
    etcdserverpb::PutResponse resp;
    absl::Status s = FromGrpc(ep, absl::StrCat("Put ", key), ep.kv->Put(&ctx, req, &resp));
    revision = resp.header().revision();
    return s;
  });
  if (!st.ok()) return st;
  return revision;
}

absl::StatusOr<int64_t> EtcdClient::Delete(const std::string& key) {
  int64_t revision = 0;
  absl::Status st = OnEndpoints([&](Endpoint& ep) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, options_.timeout_ms);
    etcdserverpb::DeleteRangeRequest req;
    req.set_key(key);
    etcdserverpb::DeleteRangeResponse resp;
    absl::Status s =
        FromGrpc(ep, absl::StrCat("DeleteRange ", key), ep.kv->DeleteRange(&ctx, req, &resp));
    revision = resp.header().revision();
    return s;
  });
  if (!st.ok()) return st;
  return revision;
}

absl::StatusOr<TxnResult> EtcdClient::Txn(const std::vector<Compare>& compares,
                                          const std::vector<TxnOp>& success,
                                          const std::vector<TxnOp>& failure) {
  etcdserverpb::TxnRequest req;
  for (const Compare& c : compares) ToProto(c, req.add_compare());
  for (const TxnOp& op : success) ToProto(op, req.add_success());
  for (const TxnOp& op : failure) ToProto(op, req.add_failure());
  const std::string what =
      compares.empty() ? std::string("Txn") : absl::StrCat("Txn on ", compares[0].key);
  TxnResult result;
  absl::Status st = OnEndpoints([&](Endpoint& ep) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, options_.timeout_ms);
    etcdserverpb::TxnResponse resp;
    absl::Status s = FromGrpc(ep, what, ep.kv->Txn(&ctx, req, &resp));
    result.succeeded = resp.succeeded();
    result.revision = resp.header().revision();
    return s;
  });
  if (!st.ok()) return st;
  return result;
}

absl::StatusOr<int64_t> EtcdClient::LeaseGrant(int64_t ttl_seconds) {
  int64_t granted = 0;
  return LeaseGrantTtl(ttl_seconds, &granted);
}

absl::StatusOr<int64_t> EtcdClient::LeaseGrantTtl(int64_t ttl_seconds, int64_t* granted_ttl) {
  if (ttl_seconds <= 0) return absl::InvalidArgumentError("etcd: lease TTL must be positive");
  int64_t id = 0;
  absl::Status st = OnEndpoints([&](Endpoint& ep) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, options_.timeout_ms);
    etcdserverpb::LeaseGrantRequest req;
    req.set_ttl(ttl_seconds);
    etcdserverpb::LeaseGrantResponse resp;
    absl::Status s = FromGrpc(ep, "LeaseGrant", ep.lease->LeaseGrant(&ctx, req, &resp));
    if (s.ok() && !resp.error().empty()) {
      s = absl::InternalError(absl::StrCat("etcd ", ep.name, ": LeaseGrant: ", resp.error()));
    }
    id = resp.id();
    *granted_ttl = resp.ttl();
    return s;
  });
  if (!st.ok()) return st;
  return id;
}

absl::StatusOr<int64_t> EtcdClient::LeaseKeepAliveOnce(int64_t lease) {
  int64_t ttl = 0;
  absl::Status st = OnEndpoints([&](Endpoint& ep) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, options_.timeout_ms);
    const std::string what = absl::StrCat("LeaseKeepAlive ", lease);
    auto stream = ep.lease->LeaseKeepAlive(&ctx);
    etcdserverpb::LeaseKeepAliveRequest req;
    req.set_id(lease);
    etcdserverpb::LeaseKeepAliveResponse resp;
    bool got = false;
    if (stream->Write(req)) {
      stream->WritesDone();
      got = stream->Read(&resp);
    }
    if (got) ctx.TryCancel();  // one answer is all we wait for
    grpc::Status gs = stream->Finish();
    if (!got) {
      absl::Status s = FromGrpc(ep, what, gs);
      if (s.ok()) {
        s = absl::UnavailableError(absl::StrCat("etcd ", ep.name, ": ", what, ": no answer"));
      }
      return s;
    }
    ttl = resp.ttl();
    if (ttl <= 0) {
      return absl::NotFoundError(
          absl::StrCat("etcd ", ep.name, ": ", what, ": the lease does not exist"));
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return ttl;
}

absl::Status EtcdClient::LeaseRevoke(int64_t lease) {
  return OnEndpoints([&](Endpoint& ep) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, options_.timeout_ms);
    etcdserverpb::LeaseRevokeRequest req;
    req.set_id(lease);
    etcdserverpb::LeaseRevokeResponse resp;
    return FromGrpc(ep, absl::StrCat("LeaseRevoke ", lease),
                    ep.lease->LeaseRevoke(&ctx, req, &resp));
  });
}

// The watch thread: one Watch stream at a time, created again (on the next
// endpoint, after a short pause) whenever it breaks, from next_revision_.
// mu_ guards the current stream's context (so that the destructor can cancel
// it), stop_ and the first-creation handshake; next_revision_ is the thread's
// own.
class EtcdClient::WatchImpl : public EtcdClient::Watch {
 public:
  WatchImpl(EtcdClient* client, std::string prefix, int64_t start_revision,
            std::function<void(const KeyValue&, bool)> on_event)
      : client_(client),
        prefix_(std::move(prefix)),
        next_revision_(start_revision > 0 ? start_revision + 1 : 0),
        on_event_(std::move(on_event)) {}

  ~WatchImpl() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      if (ctx_ != nullptr) ctx_->TryCancel();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // Starts the thread and waits until etcd confirmed the watch.
  absl::Status Start() {
    thread_ = std::thread([this] { Run(); });
    std::unique_lock<std::mutex> lock(mu_);
    const bool done = cv_.wait_for(lock, std::chrono::milliseconds(client_->options_.timeout_ms),
                                   [this] { return first_done_; });
    if (!done) {
      return absl::DeadlineExceededError(absl::StrCat(
          "etcd: Watch ", prefix_, ": not created within ", client_->options_.timeout_ms, " ms"));
    }
    return first_status_;
  }

 private:
  void Run() {
    const size_t n = client_->endpoints_.size();
    size_t idx = client_->preferred_.load(std::memory_order_relaxed) % n;
    size_t failures = 0;  // in a row, before the first creation
    std::vector<std::string> errors;
    int64_t pause_ms = 100;
    for (;;) {
      Endpoint& ep = *client_->endpoints_[idx];
      bool created = false;
      absl::Status st = RunStream(ep, &created);
      if (created) pause_ms = 100;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (stop_) return;
        if (!first_done_) {
          errors.emplace_back(st.message());
          if (!absl::IsUnavailable(st) || ++failures == n) {
            first_done_ = true;
            first_status_ =
                n == 1 || !absl::IsUnavailable(st)
                    ? st
                    : absl::UnavailableError(absl::StrCat("every etcd endpoint is unavailable: ",
                                                          absl::StrJoin(errors, "; ")));
            cv_.notify_all();
            return;
          }
        } else {
          cv_.wait_for(lock, std::chrono::milliseconds(pause_ms), [this] { return stop_; });
          if (stop_) return;
          pause_ms = std::min<int64_t>(pause_ms * 2, 1000);
        }
      }
      idx = (idx + 1) % n;
    }
  }

  // One stream until it breaks or the watch stops. *created: etcd confirmed
  // the watch on it.
  absl::Status RunStream(Endpoint& ep, bool* created) {
    grpc::ClientContext ctx;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return absl::CancelledError("stopped");
      ctx_ = &ctx;
    }
    const std::string what = absl::StrCat("Watch ", prefix_);
    auto stream = ep.watch->Watch(&ctx);
    etcdserverpb::WatchRequest req;
    auto* create = req.mutable_create_request();
    create->set_key(prefix_.empty() ? std::string(1, '\0') : prefix_);
    create->set_range_end(PrefixEnd(prefix_));
    create->set_start_revision(next_revision_);
    absl::Status result;
    if (stream->Write(req)) {
      etcdserverpb::WatchResponse resp;
      while (stream->Read(&resp)) {
        if (resp.created() && !*created) {
          *created = true;
          // A watch "from now" resumes after the revision it was created at.
          if (next_revision_ == 0) next_revision_ = resp.header().revision() + 1;
          std::lock_guard<std::mutex> lock(mu_);
          if (!first_done_) {
            first_done_ = true;
            cv_.notify_all();
          }
        }
        for (const mvccpb::Event& ev : resp.events()) {
          on_event_(FromProto(ev.kv()), ev.type() == mvccpb::Event::DELETE);
          next_revision_ = std::max(next_revision_, ev.kv().mod_revision() + 1);
        }
        if (resp.canceled()) {
          if (resp.compact_revision() > 0) {
            next_revision_ = resp.compact_revision();
            result = absl::UnavailableError(absl::StrCat("etcd ", ep.name, ": ", what,
                                                         ": compacted, resuming at revision ",
                                                         resp.compact_revision()));
          } else {
            result = absl::FailedPreconditionError(absl::StrCat(
                "etcd ", ep.name, ": ", what, ": canceled by etcd: ", resp.cancel_reason()));
          }
          break;
        }
      }
    }
    ctx.TryCancel();
    grpc::Status gs = stream->Finish();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ctx_ = nullptr;
    }
    if (!result.ok()) return result;
    result = FromGrpc(ep, what, gs);
    if (result.ok() || absl::IsCancelled(result)) {
      result = absl::UnavailableError(absl::StrCat("etcd ", ep.name, ": ", what, ": stream ended"));
    }
    return result;
  }

  EtcdClient* const client_;
  const std::string prefix_;
  int64_t next_revision_;  // the watch thread's: where a new stream starts (0: now)
  const std::function<void(const KeyValue&, bool)> on_event_;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  grpc::ClientContext* ctx_ = nullptr;  // the current stream's, while it runs
  bool stop_ = false;
  bool first_done_ = false;
  absl::Status first_status_;
};

absl::StatusOr<std::unique_ptr<EtcdClient::Watch>> EtcdClient::WatchPrefix(
    const std::string& prefix, int64_t start_revision,
    std::function<void(const KeyValue&, bool deleted)> on_event) {
  auto watch = std::make_unique<WatchImpl>(this, prefix, start_revision, std::move(on_event));
  absl::Status st = watch->Start();
  if (!st.ok()) return st;  // the destructor stops the thread
  return std::unique_ptr<Watch>(std::move(watch));
}

}  // namespace seatlock::cluster
