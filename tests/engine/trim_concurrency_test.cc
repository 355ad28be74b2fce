// Trim racing Put, Get and Flush: writers append, a trimmer cuts the queues' prefixes, flushers
// make the trims durable (and so punch the trimmed blocks out of the files) while readers are in
// the middle of Gets. Every batch is one contiguous run of the right messages starting at or
// after the offset asked for, never an error, and a batch that starts later than asked does so
// because a trim got there.
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

using testing::OpenStore;
using testing::TempDir;

std::string Content(int q, uint64_t offset) {
  std::string m = std::to_string(q) + "/" + std::to_string(offset) + "/";
  m.resize(20 + (offset * 13 + static_cast<uint64_t>(q)) % 90, static_cast<char>('a' + q % 26));
  return m;
}

TEST(TrimConcurrency, TrimsRaceWritersReadersAndFlushes) {
  TempDir tmp;
  StoreOptions o;
  o.block_size = 1024;  // many blocks, so trims drop and punch many
  o.segment_count = 4;
  o.read_cache_bytes = 1 << 20;
  auto store = OpenStore(tmp.path(), o);
  ASSERT_NE(store, nullptr);
  const int queues = 8;
  const uint64_t per_queue = 6000;
  std::atomic<bool> writers_done{false};
  std::atomic<int> bad{0};
  std::vector<std::atomic<uint64_t>> written(queues);

  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (uint64_t i = 0; i < per_queue; ++i) {
        for (int q = w; q < queues; q += 2) {
          if (!store->Put("q" + std::to_string(q), Content(q, i)).ok()) bad++;
          written[q].store(i + 1, std::memory_order_release);
        }
      }
    });
  }
  threads.emplace_back([&] {  // the trimmer
    std::mt19937_64 rng(7);
    while (!writers_done.load()) {
      const int q = static_cast<int>(rng() % queues);
      const uint64_t size = written[q].load(std::memory_order_acquire);
      const uint64_t start = store->QueueStart("q" + std::to_string(q));
      if (size > start) {
        const uint64_t to = start + rng() % (size - start + 1);
        if (!store->Trim("q" + std::to_string(q), to).ok()) bad++;
        if (store->QueueStart("q" + std::to_string(q)) < to) bad++;
      }
      std::this_thread::yield();
    }
  });
  threads.emplace_back([&] {  // the flusher: trims become durable and their blocks punched
    while (!writers_done.load()) {
      if (!store->Flush(FlushMode::kWrite).ok()) bad++;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(100 + r);
      MessageBatch batch;
      std::vector<uint64_t> pos(queues, 0);
      while (!writers_done.load()) {
        const int q = static_cast<int>(rng() % queues);
        const std::string name = "q" + std::to_string(q);
        // Half forward readers (the read cache), half random offsets (below the start too).
        const uint64_t size = written[q].load(std::memory_order_acquire);
        const uint64_t at = rng() % 2 ? pos[q] : (size ? rng() % size : 0);
        Status s = store->Get(name, at, 1 + rng() % 40, &batch);
        if (!s.ok()) {
          ADD_FAILURE() << name << " Get at " << at << ": " << s.ToString();
          bad++;
          continue;
        }
        if (batch.empty()) continue;
        const uint64_t first = batch.first_offset();
        if (first < at || (first > at && store->QueueStart(name) < first)) {
          ADD_FAILURE() << name << ": asked for " << at << ", got a batch from " << first;
          bad++;
        }
        for (size_t i = 0; i < batch.size(); ++i) {
          if (batch[i] != Content(q, first + i)) {
            ADD_FAILURE() << name << ": wrong message at " << first + i;
            bad++;
            break;
          }
        }
        pos[q] = first + batch.size();
      }
    });
  }
  threads[0].join();
  threads[1].join();
  writers_done = true;
  for (size_t t = 2; t < threads.size(); ++t) threads[t].join();
  EXPECT_EQ(bad.load(), 0);
  ASSERT_TRUE(store->Flush().ok());
  StoreStats st = store->GetStats();
  EXPECT_GT(st.released_blocks, 0u);
  EXPECT_EQ(st.pending_release_blocks, 0u);
  // Whatever is kept reads back after a reopen.
  std::vector<uint64_t> start(queues);
  for (int q = 0; q < queues; ++q) start[q] = store->QueueStart("q" + std::to_string(q));
  ASSERT_TRUE(store->Close().ok());
  store = OpenStore(tmp.path(), o);
  MessageBatch batch;
  for (int q = 0; q < queues; ++q) {
    const std::string name = "q" + std::to_string(q);
    ASSERT_EQ(store->QueueStart(name), start[q]);
    ASSERT_EQ(store->QueueSize(name), per_queue);
    for (uint64_t at = start[q]; at < per_queue; at += batch.size()) {
      ASSERT_TRUE(store->Get(name, at, 300, &batch).ok());
      ASSERT_EQ(batch.first_offset(), at);
      ASSERT_FALSE(batch.empty());
      for (size_t i = 0; i < batch.size(); ++i) ASSERT_EQ(batch[i], Content(q, at + i));
    }
  }
}

}  // namespace
}  // namespace meshq
