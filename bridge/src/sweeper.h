// Sweeper: the broker's thread for work that must stay off the io threads: a retention round
// every `interval` (trimming what the retention policy lets go, a bounded amount per round), and
// the STATS snapshots, whose walk over every queue of the store would stall the connections of
// an io thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace meshq::bridge {

class Sweeper {
 public:
  // `round` runs every `interval` (never when `interval` is zero).
  Sweeper(std::function<void()> round, std::chrono::milliseconds interval);
  ~Sweeper();
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

  // Runs `work` on the sweeper's thread soon (before the next round when one is due later).
  // Thread-safe. After Stop, `work` runs on the caller's thread.
  void Post(std::function<void()> work);
  // Joins the thread; work posted before runs first.
  void Stop();

 private:
  void Run();

  const std::function<void()> round_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::function<void()>> posted_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace meshq::bridge
