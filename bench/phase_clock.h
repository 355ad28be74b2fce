// PhaseClock: the measurements common to every phase (time, peak RSS, bytes written), taken
// around the phase's body.
#pragma once

#include <chrono>
#include <cstdint>

#include "phase.h"

namespace meshq::bench {

class PhaseClock {
 public:
  explicit PhaseClock(PhaseResult* result);
  // Fills seconds, CPU seconds, peak RSS and bytes written into the result.
  void Finish();
  // User + system CPU seconds this process has used so far.
  static double ProcessCpuSeconds();
  // Nanoseconds on a monotonic clock, for per-operation latency.
  static uint64_t NowNanos() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }

 private:
  PhaseResult* result_;
  uint64_t write_bytes_start_;
  double cpu_start_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace meshq::bench
