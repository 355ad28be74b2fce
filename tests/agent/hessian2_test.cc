// hessian2: golden bytes from the spec's grammar, round trips, truncation and corruption.
#include "hessian2.h"

#include "utf8.h"

#include <gtest/gtest.h>

#include <climits>
#include <random>
#include <string>

#include "wire_bytes.h"

namespace meshq::agent::hessian2 {
namespace {

using testing_bytes::Bytes;

std::string EncodeInt(std::int32_t v) {
  std::string out;
  Writer(&out).WriteInt(v);
  return out;
}
std::string EncodeLong(std::int64_t v) {
  std::string out;
  Writer(&out).WriteLong(v);
  return out;
}
std::string EncodeString(std::string_view s) {
  std::string out;
  Status st = Writer(&out).WriteString(s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}
std::string DecodeString(std::string_view in) {
  Reader r(in);
  std::string s;
  EXPECT_EQ(r.ReadString(&s), DecodeState::kOk) << r.error().ToString();
  EXPECT_TRUE(r.AtEnd());
  return s;
}

TEST(Hessian2Int, GoldenBytesAtEveryFormBoundary) {
  EXPECT_EQ(EncodeInt(0), Bytes({0x90}));
  EXPECT_EQ(EncodeInt(-16), Bytes({0x80}));
  EXPECT_EQ(EncodeInt(47), Bytes({0xBF}));
  EXPECT_EQ(EncodeInt(48), Bytes({0xC8, 0x30}));
  EXPECT_EQ(EncodeInt(-17), Bytes({0xC7, 0xEF}));
  EXPECT_EQ(EncodeInt(-2048), Bytes({0xC0, 0x00}));
  EXPECT_EQ(EncodeInt(2047), Bytes({0xCF, 0xFF}));
  EXPECT_EQ(EncodeInt(2048), Bytes({0xD4, 0x08, 0x00}));
  EXPECT_EQ(EncodeInt(-2049), Bytes({0xD3, 0xF7, 0xFF}));
  EXPECT_EQ(EncodeInt(-262144), Bytes({0xD0, 0x00, 0x00}));
  EXPECT_EQ(EncodeInt(262143), Bytes({0xD7, 0xFF, 0xFF}));
  EXPECT_EQ(EncodeInt(262144), Bytes({'I', 0x00, 0x04, 0x00, 0x00}));
  EXPECT_EQ(EncodeInt(-262145), Bytes({'I', 0xFF, 0xFB, 0xFF, 0xFF}));
  EXPECT_EQ(EncodeInt(INT32_MAX), Bytes({'I', 0x7F, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(EncodeInt(INT32_MIN), Bytes({'I', 0x80, 0x00, 0x00, 0x00}));
}

TEST(Hessian2Long, GoldenBytesAtEveryFormBoundary) {
  EXPECT_EQ(EncodeLong(0), Bytes({0xE0}));
  EXPECT_EQ(EncodeLong(-8), Bytes({0xD8}));
  EXPECT_EQ(EncodeLong(15), Bytes({0xEF}));
  EXPECT_EQ(EncodeLong(16), Bytes({0xF8, 0x10}));
  EXPECT_EQ(EncodeLong(-9), Bytes({0xF7, 0xF7}));
  EXPECT_EQ(EncodeLong(-2048), Bytes({0xF0, 0x00}));
  EXPECT_EQ(EncodeLong(2047), Bytes({0xFF, 0xFF}));
  EXPECT_EQ(EncodeLong(2048), Bytes({0x3C, 0x08, 0x00}));
  EXPECT_EQ(EncodeLong(-262144), Bytes({0x38, 0x00, 0x00}));
  EXPECT_EQ(EncodeLong(262143), Bytes({0x3F, 0xFF, 0xFF}));
  EXPECT_EQ(EncodeLong(262144), Bytes({0x59, 0x00, 0x04, 0x00, 0x00}));
  EXPECT_EQ(EncodeLong(INT32_MAX), Bytes({0x59, 0x7F, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(EncodeLong(INT32_MIN), Bytes({0x59, 0x80, 0x00, 0x00, 0x00}));
  EXPECT_EQ(EncodeLong(std::int64_t{INT32_MAX} + 1), Bytes({'L', 0, 0, 0, 0, 0x80, 0, 0, 0}));
  EXPECT_EQ(EncodeLong(INT64_MIN), Bytes({'L', 0x80, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(Hessian2Int, RoundTripsAroundBoundaries) {
  for (std::int64_t base : {0LL, -16LL, 47LL, -2048LL, 2047LL, -262144LL, 262143LL,
                            static_cast<long long>(INT32_MIN), static_cast<long long>(INT32_MAX)}) {
    for (std::int64_t d = -2; d <= 2; ++d) {
      const std::int64_t v = base + d;
      if (v < INT32_MIN || v > INT32_MAX) continue;
      std::string enc = EncodeInt(static_cast<std::int32_t>(v));
      Reader r(enc);
      std::int32_t back;
      ASSERT_EQ(r.ReadInt(&back), DecodeState::kOk);
      EXPECT_EQ(back, v);
      EXPECT_TRUE(r.AtEnd());
      // ReadLong accepts int forms too (a Java long field may be written as an int).
      Reader r2(enc);
      std::int64_t wide;
      ASSERT_EQ(r2.ReadLong(&wide), DecodeState::kOk);
      EXPECT_EQ(wide, v);
    }
  }
  for (std::int64_t v : {INT64_MIN, INT64_MIN + 1, std::int64_t{-262145}, std::int64_t{16},
                         std::int64_t{1} << 40, INT64_MAX}) {
    std::string enc = EncodeLong(v);
    Reader r(enc);
    std::int64_t back;
    ASSERT_EQ(r.ReadLong(&back), DecodeState::kOk);
    EXPECT_EQ(back, v);
    EXPECT_TRUE(r.AtEnd());
  }
}

TEST(Hessian2String, GoldenBytesCompactForms) {
  EXPECT_EQ(EncodeString(""), Bytes({0x00}));
  EXPECT_EQ(EncodeString("hello"), Bytes({0x05}) + "hello");
  // 2-byte UTF-8: length counts characters, not bytes.
  EXPECT_EQ(EncodeString("\xC3\xA9"), Bytes({0x01, 0xC3, 0xA9}));
  // 3-byte UTF-8.
  EXPECT_EQ(EncodeString("\xE4\xB8\xAD"), Bytes({0x01, 0xE4, 0xB8, 0xAD}));
  // 4-byte UTF-8 (U+1F600): two UTF-16 units, each surrogate as its own 3-byte sequence:
  // D83D -> ED A0 BD, DE00 -> ED B8 80. Java's Hessian2Input cannot read 4-byte sequences.
  EXPECT_EQ(EncodeString("\xF0\x9F\x98\x80"), Bytes({0x02, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}));
  EXPECT_EQ(EncodeString(std::string(31, 'x')), Bytes({0x1F}) + std::string(31, 'x'));
  EXPECT_EQ(EncodeString(std::string(32, 'x')), Bytes({0x30, 0x20}) + std::string(32, 'x'));
  EXPECT_EQ(EncodeString(std::string(1023, 'x')), Bytes({0x33, 0xFF}) + std::string(1023, 'x'));
  EXPECT_EQ(EncodeString(std::string(1024, 'x')),
            Bytes({'S', 0x04, 0x00}) + std::string(1024, 'x'));
}

TEST(Hessian2String, ChunkedAbove32kUnits) {
  EXPECT_EQ(EncodeString(std::string(0x8000, 'y')),
            Bytes({'S', 0x80, 0x00}) + std::string(0x8000, 'y'));
  const std::string big(0x8001, 'y');
  EXPECT_EQ(EncodeString(big),
            Bytes({'R', 0x80, 0x00}) + std::string(0x8000, 'y') + Bytes({0x01, 'y'}));
  EXPECT_EQ(DecodeString(EncodeString(big)), big);
  const std::string huge(3 * 0x8000 + 100, 'z');
  EXPECT_EQ(DecodeString(EncodeString(huge)), huge);
}

TEST(Hessian2String, ChunksNeverSplitASurrogatePair) {
  // 0x7FFF 'a' then 😀: the pair would straddle 0x8000, so the first chunk stops at 0x7FFF.
  const std::string s = std::string(0x7FFF, 'a') + "\xF0\x9F\x98\x80";
  EXPECT_EQ(EncodeString(s), Bytes({'R', 0x7F, 0xFF}) + std::string(0x7FFF, 'a') +
                                 Bytes({0x02, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}));
  EXPECT_EQ(DecodeString(EncodeString(s)), s);
}

TEST(Hessian2String, DecoderJoinsAPairSplitAcrossChunks) {
  // Another writer may split the pair; the text must still come out as one UTF-8 character.
  const std::string in = Bytes({'R', 0x00, 0x01, 0xED, 0xA0, 0xBD, 0x01, 0xED, 0xB8, 0x80});
  EXPECT_EQ(DecodeString(in), "\xF0\x9F\x98\x80");
}

TEST(Hessian2String, DecoderAcceptsFourByteUtf8AsTwoUnits) {
  EXPECT_EQ(DecodeString(Bytes({0x03, 'a', 0xF0, 0x9F, 0x98, 0x80})), "a\xF0\x9F\x98\x80");
}

TEST(Hessian2String, RejectsInvalidInput) {
  std::string out;
  EXPECT_TRUE(Writer(&out).WriteString("\xC3").IsInvalidArgument());
  for (const std::string& bad : {Bytes({0x01, 0xED, 0xA0, 0xBD}),  // lone high surrogate
                                 Bytes({0x01, 0xED, 0xB8, 0x80}),  // lone low surrogate
                                 Bytes({0x01, 0x80}),              // continuation as lead
                                 Bytes({0x01, 0xC3, 0x41}),        // bad continuation
                                 Bytes({'R', 0x00, 0x01, 'a', 'I', 0, 0, 0, 1})}) {  // not a chunk
    Reader r(bad);
    std::string s;
    EXPECT_EQ(r.ReadString(&s), DecodeState::kError) << testing::PrintToString(bad);
    EXPECT_TRUE(r.error().IsCorruption());
  }
}

TEST(Hessian2String, RandomUnicodeRoundTrips) {
  std::mt19937 rng(42);
  for (int iter = 0; iter < 200; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % (iter < 190 ? 64 : 40000));
    for (int i = 0; i < n; ++i) {
      char32_t cp;
      switch (rng() % 4) {
        case 0:
          cp = 0x20 + rng() % 0x5F;
          break;
        case 1:
          cp = 0x80 + rng() % 0x780;
          break;
        case 2:
          cp = 0x800 + rng() % (0xD800 - 0x800);
          break;
        default:
          cp = 0x10000 + rng() % 0x100000;
          break;
      }
      AppendUtf8(cp, &s);
    }
    ASSERT_EQ(DecodeString(EncodeString(s)), s);
  }
}

TEST(Hessian2, ScalarsGolden) {
  std::string out;
  Writer w(&out);
  w.WriteNull();
  w.WriteBool(true);
  w.WriteBool(false);
  w.WriteDouble(0.0);
  w.WriteDouble(1.0);
  w.WriteDouble(-128.0);
  w.WriteDouble(300.0);
  w.WriteDouble(12.25);
  EXPECT_EQ(out, Bytes({'N', 'T', 'F', 0x5B, 0x5C, 0x5D, 0x80, 0x5E, 0x01, 0x2C, 'D', 0x40, 0x28,
                        0x80, 0, 0, 0, 0, 0}));
  Reader r(out);
  double d;
  bool b;
  EXPECT_EQ(r.ReadNull(), DecodeState::kOk);
  EXPECT_EQ(r.ReadBool(&b), DecodeState::kOk);
  EXPECT_TRUE(b);
  EXPECT_EQ(r.ReadBool(&b), DecodeState::kOk);
  EXPECT_FALSE(b);
  for (double want : {0.0, 1.0, -128.0, 300.0, 12.25}) {
    ASSERT_EQ(r.ReadDouble(&d), DecodeState::kOk);
    EXPECT_EQ(d, want);
  }
  EXPECT_TRUE(r.AtEnd());
  // 0x5F is Java's "double mill": an int count of thousandths.
  const std::string mill_bytes = Bytes({0x5F, 0x00, 0x00, 0x30, 0x39});
  Reader mill(mill_bytes);
  ASSERT_EQ(mill.ReadDouble(&d), DecodeState::kOk);
  EXPECT_DOUBLE_EQ(d, 12.345);
}

TEST(Hessian2Map, AttachmentsRoundTrip) {
  std::string out;
  ASSERT_TRUE(Writer(&out).WriteStringMap({{"path", "svc"}, {"k", ""}}).ok());
  EXPECT_EQ(out,
            Bytes({'H', 0x04}) + "path" + Bytes({0x03}) + "svc" + Bytes({0x01, 'k', 0x00, 'Z'}));
  Reader r(out);
  std::vector<std::pair<std::string, std::string>> m;
  ASSERT_EQ(r.ReadStringMap(&m), DecodeState::kOk);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], (std::pair<std::string, std::string>{"path", "svc"}));
  EXPECT_EQ(m[1], (std::pair<std::string, std::string>{"k", ""}));
}

TEST(Hessian2Map, TypedMapAndNonStringValues) {
  // M "java.util.HashMap" { "a" -> 1, "b" -> null } Z, as a Java HashMap<String,Object> writes.
  const std::string in = Bytes({'M', 0x11}) + "java.util.HashMap" + Bytes({0x01, 'a', 0x91}) +
                         Bytes({0x01, 'b', 'N', 'Z'});
  auto res = DecodeValue(in);
  ASSERT_TRUE(res.ok()) << res.error.ToString();
  EXPECT_EQ(res.consumed, in.size());
  EXPECT_EQ(res.value.kind, Value::Kind::kMap);
  EXPECT_EQ(res.value.text, "java.util.HashMap");
  ASSERT_NE(res.value.Find("a"), nullptr);
  EXPECT_EQ(res.value.Find("a")->integer, 1);
  EXPECT_EQ(ToText(res.value), "{a=1, b=null}");
  Reader r(in);
  std::vector<std::pair<std::string, std::string>> m;
  ASSERT_EQ(r.ReadStringMap(&m), DecodeState::kOk);
  EXPECT_EQ(m[0].second, "1");
}

TEST(Hessian2Object, ThrowableWithSelfReferenceRendersAsText) {
  // What Java writes for new RuntimeException("boom"): a class definition, the instance, and
  // cause = this as back-reference 0.
  std::string out;
  Writer w(&out);
  Value self;
  self.kind = Value::Kind::kRef;
  ASSERT_TRUE(w.WriteObject("java.lang.RuntimeException", {"detailMessage", "cause"},
                            {Value::String("boom"), self})
                  .ok());
  const std::string golden = Bytes({'C', 0x1A}) + "java.lang.RuntimeException" +
                             Bytes({0x92, 0x0D}) + "detailMessage" + Bytes({0x05}) + "cause" +
                             Bytes({0x60, 0x04}) + "boom" + Bytes({'Q', 0x90});
  EXPECT_EQ(out, golden);
  auto res = DecodeValue(out);
  ASSERT_TRUE(res.ok()) << res.error.ToString();
  EXPECT_EQ(res.value.kind, Value::Kind::kObject);
  EXPECT_EQ(ToText(res.value), "java.lang.RuntimeException: boom");
  // A second object of the same class reuses the definition (0x60 only).
  std::string two;
  Writer w2(&two);
  ASSERT_TRUE(w2.WriteObject("P", {"x"}, {Value::Int(1)}).ok());
  ASSERT_TRUE(w2.WriteObject("P", {"x"}, {Value::Int(2)}).ok());
  EXPECT_EQ(two, Bytes({'C', 0x01, 'P', 0x91, 0x01, 'x', 0x60, 0x91, 0x60, 0x92}));
  Reader r(two);
  Value a, b;
  ASSERT_EQ(r.ReadValue(&a), DecodeState::kOk);
  ASSERT_EQ(r.ReadValue(&b), DecodeState::kOk);
  EXPECT_EQ(ToText(b), "P{x=2}");
}

TEST(Hessian2, ListsAndBinaryRoundTrip) {
  Value list;
  list.kind = Value::Kind::kList;
  for (int i = 0; i < 9; ++i) list.items.push_back(Value::Int(i));
  Value typed = list;
  typed.text = "[int";
  typed.items.resize(3);
  Value bin;
  bin.kind = Value::Kind::kBinary;
  bin.text = std::string(2000, '\x01');
  for (const Value& v : {list, typed, bin}) {
    std::string out;
    ASSERT_TRUE(Writer(&out).WriteValue(v).ok());
    auto res = DecodeValue(out);
    ASSERT_TRUE(res.ok()) << res.error.ToString();
    EXPECT_EQ(res.consumed, out.size());
    EXPECT_EQ(ToText(res.value), ToText(v));
    EXPECT_EQ(res.value.text, v.text);
  }
}

TEST(Hessian2, EveryTruncationNeedsMore) {
  std::string out;
  Writer w(&out);
  Value self;
  self.kind = Value::Kind::kRef;
  Value m;
  m.kind = Value::Kind::kMap;
  m.items = {Value::String("k\xF0\x9F\x98\x80"), Value::Long(1LL << 40), Value::Int(-300),
             Value::String(std::string(1500, 'q'))};
  ASSERT_TRUE(w.WriteValue(m).ok());
  ASSERT_TRUE(w.WriteObject("E", {"detailMessage", "cause"}, {Value::String("x"), self}).ok());
  for (std::size_t cut = 0; cut < out.size(); ++cut) {
    Reader r(std::string_view(out).substr(0, cut));
    DecodeState st = r.Skip();
    if (st == DecodeState::kOk) st = r.Skip();
    ASSERT_EQ(st, DecodeState::kNeedMore) << "cut at " << cut << ": " << r.error().ToString();
  }
  Reader r(out);
  EXPECT_EQ(r.Skip(), DecodeState::kOk);
  EXPECT_EQ(r.Skip(), DecodeState::kOk);
  EXPECT_TRUE(r.AtEnd());
}

TEST(Hessian2, CorruptInputIsAnError) {
  for (const std::string& bad : {Bytes({'Q', 0x90}),       // reference with no target
                                 Bytes({0x60}),            // object of undefined class
                                 Bytes({0x40}),            // unassigned tag
                                 Bytes({'X', 0x8F, 'N'}),  // negative list length
                                 Bytes({0x71, 'I', 0, 0, 0, 9, 'N'})}) {  // type ref 9 undefined
    auto res = DecodeValue(bad);
    EXPECT_TRUE(res.failed()) << testing::PrintToString(bad);
  }
  // Deep nesting is bounded rather than overflowing the stack.
  std::string deep(100000, 'W');
  auto res = DecodeValue(deep);
  EXPECT_TRUE(res.failed());
  // Lists at depths 0 .. kMaxReadDepth are read (deeper than kept: cut); one more is refused.
  auto nest = [](int lists) { return std::string(lists, 'W') + std::string(lists, 'Z'); };
  EXPECT_TRUE(DecodeValue(nest(Reader::kMaxReadDepth + 1)).ok());
  EXPECT_TRUE(DecodeValue(nest(Reader::kMaxReadDepth + 2)).failed());
  const std::string an_int = Bytes({0x91});
  Reader r(an_int);
  std::string s;
  EXPECT_EQ(r.ReadString(&s), DecodeState::kError);
}

TEST(Hessian2, ValuesDeeperThanKeptAreCutNotRefused) {
  // 100 nested untyped lists around an int, then a back-reference to the innermost list: the
  // cut levels still count as reference targets, so ref 99 is valid after them.
  constexpr int kLevels = 100;
  std::string bytes = Bytes({0x78 + 2});  // fixed list of 2: the nest, then the back-reference
  for (int i = 0; i < kLevels; ++i) bytes += "W";
  bytes += Bytes({0x91});
  for (int i = 0; i < kLevels; ++i) bytes += "Z";
  bytes += "Q" + EncodeInt(100);  // ref 100: the innermost list (ref 0 is the outer pair)
  Reader r(bytes);
  Value v;
  ASSERT_EQ(r.ReadValue(&v), DecodeState::kOk) << r.error().ToString();
  EXPECT_TRUE(r.AtEnd());
  EXPECT_TRUE(r.cut());
  ASSERT_EQ(v.items.size(), 2u);
  EXPECT_EQ(v.items[1].kind, Value::Kind::kRef);
  EXPECT_EQ(v.items[1].integer, 100);
  // Levels 0..kMaxKeptDepth are kept; the value at the next level is the cut marker.
  const Value* level = &v.items[0];
  int depth = 1;
  while (level->kind == Value::Kind::kList) {
    ASSERT_EQ(level->items.size(), 1u);
    level = &level->items[0];
    ++depth;
  }
  EXPECT_EQ(level->kind, Value::Kind::kCut);
  EXPECT_EQ(depth, Reader::kMaxKeptDepth + 1);
  EXPECT_NE(ToText(v).find("..."), std::string::npos);
  std::string out;
  EXPECT_FALSE(Writer(&out).WriteValue(v).ok()) << "a cut tree is not re-encoded";
  // A shallow value leaves cut() false.
  const std::string one = Bytes({0x91});
  Reader shallow(one);
  ASSERT_EQ(shallow.ReadValue(&v), DecodeState::kOk);
  EXPECT_FALSE(shallow.cut());
}

}  // namespace
}  // namespace meshq::agent::hessian2
