// QueueTable: queue name -> Queue, sharded so that lookups from many threads do not share a
// lock, plus a dense directory by queue id for Flush and recovery to walk.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "queue.h"

namespace meshq {

class QueueTable {
 public:
  explicit QueueTable(uint32_t segment_count) : segment_mask_(segment_count - 1) {}
  ~QueueTable();
  QueueTable(const QueueTable&) = delete;
  QueueTable& operator=(const QueueTable&) = delete;

  Queue* Find(std::string_view name, uint64_t hash) const;
  // Finds or creates; a new queue gets the next id. nullptr when the id space is exhausted.
  Queue* FindOrCreate(std::string_view name, uint64_t hash);
  // Creates a queue with a known id (recovery). False when the name or id is taken.
  bool Insert(std::string_view name, uint32_t id);

  // Ids are dense in [0, id_limit()); ById may return nullptr for an id being created.
  uint32_t id_limit() const { return next_id_.load(std::memory_order_acquire); }
  Queue* ById(uint32_t id) const {
    Queue** page = pages_[id >> kPageBits].load(std::memory_order_acquire);
    if (page == nullptr) return nullptr;
    // seq_cst (a plain load on x86): QueueStoreImpl::Close's final pass relies on it.
    return reinterpret_cast<std::atomic<Queue*>*>(page)[id & kPageMask].load(
        std::memory_order_seq_cst);
  }
  uint32_t segment_of(uint64_t hash) const { return static_cast<uint32_t>(hash) & segment_mask_; }
  // Approximate heap bytes of the catalogue (maps and Queue objects, not block lists).
  uint64_t ApproximateBytes() const;

 private:
  // Each shard is an open-addressing table of (hash, Queue*) read without any lock: readers
  // load the current table and probe; writers insert under the shard mutex, storing the hash
  // before publishing the pointer. Growing copies into a table twice the size and publishes it;
  // old tables stay alive (readers may still probe them) until the QueueTable is destroyed.
  struct Slot {
    std::atomic<uint64_t> hash{0};
    std::atomic<Queue*> queue{nullptr};
  };
  // A shard's current table is one word, the 64-byte aligned slot array with log2 of its
  // capacity in the low 6 bits: a lookup reads that word (2 KiB for all shards, so it stays in
  // cache) and then the slot, instead of a shard line, a table header and then the slot — each a
  // miss to memory once a million queues' data streams through the cache.
  using TableWord = uintptr_t;
  static constexpr TableWord kCapacityBitsMask = 63;
  static Slot* SlotsOf(TableWord w) { return reinterpret_cast<Slot*>(w & ~kCapacityBitsMask); }
  static size_t MaskOf(TableWord w) { return (size_t{1} << (w & kCapacityBitsMask)) - 1; }
  // What only writers touch.
  struct Shard {
    std::mutex mu;
    size_t size = 0;         // queues in the current table
    std::vector<Slot*> all;  // every table ever published, current one last
  };
  static constexpr int kShardBits = 8;
  static constexpr unsigned kInitialBits = 6;  // 64 slots
  static constexpr uint32_t kPageBits = 16;
  static constexpr uint32_t kPageMask = (1u << kPageBits) - 1;
  static constexpr uint32_t kPages = 1u << 16;  // 2^32 ids

  static size_t shard_of(uint64_t hash) { return (hash >> 56) & ((1 << kShardBits) - 1); }
  static Queue* Probe(TableWord table, std::string_view name, uint64_t hash);
  // Inserts q (its name hashing to `hash`) into shard i's current table, growing it first when
  // half full (its mu held).
  void InsertLocked(size_t i, Queue* q, uint64_t hash);
  void SetById(uint32_t id, Queue* q);

  const uint32_t segment_mask_;
  std::array<std::atomic<TableWord>, 1 << kShardBits> tables_{};
  mutable std::array<Shard, 1 << kShardBits> shards_;
  std::atomic<uint32_t> next_id_{0};
  std::mutex pages_mu_;
  std::unique_ptr<std::atomic<Queue**>[]> pages_ { new std::atomic<Queue**>[ kPages ]() };
};

}  // namespace meshq
