// Workload: the shape of the contest's three phases, as pure functions of the configuration, so
// every phase (and a later run over a kept store) knows exactly what each queue must hold.
#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>
#include <vector>

namespace meshq::bench {

struct Workload {
  uint32_t queues = 1;
  uint64_t messages = 0;
  // Index check: this many Gets per queue on average (the contest does 1-2).
  double check_gets_per_queue = 1.5;
  // Consume: every `consume_stride`-th queue is read from 0 to its end (5 = 20% of queues).
  uint32_t consume_stride = 5;
  // Index-check Get size (the contest's 10) and consume batch size.
  uint32_t check_count = 10;
  uint32_t consume_batch = 10;

  // Send puts message number c (0 <= c < messages) into queue c % queues, so queue q holds
  // messages / queues messages, plus one when q < messages % queues.
  uint64_t QueueSize(uint32_t queue) const {
    return messages / queues + (queue < messages % queues ? 1 : 0);
  }
  uint64_t CheckGets() const { return static_cast<uint64_t>(check_gets_per_queue * queues + 0.5); }
  bool IsConsumed(uint32_t queue) const { return queue % consume_stride == 0; }
  uint32_t ConsumedQueues() const { return (queues + consume_stride - 1) / consume_stride; }
  // The queues consume-phase thread `thread` (0 <= thread < threads) reads, in queue order: every
  // threads-th consumed queue, so the threads' shares together are exactly the consumed queues.
  std::vector<uint32_t> ConsumeShare(int thread, int threads) const;
  // Messages the consume phase must read: the sum of the consumed queues' sizes.
  uint64_t ConsumedMessages() const;
  // Index check of queue size `size`: the contest's max(0, random(size) - 10), from a random draw.
  uint64_t CheckOffset(uint64_t size, uint64_t random) const {
    const uint64_t r = size == 0 ? 0 : random % size;
    return r > check_count ? r - check_count : 0;
  }
};

// The queue name the contest's tester uses ("Queue-<n>"), formatted without allocating.
class QueueName {
 public:
  explicit QueueName(uint32_t queue) {
    static constexpr std::string_view kPrefix = "Queue-";
    kPrefix.copy(buf_, kPrefix.size());
    auto r = std::to_chars(buf_ + kPrefix.size(), buf_ + sizeof(buf_), queue);
    size_ = static_cast<size_t>(r.ptr - buf_);
  }
  std::string_view view() const { return std::string_view(buf_, size_); }

 private:
  char buf_[24];
  size_t size_;
};

}  // namespace meshq::bench
