// FuzzInput: reads a libFuzzer input front to back as small integers, picks
// and strings, for the structure-aware decoders of the fuzz targets (there
// is no protobuf-mutator in Debian). Every read past the end yields zeros,
// so any byte string decodes to some sequence of operations; the decoders
// cap every count themselves. FuzzOutput writes the same encoding, for the
// seed corpora (`--write-seeds` of each target).
#ifndef SEATLOCK_FUZZ_FUZZ_INPUT_H_
#define SEATLOCK_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace seatlock::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return pos_ < size_ ? size_ - pos_ : 0; }

  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() | (U8() << 8)); }
  uint32_t U32() { return static_cast<uint32_t>(U16()) | (static_cast<uint32_t>(U16()) << 16); }
  uint64_t U64() { return static_cast<uint64_t>(U32()) | (static_cast<uint64_t>(U32()) << 32); }
  bool Bool() { return (U8() & 1) != 0; }
  // A value in [0, n), n > 0.
  uint32_t Below(uint32_t n) { return U8() % n; }
  // A length byte, then that many bytes (at most max_len, and what is left).
  std::string Bytes(size_t max_len) {
    size_t n = U8();
    if (n > max_len) n = max_len;
    if (n > remaining()) n = remaining();
    std::string out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// The writer side of FuzzInput, for seeds.
class FuzzOutput {
 public:
  FuzzOutput& U8(uint8_t v) {
    out_.push_back(static_cast<char>(v));
    return *this;
  }
  FuzzOutput& U16(uint16_t v) { return U8(v & 0xff).U8(v >> 8); }
  FuzzOutput& U32(uint32_t v) { return U16(v & 0xffff).U16(v >> 16); }
  FuzzOutput& U64(uint64_t v) { return U32(v & 0xffffffffu).U32(v >> 32); }
  FuzzOutput& Bytes(std::string_view s) {
    U8(static_cast<uint8_t>(s.size()));
    out_.append(s.substr(0, 255));
    return *this;
  }
  FuzzOutput& Raw(std::string_view s) {
    out_.append(s);
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

// Writes `bytes` to dir/name; false on failure (seed writing only).
inline bool WriteSeed(const std::string& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

// Stops the process with a message: an invariant is broken (the fuzzer
// reports it as a crash, with the input).
[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "INVARIANT BROKEN: %s\n", what.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

}  // namespace seatlock::fuzz

#endif  // SEATLOCK_FUZZ_FUZZ_INPUT_H_
