// Workload: the counts a phase needs up front (for progress, ETA and the final check).
#include "workload.h"

namespace meshq::bench {

uint64_t Workload::ConsumedMessages() const {
  uint64_t total = 0;
  for (uint32_t q = 0; q < queues; q += consume_stride) total += QueueSize(q);
  return total;
}

std::vector<uint32_t> Workload::ConsumeShare(int thread, int threads) const {
  std::vector<uint32_t> share;
  uint32_t index = 0;  // among the consumed queues
  for (uint32_t q = 0; q < queues; ++q) {
    if (!IsConsumed(q)) continue;
    if (index++ % static_cast<uint32_t>(threads) == static_cast<uint32_t>(thread)) {
      share.push_back(q);
    }
  }
  return share;
}

}  // namespace meshq::bench
