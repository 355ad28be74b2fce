// DedupeWindow's table: sized once for its capacity (no rehash of every id on the io thread while
// calls wait), eviction keeps exactly the newest `capacity` ids, and never evicts an id younger
// than the window's minimum age.
#include "dedupe_window.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace meshq::bridge {
namespace {

TEST(DedupeWindow, FillingAndCyclingTheWindowNeverRehashes) {
  constexpr size_t kCapacity = 100'000;
  // Claims touch only the table (the journal is written by JournalRequest): no store needed.
  DedupeWindow window(nullptr, kCapacity);
  const size_t buckets = window.buckets();
  EXPECT_GE(buckets, kCapacity);
  bool full = false;
  for (uint64_t id = 1; id <= 2 * kCapacity + 7; ++id) {
    ASSERT_FALSE(window.ClaimRequest(id, &full).has_value()) << id;
    ASSERT_FALSE(full);
  }
  EXPECT_EQ(window.buckets(), buckets);
  // The newest kCapacity ids are remembered, older ones are not.
  EXPECT_TRUE(window.ClaimRequest(2 * kCapacity + 7, &full).has_value());
  EXPECT_TRUE(window.ClaimRequest(kCapacity + 8, &full).has_value());
  EXPECT_FALSE(window.ClaimRequest(kCapacity + 7, &full).has_value());  // evicted: new again
}

TEST(DedupeWindow, NoIdIsEvictedBeforeItsMinimumAge) {
  DedupeWindow window(nullptr, 4, std::chrono::milliseconds(150));
  bool full = false;
  for (uint64_t id = 1; id <= 4; ++id) ASSERT_FALSE(window.ClaimRequest(id, &full) || full);
  // Full of young ids: a new one is refused and recorded nowhere; known ones still answer.
  EXPECT_FALSE(window.ClaimRequest(5, &full).has_value());
  EXPECT_TRUE(full);
  EXPECT_FALSE(window.Admits(5));
  EXPECT_TRUE(window.Admits(1));
  EXPECT_TRUE(window.ClaimRequest(1, &full).has_value());
  EXPECT_FALSE(full);
  EXPECT_FALSE(window.ClaimRequest(5, &full).has_value());
  EXPECT_TRUE(full) << "the refused id was recorded";
  // Once the oldest is old enough it makes room, oldest first.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(window.Admits(5));
  EXPECT_FALSE(window.ClaimRequest(5, &full).has_value());
  EXPECT_FALSE(full);
  EXPECT_TRUE(window.ClaimRequest(2, &full).has_value());
  EXPECT_FALSE(window.ClaimRequest(1, &full).has_value()) << "1 was the oldest: evicted";
}

}  // namespace
}  // namespace meshq::bridge
