// ReadCache: forward readers are served from one kept block per queue. What is checked: every
// access pattern still returns exactly the stored messages (interleaved consumers, random reads,
// a budget that fits only some queues, writers sealing blocks while a consumer reads), and the
// cache is really used and released (StoreStats::read_cache_bytes).
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "meshq/queue_store.h"
#include "open_store.h"
#include "temp_dir.h"

namespace meshq {
namespace {

using testing::TempDir;

std::string Name(int q) { return "rc-" + std::to_string(q); }

// Message `i` of queue `q`: 20..90 bytes, distinct per (q, i).
std::string Message(int q, uint64_t i) {
  std::string m = std::to_string(q) + ":" + std::to_string(i) + ":";
  m.resize(20 + (q * 7 + i * 13) % 71, static_cast<char>('a' + (q + i) % 26));
  return m;
}

std::unique_ptr<QueueStore> Open(const std::string& dir, uint64_t cache_bytes) {
  StoreOptions o;
  o.read_cache_bytes = cache_bytes;
  return testing::OpenStore(dir, o);
}

void Fill(QueueStore* store, int queues, uint64_t per_queue) {
  for (uint64_t i = 0; i < per_queue; ++i) {
    for (int q = 0; q < queues; ++q) ASSERT_TRUE(store->Put(Name(q), Message(q, i)).ok());
  }
}

// Consumers round-robin Gets of `batch` over their queues until each is read to the end.
void ConsumeInterleaved(QueueStore* store, int queues, uint64_t per_queue, uint64_t batch) {
  std::vector<uint64_t> pos(queues, 0);
  MessageBatch out;
  for (bool progress = true; progress;) {
    progress = false;
    for (int q = 0; q < queues; ++q) {
      if (pos[q] >= per_queue) continue;
      ASSERT_TRUE(store->Get(Name(q), pos[q], batch, &out).ok());
      ASSERT_EQ(out.size(), std::min(batch, per_queue - pos[q])) << Name(q) << " at " << pos[q];
      for (size_t k = 0; k < out.size(); ++k) {
        ASSERT_EQ(out[k], Message(q, pos[q] + k)) << Name(q) << " at " << pos[q] + k;
      }
      pos[q] += out.size();
      progress = true;
    }
  }
}

TEST(ReadCache, InterleavedConsumersReadEverythingWithAndWithoutRoom) {
  // 64 queues of ~5 blocks each; budgets: off, room for a few queues, room for all.
  for (uint64_t budget : {uint64_t{0}, uint64_t{3 * 4096}, uint64_t{64} << 20}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    TempDir tmp;
    auto store = Open(tmp.path(), budget);
    Fill(store.get(), 64, 300);
    ASSERT_TRUE(store->Flush().ok());
    for (uint64_t batch : {1, 10, 37}) ConsumeInterleaved(store.get(), 64, 300, batch);
    EXPECT_LE(store->GetStats().read_cache_bytes, budget + 64 * 4096);
  }
}

// The contest's phases in small: random index checks, then consumers interleaving every 5th
// queue in Gets of 10 while the blocks are smaller than a full one (the open-block budget binds).
// With the budget's room each block is read from the file once, not once per Get.
TEST(ReadCache, InterleavedConsumersAfterRandomChecksReadEachBlockOnce) {
  TempDir tmp;
  StoreOptions o;
  o.segment_count = 4;
  const int queues = 2000;
  o.open_block_budget_bytes = queues * 1024;  // 2 KiB blocks
  auto store = testing::OpenStore(tmp.path(), o);
  ASSERT_NE(store, nullptr);
  const uint64_t per_queue = 120;
  Fill(store.get(), queues, per_queue);
  ASSERT_TRUE(store->Flush().ok());
  std::mt19937_64 rng(7);
  MessageBatch out;
  for (int i = 0; i < queues * 3 / 2; ++i) {
    const int q = static_cast<int>(rng() % queues);
    const uint64_t at = rng() % per_queue;
    ASSERT_TRUE(store->Get(Name(q), at < 10 ? 0 : at - 10, 10, &out).ok());
  }
  const StoreStats before = store->GetStats();
  std::vector<int> consumed;
  uint64_t blocks = 0;
  for (int q = 0; q < queues; q += 5) consumed.push_back(q);
  // Every 5th queue, interleaved, to the end.
  std::vector<uint64_t> pos(consumed.size(), 0);
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t k = 0; k < consumed.size(); ++k) {
      if (pos[k] >= per_queue) continue;
      ASSERT_TRUE(store->Get(Name(consumed[k]), pos[k], 10, &out).ok());
      ASSERT_EQ(out.size(), std::min<uint64_t>(10, per_queue - pos[k]));
      ASSERT_EQ(out[0], Message(consumed[k], pos[k]));
      pos[k] += out.size();
      progress = true;
    }
  }
  const StoreStats after = store->GetStats();
  blocks = before.blocks * consumed.size() / queues;  // blocks are alike across queues
  ASSERT_GT(blocks, 2 * consumed.size());             // several blocks a queue
  EXPECT_LE(after.read_cache_misses - before.read_cache_misses, blocks * 11 / 10);
}

