// Segment: one of the store's segment files. Space is reserved by atomically advancing the
// reserved end (writers never share a range); chunks not yet on disk are registered in the
// in-flight table so a block can always be read, from memory or from the file.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "block_format.h"
#include "posix_file.h"
#include "write_chunk.h"

namespace meshq {

// The largest segment addressable by 32-bit unit numbers in the block index.
inline constexpr uint64_t kMaxSegmentBytes = uint64_t{0xFFFFFFFF} * kBlockUnit;

class Segment {
 public:
  Segment(uint32_t index, std::string path) : index_(index), path_(std::move(path)) {}

  Status Open() {
    Status s = file_.Open(path_, /*create=*/true, &created_);
    uint64_t allocated = 0;
    if (s.ok()) s = file_.Allocated(&allocated, &fs_block_size_);
    return s;
  }
  // The file system's block size (st_blksize): the unit in which punched space is freed.
  uint32_t fs_block_size() const { return fs_block_size_; }
  bool created() const { return created_; }
  uint32_t index() const { return index_; }
  const std::string& path() const { return path_; }
  PosixFile& file() { return file_; }

  void set_reserved_end(uint64_t end) { reserved_end_.store(end, std::memory_order_relaxed); }
  uint64_t reserved_end() const { return reserved_end_.load(std::memory_order_acquire); }

  // Reserves `bytes` (a multiple of 1 KiB) at the end of the segment; false when the segment
  // would outgrow the 32-bit unit index.
  bool Reserve(uint32_t bytes, uint64_t* base) {
    uint64_t b = reserved_end_.fetch_add(bytes, std::memory_order_acq_rel);
    if (b + bytes > kMaxSegmentBytes) return false;
    *base = b;
    return true;
  }

  // Gives the unused end of `chunk` (taken out of its writer slot, so `used` no longer
  // changes) back to the segment when nothing was reserved after it: the next reservation then
  // starts right after its blocks. Without this every Flush of a partly filled chunk leaves the
  // rest of it as a hole, and a broker flushing many times a second soon moves the end of a
  // segment to the 4 TiB limit. Returns the new reserved end, or 0 when something was reserved
  // after the chunk (its end stays a hole).
  uint64_t GiveBack(WriteChunk* chunk);

  void AddInFlight(const std::shared_ptr<WriteChunk>& chunk);
  void RemoveInFlight(const WriteChunk* chunk);

  // Reads the whole block starting at byte `offset` into *buf and verifies it; Corruption names
  // the file and offset when the block is missing, truncated, or fails its checksum.
  Status ReadBlock(uint64_t offset, uint64_t salt, std::string* buf, BlockHeader* header,
                   size_t first_read);

  // Bytes of the blocks in the file that the index references (StoreStats::live_bytes): written
  // blocks are added, released ones subtracted; Open starts from the allocated bytes.
  void AddLive(uint64_t bytes) { live_bytes_.fetch_add(bytes, std::memory_order_relaxed); }
  void SubLive(uint64_t bytes) { live_bytes_.fetch_sub(bytes, std::memory_order_relaxed); }
  void set_live(uint64_t bytes) { live_bytes_.store(bytes, std::memory_order_relaxed); }
  uint64_t live_bytes() const { return live_bytes_.load(std::memory_order_relaxed); }

  void MarkDirty() { dirty_.store(true, std::memory_order_release); }
  // fdatasync when anything was written since the last sync.
  Status SyncIfDirty();

 private:
  const uint32_t index_;
  const std::string path_;
  PosixFile file_;
  bool created_ = false;
  uint32_t fs_block_size_ = 4096;
  std::atomic<uint64_t> reserved_end_{0};
  std::atomic<bool> dirty_{false};
  std::atomic<uint64_t> live_bytes_{0};
  std::mutex in_flight_mu_;
  std::map<uint64_t, std::shared_ptr<WriteChunk>> in_flight_;  // by base offset
};

}  // namespace meshq
