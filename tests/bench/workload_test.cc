// Workload: queue sizes match the counter % queues distribution; check offsets stay in range.
#include "workload.h"

#include <gtest/gtest.h>

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
