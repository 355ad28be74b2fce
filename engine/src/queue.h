// Queue: the in-memory state of one queue — its open block (messages not yet sealed) and its
// block list. Everything except the Flush-only fields is guarded by `mu`.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "block_list.h"
#include "read_cache.h"
#include "spin_lock.h"

namespace meshq {

// Every field a steady-state Put reads or writes (name for the catalogue's compare, the lock,
// the open block and the count) comes first, within 64 bytes: with a million queues touched
// round robin each line is a miss to memory, and the catalogue probe and these lines are what a
// Put waits for. Deliberately not alignas(64): 128-byte objects on 128-byte boundaries put
// every queue's hot line in half of the cache's sets, and Put was slower with a million queues
// (BM_EnginePut) than with malloc's 16-byte alignment, where the hot bytes sometimes straddle
// two lines.
struct Queue {
  Queue(std::string n, uint32_t queue_id, uint32_t seg)
      : name(std::move(n)), id(queue_id), segment(seg) {}
  ~Queue() {
    std::free(open_buf);
    UnrefBlock(read_cache);
  }
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // --- the Put path ---
  const std::string name;    // inline (no second miss) up to 15 bytes
  char* open_buf = nullptr;  // varint-framed payload of the open block (see SealPolicy)
  uint64_t count = 0;        // messages in the queue
  uint32_t open_count = 0;   // messages in the open block
  uint32_t open_len = 0;     // payload bytes in the open block
  uint32_t open_cap = 0;     // allocated bytes of open_buf
  SpinLock mu;
  bool cataloged = false;  // Flush and Open only (see below)
  // On a list of queues a Flush has to visit (a writer slot's or the store's retained list):
  // set by the Put that makes a clean queue dirty, cleared by the Flush that leaves it clean.
  bool listed = false;
  // The next block is sized by SealPolicy's stagger: the queue's first block, and the first
  // after a Flush sealed one early (both would otherwise start in step with every other queue).
  bool stagger_next = true;

  // --- sealing, reads, Flush ---
  const uint32_t id;
  const uint32_t segment;
  uint64_t sealed_end = 0;  // offset of the first message of the open block
  uint32_t prefetched = 0;  // block index up to which read-ahead was issued
  // Touched only by Flush (under the Checkpointer's mutex) and Open, like `cataloged`.
  uint32_t checkpointed_blocks = 0;
  BlockList blocks;
  CachedBlock* read_cache = nullptr;  // see ReadCache; holds one reference
  // Where the last Get ended: a Get starting here is a forward reader's (see ReadCache). Offsets
  // fit 32 bits (kMaxMessagesPerQueue), which leaves room for `start` in the 128 bytes.
  uint32_t read_cursor = 0;
  // The first kept offset (QueueStore::Trim): messages below it are gone. start <= count. The
  // blocks wholly below it are no longer in `blocks` (FirstKeptBlock).
  uint32_t start = 0;
};
static_assert(sizeof(Queue) == 128, "Queue grew: it is ~1M x this in memory");

// Index of the first block holding a message at or after q.start: blocks.size() when every
// sealed message is trimmed. The blocks below it are dropped. q.mu held.
inline size_t FirstKeptBlock(const Queue& q) {
  if (q.start >= q.sealed_end || q.blocks.empty()) return q.blocks.size();
  return FindBlock(q.blocks, q.start, q.blocks.origin());
}

}  // namespace meshq
