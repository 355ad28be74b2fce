// QueueTable: sharded catalogue and id directory.
#include "queue_table.h"

#include <memory>
#include <mutex>

#include "hash.h"

namespace meshq {

QueueTable::~QueueTable() {
  uint32_t limit = id_limit();
  for (uint32_t id = 0; id < limit; ++id) delete ById(id);
  for (uint32_t p = 0; p < kPages; ++p)
    delete[] reinterpret_cast<std::atomic<Queue*>*>(pages_[p].load());
}

Queue* QueueTable::Probe(const Table* t, std::string_view name, uint64_t hash) {
  for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
    Queue* q = t->slots[i].queue.load(std::memory_order_acquire);
    if (q == nullptr) return nullptr;
    if (t->slots[i].hash.load(std::memory_order_relaxed) == hash && q->name == name) return q;
  }
}

Queue* QueueTable::Find(std::string_view name, uint64_t hash) const {
  const Table* t = shard_for(hash).table.load(std::memory_order_acquire);
  return t == nullptr ? nullptr : Probe(t, name, hash);
}

void QueueTable::InsertLocked(Shard& shard, Queue* q) {
  Table* t = shard.table.load(std::memory_order_relaxed);
  if (t == nullptr || (t->size + 1) * 2 > t->mask + 1) {
    auto bigger = std::make_unique<Table>(t == nullptr ? kInitialSlots : (t->mask + 1) * 2);
    if (t != nullptr) {
      for (size_t i = 0; i <= t->mask; ++i) {
        Queue* old = t->slots[i].queue.load(std::memory_order_relaxed);
        if (old == nullptr) continue;
        size_t j = old->hash & bigger->mask;
        while (bigger->slots[j].queue.load(std::memory_order_relaxed) != nullptr) {
          j = (j + 1) & bigger->mask;
        }
        bigger->slots[j].hash.store(old->hash, std::memory_order_relaxed);
        bigger->slots[j].queue.store(old, std::memory_order_relaxed);
      }
      bigger->size = t->size;
    }
    t = bigger.get();
    shard.all.push_back(std::move(bigger));
    shard.table.store(t, std::memory_order_release);
  }
  size_t j = q->hash & t->mask;
  while (t->slots[j].queue.load(std::memory_order_relaxed) != nullptr) j = (j + 1) & t->mask;
  t->slots[j].hash.store(q->hash, std::memory_order_relaxed);
  t->slots[j].queue.store(q, std::memory_order_release);
  t->size++;
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
  reinterpret_cast<std::atomic<Queue*>*>(page)[id & kPageMask].store(q, std::memory_order_seq_cst);
}

Queue* QueueTable::FindOrCreate(std::string_view name, uint64_t hash) {
  if (Queue* q = Find(name, hash)) return q;
  Shard& shard = shard_for(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  if (Queue* q = Find(name, hash)) return q;
  uint32_t id = next_id_.load(std::memory_order_relaxed);
  do {
    if (id == UINT32_MAX) return nullptr;
    // seq_cst: QueueStoreImpl::Close relies on it (see its fence).
  } while (!next_id_.compare_exchange_weak(id, id + 1, std::memory_order_seq_cst));
  auto* q = new Queue(std::string(name), hash, id, segment_of(hash));
  SetById(id, q);
  InsertLocked(shard, q);
  return q;
}

bool QueueTable::Insert(std::string_view name, uint32_t id) {
  uint64_t hash = HashQueueName(name);
  Shard& shard = shard_for(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  if (Find(name, hash) != nullptr || ById(id) != nullptr) return false;
  auto* q = new Queue(std::string(name), hash, id, segment_of(hash));
  SetById(id, q);
  InsertLocked(shard, q);
  uint32_t cur = next_id_.load(std::memory_order_relaxed);
  while (cur <= id && !next_id_.compare_exchange_weak(cur, id + 1)) {
  }
  return true;
}

uint64_t QueueTable::ApproximateBytes() const {
  uint64_t bytes = 0;
  for (Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    for (const auto& t : s.all) bytes += (t->mask + 1) * sizeof(Slot) + sizeof(Table);
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
