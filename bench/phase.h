// The three phases of the workload and what each one measured.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "bench_store.h"
#include "meshq/latency_histogram.h"
#include "meshq/status.h"
#include "message_generator.h"
#include "reference_machine.h"
#include "verifier.h"
#include "workload.h"

namespace meshq::bench {

struct PhaseResult {
  Phase phase = Phase::kSend;
  uint64_t messages = 0;       // messages put (send) or returned and verified (check, consume)
  uint64_t operations = 0;     // Puts or Gets
  uint64_t payload_bytes = 0;  // message bytes put or returned
  double seconds = 0;          // send includes the final Flush
  double cpu_seconds = 0;      // user + system CPU of the whole process during the phase
  // Put latency (sampled, 1 in 16) for send; every Get for check and consume.
  LatencyHistogram latency;
  uint64_t peak_rss_bytes = 0;
  bool peak_rss_own = false;      // false: the peak could not be reset, it covers earlier phases
  uint64_t disk_write_bytes = 0;  // /proc/self/io write_bytes during the phase
  // With --reference-machine: the cgroup's I/O to the data disk during the phase.
  std::optional<DeviceIo> device_io;
  uint64_t mismatches = 0;     // verifier problems found in this phase
  std::string cache = "warm";  // or how the page cache was dropped before the phase
  Status status;               // first store error, if any

  double MessagesPerSecond() const { return seconds > 0 ? messages / seconds : 0; }
  double MegabytesPerSecond() const { return seconds > 0 ? payload_bytes / seconds / 1e6 : 0; }
};

struct PhaseContext {
  BenchStore* store = nullptr;
  const Workload* workload = nullptr;
  const MessageGenerator* generator = nullptr;
  Verifier* verifier = nullptr;
  int threads = 24;
  uint64_t seed = 1;
  bool progress = true;  // the stderr progress line
};

// Send: threads draw c from one counter and put message (c % queues, next offset) — see
// QueueSequencer — then Flush. Checks afterwards that every queue got exactly QueueSize().
PhaseResult RunSendPhase(const PhaseContext& context);
// Index check: CheckGets() times Get(random queue, max(0, random(size) - 10), 10), verified.
PhaseResult RunCheckPhase(const PhaseContext& context);
// Consume: every thread round-robins Get(queue, position, consume_batch) over its own share of
// the consumed queues until each returns fewer than asked; everything verified.
PhaseResult RunConsumePhase(const PhaseContext& context);

}  // namespace meshq::bench
