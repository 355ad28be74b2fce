// Sweeper: retention rounds and posted work on one background thread.
#include "sweeper.h"

#include <pthread.h>

namespace meshq::bridge {

Sweeper::Sweeper(std::function<void()> round, std::chrono::milliseconds interval)
    : round_(std::move(round)), interval_(interval) {
  thread_ = std::thread([this] { Run(); });
}

Sweeper::~Sweeper() { Stop(); }

void Sweeper::Post(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    if (!stop_) {
      posted_.push_back(std::move(work));
      cv_.notify_one();
      return;
    }
  }
  work();
}

void Sweeper::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void Sweeper::Run() {
  pthread_setname_np(pthread_self(), "meshq-sweep");  // for top -H, perf and /proc
  using Clock = std::chrono::steady_clock;
  const bool rounds = interval_.count() > 0;
  auto next_round = Clock::now() + interval_;
  for (;;) {
    std::vector<std::function<void()>> work;
    bool stopping;
    {
      std::unique_lock lock(mu_);
      auto ready = [this] { return stop_ || !posted_.empty(); };
      if (rounds) {
        cv_.wait_until(lock, next_round, ready);
      } else {
        cv_.wait(lock, ready);
      }
      work.swap(posted_);
      stopping = stop_;
    }
    for (auto& w : work) w();
    if (stopping) return;
    if (rounds && Clock::now() >= next_round) {
      round_();
      next_round = Clock::now() + interval_;
    }
  }
}

}  // namespace meshq::bridge
