// HTTP/1.1 request parser and response writer: pipelining, byte-by-byte arrival, framing errors,
// limits, keep-alive rules.
#include "http_request.h"

#include <gtest/gtest.h>

#include <string>

#include "http_response.h"

namespace meshq::agent::http {
namespace {

const std::string kPost =
    "POST / HTTP/1.1\r\nHost: 127.0.0.1:20000\r\nContent-Type: "
    "application/x-www-form-urlencoded\r\nContent-Length: 27\r\n\r\n"
    "interface=a&method=hash&p=1";

ParseResult Parse(std::string_view in, Request* req, Limits limits = Limits()) {
  return ParseRequest(in, limits, req);
}

TEST(HttpRequest, SimplePost) {
  Request req;
  ParseResult r = Parse(kPost, &req);
  ASSERT_EQ(r.state, ParseState::kOk) << r.reason;
  EXPECT_EQ(r.consumed, kPost.size());
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/");
  EXPECT_EQ(req.version_minor, 1);
  EXPECT_TRUE(req.keep_alive);
  EXPECT_EQ(req.body, "interface=a&method=hash&p=1");
  EXPECT_EQ(req.Header("content-TYPE"), "application/x-www-form-urlencoded");
  bool found = true;
  EXPECT_EQ(req.Header("X-Missing", &found), "");
  EXPECT_FALSE(found);
}

TEST(HttpRequest, PipelinedRequestsInOneBuffer) {
  const std::string get = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string buf = kPost + get + kPost;
  std::string_view in = buf;
  std::vector<std::string> methods;
  Request req;
  while (!in.empty()) {
    ParseResult r = Parse(in, &req);
    ASSERT_EQ(r.state, ParseState::kOk) << r.reason;
    methods.emplace_back(req.method);
    in.remove_prefix(r.consumed);
  }
  EXPECT_EQ(methods, (std::vector<std::string>{"POST", "GET", "POST"}));
}

TEST(HttpRequest, EveryPrefixNeedsMore) {
  // Bytes arriving one at a time: every proper prefix is need-more, never an error.
  for (const std::string& full :
       {kPost, std::string("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")}) {
    Request req;
    for (std::size_t cut = 0; cut < full.size(); ++cut) {
      ParseResult r = Parse(std::string_view(full).substr(0, cut), &req);
      ASSERT_EQ(r.state, ParseState::kNeedMore) << "cut " << cut << ": " << r.reason;
    }
    ParseResult r = Parse(full, &req);
    ASSERT_EQ(r.state, ParseState::kOk) << r.reason;
    EXPECT_EQ(r.consumed, full.size());
  }
}

TEST(HttpRequest, ChunkedBodyIsDecoded) {
  const std::string in =
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nb\r\n 0123456789\r\n"
      "0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
  Request req;
  ParseResult r = Parse(in, &req);
  ASSERT_EQ(r.state, ParseState::kOk) << r.reason;
  EXPECT_EQ(req.body, "hello 0123456789");
  EXPECT_EQ(in.substr(r.consumed), "GET / HTTP/1.1\r\n\r\n");
}

TEST(HttpRequest, ExpectContinueIsVisibleBeforeTheBody) {
  const std::string head = "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  Request req;
  ASSERT_EQ(Parse(head.substr(0, head.size() - 2), &req).state, ParseState::kNeedMore);
  EXPECT_FALSE(req.headers_complete);
  ASSERT_EQ(Parse(head, &req).state, ParseState::kNeedMore);
  EXPECT_TRUE(req.headers_complete) << "the server may now send 100 Continue";
  EXPECT_TRUE(req.expect_continue);
  const std::string full = head + "hello";  // req's views point into it: keep it alive
  ASSERT_EQ(Parse(full, &req).state, ParseState::kOk);
  EXPECT_EQ(req.body, "hello");
}

TEST(HttpRequest, KeepAliveRules) {
  Request req;
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &req).state, ParseState::kOk);
  EXPECT_FALSE(req.keep_alive);
  ASSERT_EQ(Parse("GET / HTTP/1.0\r\n\r\n", &req).state, ParseState::kOk);
  EXPECT_FALSE(req.keep_alive);
  EXPECT_EQ(req.version_minor, 0);
  ASSERT_EQ(Parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req).state, ParseState::kOk);
  EXPECT_TRUE(req.keep_alive);
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n", &req).state,
            ParseState::kOk);
  EXPECT_FALSE(req.keep_alive);
  // Bare LF line endings are tolerated.
  ASSERT_EQ(Parse("GET / HTTP/1.1\nHost: x\n\n", &req).state, ParseState::kOk);
  EXPECT_TRUE(req.keep_alive);
}

struct ErrorCase {
  std::string input;
  int status;
};

TEST(HttpRequest, ErrorsCarryTheRightStatus) {
  const ErrorCase cases[] = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET /\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\n\r\n", 400},
      {"G@T / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1 extra\r\n\r\n", 400},
      {"GET / HTTX/1.1\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / HTTP/1.2\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: x\r\n\r\n", 411},
      {"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 400},
  };
  for (const auto& c : cases) {
    Request req;
    ParseResult r = Parse(c.input, &req);
    EXPECT_EQ(r.state, ParseState::kError) << c.input;
    EXPECT_EQ(r.status, c.status) << c.input << " -> " << r.reason;
    EXPECT_FALSE(r.reason.empty());
  }
  // A garbage method is rejected before its line ends.
  Request req;
  EXPECT_EQ(Parse("\x16\x03\x01", &req).state, ParseState::kError);
}

TEST(HttpRequest, LimitsGive413And431) {
  Limits small;
  small.max_body_bytes = 16;
  small.max_header_bytes = 128;
  small.max_headers = 3;
  Request req;
  // Huge body: refused from Content-Length alone, before the body arrives.
  ParseResult r = Parse("POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", &req, small);
  EXPECT_EQ(r.status, 413);
  r = Parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\n",
            &req, small);
  EXPECT_EQ(r.status, 413);
  // Headers that never end within the limit.
  r = Parse("GET / HTTP/1.1\r\nX-Long: " + std::string(200, 'a'), &req, small);
  EXPECT_EQ(r.status, 431);
  r = Parse("GET /" + std::string(200, 'a'), &req, small);
  EXPECT_EQ(r.status, 431);
  r = Parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", &req, small);
  EXPECT_EQ(r.status, 431);
  r = Parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &req, small);
  EXPECT_EQ(r.state, ParseState::kOk);
  // Exactly at the body limit is fine.
  r = Parse("POST / HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789abcdef", &req, small);
  EXPECT_EQ(r.state, ParseState::kOk);
}

TEST(HttpResponse, WritesStatusLengthAndConnection) {
  std::string out;
  AppendResponse(200, "99162322", true, &out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
            "8\r\n\r\n99162322");
  out.clear();
  AppendResponse(504, "provider timeout", false, &out, "text/plain");
  EXPECT_EQ(out,
            "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\nContent-Length: "
            "16\r\nConnection: close\r\n\r\nprovider timeout");
  // Our own responses parse as HTTP (status line aside, the framing is the same grammar).
  EXPECT_EQ(ReasonPhrase(413), "Content Too Large");
  EXPECT_EQ(ReasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(ReasonPhrase(799), "Unknown");
}

}  // namespace
}  // namespace meshq::agent::http
