// Java String.hashCode() over UTF-16 code units, and the strict UTF-8 rules it relies on.
#include "java_hash.h"

#include <gtest/gtest.h>

#include <string>

#include "utf8.h"

namespace meshq::agent {
namespace {

std::int32_t Hash(std::string_view s) {
  std::int32_t h = 12345;
  Status st = JavaStringHash(s, &h);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return h;
}

TEST(JavaHash, KnownAsciiValues) {
  EXPECT_EQ(Hash(""), 0);
  EXPECT_EQ(Hash("a"), 97);
  // 'h'=104: ((((104*31+101)*31+108)*31+108)*31+111) = 99162322, the classic Java example.
  EXPECT_EQ(Hash("hello"), 99162322);
  EXPECT_EQ(Hash("Hello, World!"), 1498789909);
  // Long enough to wrap around 2^32 several times: Java's int overflow, not UB.
  EXPECT_EQ(Hash("The quick brown fox jumps over the lazy dog"), -609428141);
}

TEST(JavaHash, NonAsciiCountsUtf16Units) {
  // "é" is U+00E9 (2 UTF-8 bytes c3 a9) but one UTF-16 unit: hash = 0xE9 = 233, not a hash of
  // the bytes.
  EXPECT_EQ(Hash("\xC3\xA9"), 233);
  // "中文": U+4E2D, U+6587 -> 20013*31 + 25991 = 646394.
  EXPECT_EQ(Hash("\xE4\xB8\xAD\xE6\x96\x87"), 646394);
}

TEST(JavaHash, NonBmpIsASurrogatePair) {
  // U+1F600 (😀) is the pair D83D DE00 in UTF-16: 0xD83D*31 + 0xDE00 = 55357*31 + 56832.
  EXPECT_EQ(Hash("\xF0\x9F\x98\x80"), 55357 * 31 + 56832);
  EXPECT_EQ(Hash("\xF0\x9F\x98\x80"), 1772899);
  // U+1D11E (𝄞) = D834 DD1E: 55348*31 + 56606 = 1772394.
  EXPECT_EQ(Hash("\xF0\x9D\x84\x9E"), 1772394);
  // 'a' 😀 'b': ((97*31 + 55357)*31 + 56832)*31 + 98 = 57849694.
  EXPECT_EQ(Hash("a\xF0\x9F\x98\x80"
                 "b"),
            57849694);
  // Mixed text, value from the same recurrence over its 17 UTF-16 units (wraps negative).
  EXPECT_EQ(
      Hash("na\xC3\xAFve caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80\xF0\x9F\x8E\x89"),
      -1206807412);
}

TEST(JavaHash, InvalidUtf8IsAnErrorNotUB) {
  const char* bad[] = {
      "\x80",              // stray continuation
      "\xC3",              // truncated 2-byte
      "\xE4\xB8",          // truncated 3-byte
      "\xF0\x9F\x98",      // truncated 4-byte
      "\xC0\xAF",          // overlong '/'
      "\xE0\x80\xAF",      // overlong 3-byte
      "\xED\xA0\x80",      // encoded surrogate U+D800 (CESU-8 is not UTF-8)
      "\xF4\x90\x80\x80",  // U+110000
      "\xFF",
  };
  for (const char* s : bad) {
    std::int32_t h = 7;
    Status st = JavaStringHash(s, &h);
    EXPECT_TRUE(st.IsInvalidArgument()) << testing::PrintToString(s);
    EXPECT_EQ(h, 7) << "output must stay untouched on error";
  }
}

TEST(Utf8, Utf16LengthCountsPairs) {
  std::size_t n = 0;
  ASSERT_TRUE(Utf16Length("", &n).ok());
  EXPECT_EQ(n, 0u);
  ASSERT_TRUE(Utf16Length("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80", &n).ok());
  EXPECT_EQ(n, 5u);  // a, é, 中, and 2 for 😀
  EXPECT_FALSE(Utf16Length("ok\xC3", &n).ok());
}

TEST(Utf8, AppendRoundTripsEveryPlane) {
  for (char32_t cp :
       {U'\0', U'a', U'\u00E9', U'\u07FF', U'\u0800', U'\uFFFD', U'\U00010000', U'\U0010FFFF'}) {
    std::string s;
    AppendUtf8(cp, &s);
    char32_t back = 0;
    ASSERT_EQ(DecodeUtf8CodePoint(s, 0, &back), static_cast<int>(s.size()));
    EXPECT_EQ(back, cp);
    EXPECT_TRUE(IsValidUtf8(s));
  }
}

}  // namespace
}  // namespace meshq::agent
