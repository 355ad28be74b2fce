// Committer: the broker's one thread that makes things durable. Requests for a Flush that arrive
// while one is running are answered together by the next one (group commit); with a linger, the
// thread also waits that long after the first request of a round for more to join it. A round
// also runs every `interval` to write changed consumer-group offsets.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "meshq/metrics.h"
#include "meshq/queue_store.h"
#include "meshq/status.h"

namespace meshq::bridge {

class Committer {
 public:
  using Done = std::function<void(Status)>;
  // What one round does: a Flush when requests wait for one (kSync when any of them wants it,
  // else kWrite); write_offsets when the changed group offsets are due (every `interval`, or a
  // request wants them written).
  using Round = std::function<Status(std::optional<FlushMode> flush, bool write_offsets)>;

  // `round_requests` and `round_seconds` (either may be null) get, for each round that answered
  // requests, how many and how long the round took.
  Committer(Round round, std::chrono::milliseconds interval,
            std::chrono::microseconds linger = std::chrono::microseconds(0),
            Histogram* round_requests = nullptr, Histogram* round_seconds = nullptr);
  ~Committer();

  // Calls `done` (on the committer thread) after a round whose Flush (of `mode` or stronger)
  // started after this call; with `offsets`, that round also writes the changed group offsets.
  void RequestFlush(Done done, FlushMode mode, bool offsets = false);
  // Answers pending requests, persists offsets one last time and joins the thread.
  void Stop();

  uint64_t flushes() const { return flushes_; }

 private:
  void Run();

  const Round round_;
  const std::chrono::milliseconds interval_;
  const std::chrono::microseconds linger_;
  Histogram* const round_requests_;
  Histogram* const round_seconds_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Done> waiting_;
  bool offsets_wanted_ = false;
  bool sync_wanted_ = false;
  bool stop_ = false;
  std::atomic<uint64_t> flushes_{0};
  std::thread thread_;
};

}  // namespace meshq::bridge
