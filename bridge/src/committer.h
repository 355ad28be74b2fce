// Committer: the broker's one thread that makes things durable. Requests for a Flush that arrive
// while one is running are answered together by the next one (group commit); a round also runs
// every `interval` to write changed consumer-group offsets.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "meshq/status.h"

namespace meshq::bridge {

class Committer {
 public:
  using Done = std::function<void(Status)>;

  // `round(flush)` does the work of one round on the committer thread: flush is true when
  // requests are waiting for a Flush.
  Committer(std::function<Status(bool flush)> round, std::chrono::milliseconds interval);
  ~Committer();

  // Calls `done` (on the committer thread) after a round whose Flush started after this call.
  void RequestFlush(Done done);
  // Answers pending requests, persists offsets one last time and joins the thread.
  void Stop();

  uint64_t flushes() const { return flushes_; }

 private:
  void Run();

  const std::function<Status(bool)> round_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Done> waiting_;
  bool stop_ = false;
  std::atomic<uint64_t> flushes_{0};
  std::thread thread_;
};

}  // namespace meshq::bridge
