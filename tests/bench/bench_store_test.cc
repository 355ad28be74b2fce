// BenchStore contract, the same for meshq and the RocksDB peer: put order, range reads, the
// empty answers, and reopen.
#include "bench_store.h"

#include <gtest/gtest.h>

#include <string>

#include "temp_dir.h"

namespace meshq::bench {
namespace {

class BenchStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  std::unique_ptr<BenchStore> Open() {
    std::unique_ptr<BenchStore> store;
    Status s = OpenBenchStore(GetParam(), dir_.path() + "/store", &store);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return store;
  }
  static std::string Message(int queue, int i) {
    return "q" + std::to_string(queue) + "-m" + std::to_string(i) + std::string(i % 7, '\0');
  }
  TempDir dir_;
};

TEST_P(BenchStoreTest, ReadsBackInPutOrder) {
  auto store = Open();
  ASSERT_TRUE(store);
  store->BeginPhase(Phase::kSend);
  for (int i = 0; i < 100; ++i) {
    for (int q = 0; q < 3; ++q) {
      ASSERT_TRUE(store->Put("queue-" + std::to_string(q), Message(q, i)).ok());
    }
  }
  ASSERT_TRUE(store->Flush().ok());
  store->BeginPhase(Phase::kConsume);
  MessageBatch batch;
  for (int q = 0; q < 3; ++q) {
    ASSERT_TRUE(store->Get("queue-" + std::to_string(q), 37, 10, &batch).ok());
    ASSERT_EQ(batch.size(), 10u);
    EXPECT_EQ(batch.first_offset(), 37u);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(batch[i], Message(q, 37 + i));
  }
  ASSERT_TRUE(store->Get("queue-1", 95, 10, &batch).ok());
  EXPECT_EQ(batch.size(), 5u);  // cut at the end
  ASSERT_TRUE(store->Get("queue-1", 100, 10, &batch).ok());
  EXPECT_TRUE(batch.empty());
  ASSERT_TRUE(store->Get("queue-1", 5, 0, &batch).ok());
  EXPECT_TRUE(batch.empty());
  ASSERT_TRUE(store->Get("never-written", 0, 10, &batch).ok());
  EXPECT_TRUE(batch.empty());
  EXPECT_TRUE(store->Close().ok());
}

TEST_P(BenchStoreTest, ReopenServesEverythingAndAppendsAfterIt) {
  {
    auto store = Open();
    ASSERT_TRUE(store);
    store->BeginPhase(Phase::kSend);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(store->Put("a", Message(0, i)).ok());
    ASSERT_TRUE(store->Flush().ok());
    ASSERT_TRUE(store->Close().ok());
  }
  auto store = Open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put("a", Message(0, 50)).ok());
  MessageBatch batch;
  ASSERT_TRUE(store->Get("a", 45, 100, &batch).ok());
  ASSERT_EQ(batch.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(batch[i], Message(0, 45 + i));
}

INSTANTIATE_TEST_SUITE_P(Stores, BenchStoreTest,
                         ::testing::Values(StoreKind::kMeshq, StoreKind::kRocksdb),
                         [](const auto& param_info) {
                           return std::string(StoreKindName(param_info.param));
                         });

}  // namespace
}  // namespace meshq::bench
