// The broker under hostile clients: out of descriptors, slow or silent connections, too many
// parked fetches, unfinished huge frames. Raw sockets, so each test sends exactly the bytes a
// misbehaving client would; the limits are shortened by flags.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.h"
#include "child_process_usage.h"
#include "loopback_client.h"
#include "meshq/bridge/broker_protocol.h"
#include "meshq/bridge/frame.h"
#include "meshq/coding.h"

namespace meshq::bridge {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
constexpr uint8_t kBusy = static_cast<uint8_t>(Status::Code::kBusy);
constexpr uint8_t kTimedOut = static_cast<uint8_t>(Status::Code::kTimedOut);

int Connect(uint16_t port) { return ::meshq::testing::ConnectLoopback(port); }

bool SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A frame whose header announces `announced` body bytes (default: the body's size).
std::string FrameBytes(FrameType type, uint64_t rid, std::string_view body,
                       uint32_t announced = UINT32_MAX) {
  FrameHeader h;
  h.type = type;
  h.request_id = rid;
  std::string out;
  AppendFrame(h, body, &out);
  if (announced != UINT32_MAX) EncodeFixed32(out.data(), announced);
  return out;
}

std::string Fetch(uint64_t rid, const std::string& queue, uint32_t wait_ms) {
  std::string body;
  EncodeReadRequest(ReadRequest{queue, 0, 10, wait_ms}, &body);
  return FrameBytes(FrameType::kFetch, rid, body);
}

// What came back on a connection within a time: the frames, and whether it was closed.
struct Answer {
  std::vector<FrameHeader> headers;
  std::vector<std::string> bodies;
  bool closed = false;
  milliseconds closed_after{0};
};

// Reads until the connection closes, `frames` frames arrived, or `timeout` passed.
Answer ReadFor(int fd, milliseconds timeout, size_t frames = SIZE_MAX) {
  Answer a;
  std::string in;
  const auto start = Clock::now();
  const auto until = start + timeout;
  char buf[64 * 1024];
  while (Clock::now() < until && a.headers.size() < frames) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left))) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      a.closed = true;
      a.closed_after = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
      break;
    }
    in.append(buf, static_cast<size_t>(n));
    for (DecodeResult<Frame> d = DecodeFrame(in); d.ok(); d = DecodeFrame(in)) {
      a.headers.push_back(d.value.header);
      a.bodies.emplace_back(d.value.body);
      in.erase(0, d.consumed);
    }
  }
  return a;
}

// Sends `bytes` without blocking on a peer that stops reading, until it answers or closes.
Answer SendUntilAnswered(int fd, std::string_view bytes, milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  while (!bytes.empty() && Clock::now() < until) {
    pollfd p{fd, POLLIN | POLLOUT, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) break;
    ssize_t n = send(fd, bytes.data(), std::min<size_t>(bytes.size(), 256 * 1024),
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) break;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return ReadFor(
      fd, std::chrono::duration_cast<milliseconds>(until - Clock::now()) + milliseconds(1), 1);
}

bool Pings(uint16_t port) {
  int fd = Connect(port);
  if (fd < 0) return false;
  SendAll(fd, FrameBytes(FrameType::kPing, 9, ""));
  Answer a = ReadFor(fd, milliseconds(3000), 1);
  close(fd);
  return a.headers.size() == 1 && a.headers[0].type == FrameType::kPong;
}

TEST(BrokerLimitsTest, OutOfDescriptorsItRefusesPromptlyWithoutSpinningAndRecovers) {
  testing::BrokerProcess broker;
  broker.set_descriptor_limit(64);
  ASSERT_TRUE(broker.Start());
  std::vector<int> held;
  for (int i = 0; i < 100; ++i) {
    int fd = Connect(broker.port());
    if (fd >= 0) held.push_back(fd);
  }
  std::this_thread::sleep_for(milliseconds(300));
  const double cpu_before = meshq::testing::CpuSeconds(broker.pid());
  const auto wall_before = Clock::now();
  std::this_thread::sleep_for(milliseconds(1500));
  const double cpu = meshq::testing::CpuSeconds(broker.pid()) - cpu_before;
  const double wall = std::chrono::duration<double>(Clock::now() - wall_before).count();
  EXPECT_LT(cpu, 0.2 * wall) << "the accept loop spins while out of descriptors";

  // A new client is closed at once (within the backoff), not left hanging in the backlog.
  int extra = Connect(broker.port());
  ASSERT_GE(extra, 0);
  SendAll(extra, FrameBytes(FrameType::kPing, 1, ""));
  Answer a = ReadFor(extra, milliseconds(3000));
  EXPECT_TRUE(a.closed) << "a client over the descriptor limit hangs";
  EXPECT_TRUE(a.headers.empty());
  close(extra);

  // The broker frees a descriptor only when it has read the EOF of its client, so a connection
  // made at once after the closes may still be shed; it must serve again within a few seconds.
  for (int fd : held) close(fd);
  const auto until = Clock::now() + milliseconds(5000);
  bool served = Pings(broker.port());
  while (!served && Clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(50));
    served = Pings(broker.port());
  }
  EXPECT_TRUE(served) << "not serving again once descriptors are free";
}

