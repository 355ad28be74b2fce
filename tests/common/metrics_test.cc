// Counters, gauges and histograms: exact sums under concurrent updates (also from more threads
// than there are exclusive shards, and threads that come and go), and the text exposition.
#include "meshq/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "meshq/metrics_registry.h"

namespace meshq {
namespace {

TEST(Metrics, CounterAndGaugeCount) {
  Counter c;
  c.Inc();
  c.Inc(41);
  EXPECT_EQ(c.Value(), 42u);
  Gauge g;
  g.Inc();
  g.Add(5);
  g.Dec();
  g.Add(-10);
  EXPECT_EQ(g.Value(), -5);
}

// Every update counted exactly while a reader renders, with more threads than shards (so some
// share the last one) and threads that exit and hand their shard to the next.
TEST(Metrics, ConcurrentUpdatesSumExactly) {
  MetricsRegistry registry;
  Counter* c = registry.AddCounter("meshq_test_total", "t");
  Gauge* g = registry.AddGauge("meshq_test_level", "t");
  Histogram* h = registry.AddHistogram("meshq_test_seconds", "t", HistogramBuckets::Latency());
  const int threads = static_cast<int>(metrics_internal::shard_count()) + 4;
  constexpr int kRounds = 2;
  constexpr uint64_t kPerThread = 20000;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    uint64_t last = 0;
    while (!done.load()) {
      registry.Render();
      const uint64_t now = c->Value();
      EXPECT_GE(now, last);  // a counter never goes back
      last = now;
    }
  });
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t) {
      writers.emplace_back([&, t] {
        for (uint64_t i = 0; i < kPerThread; ++i) {
          c->Inc();
          g->Add(t % 2 == 0 ? 2 : -1);
          h->Observe(i % 2 == 0 ? 1000 : 2'000'000'000);  // 1 us, 2 s
        }
      });
    }
    for (auto& w : writers) w.join();
  }
  done = true;
  reader.join();
  const uint64_t total = kPerThread * threads * kRounds;
  EXPECT_EQ(c->Value(), total);
  const int64_t evens = (threads + 1) / 2, odds = threads / 2;
  EXPECT_EQ(g->Value(), static_cast<int64_t>(kPerThread * kRounds) * (2 * evens - odds));
  const Histogram::Snapshot s = h->Read();
  EXPECT_EQ(s.count, total);
  EXPECT_EQ(s.counts.front(), total / 2);               // <= 10 us
  EXPECT_EQ(s.counts[s.counts.size() - 4], total / 2);  // (1, 2.5] s
  EXPECT_DOUBLE_EQ(s.sum, (1e-6 + 2.0) * static_cast<double>(total / 2));
}

// Series added while another thread renders: each render lists a prefix of them.
TEST(Metrics, AddingWhileRendering) {
  MetricsRegistry registry;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) registry.Render();
  });
  for (int i = 0; i < 200; ++i) {
    const std::string n = std::to_string(i);
    registry.AddCounter("meshq_c_total", "c", {{"i", n}})->Inc();
    registry.AddCallbackGauge("meshq_g", "g", [i] { return i; }, {{"i", n}});
  }
  done = true;
  reader.join();
  const std::string text = registry.Render();
  EXPECT_NE(text.find("meshq_c_total{i=\"199\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("meshq_g{i=\"199\"} 199\n"), std::string::npos);
}

TEST(Metrics, HistogramBucketsIncludeTheirBound) {
  HistogramBuckets b;
  b.bounds = {1, 10};
  Histogram h(b);
  for (uint64_t v : {0, 1, 2, 10, 11, 1000}) h.Observe(v);
  const Histogram::Snapshot s = h.Read();
  ASSERT_EQ(s.counts.size(), 3u);
  EXPECT_EQ(s.counts[0], 2u);  // 0, 1
  EXPECT_EQ(s.counts[1], 2u);  // 2, 10
  EXPECT_EQ(s.counts[2], 2u);  // 11, 1000
  EXPECT_EQ(s.count, 6u);
  EXPECT_DOUBLE_EQ(s.sum, 1024);
}

