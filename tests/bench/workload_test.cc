// Workload: queue sizes match the counter % queues distribution; check offsets stay in range.
#include "workload.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace meshq::bench {
namespace {

TEST(Workload, QueueSizesAreWhatCounterModQueuesProduces) {
  Workload w;
  w.queues = 7;
  w.messages = 52;
  std::vector<uint64_t> counted(w.queues);
  for (uint64_t c = 0; c < w.messages; ++c) ++counted[c % w.queues];
  uint64_t total = 0;
  for (uint32_t q = 0; q < w.queues; ++q) {
    EXPECT_EQ(w.QueueSize(q), counted[q]) << q;
    total += w.QueueSize(q);
  }
  EXPECT_EQ(total, w.messages);
}

TEST(Workload, ConsumeCoversAFifthOfTheQueues) {
  Workload w;
  w.queues = 100;
  w.messages = 1050;
  EXPECT_EQ(w.ConsumedQueues(), 20u);
  uint64_t sum = 0;
  for (uint32_t q = 0; q < w.queues; ++q) {
    if (w.IsConsumed(q)) sum += w.QueueSize(q);
  }
  EXPECT_EQ(w.ConsumedMessages(), sum);
}

// The consume phase reads each thread's ConsumeShare: together they must be every consumed queue
// once, each share in queue order and about equally long.
TEST(Workload, ConsumeSharesPartitionTheConsumedQueues) {
  Workload w;
  w.queues = 103;
  w.consume_stride = 5;
  for (int threads : {1, 3, 7, 30}) {
    std::vector<int> seen(w.queues, 0);
    size_t shortest = w.queues, longest = 0;
    for (int t = 0; t < threads; ++t) {
      const std::vector<uint32_t> share = w.ConsumeShare(t, threads);
      for (size_t i = 0; i < share.size(); ++i) {
        ASSERT_LT(share[i], w.queues);
        ++seen[share[i]];
        if (i > 0) {
          EXPECT_LT(share[i - 1], share[i]) << "thread " << t;
        }
      }
      shortest = std::min(shortest, share.size());
      longest = std::max(longest, share.size());
    }
    uint32_t consumed = 0;
    for (uint32_t q = 0; q < w.queues; ++q) {
      EXPECT_EQ(seen[q], w.IsConsumed(q) ? 1 : 0) << "queue " << q << ", " << threads << " threads";
      consumed += w.IsConsumed(q) ? 1 : 0;
    }
    EXPECT_EQ(consumed, w.ConsumedQueues());
    EXPECT_LE(longest - shortest, 1u) << threads << " threads";
  }
}

TEST(Workload, CheckOffsetIsTheContestsFormula) {
  Workload w;
  EXPECT_EQ(w.CheckOffset(0, 12345), 0u);   // empty queue
  EXPECT_EQ(w.CheckOffset(5, 4), 0u);       // max(0, 4 - 10)
  EXPECT_EQ(w.CheckOffset(100, 57), 47u);   // 57 - 10
  EXPECT_EQ(w.CheckOffset(100, 157), 47u);  // random(size) is random % size
  for (uint64_t r = 0; r < 1000; ++r) EXPECT_LT(w.CheckOffset(100, r), 100u);
  w.queues = 1000;
  EXPECT_EQ(w.CheckGets(), 1500u);
}

TEST(QueueName, IsTheContestsName) {
  EXPECT_EQ(QueueName(0).view(), "Queue-0");
  EXPECT_EQ(QueueName(4294967295u).view(), "Queue-4294967295");
}

}  // namespace
}  // namespace meshq::bench
