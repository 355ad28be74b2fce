// Randomized robustness for every wire decoder: mutated and truncated valid inputs must give a
// value, need-more or an error - never a crash, a hang or an out-of-range `consumed` (run under
// ASan/UBSan to catch memory errors). Deterministic seeds, bounded iterations.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "agent_frame.h"
#include "dubbo_codec.h"
#include "form.h"
#include "hessian2.h"
#include "http_request.h"

namespace meshq::agent {
namespace {

constexpr int kIterations = 20000;

// A copy of `seed` with a few random edits: byte flips, truncation, insertion, duplication.
std::string Mutate(const std::string& seed, std::mt19937& rng) {
  std::string s = seed;
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 5) {
      case 0:
        if (!s.empty()) s[rng() % s.size()] = static_cast<char>(rng());
        break;
      case 1:
        if (!s.empty()) s[rng() % s.size()] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 2:
        if (!s.empty()) s.resize(rng() % s.size());
        break;
      case 3:
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(s.empty() ? 0 : rng() % s.size()),
                 static_cast<char>(rng()));
        break;
      default:
        if (!s.empty()) {
          const std::size_t at = rng() % s.size();
          s += s.substr(at, rng() % 16);
        }
    }
  }
  return s;
}

std::vector<std::string> DubboSeeds() {
  std::vector<std::string> seeds;
  std::string s;
  const std::string_view args[] = {"na\xC3\xAFve \xF0\x9F\x98\x80"};
  dubbo::Call call;
  call.service = "com.alibaba.dubbo.performance.demo.provider.IHelloService";
  call.method = "hash";
  call.parameter_types = "Ljava/lang/String;";
  call.arguments = args;
  EXPECT_TRUE(dubbo::AppendRequest(1, call, &s).ok());
  seeds.push_back(s);
  s.clear();
  const dubbo::Attachments att = {{"dubbo", "2.0.2"}};
  EXPECT_TRUE(dubbo::AppendValueResponse(2, hessian2::Value::Int(-5), &att, &s).ok());
  seeds.push_back(s);
  s.clear();
  EXPECT_TRUE(dubbo::AppendExceptionResponse(3, "java.lang.RuntimeException", "x", &att, &s).ok());
  seeds.push_back(s);
  s.clear();
  EXPECT_TRUE(dubbo::AppendErrorResponse(4, dubbo::ResponseStatus::kServerError, "e", &s).ok());
  seeds.push_back(s);
  s.clear();
  dubbo::AppendHeartbeat(5, true, &s);
  seeds.push_back(s);
  return seeds;
}

TEST(WireFuzz, DubboFramesAndBodies) {
  std::mt19937 rng(1);
  const auto seeds = DubboSeeds();
  for (int i = 0; i < kIterations; ++i) {
    const std::string in = Mutate(seeds[rng() % seeds.size()], rng);
    auto f = dubbo::DecodeFrame(in);
    if (!f.ok()) continue;
    ASSERT_LE(f.consumed, in.size());
    ASSERT_GE(f.consumed, dubbo::kHeaderSize);
    dubbo::Response r;
    (void)dubbo::DecodeResponse(f.value, &r);
    dubbo::Invocation inv;
    (void)dubbo::DecodeInvocation(f.value.body, &inv);
    // The body alone, read as a stream of values, must also terminate.
    hessian2::Reader reader(f.value.body);
    while (!reader.AtEnd() && reader.Skip() == DecodeState::kOk) {
    }
  }
}

TEST(WireFuzz, Hessian2Values) {
  std::mt19937 rng(2);
  std::vector<std::string> seeds;
  for (const auto& frame : DubboSeeds()) seeds.push_back(frame.substr(dubbo::kHeaderSize));
  for (int i = 0; i < kIterations; ++i) {
    const std::string in = Mutate(seeds[rng() % seeds.size()], rng);
    auto r = hessian2::DecodeValue(in);
    if (r.ok()) {
      ASSERT_GT(r.consumed, 0u);
      ASSERT_LE(r.consumed, in.size());
      (void)hessian2::ToText(r.value);
    }
  }
}

TEST(WireFuzz, AgentFrames) {
  std::mt19937 rng(3);
  std::string batch;
  frame::AppendServiceDef(0, "com.example.Svc", "hash", "Ljava/lang/String;", &batch);
  frame::AppendRequest(1, 0, 800, "param", &batch);
  frame::AppendResponse(1, frame::ResponseStatus::kOk, "42", &batch);
  frame::AppendPing(5, &batch);
  frame::AppendGoAway(&batch);
  for (int i = 0; i < kIterations; ++i) {
    const std::string in = Mutate(batch, rng);
    std::string_view rest = in;
    frame::ServiceTable table;
    while (!rest.empty()) {
      auto r = frame::DecodeFrame(rest);
      if (!r.ok()) break;
      ASSERT_GT(r.consumed, frame::kLengthSize);
      ASSERT_LE(r.consumed, rest.size());
      if (r.value.type == frame::Type::kServiceDef) (void)table.Define(r.value);
      rest.remove_prefix(r.consumed);
    }
  }
}

TEST(WireFuzz, HttpRequestsAndForms) {
  std::mt19937 rng(4);
  const std::vector<std::string> seeds = {
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 27\r\n\r\ninterface=a&method=hash&p=1"
      "GET / HTTP/1.1\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"};
  http::Request req;
  form::Form form;
  http::Limits limits;
  limits.max_body_bytes = 4096;
  for (int i = 0; i < kIterations; ++i) {
    const std::string in = Mutate(seeds[rng() % seeds.size()], rng);
    std::string_view rest = in;
    while (!rest.empty()) {
      http::ParseResult r = http::ParseRequest(rest, limits, &req);
      if (r.state != http::ParseState::kOk) {
        if (r.state == http::ParseState::kError) {
          ASSERT_TRUE(r.status == 400 || r.status == 411 || r.status == 413 || r.status == 431 ||
                      r.status == 501 || r.status == 505)
              << r.status;
        }
        break;
      }
      ASSERT_GT(r.consumed, 0u);
      ASSERT_LE(r.consumed, rest.size());
      (void)form.Parse(req.body);
      rest.remove_prefix(r.consumed);
    }
    (void)form.Parse(Mutate("a=1+2%2B3&b=%e4%B8%ad&c&&d=", rng));
  }
}

}  // namespace
}  // namespace meshq::agent
