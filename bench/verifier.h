// Verifier: checks every message a Get returned against the generator, byte-exact, and the
// batch against what the queue must hold at that offset (count, first offset). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "meshq/message_batch.h"
#include "message_generator.h"

namespace meshq::bench {

class Verifier {
 public:
  // Details of at most `max_reports` mismatches are kept (and printed when `print` is true).
  Verifier(const MessageGenerator* generator, size_t max_reports = 10, bool print = true);

  // Checks `batch`, the answer to Get(queue, offset, ...) on a queue whose expected answer is
  // `expected_count` messages (the caller computes it from the queue size and max_count).
  // Returns the number of problems found (0 when the batch is exactly right); each is counted
  // and the first few reported with queue/offset.
  uint64_t CheckBatch(uint32_t queue, uint64_t offset, uint64_t expected_count,
                      const MessageBatch& batch);
  // Checks one message that should be message `offset` of `queue`. Returns false on mismatch.
  bool CheckMessage(uint32_t queue, uint64_t offset, std::string_view got);

  // Records a problem found outside a batch check (e.g. a store error).
  void Report(const std::string& what);

  uint64_t mismatches() const { return mismatches_.load(std::memory_order_relaxed); }
  std::vector<std::string> reports() const;

  // Why `got` is not message (queue, offset): wrong length, the first differing byte, or the
  // (queue, offset) it actually is when it is another message of the workload. Pure.
  static std::string Describe(const MessageGenerator& generator, uint32_t queue, uint64_t offset,
                              std::string_view got);

 private:
  const MessageGenerator* generator_;
  const size_t max_reports_;
  const bool print_;
  std::atomic<uint64_t> mismatches_{0};
  mutable std::mutex mu_;
  std::vector<std::string> reports_;
};

}  // namespace meshq::bench
