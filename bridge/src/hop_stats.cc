// Hop stats: per-thread bucket counters, a period's samples by difference, one-line report.
#include "meshq/bridge/hop_stats.h"

namespace meshq::bridge {

LatencyHistogram HopHistogram::Take() {
  LatencyHistogram h;
  std::lock_guard lock(take_mu_);
  for (size_t b = 0; b < taken_.size(); ++b) {
    // The sums only grow: a sample recorded concurrently lands in this period or the next.
    const uint64_t sum = cells_.Sum(b);
    if (sum != taken_[b]) h.Add(b, sum - taken_[b]);
    taken_[b] = sum;
  }
  return h;
}

ProcessHopStats& HopStats() {
  static ProcessHopStats stats;
  return stats;
}

std::string FormatHop(std::string_view name, const LatencyHistogram& h) {
  std::string out = "hop " + std::string(name) + " count=" + std::to_string(h.count());
  static constexpr std::pair<const char*, double> kPercentiles[] = {
      {"p50_us", 0.5}, {"p90_us", 0.9}, {"p99_us", 0.99}, {"p999_us", 0.999}};
  for (const auto& [label, p] : kPercentiles) {
    out += " " + std::string(label) + "=" + std::to_string(h.Percentile(p));
  }
  out += " buckets=";
  bool first = true;
  h.ForEachBucket([&](uint64_t upper, uint64_t n) {
    if (!first) out += ",";
    first = false;
    out += std::to_string(upper) + ":" + std::to_string(n);
  });
  return out;
}

}  // namespace meshq::bridge