TEST(BrokerLimitsTest, AFrameNotFinishedInTimeIsAnsweredAndClosed) {
  testing::BrokerProcess broker;
  ASSERT_TRUE(broker.Start({"--frame-timeout-ms", "400"}));
  // Half a header, then silence.
  int fd = Connect(broker.port());
  SendAll(fd, FrameBytes(FrameType::kPing, 1, "").substr(0, 7));
  Answer a = ReadFor(fd, milliseconds(3000));
  EXPECT_TRUE(a.closed);
  EXPECT_GE(a.closed_after.count(), 300);
  ASSERT_EQ(a.headers.size(), 1u);
  EXPECT_EQ(a.headers[0].type, FrameType::kError);
  EXPECT_EQ(a.headers[0].status, kTimedOut);
  EXPECT_NE(a.bodies[0].find("frame-timeout-ms"), std::string::npos) << a.bodies[0];
  close(fd);

  // Slowloris: a body trickling in a byte at a time does not keep the frame alive.
  fd = Connect(broker.port());
  const std::string frame = FrameBytes(FrameType::kPing, 2, std::string(100, 'x'));
  const auto start = Clock::now();
  bool closed = false;
  for (size_t i = 0; i < frame.size() && Clock::now() - start < std::chrono::seconds(3); ++i) {
    if (!SendAll(fd, frame.substr(i, 1))) break;
    a = ReadFor(fd, milliseconds(50));
    if ((closed = a.closed)) break;
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  close(fd);

  // Whole frames, however slowly they follow one another, are served.
  fd = Connect(broker.port());
  for (int i = 0; i < 3; ++i) {
    SendAll(fd, FrameBytes(FrameType::kPing, 10 + i, ""));
    a = ReadFor(fd, milliseconds(300));
    EXPECT_FALSE(a.closed);
    ASSERT_EQ(a.headers.size(), 1u);
    EXPECT_EQ(a.headers[0].type, FrameType::kPong);
  }
  close(fd);
}

TEST(BrokerLimitsTest, AnIdleConnectionIsClosedButOneWithAParkedFetchIsNot) {
  testing::BrokerProcess broker;
  ASSERT_TRUE(broker.Start({"--idle-timeout-ms", "400"}));
  int idle = Connect(broker.port());
  SendAll(idle, FrameBytes(FrameType::kPing, 1, ""));
  Answer a = ReadFor(idle, milliseconds(3000));
  EXPECT_TRUE(a.closed);
  ASSERT_EQ(a.headers.size(), 2u);
  EXPECT_EQ(a.headers[0].type, FrameType::kPong);
  EXPECT_EQ(a.headers[1].type, FrameType::kError);
  EXPECT_EQ(a.headers[1].status, kTimedOut);
  EXPECT_NE(a.bodies[1].find("idle"), std::string::npos) << a.bodies[1];
  close(idle);

  // A long-poll of 1.5 s keeps the connection; the idle clock starts when it is answered.
  int polling = Connect(broker.port());
  SendAll(polling, Fetch(2, "q", 1500));
  a = ReadFor(polling, milliseconds(1200));
  EXPECT_FALSE(a.closed) << "closed while a fetch was parked";
  EXPECT_TRUE(a.headers.empty());
  a = ReadFor(polling, milliseconds(3000));
  EXPECT_TRUE(a.closed);
  ASSERT_EQ(a.headers.size(), 2u);
  EXPECT_EQ(a.headers[0].type, FrameType::kMessages);
  EXPECT_EQ(a.headers[1].status, kTimedOut);
  EXPECT_GE(a.closed_after.count(), 500);  // ~300 ms of the fetch, then 400 ms idle
  close(polling);
}

TEST(BrokerLimitsTest, FetchesOverTheParkedCapAreRefusedBusy) {
  testing::BrokerProcess broker;
  ASSERT_TRUE(broker.Start({"--max-parked-fetches", "2"}));
  int fd = Connect(broker.port());
  SendAll(fd, Fetch(1, "q", 5000) + Fetch(2, "q", 5000) + Fetch(3, "q", 5000));
  Answer a = ReadFor(fd, milliseconds(1000));
  ASSERT_EQ(a.headers.size(), 1u) << "only the third fetch is answered at once";
  EXPECT_EQ(a.headers[0].request_id, 3u);
  EXPECT_EQ(a.headers[0].type, FrameType::kError);
  EXPECT_EQ(a.headers[0].status, kBusy);
  EXPECT_NE(a.bodies[0].find("max-parked-fetches"), std::string::npos) << a.bodies[0];
  EXPECT_FALSE(a.closed);
  // A fetch with data to return is not parked, so it is not refused.
  std::string put;
  PutRequest request;
  request.queue = "q";
  request.messages.push_back(PutMessage{0, "m"});
  EncodePutRequest(request, 0, &put);
  SendAll(fd, FrameBytes(FrameType::kPut, 4, put));
  a = ReadFor(fd, milliseconds(2000), 3);
  ASSERT_EQ(a.headers.size(), 3u);
  for (const FrameHeader& h : a.headers) EXPECT_NE(h.type, FrameType::kError);
  close(fd);
}

TEST(BrokerLimitsTest, UnfinishedHugeFramesCostWhatArrivedNotWhatTheyAnnounce) {
  testing::BrokerProcess broker;
  ASSERT_TRUE(broker.Start());
  const double base = meshq::testing::RssMiB(broker.pid());
  constexpr uint32_t kAnnounced = 16u << 20;
  std::vector<int> fds;
  for (int i = 0; i < 8; ++i) {
    fds.push_back(Connect(broker.port()));
    SendAll(fds.back(), FrameBytes(FrameType::kPing, 1, "", kAnnounced));
  }
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_LT(meshq::testing::RssMiB(broker.pid()) - base, 8.0)
      << "announced sizes were allocated up front";
  // All but one byte of each: a connection holds about its frame, not twice it.
  const std::string body(kAnnounced - 1, 'x');
  for (int fd : fds) SendAll(fd, body);
  std::this_thread::sleep_for(milliseconds(500));
  // (Each also keeps, in the allocator, the half-size buffer it grew out of.)
  EXPECT_LT(meshq::testing::RssMiB(broker.pid()) - base, 8 * 28.0);
  for (int fd : fds) close(fd);
}

TEST(BrokerLimitsTest, TheConnectionThatWouldExceedTheTotalBufferedInputIsClosed) {
  testing::BrokerProcess broker;
  ASSERT_TRUE(broker.Start({"--max-buffered-bytes", std::to_string(10u << 20)}));
  constexpr uint32_t kFrame = 6u << 20;
  const std::string body(kFrame, 'x');
  // The first holds 5 MiB of its 6 MiB frame.
  int first = Connect(broker.port());
  SendAll(first, FrameBytes(FrameType::kPing, 1, "", kFrame) + body.substr(0, 5u << 20));
  std::this_thread::sleep_for(milliseconds(300));
  // The second would take the total beyond 10 MiB: answered Busy and closed.
  int second = Connect(broker.port());
  Answer a = SendUntilAnswered(second, FrameBytes(FrameType::kPing, 2, "", kFrame) + body,
                               milliseconds(3000));
  ASSERT_EQ(a.headers.size(), 1u);
  EXPECT_EQ(a.headers[0].type, FrameType::kError);
  EXPECT_EQ(a.headers[0].status, kBusy);
  EXPECT_NE(a.bodies[0].find("max-buffered-bytes"), std::string::npos) << a.bodies[0];
  EXPECT_TRUE(ReadFor(second, milliseconds(3000)).closed);
  close(second);
  // The first finishes its frame and is served; then its room is free for another.
  SendAll(first, body.substr(5u << 20));
  a = ReadFor(first, milliseconds(3000), 1);
  ASSERT_EQ(a.headers.size(), 1u);
  EXPECT_EQ(a.headers[0].type, FrameType::kPong);
  int third = Connect(broker.port());
  SendAll(third, FrameBytes(FrameType::kPing, 3, body));
  a = ReadFor(third, milliseconds(3000), 1);
  ASSERT_EQ(a.headers.size(), 1u);
  EXPECT_EQ(a.headers[0].type, FrameType::kPong);
  close(first);
  close(third);
}

}  // namespace
}  // namespace meshq::bridge
