// QueueStore behaviour: put/get semantics, sizes, invalid input, reopen, corruption, metadata.
#include "meshq/queue_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "io_mode.h"
#include "open_store.h"
#include "temp_dir.h"

namespace meshq {
namespace {

using testing::OpenStore;
using testing::TempDir;

std::string Msg(const std::string& queue, uint64_t offset, size_t len) {
  std::string m = queue + "#" + std::to_string(offset) + ":";
  while (m.size() < len) m.push_back(static_cast<char>('a' + (m.size() * 7 + offset) % 26));
  m.resize(len);
  return m;
}

// The tests of put/get, reopen and corruption run in both I/O modes: through the page cache and
// with direct I/O (StoreOptions::direct_io), whose writes are padded to aligned units.
class QueueStoreIo : public ::testing::TestWithParam<bool> {
 protected:
  StoreOptions Options() const {
    StoreOptions o;
    o.direct_io = GetParam();
    return o;
  }
};

INSTANTIATE_TEST_SUITE_P(IoModes, QueueStoreIo, ::testing::Bool(), testing::IoModeName);

TEST_P(QueueStoreIo, PutThenGetEverySize) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), Options());
  const int n = 500;  // several blocks plus an open one
  for (int i = 0; i < n; ++i) ASSERT_TRUE(store->Put("q", Msg("q", i, 40 + i % 21)).ok());
  EXPECT_EQ(store->QueueSize("q"), uint64_t{n});
  MessageBatch batch;
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(store->Get("q", i, 1, &batch).ok());
    ASSERT_EQ(batch.size(), 1u);
    EXPECT_EQ(batch[0], Msg("q", i, 40 + i % 21));
  }
  for (int i = 0; i < n; i += 7) {
    ASSERT_TRUE(store->Get("q", i, 10, &batch).ok());
    ASSERT_EQ(batch.size(), static_cast<size_t>(std::min(10, n - i)));
    EXPECT_EQ(batch.first_offset(), uint64_t(i));
    for (size_t j = 0; j < batch.size(); ++j)
      EXPECT_EQ(batch[j], Msg("q", i + j, 40 + (i + j) % 21));
  }
  ASSERT_TRUE(store->Get("q", n, 10, &batch).ok());
  EXPECT_TRUE(batch.empty());
  ASSERT_TRUE(store->Get("q", uint64_t{1} << 40, 10, &batch).ok());
  EXPECT_TRUE(batch.empty());
  ASSERT_TRUE(store->Get("q", 0, 0, &batch).ok());
  EXPECT_TRUE(batch.empty());
  ASSERT_TRUE(store->Get("q", 3, UINT64_MAX, &batch).ok());
  ASSERT_EQ(batch.size(), static_cast<size_t>(n - 3));
  EXPECT_EQ(batch[n - 4], Msg("q", n - 1, 40 + (n - 1) % 21));
  ASSERT_TRUE(store->Get("never-written", 0, 10, &batch).ok());
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(store->QueueSize("never-written"), 0u);
}

TEST(QueueStore, HugeMaxCountIsCappedByBytes) {
  TempDir tmp;
  StoreOptions o;
  o.max_get_bytes = 64 * 1024;
  auto store = OpenStore(tmp.path(), o);
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(store->Put("q", Msg("q", i, 50)).ok());
  MessageBatch batch;
  ASSERT_TRUE(store->Get("q", 0, UINT64_MAX, &batch).ok());
  EXPECT_EQ(batch.size(), 64u * 1024 / 50);
  EXPECT_LE(batch.bytes(), 64u * 1024);
  for (size_t j = 0; j < batch.size(); ++j) ASSERT_EQ(batch[j], Msg("q", j, 50));
  // A single message over the cap is still returned alone.
  ASSERT_TRUE(store->Put("big", std::string(100 * 1024, 'B')).ok());
  ASSERT_TRUE(store->Get("big", 0, 10, &batch).ok());
  ASSERT_EQ(batch.size(), 1u);
}

