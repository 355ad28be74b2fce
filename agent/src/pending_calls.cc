// PendingCalls: expiry and failure fan-out. Callbacks run after the map is updated, because they
// may re-enter the owning connection.
#include "pending_calls.h"

#include <vector>

namespace meshq::agent {

void PendingCalls::Expire(Clock::time_point now, const std::string& reason) {
  // A handful of calls per connection: a scan per tick is cheaper than a timer per call.
  std::vector<CallCallback> expired;
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (it->second.deadline <= now) {
      expired.push_back(std::move(it->second.done));
      it = calls_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& done : expired) done(CallResult::Error(CallStatus::kTimeout, reason));
}

void PendingCalls::FailAll(uint64_t first_unsent_batch, const std::string& reason) {
  auto calls = std::move(calls_);
  calls_.clear();
  for (auto& [id, e] : calls) {
    if (e.batch >= first_unsent_batch) {
      e.done(CallResult::Error(CallStatus::kNotExecuted, reason + " (call not sent)"));
    } else {
      e.done(CallResult::Error(CallStatus::kLost, reason + " (after the call was sent)"));
    }
  }
}

}  // namespace meshq::agent
