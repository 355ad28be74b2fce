// Committer pacing: a committer kept busy by a stream of requests starts its rounds at least a
// pace apart, a producer waiting for each acknowledgement is never paced, and without a pace a
// busy committer runs its rounds back to back (the control that shows the stream is busy).
#include "committer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace meshq::bridge {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Records when each round that flushed started.
struct RoundLog {
  std::mutex mu;
  std::vector<Clock::time_point> starts;
  Committer::Round Round() {
    return [this](std::optional<FlushMode> flush, bool) {
      if (flush) {
        std::lock_guard lock(mu);
        starts.push_back(Clock::now());
      }
      return Status::OK();
    };
  }
};

// Keeps 64 requests outstanding for `length`: every round finds a crowd waiting. Each answer
// sends the next request from the committer's own thread before the round ends, so the crowd
// does not depend on a producer thread getting the CPU (a loaded CI machine starved one, and
// its rounds of one or two were rightly not paced).
void Crowd(Committer& c, std::chrono::milliseconds length) {
  std::atomic<int> outstanding{64};
  const auto until = Clock::now() + length;
  std::function<void(Status)> again = [&](Status) {
    if (Clock::now() < until) return c.RequestFlush(again, FlushMode::kWrite);
    --outstanding;
  };
  for (int i = 0; i < 64; ++i) c.RequestFlush(again, FlushMode::kWrite);
  while (outstanding.load() > 0) std::this_thread::sleep_for(1ms);
}

// The starts of the rounds of a committer with `pace` under a 300 ms crowd; *paced gets how many
// the pace delayed.
std::vector<Clock::time_point> CrowdRounds(std::chrono::microseconds pace, uint64_t* paced) {
  RoundLog log;
  {
    Committer c(log.Round(), 1h, 0us, nullptr, nullptr, pace);
    Crowd(c, 300ms);
    *paced = c.paced_rounds();
  }
  std::lock_guard lock(log.mu);
  return log.starts;
}

TEST(Committer, ABusyCommitterStartsItsRoundsAPaceApart) {
  uint64_t paced = 0;
  const auto starts = CrowdRounds(20ms, &paced);
  EXPECT_GT(paced, 0u);
  ASSERT_GE(starts.size(), 3u);
  // 300 ms at one round per 20 ms, plus the last answers.
  EXPECT_LE(starts.size(), 20u);
  // From the third on, every round follows a busy one (the crowd refills while one is paced);
  // the start is logged a little after the committer took it.
  for (size_t i = 3; i < starts.size(); ++i) {
    EXPECT_GE(starts[i] - starts[i - 1], 18ms) << "round " << i;
  }
}

TEST(Committer, WithoutAPaceABusyCommitterRunsBackToBack) {
  uint64_t paced = 0;
  EXPECT_GT(CrowdRounds(0us, &paced).size(), 50u);  // far more than the paced committer's 15
  EXPECT_EQ(paced, 0u);
}

TEST(Committer, AProducerWaitingForEachAcknowledgementIsNeverPaced) {
  RoundLog log;
  Committer c(log.Round(), 1h, 0us, nullptr, nullptr, 50ms);
  const auto start = Clock::now();
  for (int i = 0; i < 100; ++i) {
    std::promise<Status> done;
    auto answered = done.get_future();
    c.RequestFlush([&done](Status s) { done.set_value(s); }, FlushMode::kWrite);
    ASSERT_TRUE(answered.get().ok());
  }
  // Paced, 100 rounds would take 5 s.
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_EQ(c.paced_rounds(), 0u);
  EXPECT_EQ(c.flushes(), 100u);
}

}  // namespace
}  // namespace meshq::bridge
