// The NATS test clusters' ports: clusters started side by side (as ctest -j runs test
// processes) each get a block of their own, and a cluster whose port another program took
// before its nodes bound it starts on another block.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "io_thread.h"
#include "meshq/bridge/rpc_backend.h"
#include "nats_cluster.h"

namespace meshq::bridge {
namespace {

using namespace std::chrono_literals;
using testing::NatsCluster;

uint16_t FirstPort(const NatsCluster& c) {
  const std::string& s = c.config().servers.at(0);
  return static_cast<uint16_t>(std::stoi(s.substr(s.rfind(':') + 1)));
}

bool Usable(const NatsCluster& c) {
  testing::IoThread io;
  return testing::ARequesterComesUp(io, c.config(), "port-check");
}

TEST(NatsClusterTest, TwoClustersStartedAtOnceGetBlocksOfTheirOwn) {
  if (!testing::NatsAvailable()) GTEST_SKIP() << "no NATS backend or nats-server here";
  NatsCluster a, b;
  ASSERT_NE(FirstPort(a), FirstPort(b));
  auto started_b = std::async(std::launch::async, [&] { return b.Start(); });
  const bool started_a = a.Start();
  EXPECT_TRUE(started_a);
  EXPECT_TRUE(started_b.get());
  EXPECT_NE(a.url(), b.url());
  EXPECT_TRUE(Usable(a));
  EXPECT_TRUE(Usable(b));
}

TEST(NatsClusterTest, APortTakenBeforeTheNodesBindMovesTheCluster) {
  if (!testing::NatsAvailable()) GTEST_SKIP() << "no NATS backend or nats-server here";
  NatsCluster c;
  const uint16_t first = FirstPort(c);
  // Node n2's client port, taken by a program that knows nothing of the block's lock.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(first + 1));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  EXPECT_TRUE(c.Start());
  EXPECT_GE(c.moves(), 1);
  EXPECT_NE(FirstPort(c), first);
  EXPECT_TRUE(Usable(c));
  // A restart stays where it is.
  const std::string url = c.url();
  c.Stop();
  EXPECT_TRUE(c.Start());
  EXPECT_EQ(c.url(), url);
  close(fd);
}

}  // namespace
}  // namespace meshq::bridge
