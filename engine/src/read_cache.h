// ReadCache: one verified sealed block kept per queue that is being read forward, so that the
// Gets of a consumer walking a queue in small batches (the contest's consume phase: a block holds
// many times the messages of a Get) read and checksum each block once instead of once per Get.
// Without it every Get pays a pread plus a checksum of the whole block, which dominate its cost.
//
// A queue's entry (Queue::read_cache, guarded by Queue::mu) is replaced when its reader moves on
// to the next block and dropped when a Get ends outside it. Entries are reference counted because
// readers copy messages out of an entry after releasing the queue lock while another reader may
// replace it. The bytes of all entries are bounded by a budget: over it, no new entry is made
// (an existing one may still be replaced) — a consumer set larger than the budget then reads
// some queues uncached rather than evicting entries that are about to be used again, which is
// what any recency-based eviction would do under the round-robin access of many consumers.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "block_format.h"

namespace meshq {

struct CachedBlock {
  std::atomic<uint32_t> refs{1};
  uint32_t unit = 0;   // where the block lives in its segment: its identity (blocks never move)
  BlockHeader header;  // verified
  std::string bytes;   // header and payload as read and verified
};

inline CachedBlock* RefBlock(CachedBlock* b) {
  if (b != nullptr) b->refs.fetch_add(1, std::memory_order_relaxed);
  return b;
}
inline void UnrefBlock(CachedBlock* b) {
  if (b != nullptr && b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete b;
}

class ReadCache {
 public:
  explicit ReadCache(uint64_t budget_bytes) : budget_(budget_bytes) {}

  // Reserves room for a new entry of `bytes`; false when the budget does not allow it.
  bool TryCharge(uint64_t bytes) {
    uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (used + bytes > budget_) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
  }
  // Whether a new entry of `bytes` would fit now (a hint; TryCharge decides).
  bool HasRoom(uint64_t bytes) const { return used() + bytes <= budget_; }
  // Adjusts the charge of an entry that was replaced by one of another size (may exceed the
  // budget by at most one block per queue being replaced at that moment).
  void Recharge(uint64_t old_bytes, uint64_t new_bytes) {
    used_.fetch_add(new_bytes - old_bytes, std::memory_order_relaxed);  // wraps correctly
  }
  void Release(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  bool enabled() const { return budget_ > 0; }

 private:
  const uint64_t budget_;
  std::atomic<uint64_t> used_{0};
};

}  // namespace meshq
