// BlockRef: one entry of a queue's in-memory block list — where a block lives and the queue
// offset of its first message. 8 bytes, so 200M messages in ~70-message blocks cost ~23 MB.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace meshq {

struct BlockRef {
  uint32_t unit;          // byte offset in the queue's segment / 1024
  uint32_t first_offset;  // queue offset of the block's first message
};
static_assert(sizeof(BlockRef) == 8);

// Index of the block holding `offset`: the last block whose first_offset <= offset. Binary
// search; requires !blocks.empty() and blocks[0].first_offset <= offset.
inline size_t FindBlock(const std::vector<BlockRef>& blocks, uint64_t offset) {
  auto it = std::upper_bound(blocks.begin(), blocks.end(), offset,
                             [](uint64_t off, const BlockRef& b) { return off < b.first_offset; });
  return static_cast<size_t>(it - blocks.begin()) - 1;
}

}  // namespace meshq