TEST(QueueStore, MessagesFromEmptyToMaximumIncludingBinary) {
  TempDir tmp;
  std::vector<std::string> msgs;
  msgs.push_back("");
  msgs.push_back(std::string("\0\0\0", 3));
  for (size_t len : {1u, 991u, 992u, 993u, 4000u, 4063u, 4064u, 4065u, 65536u, 300000u}) {
    std::string m(len, '\0');
    for (size_t i = 0; i < len; ++i) m[i] = static_cast<char>((i * 131 + len) & 0xff);
    msgs.push_back(m);
  }
  msgs.push_back(std::string(kMaxMessageSize, '\x01'));
  msgs.push_back("tail");
  {
    auto store = OpenStore(tmp.path());
    for (const auto& m : msgs) ASSERT_TRUE(store->Put("bin", m).ok());
    MessageBatch batch;
    for (size_t i = 0; i < msgs.size(); ++i) {
      ASSERT_TRUE(store->Get("bin", i, 1, &batch).ok());
      ASSERT_EQ(batch.size(), 1u);
      ASSERT_EQ(batch[0], msgs[i]) << "message " << i;
    }
    ASSERT_TRUE(store->Close().ok());
  }
  auto store = OpenStore(tmp.path());
  MessageBatch batch;
  for (size_t i = 0; i < msgs.size(); ++i) {
    ASSERT_TRUE(store->Get("bin", i, 1, &batch).ok());
    ASSERT_EQ(batch.size(), 1u);
    ASSERT_EQ(batch[0], msgs[i]) << "message " << i << " after reopen";
  }
}

TEST(QueueStore, InvalidInputGetsClearErrorsAndStoreStaysUsable) {
  TempDir tmp;
  auto store = OpenStore(tmp.path());
  ASSERT_TRUE(store->Put("q", "before").ok());
  Status s = store->Put("", "x");
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.ToString().find("empty"), std::string::npos);
  s = store->Put(std::string(kMaxQueueNameSize + 1, 'n'), "x");
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_TRUE(store->Put(std::string(kMaxQueueNameSize, 'n'), "x").ok());
  s = store->Put("q", std::string(kMaxMessageSize + 1, 'x'));
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  MessageBatch batch;
  EXPECT_TRUE(store->Get("", 0, 1, &batch).IsInvalidArgument());
  ASSERT_TRUE(store->Put("q", "after").ok());
  ASSERT_TRUE(store->Get("q", 0, 10, &batch).ok());
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[1], "after");

  ASSERT_TRUE(store->Close().ok());
  EXPECT_TRUE(store->Put("q", "x").IsClosed());
  EXPECT_TRUE(store->Get("q", 0, 1, &batch).IsClosed());
  EXPECT_TRUE(store->Flush().IsClosed());
  EXPECT_TRUE(store->Close().ok());  // idempotent
}

TEST(QueueStore, BadOptionsAndDirectories) {
  TempDir tmp;
  std::unique_ptr<QueueStore> store;
  StoreOptions o;
  EXPECT_TRUE(QueueStore::Open(o, &store).IsInvalidArgument());
  o.dir = tmp.sub("a");
  o.segment_count = 3;
  EXPECT_TRUE(QueueStore::Open(o, &store).IsInvalidArgument());
  o.segment_count = 32;
  o.block_size = 1500;
  EXPECT_TRUE(QueueStore::Open(o, &store).IsInvalidArgument());
  o.block_size = 4096;
  o.metadata_write_buffer_bytes = 1024;
  Status small = QueueStore::Open(o, &store);
  EXPECT_TRUE(small.IsInvalidArgument()) << small.ToString();
  EXPECT_NE(small.ToString().find("metadata_write_buffer_bytes"), std::string::npos);
  o.metadata_write_buffer_bytes = 64u << 20;

  // A directory that cannot be created: its parent is a regular file.
  std::string file = tmp.sub("plain-file");
  int fd = ::open(file.c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ::close(fd);
  o.dir = file + "/store";
  Status s = QueueStore::Open(o, &store);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.ToString().find("plain-file"), std::string::npos) << s.ToString();

  o.dir = tmp.sub("missing");
  o.create_if_missing = false;
  EXPECT_TRUE(QueueStore::Open(o, &store).IsInvalidArgument());

  // Segment count is fixed at creation.
  o.create_if_missing = true;
  o.dir = tmp.sub("fixed");
  ASSERT_TRUE(QueueStore::Open(o, &store).ok());
  store.reset();
  o.segment_count = 16;
  s = QueueStore::Open(o, &store);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();

  // Open twice: the second is Busy while the first holds the store.
  o.segment_count = 32;
  std::unique_ptr<QueueStore> first;
  ASSERT_TRUE(QueueStore::Open(o, &first).ok());
  s = QueueStore::Open(o, &store);
  EXPECT_TRUE(s.IsBusy()) << s.ToString();
}

