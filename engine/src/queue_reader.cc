// The read path of Get (see queue_reader.h).
#include "queue_reader.h"

#include <algorithm>
#include <string>

namespace meshq {

namespace {

// Per-thread scratch buffers for the read path, so a Get does not allocate per block.
thread_local std::string tl_block_buf;
thread_local std::string tl_open_buf;

}  // namespace

// The batch a Read fills and where it stands.
struct QueueReader::Fill {
  MessageBatch* out;
  size_t max_bytes;
  uint64_t pos;        // offset of the next message wanted
  uint64_t remaining;  // messages still wanted
  bool full = false;   // max_bytes reached

  // Appends m unless that passes max_bytes (the first message always goes in). Returns whether
  // more messages are wanted.
  bool Append(std::string_view m) {
    if (!out->empty() && out->bytes() + m.size() > max_bytes) {
      full = true;
      return false;
    }
    out->Append(m);
    ++pos;
    --remaining;
    return remaining > 0;
  }
};

// The last block a Read took from the file rather than from q's cached block: it becomes the
// queue's cached block when the Read is a forward reader's and stops inside it.
struct QueueReader::FileBlock {
  uint32_t unit = 0;
  BlockHeader header;
  bool stopped_inside = false;
};

QueueReader::QueueReader(const StoreOptions& options,
                         const std::vector<std::unique_ptr<Segment>>* segments, uint64_t salt,
                         const SealPolicy* policy, const QueueTable* table)
    : segments_(*segments),
      salt_(salt),
      policy_(*policy),
      table_(*table),
      read_ahead_blocks_(options.read_ahead_blocks),
      max_get_bytes_(options.max_get_bytes),
      cache_(options.read_cache_bytes) {}

Status QueueReader::Read(Queue* q, uint64_t offset, uint64_t max_count, MessageBatch* out) {
  Fill fill{out, max_get_bytes_, offset, max_count};
  ReadPlan plan;
  FileBlock last;
  // The queue's cached block, one reference held while this Read uses it.
  CachedBlock* cached = nullptr;
  struct Unref {
    CachedBlock*& b;
    ~Unref() { UnrefBlock(b); }
  } unref{cached};
  bool sequential = offset == 0;  // from the start, or where the last Read ended (below)
  bool first_round = true;

  while (fill.remaining > 0 && !fill.full) {
    last.stopped_inside = false;
    {
      std::lock_guard<SpinLock> lock(q->mu);
      if (fill.pos < q->start) {
        // Below the first kept message: from there, from scratch when a Trim cut off what this
        // read has appended (its messages would not be contiguous with the rest).
        if (!out->empty()) {
          out->Clear();
          fill.full = false;
        }
        fill.pos = q->start;
        fill.remaining = max_count;
        sequential = true;
      }
      if (out->empty()) out->set_first_offset(fill.pos);
      if (fill.pos >= q->count) break;
      fill.remaining = std::min(fill.remaining, q->count - fill.pos);
      if (first_round) {
        first_round = false;
        cached = RefBlock(q->read_cache);
        if (q->read_cursor == offset) sequential = true;
      }
      // Where this Read will end unless max_get_bytes cuts it short (UpdateReadCache then
      // corrects it): set here so that a Read with nothing to change in the cache needs no
      // second pass through the lock.
      q->read_cursor = fill.pos + fill.remaining;
      PlanRead(q, fill.pos, fill.remaining, read_ahead_blocks_, &tl_open_buf, &plan);
    }
    if (plan.open_part) {
      AppendOpenBlock(plan, tl_open_buf, &fill);
      break;  // the open block is the end of the queue as of this read
    }
    size_t failed_block = 0;
    Status s = ReadSealed(q, plan, cached, &fill, &last, &failed_block);
    if (!s.ok()) {
      {
        // A block a Trim dropped since the plan may be released (punched) already: read on from
        // the new start instead of failing.
        std::lock_guard<SpinLock> lock(q->mu);
        if (failed_block < FirstKeptBlock(*q)) {
          last.stopped_inside = false;
          continue;  // the next round sees fill.pos below the start
        }
      }
      out->Clear();
      return s;
    }
  }
  // A new entry is only worth a copy when it could be kept (the budget is checked again under
  // the lock); replacing the queue's entry costs no new budget.
  const bool keep =
      sequential && last.stopped_inside &&
      (cached != nullptr || cache_.HasRoom(kBlockHeaderSize + last.header.payload_len));
  const bool leaves_cached =
      cached != nullptr && (fill.pos < cached->header.first_offset ||
                            fill.pos >= cached->header.first_offset + cached->header.count);
  if (cache_.enabled() && (keep || leaves_cached || fill.full)) {
    UpdateReadCache(q, keep, last, fill.pos);
  }
  return Status::OK();
}

void QueueReader::AppendOpenBlock(const ReadPlan& plan, const std::string& copy, Fill* fill) {
  BlockMessageIterator it(copy.data(), static_cast<uint32_t>(copy.size()), plan.open_count);
  std::string_view m;
  bool error = false;
  for (uint64_t o = plan.open_first; it.Next(&m, &error); ++o) {
    if (o < fill->pos) continue;
    if (!fill->Append(m)) break;
  }
}

Status QueueReader::ReadSealed(const Queue* q, const ReadPlan& plan, const CachedBlock* cached,
                               Fill* fill, FileBlock* last, size_t* failed_block) {
  Segment* seg = segments_[q->segment].get();
  const uint32_t first_read = FirstReadBytes();
  for (size_t j = 0; j < plan.nprefetch; ++j) {
    seg->file().WillNeed(uint64_t{plan.prefetch[j].unit} * kBlockUnit, first_read);
  }
  for (size_t r = 0; r < plan.nblocks && fill->remaining > 0 && !fill->full; ++r) {
    const BlockRef& ref = plan.blocks[r];
    const char* block;
    BlockHeader h;
    const bool hit = cached != nullptr && cached->unit == ref.unit;
    (hit ? cache_hits_ : cache_misses_).Inc();
    if (hit) {
      block = cached->bytes.data();
      h = cached->header;
    } else {
      Status s = ReadBlockOf(q, ref, &tl_block_buf, &h);
      if (!s.ok()) {
        *failed_block = plan.first_index + r;
        return s;
      }
      block = tl_block_buf.data();
    }
    BlockMessageIterator it(block + kBlockHeaderSize, h.payload_len, h.count);
    std::string_view m;
    bool error = false;
    uint64_t o = h.first_offset;
    bool more = true;
    while (more && it.Next(&m, &error)) {
      if (o++ < fill->pos) continue;
      more = fill->Append(m);
    }
    if (error) {
      *failed_block = plan.first_index + r;
      return Status::Corruption(seg->path() + ": malformed message framing in block at offset " +
                                std::to_string(uint64_t{ref.unit} * kBlockUnit));
    }
    last->stopped_inside = !hit && fill->pos < h.first_offset + h.count;
    if (last->stopped_inside) {
      last->unit = ref.unit;
      last->header = h;
    }
    if (!more) break;
  }
  return Status::OK();
}

Status QueueReader::ReadBlockOf(const Queue* q, const BlockRef& ref, std::string* buf,
                                BlockHeader* h) {
  Segment* seg = segments_[q->segment].get();
  Status s = seg->ReadBlock(uint64_t{ref.unit} * kBlockUnit, salt_, buf, h, FirstReadBytes());
  if (!s.ok()) return s;
  if (h->queue_id != q->id || h->first_offset != ref.first_offset) {
    return Status::Corruption(seg->path() + " at offset " +
                              std::to_string(uint64_t{ref.unit} * kBlockUnit) +
                              ": block belongs to another queue or offset than the index says");
  }
  return Status::OK();
}

CachedBlock* QueueReader::ForgetTrimmed(Queue* q) {
  CachedBlock* c = q->read_cache;
  if (c == nullptr || c->header.first_offset + c->header.count > q->start) return nullptr;
  cache_.Release(c->bytes.size());
  q->read_cache = nullptr;
  return c;
}

void QueueReader::UpdateReadCache(Queue* q, bool keep_last, const FileBlock& last, uint64_t end) {
  CachedBlock* fresh = nullptr;
  const uint64_t bytes = kBlockHeaderSize + last.header.payload_len;
  if (keep_last) {
    // tl_block_buf holds that block, verified; copied because the buffer is reused.
    fresh = new CachedBlock;
    fresh->unit = last.unit;
    fresh->header = last.header;
    fresh->bytes.assign(tl_block_buf.data(), bytes);
  }
  CachedBlock* old = nullptr;
  {
    std::lock_guard<SpinLock> lock(q->mu);
    q->read_cursor = end;  // corrects the estimate Read made when max_get_bytes cut it short
    CachedBlock* current = q->read_cache;
    const bool current_still_used = current != nullptr && end >= current->header.first_offset &&
                                    end < current->header.first_offset + current->header.count;
    if (fresh != nullptr) {
      if (current != nullptr) {
        cache_.Recharge(current->bytes.size(), fresh->bytes.size());
        old = current;
        q->read_cache = fresh;
        fresh = nullptr;
      } else if (cache_.TryCharge(fresh->bytes.size())) {
        q->read_cache = fresh;
        fresh = nullptr;
      }
    } else if (current != nullptr && !current_still_used) {
      // The reader left the cached block (caught up with the writers, or jumped): drop it.
      cache_.Release(current->bytes.size());
      old = current;
      q->read_cache = nullptr;
    }
  }
  UnrefBlock(old);
  delete fresh;  // not kept: over budget
}

}  // namespace meshq
