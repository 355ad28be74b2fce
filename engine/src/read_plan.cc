// Planning a round of a Get (see read_plan.h).
#include "read_plan.h"

#include <algorithm>

namespace meshq {

void PlanRead(Queue* q, uint64_t pos, uint64_t want, uint32_t read_ahead_blocks,
              std::string* open_copy, ReadPlan* plan) {
  plan->nblocks = 0;
  plan->nprefetch = 0;
  plan->open_part = false;
  if (pos >= q->sealed_end) {
    plan->open_part = true;
    plan->open_first = q->sealed_end;
    plan->open_count = q->open_count;
    open_copy->assign(q->open_buf, q->open_len);
    return;
  }
  const BlockList& blocks = q->blocks;
  const uint64_t want_end = pos + want;
  size_t i = FindBlock(blocks, pos, blocks.origin());
  plan->first_index = i;
  for (; i < blocks.size() && plan->nblocks < ReadPlan::kMaxBlocks &&
         blocks[i].first_offset < want_end;
       ++i) {
    plan->blocks[plan->nblocks++] = blocks[i];
  }
  // Read-ahead: a reader that will finish the last block it reads walks forward next.
  const size_t next = i;
  const bool walks_on = next < blocks.size() && blocks[next].first_offset <= want_end;
  if (read_ahead_blocks > 0 && walks_on) {
    const size_t from = std::max<size_t>(next, q->prefetched);
    const size_t to = std::min<size_t>(
        next + std::min<uint32_t>(read_ahead_blocks, ReadPlan::kMaxPrefetch), blocks.size());
    for (size_t j = from; j < to; ++j) plan->prefetch[plan->nprefetch++] = blocks[j];
    if (to > q->prefetched) q->prefetched = static_cast<uint32_t>(to);
  }
}

}  // namespace meshq
