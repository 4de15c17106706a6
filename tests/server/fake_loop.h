// FakeLoop: an EventLoop for unit tests of the server's parts. It has no
// sockets; it records WriteAndSync calls and the test completes them by
// hand (Complete), so a test decides when a log write is durable. Connections
// made with AddConnection collect their output in `outputs`.
// Single-threaded, like the loops it stands in for.
#ifndef SEATLOCK_TESTS_SERVER_FAKE_LOOP_H_
#define SEATLOCK_TESTS_SERVER_FAKE_LOOP_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "server/event_loop.h"

namespace seatlock {

// Records WriteAndSync calls; the test completes them by hand.
class FakeLoop final : public EventLoop {
 public:
  struct Write {
    size_t len;
    bool sync;
    std::function<void(int)> done;
  };
  std::string_view name() const override { return "fake"; }
  absl::Status AddListener(int, int) override { return absl::OkStatus(); }
  void StopListening() override {}
  void AddConnection(uint64_t id, int) override { outputs[id]; }
  // A connection's unsent output, if AddConnection made it.
  std::string* Output(uint64_t id) override {
    auto it = outputs.find(id);
    return it == outputs.end() ? nullptr : &it->second;
  }
  size_t PendingOutput(uint64_t) const override { return 0; }
  void SetReadEnabled(uint64_t, bool) override {}
  void Close(uint64_t) override {}
  void Abort(uint64_t) override {}
  size_t connection_count() const override { return 0; }
  void WriteAndSync(int, const char*, size_t len, uint64_t, bool sync,
                    std::function<void(int)> done) override {
    writes.push_back({len, sync, std::move(done)});
  }
  void Run(LoopHandler*) override {}
  void Stop() override {}
  void Wake() override {}

  void Complete(size_t i, int result) { writes[i].done(result); }
  std::vector<Write> writes;
  std::map<uint64_t, std::string> outputs;
};

}  // namespace seatlock

#endif  // SEATLOCK_TESTS_SERVER_FAKE_LOOP_H_