TEST(ReadCache, IsUsedByAForwardReaderAndReleasedWhenItCatchesUp) {
  TempDir tmp;
  auto store = Open(tmp.path(), 1 << 20);
  Fill(store.get(), 1, 1000);
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(store->GetStats().read_cache_bytes, 0u);
  MessageBatch out;
  ASSERT_TRUE(store->Get(Name(0), 0, 10, &out).ok());
  // Stopped inside the first block: it is kept for the next Get.
  const uint64_t kept = store->GetStats().read_cache_bytes;
  EXPECT_GT(kept, 0u);
  EXPECT_LE(kept, StoreOptions{}.block_size);
  uint64_t pos = 10;
  int gets = 0, with_block_kept = 0;
  while (true) {
    ASSERT_TRUE(store->Get(Name(0), pos, 10, &out).ok());
    for (size_t k = 0; k < out.size(); ++k) ASSERT_EQ(out[k], Message(0, pos + k));
    pos += out.size();
    if (out.size() < 10) break;
    // Kept unless the Get ended exactly at the end of a block (~1 Get in 7).
    ++gets;
    if (store->GetStats().read_cache_bytes > 0) ++with_block_kept;
  }
  EXPECT_GE(with_block_kept * 10, gets * 8) << with_block_kept << " of " << gets;
  EXPECT_EQ(pos, 1000u);
  // At the end of the queue the reader left the last sealed block: nothing is kept.
  EXPECT_EQ(store->GetStats().read_cache_bytes, 0u);
}

TEST(ReadCache, RandomReadersDoNotFillIt) {
  TempDir tmp;
  auto store = Open(tmp.path(), 64 << 20);
  Fill(store.get(), 50, 400);
  ASSERT_TRUE(store->Flush().ok());
  std::mt19937_64 rng(7);
  MessageBatch out;
  for (int i = 0; i < 2000; ++i) {
    const int q = static_cast<int>(rng() % 50);
    const uint64_t at = 1 + rng() % 390;
    ASSERT_TRUE(store->Get(Name(q), at, 10, &out).ok());
    ASSERT_EQ(out.size(), 10u);
    for (size_t k = 0; k < out.size(); ++k) ASSERT_EQ(out[k], Message(q, at + k));
  }
  // A random Get only keeps a block when it happens to start where the last one ended.
  EXPECT_LT(store->GetStats().read_cache_bytes, 10u * 4096);
}

TEST(ReadCache, ConsumerRacingWritersSeesEveryMessageInOrder) {
  TempDir tmp;
  auto store = Open(tmp.path(), 1 << 20);
  constexpr int kQueues = 4;
  constexpr uint64_t kPerQueue = 20000;
  std::atomic<bool> failed{false};
  std::thread writer([&] {
    for (uint64_t i = 0; i < kPerQueue && !failed; ++i) {
      for (int q = 0; q < kQueues; ++q) {
        if (!store->Put(Name(q), Message(q, i)).ok()) failed = true;
      }
      if (i % 3000 == 0 && !store->Flush().ok()) failed = true;
    }
  });
  std::vector<uint64_t> pos(kQueues, 0);
  MessageBatch out;
  while (!failed) {
    bool done = true;
    for (int q = 0; q < kQueues; ++q) {
      if (pos[q] >= kPerQueue) continue;
      done = false;
      ASSERT_TRUE(store->Get(Name(q), pos[q], 10, &out).ok());
      for (size_t k = 0; k < out.size(); ++k) {
        ASSERT_EQ(out[k], Message(q, pos[q] + k)) << Name(q) << " at " << pos[q] + k;
      }
      pos[q] += out.size();
    }
    if (done) break;
  }
  writer.join();
  EXPECT_FALSE(failed);
  for (int q = 0; q < kQueues; ++q) EXPECT_EQ(pos[q], kPerQueue);
}

}  // namespace
}  // namespace meshq
