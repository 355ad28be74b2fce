// WriteChunk: a staging buffer for one reserved, contiguous range of a segment file. A writer
// slot fills it with sealed blocks; a flusher writes its used prefix with one pwrite. Until then
// readers find the chunk through the segment's in-flight table and copy blocks from memory.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

namespace meshq {

class Segment;

struct WriteChunk {
  Segment* segment = nullptr;
  uint64_t base = 0;      // file offset of data[0]; 1 KiB aligned
  uint32_t capacity = 0;  // size of `data`
  // Bytes of the file reserved for it: `capacity` (rounded up to the segment's write unit), or
  // what is written of it once a Flush gave the rest back (Segment::GiveBack). Guarded by the
  // segment's in-flight lock once the chunk is in flight.
  uint32_t reserved = 0;
  uint32_t used = 0;     // bytes filled with blocks (a multiple of 1 KiB)
  uint64_t seq = 0;      // submission order, assigned by the flusher
  char* data = nullptr;  // 4 KiB-aligned buffer of `capacity` bytes rounded up to 4 KiB
};

// Recycles chunk buffers of the standard size so the write path does not hit malloc for every
// 256 KiB; odd-sized chunks (a single huge message) are freed instead.
class ChunkPool {
 public:
  explicit ChunkPool(uint32_t standard_size) : standard_size_(standard_size) {}
  ~ChunkPool() {
    for (char* p : free_) std::free(p);
  }
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  // A chunk of at least `min_size` bytes, shared so readers can hold it past its write.
  std::shared_ptr<WriteChunk> New(uint32_t min_size) {
    uint32_t size = min_size <= standard_size_ ? standard_size_ : min_size;
    char* data = nullptr;
    if (size == standard_size_) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        data = free_.back();
        free_.pop_back();
      }
    }
    if (data == nullptr) data = static_cast<char*>(std::aligned_alloc(4096, RoundUp(size)));
    if (data == nullptr) throw std::bad_alloc();
    auto* chunk = new WriteChunk;
    chunk->capacity = size;
    chunk->data = data;
    return std::shared_ptr<WriteChunk>(chunk, [this](WriteChunk* c) { Release(c); });
  }

 private:
  static size_t RoundUp(uint32_t n) { return (size_t{n} + 4095) / 4096 * 4096; }
  void Release(WriteChunk* c) {
    if (c->capacity == standard_size_) {
      std::lock_guard<std::mutex> lock(mu_);
      if (free_.size() < kMaxFree) {
        free_.push_back(c->data);
        c->data = nullptr;
      }
    }
    std::free(c->data);
    delete c;
  }

  static constexpr size_t kMaxFree = 256;
  const uint32_t standard_size_;
  std::mutex mu_;
  std::vector<char*> free_;
};

}  // namespace meshq
