// MessagePattern: the deterministic content of message `offset` of test queue `queue`, so a
// checker can tell a correct message from garbage, a duplicate, or one out of order without
// keeping a copy. The first 8 bytes encode (queue, offset); the rest is a splitmix64 stream.
#pragma once

#include <cstdint>
#include <string>

namespace meshq::testing {

inline uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Mostly 8..136 bytes; every 509th message is 3..9 KiB, larger than a default block, so the
// one-message-block path is exercised too.
inline std::string PatternMessage(uint32_t queue, uint64_t offset) {
  uint64_t state = (uint64_t{queue} << 40) ^ offset ^ 0x6D657368ull;
  const uint64_t r = SplitMix64(&state);
  size_t len = 8 + r % 129;
  if ((offset + queue) % 509 == 508) len = 3072 + r % 6144;
  std::string m(len, '\0');
  const uint64_t tag = (uint64_t{queue} << 40) | (offset & 0xFFFFFFFFFFull);
  for (int i = 0; i < 8; ++i) m[i] = static_cast<char>(tag >> (8 * i));
  for (size_t i = 8; i < len; i += 8) {
    uint64_t v = SplitMix64(&state);
    for (size_t j = i; j < len && j < i + 8; ++j, v >>= 8) m[j] = static_cast<char>(v);
  }
  return m;
}

inline std::string PatternQueueName(uint32_t queue) { return "torture-" + std::to_string(queue); }

}  // namespace meshq::testing
