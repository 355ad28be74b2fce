// The engine's implementation of QueueStore (see queue_store_impl.h for the shape).
#include "queue_store_impl.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <unordered_map>

#include "block_format.h"
#include "checkpoint_log.h"
#include "hash.h"
#include "meshq/coding.h"
#include "segment_scan.h"

namespace meshq {

namespace {

std::atomic<uint64_t> g_next_store_uid{1};

inline bool ValidQueueName(std::string_view queue) {
  return !queue.empty() && queue.size() <= kMaxQueueNameSize;
}

Status CheckQueueName(std::string_view queue) {
  if (queue.empty()) return Status::InvalidArgument("queue name is empty");
  if (queue.size() > kMaxQueueNameSize) {
    return Status::InvalidArgument("queue name is " + std::to_string(queue.size()) +
                                   " bytes; the maximum is " + std::to_string(kMaxQueueNameSize));
  }
  return Status::OK();
}

Status ValidateOptions(const StoreOptions& o) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument(m); };
  if (o.dir.empty()) return bad("StoreOptions::dir is required");
  if (o.segment_count == 0 || o.segment_count > 1024 ||
      (o.segment_count & (o.segment_count - 1)) != 0) {
    return bad("segment_count must be a power of two in [1, 1024], got " +
               std::to_string(o.segment_count));
  }
  if (o.block_size < kBlockUnit || o.block_size > (1u << 20) || o.block_size % kBlockUnit != 0) {
    return bad("block_size must be a multiple of 1024 in [1024, 1 MiB], got " +
               std::to_string(o.block_size));
  }
  if (o.write_chunk_size < o.block_size || o.write_chunk_size > (64u << 20) ||
      o.write_chunk_size % kBlockUnit != 0) {
    return bad("write_chunk_size must be a multiple of 1024 in [block_size, 64 MiB], got " +
               std::to_string(o.write_chunk_size));
  }
  if (o.flusher_threads < 1 || o.flusher_threads > 64) {
    return bad("flusher_threads must be in [1, 64], got " + std::to_string(o.flusher_threads));
  }
  if (o.max_pending_bytes < o.write_chunk_size) {
    return bad("max_pending_bytes must be at least write_chunk_size");
  }
  if (o.max_get_bytes == 0) return bad("max_get_bytes must be positive");
  return Status::OK();
}

std::string Fixed64String(uint64_t v) {
  std::string s;
  PutFixed64(&s, v);
  return s;
}

// Adds q's blocks [from, to) to a checkpoint record; `end` is the queue offset after block to - 1.
// One entry per contiguous run of the list, each ending where the next run's first block begins.
void AddBlockRange(CheckpointWriter* writer, const Queue& q, size_t from, size_t to, uint64_t end) {
  q.blocks.ForEachRun(from, to, [&](size_t first, const BlockRef* refs, size_t n) {
    const uint64_t run_end = first + n < to ? q.blocks[first + n].first_offset : end;
    writer->AddBlocks(q.id, static_cast<uint32_t>(first), run_end, refs, n);
  });
}

// Per-thread scratch buffers for the read path, so a Get does not allocate per block.
thread_local std::string tl_block_buf;
thread_local std::string tl_open_buf;

}  // namespace

Status QueueStore::Open(const StoreOptions& options, std::unique_ptr<QueueStore>* store) {
  store->reset();
  Status s = ValidateOptions(options);
  if (!s.ok()) return s;
  auto impl = std::make_unique<QueueStoreImpl>(options);
  s = impl->Init();
  if (!s.ok()) return s;
  *store = std::move(impl);
  return Status::OK();
}

std::string QueueStoreImpl::SegmentPath(const std::string& dir, uint32_t index) {
  char name[32];
  std::snprintf(name, sizeof(name), "/segment-%04" PRIu32 ".dat", index);
  return dir + name;
}

QueueStoreImpl::QueueStoreImpl(const StoreOptions& options)
    : options_(options),
      uid_(g_next_store_uid.fetch_add(1)),
      read_cache_(options.read_cache_bytes) {}

QueueStoreImpl::~QueueStoreImpl() { Close(); }

// ---------------------------------------------------------------------------------------------
// Open and recovery

