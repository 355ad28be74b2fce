// MessageGenerator: splitmix64-derived content; cheap enough that the harness measures the store,
// not itself (see meshq-microbench BM_GenerateMessage).
#include "message_generator.h"

#include <cstring>

namespace meshq::bench {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void StoreLe32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}

uint32_t LoadLe32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

}  // namespace

MessageGenerator::MessageGenerator(uint64_t seed, uint32_t min_size, uint32_t max_size)
    : seed_(seed), min_size_(min_size), max_size_(max_size < min_size ? min_size : max_size) {}

uint64_t MessageGenerator::Hash(uint32_t queue, uint64_t offset) const {
  return Mix(Mix(seed_ ^ (static_cast<uint64_t>(queue) << 32 | queue)) ^ offset);
}

size_t MessageGenerator::Length(uint32_t queue, uint64_t offset) const {
  const uint64_t range = static_cast<uint64_t>(max_size_) - min_size_ + 1;
  return min_size_ + static_cast<size_t>(Hash(queue, offset) % range);
}

std::string_view MessageGenerator::Generate(uint32_t queue, uint64_t offset,
                                            std::string* buf) const {
  const uint64_t h = Hash(queue, offset);
  const uint64_t range = static_cast<uint64_t>(max_size_) - min_size_ + 1;
  const size_t length = min_size_ + static_cast<size_t>(h % range);
  // Whole 8-byte words are written, then the string is cut to length.
  const size_t words = (length + 7) / 8 + 1;
  buf->resize(words * 8);
  char* p = buf->data();
  StoreLe32(p, queue);
  StoreLe32(p + 4, static_cast<uint32_t>(offset));
  uint64_t state = h;
  for (size_t w = 1; w < words; ++w) {
    state = Mix(state);
    std::memcpy(p + 8 * w, &state, 8);
  }
  buf->resize(length);
  return *buf;
}

bool MessageGenerator::DecodeTag(std::string_view message, uint32_t* queue, uint32_t* offset) {
  if (message.size() < 8) return false;
  *queue = LoadLe32(message.data());
  *offset = LoadLe32(message.data() + 4);
  return true;
}

}  // namespace meshq::bench