TEST_P(QueueStoreIo, CloseAndReopenServesEverything) {
  TempDir tmp;
  const int queues = 300, per_queue = 123;
  {
    auto store = OpenStore(tmp.path(), Options());
    for (int i = 0; i < per_queue; ++i) {
      for (int q = 0; q < queues; ++q) {
        std::string name = "queue-" + std::to_string(q);
        ASSERT_TRUE(store->Put(name, Msg(name, i, 30 + (q + i) % 40)).ok());
      }
    }
    ASSERT_TRUE(store->Close().ok());
  }
  for (int round = 0; round < 2; ++round) {
    auto store = OpenStore(tmp.path(), Options());
    MessageBatch batch;
    for (int q = 0; q < queues; ++q) {
      std::string name = "queue-" + std::to_string(q);
      ASSERT_EQ(store->QueueSize(name), uint64_t(per_queue + round * 5));
      ASSERT_TRUE(store->Get(name, 0, 1000, &batch).ok());
      ASSERT_EQ(batch.size(), size_t(per_queue + round * 5));
      for (int i = 0; i < per_queue; ++i) ASSERT_EQ(batch[i], Msg(name, i, 30 + (q + i) % 40));
    }
    // Appending after a reopen continues the queues.
    for (int q = 0; q < queues; ++q) {
      std::string name = "queue-" + std::to_string(q);
      for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Put(name, "more").ok());
    }
    StoreStats st = store->GetStats();
    EXPECT_EQ(st.queues, uint64_t(queues));
    EXPECT_EQ(st.recovered_blocks, 0u);
    ASSERT_TRUE(store->Close().ok());
    // Second round expects the 5 extra messages from the first.
    if (round == 0) continue;
  }
}

// The counters since Open (what the broker exposes as metrics) count what the calls did.
TEST(QueueStore, StatsCountPutsGetsBlocksWritesAndCacheHits) {
  TempDir tmp;
  auto store = OpenStore(tmp.path());
  StoreStats st = store->GetStats();
  EXPECT_EQ(st.puts, 0u);
  EXPECT_EQ(st.bytes_written, 0u);
  const int n = 1000;  // 50-byte messages: several blocks
  for (int i = 0; i < n; ++i) ASSERT_TRUE(store->Put("q", Msg("q", i, 50)).ok());
  EXPECT_FALSE(store->Put("", "refused").ok());  // not counted
  ASSERT_TRUE(store->Flush().ok());
  st = store->GetStats();
  EXPECT_EQ(st.puts, uint64_t{n});
  EXPECT_EQ(st.gets, 0u);
  EXPECT_GE(st.blocks_sealed, uint64_t{n} * 50 / StoreOptions{}.block_size);
  EXPECT_EQ(st.blocks_sealed, st.blocks);
  EXPECT_GE(st.bytes_written, uint64_t{n} * 50);  // every block written by the Flush
  EXPECT_EQ(st.pending_write_bytes, 0u);
  EXPECT_TRUE(store->BackgroundError().ok());
  // A forward reader in small batches: the first Get of each block reads it, the rest hit.
  MessageBatch batch;
  for (int i = 0; i < n; i += 10) ASSERT_TRUE(store->Get("q", i, 10, &batch).ok());
  st = store->GetStats();
  EXPECT_EQ(st.gets, uint64_t{n} / 10);
  EXPECT_GT(st.read_cache_hits, st.read_cache_misses);
  EXPECT_GE(st.read_cache_misses, st.blocks_sealed - 1);
  ASSERT_TRUE(store->Close().ok());
  EXPECT_TRUE(store->BackgroundError().ok());
}

