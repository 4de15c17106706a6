// libFuzzer target: feeds arbitrary bytes, split at a fuzzer-chosen point,
// through FrameDecoder and parses every frame as a Request, as a server
// connection does. Each frame also goes to the HOLD fast path's decoder
// (protocol/hold_codec.h): whenever it takes a body, protobuf must parse
// that body into the very same HOLD, or the run traps. Build instructions in
// fuzz/CMakeLists.txt.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/framing.h"
#include "protocol/hold_codec.h"
#include "protocol/seatlock.pb.h"

namespace {

// The decoder took `body` as `call`: protobuf must agree on every field.
void CheckSameAsProtobuf(std::string_view body, const seatlock::protocol::HoldCall& call) {
  seatlock::wire::Request req;
  if (!req.ParseFromArray(body.data(), static_cast<int>(body.size()))) __builtin_trap();
  if (req.op_case() != seatlock::wire::Request::kHold) __builtin_trap();
  const seatlock::wire::HoldRequest& h = req.hold();
  if (req.request_id() != call.request_id || h.event_id() != call.event_id ||
      h.holder() != call.holder || h.pass() != call.pass || h.ttl_ms() != call.ttl_ms ||
      static_cast<size_t>(h.seats_size()) != call.seats.size()) {
    __builtin_trap();
  }
  if (h.event_id().empty() || h.holder().empty() || h.ttl_ms() <= 0) __builtin_trap();
  for (size_t i = 0; i < call.seats.size(); ++i) {
    const seatlock::wire::SeatRef& s = h.seats(static_cast<int>(i));
    if (!s.has_index() || s.index() != call.seats[i].index ||
        s.section() != call.seats[i].section || s.section().empty() || !s.row().empty() ||
        !s.seat().empty()) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seatlock::protocol::FrameDecoder decoder(4096);
  const size_t split = size > 0 ? data[0] % (size + 1) : 0;
  const char* bytes = reinterpret_cast<const char*>(data);
  for (int part = 0; part < 2; ++part) {
    if (part == 0)
      decoder.Append(bytes, split);
    else
      decoder.Append(bytes + split, size - split);
    std::string_view body;
    for (;;) {
      auto r = decoder.Next(&body);
      if (r != seatlock::protocol::FrameDecoder::Result::kFrame) {
        if (r != seatlock::protocol::FrameDecoder::Result::kNeedMore) return 0;
        break;
      }
      seatlock::wire::Request req;
      if (req.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
        (void)req.op_case();
      }
      static seatlock::protocol::HoldCall call;
      if (seatlock::protocol::DecodeHoldCall(body, 8, &call)) CheckSameAsProtobuf(body, call);
    }
  }
  return 0;
}
