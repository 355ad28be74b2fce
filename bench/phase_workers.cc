// PhaseWorkers: std::thread per worker; histograms merged as each finishes.
#include "phase_workers.h"

#include <memory>
#include <thread>
#include <vector>

namespace meshq::bench {

void PhaseWorkers::Run(int threads, const std::function<void(int, LatencyHistogram*)>& body) {
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([this, t, &body] {
      auto histogram = std::make_unique<LatencyHistogram>();
      body(t, histogram.get());
      std::lock_guard<std::mutex> lock(mu_);
      latency_.Merge(*histogram);
    });
  }
  for (std::thread& w : workers) w.join();
}

void PhaseWorkers::Fail(const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (status_.ok()) status_ = status;
  stop_.store(true);
}

void PhaseWorkers::AddTotals(uint64_t messages, uint64_t operations, uint64_t bytes,
                             uint64_t mismatches) {
  messages_.fetch_add(messages);
  operations_.fetch_add(operations);
  bytes_.fetch_add(bytes);
  mismatches_.fetch_add(mismatches);
}

void PhaseWorkers::Finish(PhaseResult* result) const {
  result->messages = messages_.load();
  result->operations = operations_.load();
  result->payload_bytes = bytes_.load();
  result->mismatches = mismatches_.load();
  std::lock_guard<std::mutex> lock(mu_);
  result->latency = latency_;
  result->status = status_;
}

Status PhaseWorkers::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

}  // namespace meshq::bench
