// Dubbo 2 framing: golden header/body bytes, streaming decode (truncation, bad magic, limits),
// request/response round trips in both directions, heartbeats, error statuses, exceptions.
#include "dubbo_codec.h"

#include <gtest/gtest.h>

#include <string>

#include "wire_bytes.h"

namespace meshq::agent::dubbo {
namespace {

constexpr std::string_view kService = "com.alibaba.dubbo.performance.demo.provider.IHelloService";

using testing_bytes::Bytes;
// A compact hessian2 string (< 32 chars) or a 0x30-form one (< 1024).
std::string H2Str(std::string_view s) {
  std::string out =
      s.size() < 32
          ? Bytes({static_cast<int>(s.size())})
          : Bytes({0x30 + static_cast<int>(s.size() >> 8), static_cast<int>(s.size() & 0xFF)});
  return out + std::string(s);
}

// IHelloService.hash(String) with the given argument(s).
Call HashCall(std::span<const std::string_view> args) {
  Call call;
  call.service = kService;
  call.method = "hash";
  call.parameter_types = "Ljava/lang/String;";
  call.arguments = args;
  return call;
}

TEST(DubboHeader, GoldenHeartbeatBytes) {
  std::string out;
  AppendHeartbeat(7, /*is_request=*/true, &out);
  // magic, flags request|twoway|event|hessian2 = 0xE2, status 0, id 7, length 1, body 'N'.
  EXPECT_EQ(out, Bytes({0xDA, 0xBB, 0xE2, 0x00, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 'N'}));
  std::string reply;
  AppendHeartbeat(7, /*is_request=*/false, &reply);
  // Response: event|hessian2 = 0x22, status 20 (OK).
  EXPECT_EQ(reply, Bytes({0xDA, 0xBB, 0x22, 20, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 'N'}));
  auto f = DecodeFrame(out);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f.value.header.is_request());
  EXPECT_TRUE(f.value.header.is_twoway());
  EXPECT_TRUE(f.value.header.is_event());
  EXPECT_EQ(f.value.header.id, 7u);
  EXPECT_EQ(f.value.body, "N");
}

TEST(DubboHeader, EncodeDecodeAllFields) {
  Header h;
  h.flags = kFlagRequest | kFlagTwoWay | kHessian2;
  h.status = 0;
  h.id = 0x0102030405060708ULL;
  h.body_length = 0x0A0B0C;
  char buf[kHeaderSize];
  EncodeHeader(h, buf);
  EXPECT_EQ(std::string(buf, kHeaderSize),
            Bytes({0xDA, 0xBB, 0xC2, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x0A, 0x0B, 0x0C}));
}

TEST(DubboRequest, GoldenBytesForHash) {
  std::string out;
  const std::string_view args[] = {"hello"};
  ASSERT_TRUE(AppendRequest(42, HashCall(args), &out).ok());
  const std::string body = H2Str("2.0.2") + H2Str(kService) + H2Str("0.0.0") + H2Str("hash") +
                           H2Str("Ljava/lang/String;") + H2Str("hello") + "H" + H2Str("path") +
                           H2Str(kService) + H2Str("interface") + H2Str(kService) +
                           H2Str("version") + H2Str("0.0.0") + "Z";
  const std::string header =
      Bytes({0xDA, 0xBB, 0xC2, 0x00, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0,
             static_cast<int>(body.size() >> 8), static_cast<int>(body.size() & 0xFF)});
  EXPECT_EQ(out, header + body);

  // The provider side reads it back.
  auto f = DecodeFrame(out);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.consumed, out.size());
  Invocation inv;
  ASSERT_TRUE(DecodeInvocation(f.value.body, &inv).ok());
  EXPECT_EQ(inv.dubbo_version, "2.0.2");
  EXPECT_EQ(inv.service, kService);
  EXPECT_EQ(inv.method, "hash");
  EXPECT_EQ(inv.parameter_types, "Ljava/lang/String;");
  ASSERT_EQ(inv.arguments.size(), 1u);
  EXPECT_EQ(inv.arguments[0].text, "hello");
  ASSERT_EQ(inv.attachments.size(), 3u);
  EXPECT_EQ(inv.attachments[0].first, "path");
}

