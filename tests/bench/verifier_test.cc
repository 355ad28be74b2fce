// Verifier: accepts exactly the right batch and names every kind of wrong one.
#include "verifier.h"

#include <gtest/gtest.h>

#include <string>

#include "fault_injecting_store.h"

namespace meshq::bench {
namespace {

class VerifierTest : public ::testing::Test {
 protected:
  MessageBatch Batch(uint32_t queue, uint64_t offset, uint64_t count) {
    MessageBatch batch;
    batch.set_first_offset(offset);
    std::string m;
    for (uint64_t i = 0; i < count; ++i) batch.Append(generator_.Generate(queue, offset + i, &m));
    return batch;
  }
  MessageGenerator generator_{42, 40, 60};
  Verifier verifier_{&generator_, 10, /*print=*/false};
};

TEST_F(VerifierTest, RightBatchPasses) {
  EXPECT_EQ(verifier_.CheckBatch(5, 100, 10, Batch(5, 100, 10)), 0u);
  EXPECT_EQ(verifier_.CheckBatch(5, 0, 0, MessageBatch()), 0u);
  EXPECT_EQ(verifier_.mismatches(), 0u);
}

TEST_F(VerifierTest, FlippedByteFails) {
  MessageBatch batch = Batch(5, 100, 10);
  ASSERT_TRUE(ApplyFault(FaultKind::kFlipByte, &batch));
  EXPECT_EQ(verifier_.CheckBatch(5, 100, 10, batch), 1u);
  ASSERT_EQ(verifier_.reports().size(), 1u);
  EXPECT_NE(verifier_.reports()[0].find("queue 5 offset 100: byte"), std::string::npos)
      << verifier_.reports()[0];
}

TEST_F(VerifierTest, WrongLengthFails) {
  MessageBatch batch = Batch(5, 100, 10);
  ASSERT_TRUE(ApplyFault(FaultKind::kTruncate, &batch));
  EXPECT_EQ(verifier_.CheckBatch(5, 100, 10, batch), 1u);
  EXPECT_NE(verifier_.reports()[0].find("wrong length"), std::string::npos);
}

TEST_F(VerifierTest, WrongOrderFailsAndIsNamed) {
  MessageBatch batch = Batch(5, 100, 10);
  ASSERT_TRUE(ApplyFault(FaultKind::kSwap, &batch));
  EXPECT_EQ(verifier_.CheckBatch(5, 100, 10, batch), 2u);
  EXPECT_NE(verifier_.reports()[0].find("got the message of queue 5 offset 101"), std::string::npos)
      << verifier_.reports()[0];
}

TEST_F(VerifierTest, MissingOrExtraMessagesFail) {
  MessageBatch batch = Batch(5, 100, 10);
  ASSERT_TRUE(ApplyFault(FaultKind::kDrop, &batch));
  EXPECT_EQ(verifier_.CheckBatch(5, 100, 10, batch), 1u);
  EXPECT_EQ(verifier_.CheckBatch(5, 100, 9, Batch(5, 100, 10)), 1u);  // one too many
  EXPECT_EQ(verifier_.mismatches(), 2u);
}

TEST_F(VerifierTest, AnotherQueuesMessageFails) {
  EXPECT_EQ(verifier_.CheckBatch(5, 100, 3, Batch(6, 100, 3)), 3u);
  EXPECT_NE(verifier_.reports()[0].find("got the message of queue 6 offset 100"),
            std::string::npos);
}

TEST_F(VerifierTest, WrongFirstOffsetFails) {
  MessageBatch batch = Batch(5, 100, 10);
  batch.set_first_offset(99);
  EXPECT_EQ(verifier_.CheckBatch(5, 100, 10, batch), 1u);
}

TEST_F(VerifierTest, KeepsOnlyTheFirstReportsButCountsAll) {
  Verifier verifier(&generator_, 3, false);
  for (int i = 0; i < 20; ++i) verifier.CheckMessage(1, i, "nope");
  EXPECT_EQ(verifier.mismatches(), 20u);
  EXPECT_EQ(verifier.reports().size(), 3u);
}

TEST(ApplyFault, RefusesBatchesTooSmall) {
  MessageBatch empty, one;
  one.Append("x");
  EXPECT_FALSE(ApplyFault(FaultKind::kFlipByte, &empty));
  EXPECT_FALSE(ApplyFault(FaultKind::kSwap, &one));
  EXPECT_FALSE(ApplyFault(FaultKind::kNone, &one));
  EXPECT_TRUE(ApplyFault(FaultKind::kDrop, &one));
  EXPECT_TRUE(one.empty());
}

}  // namespace
}  // namespace meshq::bench
