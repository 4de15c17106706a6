// libFuzzer target: feeds arbitrary bytes, split at a fuzzer-chosen point,
// through FrameDecoder and parses every frame as a Request, as a server
// connection does. Build instructions in fuzz/CMakeLists.txt.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/framing.h"
#include "protocol/seatlock.pb.h"

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
    }
  }
  return 0;
}