TEST(DubboRequest, TypedArgumentsAndValidation) {
  std::string out;
  const std::string_view args[] = {"-5", "9000000000", "true", "\xE4\xB8\xAD\xF0\x9F\x98\x80"};
  Call call;
  call.service = "S";
  call.method = "m";
  call.parameter_types = "IJZLjava/lang/String;";
  call.arguments = args;
  ASSERT_TRUE(AppendRequest(1, call, &out).ok());
  auto f = DecodeFrame(out);
  ASSERT_TRUE(f.ok());
  Invocation inv;
  ASSERT_TRUE(DecodeInvocation(f.value.body, &inv).ok());
  ASSERT_EQ(inv.arguments.size(), 4u);
  EXPECT_EQ(inv.arguments[0].integer, -5);
  EXPECT_EQ(inv.arguments[1].integer, 9000000000LL);
  EXPECT_TRUE(inv.arguments[2].boolean);
  EXPECT_EQ(inv.arguments[3].text, "\xE4\xB8\xAD\xF0\x9F\x98\x80");

  std::string untouched = "keep";
  const std::string_view one[] = {"x"};
  call.arguments = one;
  call.parameter_types = "I";
  EXPECT_TRUE(AppendRequest(2, call, &untouched).IsInvalidArgument());  // not an int
  call.parameter_types = "Ljava/util/List;";
  EXPECT_TRUE(AppendRequest(2, call, &untouched).IsInvalidArgument());  // unsupported
  call.parameter_types = "Ljava/lang/String;Ljava/lang/String;";
  EXPECT_TRUE(AppendRequest(2, call, &untouched).IsInvalidArgument());  // count mismatch
  call.parameter_types = "Ljava/lang/String";
  EXPECT_TRUE(AppendRequest(2, call, &untouched).IsInvalidArgument());  // malformed
  const std::string_view bad_utf8[] = {"\xC3"};
  call.parameter_types = "Ljava/lang/String;";
  call.arguments = bad_utf8;
  EXPECT_TRUE(AppendRequest(2, call, &untouched).IsInvalidArgument());
  EXPECT_EQ(untouched, "keep") << "a failed encode must not leave partial bytes";
}

TEST(DubboRequest, CountParameters) {
  std::size_t n = 99;
  ASSERT_TRUE(CountParameters("", &n).ok());
  EXPECT_EQ(n, 0u);
  ASSERT_TRUE(CountParameters("Ljava/lang/String;[II[[Ljava/lang/Object;J", &n).ok());
  EXPECT_EQ(n, 5u);
  EXPECT_FALSE(CountParameters("Q", &n).ok());
  EXPECT_FALSE(CountParameters("[", &n).ok());
  EXPECT_FALSE(CountParameters("L;", &n).ok());
}

TEST(DubboFrame, EveryTruncationNeedsMore) {
  std::string out;
  const std::string_view args[] = {"na\xC3\xAFve \xF0\x9F\x98\x80"};
  ASSERT_TRUE(AppendRequest(3, HashCall(args), &out).ok());
  for (std::size_t cut = 0; cut < out.size(); ++cut) {
    auto f = DecodeFrame(std::string_view(out).substr(0, cut));
    ASSERT_TRUE(f.need_more()) << "cut at " << cut;
  }
  // Pipelined: two frames in one buffer decode one after the other.
  std::string two = out;
  AppendHeartbeat(4, true, &two);
  auto first = DecodeFrame(two);
  ASSERT_TRUE(first.ok());
  auto second = DecodeFrame(std::string_view(two).substr(first.consumed));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.value.header.id, 4u);
}

