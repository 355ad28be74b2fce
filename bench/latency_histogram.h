// LatencyHistogram: log-linear buckets of nanoseconds (16 per power of two, so a percentile is
// within ~6% of the true value), one per thread, merged at the end of a phase.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace meshq::bench {

class LatencyHistogram {
 public:
  void Record(uint64_t nanos) {
    ++buckets_[BucketOf(nanos)];
    ++count_;
  }
  void Merge(const LatencyHistogram& other);
  uint64_t count() const { return count_; }
  // The latency below which a fraction `p` (0..1) of the samples lie: the upper bound of the
  // bucket holding that sample. 0 when empty.
  uint64_t Percentile(double p) const;

  static size_t BucketOf(uint64_t nanos);
  // Largest value that falls in bucket b.
  static uint64_t BucketUpper(size_t b);

 private:
  static constexpr int kSubBits = 4;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) << kSubBits;
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
};

}  // namespace meshq::bench
