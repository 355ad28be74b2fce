// TopView: what `meshq top` shows for one /metrics endpoint, from two scrapes an interval apart.
// Pure (scrapes in, text out), so the figures are unit-tested without servers or terminals:
//   counters     the rate per second over the interval, one row per series
//   histograms   observations per second, and p50 / p99 estimated from the interval's bucket
//                deltas (linear within a bucket, as Prometheus's histogram_quantile does)
//   gauges       the current value (queue depths, connections, in-flight calls)
// The first view of an endpoint (no earlier scrape) shows counters and histograms since start.
#pragma once

#include <string>
#include <vector>

#include "metrics_text.h"

namespace meshq::cli {

struct TopRow {
  enum class Kind { kRate, kLatency, kGauge } kind;
  std::string series;       // name{labels}, the _bucket/_sum/_count suffix dropped for histograms
  double rate = 0;          // per second (counters, histogram observations)
  double p50 = 0, p99 = 0;  // histograms, in the metric's unit; NaN with no observation
  double value = 0;         // gauges
};

// The rows of one endpoint: counters, then histograms, then gauges, each in exposition order.
// `previous` may be null (first scrape); `seconds` is the time between the scrapes.
std::vector<TopRow> ComputeTopRows(const ScrapedMetrics* previous, const ScrapedMetrics& current,
                                   double seconds);

// The quantile `q` (0..1) of a histogram's cumulative bucket counts, given as (upper bound, count)
// ascending with +Inf last: linear interpolation inside the bucket holding it, the largest finite
// bound when it falls in +Inf, NaN when there is no observation.
double HistogramQuantile(double q, const std::vector<std::pair<double, double>>& cumulative);

struct TopEndpoint {
  std::string address;
  bool up = false;
  std::string error;  // why it is down
  std::vector<TopRow> rows;
};

// The whole screen as lines of text (no escapes): a header, then each endpoint's block; at most
// `width` characters a line (0: no limit).
std::vector<std::string> RenderTop(const std::vector<TopEndpoint>& endpoints,
                                   const std::string& header, size_t width);

// Number formatting of the view: 1234.5 -> "1.23k", seconds -> "850us" / "1.2ms" / "3.4s".
std::string FormatRate(double per_second);
std::string FormatSeconds(double seconds);
std::string FormatGauge(double value);

}  // namespace meshq::cli
