// Recovery at Open, in four steps (see recovery.h).
#include "recovery.h"

#include <algorithm>
#include <string>
#include <utility>

#include "checkpoint_log.h"
#include "checkpointer.h"
#include "meshq/coding.h"
#include "segment_scan.h"

namespace meshq {

namespace {

// Step 1: the catalogue and block lists from the checkpoint log, record by record.
class CheckpointLoader final : public CheckpointVisitor {
 public:
  explicit CheckpointLoader(QueueTable* table) : table_(table) {}

  // The blocks the trims of the last record holding trims dropped: the only ones whose release
  // a crash can have interrupted (Checkpointer::Flush releases a record's before the next one).
  std::vector<DroppedBlock>& last_dropped() { return last_dropped_; }

  void OnRecord(uint64_t seq) override { seq_ = seq; }

  Status OnQueue(uint32_t id, std::string_view name) override {
    if (!table_->Insert(name, id)) return Status::Corruption("duplicate queue name or id");
    table_->ById(id)->cataloged = true;
    return Status::OK();
  }

  Status OnBlocks(uint32_t id, uint32_t first_block, uint64_t end_offset, const BlockRef* refs,
                  size_t n) override {
    Queue* q = id < table_->id_limit() ? table_->ById(id) : nullptr;
    if (q == nullptr) return Status::Corruption("block list for an unknown queue id");
    if (first_block != q->blocks.size()) {
      return Status::Corruption("gap in the block list of queue " + q->name);
    }
    q->blocks.Append(refs, n);
    q->count = q->sealed_end = end_offset;
    q->checkpointed_blocks = static_cast<uint32_t>(q->blocks.size());
    return Status::OK();
  }

  Status OnTrim(uint32_t id, uint64_t start, uint32_t first_block) override {
    Queue* q = id < table_->id_limit() ? table_->ById(id) : nullptr;
    if (q == nullptr) return Status::Corruption("trim of an unknown queue id");
    if (seq_ != trim_seq_) {
      last_dropped_.clear();
      trim_seq_ = seq_;
    }
    const size_t drop_end = std::min<size_t>(first_block, q->blocks.size());
    for (size_t i = q->blocks.origin(); i < drop_end; ++i) {
      last_dropped_.push_back({q->segment, q->blocks[i].unit, q->id, q->blocks[i].first_offset});
    }
    q->blocks.DropBefore(first_block);
    q->start = static_cast<uint32_t>(std::max<uint64_t>(q->start, start));
    q->count = q->sealed_end = std::max<uint64_t>(q->count, q->start);
    q->checkpointed_blocks = static_cast<uint32_t>(q->blocks.size());
    // The first kept block must hold the start (or the list be empty): reads search from it.
    if (!q->blocks.empty() && q->blocks[q->blocks.origin()].first_offset > q->start) {
      return Status::Corruption("trim of queue " + q->name + " leaves a gap before its start");
    }
    return Status::OK();
  }