Status QueueStoreImpl::Init() {
  const std::string& dir = options_.dir;
  if (!PathExists(dir)) {
    if (!options_.create_if_missing) {
      return Status::InvalidArgument(dir + ": does not exist (create_if_missing is false)");
    }
  }
  Status s = CreateDirs(dir);
  if (!s.ok()) return s;
  s = lock_file_.Open(dir + "/LOCK", /*create=*/true);
  if (!s.ok()) return s;
  s = lock_file_.LockExclusive();
  if (!s.ok()) return s;

  const std::string meta_dir = dir + "/meta";
  const bool has_meta = PathExists(meta_dir + "/CURRENT");
  if (!has_meta && PathExists(SegmentPath(dir, 0))) {
    return Status::InvalidArgument(dir +
                                   ": has segment files but no meta/ database; not a meshq store "
                                   "or its metadata was removed");
  }
  s = meta_.Open(meta_dir, /*read_only=*/false);
  if (!s.ok()) return s;

  std::string value;
  s = meta_.Get("o/format", &value);
  if (s.IsNotFound()) {
    std::random_device rd;
    salt_ = (uint64_t{rd()} << 32) ^ rd();
    MetadataStore::Batch batch;
    batch.Put("o/format", std::to_string(kFormatVersion));
    batch.Put("o/segments", std::to_string(options_.segment_count));
    batch.Put("o/salt", Fixed64String(salt_));
    s = meta_.Write(&batch, /*sync=*/true);
    if (!s.ok()) return s;
  } else if (!s.ok()) {
    return s;
  } else {
    if (value != std::to_string(kFormatVersion)) {
      return Status::InvalidArgument(dir + ": unsupported format version " + value);
    }
    s = meta_.Get("o/segments", &value);
    if (!s.ok()) return Status::Corruption(dir + ": metadata lacks o/segments");
    if (value != std::to_string(options_.segment_count)) {
      return Status::InvalidArgument(dir + ": store has " + value +
                                     " segments but options.segment_count is " +
                                     std::to_string(options_.segment_count));
    }
    s = meta_.Get("o/salt", &value);
    if (!s.ok() || value.size() != 8) return Status::Corruption(dir + ": metadata lacks o/salt");
    salt_ = DecodeFixed64(value.data());
  }

  bool created_any = false;
  for (uint32_t i = 0; i < options_.segment_count; ++i) {
    segments_.push_back(std::make_unique<Segment>(i, SegmentPath(dir, i)));
    s = segments_.back()->Open();
    if (!s.ok()) return s;
    created_any |= segments_.back()->created();
  }
  if (created_any) {
    s = SyncDir(dir);
    if (!s.ok()) return s;
  }

  table_ = std::make_unique<QueueTable>(options_.segment_count);
  s = Recover();
  if (!s.ok()) return s;

  pool_ = std::make_unique<ChunkPool>(options_.write_chunk_size);
  flusher_ = std::make_unique<Flusher>(options_.flusher_threads, options_.max_pending_bytes);
  slots_ = std::make_unique<WriterSlot[]>(kWriterSlots);
  for (uint32_t i = 0; i < kWriterSlots; ++i) slots_[i].chunks.resize(options_.segment_count);
  initialized_ = true;
  return Status::OK();
}

Status QueueStoreImpl::Recover() {
  // 1. Catalogue and block lists from the checkpoint log.
  struct Loader : CheckpointVisitor {
    QueueTable* table;
    Status OnQueue(uint32_t id, std::string_view name) override {
      if (!table->Insert(name, id)) return Status::Corruption("duplicate queue name or id");
      table->ById(id)->cataloged = true;
      return Status::OK();
    }
    Status OnBlocks(uint32_t id, uint32_t first_block, uint64_t end_offset, const BlockRef* refs,
                    size_t n) override {
      Queue* q = id < table->id_limit() ? table->ById(id) : nullptr;
      if (q == nullptr) return Status::Corruption("block list for an unknown queue id");
      if (first_block != q->blocks.size()) {
        return Status::Corruption("gap in the block list of queue " + q->name);
      }
      q->blocks.Append(refs, n);
      q->count = q->sealed_end = end_offset;
      q->checkpointed_blocks = static_cast<uint32_t>(q->blocks.size());
      return Status::OK();
    }
  } loader;
  loader.table = table_.get();
  Status s = ReplayCheckpoints(&meta_, &loader, &checkpoint_seq_, &checkpoint_bytes_);
  if (!s.ok()) return s;

  // 3. Adopt blocks written past each segment's checkpointed tail, queue by queue in offset order.
  std::vector<uint64_t> tails(segments_.size(), 0);
  std::vector<std::pair<uint32_t, ScannedBlock>> found;  // (segment, block)
  for (auto& seg : segments_) {
    std::string value;
    s = meta_.Get(MetadataStore::TailKey(seg->index()), &value);
    if (s.ok() && value.size() == 8) {
      tails[seg->index()] = DecodeFixed64(value.data());
    } else if (!s.IsNotFound() && !s.ok()) {
      return s;
    }
    std::vector<ScannedBlock> blocks;
    ScanCounts counts;
    s = ScanSegmentFile(seg->file(), tails[seg->index()], salt_, &blocks, &counts);
    if (!s.ok()) return s;
    for (auto& b : blocks) found.emplace_back(seg->index(), b);
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    if (a.second.header.queue_id != b.second.header.queue_id) {
      return a.second.header.queue_id < b.second.header.queue_id;
    }
    return a.second.header.first_offset < b.second.header.first_offset;
  });
  for (const auto& [seg, b] : found) {
    const uint32_t id = b.header.queue_id;
    Queue* q = id < table_->id_limit() ? table_->ById(id) : nullptr;
    // A block is adopted only when it continues its queue exactly and lives in the queue's own
    // segment; anything else is a leftover of a write that was never acknowledged by Flush.
    if (q == nullptr || q->segment != seg || b.header.first_offset != q->count) {
      ++discarded_blocks_;
      continue;
    }
    q->blocks.push_back({static_cast<uint32_t>(b.offset / kBlockUnit),
                         static_cast<uint32_t>(b.header.first_offset)});
    q->count += b.header.count;
    q->sealed_end = q->count;
    ++recovered_blocks_;
  }

  // 4. New writes go past everything in the files, and the adopted blocks are checkpointed, so
  // a later recovery never rescans (or re-adopts) what this one saw.
  MetadataStore::Batch batch;
  for (auto& seg : segments_) {
    uint64_t size = 0;
    s = seg->file().Size(&size);
    if (!s.ok()) return s;
    uint64_t end = std::max(tails[seg->index()], (size + kBlockUnit - 1) / kBlockUnit * kBlockUnit);
    seg->set_reserved_end(end);
    batch.Put(MetadataStore::TailKey(seg->index()), Fixed64String(end));
    checkpointed_tails_.push_back(end);
  }
  CheckpointWriter writer(checkpoint_seq_);
  if (recovered_blocks_ > 0) {
    uint32_t limit = table_->id_limit();
    for (uint32_t id = 0; id < limit; ++id) {
      Queue* q = table_->ById(id);
      if (q == nullptr || q->blocks.size() == q->checkpointed_blocks) continue;
      AddBlockRange(&writer, *q, q->checkpointed_blocks, q->blocks.size(), q->sealed_end);
      q->checkpointed_blocks = static_cast<uint32_t>(q->blocks.size());
    }
  }
  if (!writer.empty()) {
    checkpoint_bytes_ += writer.Finish(&batch);
    checkpoint_seq_++;
  }
  return meta_.Write(&batch, /*sync=*/true);
}

