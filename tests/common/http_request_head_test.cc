// DecodeHttpRequestHead: what the metrics responder accepts, waits for, and refuses.
#include "http_request_head.h"

#include <gtest/gtest.h>

#include <string>

namespace meshq {
namespace {

TEST(HttpRequestHead, DecodesARequestLineAndHeaders) {
  const std::string in =
      "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAccept: text/plain;q=0.9\r\n\r\nrest";
  auto r = DecodeHttpRequestHead(in, 8192);
  ASSERT_TRUE(r.ok()) << r.error.ToString();
  EXPECT_EQ(r.value.method, "GET");
  EXPECT_EQ(r.value.path, "/metrics");
  EXPECT_EQ(r.value.version, "HTTP/1.1");
  EXPECT_EQ(r.consumed, in.size() - 4);
}

TEST(HttpRequestHead, WaitsForTheBlankLine) {
  const std::string in = "GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n";
  for (size_t n = 0; n < in.size(); ++n) {
    EXPECT_TRUE(DecodeHttpRequestHead(in.substr(0, n), 8192).need_more()) << n;
  }
  EXPECT_TRUE(DecodeHttpRequestHead(in, 8192).ok());
}

TEST(HttpRequestHead, RefusesMalformedHeads) {
  for (const char* in : {"GARBAGE\r\n\r\n", "GET /metrics\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
                         "GET /metrics HTTP/2\r\n\r\n", "G(T /metrics HTTP/1.1\r\n\r\n",
                         "GET /a b HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
                         "GET /metrics HTTP/1.1\r\nA: b\x01\r\n\r\n", "GET / HTTP/1.1\n\n"}) {
    auto r = DecodeHttpRequestHead(in, 8192);
    ASSERT_TRUE(r.failed()) << in;
    EXPECT_TRUE(r.error.IsCorruption()) << in;
  }
}

TEST(HttpRequestHead, RefusesAHeadOverTheLimit) {
  std::string in = "GET /metrics HTTP/1.1\r\nX: " + std::string(200, 'a');
  auto r = DecodeHttpRequestHead(in, 128);
  ASSERT_TRUE(r.failed());
  EXPECT_TRUE(r.error.IsInvalidArgument());
  in += "\r\n\r\n";  // complete, but still too long
  r = DecodeHttpRequestHead(in, 128);
  ASSERT_TRUE(r.failed());
  EXPECT_TRUE(r.error.IsInvalidArgument());
  EXPECT_TRUE(DecodeHttpRequestHead(in, in.size()).ok());
}

}  // namespace
}  // namespace meshq
