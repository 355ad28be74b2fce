// WireWriter / WireReader: little-endian field encoding shared by the broker protocol bodies and
// the RPC envelopes (meshq/coding.h does the byte order, so it is little-endian on any host). The
// reader never reads past its input; a short input makes it fail (and stay failed), which
// callers report as a truncated body.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "meshq/coding.h"

namespace meshq::bridge {

class WireWriter {
 public:
  explicit WireWriter(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { PutFixed16(out_, v); }
  void U32(uint32_t v) { PutFixed32(out_, v); }
  void U64(uint64_t v) { PutFixed64(out_, v); }
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
  std::string* out_;
};

class WireReader {
 public:
  explicit WireReader(std::string_view in) : in_(in) {}
  bool U8(uint8_t* v) {
    const char* p = Field(1);
    if (p) *v = static_cast<uint8_t>(*p);
    return p != nullptr;
  }
  bool U16(uint16_t* v) {
    const char* p = Field(2);
    if (p) *v = DecodeFixed16(p);
    return p != nullptr;
  }
  bool U32(uint32_t* v) {
    const char* p = Field(4);
    if (p) *v = DecodeFixed32(p);
    return p != nullptr;
  }
  bool U64(uint64_t* v) {
    const char* p = Field(8);
    if (p) *v = DecodeFixed64(p);
    return p != nullptr;
  }
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
  // The next n bytes, consumed; nullptr (and failed from now on) when fewer remain.
  const char* Field(size_t n) {
    if (!ok_ || in_.size() < n) {
      ok_ = false;
      return nullptr;
    }
    const char* p = in_.data();
    in_.remove_prefix(n);
    return p;
  }
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace meshq::bridge
