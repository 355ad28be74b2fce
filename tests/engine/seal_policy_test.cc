// SealPolicy: block sizes from the open-block budget, the stagger of first blocks, and a store
// whose open blocks stay within the budget while every message reads back.
#include "seal_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "meshq/queue_store.h"
#include "open_store.h"
#include "temp_dir.h"

namespace meshq {
namespace {

using testing::OpenStore;
using testing::TempDir;

TEST(SealPolicy, FullBlocksWhileTheQueuesFitTheBudgetThenSmallerDownToAUnit) {
  const SealPolicy p(8192, uint64_t{2} << 30);
  EXPECT_EQ(p.TargetBlockBytes(0), 8192u);
  EXPECT_EQ(p.TargetBlockBytes(100000), 8192u);     // 0.8 GB of full blocks fit
  EXPECT_EQ(p.TargetBlockBytes(1000000), 4096u);    // 2 x 2 GiB / 1M = 4.29 KB, in units
  EXPECT_EQ(p.TargetBlockBytes(3000000), 1024u);    // 1.43 KB
  EXPECT_EQ(p.TargetBlockBytes(100000000), 1024u);  // never below a unit
  EXPECT_EQ(p.FirstReadBytes(100000), 8192u);
  EXPECT_EQ(p.FirstReadBytes(3000000), 4096u);  // whole pages
}

TEST(SealPolicy, FirstBlocksAreStaggeredOnlyWhenTheBudgetBinds) {
  const SealPolicy p(8192, 64u << 20);
  std::vector<uint32_t> limits;
  for (uint32_t id = 0; id < 4096; ++id) {
    Queue q("q" + std::to_string(id), id, 0);
    // 4096 queues x 8 KiB = 32 MiB fit 64 MiB: every block full.
    EXPECT_EQ(p.PayloadLimit(q, 4096), 8192u - kBlockHeaderSize);
    // 65536 queues: target 2 KiB; a first block gets 1/8..8/8 of it.
    const uint32_t limit = p.PayloadLimit(q, 65536);
    EXPECT_GE(limit + kBlockHeaderSize, 256u);
    EXPECT_LE(limit, 2048u - kBlockHeaderSize);
    limits.push_back(limit + kBlockHeaderSize);
    q.stagger_next = false;
    EXPECT_EQ(p.PayloadLimit(q, 65536), 2048u - kBlockHeaderSize);
  }
  // Spread evenly over [256, 2048]: the queues' blocks fill out of step.
  int quarters[4] = {};
  for (uint32_t bytes : limits) quarters[std::min<uint32_t>(3, (bytes - 256) * 4 / (2048 - 256))]++;
  for (int n : quarters) {
    EXPECT_GT(n, 4096 / 4 * 8 / 10);
    EXPECT_LT(n, 4096 / 4 * 12 / 10);
  }
}

// Queues growing in lockstep under a budget that binds: blocks shrink to what it allows, the
// open blocks stay near it, a Flush frees them all, and every message reads back.
TEST(SealPolicy, StoreKeepsOpenBlocksNearTheBudgetAndReadsEverythingBack) {
  TempDir tmp;
  StoreOptions o;
  o.segment_count = 4;
  o.block_size = 8192;
  const int queues = 512;
  o.open_block_budget_bytes = 512 * 1024;  // target 2 x 512 KiB / 512 = 2 KiB blocks
  auto store = OpenStore(tmp.path(), o);
  ASSERT_NE(store, nullptr);
  auto msg = [](int q, int i) {
    return std::string(40 + (q + i) % 21, static_cast<char>('a' + q % 26)) + std::to_string(i);
  };
  const int per_queue = 200;  // ~10 KB a queue: several blocks each
  uint64_t peak_open = 0;
  for (int i = 0; i < per_queue; ++i) {
    for (int q = 0; q < queues; ++q) {
      ASSERT_TRUE(store->Put("q" + std::to_string(q), msg(q, i)).ok());
    }
    if (i % 5 == 0) peak_open = std::max(peak_open, store->GetStats().open_block_bytes);
  }
  // Full 8 KiB buffers would be 4 MiB; lockstep 2 KiB ones without the stagger 1 MiB.
  EXPECT_LE(peak_open, o.open_block_budget_bytes * 3 / 2);
  StoreStats st = store->GetStats();
  EXPECT_GE(st.blocks, uint64_t{queues} * per_queue * 50 / 4096);  // 8 KiB blocks: ~700
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(store->GetStats().open_block_bytes, 0u);
  for (int q = 0; q < queues; ++q) {
    MessageBatch out;
    ASSERT_TRUE(store->Get("q" + std::to_string(q), 0, per_queue + 1, &out).ok());
    ASSERT_EQ(out.size(), static_cast<size_t>(per_queue));
    for (int i = 0; i < per_queue; ++i) ASSERT_EQ(out[i], msg(q, i)) << q << " " << i;
  }
}

// A budget that allows full blocks: a queue's blocks are block_size, not smaller.
TEST(SealPolicy, AmpleBudgetSealsFullBlocks) {
  TempDir tmp;
  StoreOptions o;
  o.segment_count = 1;
  o.block_size = 8192;
  auto store = OpenStore(tmp.path(), o);
  ASSERT_NE(store, nullptr);
  const std::string m(50, 'x');
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(store->Put("one", m).ok());
  ASSERT_TRUE(store->Flush().ok());
  // 51 framed bytes a message, 159 a block: 6 full blocks and the rest.
  EXPECT_EQ(store->GetStats().blocks, 7u);
}

}  // namespace
}  // namespace meshq
