// TopView: rates over the interval, p50/p99 from the interval's bucket deltas, gauges as they
// are, counters that never moved left out, and a layout with one block per endpoint.
#include "top_view.h"

#include <gtest/gtest.h>

#include <cmath>

namespace meshq::cli {
namespace {

ScrapedMetrics Parse(const std::string& text) {
  ScrapedMetrics m;
  EXPECT_TRUE(ParseMetricsText(text, &m).ok()) << text;
  return m;
}

std::string Scrape(int puts, int fast, int slow, int queues) {
  return "# TYPE meshq_puts_total counter\n"
         "meshq_puts_total{op=\"put\"} " +
         std::to_string(puts) +
         "\n"
         "meshq_errors_total 0\n"
         "# TYPE meshq_put_duration_seconds histogram\n"
         "meshq_put_duration_seconds_bucket{le=\"0.001\"} " +
         std::to_string(fast) +
         "\n"
         "meshq_put_duration_seconds_bucket{le=\"0.01\"} " +
         std::to_string(fast + slow) +
         "\n"
         "meshq_put_duration_seconds_bucket{le=\"+Inf\"} " +
         std::to_string(fast + slow) +
         "\n"
         "meshq_put_duration_seconds_sum 1\n"
         "meshq_put_duration_seconds_count " +
         std::to_string(fast + slow) +
         "\n"
         "# TYPE meshq_queues gauge\n"
         "meshq_queues " +
         std::to_string(queues) + "\n";
}

TEST(TopView, RatesLatenciesAndGaugesOverTheInterval) {
  const ScrapedMetrics before = Parse(Scrape(100, 50, 0, 3));
  const ScrapedMetrics after = Parse(Scrape(300, 150, 100, 7));
  const std::vector<TopRow> rows = ComputeTopRows(&before, after, 2.0);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].kind, TopRow::Kind::kRate);
  EXPECT_EQ(rows[0].series, "meshq_puts_total{op=put}");
  EXPECT_DOUBLE_EQ(rows[0].rate, 100);  // (300 - 100) / 2 s; meshq_errors_total never moved
  EXPECT_EQ(rows[1].kind, TopRow::Kind::kLatency);
  EXPECT_EQ(rows[1].series, "meshq_put_duration_seconds");
  EXPECT_DOUBLE_EQ(rows[1].rate, 100);  // 200 observations in 2 s
  // The interval's 200: 100 under 1 ms, 100 in (1 ms, 10 ms].
  EXPECT_NEAR(rows[1].p50, 0.001, 1e-12);
  EXPECT_NEAR(rows[1].p99, 0.001 + 0.009 * 98.0 / 100.0, 1e-12);
  EXPECT_EQ(rows[2].kind, TopRow::Kind::kGauge);
  EXPECT_EQ(rows[2].value, 7);
}

TEST(TopView, AFirstScrapeHasNoRatesAndARestartIsNotNegative) {
  const ScrapedMetrics first = Parse(Scrape(100, 50, 0, 3));
  std::vector<TopRow> rows = ComputeTopRows(nullptr, first, 0);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(std::isnan(rows[0].rate));
  EXPECT_NEAR(rows[1].p50, 0.0005, 1e-12) << "since start: 50 under 1 ms";
  const ScrapedMetrics restarted = Parse(Scrape(10, 5, 0, 3));
  rows = ComputeTopRows(&first, restarted, 1.0);
  EXPECT_DOUBLE_EQ(rows[0].rate, 10);
  EXPECT_DOUBLE_EQ(rows[1].rate, 5);
}

TEST(TopView, QuantilesInterpolateAndStopAtTheLastFiniteBound) {
  const double inf = INFINITY;
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, {})));
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, {{1, 0}, {inf, 0}})));
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, {{1, 10}, {inf, 10}}), 0.5);
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, {{1, 0}, {3, 10}, {inf, 10}}), 2);
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.99, {{1, 5}, {inf, 10}}), 1) << "in +Inf";
}

TEST(TopView, TheScreenHasABlockPerEndpointAndDownOnesSayWhy) {
  const ScrapedMetrics before = Parse(Scrape(100, 50, 0, 3));
  const ScrapedMetrics after = Parse(Scrape(300, 150, 100, 7));
  std::vector<TopEndpoint> endpoints(2);
  endpoints[0].address = "127.0.0.1:9401";
  endpoints[0].up = true;
  endpoints[0].rows = ComputeTopRows(&before, after, 2.0);
  endpoints[1].address = "127.0.0.1:9";
  endpoints[1].error = "connect: Connection refused";
  const std::vector<std::string> lines = RenderTop(endpoints, "meshq top", 0);
  std::string all;
  for (const std::string& l : lines) all += l + "\n";
  EXPECT_EQ(lines[0], "meshq top");
  EXPECT_NE(all.find("127.0.0.1:9401  up\n"), std::string::npos) << all;
  EXPECT_NE(all.find("meshq_puts_total{op=put}"), std::string::npos) << all;
  EXPECT_NE(all.find("100"), std::string::npos) << all;
  EXPECT_NE(all.find("1.0ms"), std::string::npos) << all;
  EXPECT_NE(all.find("9.8ms"), std::string::npos) << all;
  EXPECT_NE(all.find("127.0.0.1:9  DOWN  connect: Connection refused"), std::string::npos) << all;
  for (const std::string& l : RenderTop(endpoints, "meshq top", 20)) EXPECT_LE(l.size(), 20u);
}

TEST(TopView, NumbersAreShort) {
  EXPECT_EQ(FormatRate(0), "0");
  EXPECT_EQ(FormatRate(2.5), "2.5");
  EXPECT_EQ(FormatRate(1234), "1234");
  EXPECT_EQ(FormatRate(45678), "45.7k");
  EXPECT_EQ(FormatRate(3.2e6), "3.20M");
  EXPECT_EQ(FormatRate(NAN), "-");
  EXPECT_EQ(FormatSeconds(0.000250), "250us");
  EXPECT_EQ(FormatSeconds(0.0123), "12.3ms");
  EXPECT_EQ(FormatSeconds(2.5), "2.50s");
  EXPECT_EQ(FormatGauge(42), "42");
  EXPECT_EQ(FormatGauge(0.125), "0.125");
}

}  // namespace
}  // namespace meshq::cli
