// What a metric update costs on the hot path, from one thread and from two at once: a sharded
// Counter and a Histogram against one shared atomic counter (the cache line both threads write).
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>

#include "meshq/metrics.h"

namespace meshq::bench {
namespace {

Counter g_counter;
Histogram g_histogram(HistogramBuckets::Latency());
std::atomic<uint64_t> g_shared{0};

void BM_CounterInc(benchmark::State& state) {
  for (auto _ : state) g_counter.Inc();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterInc)->Threads(1)->Threads(2);

void BM_SharedAtomicInc(benchmark::State& state) {
  for (auto _ : state) g_shared.fetch_add(1, std::memory_order_relaxed);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SharedAtomicInc)->Threads(1)->Threads(2);

// A typical request latency (a few hundred microseconds: the 8th bucket).
void BM_HistogramObserve(benchmark::State& state) {
  uint64_t ns = 300'000;
  for (auto _ : state) g_histogram.Observe(ns++ & 0xfffff);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

// The clock reading a duration needs, for comparison.
void BM_SteadyClockNow(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(std::chrono::steady_clock::now());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SteadyClockNow);

}  // namespace
}  // namespace meshq::bench
