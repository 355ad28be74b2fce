// Report: the final table on stdout and the same figures as JSON (--json).
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "bench_config.h"
#include "disk_limits.h"
#include "phase.h"
#include "reference_machine.h"

namespace meshq::bench {

// One store's run of the phases.
struct StoreRun {
  StoreKind store = StoreKind::kMeshq;
  std::vector<PhaseResult> phases;
  uint64_t data_bytes = 0;  // on disk after the run (du of its directory)
  uint64_t mismatches = 0;
  std::vector<std::string> mismatch_reports;
  Status status;      // open/close or store errors
  std::string fault;  // when a fault was injected on purpose: what
  // With --repeat: every run, while `phases` hold, per phase, the run with the median msgs/s,
  // and the score is the median of the runs' scores.
  std::vector<StoreRun> repetitions;
  double median_score = -1;

  uint64_t TotalMessages() const;
  double TotalSeconds() const;
  // The contest's score: messages of all phases / seconds of all phases.
  double Score() const;
  bool ok() const { return status.ok() && mismatches == 0; }
};

// With --reference-machine: the limits the run had and what it used of the memory.
struct ReferenceReport {
  ReferenceLimits limits;
  uint64_t peak_memory_bytes = 0;  // the cgroup's peak, page cache included
  uint64_t memory_limit_hits = 0;
};

// The best published run of the contest at its own scale (2e9 messages, 4 cores, 8 GB, a
// 200 MB/s SSD); docs/BENCHMARKS.md names the source. msgs/s per phase.
struct PublishedPhase {
  Phase phase;
  double messages;
  double seconds;
};
inline constexpr PublishedPhase kBestPublished[] = {{Phase::kSend, 2'000'000'009, 478},
                                                    {Phase::kCheck, 1'000'010, 107},
                                                    {Phase::kConsume, 200'000'000, 232}};

struct BenchReport {
  BenchConfig config;
  std::string command;                     // the command line that produced the figures
  double load_before = 0, load_after = 0;  // 1-minute load average: others sharing the CPUs
  std::string dir;
  bool memory_filesystem = false;
  std::optional<DiskLimits> limits;
  std::optional<ReferenceReport> reference;
  std::vector<StoreRun> runs;
};

// Folds repeated runs of one store into one: per phase the run with the median msgs/s, the
// median score, the median data size; mismatches summed, the first error kept. Requires
// !runs.empty().
StoreRun MedianRun(std::vector<StoreRun> runs);

// The phase's throughput as a fraction of the matching disk limit: send MB/s of sequential
// write, check Gets/s of 4 KiB random-read IOPS, consume MB/s of sequential read.
double LimitRatio(const PhaseResult& phase, const DiskLimits& limits);

// The 1-minute load average (/proc/loadavg), 0 when unknown.
double LoadAverage();

void PrintReport(const BenchReport& report, std::ostream& out);
boost::json::value ReportToJson(const BenchReport& report);

}  // namespace meshq::bench
