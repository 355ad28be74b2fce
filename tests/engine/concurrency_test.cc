// Concurrency: many writers over many queues, readers racing writers, and several writers on one
// queue. Every message is read back byte-exact and in order.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
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

std::string QueueName(int q) { return "queue-" + std::to_string(q); }

// Deterministic content of message `offset` of queue `q`: lengths 0..120, binary bytes.
std::string Content(int q, uint64_t offset) {
  size_t len = (static_cast<size_t>(q) * 31 + offset * 17) % 121;
  std::string m(len, '\0');
  uint64_t x = (static_cast<uint64_t>(q) << 32) ^ (offset * 0x9E3779B97F4A7C15ull);
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    m[i] = static_cast<char>(x);
  }
  return m;
}

// One pass of a reader behind the writers: reads on from pos[q] in every queue, checking each
// message. False when a Get fails (counted in *bad, as is every wrong message).
bool ReadOn(QueueStore* store, int queues, uint64_t max_count, uint64_t* pos,
            std::atomic<int>* bad) {
  MessageBatch batch;
  for (int q = 0; q < queues; ++q) {
    if (!store->Get(QueueName(q), pos[q], max_count, &batch).ok()) {
      (*bad)++;
      return false;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i] != Content(q, pos[q] + i)) (*bad)++;
    }
    pos[q] += batch.size();
  }
  return true;
}

