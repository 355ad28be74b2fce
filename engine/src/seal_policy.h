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
//
// The policy also says what becomes of a queue's open buffer. While the queues fit the budget at
// full size, a buffer grows by doubling and is kept through seals and Flushes, so that a Put in
// the steady state allocates nothing: malloc on the Put path is not only its own cost but that
// of the allocator's arena locks, shared by every writer thread. Past the budget a buffer kept at
// full size would cost queues x block size whatever the blocks hold, so it is freed when its
// block is sealed and grows in small steps, and what the open blocks hold is their bytes.
#pragma once

#include <algorithm>
#include <cstddef>
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

  // Whether open buffers are kept through seals and Flushes (and grown by doubling) with
  // `queues` queues in the store: while queues x block size fits the budget. A buffer kept from
  // before the store crossed it is freed at its next seal.
  bool KeepsOpenBuffers(uint32_t queues) const { return uint64_t{queues} * block_size_ <= budget_; }

  // The capacity an open buffer of `cap` bytes is grown to so that it holds `need` (> cap)
  // payload bytes, under the payload limit `limit` of its block (PayloadLimit): doubled from
  // kFirstBufferBytes while the buffers are kept, else `need` rounded up to kBufferStep; never
  // past the limit, unless one message alone is larger (it then fits exactly).
  size_t GrownCapacity(size_t cap, size_t need, uint32_t limit, uint32_t queues) const {
    const size_t grown = KeepsOpenBuffers(queues)
                             ? std::max({cap * 2, kFirstBufferBytes, need})
                             : (need + kBufferStep - 1) / kBufferStep * kBufferStep;
    return std::max(std::min<size_t>(grown, limit), need);
  }

  // Bytes worth reading at once for a block (its usual size, in 4 KiB pages): a larger block
  // costs a second read, a smaller one reads bytes it does not need.
  uint32_t FirstReadBytes(uint32_t queues) const {
    return (TargetBlockBytes(queues) + 4095) / 4096 * 4096;
  }

 private:
  static constexpr uint32_t kMinStaggeredBytes = 256;
  // The first allocation of a kept buffer, and the step of a freed one: with a million queues the
  // open blocks are most of the memory, and what a buffer holds beyond its bytes is paid a
  // million times; the copies of small steps are not (one block's worth of bytes each seal).
  static constexpr size_t kFirstBufferBytes = 256;
  static constexpr size_t kBufferStep = 256;

  const uint32_t block_size_;
  const uint64_t budget_;
};

}  // namespace meshq
