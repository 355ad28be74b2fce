// meshq-provider-sim as a child process on an ephemeral port, driven over real TCP with the Dubbo
// codec: answers (incl. non-BMP text), attachments by dubbo version, heartbeats, error shapes,
// capacity-limited concurrency (FIFO), corrupt streams, clean SIGTERM exit with counters.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "child_process.h"
#include "dubbo_codec.h"
#include "java_hash.h"

// Defined by tools/provider-sim/CMakeLists.txt; tests/agent builds this test only with the
// simulator, so a build without it has no test rather than one that skips.
#ifndef MESHQ_PROVIDER_SIM_PATH
#error "MESHQ_PROVIDER_SIM_PATH (the meshq-provider-sim binary) is not defined"
#endif

namespace meshq::agent {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;

constexpr std::string_view kService = "com.alibaba.dubbo.performance.demo.provider.IHelloService";

// A blocking Dubbo client on loopback with a receive timeout, so a broken simulator fails the
// test instead of hanging it.
class DubboTestClient {
 public:
  explicit DubboTestClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~DubboTestClient() { close(fd_); }
  bool connected() const { return connected_; }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = write(fd_, bytes.data(), bytes.size());
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // The next frame; false on timeout, EOF or a decode error.
  bool Receive(dubbo::Header* header, std::string* body) {
    for (;;) {
      auto r = dubbo::DecodeFrame(buf_);
      if (r.failed()) return false;
      if (r.ok()) {
        *header = r.value.header;
        body->assign(r.value.body);
        buf_.erase(0, r.consumed);
        return true;
      }
      char chunk[4096];
      const ssize_t n = read(fd_, chunk, sizeof chunk);
      if (n <= 0) return false;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // The next frame decoded as a (non-event) response.
  bool ReceiveResponse(dubbo::Response* r) {
    dubbo::Header h;
    std::string body;
    if (!Receive(&h, &body)) return false;
    const Status st = dubbo::DecodeResponse(dubbo::Frame{h, body}, r);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return st.ok();
  }

  // True when the peer closed the connection (read returns 0) within the receive timeout.
  bool ClosedByPeer() {
    char c;
    return read(fd_, &c, 1) == 0;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string HashRequest(std::uint64_t id, std::string_view text,
                        std::string_view version = dubbo::kDefaultDubboVersion,
                        std::string_view service = kService, std::string_view method = "hash") {
  const std::string_view args[] = {text};
  dubbo::Call call;
  call.dubbo_version = version;
  call.service = service;
  call.method = method;
  call.parameter_types = "Ljava/lang/String;";
  call.arguments = args;
  std::string out;
  EXPECT_TRUE(dubbo::AppendRequest(id, call, &out).ok());
  return out;
}

class ProviderSimTest : public ::testing::Test {
 protected:
  void StartSim(std::vector<std::string> extra) {
    std::vector<std::string> argv = {MESHQ_PROVIDER_SIM_PATH, "--port", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ASSERT_TRUE(sim_.Start(argv));
    std::string address;
    ASSERT_TRUE(sim_.WaitForLine("listening on 127.0.0.1:", 10s, &address));
    port_ = std::stoi(address);
  }

  // SIGTERM, then the counters line the simulator prints on its way out; checks a clean exit.
  std::string StopSim() {
    kill(sim_.pid(), SIGTERM);
    std::string counters;
    EXPECT_TRUE(sim_.WaitForLine("provider-sim: ", 10s, &counters));
    // Signal 0 sends nothing: just reap the exit that the SIGTERM above started.
    const int status = sim_.Kill(0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    return counters;
  }

  ChildProcess sim_;
  int port_ = 0;
};

std::int32_t JavaHash(std::string_view s) {
  std::int32_t h = 0;
  EXPECT_TRUE(JavaStringHash(s, &h).ok());
  return h;
}

TEST_F(ProviderSimTest, AnswersHashAndHeartbeats) {
  StartSim({"--latency-ms", "5", "--capacity", "8"});
  if (IsSkipped()) return;
  DubboTestClient client(port_);
  ASSERT_TRUE(client.connected());

  // A heartbeat is answered with an event response carrying the same id and a null body.
  std::string hb;
  dubbo::AppendHeartbeat(1000, true, &hb);
  ASSERT_TRUE(client.Send(hb));
  dubbo::Header h;
  std::string body;
  ASSERT_TRUE(client.Receive(&h, &body));
  EXPECT_EQ(h.id, 1000u);
  EXPECT_TRUE(h.is_event());
  EXPECT_FALSE(h.is_request());
  EXPECT_EQ(h.status, 20);
  EXPECT_EQ(body, "N");

  // Pipelined calls in one write; answers come back by id. Versions 2.0.2 expect response
  // attachments, "2.6.0" (older consumers' framework version) does not.
  const std::vector<std::string> texts = {"",
                                          "hello",
                                          "na\xC3\xAFve caf\xC3\xA9",
                                          "\xE4\xB8\xAD\xE6\x96\x87",
                                          "\xF0\x9F\x98\x80\xF0\x9F\x8E\x89 emoji",
                                          std::string(40000, 'x') + "\xF0\x9D\x84\x9E"};
  std::string batch;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    batch += HashRequest(i + 1, texts[i], i % 2 ? "2.6.0" : "2.0.2");
  }
  ASSERT_TRUE(client.Send(batch));
  std::map<std::uint64_t, dubbo::Response> answers;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    dubbo::Response r;
    ASSERT_TRUE(client.ReceiveResponse(&r)) << "answer " << i;
    answers[r.id] = r;
  }
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const dubbo::Response& r = answers.at(i + 1);
    EXPECT_EQ(r.outcome, dubbo::Response::Outcome::kValue);
    EXPECT_EQ(dubbo::ResponseText(r), std::to_string(JavaHash(texts[i]))) << "text " << i;
    if (i % 2) {
      EXPECT_TRUE(r.attachments.empty());
    } else {
      ASSERT_EQ(r.attachments.size(), 1u);
      EXPECT_EQ(r.attachments[0].first, "dubbo");
    }
  }
  const std::string counters = StopSim();
  EXPECT_NE(counters.find("calls=6 "), std::string::npos) << counters;
  EXPECT_NE(counters.find("heartbeats=1 "), std::string::npos) << counters;
}

TEST_F(ProviderSimTest, UnknownServiceAndMethodGetDubboErrorShapes) {
  StartSim({"--latency-ms", "1"});
  if (IsSkipped()) return;
  DubboTestClient client(port_);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(HashRequest(1, "x", "2.0.2", "com.example.Missing")));
  dubbo::Response r;
  ASSERT_TRUE(client.ReceiveResponse(&r));
  EXPECT_EQ(r.status, static_cast<std::uint8_t>(dubbo::ResponseStatus::kServiceError));
  EXPECT_NE(r.message.find("com.example.Missing"), std::string::npos) << r.message;

  ASSERT_TRUE(client.Send(HashRequest(2, "x", "2.0.2", kService, "nope")));
  ASSERT_TRUE(client.ReceiveResponse(&r));
  EXPECT_EQ(r.outcome, dubbo::Response::Outcome::kException);
  EXPECT_EQ(dubbo::ResponseText(r).rfind("java.lang.NoSuchMethodException: ", 0), 0u)
      << dubbo::ResponseText(r);

  // A well-framed request whose body is not hessian2: BAD_REQUEST with the reason, and the
  // connection stays usable.
  dubbo::Header bad;
  bad.flags = dubbo::kFlagRequest | dubbo::kFlagTwoWay | dubbo::kHessian2;
  bad.id = 3;
  bad.body_length = 2;
  char head[dubbo::kHeaderSize];
  dubbo::EncodeHeader(bad, head);
  ASSERT_TRUE(client.Send(std::string(head, sizeof head) + "\x40\x40"));
  ASSERT_TRUE(client.ReceiveResponse(&r));
  EXPECT_EQ(r.id, 3u);
  EXPECT_EQ(r.status, static_cast<std::uint8_t>(dubbo::ResponseStatus::kBadRequest));
  EXPECT_NE(r.message.find("hessian2"), std::string::npos) << r.message;
  ASSERT_TRUE(client.Send(HashRequest(4, "hello")));
  ASSERT_TRUE(client.ReceiveResponse(&r));
  EXPECT_EQ(dubbo::ResponseText(r), "99162322");
  StopSim();
}

TEST_F(ProviderSimTest, CapacityLimitsConcurrencyWithoutBlockingHeartbeats) {
  // 6 calls of 150 ms through 2 slots need three waves: >= 450 ms, and the simulator must never
  // have had more than 2 calls executing.
  StartSim({"--latency-ms", "150", "--capacity", "2", "--threads", "2"});
  if (IsSkipped()) return;
  DubboTestClient a(port_), b(port_);
  ASSERT_TRUE(a.connected() && b.connected());
  const auto start = std::chrono::steady_clock::now();
  std::string batch_a, batch_b;
  for (int i = 0; i < 3; ++i) {
    batch_a += HashRequest(10 + i, "a" + std::to_string(i));
    batch_b += HashRequest(20 + i, "b" + std::to_string(i));
  }
  ASSERT_TRUE(a.Send(batch_a));
  ASSERT_TRUE(b.Send(batch_b));
  // A heartbeat behind the queued calls is still answered at once (timers, not sleeps).
  std::string hb;
  dubbo::AppendHeartbeat(99, true, &hb);
  ASSERT_TRUE(a.Send(hb));
  dubbo::Header h;
  std::string body;
  ASSERT_TRUE(a.Receive(&h, &body));
  EXPECT_EQ(h.id, 99u) << "the heartbeat answer must overtake the 150 ms calls";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 140ms);
  for (DubboTestClient* c : {&a, &b}) {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(c->Receive(&h, &body));
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 440ms);
  EXPECT_LT(elapsed, 5s);
  const std::string counters = StopSim();
  EXPECT_NE(counters.find("max_concurrent=2 "), std::string::npos) << counters;
  EXPECT_NE(counters.find("calls=6 "), std::string::npos) << counters;
}

TEST_F(ProviderSimTest, CorruptStreamClosesTheConnectionOnly) {
  StartSim({"--latency-ms", "1"});
  if (IsSkipped()) return;
  DubboTestClient bad(port_);
  ASSERT_TRUE(bad.connected());
  ASSERT_TRUE(bad.Send("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(bad.ClosedByPeer());
  // The server keeps serving everyone else.
  DubboTestClient good(port_);
  ASSERT_TRUE(good.connected());
  ASSERT_TRUE(good.Send(HashRequest(5, "hello")));
  dubbo::Response r;
  ASSERT_TRUE(good.ReceiveResponse(&r));
  EXPECT_EQ(dubbo::ResponseText(r), "99162322");
  StopSim();
}

}  // namespace
}  // namespace meshq::agent
