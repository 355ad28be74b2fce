// PhaseClock: /proc figures before and after a phase.
#include "phase_clock.h"

#include <sys/resource.h>

#include "process_stats.h"

namespace meshq::bench {

PhaseClock::PhaseClock(PhaseResult* result)
    : result_(result),
      write_bytes_start_((result->peak_rss_own = ResetPeakRss(), StorageWriteBytes())),
      cpu_start_(ProcessCpuSeconds()),
      start_(std::chrono::steady_clock::now()) {}

double PhaseClock::ProcessCpuSeconds() {
  struct rusage usage;
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void PhaseClock::Finish() {
  result_->seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  result_->cpu_seconds = ProcessCpuSeconds() - cpu_start_;
  result_->peak_rss_bytes = PeakRssBytes();
  result_->disk_write_bytes = StorageWriteBytes() - write_bytes_start_;
}

}  // namespace meshq::bench
