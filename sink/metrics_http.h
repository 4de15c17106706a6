// MetricsHttp: seatlock-sink's /metrics endpoint. A thread that accepts
// loopback (or --metrics_bind) HTTP connections and answers GET /metrics
// with the text a callback returns (any other path: 404); one request per
// connection. Owns its socket and thread; Start() and Stop() from the
// owner's thread, the callback runs on the metrics thread.
#ifndef SEATLOCK_SINK_METRICS_HTTP_H_
#define SEATLOCK_SINK_METRICS_HTTP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace seatlock::sink {

class MetricsHttp {
 public:
  explicit MetricsHttp(std::function<std::string()> text) : text_(std::move(text)) {}
  ~MetricsHttp() { Stop(); }
  // Listens on bind:port (port 0: ephemeral); returns the port.
  absl::StatusOr<uint16_t> Start(const std::string& bind, uint16_t port);
  void Stop();

 private:
  void Serve();
  std::function<std::string()> text_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace seatlock::sink

#endif  // SEATLOCK_SINK_METRICS_HTTP_H_
