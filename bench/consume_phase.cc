// Consume phase: 20% of the queues read from offset 0 to the end, each thread interleaving its
// own queues (the contest tester's access pattern: many readers, each on many queues at once).
#include <algorithm>
#include <string>
#include <vector>

#include "phase.h"
#include "phase_clock.h"
#include "phase_workers.h"
#include "progress_meter.h"

namespace meshq::bench {

PhaseResult RunConsumePhase(const PhaseContext& context) {
  const Workload& workload = *context.workload;
  PhaseResult result;
  result.phase = Phase::kConsume;
  PhaseWorkers workers;
  context.store->BeginPhase(Phase::kConsume);

  PhaseClock clock(&result);
  {
    ProgressMeter progress("consume", "msgs", workload.ConsumedMessages(), workers.done(),
                           context.progress);
    workers.Run(context.threads, [&](int thread, LatencyHistogram* latency) {
      struct Cursor {
        uint32_t queue;
        uint64_t position;
        uint64_t size;
      };
      std::vector<Cursor> cursors;
      for (uint32_t q : workload.ConsumeShare(thread, context.threads)) {
        cursors.push_back({q, 0, workload.QueueSize(q)});
      }
      MessageBatch batch;
      uint64_t local_messages = 0, local_bytes = 0, local_gets = 0, local_bad = 0;
      const uint64_t want = workload.consume_batch;
      while (!cursors.empty() && !workers.stopped()) {
        // One round: one Get per unfinished queue; finished ones are dropped in place.
        size_t kept = 0;
        for (size_t i = 0; i < cursors.size() && !workers.stopped(); ++i) {
          Cursor c = cursors[i];
          const QueueName name(c.queue);
          const uint64_t start = PhaseClock::NowNanos();
          Status s = context.store->Get(name.view(), c.position, want, &batch);
          latency->Record(PhaseClock::NowNanos() - start);
          ++local_gets;
          if (!s.ok()) {
            workers.Fail(Status::IOError("Get(" + std::string(name.view()) + ", " +
                                         std::to_string(c.position) + "): " + s.ToString()));
            break;
          }
          const uint64_t expected = c.size > c.position ? std::min(want, c.size - c.position) : 0;
          local_bad += context.verifier->CheckBatch(c.queue, c.position, expected, batch);
          local_bytes += batch.bytes();
          workers.AddDone(batch.size());
          local_messages += batch.size();
          c.position += batch.size();
          // The contest's end condition (a Get returning fewer than asked, so a queue whose size is
          // a multiple of the batch ends with an empty Get); a store returning too much stops
          // just past the known end.
          if (batch.size() >= want && c.position <= c.size) cursors[kept++] = c;
        }
        cursors.resize(std::min(kept, cursors.size()));
        if (workers.stopped()) break;
      }
      workers.AddTotals(local_messages, local_gets, local_bytes, local_bad);
    });
  }
  clock.Finish();

  workers.Finish(&result);
  return result;
}

}  // namespace meshq::bench
