// DedupeWindow: the broker's memory of recent dedupe ids, so a retried PUT (same id) is stored
// once and a request already settled by a reply is neither stored again nor delivered again.
// Every change is journaled to an engine queue and made durable by the same Flush as the data it
// describes, so the window survives a restart (the last `capacity` entries are replayed). The
// journal moves to a new queue ("__meshq.dedupe.<generation>", generation in the metadata key
// "dedupe/generation") every `capacity` entries, so no journal queue reaches the engine's
// per-queue message limit.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "meshq/queue_store.h"

namespace meshq::bridge {

// Queue names starting with this are the broker's own; clients cannot PUT to them.
inline constexpr std::string_view kReservedQueuePrefix = "__meshq.";

class DedupeWindow {
 public:
  struct Entry {
    bool replied = false;
    uint64_t reply_offset = 0;
    std::string reply_queue;
  };

  // The table is sized for `capacity` ids up front (8-9 bytes per id): grown on demand, it
  // rehashed every id on the broker's io thread at each doubling, stalling every call in flight
  // (seen in the reply hop's tail).
  DedupeWindow(QueueStore* store, size_t capacity) : store_(store), capacity_(capacity) {
    entries_.reserve(capacity_);
  }

  // Replays the tail of the journal. Call once, before serving.
  Status Recover();

  // Records `id` as seen when it is new and returns nullopt; otherwise returns its entry and
  // records nothing. Thread-safe.
  std::optional<Entry> ClaimRequest(uint64_t id);
  // Forgets a claim whose message could not be stored.
  void Release(uint64_t id);
  // Journals the claim of `id` (call after the message itself was Put).
  Status JournalRequest(uint64_t id);

  // The entry of `id` when it is settled by a reply.
  std::optional<Entry> FindReply(uint64_t id);
  // Records and journals that the reply to `id` is stored at queue/offset.
  Status RecordReply(uint64_t id, std::string_view queue, uint64_t offset);

  // For tests: the table's bucket count, which filling the window must not change.
  size_t buckets() {
    std::lock_guard lock(mu_);
    return entries_.bucket_count();
  }

 private:
  void InsertLocked(uint64_t id, Entry entry);
  Status Append(std::string_view record);
  Status Replay(const std::string& queue, uint64_t from);

  QueueStore* const store_;
  const size_t capacity_;
  std::mutex mu_;
  std::unordered_map<uint64_t, Entry> entries_;
  std::deque<uint64_t> order_;  // insertion order, for eviction beyond capacity_

  std::mutex journal_mu_;  // orders appends with the switch to a new generation
  uint64_t generation_ = 0;
  std::string journal_queue_;
};

}  // namespace meshq::bridge
