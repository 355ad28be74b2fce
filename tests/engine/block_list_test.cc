// BlockList: what is appended is read back by index, found by offset and handed out in runs that
// never cross a page, across the first page's geometric growth and the fixed pages after it; and
// a queue whose list spans pages is checkpointed and recovered whole.
#include "block_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "meshq/queue_store.h"
#include "open_store.h"
#include "temp_dir.h"

namespace meshq {
namespace {

constexpr size_t kPage = BlockList::kPageEntries;

BlockRef RefOf(size_t i) {
  return {static_cast<uint32_t>(i * 3 + 1), static_cast<uint32_t>(i * 5)};
}

TEST(BlockList, AppendedRefsAreReadBackAndFoundAcrossPages) {
  BlockList list;
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.bytes(), 0u);
  const size_t n = 3 * kPage + 17;
  size_t last_bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    list.push_back(RefOf(i));
    ASSERT_EQ(list.size(), i + 1);
    ASSERT_GE(list.bytes(), list.size() * sizeof(BlockRef));
    ASSERT_GE(list.bytes(), last_bytes);
    last_bytes = list.bytes();
  }
  // Memory follows the contents: under twice the refs plus a small directory.
  EXPECT_LT(list.bytes(), 2 * n * sizeof(BlockRef) + 64);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(list[i].unit, RefOf(i).unit) << i;
    ASSERT_EQ(list[i].first_offset, RefOf(i).first_offset) << i;
    // Block i holds offsets [5i, 5i + 5).
    ASSERT_EQ(FindBlock(list, i * 5), i);
    ASSERT_EQ(FindBlock(list, i * 5 + 4), i);
  }
  EXPECT_EQ(FindBlock(list, uint64_t{1} << 40), n - 1);  // past the end: the last block
}

TEST(BlockList, SmallListsStaySmall) {
  BlockList list;
  list.push_back(RefOf(0));
  EXPECT_LE(list.bytes(), 4 * sizeof(BlockRef));
  for (size_t i = 1; i < 30; ++i) list.push_back(RefOf(i));
  EXPECT_LE(list.bytes(), 32 * sizeof(BlockRef));
}

TEST(BlockList, RunsCoverTheRangeExactlyAndNeverCrossAPage) {
  BlockList list;
  const size_t n = 4 * kPage + 5;
  for (size_t i = 0; i < n; ++i) list.push_back(RefOf(i));
  const std::vector<std::pair<size_t, size_t>> ranges = {
      {0, 0},    {0, 1}, {0, n}, {kPage - 1, kPage + 1}, {kPage, 2 * kPage}, {17, 3 * kPage + 2},
      {n - 1, n}};
  for (const auto& [from, to] : ranges) {
    size_t next = from;
    list.ForEachRun(from, to, [&](size_t first, const BlockRef* refs, size_t count) {
      ASSERT_EQ(first, next);
      ASSERT_GT(count, 0u);
      // Within one page: the first page, or one of the fixed pages after it.
      if (first < kPage) {
        ASSERT_LE(first + count, kPage);
      } else {
        ASSERT_EQ(first / kPage, (first + count - 1) / kPage);
      }
      for (size_t k = 0; k < count; ++k) ASSERT_EQ(refs[k].unit, RefOf(first + k).unit);
      next = first + count;
    });
    EXPECT_EQ(next, to) << "range [" << from << ", " << to << ")";
  }
  BlockList appended;
  std::vector<BlockRef> refs;
  for (size_t i = 0; i < kPage + 3; ++i) refs.push_back(RefOf(i));
  appended.Append(refs.data(), refs.size());
  ASSERT_EQ(appended.size(), refs.size());
  EXPECT_EQ(appended[kPage + 2].unit, RefOf(kPage + 2).unit);
}

// Every Flush seals the queue's open block, so 2.5 pages of Flushes give a list spanning three
// pages. Every 100th Flush is a kSync one (its record's range crosses a page boundary once in a
// while), and the many records make Close compact the log into one snapshot (the whole list in
// one range); recovered from both, every message is where it was.
TEST(BlockList, AQueueSpanningPagesIsCheckpointedAndRecoveredWhole) {
  testing::TempDir tmp;
  const uint64_t messages = kPage * 5 / 2;
  auto message = [](uint64_t i) { return "m" + std::to_string(i) + std::string(i % 37, 'x'); };
  {
    auto store = testing::OpenStore(tmp.path());
    for (uint64_t i = 0; i < messages; ++i) {
      ASSERT_TRUE(store->Put("long", message(i)).ok());
      ASSERT_TRUE(store->Flush(i % 100 == 99 ? FlushMode::kSync : FlushMode::kWrite).ok());
    }
    ASSERT_TRUE(store->Flush().ok());
    EXPECT_GE(store->GetStats().blocks, messages);
    ASSERT_TRUE(store->Close().ok());
  }
  for (int round = 0; round < 2; ++round) {
    auto store = testing::OpenStore(tmp.path());
    ASSERT_EQ(store->QueueSize("long"), messages);
    EXPECT_EQ(store->GetStats().recovered_blocks, 0u);  // all of it from the checkpoint
    MessageBatch batch;
    for (uint64_t off = 0; off < messages; off += batch.size()) {
      ASSERT_TRUE(store->Get("long", off, 1000, &batch).ok());
      ASSERT_FALSE(batch.empty()) << off;
      for (size_t k = 0; k < batch.size(); ++k) ASSERT_EQ(batch[k], message(off + k));
    }
    ASSERT_TRUE(store->Close().ok());
  }
}

}  // namespace
}  // namespace meshq
