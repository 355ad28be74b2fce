// Flush and checkpoint-log compaction (see checkpointer.h).
#include "checkpointer.h"

#include <algorithm>
#include <utility>

namespace meshq {

// A Flush's record in the making: the entries step 1 collected, and what to mark once it is
// written.
struct Checkpointer::Record {
  explicit Record(uint64_t seq) : writer(seq) {}
  CheckpointWriter writer;
  std::vector<std::pair<Queue*, uint32_t>> advanced;  // a queue and its blocks the record covers
  std::vector<Queue*> new_queues;                     // queues the record catalogs
};

Checkpointer::Checkpointer(CheckpointState state, MetadataStore* meta,
                           const std::vector<std::unique_ptr<Segment>>* segments, QueueTable* table,
                           Flusher* flusher, WriterSlots* slots, SpaceReleaser* releaser)
    : meta_(meta),
      segments_(*segments),
      table_(table),
      flusher_(flusher),
      slots_(slots),
      releaser_(releaser),
      state_(std::move(state)),
      snapshot_bytes_(state_.log_bytes) {}

// A kWrite Flush does steps 1 and 3 without the fdatasyncs and checkpoints only the names of new
// queues (unsynced): its blocks stay past the checkpointed tails, where the next Open's scan
// adopts them after a kill -9, and the next kSync Flush checkpoints them. So a machine crash
// loses at most what no kSync Flush covered, and never leaves a checkpoint naming data that did
// not reach the disk (a name without data is harmless).
Status Checkpointer::Flush(FlushMode mode) {
  std::lock_guard<std::mutex> lock(mu_);
  // Only the queues written since the last Flush (or left dirty by one) are visited: a broker
  // hosting a million queues group-commits a few of them at a time, and a walk over all of them
  // would make each Flush cost grow with the store instead of with what it writes.
  std::vector<Queue*> dirty = TakeDirtyQueues();
  struct Retain {
    Checkpointer* checkpointer;
    const std::vector<Queue*>& taken;
    ~Retain() { checkpointer->RetainDirtyQueues(taken); }  // on every return, failures included
  } retain{this, dirty};
  // Trims noted before this point are in this Flush's record (they changed their queues before
  // step 1 looks at them); a failed Flush hands them to the next one.
  PendingTrims trims = TakePendingTrims();
  struct ReturnTrims {
    Checkpointer* checkpointer;
    PendingTrims* trims;
    bool written = false;
    ~ReturnTrims() {
      if (!written) checkpointer->ReturnPendingTrims(trims);
    }
  } return_trims{this, &trims};
  const bool sync = MustSync(mode, dirty, !trims.queues.empty());
  flusher_->RetryFailed();

  // 1. Seal every open block and collect the block-list entries not yet checkpointed. The
  // record is only written after the blocks it names are durable.
  Record record(state_.next_seq);
  Status s = SealAndCollect(dirty, trims.queues, sync, &record);
  if (!s.ok()) return s;
  // 2. and 3. Write what is staged and wait for all writes so far.
  std::vector<uint64_t> tails;
  s = WriteStaged(&tails);
  if (!s.ok()) return s;
  if (!sync) return CatalogNewQueues(&record);
  for (auto& seg : segments_) {
    s = seg->SyncIfDirty();  // also what earlier kWrite Flushes wrote
    if (!s.ok()) return s;
  }
  // 4. Checkpoint.
  s = WriteRecord(&record, tails);
  if (!s.ok()) return s;
  // 5. The trims are durable: their dropped blocks' space goes back to the file system. Nothing
  // is written below the tails just recorded any more, so the punches race no write. Done here,
  // before the next record can be written, so that a crash leaves at most the last record with
  // trims with its punches unfinished (recovery redoes those).
  return_trims.written = true;
  releaser_->ReleaseDropped(&trims.dropped, state_.tails);
  // 6. A store that runs for months is never closed: its log is compacted here once it has
  // grown to twice the last snapshot (and 1 MiB), so it stays within a few times the state it
  // describes — which trims shrink — instead of growing by a record per Flush for ever.
  if (state_.log_bytes > 2 * snapshot_bytes_ + kMinLogToCompact) return Compact();
  return Status::OK();
}

void Checkpointer::NoteTrim(Queue* q, std::vector<DroppedBlock> dropped) {
  std::lock_guard<std::mutex> lock(trim_mu_);
  pending_trims_.queues.insert(q);
  if (pending_trims_.dropped.empty()) {
    pending_trims_.dropped = std::move(dropped);
  } else {
    pending_trims_.dropped.insert(pending_trims_.dropped.end(), dropped.begin(), dropped.end());
  }
}

uint64_t Checkpointer::pending_release_blocks() {
  std::lock_guard<std::mutex> lock(trim_mu_);
  return pending_trims_.dropped.size();
}

Checkpointer::PendingTrims Checkpointer::TakePendingTrims() {
  std::lock_guard<std::mutex> lock(trim_mu_);
  PendingTrims taken = std::move(pending_trims_);
  pending_trims_ = PendingTrims();
  return taken;
}

void Checkpointer::ReturnPendingTrims(PendingTrims* trims) {
  if (trims->queues.empty()) return;
  std::lock_guard<std::mutex> lock(trim_mu_);
  pending_trims_.queues.insert(trims->queues.begin(), trims->queues.end());
  pending_trims_.dropped.insert(pending_trims_.dropped.end(), trims->dropped.begin(),
                                trims->dropped.end());
}

bool Checkpointer::MustSync(FlushMode mode, const std::vector<Queue*>& dirty, bool has_trims) {
  if (has_trims) mode = FlushMode::kSync;
  // The scan starts at the tails, so a kWrite Flush is only kill -9 safe when every block it
  // leaves out of the checkpoint lies at or past its segment's tail. Blocks sealed while the last
  // kSync Flush ran (after its step 1) into chunks it collected lie below its tails and are in
  // no record yet: a kSync Flush covers them. Only a kSync Flush creates such blocks, so the
  // listed queues (every queue with a block not checkpointed is listed) are checked once after
  // each one, not on every kWrite Flush.
  if (mode == FlushMode::kWrite && below_tails_unknown_) {
    if (UncheckpointedBelowTails(dirty)) {
      mode = FlushMode::kSync;
    } else {
      below_tails_unknown_ = false;
    }
  }
  const bool sync = mode == FlushMode::kSync;
  if (sync) below_tails_unknown_ = true;  // set before it runs: a failed one counts too
  return sync;
}

Status Checkpointer::SealAndCollect(const std::vector<Queue*>& dirty,
                                    const std::unordered_set<Queue*>& trimmed, bool sync,
                                    Record* record) {
  // Open blocks are sealed into the chunk reserved last in their segment when a writer has one
  // open there: a new chunk of this thread's own would be reserved after it, and that chunk
  // could then not give its unused end back in step 3 (a hole of up to a chunk per segment per
  // Flush, with a broker's io thread writing and its committer flushing). A hint only: the
  // chunk may fill or be taken meanwhile, and StageBlock then reserves a fresh one.
  const std::vector<WriterSlot*> seal_into = slots_->LastReservers(&slots_->Mine());
  for (Queue* q : dirty) {
    std::lock_guard<SpinLock> lock(q->mu);
    if (q->open_count > 0) {
      Status s = slots_->SealOpenBlock(q, *seal_into[q->segment], /*full=*/false);
      if (!s.ok()) return s;
    }
    CollectQueue(q, trimmed.count(q) != 0, sync, record);
  }
  // Trimmed queues that are otherwise clean (no open block, every block checkpointed).
  if (!trimmed.empty()) {
    const std::unordered_set<Queue*> visited(dirty.begin(), dirty.end());
    for (Queue* q : trimmed) {
      if (visited.count(q) != 0) continue;
      std::lock_guard<SpinLock> lock(q->mu);
      CollectQueue(q, /*trimmed=*/true, sync, record);
    }
  }
  return Status::OK();
}

void Checkpointer::CollectQueue(Queue* q, bool trimmed, bool sync, Record* record) {
  const auto n = static_cast<uint32_t>(q->blocks.size());
  const auto kept = static_cast<uint32_t>(FirstKeptBlock(*q));
  // Blocks a trim dropped before a Flush checkpointed them are never checkpointed.
  const uint32_t from = std::max(q->checkpointed_blocks, kept);
  if (n == q->checkpointed_blocks && !trimmed) return;
  if (!q->cataloged) {
    record->writer.AddQueue(q->id, q->name);
    record->new_queues.push_back(q);
  }
  if (!sync) return;
  // The trim goes before the blocks, which then continue the list where it left it. Also
  // written for a trim noted too late for this Flush whose blocks were never checkpointed.
  if (trimmed || from > q->checkpointed_blocks) record->writer.AddTrim(q->id, q->start, kept);
  if (from < n) record->writer.AddBlockList(q->id, q->blocks, from, n, q->sealed_end);
  record->advanced.emplace_back(q, n);
}

Status Checkpointer::WriteStaged(std::vector<uint64_t>* tails) {
  // 2. Every chunk reserved below these tails is submitted by step 3.
  tails->clear();
  for (auto& seg : segments_) tails->push_back(seg->reserved_end());

  // 3. Write every slot's partly filled chunks and wait for all writes so far. A few KiB (a
  // Flush after a few puts, as a broker's group commit issues them) are written right here: a
  // hand-off to a flusher thread and back costs two thread wake-ups, more than the write.
  // More than that goes to the flusher threads, which write it in parallel.
  std::vector<std::shared_ptr<WriteChunk>> partial;
  const uint64_t partial_bytes = slots_->TakePartialChunks(&partial);
  // A partly filled chunk that is its segment's last reservation hands the rest back, so the
  // next writes continue right after it. The tail recorded in step 2 then moves back to the end
  // of its blocks (step 2 saw the chunk's whole reservation; nothing is reserved after it).
  for (auto& chunk : partial) {
    if (uint64_t end = chunk->segment->GiveBack(chunk.get())) {
      uint64_t& tail = (*tails)[chunk->segment->index()];
      tail = std::min(tail, end);
    }
  }
  constexpr uint64_t kWriteHereBytes = 256 << 10;
  for (auto& chunk : partial) {
    if (partial_bytes <= kWriteHereBytes) {
      flusher_->WriteNow(std::move(chunk));
    } else {
      flusher_->Submit(std::move(chunk));
    }
  }
  return flusher_->WaitWritten(flusher_->next_seq());
}

Status Checkpointer::WriteRecord(Record* record, const std::vector<uint64_t>& tails) {
  // The new block-list entries and the tails that moved (a Flush touching a few queues moves a
  // few of the segments' tails; rewriting all of them cost a RocksDB insert each, every Flush).
  // Nothing new, no write: the checkpoint already describes all that is durable.
  MetadataStore::Batch batch;
  const bool has_record = !record->writer.empty();
  const uint64_t record_bytes = record->writer.Finish(&batch);
  bool tails_moved = false;
  for (size_t i = 0; i < tails.size(); ++i) {
    if (tails[i] == state_.tails[i]) continue;
    batch.Put(MetadataStore::TailKey(static_cast<uint32_t>(i)), MetadataStore::TailValue(tails[i]));
    tails_moved = true;
  }
  if (has_record || tails_moved) {
    // A synced write also syncs the unsynced writes before it (one write-ahead log).
    Status s = meta_->Write(&batch, /*sync=*/true);
    if (!s.ok()) return s;
    state_.tails = tails;
    meta_unsynced_ = false;
  } else if (meta_unsynced_) {
    Status s = meta_->SyncWal();
    if (!s.ok()) return s;
    meta_unsynced_ = false;
  }
  for (auto& [q, n] : record->advanced) q->checkpointed_blocks = n;
  for (Queue* q : record->new_queues) q->cataloged = true;
  if (has_record) {
    state_.next_seq++;
    state_.log_bytes += record_bytes;
  }
  return Status::OK();
}

Status Checkpointer::CatalogNewQueues(Record* record) {
  if (record->writer.empty()) return Status::OK();
  MetadataStore::Batch batch;
  const uint64_t record_bytes = record->writer.Finish(&batch);
  Status s = meta_->Write(&batch, /*sync=*/false);
  if (!s.ok()) return s;
  meta_unsynced_ = true;
  for (Queue* q : record->new_queues) q->cataloged = true;
  state_.next_seq++;
  state_.log_bytes += record_bytes;
  return Status::OK();
}

std::vector<Queue*> Checkpointer::TakeDirtyQueues() {
  std::vector<Queue*> taken = std::move(retained_dirty_);
  retained_dirty_.clear();
  slots_->TakeDirty(&taken);
  return taken;
}

void Checkpointer::RetainDirtyQueues(const std::vector<Queue*>& taken) {
  for (Queue* q : taken) {
    std::lock_guard<SpinLock> lock(q->mu);
    // A Put since the Flush visited it finds it still listed and leaves the listing to us.
    if (q->open_count == 0 && q->blocks.size() == q->checkpointed_blocks && q->cataloged) {
      q->listed = false;
    } else {
      retained_dirty_.push_back(q);
    }
  }
}

bool Checkpointer::UncheckpointedBelowTails(const std::vector<Queue*>& dirty) {
  for (Queue* q : dirty) {
    std::lock_guard<SpinLock> lock(q->mu);
    const uint64_t tail = state_.tails[q->segment];
    // Blocks a trim dropped need no finding.
    for (size_t i = std::max<size_t>(q->checkpointed_blocks, FirstKeptBlock(*q));
         i < q->blocks.size(); ++i) {
      if (uint64_t{q->blocks[i].unit} * kBlockUnit < tail) return true;
    }
  }
  return false;
}

Status Checkpointer::CompactIfOutgrown() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_.next_seq <= 1) return Status::OK();
  // Compact when the log outgrew the state it describes (many small Flushes): a snapshot
  // costs no more than the log it replaces, and keeps the next Open fast.
  uint64_t state = 0;
  const uint32_t limit = table_->id_limit();
  for (uint32_t id = 0; id < limit; ++id) {
    if (Queue* q = table_->ById(id)) state += 30 + q->name.size() + q->blocks.stored() * 8;
  }
  if (state_.log_bytes <= state) return Status::OK();
  return Compact();
}

