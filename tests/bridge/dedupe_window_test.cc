// DedupeWindow's table: sized once for its capacity (no rehash of every id on the io thread while
// calls wait), and eviction keeps exactly the newest `capacity` ids.
#include "dedupe_window.h"

#include <gtest/gtest.h>

namespace meshq::bridge {
namespace {

TEST(DedupeWindow, FillingAndCyclingTheWindowNeverRehashes) {
  constexpr size_t kCapacity = 100'000;
  // Claims touch only the table (the journal is written by JournalRequest): no store needed.
  DedupeWindow window(nullptr, kCapacity);
  const size_t buckets = window.buckets();
  EXPECT_GE(buckets, kCapacity);
  for (uint64_t id = 1; id <= 2 * kCapacity + 7; ++id) {
    ASSERT_FALSE(window.ClaimRequest(id).has_value()) << id;
  }
  EXPECT_EQ(window.buckets(), buckets);
  // The newest kCapacity ids are remembered, older ones are not.
  EXPECT_TRUE(window.ClaimRequest(2 * kCapacity + 7).has_value());
  EXPECT_TRUE(window.ClaimRequest(kCapacity + 8).has_value());
  EXPECT_FALSE(window.ClaimRequest(kCapacity + 7).has_value());  // evicted: new again
}

}  // namespace
}  // namespace meshq::bridge
