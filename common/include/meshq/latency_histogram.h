// LatencyHistogram: log-linear buckets (16 per power of two, so a percentile is within ~6% of the
// true value) of a latency in any unit (the bench records nanoseconds, the bridge's hop stats
// microseconds). Not synchronized: one per thread, merged at the end.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace meshq {

class LatencyHistogram {
 public:
  void Record(uint64_t value) { Add(BucketOf(value), 1); }
  // Counts `n` samples into bucket `b` (b < kBuckets): how a snapshot of counters kept
  // elsewhere (e.g. atomics) becomes a histogram.
  void Add(size_t b, uint64_t n) {
    buckets_[b] += n;
    count_ += n;
  }
  void Merge(const LatencyHistogram& other);
  uint64_t count() const { return count_; }
  // The latency below which a fraction `p` (0..1) of the samples lie: the upper bound of the
  // bucket holding that sample. 0 when empty.
  uint64_t Percentile(double p) const;

  static size_t BucketOf(uint64_t value);
  // Largest value that falls in bucket b.
  static uint64_t BucketUpper(size_t b);

  // Calls f(bucket_upper, count) for every non-empty bucket, smallest first.
  template <typename F>
  void ForEachBucket(F&& f) const {
    for (size_t b = 0; b < kBuckets; ++b) {
      if (buckets_[b] != 0) f(BucketUpper(b), buckets_[b]);
    }
  }

  static constexpr int kSubBits = 4;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) << kSubBits;

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
};

}  // namespace meshq
