// QueueStoreImpl: the engine. Put appends to the queue's open block under the queue's spin
// lock; a full block is sealed into the calling thread's writer slot (per-segment staging chunks),
// and full chunks go to the flusher. Get reads sealed blocks from staging memory or the segment
// file and the open block from memory. Flush seals everything, waits for the writes, syncs, and
// checkpoints the new block-list entries to RocksDB.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "checkpoint_log.h"
#include "flusher.h"
#include "meshq/queue_store.h"
#include "metadata_store.h"
#include "posix_file.h"
#include "queue_table.h"
#include "read_cache.h"
#include "segment.h"
#include "spin_lock.h"
#include "write_chunk.h"

namespace meshq {

class QueueStoreImpl final : public QueueStore {
 public:
  explicit QueueStoreImpl(const StoreOptions& options);
  ~QueueStoreImpl() override;

  Status Init();

  Status Put(std::string_view queue, std::string_view message) override;
  Status Get(std::string_view queue, uint64_t offset, uint64_t max_count,
             MessageBatch* out) override;
  using QueueStore::Flush;
  Status Flush(FlushMode mode) override;
  Status Close() override;
  Status PutMetadata(std::string_view key, std::string_view value) override;
  Status GetMetadata(std::string_view key, std::string* value) override;
  uint64_t QueueSize(std::string_view queue) override;
  StoreStats GetStats() override;

  static std::string SegmentPath(const std::string& dir, uint32_t index);

 private:
  // A writer's staging area: one chunk per segment, plus the count of calls in progress
  // (Close waits for it to drop to zero). Threads are spread over slots, so a slot's lock is
  // normally uncontended.
  struct alignas(64) WriterSlot {
    SpinLock mu;
    std::atomic<int64_t> active{0};
    std::vector<std::shared_ptr<WriteChunk>> chunks;
    // Queues this slot's Puts made dirty since the last Flush took the list (see Queue::listed).
    std::vector<Queue*> dirty;
  };
  static constexpr uint32_t kWriterSlots = 64;

  // Marks a call in progress on this thread's slot; ok() is false once the store is closed.
  class OpGuard {
   public:
    explicit OpGuard(QueueStoreImpl* store);
    ~OpGuard();
    bool ok() const { return ok_; }
    WriterSlot& slot() { return *slot_; }

   private:
    WriterSlot* slot_;
    bool ok_;
  };

  WriterSlot& MySlot();
  WriterSlot& AssignSlot();
  Status PutLocked(Queue* q, std::string_view message, WriterSlot& slot);
  // Seals q's open block (q->mu held).
  Status SealOpenBlock(Queue* q, WriterSlot& slot);
  // Stages one block of q into the slot's chunk for q's segment; *unit gets its location.
  Status StageBlock(WriterSlot& slot, Queue* q, uint64_t first, uint32_t count,
                    std::string_view payload_prefix, std::string_view payload_rest, uint32_t* unit);
  Status FlushInternal(FlushMode mode = FlushMode::kSync);
  // Takes every listed queue off the writer slots' lists and the retained list (flush_mu_ held).
  std::vector<Queue*> TakeDirtyQueues();
  // Clears `listed` on the queues a Flush left clean and retains the others for the next one.
  void RetainDirtyQueues(const std::vector<Queue*>& taken);
  // True when a block of one of `dirty` not in the checkpoint lies below its segment's
  // checkpointed tail, where recovery's scan would not find it (under flush_mu_).
  bool UncheckpointedBelowTails(const std::vector<Queue*>& dirty);
  // The unsynced checkpoint record of a kWrite Flush: names only (see FlushInternal).
  Status CatalogNewQueues(CheckpointWriter* writer, const std::vector<Queue*>& new_queues);
  // Rewrites the checkpoint log as one snapshot record (store quiescent, flush_mu_ held).
  Status CompactCheckpoints();
  Status Recover();
  Status ReadBlockOf(const Queue* q, const BlockRef& ref, std::string* buf, BlockHeader* h);
  // After a Get of q that ended at offset `end` and has something to change: keeps the block it
  // last read from the file (in this thread's block buffer; unit, header) as q's cached block
  // when `keep_read_block`, else drops q's cached block unless `end` is still inside it.
  // Records `end` as q's read cursor.
  void UpdateReadCache(Queue* q, bool keep_read_block, uint32_t unit, const BlockHeader& header,
                       uint64_t end);
  void Shutdown();

  const StoreOptions options_;
  const uint64_t uid_;
  uint64_t salt_ = 0;
  uint64_t checkpoint_seq_ = 0;    // sequence number of the next checkpoint record
  uint64_t checkpoint_bytes_ = 0;  // size of the checkpoint log in RocksDB
  // Each segment's tail as the metadata store holds it (set by Open, then under flush_mu_).
  std::vector<uint64_t> checkpointed_tails_;
  // A kWrite Flush wrote metadata without syncing it; the next kSync Flush syncs it (flush_mu_).
  bool meta_unsynced_ = false;
  // A kSync Flush ran since UncheckpointedBelowTails last found nothing (flush_mu_). Open's
  // recovery checkpoints every block, so none lies below the tails then.
  bool below_tails_unknown_ = false;
  // Listed queues a Flush left dirty: blocks not yet checkpointed (a kWrite Flush checkpoints
  // none) or a failed Flush (flush_mu_). With the slots' lists, every queue that is not clean —
  // an open block, blocks not checkpointed, or a name not cataloged — is on exactly one list, so
  // a Flush visits the queues written since the last one instead of every queue in the store.
  std::vector<Queue*> retained_dirty_;
  uint64_t recovered_blocks_ = 0;
  uint64_t discarded_blocks_ = 0;

  // Declared first so it outlives every chunk held by the members below.
  std::unique_ptr<ChunkPool> pool_;
  std::atomic<bool> closed_{false};
  bool initialized_ = false;
  PosixFile lock_file_;
  MetadataStore meta_;
  std::vector<std::unique_ptr<Segment>> segments_;
  std::unique_ptr<QueueTable> table_;
  ReadCache read_cache_;
  std::unique_ptr<Flusher> flusher_;
  std::unique_ptr<WriterSlot[]> slots_;
  std::atomic<uint32_t> next_slot_{0};
  std::mutex flush_mu_;
  std::mutex close_mu_;
};

}  // namespace meshq
