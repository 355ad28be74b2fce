// WireWriter / WireReader: little-endian field encoding shared by the broker protocol bodies and
// the RPC envelopes. The reader never reads past its input; a short input makes it fail (and
// stay failed), which callers report as a truncated body.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace meshq::bridge {

class WireWriter {
 public:
  explicit WireWriter(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Raw(&v, sizeof(v)); }
  void U32(uint32_t v) { Raw(&v, sizeof(v)); }
  void U64(uint64_t v) { Raw(&v, sizeof(v)); }
  // u16 length + bytes; callers keep s.size() <= 65535 (queue and group names are <= 255).
  void Str16(std::string_view s) {
    U16(static_cast<uint16_t>(s.size()));
    out_->append(s);
  }
  // u32 length + bytes.
  void Bytes32(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }

 private:
  void Raw(const void* p, size_t n) { out_->append(static_cast<const char*>(p), n); }
  std::string* out_;
};

class WireReader {
 public:
  explicit WireReader(std::string_view in) : in_(in) {}
  bool U8(uint8_t* v) { return Raw(v, sizeof(*v)); }
  bool U16(uint16_t* v) { return Raw(v, sizeof(*v)); }
  bool U32(uint32_t* v) { return Raw(v, sizeof(*v)); }
  bool U64(uint64_t* v) { return Raw(v, sizeof(*v)); }
  bool Str16(std::string_view* s) {
    uint16_t n;
    return U16(&n) && Take(n, s);
  }
  bool Bytes32(std::string_view* s) {
    uint32_t n;
    return U32(&n) && Take(n, s);
  }
  size_t remaining() const { return ok_ ? in_.size() : 0; }
  bool ok() const { return ok_; }

 private:
  bool Take(size_t n, std::string_view* s) {
    if (!ok_ || in_.size() < n) return ok_ = false;
    *s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool Raw(void* p, size_t n) {
    if (!ok_ || in_.size() < n) return ok_ = false;
    std::memcpy(p, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace meshq::bridge