// ---------------------------------------------------------------------------------------------
// Writer slots and call guards

namespace {
struct SlotCache {
  uint64_t uid;
  uint32_t slot;
};
// initial-exec: a plain %fs-relative load on every call instead of __tls_get_addr, which the
// position-independent build would otherwise call (measured: ~40 instructions a Put).
thread_local SlotCache tl_slot_cache __attribute__((tls_model("initial-exec"))) = {0, 0};
}  // namespace

QueueStoreImpl::WriterSlot& QueueStoreImpl::MySlot() {
  if (tl_slot_cache.uid == uid_) [[likely]]
    return slots_[tl_slot_cache.slot];
  return AssignSlot();
}

// A thread's first call on this store (or a call after using another store): look up or assign
// its slot. Kept out of line so the fast path above stays a compare and a load.
__attribute__((noinline)) QueueStoreImpl::WriterSlot& QueueStoreImpl::AssignSlot() {
  thread_local std::unordered_map<uint64_t, uint32_t> assigned;
  auto it = assigned.find(uid_);
  uint32_t slot;
  if (it == assigned.end()) {
    slot = next_slot_.fetch_add(1, std::memory_order_relaxed) % kWriterSlots;
    assigned.emplace(uid_, slot);
  } else {
    slot = it->second;
  }
  tl_slot_cache = {uid_, slot};
  return slots_[slot];
}

QueueStoreImpl::OpGuard::OpGuard(QueueStoreImpl* store) {
  if (!store->initialized_) {
    slot_ = nullptr;
    ok_ = false;
    return;
  }
  slot_ = &store->MySlot();
  // Dekker-style pairing with Close: Close sets closed_ then waits for active == 0; a call
  // increments active then checks closed_. Both sides use sequentially consistent operations.
  slot_->active.fetch_add(1, std::memory_order_seq_cst);
  ok_ = !store->closed_.load(std::memory_order_seq_cst);
}

QueueStoreImpl::OpGuard::~OpGuard() {
  if (slot_ != nullptr) slot_->active.fetch_sub(1, std::memory_order_release);
}

// ---------------------------------------------------------------------------------------------
// Put

Status QueueStoreImpl::Put(std::string_view queue, std::string_view message) {
  if (!ValidQueueName(queue)) return CheckQueueName(queue);
  if (message.size() > kMaxMessageSize) {
    return Status::InvalidArgument("message is " + std::to_string(message.size()) +
                                   " bytes; the maximum is " + std::to_string(kMaxMessageSize));
  }
  // No OpGuard here: its two locked instructions were a full barrier after every Put, which made
  // each Put wait for its own store into the open block (a cache miss) before returning. Close
  // is excluded through the queue lock instead: Close sets closed_ and then, before its final
  // Flush, locks every queue; a Put that takes a queue lock after that sees closed_ (checked under
  // the lock), and one that took it before has finished when Close gets the lock. Put touches no
  // file, only memory that lives until the store is destroyed.
  if (!initialized_ || closed_.load(std::memory_order_relaxed)) {
    return Status::Closed("Put on a closed store");
  }
  if (flusher_->has_error()) {
    // Fail fast while writes are failing (e.g. disk full): the flusher keeps retrying in the
    // background and Puts succeed again once a retry goes through.
    return Status::IOError("background write failed; message not accepted: " +
                           flusher_->error().ToString());
  }
  if (flusher_->over_limit()) {
    Status s = flusher_->WaitForRoom();
    if (!s.ok()) return s;
  }
  const uint64_t hash = HashQueueName(queue);
  Queue* q = table_->FindOrCreate(queue, hash);
  if (q == nullptr) return Status::InvalidArgument("the store has reached 2^32-1 queues");
  WriterSlot& slot = MySlot();
  std::lock_guard<SpinLock> lock(q->mu);
  if (closed_.load(std::memory_order_seq_cst)) return Status::Closed("Put on a closed store");
  Status s = PutLocked(q, message, slot);
  // Listed even when the Put failed: it may have sealed the open block before failing. Listed
  // before the queue lock is released, so Close's pass over the queue locks (see Close) also
  // waits for this.
  if (!q->listed) {
    q->listed = true;
    std::lock_guard<SpinLock> slot_lock(slot.mu);
    slot.dirty.push_back(q);
  }
  return s;
}

