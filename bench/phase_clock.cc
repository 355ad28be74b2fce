// PhaseClock: /proc figures before and after a phase.
#include "phase_clock.h"

#include "process_stats.h"

namespace meshq::bench {

PhaseClock::PhaseClock(PhaseResult* result)
    : result_(result),
      write_bytes_start_((result->peak_rss_own = ResetPeakRss(), StorageWriteBytes())),
      start_(std::chrono::steady_clock::now()) {}

void PhaseClock::Finish() {
  result_->seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  result_->peak_rss_bytes = PeakRssBytes();
  result_->disk_write_bytes = StorageWriteBytes() - write_bytes_start_;
}

}  // namespace meshq::bench
