// PendingCalls: the calls a multiplexed connection has queued or sent, by request id, with the
// write batch that carries each one, so a broken connection can tell "never sent" (safe to retry
// elsewhere) from "sent, outcome unknown".
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "meshq/agent/call.h"

namespace meshq::agent {

class PendingCalls {
 public:
  void Add(uint64_t id, CallCallback done, uint64_t batch, Clock::time_point deadline) {
    calls_.emplace(id, Entry{std::move(done), batch, deadline});
  }
  // The callback of call `id`, removed; empty when unknown (it timed out earlier).
  CallCallback Take(uint64_t id) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return nullptr;
    CallCallback done = std::move(it->second.done);
    calls_.erase(it);
    return done;
  }
  // Answers kTimeout (with `reason`) to every call whose deadline is not after `now`.
  void Expire(Clock::time_point now, const std::string& reason);
  // Answers every call: kNotExecuted when its batch >= first_unsent_batch (it never reached the
  // socket), kLost otherwise. Callbacks may add calls to other connections (retries).
  void FailAll(uint64_t first_unsent_batch, const std::string& reason);

  size_t size() const { return calls_.size(); }
  bool empty() const { return calls_.empty(); }

 private:
  struct Entry {
    CallCallback done;
    uint64_t batch;
    Clock::time_point deadline;
  };
  std::unordered_map<uint64_t, Entry> calls_;
};

}  // namespace meshq::agent
