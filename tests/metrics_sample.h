// MetricSample: one value out of a Prometheus text exposition, for the tests of /metrics.
#pragma once

#include <cstdlib>
#include <string>

namespace meshq::testing {

// The value of the sample `series` (name and labels exactly as printed), or -1 when absent.
inline double MetricSample(const std::string& text, const std::string& series) {
  const std::string key = "\n" + series + " ";
  const size_t at = ("\n" + text).find(key);
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + key.size() - 1, nullptr);
}

}  // namespace meshq::testing
