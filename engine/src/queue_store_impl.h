// QueueStoreImpl: the engine. Put appends to the queue's open block under the queue's spin
// lock; a full block is sealed into the calling thread's writer slot (WriterSlots), and full
// chunks go to the flusher. Get reads sealed blocks from staging memory or the segment file and
// the open block from memory (QueueReader). Flush seals everything, waits for the writes, syncs,
// and checkpoints the new block-list entries to RocksDB (Checkpointer). Open rebuilds the index
// from the checkpoints and a scan of the segments (recovery.h).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "checkpointer.h"
#include "flusher.h"
#include "meshq/queue_store.h"
#include "metadata_store.h"
#include "posix_file.h"
#include "queue_reader.h"
#include "queue_table.h"
#include "recovery.h"
#include "seal_policy.h"
#include "segment.h"
#include "space_release.h"
#include "write_chunk.h"
#include "writer_slots.h"

namespace meshq {

class QueueStoreImpl final : public QueueStore {
 public:
  explicit QueueStoreImpl(const StoreOptions& options);
  ~QueueStoreImpl() override;

  // Opens the files and recovers the index. `short_of_space`: the disk has just the room of the
  // reserve (space_reserve.h), so the metadata database keeps its recovered log instead of
  // writing it into a table file first.
  Status Init(bool short_of_space);

  Status Put(std::string_view queue, std::string_view message) override;
  Status Get(std::string_view queue, uint64_t offset, uint64_t max_count,
             MessageBatch* out) override;
  using QueueStore::Flush;
  Status Flush(FlushMode mode) override;
  Status Close() override;
  Status PutMetadata(std::string_view key, std::string_view value) override;
  Status GetMetadata(std::string_view key, std::string* value) override;
  Status Trim(std::string_view queue, uint64_t first_kept_offset) override;
  uint64_t QueueSize(std::string_view queue) override;
  uint64_t QueueStart(std::string_view queue) override;
  // In queue_listing.cc.
  Status ListQueues(uint64_t from, size_t max, std::vector<std::string>* names,
                    uint64_t* next) override;
  StoreStats GetStats() override;
  Status BackgroundError() override;

  static std::string SegmentPath(const std::string& dir, uint32_t index);

 private:
  // Marks a call in progress on this thread's writer slot; ok() is false once the store is
  // closed.
  class OpGuard {
   public:
    explicit OpGuard(QueueStoreImpl* store);
    ~OpGuard();
    bool ok() const { return ok_; }

   private:
    WriterSlot* slot_;
    bool ok_;
  };

  // Checks the format version, segment count and salt of an existing store, or records them
  // for a new one. A format 1 store (before trims) is read as is and marked format 2.
  Status OpenFormat();
  Status PutLocked(Queue* q, std::string_view message, WriterSlot& slot);
  // Out of PutLocked's fast path: seals q's open block when `framed` more bytes would pass its
  // SealPolicy limit, and grows its buffer to fit them; *done when the message was stored in a
  // block of its own (larger than a block).
  Status MakeRoom(Queue* q, std::string_view message, size_t framed, WriterSlot& slot, bool* done);
  // read(queue) under the queue's lock; 0 for a bad name, an unknown queue, a closed store.
  template <typename F>
  uint64_t ReadQueue(std::string_view queue, F&& read);
  void Shutdown();

  const StoreOptions options_;
  const uint64_t uid_;
  uint64_t salt_ = 0;
  RecoveryCounts recovery_counts_;
  const SealPolicy seal_policy_;

  // Declared first so it outlives every chunk held by the members below.
  std::unique_ptr<ChunkPool> pool_;
  std::atomic<bool> closed_{false};
  bool initialized_ = false;
  PosixFile lock_file_;
  MetadataStore meta_;
  std::vector<std::unique_ptr<Segment>> segments_;
  std::unique_ptr<SpaceReleaser> releaser_;
  std::unique_ptr<QueueTable> table_;
  std::unique_ptr<Flusher> flusher_;
  std::unique_ptr<WriterSlots> slots_;
  std::unique_ptr<QueueReader> reader_;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::mutex close_mu_;
  Counter puts_;
  Counter gets_;
};

}  // namespace meshq
