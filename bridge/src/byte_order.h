// Little-endian loads and stores for the broker's wire formats (memcpy: no alignment needed).
#pragma once

#include <cstdint>
#include <cstring>

namespace meshq::bridge {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "wire formats assume a little-endian host");

inline uint16_t LoadU16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline uint32_t LoadU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline uint64_t LoadU64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void StoreU32(char* p, uint32_t v) { std::memcpy(p, &v, sizeof(v)); }
inline void StoreU64(char* p, uint64_t v) { std::memcpy(p, &v, sizeof(v)); }

}  // namespace meshq::bridge
