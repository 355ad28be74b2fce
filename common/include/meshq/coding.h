// Byte order and varint coding, the one copy every module's formats use. Fixed-width values in
// the engine's blocks and the broker's frames and bodies are little-endian; metadata keys are
// big-endian so that RocksDB's bytewise order matches numeric order, and the Dubbo, hessian2 and
// agent-frame wire formats are big-endian by their specifications. Every function takes an
// unaligned pointer and states its byte order explicitly, whatever the host's.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

namespace meshq {

namespace coding_internal {
// A copy of v whose in-memory bytes are little-endian (a no-op on little-endian hosts).
inline uint16_t ToLittle(uint16_t v) {
  return std::endian::native == std::endian::little ? v : __builtin_bswap16(v);
}
inline uint32_t ToLittle(uint32_t v) {
  return std::endian::native == std::endian::little ? v : __builtin_bswap32(v);
}
inline uint64_t ToLittle(uint64_t v) {
  return std::endian::native == std::endian::little ? v : __builtin_bswap64(v);
}
template <typename T>
inline void StoreLittle(char* dst, T v) {
  v = ToLittle(v);
  std::memcpy(dst, &v, sizeof(v));
}
template <typename T>
inline T LoadLittle(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return ToLittle(v);  // the swap is its own inverse
}
}  // namespace coding_internal

// Little-endian fixed-width values.
inline void EncodeFixed16(char* dst, uint16_t v) { coding_internal::StoreLittle(dst, v); }
inline void EncodeFixed32(char* dst, uint32_t v) { coding_internal::StoreLittle(dst, v); }
inline void EncodeFixed64(char* dst, uint64_t v) { coding_internal::StoreLittle(dst, v); }
inline uint16_t DecodeFixed16(const char* p) { return coding_internal::LoadLittle<uint16_t>(p); }
inline uint32_t DecodeFixed32(const char* p) { return coding_internal::LoadLittle<uint32_t>(p); }
inline uint64_t DecodeFixed64(const char* p) { return coding_internal::LoadLittle<uint64_t>(p); }

inline void PutFixed16(std::string* dst, uint16_t v) {
  char b[2];
  EncodeFixed16(b, v);
  dst->append(b, 2);
}
inline void PutFixed32(std::string* dst, uint32_t v) {
  char b[4];
  EncodeFixed32(b, v);
  dst->append(b, 4);
}
inline void PutFixed64(std::string* dst, uint64_t v) {
  char b[8];
  EncodeFixed64(b, v);
  dst->append(b, 8);
}

// Big-endian fixed-width values.
inline void EncodeBigEndian16(char* dst, uint16_t v) {
  dst[0] = static_cast<char>(v >> 8);
  dst[1] = static_cast<char>(v);
}
inline void EncodeBigEndian32(char* dst, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) dst[i] = static_cast<char>(v);
}
inline void EncodeBigEndian64(char* dst, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) dst[i] = static_cast<char>(v);
}
inline uint16_t DecodeBigEndian16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}
inline uint32_t DecodeBigEndian32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}
inline uint64_t DecodeBigEndian64(const char* p) {
  return (uint64_t{DecodeBigEndian32(p)} << 32) | DecodeBigEndian32(p + 4);
}

inline void PutBigEndian16(std::string* dst, uint16_t v) {
  char b[2];
  EncodeBigEndian16(b, v);
  dst->append(b, 2);
}
inline void PutBigEndian32(std::string* dst, uint32_t v) {
  char b[4];
  EncodeBigEndian32(b, v);
  dst->append(b, 4);
}
inline void PutBigEndian64(std::string* dst, uint64_t v) {
  char b[8];
  EncodeBigEndian64(b, v);
  dst->append(b, 8);
}

// Varints: 7 bits a byte, least significant group first, the high bit set on all but the last.
inline constexpr int kMaxVarint32Length = 5;

inline int Varint32Length(uint32_t v) {
  int len = 1;
  while (v >= 128) {
    v >>= 7;
    ++len;
  }
  return len;
}

// Writes v at dst (room for kMaxVarint32Length bytes) and returns the byte after it.
inline char* EncodeVarint32(char* dst, uint32_t v) {
  auto* p = reinterpret_cast<unsigned char*>(dst);
  while (v >= 128) {
    *p++ = static_cast<unsigned char>(v | 128);
    v >>= 7;
  }
  *p++ = static_cast<unsigned char>(v);
  return reinterpret_cast<char*>(p);
}

// Parses a varint in [p, limit). Returns the byte after it, or nullptr when truncated or longer
// than 5 bytes.
inline const char* DecodeVarint32(const char* p, const char* limit, uint32_t* v) {
  uint32_t result = 0;
  for (int shift = 0; shift <= 28 && p < limit; shift += 7) {
    uint32_t byte = static_cast<unsigned char>(*p++);
    if (byte & 128) {
      result |= (byte & 127) << shift;
    } else {
      if (shift == 28 && byte > 15) return nullptr;  // would overflow 32 bits
      *v = result | (byte << shift);
      return p;
    }
  }
  return nullptr;
}

}  // namespace meshq