TEST(DubboFrame, CorruptMagicSerializationAndOversizeAreErrors) {
  std::string hb;
  AppendHeartbeat(1, true, &hb);
  std::string bad = hb;
  bad[0] = 'G';  // e.g. an HTTP client talking to the Dubbo port
  EXPECT_TRUE(DecodeFrame(std::string_view(bad).substr(0, 1)).failed());
  bad = hb;
  bad[1] = 0x00;
  EXPECT_TRUE(DecodeFrame(std::string_view(bad).substr(0, 2)).failed());
  bad = hb;
  bad[2] = static_cast<char>(kFlagRequest | 6);  // kryo, not hessian2
  EXPECT_TRUE(DecodeFrame(bad).failed());
  Header h;
  h.flags = kHessian2;
  h.body_length = 9u << 20;
  char buf[kHeaderSize];
  EncodeHeader(h, buf);
  auto big = DecodeFrame(std::string_view(buf, kHeaderSize));
  ASSERT_TRUE(big.failed()) << "the limit is checked from the header alone";
  EXPECT_TRUE(big.error.IsCorruption());
  EXPECT_TRUE(DecodeFrame(std::string_view(buf, kHeaderSize), 16u << 20).need_more());
}

Response Decode(const std::string& bytes) {
  auto f = DecodeFrame(bytes);
  EXPECT_TRUE(f.ok());
  Response r;
  Status st = DecodeResponse(f.value, &r);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return r;
}

TEST(DubboResponse, ValueWithAndWithoutAttachments) {
  std::string out;
  ASSERT_TRUE(AppendValueResponse(9, hessian2::Value::Int(99162322), nullptr, &out).ok());
  // type RESPONSE_VALUE as hessian int 1 (0x91), then 'I' 99162322.
  EXPECT_EQ(out.substr(kHeaderSize), Bytes({0x91, 'I', 0x05, 0xE9, 0x18, 0xD2}));
  EXPECT_EQ(out.substr(0, 4), Bytes({0xDA, 0xBB, 0x02, 20}));
  Response r = Decode(out);
  EXPECT_EQ(r.id, 9u);
  EXPECT_EQ(r.outcome, Response::Outcome::kValue);
  EXPECT_EQ(ResponseText(r), "99162322");

  out.clear();
  const Attachments att = {{"dubbo", "2.0.2"}};
  ASSERT_TRUE(AppendValueResponse(10, hessian2::Value::Int(-7), &att, &out).ok());
  EXPECT_EQ(static_cast<unsigned char>(out[kHeaderSize]), 0x94);  // RESPONSE_VALUE_WITH_ATTACHMENTS
  r = Decode(out);
  EXPECT_EQ(ResponseText(r), "-7");
  EXPECT_EQ(r.attachments, att);
  Response skipped;
  ASSERT_TRUE(DecodeResponse(DecodeFrame(out).value, &skipped, /*want_attachments=*/false).ok());
  EXPECT_TRUE(skipped.attachments.empty());
  EXPECT_EQ(ResponseText(skipped), "-7");
}

TEST(DubboResponse, NullValues) {
  std::string out;
  ASSERT_TRUE(AppendValueResponse(1, hessian2::Value::Null(), nullptr, &out).ok());
  EXPECT_EQ(out.substr(kHeaderSize), Bytes({0x92}));
  EXPECT_EQ(Decode(out).outcome, Response::Outcome::kNull);
  out.clear();
  const Attachments att = {};
  ASSERT_TRUE(AppendValueResponse(1, hessian2::Value::Null(), &att, &out).ok());
  EXPECT_EQ(out.substr(kHeaderSize), Bytes({0x95, 'H', 'Z'}));
  EXPECT_EQ(ResponseText(Decode(out)), "null");
}

TEST(DubboResponse, ExceptionBecomesText) {
  for (bool with_att : {false, true}) {
    std::string out;
    const Attachments att = {{"dubbo", "2.0.2"}};
    ASSERT_TRUE(AppendExceptionResponse(5, "java.lang.IllegalStateException", "no such thing",
                                        with_att ? &att : nullptr, &out)
                    .ok());
    EXPECT_EQ(static_cast<unsigned char>(out[kHeaderSize]), with_att ? 0x93 : 0x90);
    Response r = Decode(out);
    EXPECT_EQ(r.outcome, Response::Outcome::kException);
    EXPECT_EQ(ResponseText(r), "java.lang.IllegalStateException: no such thing");
  }
}

