// LatencyModel: how long each simulated call takes (fixed, exponential or normal around a mean).
#pragma once

#include <chrono>
#include <random>
#include <string_view>

namespace meshq::provider_sim {

enum class LatencyDist { kFixed, kExponential, kNormal };

// Parses "fixed", "exp" or "normal"; false otherwise.
bool ParseLatencyDist(std::string_view name, LatencyDist* out);

class LatencyModel {
 public:
  // mean_ms >= 0; stddev_ms is used by kNormal only (samples are clamped at 0).
  LatencyModel(LatencyDist dist, double mean_ms, double stddev_ms)
      : dist_(dist), mean_ms_(mean_ms), stddev_ms_(stddev_ms) {}

  // One latency sample. Thread-safe: each thread draws from its own generator.
  std::chrono::microseconds Sample() const;

 private:
  LatencyDist dist_;
  double mean_ms_;
  double stddev_ms_;
};

}  // namespace meshq::provider_sim
