// The consumer-agent under slow, silent and too many clients: a header or a body that does not
// arrive in time is answered 408 and closed, a keep-alive connection with nothing in progress is
// closed when idle, one waiting for an answer is not, and out of descriptors new clients are
// closed promptly without the accept loop spinning. Raw sockets against an in-process
// ConsumerAgent whose transport answers each call after a fixed delay.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "child_process_usage.h"
#include "meshq/agent/consumer_agent.h"

namespace meshq::agent {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// Answers every call with its parameter, `delay` later.
class DelayedEcho : public ConsumerTransport {
 public:
  DelayedEcho(boost::asio::io_context& io, milliseconds delay) : io_(io), delay_(delay) {}
  void Invoke(CallRequest request, CallCallback done) override {
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, delay_);
    timer->async_wait([timer, done = std::move(done), body = std::move(request.parameter)](
                          const boost::system::error_code&) { done(CallResult::Ok(body)); });
  }
  void UpdateEndpoints(const std::vector<ProviderEndpoint>&) override {}
  std::string Describe() const override { return ""; }
  void Shutdown() override {}

 private:
  boost::asio::io_context& io_;
  milliseconds delay_;
};

class HttpTimeoutsTest : public ::testing::Test {
 protected:
  void StartAgent(HttpTimeouts timeouts, milliseconds call_delay = milliseconds(0)) {
    ConsumerAgent::Options options;
    options.etcd = "";
    options.http.timeouts = timeouts;
    agent_ =
        std::make_unique<ConsumerAgent>(options, [call_delay](boost::asio::io_context& io, int) {
          return std::make_unique<DelayedEcho>(io, call_delay);
        });
    ASSERT_TRUE(agent_->Start().ok());
  }

  int Connect();

  std::unique_ptr<ConsumerAgent> agent_;
};

int ConnectTo(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

int HttpTimeoutsTest::Connect() { return ConnectTo(agent_->port()); }

void Send(int fd, std::string_view bytes) {
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

// What arrived within `timeout` (stopping early once `until_text` is in it), and whether and
// when the connection closed.
struct Received {
  std::string bytes;
  bool closed = false;
  milliseconds closed_after{0};
};

Received ReadFor(int fd, milliseconds timeout, std::string_view until_text = {}) {
  Received r;
  const auto start = SteadyClock::now();
  char buf[4096];
  while (SteadyClock::now() < start + timeout) {
    if (!until_text.empty() && r.bytes.find(until_text) != std::string::npos) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      r.closed = true;
      r.closed_after = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start);
      break;
    }
    r.bytes.append(buf, static_cast<size_t>(n));
  }
  return r;
}

constexpr char kHealth[] = "GET /health HTTP/1.1\r\nHost: a\r\n\r\n";
constexpr char kCall[] =
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    "Content-Length: 54\r\n\r\ninterface=I&method=m&parameterTypesString=&parameter=x";

TEST_F(HttpTimeoutsTest, AHeaderNotReceivedInTimeIsAnswered408AndClosed) {
  StartAgent({milliseconds(300), milliseconds(0), milliseconds(0)});
  // Many silent connections, each with half a header: all closed, none kept.
  std::vector<int> fds;
  for (int i = 0; i < 50; ++i) {
    fds.push_back(Connect());
    Send(fds.back(), "POST / HTTP/1.1\r\nHost: a\r\n");
  }
  for (int fd : fds) {
    Received r = ReadFor(fd, milliseconds(3000));
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.bytes.rfind("HTTP/1.1 408 ", 0), 0u) << r.bytes;
    EXPECT_NE(r.bytes.find("Connection: close"), std::string::npos);
    close(fd);
  }
  // Slowloris: a header trickling in a byte at a time does not keep the request alive.
  int fd = Connect();
  const std::string header =
      "GET /health HTTP/1.1\r\nHost: a\r\nX-Padding: " + std::string(200, 'p') + "\r\n\r\n";
  const auto start = SteadyClock::now();
  bool closed = false;
  for (size_t i = 0; i < header.size() && !closed; ++i) {
    if (send(fd, header.data() + i, 1, MSG_NOSIGNAL) != 1) break;
    Received r = ReadFor(fd, milliseconds(20));
    closed = r.closed;
    if (!r.bytes.empty()) {
      EXPECT_EQ(r.bytes.rfind("HTTP/1.1 408 ", 0), 0u) << r.bytes;
    }
  }
  EXPECT_TRUE(closed || ReadFor(fd, milliseconds(1000)).closed);
  EXPECT_LT(SteadyClock::now() - start, std::chrono::seconds(2));
  close(fd);
  EXPECT_EQ(agent_->timeouts().header.load(), 51u);
  // Whole requests are served however long the pauses between them.
  fd = Connect();
  for (int i = 0; i < 2; ++i) {
    Send(fd, kHealth);
    Received r = ReadFor(fd, milliseconds(500), "ok\n");
    EXPECT_EQ(r.bytes.rfind("HTTP/1.1 200 ", 0), 0u) << r.bytes;
    EXPECT_FALSE(ReadFor(fd, milliseconds(400)).closed);
  }
  close(fd);
}

