// Workload: the counts a phase needs up front (for progress, ETA and the final check).
#include "workload.h"

namespace meshq::bench {

uint64_t Workload::ConsumedMessages() const {
  uint64_t total = 0;
  for (uint32_t q = 0; q < queues; q += consume_stride) total += QueueSize(q);
  return total;
}

}  // namespace meshq::bench
