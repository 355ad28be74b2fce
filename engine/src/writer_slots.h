// WriterSlots: the writers' staging areas. Each thread is given one of kCount slots; a slot holds
// a staging chunk per segment, into which sealed blocks are encoded, and the queues its Puts made
// dirty. Threads are spread over the slots, so a slot's lock is normally uncontended.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "flusher.h"
#include "meshq/metrics.h"
#include "queue.h"
#include "queue_table.h"
#include "seal_policy.h"
#include "segment.h"
#include "spin_lock.h"
#include "write_chunk.h"

namespace meshq {

struct alignas(64) WriterSlot {
  SpinLock mu;
  // Calls in progress on this slot (see QueueStoreImpl::OpGuard); Close waits for it to drop to 0.
  std::atomic<int64_t> active{0};
  std::vector<std::shared_ptr<WriteChunk>> chunks;  // one per segment, guarded by mu
  // Queues this slot's Puts made dirty since the last Flush took the list (see Queue::listed).
  std::vector<Queue*> dirty;
};

// Which slot the calling thread last used, for the store with that uid. initial-exec: a plain
// %fs-relative load on every call instead of the __tls_get_addr call the position-independent
// build would otherwise make on every Put; constinit lets other files read it without a call
// to its initializer.
struct SlotCache {
  uint64_t store_uid;
  uint32_t slot;
};
extern constinit thread_local SlotCache tl_slot_cache __attribute__((tls_model("initial-exec")));

class WriterSlots {
 public:
  static constexpr uint32_t kCount = 64;

  // Chunks come from `pool`, are reserved in `segments` and go to `flusher` when full; blocks are
  // checksummed with `salt`; `policy` and `table` (the store's queues) tell whether a sealed
  // block's buffer is kept. All of them outlive the slots.
  WriterSlots(uint64_t store_uid, const std::vector<std::unique_ptr<Segment>>* segments,
              ChunkPool* pool, Flusher* flusher, uint64_t salt, const SealPolicy* policy,
              const QueueTable* table);
  WriterSlots(const WriterSlots&) = delete;
  WriterSlots& operator=(const WriterSlots&) = delete;

  // The calling thread's slot: a compare and a load after its first call on this store.
  WriterSlot& Mine() {
    if (tl_slot_cache.store_uid == store_uid_) [[likely]]
      return slots_[tl_slot_cache.slot];
    return Assign();
  }

  // Seals q's open block into `slot` (q->mu held); its buffer is kept for the next block or
  // freed, as SealPolicy::KeepsOpenBuffers says. `full`: sealed because the next message did not
  // fit (SealPolicy), not early by a Flush.
  Status SealOpenBlock(Queue* q, WriterSlot& slot, bool full);
  // Stages one block of q into the slot's chunk for q's segment; *unit gets its location. A full
  // chunk goes to the flusher and a fresh one is reserved at the end of the segment.
  Status StageBlock(WriterSlot& slot, const Queue& q, uint64_t first, uint32_t count,
                    std::string_view payload_prefix, std::string_view payload_rest, uint32_t* unit);

  // Moves every slot's dirty list to the end of *taken.
  void TakeDirty(std::vector<Queue*>* taken);
  // For each segment, the slot holding the chunk reserved last there with blocks in it, or
  // `fallback` where no slot has one.
  std::vector<WriterSlot*> LastReservers(WriterSlot* fallback);
  // Takes every slot's chunks: the partly filled ones are appended to *partial, the empty ones
  // released. Returns the bytes used in those appended.
  uint64_t TakePartialChunks(std::vector<std::shared_ptr<WriteChunk>>* partial);
  // Waits until no call is in progress on any slot.
  void WaitIdle();
  // Blocks staged since the store opened.
  uint64_t blocks_staged() const { return blocks_staged_.Value(); }

 private:
  // A thread's first call on this store (or a call after using another store): looks up or
  // assigns its slot. Kept out of line so that Mine stays a compare and a load.
  WriterSlot& Assign();

  const uint64_t store_uid_;
  const std::vector<std::unique_ptr<Segment>>& segments_;
  ChunkPool* const pool_;
  Flusher* const flusher_;
  const uint64_t salt_;
  const SealPolicy& policy_;
  const QueueTable& table_;
  std::atomic<uint32_t> next_slot_{0};
  Counter blocks_staged_;
  WriterSlot slots_[kCount];
};

}  // namespace meshq
