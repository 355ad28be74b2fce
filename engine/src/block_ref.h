// BlockRef: one entry of a queue's in-memory block list — where a block lives and the queue
// offset of its first message. 8 bytes, so 200M messages in ~70-message blocks cost ~23 MB.
#pragma once

#include <cstddef>
#include <cstdint>

namespace meshq {

struct BlockRef {
  uint32_t unit;          // byte offset in the queue's segment / 1024
  uint32_t first_offset;  // queue offset of the block's first message
};
static_assert(sizeof(BlockRef) == 8);

// Index of the block holding `offset` in a list of blocks in offset order (a BlockList, a
// vector): the last block whose first_offset <= offset, searching from index `lo` (a BlockList's
// origin()). Binary search; requires blocks [lo, size) non-empty, the first starting at or before
// `offset`.
template <typename List>
size_t FindBlock(const List& blocks, uint64_t offset, size_t lo = 0) {
  // Invariant: blocks[lo].first_offset <= offset
  size_t hi = blocks.size();
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    if (blocks[mid].first_offset <= offset) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

}  // namespace meshq
