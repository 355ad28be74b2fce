// Retention marks and the cut they allow.
#include "retention.h"

#include <algorithm>

namespace meshq::bridge {

void RetainedQueue::Mark(uint64_t size, SteadyTime now, std::chrono::milliseconds gap) {
  const auto& last = marks_.back();
  if (size <= last.offset) return;
  last_write_ = std::max(last_write_, last.at);  // it grew since the last mark
  if (now - last.at < gap * 3 / 4) return;
  marks_.push_back({size, now, bytes_});
  if (marks_.size() <= kMaxMarks) return;
  // Coarser, not shorter: the oldest mark (the next trim point) and the newest stay.
  std::vector<SizeMark> kept;
  kept.reserve(kMaxMarks);
  const size_t half = marks_.size() / 2;
  for (size_t i = 0; i < marks_.size(); ++i) {
    if (i >= half || i % 2 == 0) kept.push_back(marks_[i]);
  }
  marks_.swap(kept);
}

uint64_t RetainedQueue::Cut(const RetentionPolicy& policy, SteadyTime now,
                            SteadyTime not_after) const {
  uint64_t cut = 0;
  for (const auto& m : marks_) {
    if (m.at > not_after) break;
    const bool aged = policy.age.count() > 0 && m.at <= now - policy.age;
    // Everything from this mark on is at least the retention's bytes: what is before it goes.
    const bool beyond_bytes = policy.bytes > 0 && bytes_ - m.bytes >= policy.bytes;
    if (!aged && !beyond_bytes) {
      // Later marks are younger and have fewer bytes after them: no rule lets them go either.
      break;
    }
    cut = m.offset;
  }
  return cut;
}

void RetainedQueue::Trimmed(uint64_t offset) {
  size_t drop = 0;
  while (drop + 1 < marks_.size() && marks_[drop + 1].offset <= offset) ++drop;
  marks_.erase(marks_.begin(), marks_.begin() + static_cast<std::ptrdiff_t>(drop));
}

}  // namespace meshq::bridge
