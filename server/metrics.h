// Metrics: the Prometheus text exposition of seatlockd's STATS, served on
// --metrics-port by shard 0's event loop (a minimal HTTP/1.1 responder: GET
// /metrics, anything else 404; one request per connection). Pure functions.
#ifndef SEATLOCK_SERVER_METRICS_H_
#define SEATLOCK_SERVER_METRICS_H_

#include <string>
#include "absl/strings/string_view.h"

#include "common/histogram.h"
#include "protocol/seatlock.pb.h"

namespace seatlock {

// Fills `out` from a histogram of nanoseconds, with the fixed bucket bounds
// the metrics use (50 µs .. 2.5 s).
void FillLatencyBuckets(const LatencyHistogram& h, wire::LatencyBuckets* out);

// The Prometheus text format (version 0.0.4) of a merged STATS reply.
std::string RenderPrometheus(const wire::StatsReply& stats);

// If `request` holds a complete HTTP request head, sets *path and returns
// true. Returns false while more bytes are needed.
bool ParseHttpRequest(absl::string_view request, std::string* method, std::string* path);

// A complete HTTP/1.1 response that closes the connection.
std::string HttpResponse(int status, absl::string_view reason, absl::string_view content_type,
                         absl::string_view body);

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_METRICS_H_
