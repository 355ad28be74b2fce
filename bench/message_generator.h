// MessageGenerator: the deterministic message content of the benchmark, a pure function of
// (seed, queue, offset), so every phase can verify what it reads without storing what was sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace meshq::bench {

class MessageGenerator {
 public:
  // Messages are min_size..max_size bytes (inclusive), lengths spread uniformly by the hash.
  MessageGenerator(uint64_t seed, uint32_t min_size, uint32_t max_size);

  // Length of message `offset` of queue `queue`.
  size_t Length(uint32_t queue, uint64_t offset) const;
  // Writes message `offset` of queue `queue` into *buf (replacing it) and returns a view of it.
  // The first 8 bytes are the queue id and the offset (little-endian 32-bit each, truncated when
  // the message is shorter), so a misplaced message can be traced to where it belongs; the rest
  // are pseudo-random (any byte value, NUL included).
  std::string_view Generate(uint32_t queue, uint64_t offset, std::string* buf) const;

  // The (queue, offset) tag a message claims in its first 8 bytes. False when shorter than 8.
  static bool DecodeTag(std::string_view message, uint32_t* queue, uint32_t* offset);

  uint64_t seed() const { return seed_; }
  uint32_t min_size() const { return min_size_; }
  uint32_t max_size() const { return max_size_; }
  double mean_size() const { return (static_cast<double>(min_size_) + max_size_) / 2; }

 private:
  uint64_t Hash(uint32_t queue, uint64_t offset) const;

  uint64_t seed_;
  uint32_t min_size_;
  uint32_t max_size_;
};

}  // namespace meshq::bench
