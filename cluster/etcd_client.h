// EtcdClient: a blocking client for the subset of etcd's v3 API that a
// replica group needs (cluster/etcd.proto): keys, transactions, leases and
// watches, over gRPC C++.
//
// Owns one gRPC channel per endpoint, and a thread that keeps them
// (re)connecting in the background. Thread-safe: any thread may call any
// method at once. Every unary call has the deadline EtcdOptions::timeout_ms
// per endpoint tried; a call that gets UNAVAILABLE (the endpoint is down or
// not connected) is tried on the next endpoint, and the client remembers the
// endpoint that answered last and starts there. Errors name the endpoint and
// the gRPC status, e.g. "etcd 127.0.0.1:2379: Range /a: UNAVAILABLE: ...".
// A write that got UNAVAILABLE after it was sent may have been applied all the
// same, and is then applied on the next endpoint again: callers make their
// writes idempotent or check (Election::TryLead does).
//
// A Watch handle owns a thread that calls the callback; the client must
// outlive every Watch it returned.
#ifndef SEATLOCK_CLUSTER_ETCD_CLIENT_H_
#define SEATLOCK_CLUSTER_ETCD_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace seatlock::cluster {

// One key as etcd stores it. Revisions are etcd's global revision counter:
// create_revision is when this incarnation of the key was created (it changes
// only when the key is deleted and created again), mod_revision its last
// change, version the number of changes since it was created (1 at creation).
// lease: the lease it is bound to, 0 for none.
struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct EtcdOptions {
  // "host:port" or "http://host:port" (https is not supported); at least one.
  std::vector<std::string> endpoints;
  // The deadline of one call on one endpoint.
  int64_t timeout_ms = 2000;
};

// One predicate of a transaction: `target` of `key` compared with `number`
// (kVersion, kCreateRevision, kModRevision, kLease) or `value` (kValue). A key
// that does not exist has version, create and mod revision 0, so
// {key, kCreateRevision, kEqual, 0} means "key is absent". etcd evaluates a
// kValue compare on an absent key as false.
struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  enum class Result { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target;
  Result result;
  int64_t number = 0;
  std::string value;
};

// A write inside a transaction. lease: for kPut, the lease to bind the key to.
struct TxnOp {
  enum class Kind { kPut, kDelete };
  Kind kind;
  std::string key, value;
  int64_t lease = 0;
};

struct TxnResult {
  bool succeeded = false;  // every compare held, so `success` ran
  int64_t revision = 0;    // the response header's: the txn's revision if it wrote
};

class EtcdClient {
 public:
  // Validates the endpoints and makes the channels; does not connect, so etcd
  // need not be up.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(const EtcdOptions& options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // The key, or nullopt when it does not exist.
  absl::StatusOr<std::optional<KeyValue>> Get(const std::string& key);
  // Every key that starts with `prefix`, in key order.
  absl::StatusOr<std::vector<KeyValue>> GetPrefix(const std::string& prefix);
  // Returns the revision of the write.
  absl::StatusOr<int64_t> Put(const std::string& key, const std::string& value, int64_t lease = 0);
  // Returns the store's revision after the call (a new one if the key existed).
  absl::StatusOr<int64_t> Delete(const std::string& key);
  absl::StatusOr<TxnResult> Txn(const std::vector<Compare>& compares,
                                const std::vector<TxnOp>& success,
                                const std::vector<TxnOp>& failure = {});

  // Grants a lease of ttl_seconds (etcd may raise it to its minimum, see
  // LeaseGrantTtl). Returns the lease id.
  absl::StatusOr<int64_t> LeaseGrant(int64_t ttl_seconds);
  // Like LeaseGrant, also returning the TTL etcd granted in *granted_ttl.
  absl::StatusOr<int64_t> LeaseGrantTtl(int64_t ttl_seconds, int64_t* granted_ttl);
  // One keepalive on a stream of its own. Returns the lease's remaining TTL in
  // seconds; NotFound when the lease is gone (expired or revoked).
  absl::StatusOr<int64_t> LeaseKeepAliveOnce(int64_t lease);
  // Revokes the lease, deleting every key bound to it. NotFound if it is gone.
  absl::Status LeaseRevoke(int64_t lease);

  // A running watch. Destroying it stops the watch: after the destructor
  // returns, the callback is not running and is never called again. Do not
  // destroy it from inside its own callback.
  class Watch {
   public:
    virtual ~Watch() = default;
  };
  // Calls on_event(kv, deleted) for each change of a key under `prefix` with a
  // revision above start_revision (0: changes from now on), in revision order,
  // from a thread the handle owns. Returns once etcd has confirmed the watch
  // (within timeout_ms). If the stream breaks (etcd restarted), the thread
  // reconnects, trying every endpoint, and resumes after the last revision it
  // delivered, so no change is skipped or repeated; if that revision has been
  // compacted away it resumes at the oldest one etcd still has (the changes in
  // between are lost; seatlock never compacts its etcd keys' history on purpose,
  // but an operator may).
  absl::StatusOr<std::unique_ptr<Watch>> WatchPrefix(
      const std::string& prefix, int64_t start_revision,
      std::function<void(const KeyValue&, bool deleted)> on_event);

  const EtcdOptions& options() const { return options_; }

  // The smallest key greater than every key that starts with `prefix` (etcd's
  // range_end for a prefix); "\0" (every key) when there is none.
  static std::string PrefixEnd(const std::string& prefix);

  // Implementation details, public so that etcd_client.cc's helpers can name
  // them.
  struct Endpoint;
  class WatchImpl;

 private:
  explicit EtcdClient(EtcdOptions options);

  // Runs `call(endpoint)` on each endpoint in turn, starting with the last one
  // that answered, until one returns anything but UNAVAILABLE.
  absl::Status OnEndpoints(const std::function<absl::Status(Endpoint&)>& call);

  // The connector thread's loop: keeps every channel connecting (see .cc).
  void DriveConnections();

  EtcdOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::atomic<size_t> preferred_{0};
  std::atomic<bool> stop_{false};
  std::thread connector_;
};

}  // namespace seatlock::cluster

#endif  // SEATLOCK_CLUSTER_ETCD_CLIENT_H_
