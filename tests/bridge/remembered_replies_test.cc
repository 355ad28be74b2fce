// RememberedReplies: a reply is found until its expiry passes (never forgotten earlier), the latest
// of an id wins, whole generations go once all their replies expired, and a steady call rate
// reuses the tables instead of growing them.
#include "remembered_replies.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace meshq::bridge {
namespace {

using Clock = RememberedReplies::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

RememberedReplies::Reply ReplyOf(uint64_t id) {
  return {"reply.q" + std::to_string(id % 3), "encoded " + std::to_string(id)};
}

TEST(RememberedReplies, EveryReplyIsFoundUntilItsExpiryAndGoneAfterItsGeneration) {
  RememberedReplies replies(milliseconds(100));
  const Clock::time_point t0{};
  // 3 s of calls, one a millisecond, each remembered for 2 to 2.5 s.
  std::vector<Clock::time_point> expiry;
  for (uint64_t id = 0; id < 3000; ++id) {
    const Clock::time_point now = t0 + milliseconds(id);
    const Clock::time_point expires = now + seconds(2) + milliseconds((id * 7919) % 500);
    expiry.push_back(expires);
    const auto& kept = replies.Remember(id, ReplyOf(id), expires, now);
    EXPECT_EQ(kept.encoded, ReplyOf(id).encoded);
    replies.Expire(now);
    // Every reply not yet expired is still there.
    for (uint64_t old = id >= 2000 ? id - 2000 : 0; old <= id; old += 97) {
      if (expiry[old] > now) {
        const RememberedReplies::Reply* found = replies.Find(old);
        ASSERT_NE(found, nullptr) << "reply " << old << " forgotten before its expiry at " << id;
        EXPECT_EQ(found->reply_to, ReplyOf(old).reply_to);
        EXPECT_EQ(found->encoded, ReplyOf(old).encoded);
      }
    }
  }
  // The window is bounded: ~2.5 s of generations of 0.1 s, not all 3 s of calls.
  EXPECT_LE(replies.generations(), 27u);
  EXPECT_LT(replies.size(), 2700u);
  EXPECT_EQ(replies.Find(0), nullptr);
  // Long after the last expiry, nothing is left.
  replies.Expire(t0 + seconds(10));
  EXPECT_EQ(replies.generations(), 0u);
  EXPECT_EQ(replies.size(), 0u);
  EXPECT_EQ(replies.Find(2999), nullptr);
}

TEST(RememberedReplies, TheLatestReplyOfAnIdWinsAndOutlivesTheEarlierOne) {
  RememberedReplies replies(seconds(1));
  const Clock::time_point t0{};
  replies.Remember(7, {"a", "first"}, t0 + seconds(2), t0);
  replies.Remember(7, {"a", "second"}, t0 + seconds(2), t0 + milliseconds(10));  // same generation
  ASSERT_NE(replies.Find(7), nullptr);
  EXPECT_EQ(replies.Find(7)->encoded, "second");
  replies.Remember(7, {"b", "third"}, t0 + seconds(9), t0 + seconds(3));  // a later generation
  EXPECT_EQ(replies.Find(7)->encoded, "third");
  replies.Expire(t0 + seconds(5));  // the first generation goes; the third reply stays
  EXPECT_EQ(replies.generations(), 1u);
  EXPECT_EQ(replies.Find(7)->reply_to, "b");
  EXPECT_EQ(replies.Find(8), nullptr);
}

TEST(RememberedReplies, AGenerationStaysWhileAnyOfItsRepliesHasNotExpired) {
  RememberedReplies replies(seconds(1));
  const Clock::time_point t0{};
  replies.Remember(1, ReplyOf(1), t0 + seconds(1), t0);
  replies.Remember(2, ReplyOf(2), t0 + seconds(30), t0 + milliseconds(1));  // a long deadline
  replies.Expire(t0 + seconds(2));
  // Reply 1 is kept longer than asked (allowed); reply 2 must be kept (required).
  ASSERT_NE(replies.Find(2), nullptr);
  replies.Expire(t0 + seconds(30));
  EXPECT_EQ(replies.Find(2), nullptr);
}

TEST(RememberedReplies, ASteadyCallRateReusesTheTablesInsteadOfGrowingThem) {
  RememberedReplies replies(milliseconds(100));
  const Clock::time_point t0{};
  uint64_t id = 0;
  auto run = [&](int from_ms, int to_ms) {
    for (int ms = from_ms; ms < to_ms; ++ms) {
      const Clock::time_point now = t0 + milliseconds(ms);
      for (int i = 0; i < 20; ++i, ++id) replies.Remember(id, ReplyOf(id), now + seconds(1), now);
      replies.Expire(now);
    }
  };
  run(0, 3000);  // warm: the window filled and cycled
  const size_t buckets = replies.buckets();
  run(3000, 8000);
  EXPECT_EQ(replies.buckets(), buckets);
  EXPECT_GE(replies.size(), 20u * 1000);  // a second's calls are remembered
  // No table holds more than a generation (2,000 replies): one table for the window's 20,000
  // would rehash them all, on the io thread, whenever the rate rose past its last high.
  EXPECT_LT(replies.largest_table(), 20u * 1000 / 2);
}

}  // namespace
}  // namespace meshq::bridge