TEST(Metrics, LatencyBucketsRecordNanosecondsAndExposeSeconds) {
  Histogram h(HistogramBuckets::Latency());
  h.Observe(10'000);  // exactly 10 us: the first bucket
  h.Observe(10'001);
  const Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.counts[0], 1u);
  EXPECT_EQ(s.counts[1], 1u);
  EXPECT_DOUBLE_EQ(s.sum, 20'001e-9);
}

TEST(MetricsExposition, RendersFormat004) {
  MetricsRegistry registry;
  Counter* frames =
      registry.AddCounter("meshq_frames_total", "Frames\\read\nin.", {{"type", "put"}});
  registry.AddCounter("meshq_frames_total", "ignored", {{"type", "get"}})->Inc(2);
  frames->Inc(7);
  registry.AddGauge("meshq_open", "Open things.")->Add(-3);
  int hooks = 0;
  registry.AddScrapeHook([&] { ++hooks; });
  registry.AddCallbackGauge("meshq_hooked", "Reads what the hook set.", [&] { return hooks * 0.5; },
                            {{"path", "a\"b\\c\nd"}});
  HistogramBuckets b;
  b.bounds = {0.001, 0.5};
  b.per_unit = 1e9;
  Histogram* h = registry.AddHistogram("meshq_wait_seconds", "Waits.", b, {{"op", "x"}});
  h->Observe(1'000'000);      // 1 ms: in le=0.001
  h->Observe(3'000'000'000);  // 3 s: only in +Inf
  registry.AddCallbackFamily(MetricType::kCounter, "meshq_dyn_total", "Dynamic.",
                             [](std::vector<MetricSample>* out) {
                               out->push_back({{{"endpoint", "e1"}}, 4});
                               out->push_back({{{"endpoint", "e2"}}, 1.25});
                             });
  EXPECT_EQ(registry.Render(),
            "# HELP meshq_frames_total Frames\\\\read\\nin.\n"
            "# TYPE meshq_frames_total counter\n"
            "meshq_frames_total{type=\"put\"} 7\n"
            "meshq_frames_total{type=\"get\"} 2\n"
            "# HELP meshq_open Open things.\n"
            "# TYPE meshq_open gauge\n"
            "meshq_open -3\n"
            "# HELP meshq_hooked Reads what the hook set.\n"
            "# TYPE meshq_hooked gauge\n"
            "meshq_hooked{path=\"a\\\"b\\\\c\\nd\"} 0.5\n"
            "# HELP meshq_wait_seconds Waits.\n"
            "# TYPE meshq_wait_seconds histogram\n"
            "meshq_wait_seconds_bucket{op=\"x\",le=\"0.001\"} 1\n"
            "meshq_wait_seconds_bucket{op=\"x\",le=\"0.5\"} 1\n"
            "meshq_wait_seconds_bucket{op=\"x\",le=\"+Inf\"} 2\n"
            "meshq_wait_seconds_sum{op=\"x\"} 3.001\n"
            "meshq_wait_seconds_count{op=\"x\"} 2\n"
            "# HELP meshq_dyn_total Dynamic.\n"
            "# TYPE meshq_dyn_total counter\n"
            "meshq_dyn_total{endpoint=\"e1\"} 4\n"
            "meshq_dyn_total{endpoint=\"e2\"} 1.25\n");
  EXPECT_EQ(hooks, 1);
}

TEST(MetricsExposition, FormatsValues) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(-42), "-42");
  EXPECT_EQ(FormatMetricValue(1e15), "1000000000000000");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(2.5e-5), "2.5e-05");
  EXPECT_EQ(FormatMetricValue(1e300), "1e+300");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(MetricsExposition, LatencyBoundsPrintAsWritten) {
  MetricsRegistry registry;
  registry.AddHistogram("meshq_l_seconds", "l", HistogramBuckets::Latency());
  const std::string text = registry.Render();
  for (const char* le : {"le=\"1e-05\"", "le=\"2.5e-05\"", "le=\"0.0005\"", "le=\"0.025\"",
                         "le=\"2.5\"", "le=\"10\"", "le=\"+Inf\""}) {
    EXPECT_NE(text.find(le), std::string::npos) << le << " in\n" << text;
  }
}

using MetricsMisuseDeathTest = ::testing::Test;

TEST_F(MetricsMisuseDeathTest, RefusesBadNamesAndTwins) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MetricsRegistry registry;
  registry.AddCounter("meshq_a_total", "a", {{"k", "v"}});
  EXPECT_DEATH(registry.AddCounter("meshq_a", "a"), "ends in _total");
  EXPECT_DEATH(registry.AddGauge("9lives", "a"), "not a valid metric name");
  EXPECT_DEATH(registry.AddCounter("meshq_a_total", "a", {{"k", "v"}}), "series added twice");
  EXPECT_DEATH(registry.AddGauge("meshq_a_total", "a"), "another type");
  EXPECT_DEATH(
      registry.AddHistogram("meshq_h_seconds", "h", HistogramBuckets::Bytes(), {{"le", "1"}}),
      "label le");
  EXPECT_DEATH(registry.AddGauge("meshq_g", "g", {{"__x", "1"}}), "label name");
}

}  // namespace
}  // namespace meshq
