// QueueReader: the read path of Get — copies a range of a queue's messages into a batch from its
// sealed blocks (the queue's cached block, staging memory or the segment file) and its open
// block, and keeps the block a forward reader is in cached (ReadCache).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "block_format.h"
#include "meshq/message_batch.h"
#include "meshq/metrics.h"
#include "meshq/options.h"
#include "meshq/status.h"
#include "queue.h"
#include "queue_table.h"
#include "read_cache.h"
#include "read_plan.h"
#include "seal_policy.h"
#include "segment.h"

namespace meshq {

class QueueReader {
 public:
  // Blocks are read from `segments` and verified with `salt`; `policy` and `table` (the
  // store's queues) tell how much of a block to read first. All outlive the reader.
  QueueReader(const StoreOptions& options, const std::vector<std::unique_ptr<Segment>>* segments,
              uint64_t salt, const SealPolicy* policy, const QueueTable* table);
  QueueReader(const QueueReader&) = delete;
  QueueReader& operator=(const QueueReader&) = delete;

  // Appends to the empty *out up to max_count (> 0) messages of q from max(offset, q's start)
  // on, in order, within options.max_get_bytes (at least one message when any exists there),
  // and sets out->first_offset() to where they start. A Trim racing the read moves its start:
  // the read then starts over at the new start, so the batch is always one contiguous run, and
  // a block released meanwhile is never reported as corrupt. On an error *out is left empty.
  // Thread-safe.
  Status Read(Queue* q, uint64_t offset, uint64_t max_count, MessageBatch* out);

  // After a Trim of q (q->mu held): takes q's cached block off it when it holds only trimmed
  // messages and returns it, for the caller to UnrefBlock once the lock is released.
  CachedBlock* ForgetTrimmed(Queue* q);

  // Bytes held by the queues' cached blocks.
  uint64_t cached_bytes() const { return cache_.used(); }
  // Sealed blocks Reads took from a queue's cached block, and from staging memory or the file.
  uint64_t cache_hits() const { return cache_hits_.Value(); }
  uint64_t cache_misses() const { return cache_misses_.Value(); }

 private:
  struct Fill;
  struct FileBlock;

  // Appends the messages of the open block's copy at or after fill->pos.
  static void AppendOpenBlock(const ReadPlan& plan, const std::string& copy, Fill* fill);
  // Reads the round's sealed blocks (their prefetch issued first) into *fill; *last gets the
  // last block read from the file when the read stopped inside it.
  Status ReadSealed(const Queue* q, const ReadPlan& plan, const CachedBlock* cached, Fill* fill,
                    FileBlock* last, size_t* failed_block);
  // Reads and verifies the block `ref` of q into *buf; Corruption when it is not the block the
  // index says.
  Status ReadBlockOf(const Queue* q, const BlockRef& ref, std::string* buf, BlockHeader* h);
  // After a Read of q that ended at offset `end` and has something to change: keeps `last` (the
  // block it last read from the file, in this thread's block buffer) as q's cached block when
  // `keep_last`, else drops q's cached block unless `end` is still inside it. Records `end` as
  // q's read cursor.
  void UpdateReadCache(Queue* q, bool keep_last, const FileBlock& last, uint64_t end);

  const std::vector<std::unique_ptr<Segment>>& segments_;
  const uint64_t salt_;
  // Bytes read first of a block (SealPolicy::FirstReadBytes for the store's queues now).
  uint32_t FirstReadBytes() const { return policy_.FirstReadBytes(table_.id_limit()); }

  const SealPolicy& policy_;
  const QueueTable& table_;
  const uint32_t read_ahead_blocks_;
  const size_t max_get_bytes_;
  ReadCache cache_;
  Counter cache_hits_;
  Counter cache_misses_;
};

}  // namespace meshq
