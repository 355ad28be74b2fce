// SealPolicy: how full a queue's open block may grow before it is sealed. With many queues the
// open blocks are most of the engine's memory (one per written queue), and a block's size is what
// a cold reader gets per read I/O, so the two pull against each other. The policy gives every
// queue blocks of StoreOptions::block_size while the store's queues fit the open-block budget at
// that size, and smaller blocks (down to 1 KiB) as the queue count grows past it, so that the
// open blocks of queues that grow alike stay within the budget.
//
// Queues that grow alike (the contest's round robin) fill their blocks in lockstep: every open
// block is nearly full at the same moment, so the peak is queues x block size, twice the average.
// Once the budget binds, the first block of a queue, and the first after a Flush sealed one
// early, is given a size drawn from the queue's id (between an eighth of the target and all of
// it, to the byte): the queues' blocks then fill out of phase and the sum of the open blocks stays
// near half of queues x target. Hence the target is twice the budget's share per queue.
#pragma once

#include <algorithm>
#include <cstdint>

#include "block_format.h"
#include "queue.h"

namespace meshq {

class SealPolicy {
 public:
  SealPolicy(uint32_t block_size, uint64_t budget_bytes)
      : block_size_(block_size), budget_(budget_bytes) {}

  // The stored size of a block sealed full (a multiple of kBlockUnit) with `queues` queues in
  // the store.
  uint32_t TargetBlockBytes(uint32_t queues) const {
    if (queues == 0 || uint64_t{queues} * block_size_ <= budget_) return block_size_;
    const uint64_t share = 2 * budget_ / queues;
    return static_cast<uint32_t>(
        std::clamp<uint64_t>(share / kBlockUnit * kBlockUnit, kBlockUnit, block_size_));
  }

  // Payload bytes q's open block may hold before the next message seals it (q->mu held).
  uint32_t PayloadLimit(const Queue& q, uint32_t queues) const {
    const uint32_t target = TargetBlockBytes(queues);
    if (!q.stagger_next || uint64_t{queues} * block_size_ <= budget_) {
      return target - kBlockHeaderSize;
    }
    // 1/8 to 8/8 of the target by the queue id and block index, to the byte (in whole units
    // the sizes of a small target are too few to spread the queues' phases; the price is the
    // padding of a staggered block to its unit, half a unit on average).
    const uint64_t mix = ((uint64_t{q.id} << 20) ^ q.blocks.size()) * 0x9E3779B97F4A7C15ull;
    const uint32_t spread = target - target / 8;
    const auto bytes = static_cast<uint32_t>(target / 8 + (mix >> 32) % (spread + 1));
    return std::max<uint32_t>(bytes, kMinStaggeredBytes) - kBlockHeaderSize;
  }

  // Bytes worth reading at once for a block (its usual size, in 4 KiB pages): a larger block
  // costs a second read, a smaller one reads bytes it does not need.
  uint32_t FirstReadBytes(uint32_t queues) const {
    return (TargetBlockBytes(queues) + 4095) / 4096 * 4096;
  }

 private:
  static constexpr uint32_t kMinStaggeredBytes = 256;

  const uint32_t block_size_;
  const uint64_t budget_;
};

}  // namespace meshq
