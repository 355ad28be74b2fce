// QueueStore::ListQueues: the catalogue in queue-id order (a queue's id is its position).
#include <algorithm>

#include "queue_store_impl.h"

namespace meshq {

Status QueueStoreImpl::ListQueues(uint64_t from, size_t max, std::vector<std::string>* names,
                                  uint64_t* next) {
  names->clear();
  *next = from;
  OpGuard guard(this);
  if (!guard.ok()) return Status::Closed("ListQueues on a closed store");
  const uint64_t limit = table_->id_limit();
  if (from >= limit) return Status::OK();
  const uint64_t end = from + std::min<uint64_t>(max, limit - from);
  for (uint64_t id = from; id < end; ++id) {
    // Null for an id a crash left unused, or one whose queue is being published right now.
    const Queue* q = table_->ById(static_cast<uint32_t>(id));
    if (q != nullptr) names->push_back(q->name);  // const once created: no queue lock
  }
  *next = end;
  return Status::OK();
}

}  // namespace meshq