Status QueueStoreImpl::PutLocked(Queue* q, std::string_view message, WriterSlot& slot) {
  if (q->count >= kMaxMessagesPerQueue) {
    return Status::InvalidArgument("queue " + q->name + " is full (2^32-1 messages)");
  }
  const uint32_t capacity = options_.block_size - kBlockHeaderSize;
  const size_t framed = FramedMessageSize(message.size());
  if (q->open_len + framed > capacity) {
    if (q->open_count > 0) {
      Status s = SealOpenBlock(q, slot);
      if (!s.ok()) return s;
    }
    if (framed > capacity) {
      // Larger than a block: it gets a block of its own, sized in whole units.
      char prefix[kMaxVarint32Length];
      char* end = EncodeVarint32(prefix, static_cast<uint32_t>(message.size()));
      uint32_t unit = 0;
      Status s =
          StageBlock(slot, q, q->count, 1,
                     std::string_view(prefix, static_cast<size_t>(end - prefix)), message, &unit);
      if (!s.ok()) return s;
      q->blocks.push_back({unit, static_cast<uint32_t>(q->count)});
      q->count++;
      q->sealed_end = q->count;
      return Status::OK();
    }
  }
  if (q->open_len + framed > q->open_cap) {
    // Open blocks grow geometrically up to the block payload size: with a million queues most
    // of them small, a full-size buffer per queue would cost block_size x queues of memory.
    size_t cap = std::max<size_t>({size_t{q->open_cap} * 2, 256, q->open_len + framed});
    cap = std::min<size_t>(cap, capacity);
    char* grown = static_cast<char*>(std::realloc(q->open_buf, cap));
    if (grown == nullptr) return Status::IOError("out of memory for an open block");
    q->open_buf = grown;
    q->open_cap = static_cast<uint32_t>(cap);
  }
  char* end = AppendFramedMessage(q->open_buf + q->open_len, message);
  q->open_len = static_cast<uint32_t>(end - q->open_buf);
  q->open_count++;
  q->count++;
  return Status::OK();
}

Status QueueStoreImpl::SealOpenBlock(Queue* q, WriterSlot& slot) {
  uint32_t unit = 0;
  Status s = StageBlock(slot, q, q->sealed_end, q->open_count,
                        std::string_view(q->open_buf, q->open_len), {}, &unit);
  if (!s.ok()) return s;
  q->blocks.push_back({unit, static_cast<uint32_t>(q->sealed_end)});
  q->sealed_end += q->open_count;
  q->open_count = 0;
  q->open_len = 0;
  return Status::OK();
}

