// A one-byte spin lock for per-queue and per-writer-slot critical sections, which are a few
// loads and stores long; a std::mutex per queue would cost 40 bytes times a million queues.
#pragma once

#include <atomic>
#include <thread>

namespace meshq {

class SpinLock {
 public:
  void lock() {
    for (int spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        // The holder may be descheduled (2 cores, dozens of threads): yield instead of burning.
        if (++spins > 64) std::this_thread::yield();
      }
    }
  }
  bool try_lock() { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace meshq
