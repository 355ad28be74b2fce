// The three phases in-process over both stores: exact counts, zero mismatches; and the same
// run over a store that damages one answer fails verification.
#include "phase.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "fault_injecting_store.h"
#include "queue_sequencer.h"
#include "temp_dir.h"

namespace meshq::bench {
namespace {

struct PhaseRuns {
  PhaseResult send, check, consume;
  uint64_t mismatches = 0;
};

PhaseRuns RunAll(BenchStore* store, const Workload& workload, int threads) {
  const MessageGenerator generator(3, 40, 60);
  Verifier verifier(&generator, 10, false);
  PhaseContext context;
  context.store = store;
  context.workload = &workload;
  context.generator = &generator;
  context.verifier = &verifier;
  context.threads = threads;
  context.progress = false;
  PhaseRuns run;
  run.send = RunSendPhase(context);
  run.check = RunCheckPhase(context);
  run.consume = RunConsumePhase(context);
  run.mismatches = verifier.mismatches();
  return run;
}

class PhasesTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  TempDir dir_;
};

TEST_P(PhasesTest, EveryMessageVerifiedAndCounted) {
  std::unique_ptr<BenchStore> store;
  ASSERT_TRUE(OpenBenchStore(GetParam(), dir_.path(), &store).ok());
  Workload workload;
  workload.queues = 97;  // not a divisor of the message count: uneven queue sizes
  workload.messages = 20011;
  // 8 threads over 97 queues: racing puts to one queue are common.
  const PhaseRuns run = RunAll(store.get(), workload, 8);
  EXPECT_TRUE(run.send.status.ok()) << run.send.status.ToString();
  EXPECT_EQ(run.send.messages, workload.messages);
  EXPECT_TRUE(run.check.status.ok());
  EXPECT_EQ(run.check.operations, workload.CheckGets());
  EXPECT_GT(run.check.messages, 0u);
  EXPECT_TRUE(run.consume.status.ok());
  EXPECT_EQ(run.consume.messages, workload.ConsumedMessages());
  EXPECT_EQ(run.mismatches, 0u);
  EXPECT_GT(run.check.latency.count(), 0u);
  EXPECT_TRUE(store->Close().ok());
}

TEST_P(PhasesTest, DamagedAnswerIsCaught) {
  std::unique_ptr<BenchStore> inner;
  ASSERT_TRUE(OpenBenchStore(GetParam(), dir_.path(), &inner).ok());
  FaultInjectingStore store(std::move(inner), FaultKind::kFlipByte, 5);
  Workload workload;
  workload.queues = 50;
  workload.messages = 5000;
  const PhaseRuns run = RunAll(&store, workload, 4);
  EXPECT_TRUE(store.injected());
  EXPECT_EQ(run.mismatches, 1u);
  EXPECT_EQ(run.check.mismatches + run.consume.mismatches, 1u);
}

INSTANTIATE_TEST_SUITE_P(Stores, PhasesTest,
                         ::testing::Values(StoreKind::kMeshq, StoreKind::kRocksdb),
                         [](const auto& param_info) {
                           return std::string(StoreKindName(param_info.param));
                         });

TEST(QueueSequencer, OffsetsFollowTheOrderOfCriticalSections) {
  // Threads racing on 3 queues record (offset) in the order they hold each queue: the recorded
  // order must be 0, 1, 2, ... exactly, which is what makes send-phase content verifiable.
  constexpr uint32_t kQueues = 3;
  QueueSequencer sequencer(kQueues);
  std::vector<std::vector<uint32_t>> order(kQueues);
  std::atomic<uint64_t> counter{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (uint64_t c; (c = counter.fetch_add(1)) < 30000;) {
        const uint32_t q = static_cast<uint32_t>(c % kQueues);
        const uint32_t offset = sequencer.Acquire(q);
        order[q].push_back(offset);
        sequencer.Release(q);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (uint32_t q = 0; q < kQueues; ++q) {
    ASSERT_EQ(order[q].size(), 10000u);
    EXPECT_EQ(sequencer.Issued(q), 10000u);
    for (uint32_t i = 0; i < order[q].size(); ++i) ASSERT_EQ(order[q][i], i);
  }
}

}  // namespace
}  // namespace meshq::bench
