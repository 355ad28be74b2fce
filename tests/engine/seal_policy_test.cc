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

TEST(SealPolicy, KeepsOpenBuffersOnlyWhileTheQueuesFitTheBudgetAtFullBlocks) {
  const SealPolicy p(8192, uint64_t{3} << 29);  // the defaults: 8 KiB, 1.5 GiB
  EXPECT_TRUE(p.KeepsOpenBuffers(0));
  EXPECT_TRUE(p.KeepsOpenBuffers(100000));  // the default profile: 0.8 GB kept
  EXPECT_TRUE(p.KeepsOpenBuffers(196608));  // exactly 1.5 GiB
  EXPECT_FALSE(p.KeepsOpenBuffers(196609));
  EXPECT_FALSE(p.KeepsOpenBuffers(1000000));
  // Keeping agrees with full blocks: a kept buffer is never larger than what a block may hold.
  for (uint32_t queues : {1u, 196608u, 196609u, 1000000u}) {
    EXPECT_EQ(p.KeepsOpenBuffers(queues), p.TargetBlockBytes(queues) == 8192u &&
                                              uint64_t{queues} * 8192 <= (uint64_t{3} << 29));
  }
}

TEST(SealPolicy, KeptBuffersDoubleToTheLimitFreedOnesGrowInSteps) {
  const SealPolicy p(8192, 1u << 20);  // 128 queues fit at full size
  const uint32_t full = 8192 - kBlockHeaderSize;
  // Kept (100 queues): 256, then doubling, then the limit.
  EXPECT_EQ(p.GrownCapacity(0, 51, full, 100), 256u);
  EXPECT_EQ(p.GrownCapacity(256, 257, full, 100), 512u);
  EXPECT_EQ(p.GrownCapacity(512, 1500, full, 100), 1500u);  // a large message: at least `need`
  EXPECT_EQ(p.GrownCapacity(4096, 4097, full, 100), full);  // 8192 capped at the payload limit
  size_t cap = 0;
  int growths = 0;
  for (size_t len = 51; len <= full; len += 51) {
    if (len > cap) {
      cap = p.GrownCapacity(cap, len, full, 100);
      growths++;
    }
  }
  EXPECT_EQ(growths, 6);  // 256 512 1K 2K 4K full: a handful of reallocs a queue's life
  // Freed (1000 queues, target 2 KiB): `need` in whole steps of 256 bytes, capped by the limit.
  const uint32_t limit = p.TargetBlockBytes(1000) - kBlockHeaderSize;
  ASSERT_EQ(limit, 2048u - kBlockHeaderSize);
  EXPECT_EQ(p.GrownCapacity(0, 51, limit, 1000), 256u);
  EXPECT_EQ(p.GrownCapacity(256, 257, limit, 1000), 512u);
  EXPECT_EQ(p.GrownCapacity(512, 600, limit, 1000), 768u);  // a step, not a doubling
  EXPECT_EQ(p.GrownCapacity(1792, 1900, limit, 1000), limit);
  EXPECT_EQ(p.GrownCapacity(0, 5000, limit, 1000), 5000u);  // one message over the limit alone
}

// While the queues fit, a queue's buffer is allocated once at full size and kept through its
// seals and a Flush: the store's open-block bytes stay at that size Put after Put. With a budget
// that binds, the same Puts free the buffer at each seal.
TEST(SealPolicy, AmpleBudgetKeepsTheOpenBufferThroughSealsAndFlushes) {
  for (const bool ample : {true, false}) {
    SCOPED_TRACE(ample ? "ample budget" : "budget binds");
    TempDir tmp;
    StoreOptions o;
    o.segment_count = 1;
    o.block_size = 8192;
    o.open_block_budget_bytes = ample ? 8192 : 4096;  // one queue at full size: fits, or not
    auto store = OpenStore(tmp.path(), o);
    ASSERT_NE(store, nullptr);
    const std::string m(50, 'x');
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(store->Put("one", m).ok());  // past 8 KiB
    const uint64_t first = store->GetStats().open_block_bytes;
    int changed = 0;
    for (int i = 0; i < 2000; ++i) {
      if (i == 1000) {
        ASSERT_TRUE(store->Flush().ok());
      }
      ASSERT_TRUE(store->Put("one", m).ok());
      changed += store->GetStats().open_block_bytes != first;
    }
    if (ample) {
      EXPECT_EQ(first, 8192u - kBlockHeaderSize);
      EXPECT_EQ(changed, 0);
    } else {
      EXPECT_GT(changed, 2000 / 2);
    }
    EXPECT_GE(store->GetStats().blocks, 2200u * 51 / 8192);
    MessageBatch out;
    ASSERT_TRUE(store->Get("one", 0, 3000, &out).ok());
    EXPECT_EQ(out.size(), 2200u);
  }
}

// A kept buffer of a queue written before the store crossed the budget is freed at its next
// seal, after which the queue's blocks are the budget's smaller ones.
TEST(SealPolicy, KeptBufferIsFreedAtItsFirstSealPastTheBudget) {
  TempDir tmp;
  StoreOptions o;
  o.segment_count = 1;
  o.block_size = 8192;
  o.open_block_budget_bytes = 4 * 8192;  // 4 queues fit
  auto store = OpenStore(tmp.path(), o);
  ASSERT_NE(store, nullptr);
  const std::string m(50, 'x');
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(store->Put("big", m).ok());
  ASSERT_EQ(store->GetStats().open_block_bytes, 8192u - kBlockHeaderSize);
  // 64 queues: the target is 2 x 32 KiB / 64 = 1 KiB. One message each: at most a step of 256
  // bytes (less when its staggered first block is smaller).
  for (int q = 0; q < 63; ++q) ASSERT_TRUE(store->Put("q" + std::to_string(q), m).ok());
  const uint64_t small = store->GetStats().open_block_bytes - (8192u - kBlockHeaderSize);
  EXPECT_LE(small, 63u * 256);
  // "big" holds 40 messages: 120 more fill its kept buffer, the 121st seals it (full size) and
  // starts a buffer of one step.
  const uint64_t blocks = store->GetStats().blocks;
  for (int i = 0; i < 121; ++i) ASSERT_TRUE(store->Put("big", m).ok());
  EXPECT_EQ(store->GetStats().blocks, blocks + 1);
  EXPECT_EQ(store->GetStats().open_block_bytes, small + 256);
  // From then on its blocks are the budget's: 1 KiB, ~19 messages each.
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(store->Put("big", m).ok());
  EXPECT_GE(store->GetStats().blocks, blocks + 1 + 100 / 20);
  EXPECT_LE(store->GetStats().open_block_bytes, small + 1024);
  MessageBatch out;
  ASSERT_TRUE(store->Get("big", 0, 1000, &out).ok());
  ASSERT_EQ(out.size(), 421u);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], m);
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