Status QueueStoreImpl::StageBlock(WriterSlot& slot, Queue* q, uint64_t first, uint32_t count,
                                  std::string_view payload_prefix, std::string_view payload_rest,
                                  uint32_t* unit) {
  const auto payload_len = static_cast<uint32_t>(payload_prefix.size() + payload_rest.size());
  const uint32_t bytes = BlockHeader::StoredBytes(payload_len);
  Segment* seg = segments_[q->segment].get();
  std::lock_guard<SpinLock> lock(slot.mu);
  std::shared_ptr<WriteChunk>& chunk = slot.chunks[q->segment];
  if (!chunk || chunk->capacity - chunk->used < bytes) {
    if (chunk) flusher_->Submit(std::move(chunk));
    std::shared_ptr<WriteChunk> fresh = pool_->New(bytes);
    uint64_t base = 0;
    fresh->reserved = fresh->capacity;
    if (!seg->Reserve(fresh->reserved, &base)) {
      chunk.reset();
      return Status::IOError(seg->path() + ": segment is full (4 TiB)");
    }
    fresh->segment = seg;
    fresh->base = base;
    seg->AddInFlight(fresh);
    chunk = std::move(fresh);
  }
  char* dst = chunk->data + chunk->used;
  char* payload = dst + kBlockHeaderSize;
  std::memcpy(payload, payload_prefix.data(), payload_prefix.size());
  if (!payload_rest.empty()) {
    std::memcpy(payload + payload_prefix.size(), payload_rest.data(), payload_rest.size());
  }
  EncodeBlock(dst, q->id, first, count, std::string_view(payload, payload_len), salt_);
  *unit = static_cast<uint32_t>((chunk->base + chunk->used) / kBlockUnit);
  chunk->used += bytes;
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// Get

Status QueueStoreImpl::ReadBlockOf(const Queue* q, const BlockRef& ref, std::string* buf,
                                   BlockHeader* h) {
  Segment* seg = segments_[q->segment].get();
  Status s = seg->ReadBlock(uint64_t{ref.unit} * kBlockUnit, salt_, buf, h, options_.block_size);
  if (!s.ok()) return s;
  if (h->queue_id != q->id || h->first_offset != ref.first_offset) {
    return Status::Corruption(seg->path() + " at offset " +
                              std::to_string(uint64_t{ref.unit} * kBlockUnit) +
                              ": block belongs to another queue or offset than the index says");
  }
  return Status::OK();
}

Status QueueStoreImpl::Get(std::string_view queue, uint64_t offset, uint64_t max_count,
                           MessageBatch* out) {
  out->Clear();
  out->set_first_offset(offset);
  if (!ValidQueueName(queue)) return CheckQueueName(queue);
  Status s;
  OpGuard guard(this);
  if (!guard.ok()) return Status::Closed("Get on a closed store");
  if (max_count == 0) return Status::OK();
  Queue* q = table_->Find(queue, HashQueueName(queue));
  if (q == nullptr) return Status::OK();

  uint64_t pos = offset;
  uint64_t remaining = max_count;
  bool full = false;  // max_get_bytes reached
  auto append = [&](std::string_view m) {
    if (!out->empty() && out->bytes() + m.size() > options_.max_get_bytes) {
      full = true;
      return false;
    }
    out->Append(m);
    ++pos;
    --remaining;
    return remaining > 0;
  };

  constexpr size_t kRefsPerRound = 16;
  BlockRef refs[kRefsPerRound];
  BlockRef prefetch[16];
  // The queue's cached block (one reference held while this Get uses it), and the last block
  // this Get read from the file, which becomes the queue's cached block when the Get is a
  // forward reader's and stops inside it.
  CachedBlock* cached = nullptr;
  bool sequential = offset == 0;  // from the start, or where the last Get ended (below)
  uint32_t last_read_unit = 0;
  BlockHeader last_read_header;
  bool stopped_in_read_block = false;
  bool first_round = true;
  struct Unref {
    CachedBlock*& b;
    ~Unref() { UnrefBlock(b); }
  } unref{cached};

  while (remaining > 0 && !full) {
    size_t nrefs = 0, nprefetch = 0;
    bool open_part = false;
    uint64_t open_first = 0;
    uint32_t open_count = 0;
    stopped_in_read_block = false;
    {
      std::lock_guard<SpinLock> lock(q->mu);
      if (pos >= q->count) break;
      remaining = std::min(remaining, q->count - pos);
      if (first_round) {
        first_round = false;
        cached = RefBlock(q->read_cache);
        if (q->read_cursor == offset) sequential = true;
      }
      // Where this Get will end unless max_get_bytes cuts it short (UpdateReadCache then
      // corrects it): set here so that a Get with nothing to change in the cache needs no second
      // pass through the lock.
      q->read_cursor = pos + remaining;
      if (pos < q->sealed_end) {
        size_t i = FindBlock(q->blocks, pos);
        const uint64_t want_end = pos + remaining;
        for (;
             i < q->blocks.size() && nrefs < kRefsPerRound && q->blocks[i].first_offset < want_end;
             ++i) {
          refs[nrefs++] = q->blocks[i];
        }
        // Read-ahead: a reader that will finish the last block it reads walks forward next.
        const size_t next = i;
        const bool walks_on = next < q->blocks.size() && q->blocks[next].first_offset <= want_end;
        if (options_.read_ahead_blocks > 0 && walks_on) {
          size_t from = std::max<size_t>(next, q->prefetched);
          size_t to = std::min<size_t>(next + std::min<uint32_t>(options_.read_ahead_blocks, 16),
                                       q->blocks.size());
          for (size_t j = from; j < to; ++j) prefetch[nprefetch++] = q->blocks[j];
          if (to > q->prefetched) q->prefetched = static_cast<uint32_t>(to);
        }
      } else {
        open_part = true;
        open_first = q->sealed_end;
        open_count = q->open_count;
        tl_open_buf.assign(q->open_buf, q->open_len);
      }
    }

    if (open_part) {
      BlockMessageIterator it(tl_open_buf.data(), static_cast<uint32_t>(tl_open_buf.size()),
                              open_count);
      std::string_view m;
      bool error = false;
      for (uint64_t o = open_first; it.Next(&m, &error); ++o) {
        if (o < pos) continue;
        if (!append(m)) break;
      }
      break;  // the open block is the end of the queue as of this read
    }

    Segment* seg = segments_[q->segment].get();
    for (size_t j = 0; j < nprefetch; ++j) {
      seg->file().WillNeed(uint64_t{prefetch[j].unit} * kBlockUnit, options_.block_size);
    }
    for (size_t r = 0; r < nrefs && remaining > 0 && !full; ++r) {
      const char* block;
      BlockHeader h;
      const bool hit = cached != nullptr && cached->unit == refs[r].unit;
      if (hit) {
        block = cached->bytes.data();
        h = cached->header;
      } else {
        s = ReadBlockOf(q, refs[r], &tl_block_buf, &h);
        if (!s.ok()) {
          out->Clear();
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
        if (o++ < pos) continue;
        more = append(m);
      }
      if (error) {
        out->Clear();
        return Status::Corruption(seg->path() + ": malformed message framing in block at offset " +
                                  std::to_string(uint64_t{refs[r].unit} * kBlockUnit));
      }
      stopped_in_read_block = !hit && pos < h.first_offset + h.count;
      if (stopped_in_read_block) {
        last_read_unit = refs[r].unit;
        last_read_header = h;
      }
      if (!more) break;
    }
  }
  // A new entry is only worth a copy when it could be kept (the budget is checked again under
  // the lock); replacing the queue's entry costs no new budget.
  const bool keep =
      sequential && stopped_in_read_block &&
      (cached != nullptr || read_cache_.HasRoom(kBlockHeaderSize + last_read_header.payload_len));
  const bool leaves_cached =
      cached != nullptr && (pos < cached->header.first_offset ||
                            pos >= cached->header.first_offset + cached->header.count);
  if (read_cache_.enabled() && (keep || leaves_cached || full)) {
    UpdateReadCache(q, keep, last_read_unit, last_read_header, pos);
  }
  return Status::OK();
}

void QueueStoreImpl::UpdateReadCache(Queue* q, bool keep_read_block, uint32_t unit,
                                     const BlockHeader& header, uint64_t end) {
  CachedBlock* fresh = nullptr;
  const uint64_t bytes = kBlockHeaderSize + header.payload_len;
  if (keep_read_block) {
    // tl_block_buf holds that block, verified; copied because the buffer is reused.
    fresh = new CachedBlock;
    fresh->unit = unit;
    fresh->header = header;
    fresh->bytes.assign(tl_block_buf.data(), bytes);
  }
  CachedBlock* old = nullptr;
  {
    std::lock_guard<SpinLock> lock(q->mu);
    q->read_cursor = end;  // corrects the estimate Get made when max_get_bytes cut it short
    CachedBlock* current = q->read_cache;
    const bool current_still_used = current != nullptr && end >= current->header.first_offset &&
                                    end < current->header.first_offset + current->header.count;
    if (fresh != nullptr) {
      if (current != nullptr) {
        read_cache_.Recharge(current->bytes.size(), fresh->bytes.size());
        old = current;
        q->read_cache = fresh;
        fresh = nullptr;
      } else if (read_cache_.TryCharge(fresh->bytes.size())) {
        q->read_cache = fresh;
        fresh = nullptr;
      }
    } else if (current != nullptr && !current_still_used) {
      // The reader left the cached block (caught up with the writers, or jumped): drop it.
      read_cache_.Release(current->bytes.size());
      old = current;
      q->read_cache = nullptr;
    }
  }
  UnrefBlock(old);
  delete fresh;  // not kept: over budget
}

uint64_t QueueStoreImpl::QueueSize(std::string_view queue) {
  if (!CheckQueueName(queue).ok()) return 0;
  OpGuard guard(this);
  if (!guard.ok()) return 0;
  Queue* q = table_->Find(queue, HashQueueName(queue));
  if (q == nullptr) return 0;
  std::lock_guard<SpinLock> lock(q->mu);
  return q->count;
}

// ---------------------------------------------------------------------------------------------
// Flush, Close

Status QueueStoreImpl::Flush(FlushMode mode) {
  OpGuard guard(this);
  if (!guard.ok()) return Status::Closed("Flush on a closed store");
  return FlushInternal(mode);
}

// A kWrite Flush does steps 1 and 3 without the fdatasyncs and checkpoints only the names of new
// queues (unsynced): its blocks stay past the checkpointed tails, where the next Open's scan
// adopts them after a kill -9, and the next kSync Flush checkpoints them. So a machine crash
// loses at most what no kSync Flush covered, and never leaves a checkpoint naming data that did
// not reach the disk (a name without data is harmless).
Status QueueStoreImpl::FlushInternal(FlushMode mode) {
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  // Only the queues written since the last Flush (or left dirty by one) are visited: a broker
  // hosting a million queues group-commits a few of them thousands of times a second, and a walk
  // over all of them took 25 ms a Flush (BM_EngineFlushOneOfManyQueues).
  std::vector<Queue*> dirty = TakeDirtyQueues();
  struct Retain {
    QueueStoreImpl* store;
    const std::vector<Queue*>& taken;
    ~Retain() { store->RetainDirtyQueues(taken); }  // on every return, failures included
  } retain{this, dirty};
  // The scan starts at the tails, so a kWrite Flush is only kill -9 safe when every block it
  // leaves out of the checkpoint lies at or past its segment's tail. Blocks sealed while the last
  // kSync Flush ran (after its step 1) into chunks it collected lie below its tails and are in
  // no record yet: a kSync Flush covers them. Found by the crash torture, which lost them. Only a
  // kSync Flush creates such blocks, so the listed queues (every queue with a block not
  // checkpointed is listed) are checked once after each one, not on every kWrite Flush.
  if (mode == FlushMode::kWrite && below_tails_unknown_) {
    if (UncheckpointedBelowTails(dirty)) {
      mode = FlushMode::kSync;
    } else {
      below_tails_unknown_ = false;
    }
  }
  const bool sync = mode == FlushMode::kSync;
  if (sync) below_tails_unknown_ = true;  // set before it runs: a failed one counts too
  flusher_->RetryFailed();
  WriterSlot& mine = MySlot();
  // Open blocks are sealed into the chunk reserved last in their segment when a writer has one
  // open there: a new chunk of this thread's own would be reserved after it, and that chunk
  // could then not give its unused end back in step 3 (a hole of up to a chunk per segment per
  // Flush, with a broker's io thread writing and its committer flushing). A hint only: the
  // chunk may fill or be taken meanwhile, and StageBlock then reserves a fresh one.
  std::vector<WriterSlot*> seal_into(segments_.size(), &mine);
  std::vector<uint64_t> last_base(segments_.size(), 0);
  for (uint32_t i = 0; i < kWriterSlots; ++i) {
    WriterSlot& ws = slots_[i];
    std::lock_guard<SpinLock> lock(ws.mu);
    for (size_t seg = 0; seg < ws.chunks.size(); ++seg) {
      const WriteChunk* c = ws.chunks[seg].get();
      if (c != nullptr && c->used > 0 && c->base + 1 > last_base[seg]) {
        last_base[seg] = c->base + 1;
        seal_into[seg] = &ws;
      }
    }
  }

  // 1. Seal every open block and collect the block-list entries not yet checkpointed. The
  // batch is only written after the blocks it names are durable.
  CheckpointWriter writer(checkpoint_seq_);
  std::vector<std::pair<Queue*, uint32_t>> advanced;
  std::vector<Queue*> new_queues;
  for (Queue* q : dirty) {
    std::lock_guard<SpinLock> lock(q->mu);
    if (q->open_count > 0) {
      Status s = SealOpenBlock(q, *seal_into[q->segment]);
      if (!s.ok()) return s;
    }
    const auto n = static_cast<uint32_t>(q->blocks.size());
    if (n == q->checkpointed_blocks) continue;
    if (!q->cataloged) {
      writer.AddQueue(q->id, q->name);
      new_queues.push_back(q);
    }
    if (!sync) continue;
    AddBlockRange(&writer, *q, q->checkpointed_blocks, n, q->sealed_end);
    advanced.emplace_back(q, n);
  }

  // 2. Every chunk reserved below these tails is submitted by step 3.
  std::vector<uint64_t> tails;
  for (auto& seg : segments_) tails.push_back(seg->reserved_end());

  // 3. Write every slot's partly filled chunks and wait for all writes so far. A few KiB (a
  // Flush after a few puts, as a broker's group commit issues them) are written right here: a
  // hand-off to a flusher thread and back costs two thread wake-ups, more than the write.
  // More than that goes to the flusher threads, which write it in parallel.
  std::vector<std::shared_ptr<WriteChunk>> partial;
  uint64_t partial_bytes = 0;
  for (uint32_t i = 0; i < kWriterSlots; ++i) {
    WriterSlot& ws = slots_[i];
    std::lock_guard<SpinLock> lock(ws.mu);
    for (auto& chunk : ws.chunks) {
      if (chunk && chunk->used > 0) {
        partial_bytes += chunk->used;
        partial.push_back(std::move(chunk));
      }
      chunk.reset();
    }
  }
  // A partly filled chunk that is its segment's last reservation hands the rest back, so the
  // next writes continue right after it. The tail recorded in step 2 then moves back to the end
  // of its blocks (step 2 saw the chunk's whole reservation; nothing is reserved after it).
  for (auto& chunk : partial) {
    if (uint64_t end = chunk->segment->GiveBack(chunk.get())) {
      uint64_t& tail = tails[chunk->segment->index()];
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
  Status s = flusher_->WaitWritten(flusher_->next_seq());
  if (!s.ok()) return s;
  if (!sync) return CatalogNewQueues(&writer, new_queues);
  for (auto& seg : segments_) {
    s = seg->SyncIfDirty();  // also what earlier kWrite Flushes wrote
    if (!s.ok()) return s;
  }

  // 4. Checkpoint: the new block-list entries and the tails that moved (a Flush touching a few
  // queues moves a few of the 32; rewriting all of them cost a RocksDB insert each, every Flush).
  // Nothing new, no write: the checkpoint already describes all that is durable.
  MetadataStore::Batch batch;
  const bool has_record = !writer.empty();
  const uint64_t record_bytes = writer.Finish(&batch);
  bool tails_moved = false;
  for (size_t i = 0; i < tails.size(); ++i) {
    if (tails[i] == checkpointed_tails_[i]) continue;
    batch.Put(MetadataStore::TailKey(static_cast<uint32_t>(i)), Fixed64String(tails[i]));
    tails_moved = true;
  }
  if (has_record || tails_moved) {
    // A synced write also syncs the unsynced writes before it (one write-ahead log).
    s = meta_.Write(&batch, /*sync=*/true);
    if (!s.ok()) return s;
    checkpointed_tails_ = tails;
    meta_unsynced_ = false;
  } else if (meta_unsynced_) {
    s = meta_.SyncWal();
    if (!s.ok()) return s;
    meta_unsynced_ = false;
  }
  for (auto& [q, n] : advanced) q->checkpointed_blocks = n;
  for (Queue* q : new_queues) q->cataloged = true;
  if (has_record) {
    checkpoint_seq_++;
    checkpoint_bytes_ += record_bytes;
  }
  return Status::OK();
}

std::vector<Queue*> QueueStoreImpl::TakeDirtyQueues() {
  std::vector<Queue*> taken = std::move(retained_dirty_);
  retained_dirty_.clear();
  for (uint32_t i = 0; i < kWriterSlots; ++i) {
    WriterSlot& ws = slots_[i];
    std::lock_guard<SpinLock> lock(ws.mu);
    if (taken.empty()) {
      taken.swap(ws.dirty);  // keeps the common case (one writer slot) a swap
    } else {
      taken.insert(taken.end(), ws.dirty.begin(), ws.dirty.end());
      ws.dirty.clear();
    }
  }
  return taken;
}

void QueueStoreImpl::RetainDirtyQueues(const std::vector<Queue*>& taken) {
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

bool QueueStoreImpl::UncheckpointedBelowTails(const std::vector<Queue*>& dirty) {
  for (Queue* q : dirty) {
    std::lock_guard<SpinLock> lock(q->mu);
    const uint64_t tail = checkpointed_tails_[q->segment];
    for (size_t i = q->checkpointed_blocks; i < q->blocks.size(); ++i) {
      if (uint64_t{q->blocks[i].unit} * kBlockUnit < tail) return true;
    }
  }
  return false;
}

Status QueueStoreImpl::CatalogNewQueues(CheckpointWriter* writer,
                                        const std::vector<Queue*>& new_queues) {
  if (writer->empty()) return Status::OK();
  MetadataStore::Batch batch;
  const uint64_t record_bytes = writer->Finish(&batch);
  Status s = meta_.Write(&batch, /*sync=*/false);
  if (!s.ok()) return s;
  meta_unsynced_ = true;
  for (Queue* q : new_queues) q->cataloged = true;
  checkpoint_seq_++;
  checkpoint_bytes_ += record_bytes;
  return Status::OK();
}

Status QueueStoreImpl::CompactCheckpoints() {
  CheckpointWriter writer(checkpoint_seq_);
  const uint32_t limit = table_->id_limit();
  for (uint32_t id = 0; id < limit; ++id) {
    Queue* q = table_->ById(id);
    if (q == nullptr || !q->cataloged) continue;
    writer.AddQueue(q->id, q->name);
    if (q->checkpointed_blocks > 0) {
      // The end offset of a prefix of the list: the first offset of the next block, or the
      // queue's sealed end when the prefix is the whole list.
      uint64_t end = q->checkpointed_blocks < q->blocks.size()
                         ? q->blocks[q->checkpointed_blocks].first_offset
                         : q->sealed_end;
      AddBlockRange(&writer, *q, 0, q->checkpointed_blocks, end);
    }
  }
  MetadataStore::Batch batch;
  batch.DeleteRange(CheckpointKey(0, 0), CheckpointKey(checkpoint_seq_, 0));
  uint64_t bytes = writer.Finish(&batch);
  Status s = meta_.Write(&batch, /*sync=*/true);
  if (!s.ok()) return s;
  checkpoint_seq_++;
  checkpoint_bytes_ = bytes;
  return Status::OK();
}

Status QueueStoreImpl::Close() {
  std::lock_guard<std::mutex> close_lock(close_mu_);
  if (!initialized_ || closed_.load()) return Status::OK();
  closed_.store(true, std::memory_order_seq_cst);
  // Pairs with the id allocation of a queue created by a racing Put (a seq_cst read-modify-write
  // of next_id_) and that Put's seq_cst check of closed_ under the queue lock: either the pass
  // over the queue locks below sees the new queue and locks it, or the Put sees closed_.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (uint32_t i = 0; i < kWriterSlots; ++i) {
    while (slots_[i].active.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }
  // Puts take no OpGuard (see Put): a Put that locked its queue before closed_ was set may still
  // be writing it, and lists the queue only at its end. Taking every queue lock once waits for
  // those; a Put locking later sees closed_. Then the dirty lists hold every written queue.
  const uint32_t limit = table_->id_limit();
  for (uint32_t id = 0; id < limit; ++id) {
    if (Queue* q = table_->ById(id)) {
      q->mu.lock();
      q->mu.unlock();
    }
  }
  Status s = FlushInternal();
  if (s.ok() && checkpoint_seq_ > 1) {
    // Compact when the log outgrew the state it describes (many small Flushes): a snapshot
    // costs no more than the log it replaces, and keeps the next Open fast.
    uint64_t state = 0;
    for (uint32_t id = 0; id < limit; ++id) {
      if (Queue* q = table_->ById(id)) state += 30 + q->name.size() + q->blocks.size() * 8;
    }
    if (checkpoint_bytes_ > state) s = CompactCheckpoints();
  }
  Shutdown();
  return s;
}

void QueueStoreImpl::Shutdown() {
  flusher_->Stop();
  meta_.Close();
  for (auto& seg : segments_) seg->file().Close();
  lock_file_.Close();
}

// ---------------------------------------------------------------------------------------------
// Metadata and stats

Status QueueStoreImpl::PutMetadata(std::string_view key, std::string_view value) {
  if (key.empty() || key.size() > 255) {
    return Status::InvalidArgument("metadata key must be 1..255 bytes");
  }
  if (value.size() > (1u << 20)) return Status::InvalidArgument("metadata value over 1 MiB");
  OpGuard guard(this);
  if (!guard.ok()) return Status::Closed("PutMetadata on a closed store");
  return meta_.Put(MetadataStore::UserKey(key), value, /*sync=*/true);
}

Status QueueStoreImpl::GetMetadata(std::string_view key, std::string* value) {
  if (key.empty() || key.size() > 255) {
    return Status::InvalidArgument("metadata key must be 1..255 bytes");
  }
  OpGuard guard(this);
  if (!guard.ok()) return Status::Closed("GetMetadata on a closed store");
  Status s = meta_.Get(MetadataStore::UserKey(key), value);
  if (s.IsNotFound()) return Status::NotFound("metadata key not found");
  return s;
}

StoreStats QueueStoreImpl::GetStats() {
  StoreStats st;
  OpGuard guard(this);
  if (!guard.ok()) return st;
  const uint32_t limit = table_->id_limit();
  for (uint32_t id = 0; id < limit; ++id) {
    Queue* q = table_->ById(id);
    if (q == nullptr) continue;
    std::lock_guard<SpinLock> lock(q->mu);
    st.queues++;
    st.messages += q->count;
    st.blocks += q->blocks.size();
    st.open_block_bytes += q->open_cap;
    st.index_bytes += q->blocks.bytes();
  }
  st.index_bytes += table_->ApproximateBytes();
  st.read_cache_bytes = read_cache_.used();
  for (auto& seg : segments_) st.segment_bytes += seg->reserved_end();
  st.pending_write_bytes = flusher_->pending_bytes();
  st.recovered_blocks = recovered_blocks_;
  st.discarded_blocks = discarded_blocks_;
  return st;
}

}  // namespace meshq
