// Big-endian load/store for the wire codecs (Dubbo header, hessian2, agent frames). Private.
#pragma once

#include <cstdint>
#include <string>

namespace meshq::agent {

inline std::uint16_t LoadBe16(const char* p) {
  auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
}
inline std::uint32_t LoadBe32(const char* p) {
  auto* b = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         b[3];
}
inline std::uint64_t LoadBe64(const char* p) {
  return (std::uint64_t{LoadBe32(p)} << 32) | LoadBe32(p + 4);
}

inline void StoreBe16(std::uint16_t v, char* p) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}
inline void StoreBe32(std::uint32_t v, char* p) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v);
}
inline void StoreBe64(std::uint64_t v, char* p) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v);
}

inline void AppendBe16(std::uint16_t v, std::string* out) {
  char b[2];
  StoreBe16(v, b);
  out->append(b, 2);
}
inline void AppendBe32(std::uint32_t v, std::string* out) {
  char b[4];
  StoreBe32(v, b);
  out->append(b, 4);
}
inline void AppendBe64(std::uint64_t v, std::string* out) {
  char b[8];
  StoreBe64(v, b);
  out->append(b, 8);
}

}  // namespace meshq::agent
