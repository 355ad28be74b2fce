// Queue: the in-memory state of one queue — its open block (messages not yet sealed) and its
// block list. Everything except the Flush-only fields is guarded by `mu`.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "block_ref.h"
#include "spin_lock.h"

namespace meshq {

struct Queue {
  Queue(std::string n, uint64_t h, uint32_t queue_id, uint32_t seg)
      : name(std::move(n)), hash(h), id(queue_id), segment(seg) {}
  ~Queue() { std::free(open_buf); }
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  const std::string name;
  const uint64_t hash;
  const uint32_t id;
  const uint32_t segment;

  SpinLock mu;
  uint32_t open_count = 0;   // messages in the open block
  uint32_t open_len = 0;     // payload bytes in the open block
  uint32_t open_cap = 0;     // allocated bytes of open_buf
  uint32_t prefetched = 0;   // block index up to which read-ahead was issued
  uint64_t count = 0;        // messages in the queue
  uint64_t sealed_end = 0;   // offset of the first message of the open block
  char* open_buf = nullptr;  // varint-framed payload of the open block
  std::vector<BlockRef> blocks;

  // Touched only by Flush (under the store's flush mutex) and Open.
  uint32_t checkpointed_blocks = 0;
  bool cataloged = false;
};

}  // namespace meshq
