// PhaseWorkers: runs one phase's body on N threads and gathers what they share — the progress
// counter, the merged latency histogram and the first store error (which stops the phase).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>

#include "meshq/latency_histogram.h"
#include "meshq/status.h"
#include "phase.h"

namespace meshq::bench {

class PhaseWorkers {
 public:
  // Runs body(thread_index, histogram) on `threads` threads and waits for them.
  void Run(int threads, const std::function<void(int, LatencyHistogram*)>& body);

  // Workers report progress in chunks (a shared counter per message would be contended).
  void AddDone(uint64_t n) { done_.fetch_add(n, std::memory_order_relaxed); }
  const std::atomic<uint64_t>* done() const { return &done_; }
  // Records the first error and tells every worker to stop.
  void Fail(const Status& status);
  bool stopped() const { return stop_.load(std::memory_order_relaxed); }

  // A worker's totals, added once when it finishes.
  void AddTotals(uint64_t messages, uint64_t operations, uint64_t bytes, uint64_t mismatches);
  // Copies the totals, the merged latency and the first error into `result`.
  void Finish(PhaseResult* result) const;
  Status status() const;

 private:
  std::atomic<uint64_t> done_{0};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> messages_{0}, operations_{0}, bytes_{0}, mismatches_{0};
  mutable std::mutex mu_;
  LatencyHistogram latency_;
  Status status_;
};

}  // namespace meshq::bench