void VerifyAll(QueueStore* store, int queues, int per_queue) {
  std::vector<std::thread> readers;
  std::atomic<int> bad{0};
  const int threads = 4;
  for (int t = 0; t < threads; ++t) {
    readers.emplace_back([&, t] {
      MessageBatch batch;
      for (int q = t; q < queues; q += threads) {
        const std::string name = QueueName(q);
        // Mixed get sizes: (offset, 1), (offset, 10), whole-queue.
        uint64_t pos = 0;
        int step = 0;
        while (pos < static_cast<uint64_t>(per_queue)) {
          uint64_t want = (step++ % 3 == 0) ? 1 : 10;
          if (!store->Get(name, pos, want, &batch).ok() || batch.empty()) {
            bad++;
            return;
          }
          for (size_t i = 0; i < batch.size(); ++i) {
            if (batch[i] != Content(q, pos + i)) bad++;
          }
          pos += batch.size();
        }
        if (!store->Get(name, per_queue, 10, &batch).ok() || !batch.empty()) bad++;
      }
    });
  }
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Concurrency, TwentyFourWritersHundredThousandQueues) {
  TempDir tmp;
  const int queues = 100000, per_queue = 12, writers = 24;
  auto store = OpenStore(tmp.path());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < writers; ++t) {
    threads.emplace_back([&, t] {
      // Each thread owns the queues q % writers == t and round-robins across them, so every
      // segment sees puts from every thread at once.
      for (int i = 0; i < per_queue; ++i) {
        for (int q = t; q < queues; q += writers) {
          if (!store->Put(QueueName(q), Content(q, i)).ok()) failures++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  StoreStats st = store->GetStats();
  EXPECT_EQ(st.queues, uint64_t{queues});
  EXPECT_EQ(st.messages, uint64_t{queues} * per_queue);
  VerifyAll(store.get(), queues, per_queue);
  ASSERT_TRUE(store->Close().ok());
  store = OpenStore(tmp.path());
  VerifyAll(store.get(), queues, per_queue);
}

TEST(Concurrency, ReadersSeeAConsistentPrefixWhileWriting) {
  TempDir tmp;
  auto store = OpenStore(tmp.path());
  const int queues = 8, total = 20000;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread writer([&] {
    for (int i = 0; i < total; ++i) {
      for (int q = 0; q < queues; ++q) store->Put(QueueName(q), Content(q, i));
      if (i % 5000 == 0) store->Flush();
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      uint64_t pos[queues] = {};
      while (!done.load() || pos[r] < static_cast<uint64_t>(total)) {
        if (!ReadOn(store.get(), queues, 37, pos, &bad)) return;
        if (done.load() && pos[r] >= static_cast<uint64_t>(total)) break;
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// A broker's pattern: one thread puts, another flushes (kWrite, every eighth kSync) as often as
// it can (each Flush writes the partly filled chunks and gives their unused ends back to the
// segments, racing the writer's next reservation), readers read behind both. Every message reads
// back, then and after reopen.
TEST(Concurrency, FlushesRacingPutsAndReadsKeepEveryMessage) {
  TempDir tmp;
  const int queues = 4, total = 6000;
  {
    auto store = OpenStore(tmp.path());
    std::atomic<bool> done{false};
    std::atomic<int> bad{0};
    std::atomic<int> flushes{0};
    std::thread writer([&] {
      for (int i = 0; i < total; ++i) {
        // At least one Flush per 100 rounds of puts, however the threads are scheduled.
        while (flushes.load() < i / 100) std::this_thread::yield();
        for (int q = 0; q < queues; ++q) {
          if (!store->Put(QueueName(q), Content(q, i)).ok()) bad++;
        }
      }
      done = true;
    });
    std::thread flusher([&] {
      // Mostly kWrite Flushes with a kSync one now and then, as the broker's committer runs them.
      for (int n = 0; !done.load(); ++n) {
        if (!store->Flush(n % 8 == 7 ? FlushMode::kSync : FlushMode::kWrite).ok()) bad++;
        flushes++;
      }
    });
    std::thread reader([&] {
      uint64_t pos[queues] = {};
      for (bool last = false; !last;) {
        last = done.load();
        if (!ReadOn(store.get(), queues, 50, pos, &bad)) return;
      }
    });
    writer.join();
    flusher.join();
    reader.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GE(flushes.load(), total / 100);
    VerifyAll(store.get(), queues, total);
    ASSERT_TRUE(store->Close().ok());
  }
  auto store = OpenStore(tmp.path());
  VerifyAll(store.get(), queues, total);
}

TEST(Concurrency, SeveralWritersOnOneQueueKeepEachWritersOrder) {
  TempDir tmp;
  auto store = OpenStore(tmp.path());
  const int writers = 8, each = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < writers; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        ASSERT_TRUE(store->Put("shared", std::to_string(t) + ":" + std::to_string(i)).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<int> next(writers, 0);
  MessageBatch batch;
  uint64_t pos = 0;
  while (true) {
    ASSERT_TRUE(store->Get("shared", pos, 1000, &batch).ok());
    if (batch.empty()) break;
    for (size_t i = 0; i < batch.size(); ++i) {
      std::string m(batch[i]);
      int t = std::stoi(m.substr(0, m.find(':')));
      int n = std::stoi(m.substr(m.find(':') + 1));
      ASSERT_EQ(n, next[t]) << "writer " << t << " out of order";
      next[t]++;
    }
    pos += batch.size();
  }
  for (int t = 0; t < writers; ++t) EXPECT_EQ(next[t], each);
}

// Writers keep putting, creating a new queue every 4 messages, while another thread closes the
// store. Every Put that returned OK must be served after reopening, in order and without gaps;
// the first Put not accepted returns Closed, nothing else. Put excludes Close through the queue
// locks (not a per-call counter), so this tests that handshake; it runs under TSan in CI.
TEST(Concurrency, PutsRacingCloseAreEitherDurableOrRefused) {
  TempDir tmp;
  constexpr int kWriters = 6;
  constexpr uint64_t kPerQueue = 4;
  auto queue_id = [](int t, uint64_t k) { return t * 10000000 + static_cast<int>(k); };
  std::vector<uint64_t> acked(kWriters, 0);  // writer t's puts 0..acked[t]-1 returned OK
  {
    auto store = OpenStore(tmp.path());
    std::atomic<int> started{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kWriters; ++t) {
      threads.emplace_back([&, t] {
        started++;
        for (uint64_t i = 0;; ++i) {
          const int id = queue_id(t, i / kPerQueue);
          Status s = store->Put(QueueName(id), Content(id, i % kPerQueue));
          if (s.IsClosed()) return;
          ASSERT_TRUE(s.ok()) << s.ToString();
          acked[t] = i + 1;
        }
      });
    }
    while (started.load() < kWriters) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(store->Close().ok());
    for (auto& th : threads) th.join();
    EXPECT_TRUE(store->Put(QueueName(0), "late").IsClosed());
  }
  auto store = OpenStore(tmp.path());
  MessageBatch batch;
  for (int t = 0; t < kWriters; ++t) {
    ASSERT_GT(acked[t], 0u) << "writer " << t << " never got a Put in before Close";
    // One queue past the last acknowledged one: a refused Put must not have left anything.
    for (uint64_t k = 0; k <= acked[t] / kPerQueue + 1; ++k) {
      const int id = queue_id(t, k);
      const uint64_t want =
          std::min(kPerQueue, acked[t] > k * kPerQueue ? acked[t] - k * kPerQueue : 0);
      ASSERT_TRUE(store->Get(QueueName(id), 0, 100, &batch).ok());
      ASSERT_EQ(batch.size(), want) << QueueName(id) << ": acknowledged puts lost or extra";
      for (size_t i = 0; i < batch.size(); ++i) ASSERT_EQ(batch[i], Content(id, i));
    }
  }
}

}  // namespace
}  // namespace meshq
