// QueueTable: sharded catalogue and id directory.
#include "queue_table.h"

#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>

#include "hash.h"

namespace meshq {

namespace {
// A zeroed slot array of 2^bits slots, 64-byte aligned so its address leaves 6 bits for `bits`.
template <typename Slot>
Slot* NewSlots(unsigned bits) {
  const size_t bytes = sizeof(Slot) << bits;
  void* p = std::aligned_alloc(64, bytes < 64 ? 64 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  Slot* slots = static_cast<Slot*>(p);
  for (size_t i = 0; i < (size_t{1} << bits); ++i) new (&slots[i]) Slot();  // hash 0, nullptr
  return slots;
}
}  // namespace

QueueTable::~QueueTable() {
  uint32_t limit = id_limit();
  for (uint32_t id = 0; id < limit; ++id) delete ById(id);
  for (uint32_t p = 0; p < kPages; ++p)
    delete[] reinterpret_cast<std::atomic<Queue*>*>(pages_[p].load());
  for (Shard& shard : shards_) {
    for (Slot* slots : shard.all) std::free(slots);
  }
}

Queue* QueueTable::Probe(TableWord table, std::string_view name, uint64_t hash) {
  const Slot* slots = SlotsOf(table);
  const size_t mask = MaskOf(table);
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    Queue* q = slots[i].queue.load(std::memory_order_acquire);
    if (q == nullptr) return nullptr;
    if (slots[i].hash.load(std::memory_order_relaxed) == hash && q->name == name) return q;
  }
}

Queue* QueueTable::Find(std::string_view name, uint64_t hash) const {
  const TableWord t = tables_[shard_of(hash)].load(std::memory_order_acquire);
  return t == 0 ? nullptr : Probe(t, name, hash);
}

void QueueTable::InsertLocked(size_t i, Queue* q, uint64_t hash) {
  Shard& shard = shards_[i];
  TableWord t = tables_[i].load(std::memory_order_relaxed);
  if (t == 0 || (shard.size + 1) * 2 > MaskOf(t) + 1) {
    const unsigned bits = t == 0 ? kInitialBits : static_cast<unsigned>(t & kCapacityBitsMask) + 1;
    Slot* bigger = NewSlots<Slot>(bits);
    const size_t bigger_mask = (size_t{1} << bits) - 1;
    if (t != 0) {
      const Slot* old_slots = SlotsOf(t);
      for (size_t k = 0; k <= MaskOf(t); ++k) {
        Queue* old = old_slots[k].queue.load(std::memory_order_relaxed);
        if (old == nullptr) continue;
        const uint64_t old_hash = old_slots[k].hash.load(std::memory_order_relaxed);
        size_t j = old_hash & bigger_mask;
        while (bigger[j].queue.load(std::memory_order_relaxed) != nullptr)
          j = (j + 1) & bigger_mask;
        bigger[j].hash.store(old_hash, std::memory_order_relaxed);
        bigger[j].queue.store(old, std::memory_order_relaxed);
      }
    }
    shard.all.push_back(bigger);
    t = reinterpret_cast<TableWord>(bigger) | bits;
    tables_[i].store(t, std::memory_order_release);
  }
  Slot* slots = SlotsOf(t);
  const size_t mask = MaskOf(t);
  size_t j = hash & mask;
  while (slots[j].queue.load(std::memory_order_relaxed) != nullptr) j = (j + 1) & mask;
  slots[j].hash.store(hash, std::memory_order_relaxed);
  slots[j].queue.store(q, std::memory_order_release);
  shard.size++;
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
  const size_t shard = shard_of(hash);
  std::lock_guard<std::mutex> lock(shards_[shard].mu);
  if (Queue* q = Find(name, hash)) return q;
  uint32_t id = next_id_.load(std::memory_order_relaxed);
  do {
    if (id == UINT32_MAX) return nullptr;
    // seq_cst: QueueStoreImpl::Close relies on it (see its fence).
  } while (!next_id_.compare_exchange_weak(id, id + 1, std::memory_order_seq_cst));
  auto* q = new Queue(std::string(name), id, segment_of(hash));
  SetById(id, q);
  InsertLocked(shard, q, hash);
  return q;
}

bool QueueTable::Insert(std::string_view name, uint32_t id) {
  uint64_t hash = HashQueueName(name);
  const size_t shard = shard_of(hash);
  std::lock_guard<std::mutex> lock(shards_[shard].mu);
  if (Find(name, hash) != nullptr || ById(id) != nullptr) return false;
  auto* q = new Queue(std::string(name), id, segment_of(hash));
  SetById(id, q);
  InsertLocked(shard, q, hash);
  uint32_t cur = next_id_.load(std::memory_order_relaxed);
  while (cur <= id && !next_id_.compare_exchange_weak(cur, id + 1)) {
  }
  return true;
}

uint64_t QueueTable::ApproximateBytes() const {
  uint64_t bytes = 0;
  for (size_t i = 0; i < shards_.size(); ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    // Tables double, so all the tables of a shard add up to under twice the current one.
    for (size_t k = 0; k < shards_[i].all.size(); ++k) bytes += sizeof(Slot) << (kInitialBits + k);
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
