// The one hashing helper of the engine: XXH3 (64-bit) from xxHash, inlined. Used for queue name
// hashing (segment choice, catalogue shards) and for block checksums (seeded with the store's
// salt). Changing it changes the on-disk format.
#pragma once

#include <cstdint>
#include <string_view>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace meshq {

inline uint64_t HashQueueName(std::string_view name) {
  return XXH3_64bits(name.data(), name.size());
}

inline uint64_t Checksum(const void* data, size_t len, uint64_t seed) {
  return XXH3_64bits_withSeed(data, len, seed);
}

}  // namespace meshq
