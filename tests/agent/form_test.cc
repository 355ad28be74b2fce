// Form decoding: '+', %XX in any case, invalid escapes, repeated/missing/empty fields, UTF-8,
// huge bodies; and the encoder round trip.
#include "form.h"

#include <gtest/gtest.h>

#include <string>

namespace meshq::agent::form {
namespace {

TEST(Form, ContestBody) {
  Form f;
  ASSERT_TRUE(
      f.Parse("interface=com.alibaba.dubbo.performance.demo.provider.IHelloService&method="
              "hash&parameterTypesString=Ljava%2Flang%2FString%3B&parameter=hello+w%C3%B6rld")
          .ok());
  EXPECT_EQ(f.size(), 4u);
  EXPECT_EQ(f.Get("interface"), "com.alibaba.dubbo.performance.demo.provider.IHelloService");
  EXPECT_EQ(f.Get("method"), "hash");
  EXPECT_EQ(f.Get("parameterTypesString"), "Ljava/lang/String;");
  EXPECT_EQ(f.Get("parameter"), "hello w\xC3\xB6rld");
}

TEST(Form, PlusPercentAndCase) {
  Form f;
  ASSERT_TRUE(f.Parse("a=1+2%2B3&b=%e4%B8%ad&c=%25%26%3D").ok());
  EXPECT_EQ(f.Get("a"), "1 2+3");
  EXPECT_EQ(f.Get("b"), "\xE4\xB8\xAD");
  EXPECT_EQ(f.Get("c"), "%&=");
  ASSERT_TRUE(f.Parse("na%20me=v").ok());
  EXPECT_EQ(f.name(0), "na me");
}

TEST(Form, RepeatedMissingAndEmptyFields) {
  Form f;
  ASSERT_TRUE(f.Parse("a=1&b=&c&&a=2&").ok());
  EXPECT_EQ(f.size(), 4u);
  EXPECT_EQ(f.Get("a"), "1") << "the first of repeated keys wins";
  EXPECT_EQ(f.Count("a"), 2u);
  EXPECT_EQ(f.value(3), "2");
  bool found = false;
  EXPECT_EQ(f.Get("b", &found), "");
  EXPECT_TRUE(found);
  EXPECT_EQ(f.Get("c", &found), "");
  EXPECT_TRUE(found);
  EXPECT_EQ(f.Get("parameter", &found), "");
  EXPECT_FALSE(found);
  ASSERT_TRUE(f.Parse("").ok());
  EXPECT_EQ(f.size(), 0u);
  ASSERT_TRUE(f.Parse("=v").ok());
  EXPECT_EQ(f.name(0), "");
  EXPECT_EQ(f.value(0), "v");
}

TEST(Form, InvalidEscapesAndUtf8AreErrors) {
  Form f;
  for (const char* bad : {"a=%", "a=%4", "a=%G1", "a=%1G", "a=ok&b=%zz", "%=1", "a=%C3", "a=%C0%AF",
                          "a=%ED%A0%80", "a=\xFF"}) {
    Status s = f.Parse(bad);
    EXPECT_TRUE(s.IsInvalidArgument()) << bad;
    EXPECT_EQ(f.size(), 0u) << "a failed parse leaves the form empty";
  }
  Status s = f.Parse("parameter=%zz");
  EXPECT_NE(s.message().find("parameter"), std::string_view::npos) << s.ToString();
  std::string out = "kept";
  EXPECT_TRUE(DecodeComponent("abc%", &out).IsInvalidArgument());
  EXPECT_EQ(out, "kept") << "a failed decode appends nothing";
}

TEST(Form, HugeBodies) {
  // One 1 MiB value decodes intact.
  std::string big(1 << 20, 'x');
  Form f;
  ASSERT_TRUE(f.Parse("parameter=" + big).ok());
  EXPECT_EQ(f.Get("parameter").size(), big.size());
  // Many fields are capped.
  std::string many;
  for (int i = 0; i < 100; ++i) many += "k" + std::to_string(i) + "=v&";
  EXPECT_TRUE(f.Parse(many, 64).IsInvalidArgument());
  EXPECT_TRUE(f.Parse(many, 100).ok());
}

TEST(Form, EncodeRoundTrips) {
  const std::string text = "a b+c&d=e/\xE4\xB8\xAD\xF0\x9F\x98\x80~%";
  std::string enc;
  EncodeComponent(text, &enc);
  EXPECT_EQ(enc, "a+b%2Bc%26d%3De%2F%E4%B8%AD%F0%9F%98%80~%25");
  std::string dec;
  ASSERT_TRUE(DecodeComponent(enc, &dec).ok());
  EXPECT_EQ(dec, text);
}

}  // namespace
}  // namespace meshq::agent::form
