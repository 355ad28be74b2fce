// coding.h: the bytes each encoding writes (little-endian, big-endian, varint), whatever the host,
// and that decoding reads them back.
#include "meshq/coding.h"

#include <gtest/gtest.h>

#include <string>

namespace meshq {
namespace {

std::string Bytes(std::initializer_list<unsigned char> b) {
  return std::string(b.begin(), b.end());
}

TEST(Coding, FixedIsLittleEndian) {
  std::string out;
  PutFixed16(&out, 0x0102);
  PutFixed32(&out, 0x03040506);
  PutFixed64(&out, 0x0708090A0B0C0D0Eull);
  EXPECT_EQ(out, Bytes({0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0E, 0x0D, 0x0C, 0x0B, 0x0A, 0x09,
                        0x08, 0x07}));
  EXPECT_EQ(DecodeFixed16(out.data()), 0x0102);
  EXPECT_EQ(DecodeFixed32(out.data() + 2), 0x03040506u);
  EXPECT_EQ(DecodeFixed64(out.data() + 6), 0x0708090A0B0C0D0Eull);
  char buf[8];
  EncodeFixed32(buf, 0xFFFFFFFEu);
  EXPECT_EQ(std::string(buf, 4), Bytes({0xFE, 0xFF, 0xFF, 0xFF}));
  EncodeFixed64(buf, 1);
  EXPECT_EQ(std::string(buf, 8), Bytes({1, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(Coding, BigEndianSortsLikeTheNumber) {
  std::string out;
  PutBigEndian16(&out, 0x0102);
  PutBigEndian32(&out, 0x03040506);
  PutBigEndian64(&out, 0x0708090A0B0C0D0Eull);
  EXPECT_EQ(out, Bytes({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C,
                        0x0D, 0x0E}));
  EXPECT_EQ(DecodeBigEndian16(out.data()), 0x0102);
  EXPECT_EQ(DecodeBigEndian32(out.data() + 2), 0x03040506u);
  EXPECT_EQ(DecodeBigEndian64(out.data() + 6), 0x0708090A0B0C0D0Eull);
  char buf[8];
  EncodeBigEndian16(buf, 0xABCD);
  EXPECT_EQ(std::string(buf, 2), Bytes({0xAB, 0xCD}));
  EncodeBigEndian32(buf, 0x80000001u);
  EXPECT_EQ(std::string(buf, 4), Bytes({0x80, 0, 0, 1}));
  EncodeBigEndian64(buf, 0x8000000000000001ull);
  EXPECT_EQ(std::string(buf, 8), Bytes({0x80, 0, 0, 0, 0, 0, 0, 1}));
  // Metadata keys rely on this: bytewise order is numeric order.
  std::string a, b;
  PutBigEndian64(&a, 255);
  PutBigEndian64(&b, 256);
  EXPECT_LT(a, b);
}

TEST(Coding, VarintBytesAndLimits) {
  char buf[kMaxVarint32Length];
  EXPECT_EQ(std::string(buf, EncodeVarint32(buf, 300) - buf), Bytes({0xAC, 0x02}));
  for (uint32_t v : {0u, 1u, 127u, 128u, 16383u, 16384u, 0xFFFFFFFFu}) {
    char* end = EncodeVarint32(buf, v);
    ASSERT_EQ(end - buf, Varint32Length(v)) << v;
    uint32_t back = 0;
    ASSERT_EQ(DecodeVarint32(buf, end, &back), end) << v;
    EXPECT_EQ(back, v);
    if (end - buf > 1) {
      EXPECT_EQ(DecodeVarint32(buf, end - 1, &back), nullptr) << "truncated";
    }
  }
  const std::string too_big = Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x10});  // 33 bits
  uint32_t v = 0;
  EXPECT_EQ(DecodeVarint32(too_big.data(), too_big.data() + too_big.size(), &v), nullptr);
}

}  // namespace
}  // namespace meshq
