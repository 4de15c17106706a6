#include "protocol/hold_codec.h"

#include <bit>
#include <cstring>

#include "protocol/framing.h"

namespace seatlock::protocol {
namespace {

// Wire types (protobuf encoding).
constexpr uint32_t kVarint = 0;
constexpr uint32_t kLen = 2;

constexpr uint32_t Tag(uint32_t field, uint32_t wire_type) { return (field << 3) | wire_type; }

// Field numbers, as in seatlock.proto.
constexpr uint32_t kRequestId = 1;
constexpr uint32_t kRequestHold = 14;  // Request.hold and Response.hold
constexpr uint32_t kHoldEventId = 1, kHoldSeats = 2, kHoldHolder = 3, kHoldTtl = 4, kHoldPass = 5;
constexpr uint32_t kSeatSection = 1, kSeatIndex = 4;  // row (2) and seat (3): not decoded
constexpr uint32_t kRespCode = 2, kRespDetail = 3;
constexpr uint32_t kReplyHoldId = 1, kReplyParts = 2, kReplyFencing = 3, kReplyExpires = 4,
                   kReplyRemaining = 5, kReplySeats = 6, kReplyConflicts = 7;
constexpr uint32_t kConflictSeat = 1, kConflictState = 2, kConflictHeldUntil = 3;

// ---- Decoding ----

class Reader {
 public:
  explicit Reader(std::string_view s)
      : p_(reinterpret_cast<const uint8_t*>(s.data())), end_(p_ + s.size()) {}

  bool done() const { return p_ == end_; }

  // A varint of at most 64 bits (10 bytes); false if truncated or longer, or
  // if a 10th byte carries bits past 64 (left to protobuf to decide).
  bool Varint(uint64_t* v) { return BoundedVarint<63, 2>(v); }

  // A tag or a length: protobuf 3.21 reads these with ReadTag and ReadSize,
  // which take at most 5 bytes (a length must also be below 2^31). Longer
  // encodings fail its parse, so they are refused here too; so is a 5th byte
  // with bits past 32, which ReadTag would drop.
  bool Varint32(uint64_t* v) { return BoundedVarint<28, 0x10>(v); }
  bool Tag(uint64_t* tag) { return Varint32(tag); }

  // A length-delimited field's bytes.
  bool Bytes(std::string_view* out) {
    uint64_t n;
    if (!Varint32(&n) || n >= (uint64_t{1} << 31) || n > static_cast<uint64_t>(end_ - p_)) {
      return false;
    }
    *out = std::string_view(reinterpret_cast<const char*>(p_), static_cast<size_t>(n));
    p_ += n;
    return true;
  }

  // A string field of ASCII bytes only; other bytes need protobuf's UTF-8 check.
  bool Ascii(std::string_view* out) {
    if (!Bytes(out)) return false;
    // Eight bytes at a time: a byte >= 0x80 has its top bit set.
    const char* c = out->data();
    const char* const end = c + out->size();
    uint64_t high = 0;
    for (; end - c >= 8; c += 8) {
      uint64_t w;
      std::memcpy(&w, c, 8);
      high |= w;
    }
    for (; c != end; ++c) high |= static_cast<unsigned char>(*c);
    return (high & 0x8080808080808080u) == 0;
  }

 private:
  // A varint whose last byte may come at bit kLastShift at most, and there
  // must be below kLastLimit (no continuation bit, no bits past the width).
  // One byte first: most tags, lengths and indexes.
  template <int kLastShift, uint8_t kLastLimit>
  bool BoundedVarint(uint64_t* v) {
    if (p_ != end_ && *p_ < 0x80) {
      *v = *p_++;
      return true;
    }
    uint64_t r = 0;
    for (int shift = 0; shift <= kLastShift; shift += 7) {
      if (p_ == end_) return false;
      const uint8_t b = *p_++;
      if (shift == kLastShift && b >= kLastLimit) return false;
      r |= uint64_t{b & 0x7fu} << shift;
      if (b < 0x80) {
        *v = r;
        return true;
      }
    }
    return false;
  }