Status Checkpointer::Compact() {
  CheckpointWriter writer(state_.next_seq);
  const uint32_t limit = table_->id_limit();
  for (uint32_t id = 0; id < limit; ++id) {
    Queue* q = table_->ById(id);
    if (q == nullptr || !q->cataloged) continue;
    // Puts and Trims may run (a Flush compacts): the queue's list is read under its lock.
    std::lock_guard<SpinLock> lock(q->mu);
    writer.AddQueue(q->id, q->name);
    // The snapshot starts the list at the first kept block and holds the checkpointed blocks
    // from there. A start not yet checkpointed becomes durable here, which a trim allows (its
    // space is released only after its own record, as ever) — provided the snapshot still
    // describes data that is durable: the start within the checkpointed blocks. A trim racing
    // this Flush may have gone past them (then recovery could not adopt the blocks after them):
    // the compaction is left to a later Flush. Never at Close, where every trim is checkpointed.
    const size_t kept = FirstKeptBlock(*q);
    const uint32_t ckpt = q->checkpointed_blocks;
    if (kept > ckpt) return Status::OK();
    // The end offset of a prefix of the list: the first offset of the next block, or the
    // queue's sealed end when the prefix is the whole list.
    const uint64_t end = ckpt < q->blocks.size() ? q->blocks[ckpt].first_offset : q->sealed_end;
    if (q->start > end) return Status::OK();
    if (q->start > 0 || kept > 0) writer.AddTrim(q->id, q->start, static_cast<uint32_t>(kept));
    if (ckpt > kept) writer.AddBlockList(q->id, q->blocks, kept, ckpt, end);
  }
  MetadataStore::Batch batch;
  batch.DeleteRange(CheckpointKey(0, 0), CheckpointKey(state_.next_seq, 0));
  uint64_t bytes = writer.Finish(&batch);
  Status s = meta_->Write(&batch, /*sync=*/true);
  if (!s.ok()) return s;
  state_.next_seq++;
  state_.log_bytes = bytes;
  snapshot_bytes_ = bytes;
  return Status::OK();
}

}  // namespace meshq
