// CallLimiter: at most `capacity` simulated calls execute at once; the rest wait in FIFO order,
// which is how a Dubbo provider with a fixed thread pool and an unbounded queue behaves.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <utility>

namespace meshq::provider_sim {

class CallLimiter {
 public:
  explicit CallLimiter(std::size_t capacity) : capacity_(capacity ? capacity : 1) {}

  // Runs `start` when a slot is free: right away on the calling thread, or later posted to `ex`
  // (the caller's connection executor), in arrival order. Each started call must Release() once.
  // Thread-safe.
  void Acquire(boost::asio::any_io_executor ex, std::function<void()> start);
  void Release();

  // The most calls that ever executed at once (never above capacity), and the most that waited.
  std::size_t max_running() const;
  std::size_t max_waiting() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::size_t running_ = 0;
  std::size_t max_running_ = 0;
  std::size_t max_waiting_ = 0;
  std::deque<std::pair<boost::asio::any_io_executor, std::function<void()>>> waiting_;
};

}  // namespace meshq::provider_sim
