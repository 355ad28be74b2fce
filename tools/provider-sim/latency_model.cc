// LatencyModel sampling with one generator per thread (no shared state on the call path).
#include "latency_model.h"

#include <algorithm>

namespace meshq::provider_sim {

bool ParseLatencyDist(std::string_view name, LatencyDist* out) {
  if (name == "fixed")
    *out = LatencyDist::kFixed;
  else if (name == "exp")
    *out = LatencyDist::kExponential;
  else if (name == "normal")
    *out = LatencyDist::kNormal;
  else
    return false;
  return true;
}

std::chrono::microseconds LatencyModel::Sample() const {
  thread_local std::mt19937_64 rng(std::random_device{}());
  double ms = mean_ms_;
  if (mean_ms_ > 0) {
    if (dist_ == LatencyDist::kExponential) {
      ms = std::exponential_distribution<double>(1.0 / mean_ms_)(rng);
    } else if (dist_ == LatencyDist::kNormal) {
      ms = std::max(0.0, std::normal_distribution<double>(mean_ms_, stddev_ms_)(rng));
    }
  }
  return std::chrono::microseconds(static_cast<long long>(ms * 1000.0));
}

}  // namespace meshq::provider_sim
