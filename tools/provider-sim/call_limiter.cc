// CallLimiter: a counting semaphore with a FIFO of waiting continuations.
#include "call_limiter.h"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace meshq::provider_sim {

void CallLimiter::Acquire(boost::asio::any_io_executor ex, std::function<void()> start) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_ >= capacity_) {
      waiting_.emplace_back(std::move(ex), std::move(start));
      max_waiting_ = std::max(max_waiting_, waiting_.size());
      return;
    }
    ++running_;
    max_running_ = std::max(max_running_, running_);
  }
  start();
}

void CallLimiter::Release() {
  std::pair<boost::asio::any_io_executor, std::function<void()>> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (waiting_.empty()) {
      --running_;
      return;
    }
    // The slot passes straight to the oldest waiter: running_ is unchanged.
    next = std::move(waiting_.front());
    waiting_.pop_front();
  }
  boost::asio::post(next.first, std::move(next.second));
}

std::size_t CallLimiter::max_running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_running_;
}

std::size_t CallLimiter::max_waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_waiting_;
}

}  // namespace meshq::provider_sim
