// StoreOptions::direct_io: what differs from buffered I/O — aligned, zero-padded writes, stores
// reopened in the other mode, and a file system without O_DIRECT refused at Open. (Put/get,
// reopen, corruption and crash recovery run in both modes in queue_store_test and crash_test.)
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "meshq/queue_store.h"
#include "open_store.h"
#include "skip_or_fail.h"
#include "temp_dir.h"

namespace meshq {
namespace {

using testing::OpenStore;
using testing::TempDir;

std::string Msg(int q, uint64_t offset) {
  std::string m = "q" + std::to_string(q) + "@" + std::to_string(offset) + ":";
  m.append(20 + (offset * 13 + q) % 50, static_cast<char>('a' + (q + offset) % 26));
  return m;
}

// Puts `n` more messages into each of `queues` queues, with a Flush every 7 rounds so that
// chunks are cut short (a buffered store then ends its writes at 1 KiB units, not 4 KiB).
void Append(QueueStore* store, int queues, int n) {
  for (int i = 0; i < n; ++i) {
    for (int q = 0; q < queues; ++q) {
      const std::string name = "q" + std::to_string(q);
      ASSERT_TRUE(store->Put(name, Msg(q, store->QueueSize(name))).ok());
    }
    if (i % 7 == 6) {
      ASSERT_TRUE(store->Flush().ok());
    }
  }
}

void ExpectAll(QueueStore* store, int queues, uint64_t per_queue) {
  MessageBatch batch;
  for (int q = 0; q < queues; ++q) {
    const std::string name = "q" + std::to_string(q);
    ASSERT_EQ(store->QueueSize(name), per_queue) << name;
    for (uint64_t pos = 0; pos < per_queue; pos += batch.size()) {
      Status s = store->Get(name, pos, 100, &batch);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ASSERT_FALSE(batch.empty());
      for (size_t i = 0; i < batch.size(); ++i) ASSERT_EQ(batch[i], Msg(q, pos + i));
    }
  }
}

uint64_t SegmentBytes(const std::string& dir, bool* all_aligned) {
  uint64_t bytes = 0;
  *all_aligned = true;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("segment-", 0) != 0) continue;
    bytes += e.file_size();
    if (e.file_size() % 4096 != 0) *all_aligned = false;
  }
  return bytes;
}

// A store moves between the modes in both directions, its data intact: a direct-I/O store
// starts its writes past the 1 KiB-aligned end a buffered one left, and pads them to 4 KiB.
TEST(DirectIo, StoreReopensInEitherModeAndDirectWritesAreAligned) {
  TempDir tmp;
  const int queues = 40;
  StoreOptions buffered, direct;
  direct.direct_io = true;
  {
    auto store = OpenStore(tmp.path(), buffered);
    Append(store.get(), queues, 45);
    ASSERT_TRUE(store->Close().ok());
  }
  bool aligned = false;
  SegmentBytes(tmp.path(), &aligned);
  EXPECT_FALSE(aligned) << "the buffered writes should have ended off a 4 KiB boundary";
  {
    auto store = OpenStore(tmp.path(), direct);
    ExpectAll(store.get(), queues, 45);
    Append(store.get(), queues, 50);
    ExpectAll(store.get(), queues, 95);
    ASSERT_TRUE(store->Close().ok());
  }
  const uint64_t after_direct = SegmentBytes(tmp.path(), &aligned);
  EXPECT_TRUE(aligned) << "a direct write ends on a 4 KiB boundary";
  {
    auto store = OpenStore(tmp.path(), buffered);
    ExpectAll(store.get(), queues, 95);
    Append(store.get(), queues, 10);
    ASSERT_TRUE(store->Close().ok());
  }
  auto store = OpenStore(tmp.path(), direct);
  ExpectAll(store.get(), queues, 105);
  StoreStats st = store->GetStats();
  EXPECT_EQ(st.recovered_blocks, 0u);
  EXPECT_EQ(st.discarded_blocks, 0u);
  EXPECT_GT(after_direct, 0u);
}

// A direct-I/O store that Flushes after every few Puts stays compact: each Flush costs at most
// the padding to the next 4 KiB, not the rest of a chunk.
TEST(DirectIo, FrequentFlushesPadToFourKibOnly) {
  TempDir tmp;
  StoreOptions o;
  o.direct_io = true;
  const int flushes = 200;
  {
    auto store = OpenStore(tmp.path(), o);
    for (int f = 0; f < flushes; ++f) {
      for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->Put("q0", Msg(0, f * 3 + i)).ok());
      ASSERT_TRUE(store->Flush().ok());
    }
    ASSERT_TRUE(store->Close().ok());
  }
  bool aligned = false;
  const uint64_t bytes = SegmentBytes(tmp.path(), &aligned);
  EXPECT_TRUE(aligned);
  // One block and its padding a Flush: 4 KiB each (a hole per Flush would be 256 KiB each).
  EXPECT_LE(bytes, uint64_t{flushes} * 4096 + 4096);
  auto store = OpenStore(tmp.path(), o);
  ExpectAll(store.get(), 1, flushes * 3);
}

// ramfs has no direct I/O (tmpfs has it since Linux 6.6, so it cannot stand for "refuses").
TEST(DirectIo, FileSystemWithoutDirectIoIsInvalidArgumentAtOpen) {
  TempDir tmp;
  const std::string mnt = tmp.sub("ramfs");
  std::filesystem::create_directory(mnt);
  if (::mount("none", mnt.c_str(), "ramfs", 0, "mode=0700") != 0) {
    MESHQ_SKIP_OR_FAIL("cannot mount a ramfs (needs root)");
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  StoreOptions o;
  o.dir = mnt + "/store";
  o.direct_io = true;
  std::unique_ptr<QueueStore> store;
  Status s = QueueStore::Open(o, &store);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.ToString().find("direct I/O"), std::string::npos) << s.ToString();
  EXPECT_EQ(store, nullptr);
  // Refused before any of the store was made: the same directory opens without direct I/O.
  EXPECT_FALSE(std::filesystem::exists(o.dir + "/meta"));
  o.direct_io = false;
  s = QueueStore::Open(o, &store);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

}  // namespace
}  // namespace meshq
