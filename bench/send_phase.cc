// Send phase: the contest tester's producer loop, one global counter, puts serialized per queue.
#include <string>

#include "phase.h"
#include "phase_clock.h"
#include "phase_workers.h"
#include "progress_meter.h"
#include "queue_sequencer.h"

namespace meshq::bench {

PhaseResult RunSendPhase(const PhaseContext& context) {
  const Workload& workload = *context.workload;
  PhaseResult result;
  result.phase = Phase::kSend;
  QueueSequencer sequencer(workload.queues);
  std::atomic<uint64_t> counter{0};
  PhaseWorkers workers;
  context.store->BeginPhase(Phase::kSend);

  PhaseClock clock(&result);
  {
    ProgressMeter progress("send", "msgs", workload.messages, workers.done(), context.progress);
    workers.Run(context.threads, [&](int, LatencyHistogram* latency) {
      std::string message;
      uint64_t local_done = 0, local_bytes = 0;
      while (!workers.stopped()) {
        const uint64_t c = counter.fetch_add(1, std::memory_order_relaxed);
        if (c >= workload.messages) break;
        const uint32_t queue = static_cast<uint32_t>(c % workload.queues);
        const QueueName name(queue);
        const uint32_t offset = sequencer.Acquire(queue);
        context.generator->Generate(queue, offset, &message);
        Status s;
        if ((local_done & 15) == 0) {
          const uint64_t start = PhaseClock::NowNanos();
          s = context.store->Put(name.view(), message);
          latency->Record(PhaseClock::NowNanos() - start);
        } else {
          s = context.store->Put(name.view(), message);
        }
        sequencer.Release(queue);
        if (!s.ok()) {
          workers.Fail(Status::IOError("Put(" + std::string(name.view()) + ") at offset " +
                                       std::to_string(offset) + ": " + s.ToString()));
          break;
        }
        local_bytes += message.size();
        if ((++local_done & 1023) == 0) workers.AddDone(1024);
      }
      workers.AddDone(local_done & 1023);
      workers.AddTotals(local_done, local_done, local_bytes, 0);
    });
    if (workers.status().ok()) {
      Status s = context.store->Flush();
      if (!s.ok()) workers.Fail(Status::IOError("Flush after send: " + s.ToString()));
    }
  }
  clock.Finish();

  workers.Finish(&result);
  // The harness's own bookkeeping must agree with the workload's formula, or every later
  // verification would be against the wrong sizes.
  if (result.status.ok()) {
    for (uint32_t q = 0; q < workload.queues; ++q) {
      if (sequencer.Issued(q) != workload.QueueSize(q)) {
        result.status = Status::Corruption("harness: queue " + std::to_string(q) + " got " +
                                           std::to_string(sequencer.Issued(q)) + " puts, want " +
                                           std::to_string(workload.QueueSize(q)));
        break;
      }
    }
  }
  return result;
}

}  // namespace meshq::bench
