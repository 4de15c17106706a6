#include "protocol/framing.h"

#include <google/protobuf/message_lite.h>

namespace seatlock::protocol {

void PutFrameHeader(uint32_t length, char* dst) {
  dst[0] = static_cast<char>(length >> 24);
  dst[1] = static_cast<char>(length >> 16);
  dst[2] = static_cast<char>(length >> 8);
  dst[3] = static_cast<char>(length);
}

uint32_t GetFrameHeader(const char* src) {
  const auto* p = reinterpret_cast<const unsigned char*>(src);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

bool AppendFrame(const google::protobuf::MessageLite& msg, std::string* out) {
  const size_t size = msg.ByteSizeLong();
  if (size > 0xffffffffu) return false;
  const size_t at = out->size();
  out->resize(at + kFrameHeaderBytes + size);
  PutFrameHeader(static_cast<uint32_t>(size), out->data() + at);
  msg.SerializeWithCachedSizesToArray(
      reinterpret_cast<uint8_t*>(out->data() + at + kFrameHeaderBytes));
  return true;
}

void FrameDecoder::Append(const char* data, size_t n) {
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(data, n);
}

FrameDecoder::Result FrameDecoder::Next(std::string_view* body) {
  const size_t avail = buf_.size() - pos_;
  if (avail < kFrameHeaderBytes) return Result::kNeedMore;
  const uint32_t len = GetFrameHeader(buf_.data() + pos_);
  last_length_ = len;
  if (len > max_frame_bytes_) return Result::kTooLarge;
  if (avail - kFrameHeaderBytes < len) return Result::kNeedMore;
  *body = std::string_view(buf_.data() + pos_ + kFrameHeaderBytes, len);
  pos_ += kFrameHeaderBytes + len;
  return Result::kFrame;
}

}  // namespace seatlock::protocol
