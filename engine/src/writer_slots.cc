// Writer slots: assigning threads to slots and staging sealed blocks into their chunks.
#include "writer_slots.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "block_format.h"

namespace meshq {

constinit thread_local SlotCache tl_slot_cache __attribute__((tls_model("initial-exec"))) = {0, 0};

WriterSlots::WriterSlots(uint64_t store_uid, const std::vector<std::unique_ptr<Segment>>* segments,
                         ChunkPool* pool, Flusher* flusher, uint64_t salt, const SealPolicy* policy,
                         const QueueTable* table)
    : store_uid_(store_uid),
      segments_(*segments),
      pool_(pool),
      flusher_(flusher),
      salt_(salt),
      policy_(*policy),
      table_(*table) {
  for (WriterSlot& slot : slots_) slot.chunks.resize(segments_.size());
}

__attribute__((noinline)) WriterSlot& WriterSlots::Assign() {
  thread_local std::unordered_map<uint64_t, uint32_t> assigned;
  auto it = assigned.find(store_uid_);
  uint32_t slot;
  if (it == assigned.end()) {
    slot = next_slot_.fetch_add(1, std::memory_order_relaxed) % kCount;
    assigned.emplace(store_uid_, slot);
  } else {
    slot = it->second;
  }
  tl_slot_cache = {store_uid_, slot};
  return slots_[slot];
}

Status WriterSlots::SealOpenBlock(Queue* q, WriterSlot& slot, bool full) {
  uint32_t unit = 0;
  Status s = StageBlock(slot, *q, q->sealed_end, q->open_count,
                        std::string_view(q->open_buf, q->open_len), {}, &unit);
  if (!s.ok()) return s;
  q->blocks.push_back({unit, static_cast<uint32_t>(q->sealed_end)});
  q->sealed_end += q->open_count;
  q->open_count = 0;
  q->open_len = 0;
  q->stagger_next = !full;
  if (policy_.KeepsOpenBuffers(table_.id_limit())) return Status::OK();
  std::free(q->open_buf);
  q->open_buf = nullptr;
  q->open_cap = 0;
  return Status::OK();
}

Status WriterSlots::StageBlock(WriterSlot& slot, const Queue& q, uint64_t first, uint32_t count,
                               std::string_view payload_prefix, std::string_view payload_rest,
                               uint32_t* unit) {
  const auto payload_len = static_cast<uint32_t>(payload_prefix.size() + payload_rest.size());
  const uint32_t bytes = BlockHeader::StoredBytes(payload_len);
  Segment* seg = segments_[q.segment].get();
  std::lock_guard<SpinLock> lock(slot.mu);
  std::shared_ptr<WriteChunk>& chunk = slot.chunks[q.segment];
  if (!chunk || chunk->capacity - chunk->used < bytes) {
    if (chunk) flusher_->Submit(std::move(chunk));
    std::shared_ptr<WriteChunk> fresh = pool_->New(bytes);
    uint64_t base = 0;
    fresh->reserved = static_cast<uint32_t>(seg->AlignWrite(fresh->capacity));
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
  EncodeBlock(dst, q.id, first, count, std::string_view(payload, payload_len), salt_);
  *unit = static_cast<uint32_t>((chunk->base + chunk->used) / kBlockUnit);
  chunk->used += bytes;
  blocks_staged_.Inc();
  return Status::OK();
}

void WriterSlots::TakeDirty(std::vector<Queue*>* taken) {
  for (WriterSlot& slot : slots_) {
    std::lock_guard<SpinLock> lock(slot.mu);
    if (taken->empty()) {
      taken->swap(slot.dirty);  // keeps the common case (one writer slot) a swap
    } else {
      taken->insert(taken->end(), slot.dirty.begin(), slot.dirty.end());
      slot.dirty.clear();
    }
  }
}

std::vector<WriterSlot*> WriterSlots::LastReservers(WriterSlot* fallback) {
  std::vector<WriterSlot*> reservers(segments_.size(), fallback);
  std::vector<uint64_t> last_base(segments_.size(), 0);
  for (WriterSlot& slot : slots_) {
    std::lock_guard<SpinLock> lock(slot.mu);
    for (size_t seg = 0; seg < slot.chunks.size(); ++seg) {
      const WriteChunk* c = slot.chunks[seg].get();
      if (c != nullptr && c->used > 0 && c->base + 1 > last_base[seg]) {
        last_base[seg] = c->base + 1;
        reservers[seg] = &slot;
      }
    }
  }
  return reservers;
}

uint64_t WriterSlots::TakePartialChunks(std::vector<std::shared_ptr<WriteChunk>>* partial) {
  uint64_t bytes = 0;
  for (WriterSlot& slot : slots_) {
    std::lock_guard<SpinLock> lock(slot.mu);
    for (auto& chunk : slot.chunks) {
      if (chunk && chunk->used > 0) {
        bytes += chunk->used;
        partial->push_back(std::move(chunk));
      }
      chunk.reset();
    }
  }
  return bytes;
}

void WriterSlots::WaitIdle() {
  for (WriterSlot& slot : slots_) {
    while (slot.active.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }
}

}  // namespace meshq