// Many Flushes of a few puts each (a broker's group commits) must not leave a hole the size of a
// write chunk per Flush: under a broker's load (a group commit after a few puts) the segments would
// grow by a chunk per commit until they hit their 4 TiB limit. The files stay about as large as the
// blocks written, whether the puts come from the flushing thread or, as in the broker, from another
// one.
TEST_P(QueueStoreIo, FrequentFlushesKeepSegmentFilesCompact) {
  const int rounds = 300;
  for (bool other_thread : {false, true}) {
    SCOPED_TRACE(other_thread ? "puts on another thread" : "puts on the flushing thread");
    TempDir tmp;
    {
      auto store = OpenStore(tmp.path(), Options());
      // Five 1000-byte requests fill a block, which the putting thread seals into a chunk of
      // its own; the rest stays in open blocks that the Flush seals.
      auto put_round = [&](int r) {
        for (int i = 0; i < 5; ++i) {
          if (!store->Put("requests", Msg("requests", r * 5 + i, 1000)).ok()) return false;
        }
        return store->Put("replies", Msg("replies", r, 60)).ok();
      };
      std::atomic<int> put_rounds{0}, flushed_rounds{0};
      std::atomic<bool> put_failed{false};
      std::thread writer;
      if (other_thread) {
        writer = std::thread([&] {
          for (int r = 0; r < rounds; ++r) {
            while (flushed_rounds.load() < r) std::this_thread::yield();
            if (!put_round(r)) put_failed = true;
            put_rounds = r + 1;
          }
        });
      }
      for (int r = 0; r < rounds; ++r) {
        if (other_thread) {
          while (put_rounds.load() <= r) std::this_thread::yield();
        } else {
          ASSERT_TRUE(put_round(r));
        }
        // EXPECT, not ASSERT: returning here would leave the writer thread waiting unjoined.
        EXPECT_TRUE(store->Flush().ok());
        flushed_rounds = r + 1;
      }
      if (writer.joinable()) writer.join();
      ASSERT_FALSE(put_failed.load());
      uint64_t bytes = 0;
      for (const auto& e : std::filesystem::directory_iterator(tmp.path())) {
        if (e.path().filename().string().rfind("segment-", 0) == 0) bytes += e.file_size();
      }
      // ~7 KiB of blocks a round, 2.1 MB in all (a hole per Flush: 75 MiB or more).
      EXPECT_LE(bytes, uint64_t{4} << 20);
      ASSERT_TRUE(store->Close().ok());
    }
    auto store = OpenStore(tmp.path(), Options());
    MessageBatch batch;
    ASSERT_EQ(store->QueueSize("requests"), uint64_t(rounds) * 5);
    for (uint64_t at = 0; at < uint64_t(rounds) * 5; at += batch.size()) {
      ASSERT_TRUE(store->Get("requests", at, 1000, &batch).ok());
      ASSERT_FALSE(batch.empty());
      for (size_t i = 0; i < batch.size(); ++i) ASSERT_EQ(batch[i], Msg("requests", at + i, 1000));
    }
    ASSERT_TRUE(store->Get("replies", 0, rounds + 1, &batch).ok());
    ASSERT_EQ(batch.size(), size_t(rounds));
    for (int r = 0; r < rounds; ++r) ASSERT_EQ(batch[r], Msg("replies", r, 60));
  }
}

TEST_P(QueueStoreIo, FlippedByteIsReportedAsCorruption) {
  TempDir tmp;
  {
    auto store = OpenStore(tmp.path(), Options());
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(store->Put("victim", Msg("victim", i, 50)).ok());
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(store->Put("bystander", Msg("b", i, 50)).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  // Find the victim's first block: the first block header in its segment carrying data of it.
  bool flipped = false;
  for (const auto& entry : std::filesystem::directory_iterator(tmp.path())) {
    if (entry.path().filename().string().rfind("segment-", 0) != 0) continue;
    std::string path = entry.path();
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    struct stat st;
    ::fstat(fd, &st);
    std::string data(static_cast<size_t>(st.st_size), '\0');
    ASSERT_EQ(::pread(fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
    size_t pos = data.find("victim#0:");
    if (pos != std::string::npos) {
      char c = static_cast<char>(data[pos + 3] ^ 0x01);
      ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(pos + 3)), 1);
      flipped = true;
    }
    ::close(fd);
  }
  ASSERT_TRUE(flipped);
  auto store = OpenStore(tmp.path(), Options());
  MessageBatch batch;
  Status s = store->Get("victim", 0, 10, &batch);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(batch.empty());
  // Other blocks and queues are unaffected.
  ASSERT_TRUE(store->Get("victim", 199, 1, &batch).ok());
  EXPECT_EQ(batch[0], Msg("victim", 199, 50));
  ASSERT_TRUE(store->Get("bystander", 0, 200, &batch).ok());
  EXPECT_EQ(batch.size(), 200u);
}

TEST(QueueStore, MetadataIsDurableAcrossReopen) {
  TempDir tmp;
  {
    auto store = OpenStore(tmp.path());
    std::string v;
    EXPECT_TRUE(store->GetMetadata("group/a", &v).IsNotFound());
    ASSERT_TRUE(store->PutMetadata("group/a", std::string("\0\x01offset", 8)).ok());
    EXPECT_TRUE(store->PutMetadata("", "x").IsInvalidArgument());
  }
  auto store = OpenStore(tmp.path());
  std::string v;
  ASSERT_TRUE(store->GetMetadata("group/a", &v).ok());
  EXPECT_EQ(v, std::string("\0\x01offset", 8));
}

TEST(QueueStore, ForeignDirectoryIsRejected) {
  TempDir tmp;
  int fd = ::open((tmp.path() + "/segment-0000.dat").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ::close(fd);
  StoreOptions o;
  o.dir = tmp.path();
  std::unique_ptr<QueueStore> store;
  Status s = QueueStore::Open(o, &store);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
}

}  // namespace
}  // namespace meshq
