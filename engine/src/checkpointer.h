// Checkpointer: carries out Flush — seals the open blocks of the queues written since the last
// one, writes the staged chunks, syncs the segments and appends a record of the new block-list
// entries to the checkpoint log — and compacts that log at Close. Flushes are serialized.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "checkpoint_log.h"
#include "flusher.h"
#include "meshq/queue_store.h"
#include "metadata_store.h"
#include "queue.h"
#include "queue_table.h"
#include "segment.h"
#include "space_release.h"
#include "writer_slots.h"

namespace meshq {

// Where the checkpoint log stands: what Open's recovery leaves and each Flush advances.
struct CheckpointState {
  uint64_t next_seq = 0;   // sequence number of the next checkpoint record
  uint64_t log_bytes = 0;  // size of the checkpoint log in RocksDB
  // Each segment's tail as the metadata store holds it: recovery scans from there.
  std::vector<uint64_t> tails;
};

class Checkpointer {
 public:
  // Continues the log from `state`. Every pointer outlives the Checkpointer.
  Checkpointer(CheckpointState state, MetadataStore* meta,
               const std::vector<std::unique_ptr<Segment>>* segments, QueueTable* table,
               Flusher* flusher, WriterSlots* slots, SpaceReleaser* releaser);
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // QueueStore::Flush: everything Put before the call is written to the segment files, and with
  // kSync synced and checkpointed. Thread-safe.
  Status Flush(FlushMode mode);
  // Rewrites the checkpoint log as one snapshot when it outgrew the state it describes (Close,
  // after its last Flush; a synced Flush compacts too, once the log doubled since the last
  // snapshot).
  Status CompactIfOutgrown();

  // QueueStore::Trim, after it changed q in memory: the next Flush (a synced one, whatever its
  // mode) checkpoints q's new start, then releases the `dropped` blocks' space. Thread-safe.
  void NoteTrim(Queue* q, std::vector<DroppedBlock> dropped);
  // Blocks dropped by trims whose Flush has not yet completed (StoreStats).
  uint64_t pending_release_blocks();

 private:
  struct Record;
  // Trims noted since the last Flush took them.
  struct PendingTrims {
    std::unordered_set<Queue*> queues;
    std::vector<DroppedBlock> dropped;
  };
  PendingTrims TakePendingTrims();
  // Gives back the trims of a Flush that failed, for the next one.
  void ReturnPendingTrims(PendingTrims* trims);

  // Takes every listed queue off the writer slots' lists and the retained list.
  std::vector<Queue*> TakeDirtyQueues();
  // Clears `listed` on the queues a Flush left clean and retains the others for the next one.
  void RetainDirtyQueues(const std::vector<Queue*>& taken);
  // Whether a Flush asked for with `mode` has to sync (and checkpoint blocks). A Flush carrying
  // trims always does: a trim is only ever in a synced record, next to the blocks it refers to.
  bool MustSync(FlushMode mode, const std::vector<Queue*>& dirty, bool has_trims);
  // True when a block of one of `dirty` not in the checkpoint lies below its segment's
  // checkpointed tail, where recovery's scan would not find it.
  bool UncheckpointedBelowTails(const std::vector<Queue*>& dirty);
  // Step 1 of a Flush: seals the open blocks of `dirty` and collects the entries of the record,
  // the trims of `trimmed` (queues trimmed since the last Flush took them) included.
  Status SealAndCollect(const std::vector<Queue*>& dirty, const std::unordered_set<Queue*>& trimmed,
                        bool sync, Record* record);
  // Collects q's entries (q->mu held).
  void CollectQueue(Queue* q, bool trimmed, bool sync, Record* record);
  // Steps 2 and 3: *tails gets the segment tails the record will hold; then every staged chunk
  // is written.
  Status WriteStaged(std::vector<uint64_t>* tails);
  // Step 4 of a kSync Flush: writes the record and the tails that moved, synced.
  Status WriteRecord(Record* record, const std::vector<uint64_t>& tails);
  // The unsynced record of a kWrite Flush: names only (see Flush).
  Status CatalogNewQueues(Record* record);
  // Rewrites the checkpoint log as one snapshot record (mu_ held; safe while Puts and Trims run).
  Status Compact();
  static constexpr uint64_t kMinLogToCompact = 1u << 20;

  MetadataStore* const meta_;
  const std::vector<std::unique_ptr<Segment>>& segments_;
  QueueTable* const table_;
  Flusher* const flusher_;
  WriterSlots* const slots_;
  SpaceReleaser* const releaser_;

  std::mutex trim_mu_;  // guards pending_trims_; taken after mu_ or alone
  PendingTrims pending_trims_;

  // Everything below is guarded by mu_, as are the Flush-only fields of every Queue.
  std::mutex mu_;
  CheckpointState state_;
  uint64_t snapshot_bytes_;  // size of the last snapshot (the log's size at Open before any)
  // A kWrite Flush wrote metadata without syncing it; the next kSync Flush syncs it.
  bool meta_unsynced_ = false;
  // A kSync Flush ran since UncheckpointedBelowTails last found nothing. Open's recovery
  // checkpoints every block, so none lies below the tails then.
  bool below_tails_unknown_ = false;
  // Listed queues a Flush left dirty: blocks not yet checkpointed (a kWrite Flush checkpoints
  // none) or a failed Flush. With the slots' lists, every queue that is not clean — an open
  // block, blocks not checkpointed, or a name not cataloged — is on exactly one list, so a Flush
  // visits the queues written since the last one instead of every queue in the store.
  std::vector<Queue*> retained_dirty_;
};

}  // namespace meshq