 private:
  QueueTable* const table_;
  uint64_t seq_ = 0;
  uint64_t trim_seq_ = UINT64_MAX;
  std::vector<DroppedBlock> last_dropped_;
};

// A valid block found past its segment's checkpointed tail.
struct FoundBlock {
  uint32_t segment;
  ScannedBlock block;
};

// Step 2: *tails gets each segment's checkpointed tail (0 when none was written) and *found the
// valid blocks past it, queue by queue in offset order.
Status ScanPastTails(MetadataStore* meta, const std::vector<std::unique_ptr<Segment>>& segments,
                     uint64_t salt, std::vector<uint64_t>* tails, std::vector<FoundBlock>* found) {
  tails->assign(segments.size(), 0);
  for (auto& seg : segments) {
    std::string value;
    Status s = meta->Get(MetadataStore::TailKey(seg->index()), &value);
    if (s.ok() && value.size() == 8) {
      (*tails)[seg->index()] = DecodeFixed64(value.data());
    } else if (!s.IsNotFound() && !s.ok()) {
      return s;
    }
    std::vector<ScannedBlock> blocks;
    s = ScanSegmentFile(seg->file(), (*tails)[seg->index()], salt, &blocks);
    if (!s.ok()) return s;
    for (auto& b : blocks) found->push_back({seg->index(), b});
  }
  std::sort(found->begin(), found->end(), [](const FoundBlock& a, const FoundBlock& b) {
    if (a.block.header.queue_id != b.block.header.queue_id) {
      return a.block.header.queue_id < b.block.header.queue_id;
    }
    return a.block.header.first_offset < b.block.header.first_offset;
  });
  return Status::OK();
}

// Step 3: appends to their queues the found blocks that continue them; *discarded gets the
// others.
void AdoptBlocks(const std::vector<FoundBlock>& found, QueueTable* table, RecoveryCounts* counts,
                 std::vector<FoundBlock>* discarded) {
  for (const auto& [seg, b] : found) {
    const uint32_t id = b.header.queue_id;
    Queue* q = id < table->id_limit() ? table->ById(id) : nullptr;
    // A block is adopted only when it continues its queue exactly and lives in the queue's own
    // segment; anything else is a leftover of a write that was never acknowledged by Flush. A
    // trimmed block is never adopted: a queue's size is at least its durable start, so a block
    // below the start does not continue it.
    if (q == nullptr || q->segment != seg || b.header.first_offset != q->count ||
        b.header.first_offset < q->start) {
      ++counts->discarded_blocks;
      discarded->push_back({seg, b});
      continue;
    }
    q->blocks.push_back({static_cast<uint32_t>(b.offset / kBlockUnit),
                         static_cast<uint32_t>(b.header.first_offset)});
    q->count += b.header.count;
    q->sealed_end = q->count;
    ++counts->recovered_blocks;
  }
}

// Step 4: new writes go past everything in the files, and the adopted blocks are checkpointed,
// so a later recovery never rescans (or re-adopts) what this one saw. `tails` are the tails the
// scan started from; state->tails gets the new ones.
Status CheckpointAdopted(MetadataStore* meta, const std::vector<std::unique_ptr<Segment>>& segments,
                         const std::vector<uint64_t>& tails, bool adopted_any, QueueTable* table,
                         CheckpointState* state) {
  MetadataStore::Batch batch;
  for (auto& seg : segments) {
    uint64_t size = 0;
    Status s = seg->file().Size(&size);
    if (!s.ok()) return s;
    uint64_t end = std::max(tails[seg->index()], (size + kBlockUnit - 1) / kBlockUnit * kBlockUnit);
    seg->set_reserved_end(end);
    batch.Put(MetadataStore::TailKey(seg->index()), MetadataStore::TailValue(end));
    state->tails.push_back(end);
  }
  CheckpointWriter writer(state->next_seq);
  if (adopted_any) {
    const uint32_t limit = table->id_limit();
    for (uint32_t id = 0; id < limit; ++id) {
      Queue* q = table->ById(id);
      if (q == nullptr || q->blocks.size() == q->checkpointed_blocks) continue;
      writer.AddBlockList(q->id, q->blocks, q->checkpointed_blocks, q->blocks.size(),
                          q->sealed_end);
      q->checkpointed_blocks = static_cast<uint32_t>(q->blocks.size());
    }
  }
  if (!writer.empty()) {
    state->log_bytes += writer.Finish(&batch);
    state->next_seq++;
  }
  return meta->Write(&batch, /*sync=*/true);
}

// Releases the space of the discarded blocks and redoes the releases of the last trims (a crash
// may have interrupted them). Nothing writes the segments during Open, so no range is off limits;
// the file ends bound how far a punch is widened.
Status ReleaseDiscarded(const std::vector<std::unique_ptr<Segment>>& segments,
                        const std::vector<FoundBlock>& discarded,
                        std::vector<DroppedBlock>* last_dropped, SpaceReleaser* releaser) {
  std::vector<uint64_t> ends;
  for (auto& seg : segments) {
    uint64_t size = 0;
    Status s = seg->file().Size(&size);
    if (!s.ok()) return s;
    ends.push_back((size + kBlockUnit - 1) / kBlockUnit * kBlockUnit);
  }
  for (const auto& [seg, b] : discarded) {
    releaser->ReleaseRange(seg, b.offset, b.header.stored_bytes(), ends[seg]);
  }
  releaser->ReleaseDropped(last_dropped, ends);
  return Status::OK();
}

}  // namespace

Status RecoverIndex(MetadataStore* meta, const std::vector<std::unique_ptr<Segment>>& segments,
                    uint64_t salt, QueueTable* table, CheckpointState* state,
                    RecoveryCounts* counts, SpaceReleaser* releaser) {
  CheckpointLoader loader(table);
  Status s = ReplayCheckpoints(meta, &loader, &state->next_seq, &state->log_bytes);
  if (!s.ok()) return s;
  std::vector<uint64_t> tails;
  std::vector<FoundBlock> found;
  s = ScanPastTails(meta, segments, salt, &tails, &found);
  if (!s.ok()) return s;
  std::vector<FoundBlock> discarded;
  AdoptBlocks(found, table, counts, &discarded);
  // Before the tails move past them: a crash in between finds the discarded blocks again.
  s = ReleaseDiscarded(segments, discarded, &loader.last_dropped(), releaser);
  if (!s.ok()) return s;
  return CheckpointAdopted(meta, segments, tails, counts->recovered_blocks > 0, table, state);
}

}  // namespace meshq