TEST_F(HttpTimeoutsTest, ABodyNotReceivedInTimeIsAnswered408AndClosed) {
  StartAgent({milliseconds(0), milliseconds(300), milliseconds(0)});
  int fd = Connect();
  const std::string call = kCall;
  Send(fd, call.substr(0, call.size() - 20));
  Received r = ReadFor(fd, milliseconds(3000));
  EXPECT_TRUE(r.closed);
  EXPECT_GE(r.closed_after.count(), 250);
  EXPECT_EQ(r.bytes.rfind("HTTP/1.1 408 ", 0), 0u) << r.bytes;
  EXPECT_NE(r.bytes.find("body"), std::string::npos) << r.bytes;
  close(fd);
  EXPECT_EQ(agent_->timeouts().body.load(), 1u);
}

TEST_F(HttpTimeoutsTest, AnIdleKeepAliveConnectionIsClosedButOneAwaitingAnAnswerIsNot) {
  StartAgent({milliseconds(0), milliseconds(0), milliseconds(300)}, milliseconds(800));
  int fd = Connect();
  Send(fd, kHealth);
  Received r = ReadFor(fd, milliseconds(3000));
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.bytes.rfind("HTTP/1.1 200 ", 0), 0u) << r.bytes;
  EXPECT_EQ(r.bytes.find("408"), std::string::npos) << "an idle close owes no answer";
  close(fd);

  // A call answered 800 ms later keeps its connection; the idle clock starts at the answer.
  fd = Connect();
  Send(fd, kCall);
  r = ReadFor(fd, milliseconds(3000), "\r\n\r\nx");
  EXPECT_FALSE(r.closed) << "closed while an answer was owed";
  EXPECT_EQ(r.bytes.rfind("HTTP/1.1 200 ", 0), 0u) << r.bytes;
  r = ReadFor(fd, milliseconds(3000));
  EXPECT_TRUE(r.closed);
  EXPECT_GE(r.closed_after.count(), 200);
  close(fd);
  EXPECT_EQ(agent_->timeouts().idle.load(), 2u);
}

TEST(ConsumerAcceptTest, OutOfDescriptorsItRefusesPromptlyWithoutSpinningAndRecovers) {
  // The agent runs in a child limited to 32 descriptors; its port comes back through a pipe.
  int port_pipe[2];
  ASSERT_EQ(pipe(port_pipe), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(port_pipe[0]);
    rlimit limit{32, 32};
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(1);
    ConsumerAgent::Options options;
    options.etcd = "";
    ConsumerAgent agent(options, [](boost::asio::io_context& io, int) {
      return std::make_unique<DelayedEcho>(io, milliseconds(0));
    });
    if (!agent.Start().ok()) _exit(2);
    const uint16_t port = agent.port();
    if (write(port_pipe[1], &port, sizeof port) != sizeof port) _exit(3);
    pause();  // until killed
    _exit(0);
  }
  close(port_pipe[1]);
  uint16_t port = 0;
  pollfd p{port_pipe[0], POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  ASSERT_EQ(read(port_pipe[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  close(port_pipe[0]);

  std::vector<int> held;
  for (int i = 0; i < 60; ++i) held.push_back(ConnectTo(port));
  std::this_thread::sleep_for(milliseconds(300));
  const double cpu_before = meshq::testing::CpuSeconds(child);
  const auto wall_before = SteadyClock::now();
  std::this_thread::sleep_for(milliseconds(1500));
  const double cpu = meshq::testing::CpuSeconds(child) - cpu_before;
  const double wall = std::chrono::duration<double>(SteadyClock::now() - wall_before).count();
  EXPECT_LT(cpu, 0.2 * wall) << "the accept loop spins while out of descriptors";

  int extra = ConnectTo(port);
  Send(extra, kHealth);
  Received r = ReadFor(extra, milliseconds(3000));
  EXPECT_TRUE(r.closed) << "a client over the descriptor limit hangs";
  EXPECT_TRUE(r.bytes.empty()) << r.bytes;
  close(extra);

  // The agent frees a descriptor only when it has read its client's EOF, so a connection made
  // at once after the closes may still be shed; it must serve again within a few seconds.
  for (int fd : held) close(fd);
  const auto until = std::chrono::steady_clock::now() + milliseconds(5000);
  do {
    std::this_thread::sleep_for(milliseconds(50));
    int again = ConnectTo(port);
    Send(again, kHealth);
    r = ReadFor(again, milliseconds(3000), "ok\n");
    close(again);
  } while (r.bytes.rfind("HTTP/1.1 200 ", 0) != 0 && std::chrono::steady_clock::now() < until);
  EXPECT_EQ(r.bytes.rfind("HTTP/1.1 200 ", 0), 0u) << "not serving again: " << r.bytes;
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

}  // namespace
}  // namespace meshq::agent
