// DedupeWindow: the broker's memory of recent dedupe ids, so a retried PUT (same id) is stored
// once and a request already settled by a reply is neither stored again nor delivered again.
// Every change is journaled to an engine queue and made durable by the same Flush as the data it
// describes, so the window survives a restart (the last `capacity` entries are replayed). The
// journal moves to a new queue ("__meshq.dedupe.<generation>", generation in the metadata key
// "dedupe/generation") every `capacity` entries, so no journal queue reaches the engine's
// per-queue message limit.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dedupe_journal.h"
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
    uint64_t assignee = 0;  // the member last handed the request (GroupFetchRequest::member)
    // The request is in the store. An id known only from its assignment (the assignment log
    // replayed after a kill that lost the request itself) is not: its retry is stored, and goes
    // to the assignee.
    bool stored = false;
    // The connection last handed the request by a group fetch since the broker started, and its
    // interned identity (0: anonymous): who may store the request's reply.
    uint64_t handed_conn = 0;
    uint32_t handed_identity = 0;
  };

  // The table is sized for `capacity` ids up front (8-9 bytes per id): grown on demand, it
  // rehashed every id on the broker's io thread at each doubling, stalling every call in flight
  // (seen in the reply hop's tail).
  // An id is never evicted less than `min_age` after it was first seen (ids replayed at start
  // count as old): a new id that would evict a younger one is refused instead, so a retry within
  // min_age is never stored twice, however fast ids arrive.
  DedupeWindow(QueueStore* store, size_t capacity,
               std::chrono::milliseconds min_age = std::chrono::milliseconds(0))
      : store_(store), capacity_(capacity), min_age_(min_age) {
    entries_.reserve(capacity_);
  }

  // Replays the tail of the journal. Call once, before serving.
  Status Recover();

  // Retention (BrokerOptions::retention): forgets up to `max` ids kept since before `cutoff`
  // (ids replayed at start count as kept since the start, so a retry of a call answered before
  // a restart still finds its reply for the whole window after it). The caller makes sure
  // nothing an id still remembered may point at is trimmed: see OldestKept.
  void ExpireKeptBefore(std::chrono::steady_clock::time_point cutoff, size_t max);
  // When the oldest id still remembered was first kept (time_point::max() when none is): every
  // reply and journal record of a remembered id was stored at or after it.
  std::chrono::steady_clock::time_point OldestKept();
  // The journal's current generation ("__meshq.dedupe.<generation>").
  uint64_t generation();

  // Records `id` as seen when it is new and returns nullopt; otherwise returns its entry and
  // records nothing. A new id that finds the window full of ids younger than min_age is not
  // recorded and sets *full (refuse the PUT). Thread-safe.
  std::optional<Entry> ClaimRequest(uint64_t id, bool* full);
  // False when `id` is new and the window is full of ids younger than min_age.
  bool Admits(uint64_t id);
  // Forgets a claim whose message could not be stored.
  void Release(uint64_t id);
  // Journals the claim of `id` (call after the message itself was Put).
  Status JournalRequest(uint64_t id);

  // The entry of `id` when it is settled by a reply.
  std::optional<Entry> FindReply(uint64_t id);
  // Records and journals that the reply to `id` is stored at queue/offset.
  Status RecordReply(uint64_t id, std::string_view queue, uint64_t offset);

  // What a group fetch needs to know of request `id`: settled by a reply, or assigned to a member.
  struct Delivery {
    bool replied = false;
    uint64_t assignee = 0;
  };
  Delivery Lookup(uint64_t id);
  // Records that connection `conn`, of interned identity `identity` (0: anonymous), is handed
  // request `id` (in memory only: after a restart a request is handed out again before its
  // reply is taken).
  void RecordHandOut(uint64_t id, uint64_t conn, uint32_t identity);
  // Whether `conn` may store the reply to `id`: the request is remembered and was last handed
  // to `conn`, or to a connection of the same (non-anonymous) identity, e.g. before the
  // responder reconnected.
  bool MayReply(uint64_t id, uint64_t conn, uint32_t identity);
  // Records and journals that request `id` is handed to `member`. The record is durable after
  // the next Flush; hand the request out only after that (the broker's commit round).
  Status RecordAssignment(uint64_t id, uint64_t member);
  // Records and journals that `member` handed request `id` back without running it.
  Status ReleaseAssignment(uint64_t id, uint64_t member);
  // Applies a record read back at start (the journal's, or the assignment log's).
  void Replay(const JournalRecord& record);

  // Ids remembered now (at most the capacity).
  size_t size() {
    std::lock_guard lock(mu_);
    return entries_.size();
  }

  // For tests: the table's bucket count, which filling the window must not change.
  size_t buckets() {
    std::lock_guard lock(mu_);
    return entries_.bucket_count();
  }

 private:
  bool FullLocked(std::chrono::steady_clock::time_point now) const;
  // `seen`: when the id was first seen (the clock's epoch for ids replayed at start).
  void InsertLocked(uint64_t id, Entry entry, std::chrono::steady_clock::time_point seen = {});
  void AssignLocked(uint64_t id, uint64_t member);
  void UnassignLocked(uint64_t id, uint64_t member);
  void ApplyLocked(const JournalRecord& record);
  Status Append(std::string_view record);
  Status Replay(const std::string& queue, uint64_t from);

  QueueStore* const store_;
  const size_t capacity_;
  std::mutex mu_;
  std::unordered_map<uint64_t, Entry> entries_;
  const std::chrono::milliseconds min_age_;
  struct Seen {
    uint64_t id;
    std::chrono::steady_clock::time_point at;
    // When the id entered the window: `at`, except for ids replayed at start (the start).
    std::chrono::steady_clock::time_point kept_since;
  };
  // Replay() sets it: what the journal replays counts as kept since the start.
  std::chrono::steady_clock::time_point replay_time_{};
  std::deque<Seen> order_;  // insertion order, for eviction beyond capacity_

  std::mutex journal_mu_;  // orders appends with the switch to a new generation
  uint64_t generation_ = 0;
  std::string journal_queue_;
};

}  // namespace meshq::bridge
