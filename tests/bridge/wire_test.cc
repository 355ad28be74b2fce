// WireWriter / WireReader: the fields' bytes are little-endian whatever the host, and a reader
// fails (and stays failed) on a short input.
#include "meshq/bridge/wire.h"

#include <gtest/gtest.h>

#include <string>

namespace meshq::bridge {
namespace {

TEST(Wire, FieldsAreLittleEndianBytes) {
  std::string out;
  WireWriter w(&out);
  w.U8(0xA1);
  w.U16(0x0102);
  w.U32(0x03040506);
  w.U64(0x0708090A0B0C0D0Eull);
  w.Str16("hi");
  w.Bytes32("xyz");
  const std::string expected(
      "\xA1"
      "\x02\x01"
      "\x06\x05\x04\x03"
      "\x0E\x0D\x0C\x0B\x0A\x09\x08\x07"
      "\x02\x00"
      "hi"
      "\x03\x00\x00\x00"
      "xyz",
      1 + 2 + 4 + 8 + 2 + 2 + 4 + 3);
  EXPECT_EQ(out, expected);

  WireReader r(out);
  uint8_t a = 0;
  uint16_t b = 0;
  uint32_t c = 0;
  uint64_t d = 0;
  std::string_view s, bytes;
  ASSERT_TRUE(r.U8(&a) && r.U16(&b) && r.U32(&c) && r.U64(&d) && r.Str16(&s) && r.Bytes32(&bytes));
  EXPECT_EQ(a, 0xA1);
  EXPECT_EQ(b, 0x0102);
  EXPECT_EQ(c, 0x03040506u);
  EXPECT_EQ(d, 0x0708090A0B0C0D0Eull);
  EXPECT_EQ(s, "hi");
  EXPECT_EQ(bytes, "xyz");
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(r.ok());
}

TEST(Wire, ShortInputFailsAndStaysFailed) {
  WireReader r(std::string_view("\x01\x02\x03", 3));
  uint32_t v = 7;
  EXPECT_FALSE(r.U32(&v));
  EXPECT_EQ(v, 7u) << "a failed read leaves its output alone";
  uint8_t b = 0;
  EXPECT_FALSE(r.U8(&b)) << "failed once, failed for good";
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);

  WireReader str(
      std::string_view("\x05\x00"
                       "abc",
                       5));
  std::string_view s;
  EXPECT_FALSE(str.Str16(&s)) << "a length past the end";
}

}  // namespace
}  // namespace meshq::bridge