  const uint8_t* p_;
  const uint8_t* end_;
};

// Sets *seen, or says false if the field came before.
bool Once(bool* seen) {
  if (*seen) return false;
  *seen = true;
  return true;
}

bool DecodeSeat(std::string_view body, HoldCall::Seat* seat) {
  Reader r(body);
  bool section = false, index = false;
  while (!r.done()) {
    uint64_t tag;
    if (!r.Tag(&tag)) return false;
    if (tag == Tag(kSeatSection, kLen)) {
      if (!Once(&section) || !r.Ascii(&seat->section)) return false;
    } else if (tag == Tag(kSeatIndex, kVarint)) {
      uint64_t v;
      if (!Once(&index) || !r.Varint(&v) || v > 0xffffffffu) return false;
      seat->index = static_cast<uint32_t>(v);
    } else {
      return false;  // row or seat labels, or a field this codec does not know
    }
  }
  return section && index && !seat->section.empty();
}

bool DecodeHold(std::string_view body, size_t max_seats, HoldCall* call) {
  Reader r(body);
  bool event = false, holder = false, ttl = false, pass = false;
  while (!r.done()) {
    uint64_t tag;
    if (!r.Tag(&tag)) return false;
    switch (tag) {
      case Tag(kHoldEventId, kLen):
        if (!Once(&event) || !r.Ascii(&call->event_id)) return false;
        break;
      case Tag(kHoldSeats, kLen): {
        std::string_view seat;
        if (call->seats.size() >= max_seats || !r.Bytes(&seat)) return false;
        if (!DecodeSeat(seat, &call->seats.emplace_back())) return false;
        break;
      }
      case Tag(kHoldHolder, kLen):
        if (!Once(&holder) || !r.Ascii(&call->holder)) return false;
        break;
      case Tag(kHoldTtl, kVarint): {
        uint64_t v;
        if (!Once(&ttl) || !r.Varint(&v)) return false;
        call->ttl_ms = static_cast<int64_t>(v);
        break;
      }
      case Tag(kHoldPass, kLen):
        if (!Once(&pass) || !r.Ascii(&call->pass)) return false;
        break;
      default:
        return false;
    }
  }
  return !call->event_id.empty() && !call->holder.empty() && call->ttl_ms > 0 &&
         !call->seats.empty();
}

// ---- Encoding ----

// Seven bits per byte; 0 takes one byte.
size_t VarintSize(uint64_t v) { return (static_cast<size_t>(std::bit_width(v | 1)) + 6) / 7; }

// A length-delimited field of `n` bytes, tag included (tags here are one byte).
size_t LenFieldSize(size_t n) { return 1 + VarintSize(n) + n; }
// A varint field left out at 0, as proto3 does.
size_t ScalarSize(uint64_t v) { return v == 0 ? 0 : 1 + VarintSize(v); }

size_t SeatSize(const ReplySeat& s) {
  return (s.section.empty() ? 0 : LenFieldSize(s.section.size())) + 1 + VarintSize(s.index);
}

size_t ConflictSize(const ReplyConflict& c) {
  return LenFieldSize(SeatSize(c.seat)) + ScalarSize(c.state) +
         ScalarSize(static_cast<uint64_t>(c.held_until_ms));
}

size_t PartsSize(std::span<const uint64_t> parts) {
  size_t n = 0;
  for (const uint64_t p : parts) n += VarintSize(p);
  return n;
}

size_t HoldReplySize(const HoldReplyFields& f) {
  size_t n = ScalarSize(f.hold_id) + ScalarSize(f.fencing_token) +
             ScalarSize(static_cast<uint64_t>(f.expires_ms)) +
             ScalarSize(static_cast<uint64_t>(f.remaining_ms));
  if (!f.part_hold_ids.empty()) n += LenFieldSize(PartsSize(f.part_hold_ids));
  for (const ReplySeat& s : f.seats) n += LenFieldSize(SeatSize(s));
  for (const ReplyConflict& c : f.conflicts) n += LenFieldSize(ConflictSize(c));
  return n;
}

class Writer {
 public:
  explicit Writer(char* p) : p_(reinterpret_cast<uint8_t*>(p)) {}

