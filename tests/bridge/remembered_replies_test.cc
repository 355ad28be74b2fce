// RememberedReplies: a reply is found until its expiry and forgotten after it, the latest reply of
// an id wins, and growing from nothing to a large window never rehashes the replies held.
#include "remembered_replies.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace meshq::bridge {
namespace {

using Clock = RememberedReplies::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

RememberedReplies::Reply ReplyOf(uint64_t id) {
  return {"reply.q" + std::to_string(id % 3), "encoded " + std::to_string(id)};
}

TEST(RememberedReplies, EveryReplyIsFoundUntilItsExpiryAndForgottenAfter) {
  RememberedReplies replies;
  const Clock::time_point t0{};
  // 30 s of calls, 100 a second (one each 10 ms), each remembered for 2 to 2.5 s.
  std::vector<Clock::time_point> expiry;
  for (uint64_t id = 0; id < 3000; ++id) {
    const Clock::time_point now = t0 + milliseconds(id * 10);
    const Clock::time_point expires = now + seconds(2) + milliseconds((id * 7919) % 500);
    expiry.push_back(expires);
    const auto& kept = replies.Remember(id, ReplyOf(id), expires);
    EXPECT_EQ(kept.encoded, ReplyOf(id).encoded);
    replies.Expire(now);
    for (uint64_t old = id >= 300 ? id - 300 : 0; old <= id; ++old) {
      const RememberedReplies::Reply* found = replies.Find(old);
      if (expiry[old] > now) {
        ASSERT_NE(found, nullptr) << "reply " << old << " forgotten before its expiry, at " << id;
        EXPECT_EQ(found->reply_to, ReplyOf(old).reply_to);
        EXPECT_EQ(found->encoded, ReplyOf(old).encoded);
      } else {
        ASSERT_EQ(found, nullptr) << "reply " << old << " kept past its expiry, at " << id;
      }
    }
    // Only the window is held: at most 2.5 s of calls.
    ASSERT_LE(replies.size(), 251u);
  }
  replies.Expire(t0 + seconds(60));
  EXPECT_EQ(replies.size(), 0u);
}

TEST(RememberedReplies, TheLatestReplyOfAnIdWinsAndKeepsItsOwnExpiry) {
  RememberedReplies replies;
  const Clock::time_point t0{};
  replies.Remember(7, {"a", "first"}, t0 + seconds(2));
  replies.Remember(7, {"b", "second"}, t0 + seconds(9));
  ASSERT_NE(replies.Find(7), nullptr);
  EXPECT_EQ(replies.Find(7)->encoded, "second");
  EXPECT_EQ(replies.size(), 1u);
  replies.Expire(t0 + seconds(5));  // the first expiry passes; the second reply stays
  ASSERT_NE(replies.Find(7), nullptr);
  EXPECT_EQ(replies.Find(7)->reply_to, "b");
  replies.Expire(t0 + seconds(9));
  EXPECT_EQ(replies.Find(7), nullptr);
  EXPECT_EQ(replies.Find(8), nullptr);
}

// The window grows from nothing to 200,000 replies (a provider whose rate keeps rising), and is
// read and replaced throughout: every reply stays findable while the tables are swapped, and no
// insert ever rehashes a table holding replies.
TEST(RememberedReplies, GrowingNeverRehashesTheRepliesHeld) {
  RememberedReplies replies;
  const Clock::time_point t0{};
  const uint64_t n = 200000;
  for (uint64_t id = 0; id < n; ++id) {
    replies.Remember(id, ReplyOf(id), t0 + seconds(100));
    if (id % 3 == 0) replies.Remember(id / 2, ReplyOf(id / 2), t0 + seconds(100));  // replaced
    const uint64_t probe = (id * 2654435761u) % (id + 1);
    const RememberedReplies::Reply* found = replies.Find(probe);
    ASSERT_NE(found, nullptr) << probe << " lost while " << id << " was added";
    ASSERT_EQ(found->encoded, ReplyOf(probe).encoded);
  }
  EXPECT_EQ(replies.size(), n);
  EXPECT_EQ(replies.rehashed(), 0u);
  for (uint64_t id = 0; id < n; ++id) ASSERT_NE(replies.Find(id), nullptr) << id;
}

}  // namespace
}  // namespace meshq::bridge
