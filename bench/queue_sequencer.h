// QueueSequencer: the send phase's per-queue ordering. The contest's tester draws a global
// counter and puts into queue counter % queues from any thread, so two threads can race on one
// queue; it serializes them with a lock per queue and takes the message's number inside it. The
// harness does the same: Acquire locks the queue and hands out its next offset, the Put happens
// under the lock, Release unlocks. So the order of puts into a queue is exactly its offset order
// and every message can be verified as the pure function of (seed, queue, offset).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace meshq::bench {

class QueueSequencer {
 public:
  explicit QueueSequencer(uint32_t queues) : slots_(new Slot[queues]) {}

  // Locks `queue` and returns the offset its next Put will get, advancing it. Sleeps (futex)
  // while another thread holds the queue, so a holder blocked in Put costs no spinning.
  // Three states (0 free, 1 held, 2 held and maybe waited on) so that Release only makes the
  // futex wake-up system call when someone may be asleep: an uncontended lock and unlock are
  // two atomic instructions. (notify_one on every Release would be a system call per message.)
  uint32_t Acquire(uint32_t queue) {
    Slot& s = slots_[queue];
    uint32_t free = 0;
    if (!s.lock.compare_exchange_strong(free, 1, std::memory_order_acquire)) {
      while (s.lock.exchange(2, std::memory_order_acquire) != 0) {
        s.lock.wait(2, std::memory_order_relaxed);
      }
    }
    return s.next++;
  }
  void Release(uint32_t queue) {
    Slot& s = slots_[queue];
    if (s.lock.exchange(0, std::memory_order_release) == 2) s.lock.notify_one();
  }
  // Offsets handed out for `queue` so far. Only meaningful when no thread holds it.
  uint32_t Issued(uint32_t queue) const { return slots_[queue].next; }

 private:
  // 8 bytes per queue: 8 MB at the contest's million queues.
  struct Slot {
    std::atomic<uint32_t> lock{0};
    uint32_t next = 0;
  };
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace meshq::bench