  void Varint(uint64_t v) {
    while (v >= 0x80) {
      *p_++ = static_cast<uint8_t>(v | 0x80);
      v >>= 7;
    }
    *p_++ = static_cast<uint8_t>(v);
  }
  void Scalar(uint32_t field, uint64_t v) {
    if (v == 0) return;
    Varint(Tag(field, kVarint));
    Varint(v);
  }
  void LenHeader(uint32_t field, size_t n) {
    Varint(Tag(field, kLen));
    Varint(n);
  }
  void String(uint32_t field, std::string_view s) {
    if (s.empty()) return;
    LenHeader(field, s.size());
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void Seat(uint32_t field, const ReplySeat& s) {
    LenHeader(field, SeatSize(s));
    String(kSeatSection, s.section);
    Varint(Tag(kSeatIndex, kVarint));  // optional: written when set, even at 0
    Varint(s.index);
  }

  const uint8_t* pos() const { return p_; }

 private:
  uint8_t* p_;
};

}  // namespace

bool DecodeHoldCall(std::string_view body, size_t max_seats, HoldCall* call) {
  call->request_id = 0;
  call->event_id = {};
  call->holder = {};
  call->pass = {};
  call->ttl_ms = 0;
  call->seats.clear();
  Reader r(body);
  bool id = false, hold = false;
  while (!r.done()) {
    uint64_t tag;
    if (!r.Tag(&tag)) return false;
    if (tag == Tag(kRequestId, kVarint)) {
      if (!Once(&id) || !r.Varint(&call->request_id)) return false;
    } else if (tag == Tag(kRequestHold, kLen)) {
      std::string_view h;
      if (!Once(&hold) || !r.Bytes(&h) || !DecodeHold(h, max_seats, call)) return false;
    } else {
      return false;  // another op, or a field this codec does not know
    }
  }
  return hold;
}

size_t AppendHoldReplyFrame(const HoldReplyFields& f, std::string* out) {
  const size_t hold_size = HoldReplySize(f);
  const size_t size = ScalarSize(f.request_id) + ScalarSize(f.code) +
                      (f.detail.empty() ? 0 : LenFieldSize(f.detail.size())) +
                      (f.has_hold ? LenFieldSize(hold_size) : 0);
  const size_t at = out->size();
  out->resize(at + kFrameHeaderBytes + size);
  PutFrameHeader(static_cast<uint32_t>(size), out->data() + at);
  Writer w(out->data() + at + kFrameHeaderBytes);
  w.Scalar(kRequestId, f.request_id);
  w.Scalar(kRespCode, f.code);
  w.String(kRespDetail, f.detail);
  if (f.has_hold) {
    w.LenHeader(kRequestHold, hold_size);
    w.Scalar(kReplyHoldId, f.hold_id);
    if (!f.part_hold_ids.empty()) {
      w.LenHeader(kReplyParts, PartsSize(f.part_hold_ids));
      for (const uint64_t p : f.part_hold_ids) w.Varint(p);
    }
    w.Scalar(kReplyFencing, f.fencing_token);
    w.Scalar(kReplyExpires, static_cast<uint64_t>(f.expires_ms));
    w.Scalar(kReplyRemaining, static_cast<uint64_t>(f.remaining_ms));
    for (const ReplySeat& s : f.seats) w.Seat(kReplySeats, s);
    for (const ReplyConflict& c : f.conflicts) {
      w.LenHeader(kReplyConflicts, ConflictSize(c));
      w.Seat(kConflictSeat, c.seat);
      w.Scalar(kConflictState, c.state);
      w.Scalar(kConflictHeldUntil, static_cast<uint64_t>(c.held_until_ms));
    }
  }
  return size;
}

}  // namespace seatlock::protocol
