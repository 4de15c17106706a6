// Framing for the seatlock wire protocol: a 4-byte big-endian length, then
// that many bytes of one serialized protobuf message (docs/protocol.md). A
// length of 0 is a valid frame: a message whose fields all have defaults.
//
//   std::string out;
//   AppendFrame(request, &out);             // encode
//   FrameDecoder dec(kDefaultMaxFrameBytes);
//   dec.Append(bytes, n);                    // decode, as bytes arrive
//   std::string_view body;
//   while (dec.Next(&body) == FrameDecoder::Result::kFrame) { ... }
//
// A FrameDecoder owns its buffer; a body view stays valid until the next
// Append. One decoder belongs to one connection and one thread.
#ifndef SEATLOCK_PROTOCOL_FRAMING_H_
#define SEATLOCK_PROTOCOL_FRAMING_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace google::protobuf {
class MessageLite;
}

namespace seatlock::protocol {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 4;
inline constexpr uint32_t kDefaultMaxFrameBytes = 1u << 20;  // 1 MiB

// Serializes `msg` as one frame at the end of `out`. Returns false if the
// message is larger than 2^32-1 bytes (never for messages this project makes).
bool AppendFrame(const google::protobuf::MessageLite& msg, std::string* out);

// Writes / reads the 4-byte big-endian length prefix.
void PutFrameHeader(uint32_t length, char* dst);
uint32_t GetFrameHeader(const char* src);

class FrameDecoder {
 public:
  enum class Result {
    kNeedMore,  // no complete frame buffered yet
    kFrame,     // *body holds one frame's body
    kTooLarge,  // the next frame's length exceeds the maximum; stream unusable
  };

  explicit FrameDecoder(uint32_t max_frame_bytes = kDefaultMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

  void Append(const char* data, size_t n);
  Result Next(std::string_view* body);

  size_t buffered() const { return buf_.size() - pos_; }
  // Length announced by the frame that produced kTooLarge.
  uint32_t last_length() const { return last_length_; }

 private:
  uint32_t max_frame_bytes_;
  uint32_t last_length_ = 0;
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace seatlock::protocol

#endif  // SEATLOCK_PROTOCOL_FRAMING_H_
