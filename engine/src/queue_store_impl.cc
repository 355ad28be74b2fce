// The engine's implementation of QueueStore: Open, Put, Close and the calls that delegate to the
// read path, the checkpointer and recovery (see queue_store_impl.h for the shape).
#include "queue_store_impl.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "block_format.h"
#include "hash.h"
#include "meshq/coding.h"
#include "space_reserve.h"

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
  if (o.open_block_budget_bytes == 0) return bad("open_block_budget_bytes must be positive");
  if (o.metadata_write_buffer_bytes < (64u << 10) || o.metadata_write_buffer_bytes > (1u << 30)) {
    return bad("metadata_write_buffer_bytes must be in [64 KiB, 1 GiB], got " +
               std::to_string(o.metadata_write_buffer_bytes));
  }
  return Status::OK();
}

}  // namespace

Status QueueStore::Open(const StoreOptions& options, std::unique_ptr<QueueStore>* store) {
  store->reset();
  Status s = ValidateOptions(options);
  if (!s.ok()) return s;
  auto impl = std::make_unique<QueueStoreImpl>(options);
  s = impl->Init(/*short_of_space=*/false);
  if (IsNoSpace(s)) {
    // The disk is full (typically: the last process was killed while it was). The reserve makes
    // room for what Open writes; the store then serves reads, and Puts fail until space returns.
    // Tried again with less to write even when there is no reserve left to delete.
    impl.reset();
    ReleaseReserve(options.dir + "/meta");
    impl = std::make_unique<QueueStoreImpl>(options);
    s = impl->Init(/*short_of_space=*/true);
    if (IsNoSpace(s)) return NoSpaceToOpen(options.dir, s);
  }
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
      seal_policy_(options.block_size, options.open_block_budget_bytes) {}

QueueStoreImpl::~QueueStoreImpl() { Close(); }

// ---------------------------------------------------------------------------------------------
// Open

Status QueueStoreImpl::Init(bool short_of_space) {
  const std::string& dir = options_.dir;
  if (!PathExists(dir)) {
    if (!options_.create_if_missing) {
      return Status::InvalidArgument(dir + ": does not exist (create_if_missing is false)");
    }
  }
  Status s = CreateDirs(dir);
  if (s.ok()) s = MakePrivate(dir);
  if (!s.ok()) return s;
  s = lock_file_.Open(dir + "/LOCK", /*create=*/true);
  if (!s.ok()) return s;
  s = lock_file_.LockExclusive();
  if (!s.ok()) return s;
  if (options_.direct_io) {
    // Refuse a file system without direct I/O before anything of the store is created.
    PosixFile probe;
    s = probe.Open(dir + "/LOCK", /*create=*/false, nullptr, /*direct=*/true);
    if (!s.ok()) return s;
  }

  const std::string meta_dir = dir + "/meta";
  const bool has_meta = PathExists(meta_dir + "/CURRENT");
  if (!has_meta && PathExists(SegmentPath(dir, 0))) {
    return Status::InvalidArgument(dir +
                                   ": has segment files but no meta/ database; not a meshq store "
                                   "or its metadata was removed");
  }
  s = meta_.Open(meta_dir, /*read_only=*/false, short_of_space,
                 options_.metadata_write_buffer_bytes);
  if (!s.ok()) return s;
  s = OpenFormat();
  if (!s.ok()) return s;

  bool created_any = false;
  for (uint32_t i = 0; i < options_.segment_count; ++i) {
    segments_.push_back(std::make_unique<Segment>(i, SegmentPath(dir, i), options_.direct_io));
    s = segments_.back()->Open();
    if (!s.ok()) return s;
    created_any |= segments_.back()->created();
  }
  if (created_any) {
    s = SyncDir(dir);
    if (!s.ok()) return s;
  }

  table_ = std::make_unique<QueueTable>(options_.segment_count);
  releaser_ = std::make_unique<SpaceReleaser>(&segments_, &meta_);
  CheckpointState checkpoint;
  s = RecoverIndex(&meta_, segments_, salt_, table_.get(), &checkpoint, &recovery_counts_,
                   releaser_.get());
  if (!s.ok()) return s;
  for (auto& seg : segments_) {
    uint64_t allocated = 0;
    s = seg->file().Allocated(&allocated);
    if (!s.ok()) return s;
    seg->set_live(allocated);
  }

  pool_ = std::make_unique<ChunkPool>(options_.write_chunk_size);
  flusher_ = std::make_unique<Flusher>(options_.flusher_threads, options_.max_pending_bytes);
  slots_ = std::make_unique<WriterSlots>(uid_, &segments_, pool_.get(), flusher_.get(), salt_,
                                         &seal_policy_, table_.get());
  reader_ = std::make_unique<QueueReader>(options_, &segments_, salt_, &seal_policy_, table_.get());
  checkpointer_ =
      std::make_unique<Checkpointer>(std::move(checkpoint), &meta_, &segments_, table_.get(),
                                     flusher_.get(), slots_.get(), releaser_.get());
  CreateReserveIfMissing(meta_dir);
  initialized_ = true;
  return Status::OK();
}

Status QueueStoreImpl::OpenFormat() {
  const std::string& dir = options_.dir;
  std::string value;
  Status s = meta_.Get("o/format", &value);
  if (s.IsNotFound()) {
    std::random_device rd;
    salt_ = (uint64_t{rd()} << 32) ^ rd();
    std::string salt;
    PutFixed64(&salt, salt_);
    MetadataStore::Batch batch;
    batch.Put("o/format", std::to_string(kFormatVersion));
    batch.Put("o/segments", std::to_string(options_.segment_count));
    batch.Put("o/salt", salt);
    return meta_.Write(&batch, /*sync=*/true);
  }
  if (!s.ok()) return s;
  if (value == "1") {
    // Format 1 is format 2 without trim entries: read as is. Marked 2 (synced) before anything
    // is written, so that a build that knows only format 1 refuses the store once it may hold
    // a trim.
    s = meta_.Put("o/format", std::to_string(kFormatVersion), /*sync=*/true);
    if (!s.ok()) return s;
    value = std::to_string(kFormatVersion);
  }
  if (value != std::to_string(kFormatVersion)) {
    return Status::InvalidArgument(dir + ": unsupported format version " + value +
                                   " (this build reads formats 1 and " +
                                   std::to_string(kFormatVersion) + ")");
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
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// Call guards

QueueStoreImpl::OpGuard::OpGuard(QueueStoreImpl* store) {
  if (!store->initialized_) {
    slot_ = nullptr;
    ok_ = false;
    return;
  }
  slot_ = &store->slots_->Mine();
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
  WriterSlot& slot = slots_->Mine();
  std::lock_guard<SpinLock> lock(q->mu);
  if (closed_.load(std::memory_order_seq_cst)) return Status::Closed("Put on a closed store");
  Status s = PutLocked(q, message, slot);
  if (s.ok()) puts_.Inc();
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
  const size_t framed = FramedMessageSize(message.size());
  if (q->open_len + framed > q->open_cap) [[unlikely]] {
    bool done = false;
    Status s = MakeRoom(q, message, framed, slot, &done);
    if (!s.ok() || done) return s;
  }
  char* end = AppendFramedMessage(q->open_buf + q->open_len, message);
  q->open_len = static_cast<uint32_t>(end - q->open_buf);
  q->open_count++;
  q->count++;
  return Status::OK();
}

Status QueueStoreImpl::MakeRoom(Queue* q, std::string_view message, size_t framed, WriterSlot& slot,
                                bool* done) {
  const uint32_t queues = table_->id_limit();
  const uint32_t limit = seal_policy_.PayloadLimit(*q, queues);
  if (q->open_len + framed > limit) {
    if (q->open_count > 0) {
      Status s = slots_->SealOpenBlock(q, slot, /*full=*/true);
      if (!s.ok()) return s;
    }
    if (framed > options_.block_size - kBlockHeaderSize) {
      // Larger than a block: it gets a block of its own, sized in whole units.
      char prefix[kMaxVarint32Length];
      char* end = EncodeVarint32(prefix, static_cast<uint32_t>(message.size()));
      uint32_t unit = 0;
      Status s = slots_->StageBlock(slot, *q, q->count, 1,
                                    std::string_view(prefix, static_cast<size_t>(end - prefix)),
                                    message, &unit);
      if (!s.ok()) return s;
      q->blocks.push_back({unit, static_cast<uint32_t>(q->count)});
      q->count++;
      q->sealed_end = q->count;
      *done = true;
      return Status::OK();
    }
    if (q->open_len + framed <= q->open_cap) return Status::OK();
  }
  // Past the limit only when one message alone is larger (see SealPolicy::GrownCapacity).
  const size_t cap = seal_policy_.GrownCapacity(q->open_cap, q->open_len + framed, limit, queues);
  char* grown = static_cast<char*>(std::realloc(q->open_buf, cap));
  if (grown == nullptr) return Status::IOError("out of memory for an open block");
  q->open_buf = grown;
  q->open_cap = static_cast<uint32_t>(cap);
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// Get, Flush

Status QueueStoreImpl::Get(std::string_view queue, uint64_t offset, uint64_t max_count,
                           MessageBatch* out) {
  out->Clear();
  out->set_first_offset(offset);
  if (!ValidQueueName(queue)) return CheckQueueName(queue);
  OpGuard guard(this);
  if (!guard.ok()) return Status::Closed("Get on a closed store");
  gets_.Inc();
  if (max_count == 0) return Status::OK();
  Queue* q = table_->Find(queue, HashQueueName(queue));
  if (q == nullptr) return Status::OK();
  return reader_->Read(q, offset, max_count, out);
}

Status QueueStoreImpl::Trim(std::string_view queue, uint64_t first_kept_offset) {
  if (!ValidQueueName(queue)) return CheckQueueName(queue);
  OpGuard guard(this);
  if (!guard.ok()) return Status::Closed("Trim on a closed store");
  Queue* q = table_->Find(queue, HashQueueName(queue));
  if (q == nullptr) {
    return Status::InvalidArgument("Trim of queue " + std::string(queue) + ": no such queue");
  }
  std::vector<DroppedBlock> dropped;
  CachedBlock* uncached = nullptr;
  {
    std::lock_guard<SpinLock> lock(q->mu);
    if (first_kept_offset > q->count) {
      return Status::InvalidArgument("Trim of queue " + q->name + " to offset " +
                                     std::to_string(first_kept_offset) + ": past its end " +
                                     std::to_string(q->count));
    }
    if (first_kept_offset <= q->start) return Status::OK();
    const size_t old_kept = FirstKeptBlock(*q);
    q->start = static_cast<uint32_t>(first_kept_offset);
    if (q->start == q->count && q->open_count > 0) {
      // The open block holds only trimmed messages: it is never sealed, and the next block
      // starts at the queue's end.
      q->open_count = 0;
      q->open_len = 0;
      q->sealed_end = q->count;
    }
    if (q->open_count == 0 && q->start == q->count) {
      std::free(q->open_buf);  // an empty queue holds no open buffer, as a new one
      q->open_buf = nullptr;
      q->open_cap = 0;
    }
    const size_t kept = FirstKeptBlock(*q);
    dropped.reserve(kept - old_kept);
    for (size_t i = old_kept; i < kept; ++i) {
      dropped.push_back({q->segment, q->blocks[i].unit, q->id, q->blocks[i].first_offset});
    }
    q->blocks.DropBefore(kept);
    uncached = reader_->ForgetTrimmed(q);
  }
  UnrefBlock(uncached);
  checkpointer_->NoteTrim(q, std::move(dropped));
  return Status::OK();
}

uint64_t QueueStoreImpl::QueueStart(std::string_view queue) {
  return ReadQueue(queue, [](const Queue& q) -> uint64_t { return q.start; });
}

uint64_t QueueStoreImpl::QueueSize(std::string_view queue) {
  return ReadQueue(queue, [](const Queue& q) { return q.count; });
}

template <typename F>
uint64_t QueueStoreImpl::ReadQueue(std::string_view queue, F&& read) {
  if (!CheckQueueName(queue).ok()) return 0;
  OpGuard guard(this);
  if (!guard.ok()) return 0;
  Queue* q = table_->Find(queue, HashQueueName(queue));
  if (q == nullptr) return 0;
  std::lock_guard<SpinLock> lock(q->mu);
  return read(*q);
}

Status QueueStoreImpl::Flush(FlushMode mode) {
  OpGuard guard(this);
  if (!guard.ok()) return Status::Closed("Flush on a closed store");
  return checkpointer_->Flush(mode);
}

// ---------------------------------------------------------------------------------------------
// Close

Status QueueStoreImpl::Close() {
  std::lock_guard<std::mutex> close_lock(close_mu_);
  if (!initialized_ || closed_.load()) return Status::OK();
  closed_.store(true, std::memory_order_seq_cst);
  // Pairs with the id allocation of a queue created by a racing Put (a seq_cst read-modify-write
  // of next_id_) and that Put's seq_cst check of closed_ under the queue lock: either the pass
  // over the queue locks below sees the new queue and locks it, or the Put sees closed_.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  slots_->WaitIdle();
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
  Status s = checkpointer_->Flush(FlushMode::kSync);
  if (s.ok()) s = checkpointer_->CompactIfOutgrown();
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
    st.messages += q->count - q->start;
    st.trimmed_messages += q->start;
    st.blocks += q->blocks.size() - FirstKeptBlock(*q);
    st.open_block_bytes += q->open_cap;
    st.index_bytes += q->blocks.bytes();
  }
  st.index_bytes += table_->ApproximateBytes();
  st.read_cache_bytes = reader_->cached_bytes();
  for (auto& seg : segments_) {
    st.segment_bytes += seg->reserved_end();
    uint64_t allocated = 0;
    if (seg->file().Allocated(&allocated).ok()) st.allocated_bytes += allocated;
    st.live_bytes += seg->live_bytes();
  }
  st.released_blocks = releaser_->released_blocks();
  st.punched_bytes = releaser_->punched_bytes();
  st.unpunched_bytes = releaser_->unpunched_bytes();
  st.pending_release_blocks = checkpointer_->pending_release_blocks();
  st.pending_write_bytes = flusher_->pending_bytes();
  st.recovered_blocks = recovery_counts_.recovered_blocks;
  st.discarded_blocks = recovery_counts_.discarded_blocks;
  st.puts = puts_.Value();
  st.gets = gets_.Value();
  st.blocks_sealed = slots_->blocks_staged();
  st.bytes_written = flusher_->bytes_written();
  st.read_cache_hits = reader_->cache_hits();
  st.read_cache_misses = reader_->cache_misses();
  return st;
}

Status QueueStoreImpl::BackgroundError() {
  OpGuard guard(this);
  if (!guard.ok() || !flusher_->has_error()) return Status::OK();
  return flusher_->error();
}

}  // namespace meshq
