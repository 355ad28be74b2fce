// LatencyHistogram: bucket b < 16 holds exactly b; above, the top 5 significant bits pick it.
#include "meshq/latency_histogram.h"

#include <bit>
#include <cmath>

namespace meshq {

size_t LatencyHistogram::BucketOf(uint64_t value) {
  constexpr uint64_t kSub = 1u << kSubBits;
  if (value < kSub) return static_cast<size_t>(value);
  const int shift = std::bit_width(value) - 1 - kSubBits;  // >= 0
  return static_cast<size_t>((shift + 1) << kSubBits) + ((value >> shift) - kSub);
}

uint64_t LatencyHistogram::BucketUpper(size_t b) {
  constexpr uint64_t kSub = 1u << kSubBits;
  if (b < kSub) return b;
  const int shift = static_cast<int>(b >> kSubBits) - 1;
  const uint64_t mantissa = kSub + (b & (kSub - 1));
  if (shift + kSubBits + 1 >= 64 && mantissa == 2 * kSub - 1) return UINT64_MAX;
  return ((mantissa + 1) << shift) - 1;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
}

uint64_t LatencyHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(p * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return BucketUpper(i);
  }
  return BucketUpper(kBuckets - 1);
}

}  // namespace meshq
