// QueueTable: sharded catalogue and id directory.
#include "queue_table.h"

#include <mutex>

#include "hash.h"

namespace meshq {

QueueTable::~QueueTable() {
  uint32_t limit = id_limit();
  for (uint32_t id = 0; id < limit; ++id) delete ById(id);
  for (uint32_t p = 0; p < kPages; ++p)
    delete[] reinterpret_cast<std::atomic<Queue*>*>(pages_[p].load());
}

Queue* QueueTable::Find(std::string_view name, uint64_t hash) const {
  Shard& shard = shard_for(hash);
  std::shared_lock<std::shared_mutex> lock(shard.mu);
  auto it = shard.map.find(Key{name, hash});
  return it == shard.map.end() ? nullptr : it->second;
}

void QueueTable::SetById(uint32_t id, Queue* q) {
  uint32_t p = id >> kPageBits;
  Queue** page = pages_[p].load(std::memory_order_acquire);
  if (page == nullptr) {
    std::lock_guard<std::mutex> lock(pages_mu_);
    page = pages_[p].load(std::memory_order_acquire);
    if (page == nullptr) {
      page = reinterpret_cast<Queue**>(new std::atomic<Queue*>[kPageMask + 1]());
      pages_[p].store(page, std::memory_order_release);
    }
  }
  reinterpret_cast<std::atomic<Queue*>*>(page)[id & kPageMask].store(q, std::memory_order_release);
}

Queue* QueueTable::FindOrCreate(std::string_view name, uint64_t hash) {
  if (Queue* q = Find(name, hash)) return q;
  Shard& shard = shard_for(hash);
  std::unique_lock<std::shared_mutex> lock(shard.mu);
  auto it = shard.map.find(Key{name, hash});
  if (it != shard.map.end()) return it->second;
  uint32_t id = next_id_.load(std::memory_order_relaxed);
  do {
    if (id == UINT32_MAX) return nullptr;
  } while (!next_id_.compare_exchange_weak(id, id + 1, std::memory_order_acq_rel));
  auto* q = new Queue(std::string(name), hash, id, segment_of(hash));
  SetById(id, q);
  shard.map.emplace(Key{q->name, hash}, q);
  return q;
}

bool QueueTable::Insert(std::string_view name, uint32_t id) {
  uint64_t hash = HashQueueName(name);
  Shard& shard = shard_for(hash);
  std::unique_lock<std::shared_mutex> lock(shard.mu);
  if (shard.map.count(Key{name, hash}) != 0 || ById(id) != nullptr) return false;
  auto* q = new Queue(std::string(name), hash, id, segment_of(hash));
  SetById(id, q);
  shard.map.emplace(Key{q->name, hash}, q);
  uint32_t cur = next_id_.load(std::memory_order_relaxed);
  while (cur <= id && !next_id_.compare_exchange_weak(cur, id + 1)) {
  }
  return true;
}

uint64_t QueueTable::ApproximateBytes() const {
  uint64_t bytes = 0;
  for (const Shard& s : shards_) {
    std::shared_lock<std::shared_mutex> lock(s.mu);
    // Node: key + value + next pointer + allocator header; plus one bucket pointer.
    bytes += s.map.size() * (sizeof(Key) + sizeof(Queue*) + 2 * sizeof(void*)) +
             s.map.bucket_count() * sizeof(void*);
  }
  uint32_t limit = id_limit();
  for (uint32_t id = 0; id < limit; ++id) {
    const Queue* q = ById(id);
    if (q == nullptr) continue;
    bytes += sizeof(Queue) + (q->name.size() > 15 ? q->name.capacity() + 1 : 0);
  }
  bytes += uint64_t{kPages} * sizeof(void*) + ((limit >> kPageBits) + 1) * (kPageMask + 1) * 8;
  return bytes;
}

}  // namespace meshq
