// Block format: encoding round trips, checksum and truncation detection, and the segment scan.
#include "block_format.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "meshq/coding.h"
#include "segment_scan.h"

namespace meshq {
namespace {

std::string Payload(const std::vector<std::string>& messages) {
  size_t total = 0;
  for (const auto& m : messages) total += kMaxVarint32Length + m.size();
  std::string p(total, '\0');
  char* end = p.data();
  for (const auto& m : messages) end = AppendFramedMessage(end, m);
  p.resize(static_cast<size_t>(end - p.data()));
  return p;
}

std::string Block(uint32_t queue, uint64_t first, const std::vector<std::string>& messages,
                  uint64_t salt = 7) {
  std::string payload = Payload(messages);
  std::string block(BlockHeader::StoredBytes(static_cast<uint32_t>(payload.size())), 'x');
  uint32_t n = EncodeBlock(block.data(), queue, first, static_cast<uint32_t>(messages.size()),
                           payload, salt);
  EXPECT_EQ(n, block.size());
  return block;
}

TEST(BlockFormat, RoundTripWithBinaryAndEmptyMessages) {
  std::vector<std::string> msgs = {"", std::string("a\0b", 3), std::string(300, '\xff'), "z"};
  std::string block = Block(42, 1000, msgs);
  EXPECT_EQ(block.size() % kBlockUnit, 0u);
  BlockHeader h;
  ASSERT_EQ(CheckBlock(block.data(), block.size(), 7, &h), BlockCheck::kOk);
  EXPECT_EQ(h.queue_id, 42u);
  EXPECT_EQ(h.first_offset, 1000u);
  EXPECT_EQ(h.count, 4u);
  BlockMessageIterator it(block.data() + kBlockHeaderSize, h.payload_len, h.count);
  std::string_view m;
  bool error = false;
  for (const auto& want : msgs) {
    ASSERT_TRUE(it.Next(&m, &error));
    EXPECT_EQ(m, want);
  }
  EXPECT_FALSE(it.Next(&m, &error));
  EXPECT_FALSE(error);
}

TEST(BlockFormat, EveryFlippedByteIsDetected) {
  std::string block = Block(3, 0, {"hello", "world", std::string(100, 'q')});
  BlockHeader h;
  ASSERT_EQ(CheckBlock(block.data(), block.size(), 7, &h), BlockCheck::kOk);
  const size_t meaningful = kBlockHeaderSize + h.payload_len;
  for (size_t i = 0; i < meaningful; ++i) {
    std::string bad = block;
    bad[i] ^= 0x20;
    BlockHeader h2;
    EXPECT_NE(CheckBlock(bad.data(), bad.size(), 7, &h2), BlockCheck::kOk) << "byte " << i;
  }
}

TEST(BlockFormat, WrongSaltFailsChecksum) {
  std::string block = Block(3, 0, {"hello"}, 1);
  BlockHeader h;
  EXPECT_EQ(CheckBlock(block.data(), block.size(), 2, &h), BlockCheck::kBadChecksum);
}

TEST(BlockFormat, TruncatedAtEveryLength) {
  std::string block = Block(9, 5, {"abc", "defgh"});
  BlockHeader h;
  ASSERT_EQ(CheckBlock(block.data(), block.size(), 7, &h), BlockCheck::kOk);
  for (size_t len = 0; len < kBlockHeaderSize + h.payload_len; ++len) {
    BlockCheck c = CheckBlock(block.data(), len, 7, &h);
    EXPECT_TRUE(c == BlockCheck::kTruncated || c == BlockCheck::kNotABlock) << len;
  }
}

TEST(BlockFormat, ImpossibleHeadersRejected) {
  std::string block = Block(1, 0, {"a"});
  BlockHeader h;
  std::string zero_count = block;
  EncodeFixed32(zero_count.data() + 16, 0);
  EXPECT_EQ(DecodeBlockHeader(zero_count.data(), zero_count.size(), &h), BlockCheck::kBadHeader);
  std::string huge = block;
  EncodeFixed32(huge.data() + 20, 0x7fffffff);
  EXPECT_EQ(DecodeBlockHeader(huge.data(), huge.size(), &h), BlockCheck::kBadHeader);
  std::string zeros(kBlockUnit, '\0');
  EXPECT_EQ(DecodeBlockHeader(zeros.data(), zeros.size(), &h), BlockCheck::kNotABlock);
}

TEST(BlockFormat, IteratorRejectsInconsistentFraming) {
  std::string payload = Payload({"abc"});
  payload.back() = 'X';  // fine framing, then claim two messages
  BlockMessageIterator it(payload.data(), static_cast<uint32_t>(payload.size()), 2);
  std::string_view m;
  bool error = false;
  EXPECT_TRUE(it.Next(&m, &error));
  EXPECT_FALSE(it.Next(&m, &error));
  EXPECT_TRUE(error);
  std::string overlong =
      "\x7f"
      "ab";  // says 127 bytes, has 2
  BlockMessageIterator it2(overlong.data(), 3, 1);
  EXPECT_FALSE(it2.Next(&m, &error));
  EXPECT_TRUE(error);
}

TEST(SegmentScan, FindsBlocksBetweenHolesAndGarbage) {
  std::string file;
  file += Block(1, 0, {"a", "b"});
  file += std::string(3 * kBlockUnit, '\0');  // hole left by a partly filled chunk
  std::string big = Block(2, 10, {std::string(5000, 'm')});
  file += big;
  std::string torn = Block(3, 0, {"torn"});
  torn[34] ^= 1;  // inside the message bytes
  file += torn;
  file += Block(1, 2, {"c"});
  std::vector<ScannedBlock> found;
  ScanCounts counts;
  size_t used = ScanBlocks(file.data(), file.size(), 4096, 7, true, &found, &counts);
  EXPECT_EQ(used, file.size());
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].offset, 4096u);
  EXPECT_EQ(found[1].header.queue_id, 2u);
  EXPECT_EQ(found[1].offset, 4096u + 4 * kBlockUnit);
  EXPECT_EQ(found[2].header.first_offset, 2u);
  EXPECT_EQ(counts.bad_units, 1u);
}

