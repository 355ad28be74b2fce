// MessageGenerator: deterministic, seed- and position-dependent, lengths within bounds.
#include "message_generator.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace meshq::bench {
namespace {

TEST(MessageGenerator, SameInputsGiveTheSameBytes) {
  const MessageGenerator a(7, 40, 60), b(7, 40, 60);
  std::string x, y;
  for (uint64_t offset = 0; offset < 1000; ++offset) {
    EXPECT_EQ(a.Generate(3, offset, &x), b.Generate(3, offset, &y));
    EXPECT_EQ(x.size(), a.Length(3, offset));
  }
}

TEST(MessageGenerator, ContentDependsOnSeedQueueAndOffset) {
  const MessageGenerator g(7, 40, 60), other_seed(8, 40, 60);
  std::string base, x;
  g.Generate(3, 10, &base);
  EXPECT_NE(base, g.Generate(4, 10, &x));
  EXPECT_NE(base, g.Generate(3, 11, &x));
  EXPECT_NE(base, other_seed.Generate(3, 10, &x));
}

TEST(MessageGenerator, LengthsStayInBoundsAndVary) {
  const MessageGenerator g(1, 40, 60);
  std::set<size_t> lengths;
  std::string m;
  for (uint64_t offset = 0; offset < 5000; ++offset) {
    const size_t n = g.Generate(offset % 17, offset, &m).size();
    ASSERT_GE(n, 40u);
    ASSERT_LE(n, 60u);
    lengths.insert(n);
  }
  EXPECT_EQ(lengths.size(), 21u);  // every length of 40..60 occurs
}

TEST(MessageGenerator, FixedAndTinySizes) {
  std::string m;
  EXPECT_EQ(MessageGenerator(1, 50, 50).Generate(1, 1, &m).size(), 50u);
  EXPECT_EQ(MessageGenerator(1, 0, 0).Generate(1, 1, &m).size(), 0u);
  EXPECT_EQ(MessageGenerator(1, 3, 3).Generate(1, 1, &m).size(), 3u);
}

TEST(MessageGenerator, TagNamesQueueAndOffset) {
  const MessageGenerator g(1, 40, 60);
  std::string m;
  uint32_t queue = 0, offset = 0;
  ASSERT_TRUE(MessageGenerator::DecodeTag(g.Generate(123456, 789, &m), &queue, &offset));
  EXPECT_EQ(queue, 123456u);
  EXPECT_EQ(offset, 789u);
  EXPECT_FALSE(MessageGenerator::DecodeTag("short", &queue, &offset));
}

TEST(MessageGenerator, PayloadUsesAllByteValues) {
  const MessageGenerator g(1, 60, 60);
  std::set<unsigned char> seen;
  std::string m;
  for (uint64_t offset = 0; offset < 2000; ++offset) {
    for (char c : g.Generate(1, offset, &m).substr(8)) seen.insert(static_cast<unsigned char>(c));
  }
  EXPECT_EQ(seen.size(), 256u);  // binary, NUL included: stores must not assume text
}

}  // namespace
}  // namespace meshq::bench
