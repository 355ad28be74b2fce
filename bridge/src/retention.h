// Retention: what the broker's retention policy lets go of one queue. The store keeps no time or
// size per message, so the broker keeps, per queue it has seen written, a short list of marks:
// "at time T the queue's size was S, and B bytes had been stored in it". Every message below S
// was stored at or before T, so the age rule may trim up to the newest mark older than the
// retention time, and the size rule up to the newest mark with at least the retention's bytes
// stored after it. Marks are made by the retention rounds (not per message), so what a rule
// keeps is rounded up to a mark: never less than the policy says, at most one mark gap more.
// Pure bookkeeping: the caller (BrokerCore) holds the lock and applies its consumer-group and
// dedupe-window limits to the cut.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "consumer_group.h"

namespace meshq::bridge {

struct RetentionPolicy {
  std::chrono::milliseconds age{0};  // 0: no age rule
  uint64_t bytes = 0;                // per queue; 0: no size rule
  bool enabled() const { return age.count() > 0 || bytes > 0; }
};

class RetainedQueue {
 public:
  // `size`: the queue's size when the broker first saw it (what it held before counts as stored
  // then: its age starts at `now`, its bytes are unknown and go only with the size rule's first
  // mark).
  RetainedQueue(uint64_t size, SteadyTime now) { marks_.push_back({size, now, 0}); }

  // A PUT stored `bytes` more (under the caller's lock).
  void Stored(uint64_t bytes) { bytes_ += bytes; }
  void Written(SteadyTime now) { last_write_ = now; }
  // Records the queue's size at `now` (read before `now`), when it grew and the last mark is at
  // least about `gap` old (3/4 of it: rounds that come every `gap` with a little jitter still
  // mark each time, so trims come in one-round steps). Keeps at most kMaxMarks (dropping every
  // other one of the older half: the rules then round coarser).
  void Mark(uint64_t size, SteadyTime now, std::chrono::milliseconds gap);
  // The offset below which `policy` lets messages go, considering only marks made at or before
  // `not_after` (the dedupe window's limit on queues holding replies or journal records).
  uint64_t Cut(const RetentionPolicy& policy, SteadyTime now, SteadyTime not_after) const;
  // Forgets the marks below `offset` (the queue was trimmed up to it).
  void Trimmed(uint64_t offset);
  // The newest size recorded.
  uint64_t marked_size() const { return marks_.back().offset; }
  SteadyTime last_write() const { return last_write_; }
  size_t marks() const { return marks_.size(); }

  static constexpr size_t kMaxMarks = 256;

  // Consumer groups reading the queue (their committed offsets bound the cut); filled by the
  // broker, pruned of expired ones by the rounds.
  std::vector<std::weak_ptr<ConsumerGroup>> groups;
  // The groups listed in the store's metadata for this queue were loaded (after a restart, a
  // group that nobody fetched from yet still holds back what it has not acknowledged).
  bool groups_loaded = false;
  // The queue holds replies (REPLY puts) or dedupe journal records: nothing of it goes while the
  // dedupe window still remembers an id that may need it.
  bool window_bound = false;

 private:
  struct SizeMark {
    uint64_t offset;  // the queue's size at `at`
    SteadyTime at;
    uint64_t bytes;  // bytes stored through the broker before `offset`, since tracking began
  };
  // Oldest first; never empty. A vector, not a deque: most queues hold one or two marks (idle
  // or discovered ones), and a deque's first chunk alone is 512 bytes.
  std::vector<SizeMark> marks_;
  uint64_t bytes_ = 0;  // stored since tracking began
  SteadyTime last_write_{};
};

}  // namespace meshq::bridge
