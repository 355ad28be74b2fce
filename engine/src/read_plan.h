// ReadPlan: what one round of a Get reads, decided in one short critical section under the
// queue's lock — the sealed blocks from the read position on and the blocks to prefetch for a
// reader walking forward, or, when the position is in the open block, a copy of that block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "block_ref.h"
#include "queue.h"

namespace meshq {

struct ReadPlan {
  static constexpr size_t kMaxBlocks = 16;
  static constexpr size_t kMaxPrefetch = 16;

  BlockRef blocks[kMaxBlocks];  // sealed blocks to read, in offset order
  size_t nblocks = 0;
  size_t first_index = 0;           // block-list index of blocks[0]
  BlockRef prefetch[kMaxPrefetch];  // blocks after them to prefetch
  size_t nprefetch = 0;
  // The position is in the open block: the copy holds its payload, open_count messages from
  // offset open_first.
  bool open_part = false;
  uint64_t open_first = 0;
  uint32_t open_count = 0;
};

// Plans a round reading up to `want` messages of q from `pos` < q->count (q->mu held). A reader
// that will finish the last block it reads gets the next read_ahead_blocks blocks (at most
// kMaxPrefetch) prefetched, each once (Queue::prefetched). The open block is copied into
// *open_copy, since the queue's writers change it once the lock is released.
void PlanRead(Queue* q, uint64_t pos, uint64_t want, uint32_t read_ahead_blocks,
              std::string* open_copy, ReadPlan* plan);

}  // namespace meshq
