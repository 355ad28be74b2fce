// Committer: the broker's one thread that makes things durable. Requests for a Flush that arrive
// while one is running are answered together by the next one (group commit), and dirty consumer-
// group offsets are written to the engine's metadata at most every `interval`.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "meshq/queue_store.h"

namespace meshq::bridge {

class Committer {
 public:
  using Done = std::function<void(Status)>;

  // `persist_offsets` writes dirty group offsets; it runs on the committer thread before each
  // Flush and every `interval`.
  Committer(QueueStore* store, std::function<Status()> persist_offsets,
            std::chrono::milliseconds interval);
  ~Committer();

  // Calls `done` (on the committer thread) after offsets are persisted and a Flush that started
  // after this call has returned.
  void RequestFlush(Done done);
  // Answers pending requests, persists offsets one last time and joins the thread.
  void Stop();

  uint64_t flushes() const { return flushes_; }

 private:
  void Run();

  QueueStore* const store_;
  const std::function<Status()> persist_offsets_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Done> waiting_;
  bool stop_ = false;
  std::atomic<uint64_t> flushes_{0};
  std::thread thread_;
};

}  // namespace meshq::bridge