TEST(SegmentScan, StopsAtABlockCrossingTheBufferUnlessAtEof) {
  std::string file = Block(1, 0, {"a"}) + Block(2, 0, {std::string(3000, 'x')});
  std::vector<ScannedBlock> found;
  ScanCounts counts;
  size_t cut = kBlockUnit + 2 * kBlockUnit;  // second block is 3 units long
  EXPECT_EQ(ScanBlocks(file.data(), cut, 0, 7, false, &found, &counts), kBlockUnit);
  EXPECT_EQ(found.size(), 1u);
  found.clear();
  EXPECT_EQ(ScanBlocks(file.data(), cut, 0, 7, true, &found, &counts), cut);
  EXPECT_EQ(found.size(), 1u);
}

TEST(Coding, VarintRoundTripAndOverflow) {
  for (uint32_t v : {0u, 1u, 127u, 128u, 16383u, 16384u, 0xFFFFFFFFu}) {
    char buf[5];
    char* end = EncodeVarint32(buf, v);
    EXPECT_EQ(end - buf, Varint32Length(v));
    uint32_t got = 0;
    EXPECT_EQ(DecodeVarint32(buf, end, &got), end);
    EXPECT_EQ(got, v);
    EXPECT_EQ(DecodeVarint32(buf, end - 1, &got), nullptr);
  }
  const char overflow[5] = {'\xff', '\xff', '\xff', '\xff', '\x7f'};
  uint32_t got = 0;
  EXPECT_EQ(DecodeVarint32(overflow, overflow + 5, &got), nullptr);
}

}  // namespace
}  // namespace meshq
