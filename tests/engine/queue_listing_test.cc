// QueueStore::ListQueues: the catalogue in pages, in creation order, positions stable across
// pages and queues created meanwhile, trimmed queues still listed, the same list after a reopen,
// and Closed after Close.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "meshq/queue_store.h"
#include "open_store.h"
#include "temp_dir.h"

namespace meshq {
namespace {

using testing::OpenStore;
using testing::TempDir;

// Every name, walking pages of `page` positions.
std::vector<std::string> Walk(QueueStore* store, size_t page) {
  std::vector<std::string> all, names;
  uint64_t from = 0, next = 0;
  for (;;) {
    EXPECT_TRUE(store->ListQueues(from, page, &names, &next).ok());
    EXPECT_LE(next - from, page);
    EXPECT_LE(names.size(), next - from);
    all.insert(all.end(), names.begin(), names.end());
    if (next == from) return all;
    from = next;
  }
}

TEST(ListQueues, PagesListEveryQueueOnceInCreationOrder) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  std::vector<std::string> created;
  for (int i = 0; i < 1000; ++i) {
    created.push_back("queue-" + std::to_string(i * 7919 % 1000));
    ASSERT_TRUE(store->Put(created.back(), "m").ok());
  }
  ASSERT_TRUE(store->Trim(created[3], 1).ok());  // trimmed to empty: still in the catalogue
  for (size_t page : {1, 7, 64, 4096}) EXPECT_EQ(Walk(store.get(), page), created) << page;

  // A page from the middle, then queues created before the next page: they come after.
  std::vector<std::string> names;
  uint64_t next = 0;
  ASSERT_TRUE(store->ListQueues(990, 100, &names, &next).ok());
  EXPECT_EQ(next, 1000u);
  EXPECT_EQ(names, std::vector<std::string>(created.begin() + 990, created.end()));
  ASSERT_TRUE(store->Put("late", "m").ok());
  ASSERT_TRUE(store->ListQueues(next, 100, &names, &next).ok());
  EXPECT_EQ(names, std::vector<std::string>{"late"});
  EXPECT_EQ(next, 1001u);
  ASSERT_TRUE(store->ListQueues(next, 100, &names, &next).ok());
  EXPECT_TRUE(names.empty());
  EXPECT_EQ(next, 1001u) << "past the end: next == from";
  ASSERT_TRUE(store->ListQueues(5000, 100, &names, &next).ok());
  EXPECT_TRUE(names.empty());
  EXPECT_EQ(next, 5000u);
  ASSERT_TRUE(store->ListQueues(0, 0, &names, &next).ok());
  EXPECT_EQ(next, 0u);
}

TEST(ListQueues, AReopenedStoreListsTheSameQueues) {
  TempDir dir;
  std::vector<std::string> before;
  {
    auto store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(store->Put("q" + std::to_string(i), "m").ok());
    before = Walk(store.get(), 100);
    ASSERT_TRUE(store->Close().ok());
    std::vector<std::string> names{"stale"};
    uint64_t next = 7;
    EXPECT_TRUE(store->ListQueues(0, 10, &names, &next).IsClosed());
    EXPECT_TRUE(names.empty());
    EXPECT_EQ(next, 0u);
  }
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> after = Walk(store.get(), 64);
  EXPECT_EQ(after, before) << "the recorded order";
}

}  // namespace
}  // namespace meshq
