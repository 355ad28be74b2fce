// Index-check phase: the contest tester's random Gets near a random position of a random queue.
#include <algorithm>
#include <random>
#include <string>

#include "phase.h"
#include "phase_clock.h"
#include "phase_workers.h"
#include "progress_meter.h"

namespace meshq::bench {

PhaseResult RunCheckPhase(const PhaseContext& context) {
  const Workload& workload = *context.workload;
  PhaseResult result;
  result.phase = Phase::kCheck;
  const uint64_t gets = workload.CheckGets();
  std::atomic<uint64_t> counter{0};
  PhaseWorkers workers;
  context.store->BeginPhase(Phase::kCheck);

  PhaseClock clock(&result);
  {
    // Progress counts Gets here: the message total is not known until they return.
    ProgressMeter progress("check", "gets", gets, workers.done(), context.progress);
    workers.Run(context.threads, [&](int thread, LatencyHistogram* latency) {
      std::mt19937_64 rng(context.seed * 0x9e3779b97f4a7c15ull + 7919 * (thread + 1));
      MessageBatch batch;
      uint64_t local_messages = 0, local_bytes = 0, local_bad = 0, local_done = 0;
      while (!workers.stopped() && counter.fetch_add(1, std::memory_order_relaxed) < gets) {
        const uint32_t queue = static_cast<uint32_t>(rng() % workload.queues);
        const uint64_t size = workload.QueueSize(queue);
        const uint64_t offset = workload.CheckOffset(size, rng());
        const uint64_t expected = std::min<uint64_t>(workload.check_count, size - offset);
        const QueueName name(queue);
        const uint64_t start = PhaseClock::NowNanos();
        Status s = context.store->Get(name.view(), offset, workload.check_count, &batch);
        latency->Record(PhaseClock::NowNanos() - start);
        if (!s.ok()) {
          workers.Fail(Status::IOError("Get(" + std::string(name.view()) + ", " +
                                       std::to_string(offset) + "): " + s.ToString()));
          break;
        }
        local_bad += context.verifier->CheckBatch(queue, offset, expected, batch);
        local_messages += batch.size();
        local_bytes += batch.bytes();
        if ((++local_done & 255) == 0) workers.AddDone(256);
      }
      workers.AddDone(local_done & 255);
      workers.AddTotals(local_messages, local_done, local_bytes, local_bad);
    });
  }
  clock.Finish();

  workers.Finish(&result);
  return result;
}

}  // namespace meshq::bench
