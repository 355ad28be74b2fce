// LatencyHistogram: buckets are contiguous and tight; percentiles land within a bucket's error.
#include "meshq/latency_histogram.h"

#include <gtest/gtest.h>

namespace meshq {
namespace {

TEST(LatencyHistogram, BucketsAreContiguousAndOrdered) {
  uint64_t previous_upper = 0;
  for (size_t b = 1; b < 900; ++b) {
    const uint64_t upper = LatencyHistogram::BucketUpper(b);
    ASSERT_GT(upper, previous_upper) << b;
    ASSERT_EQ(LatencyHistogram::BucketOf(upper), b);
    ASSERT_EQ(LatencyHistogram::BucketOf(previous_upper + 1), b);
    previous_upper = upper;
  }
  EXPECT_EQ(LatencyHistogram::BucketOf(UINT64_MAX),
            LatencyHistogram::BucketOf(
                LatencyHistogram::BucketUpper(LatencyHistogram::BucketOf(UINT64_MAX))));
}

TEST(LatencyHistogram, PercentilesWithinSixPercent) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 100000u);
  auto near = [](uint64_t got, double want) {
    EXPECT_GE(static_cast<double>(got), want) << want;
    EXPECT_LE(static_cast<double>(got), want * 1.07) << want;
  };
  near(h.Percentile(0.5), 50000);
  near(h.Percentile(0.99), 99000);
  near(h.Percentile(0.999), 99900);
}

TEST(LatencyHistogram, MergeAddsAndEmptyIsZero) {
  LatencyHistogram a, b;
  EXPECT_EQ(a.Percentile(0.5), 0u);
  a.Record(10);
  b.Record(1000000);
  b.Record(1000000);
  a.Merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.Percentile(0.2), 10u);
  EXPECT_GE(a.Percentile(0.99), 1000000u);
}

}  // namespace
}  // namespace meshq
