// Metrics cells: the shard leases of threads, cell storage, histogram buckets.
#include "meshq/metrics.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <mutex>
#include <new>
#include <thread>

namespace meshq {
namespace metrics_internal {
namespace {

constexpr size_t kLine = 64;
constexpr size_t kCellsPerLine = kLine / sizeof(std::atomic<uint64_t>);

uint32_t ComputeShardCount() {
  // Room for every core's threads plus the broker's and agents' helpers (committer, flushers,
  // timers) before threads start to share the last shard.
  const uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
  return std::clamp<uint32_t>(std::bit_ceil(2 * cores), 16, 256);
}

// The free exclusive shards. Never destroyed: threads return their lease at exit, which may
// come after static destructors ran.
struct ShardPool {
  std::mutex mu;
  std::vector<uint32_t> free;  // lowest last, so a new thread takes the lowest free shard
  ShardPool() {
    for (uint32_t s = exclusive_shards(); s > 0; --s) free.push_back(s - 1);
  }
};
ShardPool& Pool() {
  static ShardPool* pool = new ShardPool;
  return *pool;
}

// Returns the lease when its thread exits. Later updates by that thread (other thread_local
// destructors) go to the shared shard, never to one another thread may now hold.
struct Lease {
  uint32_t shard = kUnleased;
  ~Lease() {
    if (shard == kUnleased) return;
    tl_shard = exclusive_shards();
    std::lock_guard lock(Pool().mu);
    Pool().free.push_back(shard);
    std::sort(Pool().free.rbegin(), Pool().free.rend());
  }
};
thread_local Lease tl_lease;

}  // namespace

uint32_t LeaseShard() {
  uint32_t shard = exclusive_shards();
  {
    std::lock_guard lock(Pool().mu);
    if (!Pool().free.empty()) {
      shard = Pool().free.back();
      Pool().free.pop_back();
    }
  }
  tl_lease.shard = shard == exclusive_shards() ? kUnleased : shard;
  tl_shard = shard;
  return shard;
}

uint32_t shard_count() {
  static const uint32_t n = ComputeShardCount();
  return n;
}

ShardedCells::ShardedCells(size_t cells_per_shard)
    : stride_((cells_per_shard + kCellsPerLine - 1) / kCellsPerLine * kCellsPerLine),
      exclusive_(exclusive_shards()) {
  const size_t n = stride_ * shard_count();
  auto* raw = static_cast<std::atomic<uint64_t>*>(
      ::operator new(n * sizeof(std::atomic<uint64_t>), std::align_val_t(kLine)));
  for (size_t i = 0; i < n; ++i) new (raw + i) std::atomic<uint64_t>(0);
  cells_.reset(raw);
}

void ShardedCells::Free::operator()(std::atomic<uint64_t>* p) const {
  ::operator delete(p, std::align_val_t(kLine));
}

uint64_t ShardedCells::Sum(size_t i) const {
  uint64_t sum = 0;
  for (uint32_t s = 0; s < shard_count(); ++s) {
    sum += cells_[s * stride_ + i].load(std::memory_order_relaxed);
  }
  return sum;
}

}  // namespace metrics_internal

HistogramBuckets HistogramBuckets::Latency() {
  HistogramBuckets b;
  // Written out, not computed: the bounds are printed as "le" and must read as typed.
  b.bounds = {1e-5,  2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01,
              0.025, 0.05,   0.1,  0.25, 0.5,    1,    2.5,  5,      10};
  b.per_unit = 1e9;
  return b;
}

HistogramBuckets HistogramBuckets::Bytes() {
  HistogramBuckets b;
  for (double v = 64; v <= (16 << 20); v *= 4) b.bounds.push_back(v);
  return b;
}

HistogramBuckets HistogramBuckets::Sizes(uint64_t max) {
  HistogramBuckets b;
  for (uint64_t v = 1; v <= max; v *= 2) b.bounds.push_back(static_cast<double>(v));
  return b;
}

Histogram::Histogram(HistogramBuckets buckets)
    : buckets_(std::move(buckets)), cells_(buckets_.bounds.size() + 2) {
  for (double bound : buckets_.bounds) {
    // A value equal to a bound (in recorded units) belongs to that bucket ("le").
    raw_bounds_.push_back(static_cast<uint64_t>(std::floor(bound * buckets_.per_unit + 1e-6)));
  }
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  for (size_t b = 0; b <= raw_bounds_.size(); ++b) {
    s.counts.push_back(cells_.Sum(b));
    s.count += s.counts.back();
  }
  s.sum = static_cast<double>(cells_.Sum(sum_cell())) / buckets_.per_unit;
  return s;
}

}  // namespace meshq