// A Java exception whose cause chain is `depth` long, shaped as Java's serializer writes it.
hessian2::Value CauseChain(int depth) {
  hessian2::Value cause;
  for (int level = depth; level-- > 0;) {
    hessian2::Value trace, suppressed, e;
    trace.kind = suppressed.kind = hessian2::Value::Kind::kList;
    trace.text = "[java.lang.StackTraceElement";
    e.kind = hessian2::Value::Kind::kObject;
    e.text = "java.lang.RuntimeException";
    e.field_names = {"detailMessage", "cause", "stackTrace", "suppressedExceptions"};
    e.items = {hessian2::Value::String("level " + std::to_string(level)), std::move(cause),
               std::move(trace), std::move(suppressed)};
    cause = std::move(e);
  }
  return cause;
}

TEST(DubboResponse, DeepExceptionChainKeepsTheOuterTextAndSaysItWasCut) {
  const Attachments att = {{"dubbo", "2.0.2"}};
  std::string shallow, deep;
  ASSERT_TRUE(AppendThrowableResponse(6, CauseChain(10), &att, &shallow).ok());
  ASSERT_TRUE(AppendThrowableResponse(7, CauseChain(70), &att, &deep).ok());
  Response r = Decode(shallow);
  EXPECT_EQ(r.outcome, Response::Outcome::kException);
  EXPECT_EQ(ResponseText(r), "java.lang.RuntimeException: level 0");
  r = Decode(deep);
  EXPECT_EQ(r.outcome, Response::Outcome::kException);
  EXPECT_EQ(ResponseText(r),
            "java.lang.RuntimeException: level 0 [exception object nested deeper than 64 levels: "
            "the deeper levels were cut]");
  // The attachments after the cut object are still read in step.
  ASSERT_EQ(r.attachments.size(), 1u);
  EXPECT_EQ(r.attachments[0].second, "2.0.2");
}

TEST(DubboResponse, ErrorStatusCarriesMessage) {
  for (auto st : {ResponseStatus::kClientTimeout, ResponseStatus::kServerTimeout,
                  ResponseStatus::kBadRequest, ResponseStatus::kServiceError,
                  ResponseStatus::kServerError, ResponseStatus::kClientError}) {
    std::string out;
    ASSERT_TRUE(AppendErrorResponse(77, st, "Waiting server-side response timeout", &out).ok());
    EXPECT_EQ(static_cast<unsigned char>(out[3]), static_cast<unsigned char>(st));
    Response r = Decode(out);
    EXPECT_EQ(r.outcome, Response::Outcome::kError);
    EXPECT_EQ(r.status, static_cast<std::uint8_t>(st));
    EXPECT_EQ(r.message, "Waiting server-side response timeout");
  }
  EXPECT_STREQ(ResponseStatusName(31), "server timeout");
}

TEST(DubboResponse, MalformedBodiesAreCorruption) {
  std::string out;
  ASSERT_TRUE(AppendValueResponse(1, hessian2::Value::Int(1), nullptr, &out).ok());
  Frame f = DecodeFrame(out).value;
  Response r;
  f.body = f.body.substr(0, 1);  // type but no value
  EXPECT_TRUE(DecodeResponse(f, &r).IsCorruption());
  const std::string unknown_type = Bytes({0x99});
  f.body = unknown_type;
  EXPECT_TRUE(DecodeResponse(f, &r).IsCorruption());
  const std::string trailing = Bytes({0x91, 0x91, 0x91});
  f.body = trailing;
  EXPECT_TRUE(DecodeResponse(f, &r).IsCorruption());
  std::string hb;
  AppendHeartbeat(1, false, &hb);
  EXPECT_TRUE(DecodeResponse(DecodeFrame(hb).value, &r).IsInvalidArgument());
}

TEST(DubboVersion, ResponseAttachmentRule) {
  EXPECT_TRUE(SupportsResponseAttachments("2.0.2"));
  EXPECT_TRUE(SupportsResponseAttachments("2.0.10"));
  EXPECT_TRUE(SupportsResponseAttachments("2.0.99"));
  EXPECT_FALSE(SupportsResponseAttachments("2.0.1"));
  EXPECT_FALSE(SupportsResponseAttachments("2.6.0"));
  EXPECT_FALSE(SupportsResponseAttachments(""));
  EXPECT_FALSE(SupportsResponseAttachments("x"));
}

}  // namespace
}  // namespace meshq::agent::dubbo
