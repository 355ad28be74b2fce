// Committer: the broker's one thread that makes things durable. Requests for a Flush that arrive
// while one is running are answered together by the next one (group commit); with a linger, the
// thread also waits that long after the first request of a round for more to join it. A round
// also runs every `interval` to write changed consumer-group offsets.
//
// Under load the rounds are paced: after a busy round (one that answered kBusyRound requests or
// more, or had requests waiting when it ended, or came while rounds of two or more answered
// kBusyRound requests a pace over the last kLoadWindow paces) the next starts no sooner than
// `pace` after the busy one started. Run back to back, the rounds per second would follow what a
// round costs at the moment (the CPU left by other work, the disk), and with them the blocks the
// store seals (each round's Flush seals one per queue written): a time-based retention, which keeps
// the retention's worth of blocks, would then grow and shrink with the machine's load. Paced, the
// rounds per second are bounded by the load the broker carries. A producer that waits for each
// acknowledgement makes rounds of one with nothing waiting: it is never paced.
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
  // `pace` zero: never paced.
  Committer(Round round, std::chrono::milliseconds interval,
            std::chrono::microseconds linger = std::chrono::microseconds(0),
            Histogram* round_requests = nullptr, Histogram* round_seconds = nullptr,
            std::chrono::microseconds pace = std::chrono::microseconds(0));
  ~Committer();

  // Calls `done` (on the committer thread) after a round whose Flush (of `mode` or stronger)
  // started after this call; with `offsets`, that round also writes the changed group offsets.
  void RequestFlush(Done done, FlushMode mode, bool offsets = false);
  // Answers pending requests, persists offsets one last time and joins the thread.
  void Stop();

  // Rounds that answered requests.
  uint64_t flushes() const { return flushes_; }
  // Rounds whose start the pace delayed.
  uint64_t paced_rounds() const { return paced_rounds_; }

  // A round answering this many requests is busy (the next one is paced), and so is any round
  // while this many a pace were answered over the last kLoadWindow paces.
  static constexpr size_t kBusyRound = 8;
  static constexpr int kLoadWindow = 8;

 private:
  void Run();

  const Round round_;
  const std::chrono::milliseconds interval_;
  const std::chrono::microseconds linger_;
  const std::chrono::microseconds pace_;
  Histogram* const round_requests_;
  Histogram* const round_seconds_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Done> waiting_;
  bool offsets_wanted_ = false;
  bool sync_wanted_ = false;
  bool stop_ = false;
  std::atomic<uint64_t> flushes_{0};
  std::atomic<uint64_t> paced_rounds_{0};
  std::thread thread_;
};

}  // namespace meshq::bridge
