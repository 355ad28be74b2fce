// Hop stats: periods are disjoint and complete (also while other threads record), and the report
// line carries percentiles and mergeable buckets.
#include "meshq/bridge/hop_stats.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace meshq::bridge {
namespace {

TEST(HopHistogram, TakeReturnsThePeriodAndStartsANewOne) {
  HopHistogram h;
  for (uint64_t us = 1; us <= 1000; ++us) h.Record(us);
  LatencyHistogram first = h.Take();
  EXPECT_EQ(first.count(), 1000u);
  EXPECT_GE(first.Percentile(0.5), 500u);
  EXPECT_LE(first.Percentile(0.5), 500u * 107 / 100);
  EXPECT_EQ(h.Take().count(), 0u);
  h.Record(7);
  EXPECT_EQ(h.Take().count(), 1u);
}

TEST(HopHistogram, NoSampleIsLostOrCountedTwiceWhileRecordersRun) {
  HopHistogram h;
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 200'000;
  std::atomic<bool> stop{false};
  uint64_t taken = 0;
  std::thread taker([&] {
    while (!stop.load()) taken += h.Take().count();
  });
  std::vector<std::thread> recorders;
  for (int t = 0; t < kThreads; ++t) {
    recorders.emplace_back([&h, t] {
      for (uint64_t i = 0; i < kPerThread; ++i) h.Record(i % 5000 + static_cast<uint64_t>(t));
    });
  }
  for (auto& r : recorders) r.join();
  stop = true;
  taker.join();
  taken += h.Take().count();
  EXPECT_EQ(taken, kThreads * kPerThread);
}

TEST(FormatHop, LineHasCountPercentilesAndEveryBucket) {
  LatencyHistogram h;
  h.Record(3);
  h.Record(3);
  h.Record(100);
  const std::string line = FormatHop("request", h);
  EXPECT_EQ(line.rfind("hop request count=3 p50_us=3 ", 0), 0u) << line;
  EXPECT_NE(line.find(" p99_us=" + std::to_string(LatencyHistogram::BucketUpper(
                                       LatencyHistogram::BucketOf(100)))),
            std::string::npos)
      << line;
  const std::string buckets =
      "buckets=3:2," +
      std::to_string(LatencyHistogram::BucketUpper(LatencyHistogram::BucketOf(100))) + ":1";
  EXPECT_EQ(line.substr(line.size() - buckets.size()), buckets) << line;
  EXPECT_EQ(FormatHop("reply", LatencyHistogram()),
            "hop reply count=0 p50_us=0 p90_us=0 p99_us=0 p999_us=0 buckets=");
}

}  // namespace
}  // namespace meshq::bridge
