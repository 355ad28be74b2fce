// Counter, Gauge, Histogram: metrics cheap enough for the hot path. An update takes no lock and
// writes no cache line another thread writes: each metric keeps one cell block per shard
// (cache-line aligned), each thread updates the shard it leases on its first update, and a read
// (a scrape) sums the shards. A thread holds its shard alone while there are fewer live updating
// threads than shards (plain load + store, no locked instruction); the threads beyond share one
// last shard with atomic adds. Values read while updates run are each a recent sum, not one
// instant across metrics.
//
// Usage (names and exposition: meshq/metrics_registry.h):
//   meshq::MetricsRegistry registry;
//   meshq::Counter* puts = registry.AddCounter("meshq_puts_total", "Puts stored.");
//   meshq::Histogram* latency = registry.AddHistogram(
//       "meshq_put_duration_seconds", "Time to store a put.", meshq::HistogramBuckets::Latency(),
//       {{"mode", "sync"}});
//   puts->Inc();
//   latency->ObserveSince(start);  // or Observe(nanoseconds)
// A metric may also live on its own (a store's counters) and be exposed by a callback.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace meshq {

namespace metrics_internal {

inline constexpr uint32_t kUnleased = UINT32_MAX;
// The calling thread's shard, kUnleased before its first update. Trivial and constant-initialised,
// so reading it is one thread-local load (no initialisation guard, no call).
inline thread_local uint32_t tl_shard = kUnleased;
// Leases the calling thread a shard (returned when the thread exits) and returns it. Shards below
// exclusive_shards() are held by one live thread each; the last one is shared.
uint32_t LeaseShard();
inline uint32_t ThreadShard() {
  const uint32_t shard = tl_shard;
  return shard != kUnleased ? shard : LeaseShard();
}
uint32_t shard_count();
inline uint32_t exclusive_shards() { return shard_count() - 1; }

// One metric's cells: `cells_per_shard` uint64 cells for each shard, every shard's block on
// cache lines of its own.
class ShardedCells {
 public:
  explicit ShardedCells(size_t cells_per_shard);
  ShardedCells(const ShardedCells&) = delete;
  ShardedCells& operator=(const ShardedCells&) = delete;

  // Adds `n` (modulo 2^64) to cell `i` of the calling thread's shard.
  void Add(size_t i, uint64_t n) {
    const uint32_t shard = ThreadShard();
    std::atomic<uint64_t>& c = cells_[shard * stride_ + i];
    if (shard < exclusive_) {
      c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    } else {
      c.fetch_add(n, std::memory_order_relaxed);
    }
  }
  // Cell `i` summed over the shards (modulo 2^64).
  uint64_t Sum(size_t i) const;

 private:
  struct Free {
    void operator()(std::atomic<uint64_t>* p) const;
  };
  size_t stride_;       // cells per shard block, a whole number of cache lines
  uint32_t exclusive_;  // exclusive_shards()
  std::unique_ptr<std::atomic<uint64_t>[], Free> cells_;
};

}  // namespace metrics_internal

// A count that only goes up. Thread-safe.
class Counter {
 public:
  Counter() : cells_(1) {}
  void Inc(uint64_t n = 1) { cells_.Add(0, n); }
  uint64_t Value() const { return cells_.Sum(0); }

 private:
  metrics_internal::ShardedCells cells_;
};

// A whole number that goes up and down by deltas (connections open, bytes held), possibly from
// different threads. For a value one place owns and sets, expose a callback gauge instead
// (MetricsRegistry::AddCallbackGauge). Thread-safe.
class Gauge {
 public:
  Gauge() : cells_(1) {}
  void Add(int64_t delta) { cells_.Add(0, static_cast<uint64_t>(delta)); }
  void Inc() { Add(1); }
  void Dec() { Add(-1); }
  int64_t Value() const { return static_cast<int64_t>(cells_.Sum(0)); }

 private:
  metrics_internal::ShardedCells cells_;
};

// Fixed bucket bounds of a Histogram, in the metric's base unit (seconds, bytes, or a plain
// count), and how many recorded units make one base unit: a latency histogram records
// nanoseconds (per_unit 1e9) and is exposed in seconds.
struct HistogramBuckets {
  std::vector<double> bounds;  // ascending upper bounds ("le"); +Inf is implicit
  double per_unit = 1;         // recorded units per base unit

  // 10 us .. 10 s in 1-2.5-5 steps; records nanoseconds.
  static HistogramBuckets Latency();
  // 64 B .. 16 MiB in powers of 4; records bytes.
  static HistogramBuckets Bytes();
  // 1 .. `max` in powers of 2 (a batch's size); records the count.
  static HistogramBuckets Sizes(uint64_t max = 4096);
};

// Observations counted into fixed buckets, with their sum. Thread-safe.
class Histogram {
 public:
  explicit Histogram(HistogramBuckets buckets);

  // Records `value` in recorded units (nanoseconds for Latency(), bytes, a count).
  void Observe(uint64_t value) {
    size_t b = 0;
    while (b < raw_bounds_.size() && value > raw_bounds_[b]) ++b;
    cells_.Add(b, 1);
    cells_.Add(sum_cell(), value);
  }
  // Records the time since `start` (a Latency() histogram).
  void ObserveSince(std::chrono::steady_clock::time_point start) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    Observe(ns > 0 ? static_cast<uint64_t>(ns) : 0);
  }

  struct Snapshot {
    std::vector<uint64_t> counts;  // per bucket, not cumulative; the last is +Inf
    uint64_t count = 0;            // the sum of counts
    double sum = 0;                // in base units
  };
  Snapshot Read() const;
  const HistogramBuckets& buckets() const { return buckets_; }

 private:
  size_t sum_cell() const { return raw_bounds_.size() + 1; }

  const HistogramBuckets buckets_;
  std::vector<uint64_t> raw_bounds_;  // bounds in recorded units
  metrics_internal::ShardedCells cells_;
};

}  // namespace meshq
